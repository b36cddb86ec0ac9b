//go:build !windows

package overlay_test

import "syscall"

// The open flags of scenarios that the os package does not name.
const (
	oDirectory = syscall.O_DIRECTORY
	oNoFollow  = syscall.O_NOFOLLOW
)
