//go:build !freebsd && !openbsd && !netbsd && !dragonfly && !windows

package overlay

import "syscall"

// LYRErrNoData is "no such attribute": ENODATA on Linux (ENOATTR elsewhere).
const LYRErrNoData = syscall.ENODATA

// Open flags the os package leaves to the platform.
const (
	oNoFollow  = syscall.O_NOFOLLOW
	oDirectory = syscall.O_DIRECTORY
)
