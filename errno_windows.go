//go:build windows

package overlay

import "syscall"

// errNoData is "no such attribute".
const errNoData = syscall.ENODATA

// Windows has no O_NOFOLLOW or O_DIRECTORY: the overlay gives them bits of
// its own, which os.OpenFile never sets there.
const (
	oNoFollow  = 0x20000000
	oDirectory = 0x40000000
)
