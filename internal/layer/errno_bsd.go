//go:build freebsd || openbsd || netbsd || dragonfly

package layer

import "syscall"

// ErrNoData is "no such attribute": the BSDs call it ENOATTR.
const ErrNoData = syscall.ENOATTR

// Open flags the os package leaves to the platform.
const (
	ONoFollow  = syscall.O_NOFOLLOW
	ODirectory = syscall.O_DIRECTORY
)
