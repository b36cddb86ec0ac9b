//go:build !freebsd && !openbsd && !netbsd && !dragonfly

package ondisk

import "syscall"

// ErrNoData is "no such attribute": ENODATA, as the kernel reports a
// handle it cannot use.
const ErrNoData = syscall.ENODATA
