//go:build freebsd || openbsd || netbsd || dragonfly

package layertest

import "syscall"

// errNoData is "no such attribute": the BSDs call it ENOATTR.
const errNoData = syscall.ENOATTR
