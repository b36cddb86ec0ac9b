//go:build windows

package layer

import "syscall"

// ErrNoData is "no such attribute".
const ErrNoData = syscall.ENODATA

// Windows has no O_NOFOLLOW or O_DIRECTORY: the overlay gives them bits of
// its own, which os.OpenFile never sets there.
const (
	ONoFollow  = 0x20000000
	ODirectory = 0x40000000
)
