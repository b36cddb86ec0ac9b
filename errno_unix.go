//go:build !freebsd && !openbsd && !netbsd && !dragonfly && !windows

package overlay

import "syscall"

// errNoData is "no such attribute": ENODATA on Linux (ENOATTR elsewhere).
const errNoData = syscall.ENODATA

// Open flags the os package leaves to the platform.
const (
	oNoFollow  = syscall.O_NOFOLLOW
	oDirectory = syscall.O_DIRECTORY
)
