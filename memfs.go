package overlay

import (
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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

	// maxPathLen is PATH_MAX, the longest symlink target
	// (include/uapi/linux/limits.h); maxNameLen (NAME_MAX) is in lookup.go.
	maxPathLen = 4096
	// memMaxSymlinkHops is the kernel's MAXSYMLINKS (include/linux/namei.h).
	memMaxSymlinkHops = 40

	// xattr limits of include/uapi/linux/limits.h: XATTR_NAME_MAX, XATTR_SIZE_MAX.
	memXattrNameMax = 255
	memXattrSizeMax = 65536

	accMode = os.O_RDONLY | os.O_WRONLY | os.O_RDWR
)

// fakeDevMinor numbers the synthetic st_dev values of in-memory and afero
// backends, so that no two backends share one.
var fakeDevMinor atomic.Uint64

// fakeDev returns a new st_dev with the given major number and a minor
// never returned before, in glibc's makedev encoding.
func fakeDev(major uint64) uint64 {
	minor := fakeDevMinor.Add(1)
	return (major&0xfff)<<8 | (major&0xfffff000)<<32 | minor&0xff | (minor&0xffffff00)<<12
}

// NewMemFS returns an empty MemFS: a root directory with mode 0755.
func NewMemFS() *MemFS {
	m := &MemFS{dev: fakeDev(memDevMajor), nextIno: memWorkIno + 1}
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
	return &Layer{b: m, format: formatKernel, desc: "memory"}
}

var (
	_ backend         = (*MemFS)(nil)
	_ whiteoutRenamer = (*MemFS)(nil)
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
func (n *memNode) attr(dev uint64) attr {
	a := attr{
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
	case len(c) > maxNameLen:
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
	if len(name) > maxPathLen {
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
			if hops++; hops > memMaxSymlinkHops {
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

// The backend.

func (m *MemFS) lstat(p string) (attr, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walk(p)
	if err != nil {
		return attr{}, err
	}
	if l.node == nil {
		return attr{}, syscall.ENOENT
	}
	return l.node.attr(m.dev), nil
}

func (m *MemFS) readDir(p string) ([]dirEnt, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.dirAt(p)
	if err != nil {
		return nil, err
	}
	return n.dirEnts(), nil
}

// dirAt returns the dir at p. Callers hold mu.
func (m *MemFS) dirAt(p string) (*memNode, error) {
	l, err := m.walk(p)
	switch {
	case err != nil:
		return nil, err
	case l.node == nil:
		return nil, syscall.ENOENT
	case !l.node.isDir():
		return nil, syscall.ENOTDIR
	}
	return l.node, nil
}

// dirEnts lists dir n, sorted by name. Callers hold mu.
func (n *memNode) dirEnts() []dirEnt {
	ents := make([]dirEnt, 0, len(n.kids))
	for name, k := range n.kids {
		ents = append(ents, dirEnt{Name: name, Type: k.typ(), Ino: k.ino})
	}
	slices.SortFunc(ents, func(a, b dirEnt) int { return strings.Compare(a.Name, b.Name) })
	return ents
}

func (m *MemFS) readlink(p string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walk(p)
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

func (m *MemFS) openRead(p string, flag int) (bfile, error) {
	return m.open(p, flag&^writeFlags, 0)
}

func (m *MemFS) open(p string, flag int, perm uint32) (bfile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walk(p)
	if err != nil {
		return nil, err
	}
	n, err := m.openLocked(l, flag, perm)
	if err != nil {
		return nil, err
	}
	return &memFile{m: m, n: n, flag: flag}, nil
}

// openLocked does the lookup-or-create and truncation of open(2) with
// O_NOFOLLOW, returning the inode to open.
func (m *MemFS) openLocked(l memLoc, flag int, perm uint32) (*memNode, error) {
	n := l.node
	if n == nil {
		if flag&os.O_CREATE == 0 {
			return nil, syscall.ENOENT
		}
		now := time.Now()
		n = m.newNode(syscall.S_IFREG|perm&0o7777, l.dir, now)
		l.dir.kids[l.name] = n
		touch(l.dir, now)
		return n, nil
	}
	write := flag&accMode != os.O_RDONLY || flag&os.O_TRUNC != 0
	switch {
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, syscall.EEXIST
	case n.isLink():
		return nil, syscall.ELOOP
	case n.isDir() && (write || flag&os.O_CREATE != 0):
		return nil, syscall.EISDIR
	case n.isDir():
		return n, nil
	case !n.isReg():
		return nil, syscall.ENXIO
	}
	if flag&os.O_TRUNC != 0 {
		now := time.Now()
		n.data = nil
		n.mtime, n.ctime = now, now
	}
	return n, nil
}

// xattrAllowed reports whether n can hold xattr name: "user." ones only on
// regular files and directories (Linux xattr_permission).
func xattrAllowed(n *memNode, name string) bool {
	return !strings.HasPrefix(name, "user.") || n.isReg() || n.isDir()
}

func checkXattrName(name string) error {
	if name == "" || len(name) > memXattrNameMax {
		return syscall.ERANGE
	}
	return nil
}

func (m *MemFS) getxattr(p, name string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walk(p)
	if err != nil {
		return nil, err
	}
	return m.getxattrLocked(l, name)
}

func (m *MemFS) getxattrLocked(l memLoc, name string) ([]byte, error) {
	if l.node == nil {
		return nil, syscall.ENOENT
	}
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	v, ok := l.node.xattrs[name]
	if !ok {
		return nil, errNoData
	}
	return slices.Clone(v), nil
}

func (m *MemFS) listxattr(p string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walk(p)
	if err != nil {
		return nil, err
	}
	if l.node == nil {
		return nil, syscall.ENOENT
	}
	names := make([]string, 0, len(l.node.xattrs))
	for name := range l.node.xattrs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func (m *MemFS) setxattr(p, name string, value []byte) error {
	return m.atLocked(p, func(l memLoc) error { return m.setxattrLocked(l, name, value) })
}

func (m *MemFS) setxattrLocked(l memLoc, name string, value []byte) error {
	n := l.node
	switch {
	case n == nil:
		return syscall.ENOENT
	case checkXattrName(name) != nil:
		return checkXattrName(name)
	case len(value) > memXattrSizeMax:
		return syscall.E2BIG
	case !xattrAllowed(n, name):
		return syscall.EPERM
	}
	if n.xattrs == nil {
		n.xattrs = make(map[string][]byte)
	}
	n.xattrs[name] = slices.Clone(value)
	if n.xattrs[name] == nil {
		n.xattrs[name] = []byte{}
	}
	n.ctime = time.Now()
	return nil
}

func (m *MemFS) removexattr(p, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walk(p)
	if err != nil {
		return err
	}
	n := l.node
	switch {
	case n == nil:
		return syscall.ENOENT
	case checkXattrName(name) != nil:
		return checkXattrName(name)
	case !xattrAllowed(n, name):
		return syscall.EPERM
	}
	if _, ok := n.xattrs[name]; !ok {
		return errNoData
	}
	delete(n.xattrs, name)
	n.ctime = time.Now()
	return nil
}

func (m *MemFS) mkdir(p string, perm uint32) error {
	return m.atLocked(p, func(l memLoc) error { return m.mkdirLocked(l, perm) })
}

func (m *MemFS) mkdirLocked(l memLoc, perm uint32) error {
	if l.node != nil {
		return syscall.EEXIST
	}
	now := time.Now()
	// mkdir(2) keeps only the permission and sticky bits (vfs_mkdir).
	n := m.newNode(syscall.S_IFDIR|perm&(0o777|syscall.S_ISVTX), l.dir, now)
	l.dir.kids[l.name] = n
	l.dir.nlink++
	touch(l.dir, now)
	return nil
}

func (m *MemFS) symlink(target, p string) error {
	return m.atLocked(p, func(l memLoc) error { return m.symlinkLocked(target, l) })
}

func (m *MemFS) symlinkLocked(target string, l memLoc) error {
	switch {
	case target == "":
		return syscall.ENOENT
	case len(target) >= maxPathLen:
		return syscall.ENAMETOOLONG
	case l.node != nil:
		return syscall.EEXIST
	}
	now := time.Now()
	n := m.newNode(syscall.S_IFLNK|0o777, l.dir, now)
	n.target = target
	l.dir.kids[l.name] = n
	touch(l.dir, now)
	return nil
}

func (m *MemFS) link(oldp, newp string) error { return m.at2Locked(oldp, newp, m.linkLocked) }

// linkLocked checks in link(2)'s order: old exists, new does not, old is
// not a directory.
func (m *MemFS) linkLocked(o, n memLoc) error {
	switch {
	case o.node == nil:
		return syscall.ENOENT
	case n.node != nil:
		return syscall.EEXIST
	case o.node.isDir():
		return syscall.EPERM
	}
	now := time.Now()
	n.dir.kids[n.name] = o.node
	o.node.nlink++
	o.node.ctime = now
	touch(n.dir, now)
	return nil
}

func (m *MemFS) mknod(p string, mode uint32, dev uint64) error {
	return m.atLocked(p, func(l memLoc) error { return m.mknodLocked(l, mode, dev) })
}

// mknodLocked checks the type first, as may_mknod does.
func (m *MemFS) mknodLocked(l memLoc, mode uint32, dev uint64) error {
	typ := mode & syscall.S_IFMT
	switch typ {
	case 0:
		typ = syscall.S_IFREG
	case syscall.S_IFREG, syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFIFO, syscall.S_IFSOCK:
	case syscall.S_IFDIR:
		return syscall.EPERM
	default:
		return syscall.EINVAL
	}
	if l.node != nil {
		return syscall.EEXIST
	}
	now := time.Now()
	n := m.newNode(typ|mode&0o7777, l.dir, now)
	if typ == syscall.S_IFCHR || typ == syscall.S_IFBLK {
		n.rdev = dev
	}
	l.dir.kids[l.name] = n
	touch(l.dir, now)
	return nil
}

func (m *MemFS) rename(oldp, newp string) error { return m.renameOrExchange(oldp, newp, false) }
func (m *MemFS) exchange(p1, p2 string) error   { return m.renameOrExchange(p1, p2, true) }

// renameWhiteout is renameat2 with RENAME_WHITEOUT: the rename and a
// whiteout (char 0/0) at the old name, in one step.
func (m *MemFS) renameWhiteout(oldp, newp string) error {
	return m.at2Locked(oldp, newp, func(o, n memLoc) error {
		if o.node != nil && o.node == n.node {
			return nil
		}
		if err := m.renameLocked(o, n, false); err != nil {
			return err
		}
		o.node = nil
		return m.mknodLocked(o, syscall.S_IFCHR, 0)
	})
}

func (m *MemFS) renameOrExchange(oldp, newp string, exchange bool) error {
	return m.at2Locked(oldp, newp, func(o, n memLoc) error { return m.renameLocked(o, n, exchange) })
}

// isAncestor reports whether directory a is d or one of d's ancestors.
func isAncestor(a, d *memNode) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// renameLocked is rename(2) or renameat2(RENAME_EXCHANGE), with the
// checks in the order of do_renameat2 and vfs_rename.
func (m *MemFS) renameLocked(o, n memLoc, exchange bool) error {
	src, dst := o.node, n.node
	switch {
	case src == nil, exchange && dst == nil:
		return syscall.ENOENT
	case o.dir == nil || n.dir == nil:
		return syscall.EBUSY // a root
	case src.isDir() && isAncestor(src, n.dir):
		return syscall.EINVAL // into its own subtree
	case dst != nil && dst.isDir() && isAncestor(dst, o.dir):
		if exchange {
			return syscall.EINVAL
		}
		return syscall.ENOTEMPTY // over an ancestor of the source
	case src == dst:
		return nil // same inode: rename(2) does nothing
	}
	now := time.Now()
	if exchange {
		o.dir.kids[o.name], n.dir.kids[n.name] = dst, src
		if src.isDir() {
			src.parent = n.dir
			o.dir.nlink--
			n.dir.nlink++
		}
		if dst.isDir() {
			dst.parent = o.dir
			n.dir.nlink--
			o.dir.nlink++
		}
		src.ctime, dst.ctime = now, now
		touch(o.dir, now)
		touch(n.dir, now)
		return nil
	}
	if dst != nil {
		switch {
		case src.isDir() && !dst.isDir():
			return syscall.ENOTDIR
		case !src.isDir() && dst.isDir():
			return syscall.EISDIR
		case dst.isDir() && len(dst.kids) > 0:
			return syscall.ENOTEMPTY
		}
		if dst.isDir() {
			dst.nlink = 0
			n.dir.nlink--
		} else {
			dst.nlink--
		}
		dst.ctime = now
	}
	delete(o.dir.kids, o.name)
	n.dir.kids[n.name] = src
	if src.isDir() {
		src.parent = n.dir
		o.dir.nlink--
		n.dir.nlink++
	}
	src.ctime = now
	touch(o.dir, now)
	touch(n.dir, now)
	return nil
}

func (m *MemFS) unlink(p string) error {
	return m.atLocked(p, func(l memLoc) error { return m.unlinkLocked(l) })
}

// atLocked runs fn on the location of p with mu held for writing: the
// common shape of the backend's changes.
// at2Locked is atLocked for two paths (link, rename).
func (m *MemFS) at2Locked(p1, p2 string, fn func(l1, l2 memLoc) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l1, err := m.walk(p1)
	if err != nil {
		return err
	}
	l2, err := m.walk(p2)
	if err != nil {
		return err
	}
	return fn(l1, l2)
}

func (m *MemFS) atLocked(p string, fn func(memLoc) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walk(p)
	if err != nil {
		return err
	}
	return fn(l)
}

func (m *MemFS) unlinkLocked(l memLoc) error {
	switch {
	case l.node == nil:
		return syscall.ENOENT
	case l.node.isDir():
		return syscall.EISDIR
	}
	now := time.Now()
	delete(l.dir.kids, l.name)
	l.node.nlink--
	l.node.ctime = now
	touch(l.dir, now)
	return nil
}

func (m *MemFS) rmdir(p string) error {
	return m.atLocked(p, func(l memLoc) error { return m.rmdirLocked(l) })
}

func (m *MemFS) rmdirLocked(l memLoc) error {
	switch {
	case l.node == nil:
		return syscall.ENOENT
	case !l.node.isDir():
		return syscall.ENOTDIR
	case l.dir == nil:
		return syscall.EBUSY // a root
	case len(l.node.kids) > 0:
		return syscall.ENOTEMPTY
	}
	now := time.Now()
	delete(l.dir.kids, l.name)
	l.node.nlink = 0
	l.node.ctime = now
	l.dir.nlink--
	touch(l.dir, now)
	return nil
}

func (m *MemFS) chmod(p string, perm uint32) error {
	return m.atLocked(p, func(l memLoc) error { return m.chmodLocked(l, perm) })
}

func (m *MemFS) chmodLocked(l memLoc, perm uint32) error {
	switch {
	case l.node == nil:
		return syscall.ENOENT
	case l.node.isLink():
		return syscall.EOPNOTSUPP
	}
	l.node.mode = l.node.typ() | perm&0o7777
	l.node.ctime = time.Now()
	return nil
}

func (m *MemFS) lchown(p string, uid, gid int) error {
	return m.atLocked(p, func(l memLoc) error { return m.chownLocked(l, uid, gid) })
}

func (m *MemFS) chownLocked(l memLoc, uid, gid int) error {
	n := l.node
	if n == nil {
		return syscall.ENOENT
	}
	if uid != -1 {
		n.uid = uint32(uid)
	}
	if gid != -1 {
		n.gid = uint32(gid)
	}
	// chown_common: ATTR_KILL_SUID, and setgid when it means "setgid"
	// rather than mandatory locking (group-execute set).
	if !n.isDir() && !n.isLink() {
		n.mode &^= syscall.S_ISUID
		if n.mode&0o010 != 0 {
			n.mode &^= syscall.S_ISGID
		}
	}
	n.ctime = time.Now()
	return nil
}

func (m *MemFS) lutimes(p string, atime, mtime time.Time) error {
	return m.atLocked(p, func(l memLoc) error { return m.utimesLocked(l, atime, mtime) })
}

func (m *MemFS) utimesLocked(l memLoc, atime, mtime time.Time) error {
	n := l.node
	if n == nil {
		return syscall.ENOENT
	}
	if !atime.IsZero() {
		n.atime = atime
	}
	if !mtime.IsZero() {
		n.mtime = mtime
	}
	n.ctime = time.Now()
	return nil
}

func (m *MemFS) truncate(p string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walk(p)
	switch {
	case err != nil:
		return err
	case l.node == nil:
		return syscall.ENOENT
	case l.node.isDir():
		return syscall.EISDIR
	case !l.node.isReg():
		return syscall.EINVAL
	}
	return l.node.truncateLocked(size)
}

// truncateLocked sets the size of regular file n; mtime and ctime change
// only when the size does (shmem_setattr).
func (n *memNode) truncateLocked(size int64) error {
	switch {
	case size < 0:
		return syscall.EINVAL
	case size > memMaxFileSize:
		return syscall.EFBIG
	case size == int64(len(n.data)):
		return nil
	case size < int64(len(n.data)):
		clear(n.data[size:])
		n.data = n.data[:size]
	default:
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	now := time.Now()
	n.mtime, n.ctime = now, now
	return nil
}

func (m *MemFS) caps() caps {
	return caps{xattr: true, mknod: true, hardlink: true, symlink: true, exchange: true, workArea: true, namelen: maxNameLen}
}

func (m *MemFS) close() error { return nil }

// memFile is an open MemFS file. It holds the inode, so it keeps working
// after the file is unlinked or renamed, as an open file descriptor does.
type memFile struct {
	m      *MemFS   // immutable
	n      *memNode // immutable
	flag   int      // the open flags; immutable
	closed bool     // protected by m.mu
}

var _ bfile = (*memFile)(nil)

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	switch {
	case f.closed || f.flag&accMode == os.O_WRONLY:
		return 0, syscall.EBADF
	case f.n.isDir():
		return 0, syscall.EISDIR
	case off < 0:
		return 0, syscall.EINVAL
	case off >= int64(len(f.n.data)):
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes at off, extending the file with zeros if needed. As
// pwrite(2) on Linux, a file opened with O_APPEND is written at its end
// whatever off is.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	n, _, err := f.write(p, off)
	return n, err
}

// Append writes p at the end of the file under the MemFS lock, so no other
// writer comes between finding the end and writing there.
func (f *memFile) Append(p []byte) (int, int64, error) {
	if f.flag&os.O_APPEND == 0 {
		return 0, 0, syscall.EBADF
	}
	return f.write(p, 0)
}

// write is pwrite(2): it writes p at off (at the end for an O_APPEND
// file) and returns the offset just past what it wrote.
func (f *memFile) write(p []byte, off int64) (int, int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n := f.n
	if f.flag&os.O_APPEND != 0 {
		off = int64(len(n.data))
	}
	switch {
	case f.closed || f.flag&accMode == os.O_RDONLY:
		return 0, 0, syscall.EBADF
	case off < 0:
		return 0, 0, syscall.EINVAL
	case len(p) == 0:
		return 0, off, nil
	}
	end := off + int64(len(p))
	if end > memMaxFileSize {
		return 0, 0, syscall.EFBIG
	}
	if end > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
	}
	copy(n.data[off:], p)
	now := time.Now()
	n.mtime, n.ctime = now, now
	return len(p), end, nil
}

func (f *memFile) Stat() (attr, error) {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	if f.closed {
		return attr{}, syscall.EBADF
	}
	return f.n.attr(f.m.dev), nil
}

// Truncate is ftruncate(2): EINVAL unless f is a regular file open for
// writing.
func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return syscall.EBADF
	case !f.n.isReg() || f.flag&accMode == os.O_RDONLY:
		return syscall.EINVAL
	}
	return f.n.truncateLocked(size)
}

func (f *memFile) Sync() error {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	if f.closed {
		return syscall.EBADF
	}
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	return nil
}

var _ treeDirOpener = (*MemFS)(nil)

func (m *MemFS) openTreeDir(p string) (treeDir, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.dirAt(p)
	if err != nil {
		return nil, err
	}
	return memTreeDir{m, n}, nil
}

// memTreeDir is a dir of a MemFS open for a tree walk: it holds the dir
// itself, so each step costs the same at any depth.
type memTreeDir struct {
	m *MemFS
	n *memNode
}

// kid returns the entry name of d. Callers hold m.mu.
func (d memTreeDir) kid(name string) (*memNode, error) {
	k := d.n.kids[name]
	if k == nil {
		return nil, syscall.ENOENT
	}
	return k, nil
}

func (d memTreeDir) list() ([]dirEnt, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	return d.n.dirEnts(), nil
}

func (d memTreeDir) lstat(name string) (attr, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return attr{}, err
	}
	return k.attr(d.m.dev), nil
}

func (d memTreeDir) listxattr(name string) ([]string, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(k.xattrs))
	for x := range k.xattrs {
		names = append(names, x)
	}
	return names, nil
}

func (d memTreeDir) getxattr(name, x string) ([]byte, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return nil, err
	}
	return d.m.getxattrLocked(memLoc{dir: d.n, name: name, node: k}, x)
}

func (d memTreeDir) sub(name string) (treeDir, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	switch {
	case err != nil:
		return nil, err
	case !k.isDir():
		return nil, syscall.ENOTDIR
	}
	return memTreeDir{d.m, k}, nil
}

func (memTreeDir) close() {}
