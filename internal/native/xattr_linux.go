//go:build linux

package native

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How a native layer reaches the xattrs of an object it reaches only as an
// O_PATH descriptor. The f*xattr calls refuse O_PATH descriptors (EBADF),
// and so do the *xattrat calls given one with AT_EMPTY_PATH (verified on
// 6.18); a symlink cannot be opened otherwise, and opening a file for
// reading needs permissions and may block. Two ways remain:
//
//   - xattrAt (Linux 6.13's getxattrat(2) and friends): the call takes the
//     parent directory's O_PATH descriptor and the object's single name,
//     with AT_SYMLINK_NOFOLLOW, and so cannot leave the parent. The name is
//     first opened from the parent with openat2 under the layer's resolve
//     rules, so a mount point fails EXDEV as everywhere else (a lookup of
//     the name alone would cross into the mount). A tree's root is reached
//     as "." of its own descriptor.
//   - xattrProc: the path calls on /proc/self/fd/N of the object's O_PATH
//     descriptor; the kernel follows only the magic link and acts on the
//     object itself, a symlink included. This needs /proc mounted, as a
//     bare chroot, a minimal container or a build sandbox may not have it.
//
// xattrAt is preferred, as it needs nothing from the environment (on
// 64-bit platforms; see xattratLayout). Where neither works, DirLayer
// fails (xattrAccessError) rather than letting every private xattr read
// as absent and every write of one fail: a metacopy file would read as
// zeros, a renamed dir list empty and an opaque dir show the lower's
// entries. An error of the way in is never taken for "no such xattr".

// xattrAccess is how a native layer reaches xattrs.
type xattrAccess uint8

const (
	xattrNone xattrAccess = iota // neither way works
	xattrAt                      // *xattrat(2) on the parent descriptor
	xattrProc                    // path calls on /proc/self/fd/N
)

// procSelfFD is the directory of the process's descriptors in procfs.
const procSelfFD = "/proc/self/fd/"

// xattrProbe is what Open gives chooseXattrAccess; tests change it
// to take /proc or the *xattrat calls away.
var xattrProbe = struct {
	procDir string
	noAt    bool
}{procSelfFD, false}

// xattrArgs is the kernel's struct xattr_args (include/uapi/linux/xattr.h):
// an __aligned_u64 user pointer, u32 size, u32 flags. The pointer is a
// typed field so that the garbage collector sees it; on 32-bit platforms
// the layout differs and the *xattrat calls are not used (xattratLayout).
type xattrArgs struct {
	value *byte
	size  uint32
	flags uint32
}

// xattratLayout reports whether xattrArgs has the kernel's layout.
const xattratLayout = unsafe.Sizeof(xattrArgs{}) == 16 && unsafe.Offsetof(xattrArgs{}.size) == 8

func getxattrat(dirfd int, path string, name string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	n, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	args := xattrArgs{size: uint32(len(buf))}
	if len(buf) > 0 {
		args.value = &buf[0]
	}
	r, _, e := unix.Syscall6(unix.SYS_GETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(n)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func setxattrat(dirfd int, path string, name string, value []byte, flags int) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	n, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	args := xattrArgs{size: uint32(len(value)), flags: uint32(flags)}
	if len(value) > 0 {
		args.value = &value[0]
	}
	_, _, e := unix.Syscall6(unix.SYS_SETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(n)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
	if e != 0 {
		return e
	}
	return nil
}

func listxattrat(dirfd int, path string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	var b *byte
	if len(buf) > 0 {
		b = &buf[0]
	}
	r, _, e := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(b)), uintptr(len(buf)), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func removexattrat(dirfd int, path string, name string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	n, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_REMOVEXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(n)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// probeXattrAt reports whether the *xattrat calls work on the directory
// descriptor fd; err is why not.
func probeXattrAt(fd int) error {
	if !xattratLayout {
		return unix.ENOSYS
	}
	// A trusted.* name reads as absent (not EPERM) without privilege.
	switch _, err := getxattrat(fd, ".", "trusted.overlay.probe", nil); err {
	case nil, unix.ENODATA, unix.EOPNOTSUPP, unix.ERANGE, unix.E2BIG:
		return nil
	default:
		// ENOSYS before 6.13; a seccomp filter may say EPERM.
		return err
	}
}

// probeProc reports whether dir (procSelfFD, or another for tests) + N
// reaches the object of the directory descriptor fd; err is why not.
func probeProc(fd int, dir string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return &fs.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return errors.New(dir + " is not on a procfs")
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return err
	}
	p := dir + strconv.Itoa(fd)
	if err := unix.Stat(p, &b); err != nil {
		return &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if a.Dev != b.Dev || a.Ino != b.Ino {
		// A procfs of another pid namespace.
		return errors.New(dir + " does not show this process's descriptors")
	}
	return nil
}

// chooseXattrAccess picks how the layer with root descriptor fd reaches
// xattrs, and fails when nothing works; it also reports whether procDir
// (procSelfFD but in tests) works. noAt leaves the *xattrat calls out,
// for tests.
func chooseXattrAccess(fd int, procDir string, noAt bool) (xattrAccess, bool, error) {
	procErr := probeProc(fd, procDir)
	atErr := error(unix.ENOSYS)
	if !noAt {
		atErr = probeXattrAt(fd)
	}
	switch {
	case atErr == nil:
		return xattrAt, procErr == nil, nil
	case procErr == nil:
		return xattrProc, true, nil
	}
	return xattrNone, false, &xattrAccessError{proc: procErr, at: atErr}
}

// xattrAccessError is why DirLayer cannot reach xattrs. It wraps
// EOPNOTSUPP.
type xattrAccessError struct {
	proc, at error
}

func (e *xattrAccessError) Error() string {
	return "cannot reach xattrs, which hold the overlay's whiteouts, opaque dirs, redirects and metacopy markers: " +
		"/proc must be mounted (" + e.proc.Error() + "), or the kernel must have getxattrat(2) (Linux 6.13; " + e.at.Error() + ")"
}

func (e *xattrAccessError) Unwrap() error { return unix.EOPNOTSUPP }

// procPath is the /proc path through which path syscalls reach the object
// of the O_PATH descriptor fd without following it further.
func procPath(fd int) string { return procSelfFD + strconv.Itoa(fd) }

// xattrObj is one object as the xattr calls reach it: a directory
// descriptor and a single name (xattrAt) or a /proc path (xattrProc, with
// dirfd -1), which the path calls follow: only the magic link is followed,
// to the object itself.
type xattrObj struct {
	dirfd int
	name  string
}

func (o xattrObj) get(attr string, buf []byte) (int, error) {
	if o.dirfd < 0 {
		return unix.Getxattr(o.name, attr, buf)
	}
	return getxattrat(o.dirfd, o.name, attr, buf)
}

func (o xattrObj) list(buf []byte) (int, error) {
	if o.dirfd < 0 {
		return unix.Listxattr(o.name, buf)
	}
	return listxattrat(o.dirfd, o.name, buf)
}

func (o xattrObj) set(attr string, value []byte) error {
	if o.dirfd < 0 {
		return unix.Setxattr(o.name, attr, value, 0)
	}
	return setxattrat(o.dirfd, o.name, attr, value, 0)
}

func (o xattrObj) remove(attr string) error {
	if o.dirfd < 0 {
		return unix.Removexattr(o.name, attr)
	}
	return removexattrat(o.dirfd, o.name, attr)
}

// onXattr runs fn on p's object as the xattr calls reach it.
func (b *backend) onXattr(p string, fn func(o xattrObj) error) error {
	if b.xattr == xattrProc {
		return b.onObj(p, func(fd int) error { return fn(xattrObj{dirfd: -1, name: procPath(fd)}) })
	}
	pfd, name, err := b.openParent(p)
	if err == errIsRoot {
		// The root of a tree: "." of its own descriptor.
		return b.onObj(p, func(fd int) error { return fn(xattrObj{dirfd: fd, name: "."}) })
	}
	if err != nil {
		// The error of the object's own lookup, as for every other call
		// (ELOOP, not ENOTDIR, for a symlink among the parents).
		return b.onObj(p, func(int) error { return err })
	}
	defer unix.Close(pfd)
	// A lookup of the name alone would cross a mount point; openat2 under
	// the layer's rules fails EXDEV there, as every other call does.
	fd, err := openRetry(pfd, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: resolveFlags,
	})
	if err != nil {
		return err
	}
	unix.Close(fd)
	return fn(xattrObj{dirfd: pfd, name: name})
}

// value reads the xattr attr of o whole, growing the buffer as it must.
func (o xattrObj) value(attr string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := o.get(attr, buf)
		if err == unix.ERANGE {
			if n, err = o.get(attr, nil); err != nil {
				return nil, err
			}
			buf = make([]byte, n+64)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n:n], nil
	}
}

// names lists the xattr names of o (more than 64 KiB of names is E2BIG,
// as for listxattr(2)).
func (o xattrObj) names() ([]string, error) {
	return o.namesIn(make([]byte, 1024))
}

// namesIn is names listing into buf first (grown where too small).
func (o xattrObj) namesIn(buf []byte) ([]string, error) {
	for {
		n, err := o.list(buf)
		if err == unix.ERANGE {
			if n, err = o.list(nil); err != nil {
				return nil, err
			}
			buf = make([]byte, n+256)
			continue
		}
		if err != nil {
			return nil, err
		}
		names := []string{}
		if n == 0 {
			return names, nil
		}
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func (b *backend) Getxattr(p, name string) ([]byte, error) {
	var val []byte
	err := b.onXattr(p, func(o xattrObj) (err error) {
		val, err = o.value(name)
		return err
	})
	return val, err
}

func (b *backend) Listxattr(p string) ([]string, error) {
	var names []string
	err := b.onXattr(p, func(o xattrObj) (err error) {
		names, err = o.names()
		return err
	})
	return names, err
}

func (b *backend) Setxattr(p, name string, value []byte) error {
	return b.onXattr(p, func(o xattrObj) error { return o.set(name, value) })
}

func (b *backend) Removexattr(p, name string) error {
	return b.onXattr(p, func(o xattrObj) error { return o.remove(name) })
}
