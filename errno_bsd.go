//go:build freebsd || openbsd || netbsd || dragonfly

package overlay

import "syscall"

// errNoData is "no such attribute": the BSDs call it ENOATTR.
const errNoData = syscall.ENOATTR

// Open flags the os package leaves to the platform.
const (
	oNoFollow  = syscall.O_NOFOLLOW
	oDirectory = syscall.O_DIRECTORY
)
