//go:build freebsd || openbsd || netbsd || dragonfly

package ondisk

import "syscall"

// ErrNoData is "no such attribute", which the BSDs call ENOATTR.
const ErrNoData = syscall.ENOATTR
