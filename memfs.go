package overlay

import (
	"crypto/rand"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// MemFS is a small in-memory POSIX filesystem, used to build in-memory
// layers ([MemLayer]). It holds regular files, directories, symlinks,
// hard links, device nodes, FIFOs and sockets, with full st_mode,
// ownership, timestamps and extended attributes (any namespace).
//
// Behaviour, modelled on Linux tmpfs:
//   - The root directory has inode number 1, the work area's root 2; every
//     other object gets the next number of a per-MemFS counter, never reused.
//   - Each MemFS has its own st_dev: major 4096 (outside the kernel's 12-bit
//     major space, so it never equals a real device) and a minor from a
//     process-wide counter.
//   - New objects are owned by os.Geteuid()/os.Getegid(); in a setgid
//     directory they take the directory's group, and new directories inherit
//     its setgid bit (inode_init_owner). No umask is applied and no access
//     checks are made: every caller acts as root.
//   - Directories have nlink 2 + subdirectories and list their entries
//     sorted by name; a directory's size is 20 bytes per entry plus 40, as
//     tmpfs reports.
//   - Changing an inode updates its ctime; adding or removing entries
//     updates the directory's mtime and ctime. Reads do not update atime
//     (as with noatime). Chown of a non-directory clears setuid, and setgid
//     when group-execute is set, even for root, as chown(2) does on Linux.
//   - "user." xattrs exist only on regular files and directories (Linux
//     xattr_permission: setting one elsewhere is EPERM, reading ENODATA).
//   - Special files cannot be opened (ENXIO: there are no drivers).
//   - Files are not sparse; the largest file is 4 GiB (EFBIG beyond).
//
// The exported methods are for populating a layer. Their paths are
// slash-separated and relative to the MemFS root (a leading "/" is allowed);
// symlinks in intermediate components are followed, with the MemFS root as
// "/" and ".." stopping at it, but a final symlink never is (so WriteFile on
// a symlink fails with ELOOP). Errors are *fs.PathError (*os.LinkError for
// Link and Symlink) holding a syscall.Errno.
//
// A MemFS is safe for concurrent use, including while layers built on it
// are in use.
type MemFS struct {
	dev  uint64   // immutable
	uuid [16]byte // random; the filesystem UUID in its file handles; immutable

	mu      sync.RWMutex
	root    *memNode // the layer root; the pointer is immutable, the node protected by mu
	work    *memNode // the work area root; the pointer is immutable, the node protected by mu
	nextIno uint64   // protected by mu
}

// memNode is one inode. All fields except ino and the S_IFMT bits of mode
// are protected by the owning MemFS's mu.
type memNode struct {
	ino                 uint64
	mode                uint32 // raw st_mode
	nlink               uint64
	uid, gid            uint32
	rdev                uint64
	atime, mtime, ctime time.Time
	data                []byte              // regular files
	target              string              // symlinks
	kids                map[string]*memNode // directories
	parent              *memNode            // directories: the containing directory; nil for the roots
	xattrs              map[string][]byte
}

const (
	memRootIno = 1 // inode number of a MemFS's root (as tmpfs)
	memWorkIno = 2 // inode number of a MemFS's work area root

	// memMaxFileSize bounds a MemFS file (EFBIG beyond), as its data is
	// never sparse.
	memMaxFileSize = 1 << 32

	// memDevMajor is the st_dev major number of every MemFS. The kernel's
	// dev_t has 12 major bits, so no real device can have it.
	memDevMajor = 4096

	// xattr limits of include/uapi/linux/limits.h: XATTR_NAME_MAX, XATTR_SIZE_MAX.
	memXattrNameMax = 255
	memXattrSizeMax = 65536

	accMode = os.O_RDONLY | os.O_WRONLY | os.O_RDWR
)

// NewMemFS returns an empty MemFS: a root directory with mode 0755.
func NewMemFS() *MemFS {
	m := &MemFS{dev: layer.FakeDev(memDevMajor), nextIno: memWorkIno + 1}
	rand.Read(m.uuid[:])
	now := time.Now()
	m.root = m.newNode(syscall.S_IFDIR|0o755, nil, now)
	m.root.ino = memRootIno
	m.work = m.newNode(syscall.S_IFDIR|0o700, nil, now)
	m.work.ino = memWorkIno
	return m
}

// MemLayer returns an in-memory layer in the kernel's format over m (a new
// empty MemFS when m is nil). The layer shares m: changes made through m's
// methods are visible in the layer and the other way round.
func MemLayer(m *MemFS) *Layer {
	if m == nil {
		m = NewMemFS()
	}
	return &Layer{b: memBackend{m}, format: formatKernel, desc: "memory"}
}

// memBackend is a MemFS as a layer: its methods address the layer by the
// overlay's paths (see backend), where MemFS's own exported methods are
// for populating it.
type memBackend struct{ fs *MemFS }

var (
	_ layer.Backend         = memBackend{}
	_ layer.WhiteoutRenamer = memBackend{}
)

// newNode makes an inode owned by the caller, in directory dir (nil for a
// root). Caller holds mu (or owns m exclusively).
func (m *MemFS) newNode(mode uint32, dir *memNode, now time.Time) *memNode {
	n := &memNode{
		ino:   m.nextIno,
		mode:  mode,
		nlink: 1,
		uid:   uint32(os.Geteuid()),
		gid:   uint32(os.Getegid()),
		atime: now, mtime: now, ctime: now,
	}
	m.nextIno++
	if dir != nil && dir.mode&syscall.S_ISGID != 0 {
		n.gid = dir.gid
		if n.isDir() {
			n.mode |= syscall.S_ISGID
		}
	}
	if n.isDir() {
		n.nlink = 2
		n.kids = make(map[string]*memNode)
		n.parent = dir
	}
	return n
}

func (n *memNode) typ() uint32  { return n.mode & syscall.S_IFMT }
func (n *memNode) isDir() bool  { return n.typ() == syscall.S_IFDIR }
func (n *memNode) isLink() bool { return n.typ() == syscall.S_IFLNK }
func (n *memNode) isReg() bool  { return n.typ() == syscall.S_IFREG }

// attr reports n's stat. Caller holds mu.
func (n *memNode) attr(dev uint64) layer.Attr {
	a := layer.Attr{
		Mode: n.mode, Nlink: n.nlink, Uid: n.uid, Gid: n.gid, Rdev: n.rdev,
		Blksize: 4096, Ino: n.ino, Dev: dev,
		Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime,
	}
	switch n.typ() {
	case syscall.S_IFREG:
		a.Size = int64(len(n.data))
		a.Blocks = (a.Size + 4095) / 4096 * 8
	case syscall.S_IFLNK:
		a.Size = int64(len(n.target))
	case syscall.S_IFDIR:
		a.Size = int64(len(n.kids)+2) * 20 // tmpfs's BOGO_DIRENT_SIZE
	}
	return a
}

// touch records a change of directory entries in dir.
func touch(dir *memNode, now time.Time) { dir.mtime, dir.ctime = now, now }

// memLoc is a resolved path: the parent directory and the final name, and
// the object there (nil when absent). For a root, dir is nil and name "".
type memLoc struct {
	dir  *memNode
	name string
	node *memNode
}

// checkName validates one path component.
func checkName(c string) error {
	switch {
	case c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0:
		return syscall.EINVAL
	case len(c) > layer.NameMax:
		return syscall.ENAMETOOLONG
	}
	return nil
}

// walk resolves a backend path, never following a symlink: an intermediate
// symlink is ELOOP (as openat2 RESOLVE_NO_SYMLINKS). Caller holds mu.
func (m *MemFS) walk(p string) (memLoc, error) {
	cur := m.root
	if strings.HasPrefix(p, "/") {
		cur, p = m.work, p[1:]
	}
	if p == "" {
		return memLoc{node: cur}, nil
	}
	for {
		c, rest, more := strings.Cut(p, "/")
		if err := checkName(c); err != nil {
			return memLoc{}, err
		}
		child := cur.kids[c]
		if !more {
			return memLoc{dir: cur, name: c, node: child}, nil
		}
		switch {
		case child == nil:
			return memLoc{}, syscall.ENOENT
		case child.isLink():
			return memLoc{}, syscall.ELOOP
		case !child.isDir():
			return memLoc{}, syscall.ENOTDIR
		}
		cur, p = child, rest
	}
}

// walkFollow resolves a path of the exported API from the MemFS root,
// following symlinks in intermediate components, and in the final one too
// when followFinal is set. The MemFS root is "/" and ".." stops at it.
// Caller holds mu.
func (m *MemFS) walkFollow(name string, followFinal bool) (memLoc, error) {
	name = path.Clean("/" + name)
	if len(name) > layer.PathMax {
		return memLoc{}, syscall.ENAMETOOLONG
	}
	cur := m.root
	todo := strings.Split(name[1:], "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur.parent != nil {
				cur = cur.parent
			}
			continue
		}
		if err := checkName(c); err != nil {
			return memLoc{}, err
		}
		child := cur.kids[c]
		last := len(todo) == 0
		if last && (child == nil || !child.isLink() || !followFinal) {
			return memLoc{dir: cur, name: c, node: child}, nil
		}
		switch {
		case child == nil:
			return memLoc{}, syscall.ENOENT
		case child.isLink():
			if hops++; hops > layer.MaxSymlinks {
				return memLoc{}, syscall.ELOOP
			}
			if strings.HasPrefix(child.target, "/") {
				cur = m.root
			}
			todo = append(strings.Split(child.target, "/"), todo...)
		case !child.isDir():
			return memLoc{}, syscall.ENOTDIR
		default:
			cur = child
		}
	}
	// The root, or a directory reached through a final "." or ".." of a
	// symlink target: there is no name to act on.
	return memLoc{node: cur}, nil
}

// stMode converts the permission, setuid, setgid and sticky bits of an
// fs.FileMode to raw st_mode bits, and its type to S_IFMT bits (S_IFREG
// for a plain file).
func stMode(mode fs.FileMode) uint32 {
	r := rawPerm(mode)
	switch {
	case mode&fs.ModeDir != 0:
		r |= syscall.S_IFDIR
	case mode&fs.ModeSymlink != 0:
		r |= syscall.S_IFLNK
	case mode&fs.ModeNamedPipe != 0:
		r |= syscall.S_IFIFO
	case mode&fs.ModeSocket != 0:
		r |= syscall.S_IFSOCK
	case mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice != 0:
		r |= syscall.S_IFCHR
	case mode&fs.ModeDevice != 0:
		r |= syscall.S_IFBLK
	case mode&fs.ModeCharDevice != 0:
		r |= syscall.S_IFCHR
	default:
		r |= syscall.S_IFREG
	}
	return r
}

// The exported API.

// Mkdir is like [os.Mkdir]. As mkdir(2), it ignores setuid and setgid in
// perm (a directory inherits setgid from its parent); use Chmod to set them.
func (m *MemFS) Mkdir(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.mkdirLocked(l, stMode(perm))
	}
	return pathErr("mkdir", name, err)
}

// MkdirAll is like [os.MkdirAll]: it creates name and any missing parents,
// and succeeds when name is already a directory (or a symlink to one).
func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	comps := strings.Split(strings.Trim(path.Clean("/"+name), "/"), "/")
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		l, err := m.walkFollow(prefix, false)
		if err != nil {
			return pathErr("mkdir", name, err)
		}
		switch {
		case l.node == nil:
			err = m.mkdirLocked(l, stMode(perm))
		case l.node.isLink():
			if l, err = m.walkFollow(prefix, true); err == nil && l.node == nil {
				err = syscall.EEXIST // a dangling symlink, as mkdir(2) sees it
			} else if err == nil && !l.node.isDir() {
				err = syscall.ENOTDIR
			}
		case !l.node.isDir():
			err = syscall.ENOTDIR
		}
		if err != nil {
			return pathErr("mkdir", name, err)
		}
	}
	return nil
}

// WriteFile is like [os.WriteFile], except that a final symlink is not
// followed (ELOOP).
func (m *MemFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err != nil {
		return pathErr("open", name, err)
	}
	n, err := m.openLocked(l, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, stMode(perm))
	if err != nil {
		return pathErr("open", name, err)
	}
	if int64(len(data)) > memMaxFileSize {
		return pathErr("write", name, syscall.EFBIG)
	}
	n.data = slices.Clone(data)
	if len(data) > 0 {
		now := time.Now()
		n.mtime, n.ctime = now, now
	}
	return nil
}

// ReadFile is like [os.ReadFile], except that a final symlink is not
// followed (ELOOP).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	switch {
	case l.node == nil:
		err = syscall.ENOENT
	case l.node.isLink():
		err = syscall.ELOOP
	case l.node.isDir():
		return nil, pathErr("read", name, syscall.EISDIR)
	case !l.node.isReg():
		err = syscall.ENXIO
	}
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return slices.Clone(l.node.data), nil
}

// Symlink is like [os.Symlink]: it creates newname as a symlink to target.
func (m *MemFS) Symlink(target, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(newname, false)
	if err == nil {
		err = m.symlinkLocked(target, l)
	}
	if err != nil {
		return &os.LinkError{Op: "symlink", Old: target, New: newname, Err: err}
	}
	return nil
}

// Link is like [os.Link]; oldname is not followed if it is a symlink.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.walkFollow(oldname, false)
	if err == nil {
		var n memLoc
		if n, err = m.walkFollow(newname, false); err == nil {
			err = m.linkLocked(o, n)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Mknod is like mknod(2): mode is a raw st_mode (S_IFCHR, S_IFBLK,
// S_IFIFO, S_IFSOCK, S_IFREG or 0 for a regular file) and dev the device
// number of a character or block device. Mknod(name, syscall.S_IFCHR, 0)
// makes a whiteout.
func (m *MemFS) Mknod(name string, mode uint32, dev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.mknodLocked(l, mode, dev)
	}
	return pathErr("mknod", name, err)
}

// Setxattr sets extended attribute attr of name (not following a final
// symlink), creating or replacing it.
func (m *MemFS) Setxattr(name, attr string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.setxattrLocked(l, attr, value)
	}
	return pathErr("setxattr", name, err)
}

// Getxattr returns extended attribute attr of name (not following a final
// symlink); ENODATA when it has none.
func (m *MemFS) Getxattr(name, attr string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	var v []byte
	if err == nil {
		v, err = m.getxattrLocked(l, attr)
	}
	return v, pathErr("getxattr", name, err)
}

// Remove is like [os.Remove]: it unlinks a non-directory or removes an
// empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		if l.node != nil && l.node.isDir() {
			err = m.rmdirLocked(l)
		} else {
			err = m.unlinkLocked(l)
		}
	}
	return pathErr("remove", name, err)
}

// Chmod is like [os.Chmod] on Linux (setuid, setgid and sticky bits of
// mode are honoured), except that a final symlink is not followed:
// changing a symlink's mode is EOPNOTSUPP.
func (m *MemFS) Chmod(name string, mode fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.chmodLocked(l, stMode(mode))
	}
	return pathErr("chmod", name, err)
}

// Chown is like [os.Lchown]; -1 leaves an id unchanged. As chown(2),
// it clears setuid (and setgid, if group-execute is set) of a non-directory.
func (m *MemFS) Chown(name string, uid, gid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.chownLocked(l, uid, gid)
	}
	return pathErr("lchown", name, err)
}

// Chtimes is like [os.Chtimes] (a zero time leaves that time unchanged),
// except that a final symlink is not followed.
func (m *MemFS) Chtimes(name string, atime, mtime time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.utimesLocked(l, atime, mtime)
	}
	return pathErr("chtimes", name, err)
}

// Lstat is like [os.Lstat]. The FileInfo's Sys is nil.
func (m *MemFS) Lstat(name string) (fs.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	if err == nil && l.node == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	base := path.Base(path.Clean("/" + name))
	return &fileInfo{name: base, a: l.node.attr(m.dev)}, nil
}

// ReadDir lists the dir name, sorted by name, everything included:
// whiteouts show as char devices 0/0, as a layer holds them.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.RLock()
	l, err := m.walkFollow(name, true)
	if err == nil && l.node == nil {
		err = syscall.ENOENT
	}
	var ents []fs.DirEntry
	if err == nil && !l.node.isDir() {
		err = syscall.ENOTDIR
	}
	if err == nil {
		for kid, n := range l.node.kids {
			ents = append(ents, fs.FileInfoToDirEntry(&fileInfo{name: kid, a: n.attr(m.dev)}))
		}
	}
	m.mu.RUnlock()
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// Readlink returns the target of the symlink name.
func (m *MemFS) Readlink(name string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	switch {
	case err != nil:
	case l.node == nil:
		err = syscall.ENOENT
	case !l.node.isLink():
		err = syscall.EINVAL
	}
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return l.node.target, nil
}
