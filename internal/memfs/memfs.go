package memfs

import (
	"crypto/rand"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// FS is one in-memory filesystem: a layer root and a work area, each a
// tree of nodes under one lock. Its behaviour, modelled on tmpfs, is listed
// in the public wrapper's documentation (overlay.MemFS). It is safe for
// concurrent use, including while layers built on it are in use.
type FS struct {
	dev  uint64   // immutable
	uuid [16]byte // random; the filesystem UUID in its file handles; immutable

	mu      sync.RWMutex
	root    *node  // the layer root; the pointer is immutable, the node protected by mu
	work    *node  // the work area root; the pointer is immutable, the node protected by mu
	nextIno uint64 // protected by mu
}

// node is one inode. All fields except ino and the S_IFMT bits of mode
// are protected by the owning FS's mu.
type node struct {
	ino                 uint64
	mode                uint32 // raw st_mode
	nlink               uint64
	uid, gid            uint32
	rdev                uint64
	atime, mtime, ctime time.Time
	data                []byte           // regular files
	target              string           // symlinks
	kids                map[string]*node // directories
	parent              *node            // directories: the containing directory; nil for the roots
	xattrs              map[string][]byte
}

const (
	rootIno = 1 // inode number of a FS's root (as tmpfs)
	workIno = 2 // inode number of a FS's work area root

	// maxFileSize bounds a FS file (EFBIG beyond), as its data is
	// never sparse.
	maxFileSize = 1 << 32

	// devMajor is the st_dev major number of every FS. The kernel's
	// dev_t has 12 major bits, so no real device can have it.
	devMajor = 4096

	// xattr limits of include/uapi/linux/limits.h: XATTR_NAME_MAX, XATTR_SIZE_MAX.
	xattrNameMax = 255
	xattrSizeMax = 65536
)

// New returns an empty FS: a root directory with mode 0755.
func New() *FS {
	m := &FS{dev: layer.FakeDev(devMajor), nextIno: workIno + 1}
	rand.Read(m.uuid[:])
	now := time.Now()
	m.root = m.newNode(syscall.S_IFDIR|0o755, nil, now)
	m.root.ino = rootIno
	m.work = m.newNode(syscall.S_IFDIR|0o700, nil, now)
	m.work.ino = workIno
	return m
}

// Backend is m as a layer: its methods address the layer by the overlay's
// paths (see layer.Backend), where FS's own exported methods are for
// populating it.
func (m *FS) Backend() layer.Backend { return backend{m} }

// backend is an FS as a layer.
type backend struct{ fs *FS }

var (
	_ layer.Backend         = backend{}
	_ layer.WhiteoutRenamer = backend{}
	_ layer.Handler         = backend{}
	_ layer.TreeDirOpener   = backend{}
)

// newNode makes an inode owned by the caller, in directory dir (nil for a
// root). Caller holds mu (or owns m exclusively).
func (m *FS) newNode(mode uint32, dir *node, now time.Time) *node {
	n := &node{
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
		n.kids = make(map[string]*node)
		n.parent = dir
	}
	return n
}

func (n *node) typ() uint32  { return n.mode & syscall.S_IFMT }
func (n *node) isDir() bool  { return n.typ() == syscall.S_IFDIR }
func (n *node) isLink() bool { return n.typ() == syscall.S_IFLNK }
func (n *node) isReg() bool  { return n.typ() == syscall.S_IFREG }

// attr reports n's stat. Caller holds mu.
func (n *node) attr(dev uint64) layer.Attr {
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
func touch(dir *node, now time.Time) { dir.mtime, dir.ctime = now, now }

// loc is a resolved path: the parent directory and the final name, and
// the object there (nil when absent). For a root, dir is nil and name "".
type loc struct {
	dir  *node
	name string
	node *node
}

// walk resolves a backend path, never following a symlink: an intermediate
// symlink is ELOOP (as openat2 RESOLVE_NO_SYMLINKS). Caller holds mu.
func (m *FS) walk(p string) (loc, error) {
	cur := m.root
	if strings.HasPrefix(p, "/") {
		cur, p = m.work, p[1:]
	}
	if p == "" {
		return loc{node: cur}, nil
	}
	for {
		c, rest, more := strings.Cut(p, "/")
		if err := layer.CheckName(c); err != nil {
			return loc{}, err
		}
		child := cur.kids[c]
		if !more {
			return loc{dir: cur, name: c, node: child}, nil
		}
		switch {
		case child == nil:
			return loc{}, syscall.ENOENT
		case child.isLink():
			return loc{}, syscall.ELOOP
		case !child.isDir():
			return loc{}, syscall.ENOTDIR
		}
		cur, p = child, rest
	}
}

// walkFollow resolves a path of the exported API from the FS root,
// following symlinks in intermediate components, and in the final one too
// when followFinal is set. The FS root is "/" and ".." stops at it.
// Caller holds mu.
func (m *FS) walkFollow(name string, followFinal bool) (loc, error) {
	name = path.Clean("/" + name)
	if len(name) > layer.PathMax {
		return loc{}, syscall.ENAMETOOLONG
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
		if err := layer.CheckName(c); err != nil {
			return loc{}, err
		}
		child := cur.kids[c]
		last := len(todo) == 0
		if last && (child == nil || !child.isLink() || !followFinal) {
			return loc{dir: cur, name: c, node: child}, nil
		}
		switch {
		case child == nil:
			return loc{}, syscall.ENOENT
		case child.isLink():
			if hops++; hops > layer.MaxSymlinks {
				return loc{}, syscall.ELOOP
			}
			if strings.HasPrefix(child.target, "/") {
				cur = m.root
			}
			todo = append(strings.Split(child.target, "/"), todo...)
		case !child.isDir():
			return loc{}, syscall.ENOTDIR
		default:
			cur = child
		}
	}
	// The root, or a directory reached through a final "." or ".." of a
	// symlink target: there is no name to act on.
	return loc{node: cur}, nil
}

// The populating API. Its paths are slash-separated and relative to the
// root (a leading "/" is allowed); symlinks in intermediate components are
// followed, with the root as "/" and ".." stopping at it, but a final
// symlink never is. Modes are raw st_mode bits; errors are bare
// syscall.Errno values, which the public wrapper shapes.

// Mkdir makes the dir name. As mkdir(2), it ignores setuid and setgid in
// mode (a dir inherits setgid from its parent).
func (m *FS) Mkdir(name string, mode uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.mkdirLocked(l, mode)
	}
	return err
}

// MkdirAll makes name and any missing parents, and succeeds when name is
// already a dir (or a symlink to one).
func (m *FS) MkdirAll(name string, mode uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	comps := strings.Split(strings.Trim(path.Clean("/"+name), "/"), "/")
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		l, err := m.walkFollow(prefix, false)
		if err != nil {
			return err
		}
		switch {
		case l.node == nil:
			err = m.mkdirLocked(l, mode)
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
			return err
		}
	}
	return nil
}

// WriteFile creates or truncates the regular file name and writes data to
// it; a final symlink is ELOOP, data longer than a file may hold EFBIG.
func (m *FS) WriteFile(name string, data []byte, mode uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err != nil {
		return err
	}
	n, err := m.openLocked(l, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if int64(len(data)) > maxFileSize {
		return syscall.EFBIG // the file stays, created or truncated, as a failed write leaves it
	}
	n.data = slices.Clone(data)
	if len(data) > 0 {
		now := time.Now()
		n.mtime, n.ctime = now, now
	}
	return nil
}

// ReadFile returns the contents of the regular file name (EISDIR for a
// dir, ELOOP for a final symlink).
func (m *FS) ReadFile(name string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	if err != nil {
		return nil, err
	}
	switch {
	case l.node == nil:
		return nil, syscall.ENOENT
	case l.node.isLink():
		return nil, syscall.ELOOP
	case l.node.isDir():
		return nil, syscall.EISDIR
	case !l.node.isReg():
		return nil, syscall.ENXIO
	}
	return slices.Clone(l.node.data), nil
}

// Symlink creates newname as a symlink to target.
func (m *FS) Symlink(target, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(newname, false)
	if err == nil {
		err = m.symlinkLocked(target, l)
	}
	return err
}

// Link makes newname a hard link of oldname, not following oldname if it
// is a symlink.
func (m *FS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.walkFollow(oldname, false)
	if err == nil {
		var n loc
		if n, err = m.walkFollow(newname, false); err == nil {
			err = m.linkLocked(o, n)
		}
	}
	return err
}

// Mknod is mknod(2): mode is S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFREG
// or 0 for a regular file, and dev the device number of a device.
func (m *FS) Mknod(name string, mode uint32, dev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.mknodLocked(l, mode, dev)
	}
	return err
}

// Setxattr sets the extended attribute attr of name (not following a
// final symlink), creating or replacing it.
func (m *FS) Setxattr(name, attr string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.setxattrLocked(l, attr, value)
	}
	return err
}

// Getxattr returns the extended attribute attr of name (not following a
// final symlink); ENODATA when it has none.
func (m *FS) Getxattr(name, attr string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	if err != nil {
		return nil, err
	}
	return m.getxattrLocked(l, attr)
}

// Remove unlinks a non-dir or removes an empty dir.
func (m *FS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err != nil {
		return err
	}
	if l.node != nil && l.node.isDir() {
		return m.rmdirLocked(l)
	}
	return m.unlinkLocked(l)
}

// Chmod sets the permission, setuid, setgid and sticky bits of name, not
// following a final symlink (EOPNOTSUPP on one).
func (m *FS) Chmod(name string, mode uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.chmodLocked(l, mode)
	}
	return err
}

// Chown is lchown(2); -1 leaves an id unchanged.
func (m *FS) Chown(name string, uid, gid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.chownLocked(l, uid, gid)
	}
	return err
}

// Chtimes sets the access and modification times of name (a zero time
// leaves that time unchanged), not following a final symlink.
func (m *FS) Chtimes(name string, atime, mtime time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walkFollow(name, false)
	if err == nil {
		err = m.utimesLocked(l, atime, mtime)
	}
	return err
}

// Lstat returns the attributes of name, not following a final symlink.
func (m *FS) Lstat(name string) (layer.Attr, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	if err == nil && l.node == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return layer.Attr{}, err
	}
	return l.node.attr(m.dev), nil
}

// An Entry is a name of a dir with the attributes of its object.
type Entry struct {
	Name string
	Attr layer.Attr
}

// ReadDir lists the dir name (following a final symlink), sorted by name,
// everything included: whiteouts show as char devices 0/0, as a layer
// holds them.
func (m *FS) ReadDir(name string) ([]Entry, error) {
	m.mu.RLock()
	l, err := m.walkFollow(name, true)
	if err == nil && l.node == nil {
		err = syscall.ENOENT
	}
	if err == nil && !l.node.isDir() {
		err = syscall.ENOTDIR
	}
	var ents []Entry
	if err == nil {
		ents = make([]Entry, 0, len(l.node.kids))
		for kid, n := range l.node.kids {
			ents = append(ents, Entry{Name: kid, Attr: n.attr(m.dev)})
		}
	}
	m.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ents, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return ents, nil
}

// Readlink returns the target of the symlink name.
func (m *FS) Readlink(name string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walkFollow(name, false)
	switch {
	case err != nil:
		return "", err
	case l.node == nil:
		return "", syscall.ENOENT
	case !l.node.isLink():
		return "", syscall.EINVAL
	}
	return l.node.target, nil
}
