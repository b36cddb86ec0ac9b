//go:build linux

package overlay

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reading many entries of one native dir (probe_batch.go): the dir is
// opened once (beneath the root, as every lookup), each entry is a single
// name read relative to it with fstatat(AT_SYMLINK_NOFOLLOW) and
// getxattrat(2) (Linux 6.13), so no path is resolved from the root again
// and no xattr goes through /proc. An entry that is a mount point (another
// st_dev) fails EXDEV as a lookup of it would.

var _ dirProber = (*nativeBackend)(nil)

// noGetxattrat is set once getxattrat(2) turned out to be missing.
var noGetxattrat atomic.Bool

func (b *nativeBackend) probeDir(p string) (probeDirReader, error) {
	if noGetxattrat.Load() {
		return nil, errors.ErrUnsupported
	}
	fd, err := b.openObj(p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &nativeProbeDir{fd: fd, dev: st.Dev}, nil
}

// nativeProbeDir is an O_PATH descriptor of a dir whose entries are read
// by name. The xattr names of the entry last asked about are listed once
// (listxattrat), so that absent xattrs, the usual case, cost no call each.
type nativeProbeDir struct {
	fd  int
	dev uint64

	listed string   // the entry whose names are in xnames
	xnames []string // its xattr names; nil when not listed
}

func (d *nativeProbeDir) close() { unix.Close(d.fd) }

func (d *nativeProbeDir) lstat(name string) (attr, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT); err != nil {
		return attr{}, err
	}
	if st.Dev != d.dev {
		return attr{}, unix.EXDEV
	}
	return statToAttr(&st), nil
}

func (d *nativeProbeDir) getxattr(name, xname string) ([]byte, error) {
	if d.listed != name || d.xnames == nil {
		d.listed, d.xnames = name, nil
		if names, err := listxattrat(d.fd, name); err == nil {
			d.xnames = names
		} else if err == unix.ENOSYS || err == unix.EPERM {
			// Missing, or refused by a seccomp filter.
			noGetxattrat.Store(true)
			return nil, errors.ErrUnsupported
		}
	}
	if d.xnames != nil && !slices.Contains(d.xnames, xname) {
		return nil, unix.ENODATA
	}
	buf := make([]byte, 256)
	for {
		n, err := getxattrat(d.fd, name, xname, buf)
		switch {
		case err == unix.ENOSYS:
			noGetxattrat.Store(true)
			return nil, errors.ErrUnsupported
		case err == unix.ERANGE:
			if n, err = getxattrat(d.fd, name, xname, nil); err != nil {
				return nil, err
			}
			buf = make([]byte, n+64)
			continue
		case err != nil:
			return nil, err
		}
		return buf[:n:n], nil
	}
}

// xattrArgs is struct xattr_args of getxattrat(2).
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

// getxattrat is getxattrat(dirfd, name, AT_SYMLINK_NOFOLLOW, xname): the
// xattr of the entry name of dirfd itself, never following it.
func getxattrat(dirfd int, name, xname string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	x, err := unix.BytePtrFromString(xname)
	if err != nil {
		return 0, err
	}
	args := xattrArgs{size: uint32(len(buf))}
	if len(buf) > 0 {
		args.value = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	r, _, e := unix.Syscall6(unix.SYS_GETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(x)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
	runtime.KeepAlive(buf)
	runtime.KeepAlive(p)
	runtime.KeepAlive(x)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// listxattrat is listxattrat(dirfd, name, AT_SYMLINK_NOFOLLOW): the xattr
// names of the entry name of dirfd itself. More than 64 KiB of names is
// E2BIG, as for listxattr(2).
func listxattrat(dirfd int, name string) ([]string, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1024)
	for {
		r, _, e := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
			unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
		runtime.KeepAlive(buf)
		runtime.KeepAlive(p)
		if e == unix.ERANGE && len(buf) < 1<<16 {
			buf = make([]byte, 1<<16)
			continue
		}
		if e != 0 {
			return nil, e
		}
		names := []string{}
		for _, s := range strings.Split(string(buf[:r]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}
