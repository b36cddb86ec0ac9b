//go:build linux

package overlay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The native layer: a directory of the host in the kernel's on-disk format.
//
// Confinement is a property of one walker, nativeBackend.openObj and
// nativeBackend.openParent: every object is reached with openat2(2) from an
// O_PATH descriptor of the layer root, with
//
//	RESOLVE_BENEATH       nothing outside the root ("..", absolute paths)
//	RESOLVE_NO_SYMLINKS   no symlink in any component: the overlay resolves
//	                      symlinks itself, a backend never follows one
//	RESOLVE_NO_MAGICLINKS no /proc-style magic links
//	RESOLVE_NO_XDEV       no mount crossing: the kernel's overlayfs looks
//	                      names up on the layer's own filesystem and never
//	                      crosses into a mount beneath a layer
//
// and the syscall then works on the returned descriptor (fstat,
// fchownat/utimensat/fchmodat2 with AT_EMPTY_PATH, readlinkat with ""), or
// on the parent descriptor and a single validated name (mkdirat, unlinkat,
// renameat2, linkat, symlinkat, mknodat, and xattrs: see
// native_xattr_linux.go), which cannot leave the parent. No path string
// given by the overlay ever reaches a syscall that resolves it from
// anywhere but a root descriptor.
//
// Paths are validated before use: components must be non-empty and not
// "." or "..", and contain no NUL; otherwise EINVAL. An intermediate or
// final symlink where a directory or file is needed fails ELOOP (from
// RESOLVE_NO_SYMLINKS / O_NOFOLLOW).
//
// A mount point inside a layer shows the directory it covers, as on the
// kernel: the root descriptor is a detached, non-recursive clone of the
// layer's mount (open_tree(2) OPEN_TREE_CLONE), which holds the layer's
// filesystem without anything mounted on it. Cloning needs CAP_SYS_ADMIN;
// without it the root is the directory itself and a path through a mount
// point fails EXDEV (a deviation). An upper and its work dir share one
// clone, so that renames between them stay within one mount.
//
// Created objects get their permission bits from the process umask as the
// *at syscalls apply it (deviation from an in-memory layer, which stores the
// bits given; the kernel overlay chmods after copy-up anyway).

// nativeResolve is the openat2 resolve mask used for every lookup.
const nativeResolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// DirLayer returns a layer on the host directory dir, in the kernel's
// on-disk format (char 0/0 whiteouts, trusted.overlay.* xattrs). All access
// is confined beneath dir: symlinks inside it are never followed and
// nothing outside it is ever read or written. The directory stays open
// until the layer is closed.
func DirLayer(dir string) (*Layer, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	rp, err := filepath.EvalSymlinks(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fs.PathError{Op: "open", Path: dir, Err: pe.Err}
		}
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	nb, err := openNative(rp)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Layer{b: nb, format: formatKernel, desc: "dir " + rp}, nil
}

// nativeBackend is the backend of a [DirLayer].
type nativeBackend struct {
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
	_ backend      = (*nativeBackend)(nil)
	_ rooted       = (*nativeBackend)(nil)
	_ workAttacher = (*nativeBackend)(nil)
	_ placed       = (*nativeBackend)(nil)
)

// openNative opens the directory at the absolute, symlink-free path.
func openNative(path string) (*nativeBackend, error) {
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
	b := &nativeBackend{
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

func (b *nativeBackend) rootInfo() (string, uint64, uint64) { return b.path, b.dev, b.ino }

func (b *nativeBackend) attachWork(work backend) error {
	w, ok := work.(*nativeBackend)
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
			how.Resolve = nativeResolve
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

func (b *nativeBackend) caps() caps {
	b.mu.RLock()
	work := b.workfd >= 0
	b.mu.RUnlock()
	return caps{
		xattr:    true,
		mknod:    true,
		hardlink: true,
		symlink:  true,
		exchange: true,
		workArea: work,
		namelen:  b.namelen,
	}
}

func (b *nativeBackend) close() error {
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

// splitNative validates p and splits it into the tree it addresses (the
// work area for a leading "/") and the path relative to that tree's root,
// "" for the root itself.
func splitNative(p string) (work bool, rel string, err error) {
	if strings.HasPrefix(p, "/") {
		work, p = true, p[1:]
	}
	if p == "" {
		return work, "", nil
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0 {
			return false, "", unix.EINVAL
		}
	}
	return work, p, nil
}

// openAt runs openat2 from the root of the tree named by work, holding mu so
// that the root descriptor stays valid.
func (b *nativeBackend) openAt(work bool, rel string, how *unix.OpenHow) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return -1, unix.EBADF
	}
	dirfd := b.rootfd
	if work {
		if b.workfd < 0 {
			return -1, unix.EINVAL
		}
		dirfd = b.workfd
	}
	if rel == "" {
		rel = "."
	}
	how.Flags |= unix.O_CLOEXEC
	how.Resolve = nativeResolve
	nativeRootWalks.Add(1)
	nativeRootWalkNames.Add(int64(strings.Count(rel, "/") + 1))
	if len(rel) < pathMax {
		return openRetry(dirfd, rel, how)
	}
	return openDeep(dirfd, rel, how)
}

// nativeRootWalks counts the paths resolved from a layer root (by every
// native layer), for the tests that check that a cost does not grow with
// a tree's size or depth.
var nativeRootWalks atomic.Int64

// nativeRootWalkNames counts the names those walks resolved, for the tests
// that check that a cost grows no faster than a tree.
var nativeRootWalkNames atomic.Int64

// pathMax is the kernel's PATH_MAX: a path string given to a syscall,
// its terminating NUL included, may not be longer (ENAMETOOLONG).
const pathMax = 4096

// openDeep is openRetry for a path of PATH_MAX bytes or more, which one
// syscall cannot take: objects that deep are reachable in the kernel's
// overlay (it walks one component at a time), so the path is resolved in
// pieces shorter than PATH_MAX, each from the descriptor of the directory
// the previous piece reached, with the same resolve flags: RESOLVE_BENEATH
// of a directory beneath the root keeps the walk beneath the root.
func openDeep(dirfd int, rel string, how *unix.OpenHow) (int, error) {
	cur := dirfd
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	for len(rel) >= pathMax {
		i := strings.LastIndexByte(rel[:pathMax], '/')
		if i <= 0 {
			return -1, unix.ENAMETOOLONG
		}
		// An intermediate piece must end at a dir; a symlink there fails
		// ELOOP (RESOLVE_NO_SYMLINKS), as in a one-piece walk.
		fd, err := openRetry(cur, rel[:i], &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: how.Resolve,
		})
		if err != nil {
			return -1, err
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		cur, rel = fd, rel[i+1:]
	}
	return openRetry(cur, rel, how)
}

// openRetry is openat2 retried on EINTR and on EAGAIN (which
// RESOLVE_BENEATH returns when a concurrent rename may have raced a lookup).
func openRetry(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, how)
		if err == unix.EINTR || (err == unix.EAGAIN && i < 16) {
			continue
		}
		return fd, err
	}
}

// openObj opens the object p itself, never following it, with extra open
// flags (0 for an O_PATH descriptor).
func (b *nativeBackend) openObj(p string, flags int) (int, error) {
	work, rel, err := splitNative(p)
	if err != nil {
		return -1, err
	}
	if flags == 0 {
		flags = unix.O_PATH
	}
	return b.openAt(work, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW)})
}

// errIsRoot is what openParent reports for the root of a tree, which has no
// parent; callers map it to the errno Linux gives for the operation.
var errIsRoot = errors.New("overlay: root has no parent")

// openParent opens the parent directory of p (O_PATH) and returns it with
// the final name, which contains no "/".
func (b *nativeBackend) openParent(p string) (int, string, error) {
	work, rel, err := splitNative(p)
	if err != nil {
		return -1, "", err
	}
	if rel == "" {
		return -1, "", errIsRoot
	}
	dir, base := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir, base = rel[:i], rel[i+1:]
	}
	fd, err := b.openAt(work, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW})
	return fd, base, err
}

// onParent runs fn on the parent descriptor and final name of p; rootErr
// is returned for the root.
func (b *nativeBackend) onParent(p string, rootErr error, fn func(dirfd int, name string) error) error {
	fd, name, err := b.openParent(p)
	if err == errIsRoot {
		return rootErr
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd, name)
}

// onObj runs fn on an O_PATH descriptor of p.
func (b *nativeBackend) onObj(p string, fn func(fd int) error) error {
	fd, err := b.openObj(p, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

func statToAttr(st *unix.Stat_t) attr {
	return attr{
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

func (b *nativeBackend) lstat(p string) (attr, error) {
	var a attr
	err := b.onObj(p, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		a = statToAttr(&st)
		return nil
	})
	return a, err
}

func (b *nativeBackend) readlink(p string) (string, error) {
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

// direntTypes maps getdents' d_type to S_IFMT bits; DT_UNKNOWN and
// DT_WHT (never reported by Linux filesystems) map to 0.
var direntTypes = [16]uint32{
	unix.DT_FIFO: unix.S_IFIFO,
	unix.DT_CHR:  unix.S_IFCHR,
	unix.DT_DIR:  unix.S_IFDIR,
	unix.DT_BLK:  unix.S_IFBLK,
	unix.DT_REG:  unix.S_IFREG,
	unix.DT_LNK:  unix.S_IFLNK,
	unix.DT_SOCK: unix.S_IFSOCK,
}

// readDir lists p in raw getdents64 order: the kernel overlay's merged
// order is built from it (ovl_dir_read), so it is kept as is.
func (b *nativeBackend) readDir(p string) ([]dirEnt, error) {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readDirents(fd, make([]byte, 32<<10))
}

var _ dotsReader = (*nativeBackend)(nil)

func (b *nativeBackend) readDirDots(p string) ([]dirEnt, [2]int, error) {
	var dots [2]int
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, dots, err
	}
	defer unix.Close(fd)
	ents, err := readDirentsDots(fd, make([]byte, 32<<10), &dots)
	return ents, dots, err
}

// readDirents reads the entries of the dir open at fd from its offset to
// its end, with getdents through buf.
func readDirents(fd int, buf []byte) ([]dirEnt, error) {
	return readDirentsDots(fd, buf, nil)
}

// readDirentsDots is readDirents that also notes where "." and ".." come
// (see parseDirentsDots).
func readDirentsDots(fd int, buf []byte, dots *[2]int) ([]dirEnt, error) {
	var ents []dirEnt
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return ents, nil
		}
		ents, _ = parseDirentsDots(buf[:n], ents, dots)
	}
}

// parseDirents appends the entries of a getdents64 buffer (struct
// linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name NUL-terminated)
// to ents, skipping "." and "..". last is the position after the last
// record ("." and ".." included), where the next getdents goes on.
func parseDirents(buf []byte, ents []dirEnt) (_ []dirEnt, last int64) {
	return parseDirentsDots(buf, ents, nil)
}

// parseDirentsDots is parseDirents that also notes, in dots when not nil,
// how many entries came before "." and before "..".
func parseDirentsDots(buf []byte, ents []dirEnt, dots *[2]int) (_ []dirEnt, last int64) {
	const nameOff = 19
	for len(buf) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < nameOff || reclen > len(buf) {
			break
		}
		rec := buf[:reclen]
		buf = buf[reclen:]
		last = int64(binary.NativeEndian.Uint64(rec[8:16]))
		name := rec[nameOff:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s == "." || s == ".." {
			if dots != nil {
				dots[len(s)-1] = len(ents)
			}
			continue
		}
		ents = append(ents, dirEnt{
			Name: string(name),
			Type: direntTypes[rec[18]&0xf],
			Ino:  binary.NativeEndian.Uint64(rec[0:8]),
		})
	}
	return ents, last
}

var _ dirStreamer = (*nativeBackend)(nil)

func (b *nativeBackend) openDirStream(p string) (dirStream, error) {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &nativeDirStream{fd: fd}, nil
}

// nativeDirStream reads a dir through its own descriptor, in buffers of
// os.File's size, so that positions move as on a kernel file read by os.
type nativeDirStream struct {
	fd  int
	buf []byte
}

func (s *nativeDirStream) read() ([]dirEnt, int64, bool, error) {
	if s.buf == nil {
		s.buf = make([]byte, 8192)
	}
	for {
		n, err := unix.Getdents(s.fd, s.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, false, err
		}
		if n <= 0 {
			return nil, 0, true, nil
		}
		ents, last := parseDirents(s.buf[:n], nil)
		return ents, last, false, nil
	}
}

func (s *nativeDirStream) seek(off int64, whence int) (int64, error) {
	return unix.Seek(s.fd, off, whence)
}

func (s *nativeDirStream) close() error { return unix.Close(s.fd) }

func (b *nativeBackend) openRead(p string, flag int) (bfile, error) {
	return b.open(p, flag&^writeFlags, 0)
}

// open opens p with O_NOFOLLOW. Only regular files and directories are
// opened: anything else fails EACCES before any open that could reach a
// driver or block on a FIFO, as if the layer were mounted nodev (deviation:
// the kernel overlay opens device nodes and FIFOs of its layers). O_NONBLOCK
// is added for the same reason; regular files and directories ignore it.
func (b *nativeBackend) open(p string, flag int, perm uint32) (bfile, error) {
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
	return &nativeFile{fd: fd, app: flag&unix.O_APPEND != 0}, nil
}

// openable reports whether open may open an object of this mode.
func openable(mode uint32) bool {
	t := mode & unix.S_IFMT
	return t == unix.S_IFREG || t == unix.S_IFDIR || t == unix.S_IFLNK
}

func (b *nativeBackend) mkdir(p string, perm uint32) error {
	return b.onParent(p, unix.EEXIST, func(dirfd int, name string) error {
		return unix.Mkdirat(dirfd, name, perm&0o7777)
	})
}

func (b *nativeBackend) symlink(target, p string) error {
	return b.onParent(p, unix.EEXIST, func(dirfd int, name string) error {
		return unix.Symlinkat(target, dirfd, name)
	})
}

func (b *nativeBackend) link(oldp, newp string) error {
	return b.onParent(oldp, unix.EPERM, func(olddir int, oldname string) error {
		return b.onParent(newp, unix.EEXIST, func(newdir int, newname string) error {
			// flags 0: a symlink oldp is linked itself, never followed.
			return unix.Linkat(olddir, oldname, newdir, newname, 0)
		})
	})
}

func (b *nativeBackend) mknod(p string, mode uint32, dev uint64) error {
	return b.onParent(p, unix.EEXIST, func(dirfd int, name string) error {
		return unix.Mknodat(dirfd, name, mode, int(dev))
	})
}

func (b *nativeBackend) rename(oldp, newp string) error {
	return b.renameat2(oldp, newp, 0)
}

func (b *nativeBackend) exchange(p1, p2 string) error {
	return b.renameat2(p1, p2, unix.RENAME_EXCHANGE)
}

// renameWhiteout renames with RENAME_WHITEOUT: a whiteout takes the old
// name in the same step (EINVAL where the filesystem cannot).
func (b *nativeBackend) renameWhiteout(oldp, newp string) error {
	return b.renameat2(oldp, newp, unix.RENAME_WHITEOUT)
}

func (b *nativeBackend) renameat2(oldp, newp string, flags uint) error {
	return b.onParent(oldp, unix.EBUSY, func(olddir int, oldname string) error {
		return b.onParent(newp, unix.EBUSY, func(newdir int, newname string) error {
			return unix.Renameat2(olddir, oldname, newdir, newname, flags)
		})
	})
}

func (b *nativeBackend) unlink(p string) error {
	return b.onParent(p, unix.EISDIR, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, 0)
	})
}

func (b *nativeBackend) rmdir(p string) error {
	return b.onParent(p, unix.EBUSY, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	})
}

// chmod uses fchmodat2(AT_EMPTY_PATH) on an O_PATH descriptor (Linux 6.6),
// else chmod(2) of its /proc path; a symlink is EOPNOTSUPP either way, as
// fchmodat(AT_SYMLINK_NOFOLLOW) says on Linux.
func (b *nativeBackend) chmod(p string, perm uint32) error {
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

func (b *nativeBackend) lchown(p string, uid, gid int) error {
	return b.onObj(p, func(fd int) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	})
}

// lutimes sets the times of p itself; a zero time.Time leaves that time
// unchanged, as in [os.Chtimes].
func (b *nativeBackend) lutimes(p string, atime, mtime time.Time) error {
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

// truncate opens p for writing, never following it. O_NONBLOCK keeps a
// FIFO from blocking; anything but a regular file is refused before any
// open for writing, as truncate(2) does (EISDIR, EINVAL), and a symlink
// fails ELOOP.
func (b *nativeBackend) truncate(p string, size int64) error {
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

// nativeFile is an open file of a native layer.
type nativeFile struct {
	// mu guards fd against Close: the descriptor is used only while mu
	// is held for reading.
	mu  sync.RWMutex
	fd  int  // -1 after Close; protected by mu
	app bool // opened with O_APPEND; immutable
}

func (f *nativeFile) use(fn func(fd int) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.fd < 0 {
		return unix.EBADF
	}
	return fn(f.fd)
}

func (f *nativeFile) ReadAt(p []byte, off int64) (int, error) {
	return f.rw(p, off, unix.Pread, io.EOF)
}

func (f *nativeFile) WriteAt(p []byte, off int64) (int, error) {
	return f.rw(p, off, unix.Pwrite, io.ErrShortWrite)
}

// Append writes p with write(2) on the O_APPEND descriptor, which the
// kernel makes atomic with every other writer of the inode, then reads
// the descriptor's offset, which only the calling File moves.
func (f *nativeFile) Append(p []byte) (int, int64, error) {
	if !f.app {
		return 0, 0, unix.EBADF
	}
	n := 0
	var end int64
	err := f.use(func(fd int) error {
		for n < len(p) {
			m, err := unix.Write(fd, p[n:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if m == 0 {
				return io.ErrShortWrite
			}
			n += m
		}
		var err error
		end, err = unix.Seek(fd, 0, io.SeekCurrent)
		return err
	})
	return n, end, err
}

// rw moves all of p at off with pread or pwrite, retrying on EINTR and
// short transfers; a transfer of nothing ends it with atEnd.
func (f *nativeFile) rw(p []byte, off int64, op func(int, []byte, int64) (int, error), atEnd error) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	n := 0
	err := f.use(func(fd int) error {
		for n < len(p) {
			m, err := op(fd, p[n:], off+int64(n))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if m == 0 {
				return atEnd
			}
			n += m
		}
		return nil
	})
	return n, err
}

func (f *nativeFile) Stat() (attr, error) {
	var a attr
	err := f.use(func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		a = statToAttr(&st)
		return nil
	})
	return a, err
}

func (f *nativeFile) Truncate(size int64) error {
	return f.use(func(fd int) error { return ftruncate(fd, size) })
}

func (f *nativeFile) Sync() error {
	return f.use(func(fd int) error {
		for {
			err := unix.Fsync(fd)
			if err != unix.EINTR {
				return err
			}
		}
	})
}

func (f *nativeFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return unix.EBADF
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

var _ treeRemover = (*nativeBackend)(nil)

// removeTree removes the dir p and everything beneath it, walking down
// with directory descriptors as os.RemoveAll does: each level costs the
// same however deep it lies (no path is resolved from the root again),
// and trees deeper than PATH_MAX go too.
func (b *nativeBackend) removeTree(p string) error {
	return b.onParent(p, unix.EBUSY, func(dirfd int, name string) error {
		return removeAt(dirfd, name, make([]byte, 32<<10))
	})
}

// clearTree removes everything inside the dir p, keeping p.
func (b *nativeBackend) clearTree(p string) error {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return clearAt(fd, make([]byte, 32<<10))
}

// removeAt removes name in the dir parent, with everything beneath it.
// Symlinks are never followed and mounts never crossed (a mount point
// beneath fails EXDEV, as any lookup of the layer). buf is the getdents
// buffer, shared by every level (each level parses it before going down).
func removeAt(parent int, name string, buf []byte) error {
	err := unix.Unlinkat(parent, name, 0)
	switch err {
	case nil, unix.ENOENT:
		return nil
	case unix.EISDIR:
	default:
		return err
	}
	fd, err := openSubdir(parent, name)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	err = clearAt(fd, buf)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// clearAt removes everything in the dir open at fd.
func clearAt(fd int, buf []byte) error {
	for {
		// Read a batch, remove it, and read again from the start: the
		// removals change the directory under its offset.
		if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
			return err
		}
		ents, err := readDirents(fd, buf)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return nil
		}
		for _, e := range ents {
			if err := removeAt(fd, e.Name, buf); err != nil {
				return err
			}
		}
	}
}

var _ inodeHolder = (*nativeBackend)(nil)

func (b *nativeBackend) hold(p string) (func() (attr, error), func(), error) {
	fd, err := b.openObj(p, 0)
	if err != nil {
		return nil, nil, err
	}
	stat := func() (attr, error) {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return attr{}, err
		}
		return statToAttr(&st), nil
	}
	return stat, func() { unix.Close(fd) }, nil
}

// openSubdir opens the dir name in the dir open at fd, never following a
// symlink and never leaving the layer, for a walk by descriptors.
func openSubdir(fd int, name string) (int, error) {
	return openRetry(fd, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: nativeResolve,
	})
}
