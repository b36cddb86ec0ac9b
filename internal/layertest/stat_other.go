//go:build !unix

package layertest

import (
	"io/fs"
	"syscall"
)

type statFields struct {
	mode  uint32
	nlink uint64
	uid   uint32
	gid   uint32
	rdev  uint64
	ino   uint64
}

func statT(fs.FileInfo) (statFields, bool) { return statFields{}, false }

// ErrnoName is the symbolic name of an errno (ENOENT).
func ErrnoName(e syscall.Errno) string { return "errno(" + e.Error() + ")" }

// ParseErrno is the inverse of ErrnoName; on this platform it knows no names.
func ParseErrno(name string) (syscall.Errno, bool) { return 0, false }
