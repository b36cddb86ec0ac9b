//go:build linux

package native

import (
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

// Supported reports whether native layers work here: they need Linux
// (openat2 and its RESOLVE_* flags).
const Supported = true

// resolveFlags is the openat2 resolve mask used for every lookup.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// backend is a native layer (overlay.DirLayer).
type backend struct {
	path    string      // absolute, symlink-free path of the root; immutable
	dev     uint64      // st_dev of the root; immutable
	ino     uint64      // st_ino of the root; immutable
	namelen int         // f_namelen of the root's filesystem; immutable
	xattr   xattrAccess // how xattrs are reached; immutable
	proc    bool        // /proc/self/fd/N reaches descriptors; immutable

	// mu guards the root descriptors against close: a descriptor number is
	// used only while mu is held (for reading), so that close cannot let
	// it be reused for another directory under a running openat2.
	mu     sync.RWMutex
	rootfd int  // O_PATH|O_DIRECTORY of the root; -1 when closed; protected by mu
	workfd int  // O_PATH of the work root, -1 if none; protected by mu
	closed bool // protected by mu
	// cloned: rootfd is in a detached clone of the layer's mount (see the
	// comment at the top). Protected by mu.
	cloned bool

	uuidOnce sync.Once
	uuid     [16]byte // the filesystem's UUID, read once; see fsUUID

	mnt     uint64 // id of the mount the root was opened through (0: unknown); immutable
	posOnce sync.Once
	posDev  uint64 // the root's filesystem and path in it, read once; see fsPosition
	pos     string
	posErr  error
}

var (
	_ layer.Backend         = (*backend)(nil)
	_ layer.Rooted          = (*backend)(nil)
	_ layer.WorkAttacher    = (*backend)(nil)
	_ layer.Placed          = (*backend)(nil)
	_ layer.WhiteoutRenamer = (*backend)(nil)
	_ layer.WhiteoutProber  = (*backend)(nil)
	_ fdUser                = (*file)(nil)
	_ layer.HandleTreeDir   = (*treeDir)(nil)
)

// Open opens the directory at the absolute, symlink-free path as a layer.
func Open(path string) (layer.Backend, error) {
	mnt := rootMountID(path) // before the clone, which is a mount of its own
	fd, cloned, err := openLayerRoot(unix.AT_FDCWD, path)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		return nil, unix.ENOTDIR
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		unix.Close(fd)
		return nil, err
	}
	xa, proc, err := chooseXattrAccess(fd, xattrProbe.procDir, xattrProbe.noAt)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	b := &backend{
		path:    path,
		dev:     uint64(st.Dev),
		ino:     uint64(st.Ino),
		namelen: int(sfs.Namelen),
		xattr:   xa,
		proc:    proc,
		mnt:     mnt,
		rootfd:  fd,
		workfd:  -1,
		cloned:  cloned,
	}
	return b, nil
}

// noCloneRoots, set by tests only, opens layer roots as a process without
// CAP_SYS_ADMIN does.
var noCloneRoots bool

// openLayerRoot opens the directory path (relative to dirfd) as a layer
// root: a detached clone of it without the mounts beneath it where the
// process may clone mounts, else the directory itself (O_PATH).
func openLayerRoot(dirfd int, path string) (fd int, cloned bool, err error) {
	if !noCloneRoots {
		fd, err = unix.OpenTree(dirfd, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
		if err == nil {
			return fd, true, nil
		}
	}
	fd, err = openRetry(dirfd, path, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
	})
	return fd, false, err
}

func (b *backend) RootInfo() (string, uint64, uint64) { return b.path, b.dev, b.ino }

func (b *backend) AttachWork(work layer.Backend) error {
	w, ok := work.(*backend)
	if !ok || w.dev != b.dev {
		return unix.EXDEV
	}
	w.mu.RLock()
	var fd int
	var err error
	if w.closed {
		err = unix.EBADF
	} else {
		fd, err = unix.FcntlInt(uintptr(w.rootfd), unix.F_DUPFD_CLOEXEC, 0)
	}
	cloned := w.cloned
	w.mu.RUnlock()
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		unix.Close(fd)
		return unix.EBADF
	}
	if b.cloned || cloned {
		// Two clones are two mounts, between which rename(2) fails
		// EXDEV: reopen both roots from one clone of their common
		// ancestor (on their one mount, as the kernel requires).
		unix.Close(fd)
		root, work, err := cloneTogether(b.path, b.dev, b.ino, w.path, w.ino)
		if err != nil {
			return err
		}
		unix.Close(b.rootfd)
		b.rootfd, fd = root, work
	}
	if b.workfd >= 0 {
		unix.Close(b.workfd)
	}
	b.workfd = fd
	return nil
}

// cloneTogether opens the directories at paths up and work (with the
// inode numbers they had when their layers were opened, on device dev)
// from one clone of their longest common ancestor, or both plainly where
// the process may not clone mounts.
func cloneTogether(up string, dev, upIno uint64, work string, workIno uint64) (int, int, error) {
	anc := up
	for anc != "/" && !strings.HasPrefix(work+"/", anc+"/") {
		anc = filepath.Dir(anc)
	}
	afd, cloned, err := openLayerRoot(unix.AT_FDCWD, anc)
	if err != nil {
		return -1, -1, err
	}
	defer unix.Close(afd)
	open := func(p string, ino uint64) (int, error) {
		rel, err := filepath.Rel(anc, p)
		if err != nil {
			return -1, err
		}
		how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC}
		if cloned {
			how.Resolve = resolveFlags
		}
		fd, err := openRetry(afd, rel, how)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
			unix.Close(fd)
			if err == nil {
				err = unix.EXDEV // not the dir the layer was opened on
			}
			return -1, err
		}
		return fd, nil
	}
	rfd, err := open(up, upIno)
	if err != nil {
		return -1, -1, err
	}
	wfd, err := open(work, workIno)
	if err != nil {
		unix.Close(rfd)
		return -1, -1, err
	}
	return rfd, wfd, nil
}

func (b *backend) Caps() layer.Caps {
	b.mu.RLock()
	work := b.workfd >= 0
	b.mu.RUnlock()
	return layer.Caps{
		Xattr:    true,
		Mknod:    true,
		Hardlink: true,
		Symlink:  true,
		Exchange: true,
		WorkArea: work,
		NameMax:  b.namelen,
	}
}

func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := unix.Close(b.rootfd)
	if b.workfd >= 0 {
		if werr := unix.Close(b.workfd); err == nil {
			err = werr
		}
	}
	b.rootfd, b.workfd = -1, -1
	return err
}

// fstatAttr is fstat(2) of fd as an attr.
func fstatAttr(fd int) (layer.Attr, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return layer.Attr{}, err
	}
	return statToAttr(&st), nil
}

func statToAttr(st *unix.Stat_t) layer.Attr {
	return layer.Attr{
		Mode:    uint32(st.Mode),
		Nlink:   uint64(st.Nlink),
		Uid:     st.Uid,
		Gid:     st.Gid,
		Rdev:    uint64(st.Rdev),
		Size:    int64(st.Size),
		Blksize: int64(st.Blksize),
		Blocks:  int64(st.Blocks),
		Ino:     uint64(st.Ino),
		Dev:     uint64(st.Dev),
		Atime:   time.Unix(st.Atim.Unix()),
		Mtime:   time.Unix(st.Mtim.Unix()),
		Ctime:   time.Unix(st.Ctim.Unix()),
	}
}

func (b *backend) Lstat(p string) (layer.Attr, error) {
	var a layer.Attr
	err := b.onObj(p, func(fd int) (err error) {
		a, err = fstatAttr(fd)
		return err
	})
	return a, err
}

func (b *backend) Readlink(p string) (string, error) {
	var s string
	err := b.onObj(p, func(fd int) error {
		for size := 256; ; size *= 2 {
			buf := make([]byte, size)
			n, err := unix.Readlinkat(fd, "", buf)
			if err == unix.ENOENT {
				// readlinkat(fd, "") of a non-symlink; readlink(2)
				// says EINVAL.
				return unix.EINVAL
			}
			if err != nil {
				return err
			}
			if n < size {
				s = string(buf[:n])
				return nil
			}
		}
	})
	return s, err
}

func (b *backend) OpenRead(p string, flag int) (layer.File, error) {
	return b.Open(p, flag&^layer.WriteFlags, 0)
}

// Open opens p with O_NOFOLLOW. Only regular files and directories are
// opened: anything else fails EACCES before any Open that could reach a
// driver or block on a FIFO, as if the layer were mounted nodev (deviation:
// the kernel overlay opens device nodes and FIFOs of its layers). O_NONBLOCK
// is added for the same reason; regular files and directories ignore it.
func (b *backend) Open(p string, flag int, perm uint32) (layer.File, error) {
	work, rel, err := splitNative(p)
	if err != nil {
		return nil, err
	}
	// A symlink passes this check; the open below fails ELOOP on it (or
	// EEXIST with O_CREAT|O_EXCL), as open(2) with O_NOFOLLOW does.
	var st unix.Stat_t
	err = b.onObj(p, func(fd int) error { return unix.Fstat(fd, &st) })
	switch {
	case err == unix.ENOENT && flag&unix.O_CREAT != 0:
	case err != nil:
		return nil, err
	case !openable(st.Mode):
		return nil, unix.EACCES
	}
	how := &unix.OpenHow{Flags: uint64(flag) | unix.O_NOFOLLOW | unix.O_NONBLOCK}
	if flag&unix.O_CREAT != 0 || flag&unix.O_TMPFILE == unix.O_TMPFILE {
		// openat2 insists on a zero mode otherwise.
		how.Mode = uint64(perm & 0o7777)
	}
	fd, err := b.openAt(work, rel, how)
	if err != nil {
		return nil, err
	}
	if err := unix.Fstat(fd, &st); err != nil || !openable(st.Mode) {
		unix.Close(fd)
		if err == nil {
			err = unix.EACCES // replaced under us
		}
		return nil, err
	}
	return &file{fd: fd, app: flag&unix.O_APPEND != 0}, nil
}

// openable reports whether open may open an object of this mode.
func openable(mode uint32) bool {
	t := mode & unix.S_IFMT
	return t == unix.S_IFREG || t == unix.S_IFDIR || t == unix.S_IFLNK
}

func (b *backend) Mkdir(p string, perm uint32) error {
	return b.onParent(p, unix.EEXIST, func(dirfd int, name string) error {
		return unix.Mkdirat(dirfd, name, perm&0o7777)
	})
}

func (b *backend) Symlink(target, p string) error {
	return b.onParent(p, unix.EEXIST, func(dirfd int, name string) error {
		return unix.Symlinkat(target, dirfd, name)
	})
}

func (b *backend) Link(oldp, newp string) error {
	return b.onParent(oldp, unix.EPERM, func(olddir int, oldname string) error {
		return b.onParent(newp, unix.EEXIST, func(newdir int, newname string) error {
			// flags 0: a symlink oldp is linked itself, never followed.
			return unix.Linkat(olddir, oldname, newdir, newname, 0)
		})
	})
}

func (b *backend) Mknod(p string, mode uint32, dev uint64) error {
	return b.onParent(p, unix.EEXIST, func(dirfd int, name string) error {
		return unix.Mknodat(dirfd, name, mode, int(dev))
	})
}

func (b *backend) Rename(oldp, newp string) error {
	return b.renameat2(oldp, newp, 0)
}

func (b *backend) Exchange(p1, p2 string) error {
	return b.renameat2(p1, p2, unix.RENAME_EXCHANGE)
}

// renameWhiteout renames with RENAME_WHITEOUT: a whiteout takes the old
// name in the same step (EINVAL where the filesystem cannot).
func (b *backend) RenameWhiteout(oldp, newp string) error {
	return b.renameat2(oldp, newp, unix.RENAME_WHITEOUT)
}

func (b *backend) renameat2(oldp, newp string, flags uint) error {
	return b.onParent(oldp, unix.EBUSY, func(olddir int, oldname string) error {
		return b.onParent(newp, unix.EBUSY, func(newdir int, newname string) error {
			return unix.Renameat2(olddir, oldname, newdir, newname, flags)
		})
	})
}

func (b *backend) Unlink(p string) error {
	return b.onParent(p, unix.EISDIR, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, 0)
	})
}

func (b *backend) Rmdir(p string) error {
	return b.onParent(p, unix.EBUSY, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	})
}

// Chmod uses fchmodat2(AT_EMPTY_PATH) on an O_PATH descriptor (Linux 6.6),
// else Chmod(2) of its /proc path; a symlink is EOPNOTSUPP either way, as
// fchmodat(AT_SYMLINK_NOFOLLOW) says on Linux.
func (b *backend) Chmod(p string, perm uint32) error {
	return b.onObj(p, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return unix.EOPNOTSUPP
		}
		err := unix.Fchmodat(fd, "", perm&0o7777, unix.AT_EMPTY_PATH)
		if err == unix.EOPNOTSUPP && b.proc {
			// x/sys reports a missing fchmodat2 as EOPNOTSUPP; the
			// object is not a symlink, so /proc reaches it safely.
			err = unix.Chmod(procPath(fd), perm&0o7777)
		}
		return err
	})
}

func (b *backend) Lchown(p string, uid, gid int) error {
	return b.onObj(p, func(fd int) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Lutimes sets the times of p itself; a zero time.Time leaves that time
// unchanged, as in [os.Chtimes].
func (b *backend) Lutimes(p string, atime, mtime time.Time) error {
	ts := []unix.Timespec{timespecOrOmit(atime), timespecOrOmit(mtime)}
	return b.onObj(p, func(fd int) error {
		return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	})
}

func timespecOrOmit(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// Truncate opens p for writing, never following it. O_NONBLOCK keeps a
// FIFO from blocking; anything but a regular file is refused before any
// open for writing, as Truncate(2) does (EISDIR, EINVAL), and a symlink
// fails ELOOP.
func (b *backend) Truncate(p string, size int64) error {
	var st unix.Stat_t
	if err := b.onObj(p, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return unix.EISDIR
	case unix.S_IFLNK:
		return unix.ELOOP
	default:
		return unix.EINVAL
	}
	fd, err := b.openObj(p, unix.O_WRONLY|unix.O_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return unix.EINVAL // replaced under us
	}
	return ftruncate(fd, size)
}

func ftruncate(fd int, size int64) error {
	for {
		err := unix.Ftruncate(fd, size)
		if err != unix.EINTR {
			return err
		}
	}
}
