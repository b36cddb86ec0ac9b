//go:build !freebsd && !openbsd && !netbsd && !dragonfly && !windows

package layer

import "syscall"

// ErrNoData is "no such attribute": ENODATA on Linux (ENOATTR elsewhere).
const ErrNoData = syscall.ENODATA

// Open flags the os package leaves to the platform.
const (
	ONoFollow  = syscall.O_NOFOLLOW
	ODirectory = syscall.O_DIRECTORY
)
