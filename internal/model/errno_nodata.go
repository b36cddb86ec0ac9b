//go:build !freebsd && !openbsd && !netbsd && !dragonfly

package model

import "syscall"

// errNoData is "no such attribute": ENODATA (ENOATTR on the BSDs).
const errNoData = syscall.ENODATA
