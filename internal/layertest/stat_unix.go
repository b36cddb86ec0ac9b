//go:build unix

package layertest

import (
	"io/fs"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

type statFields struct {
	mode  uint32
	nlink uint64
	uid   uint32
	gid   uint32
	rdev  uint64
	ino   uint64
}

func statT(fi fs.FileInfo) (statFields, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st == nil {
		return statFields{}, false
	}
	return statFields{
		mode:  uint32(st.Mode),
		nlink: uint64(st.Nlink),
		uid:   st.Uid,
		gid:   st.Gid,
		rdev:  uint64(st.Rdev),
		ino:   uint64(st.Ino),
	}, true
}

// ErrnoName is the symbolic name of an errno (ENOENT).
func ErrnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "errno(" + e.Error() + ")"
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EIO: "EIO",
	syscall.EBADF: "EBADF", syscall.EACCES: "EACCES", syscall.EEXIST: "EEXIST",
	syscall.EXDEV: "EXDEV", syscall.ENODEV: "ENODEV", syscall.ENOTDIR: "ENOTDIR",
	syscall.EISDIR: "EISDIR", syscall.EINVAL: "EINVAL", syscall.EMLINK: "EMLINK",
	syscall.ENOSPC: "ENOSPC", syscall.EROFS: "EROFS", syscall.ERANGE: "ERANGE",
	syscall.ENAMETOOLONG: "ENAMETOOLONG", syscall.ENOTEMPTY: "ENOTEMPTY",
	syscall.ELOOP: "ELOOP", layer.ErrNoData: "ENODATA", syscall.EOPNOTSUPP: "EOPNOTSUPP",
	syscall.ENOSYS: "ENOSYS", syscall.EBUSY: "EBUSY", syscall.ETXTBSY: "ETXTBSY",
	syscall.EFBIG: "EFBIG", syscall.E2BIG: "E2BIG", syscall.ESTALE: "ESTALE",
	syscall.EOVERFLOW: "EOVERFLOW", syscall.EAGAIN: "EAGAIN", syscall.ESPIPE: "ESPIPE",
}

// ParseErrno is the inverse of ErrnoName.
func ParseErrno(name string) (syscall.Errno, bool) {
	for e, n := range errnoNames {
		if n == name {
			return e, true
		}
	}
	return 0, false
}
