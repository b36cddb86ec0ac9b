package memfs

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// FS as a layer backend: the read side and the write side a layer
// provides (see backend), on the same tree as the public methods.

func (b backend) Lstat(p string) (layer.Attr, error) {
	m := b.fs
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walk(p)
	if err != nil {
		return layer.Attr{}, err
	}
	if l.node == nil {
		return layer.Attr{}, syscall.ENOENT
	}
	return l.node.attr(m.dev), nil
}

func (b backend) ReadDir(p string) ([]layer.DirEnt, error) {
	m := b.fs
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.dirAt(p)
	if err != nil {
		return nil, err
	}
	return n.dirEnts(), nil
}

// dirAt returns the dir at p. Callers hold mu.
func (m *FS) dirAt(p string) (*node, error) {
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
func (n *node) dirEnts() []layer.DirEnt {
	ents := make([]layer.DirEnt, 0, len(n.kids))
	for name, k := range n.kids {
		ents = append(ents, layer.DirEnt{Name: name, Type: k.typ(), Ino: k.ino})
	}
	slices.SortFunc(ents, func(a, b layer.DirEnt) int { return strings.Compare(a.Name, b.Name) })
	return ents
}

func (b backend) Readlink(p string) (string, error) {
	m := b.fs
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

func (b backend) OpenRead(p string, flag int) (layer.File, error) {
	return b.Open(p, flag&^layer.WriteFlags, 0)
}

func (b backend) Open(p string, flag int, perm uint32) (layer.File, error) {
	m := b.fs
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
	return &file{m: m, n: n, flag: flag}, nil
}

// openLocked does the lookup-or-create and truncation of open(2) with
// O_NOFOLLOW, returning the inode to open.
func (m *FS) openLocked(l loc, flag int, perm uint32) (*node, error) {
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
	write := flag&layer.AccMode != os.O_RDONLY || flag&os.O_TRUNC != 0
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
func xattrAllowed(n *node, name string) bool {
	return !strings.HasPrefix(name, "user.") || n.isReg() || n.isDir()
}

func checkXattrName(name string) error {
	if name == "" || len(name) > xattrNameMax {
		return syscall.ERANGE
	}
	return nil
}

func (b backend) Getxattr(p, name string) ([]byte, error) {
	m := b.fs
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, err := m.walk(p)
	if err != nil {
		return nil, err
	}
	return m.getxattrLocked(l, name)
}

func (m *FS) getxattrLocked(l loc, name string) ([]byte, error) {
	if l.node == nil {
		return nil, syscall.ENOENT
	}
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	v, ok := l.node.xattrs[name]
	if !ok {
		return nil, layer.ErrNoData
	}
	return slices.Clone(v), nil
}

func (b backend) Listxattr(p string) ([]string, error) {
	m := b.fs
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

func (b backend) Setxattr(p, name string, value []byte) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.setxattrLocked(l, name, value) })
}

func (m *FS) setxattrLocked(l loc, name string, value []byte) error {
	n := l.node
	switch {
	case n == nil:
		return syscall.ENOENT
	case checkXattrName(name) != nil:
		return checkXattrName(name)
	case len(value) > xattrSizeMax:
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

func (b backend) Removexattr(p, name string) error {
	m := b.fs
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
		return layer.ErrNoData
	}
	delete(n.xattrs, name)
	n.ctime = time.Now()
	return nil
}

func (b backend) Mkdir(p string, perm uint32) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.mkdirLocked(l, perm) })
}

func (m *FS) mkdirLocked(l loc, perm uint32) error {
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

func (b backend) Symlink(target, p string) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.symlinkLocked(target, l) })
}

func (m *FS) symlinkLocked(target string, l loc) error {
	switch {
	case target == "":
		return syscall.ENOENT
	case len(target) >= layer.PathMax:
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

func (b backend) Link(oldp, newp string) error { return b.fs.at2Locked(oldp, newp, b.fs.linkLocked) }

// linkLocked checks in link(2)'s order: old exists, new does not, old is
// not a directory.
func (m *FS) linkLocked(o, n loc) error {
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

func (b backend) Mknod(p string, mode uint32, dev uint64) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.mknodLocked(l, mode, dev) })
}

// mknodLocked checks the type first, as may_mknod does.
func (m *FS) mknodLocked(l loc, mode uint32, dev uint64) error {
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

func (b backend) Rename(oldp, newp string) error { return b.fs.renameOrExchange(oldp, newp, false) }
func (b backend) Exchange(p1, p2 string) error   { return b.fs.renameOrExchange(p1, p2, true) }

// RenameWhiteout is renameat2 with RENAME_WHITEOUT: the rename and a
// whiteout (char 0/0) at the old name, in one step.
func (b backend) RenameWhiteout(oldp, newp string) error {
	m := b.fs
	return m.at2Locked(oldp, newp, func(o, n loc) error {
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

func (m *FS) renameOrExchange(oldp, newp string, exchange bool) error {
	return m.at2Locked(oldp, newp, func(o, n loc) error { return m.renameLocked(o, n, exchange) })
}

// isAncestor reports whether directory a is d or one of d's ancestors.
func isAncestor(a, d *node) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// renameLocked is rename(2) or renameat2(RENAME_EXCHANGE), with the
// checks in the order of do_renameat2 and vfs_rename.
func (m *FS) renameLocked(o, n loc, exchange bool) error {
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

func (b backend) Unlink(p string) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.unlinkLocked(l) })
}

// atLocked runs fn on the location of p with mu held for writing: the
// common shape of the backend's changes.
// at2Locked is atLocked for two paths (link, rename).
func (m *FS) at2Locked(p1, p2 string, fn func(l1, l2 loc) error) error {
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

func (m *FS) atLocked(p string, fn func(loc) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.walk(p)
	if err != nil {
		return err
	}
	return fn(l)
}

func (m *FS) unlinkLocked(l loc) error {
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

func (b backend) Rmdir(p string) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.rmdirLocked(l) })
}

func (m *FS) rmdirLocked(l loc) error {
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

func (b backend) Chmod(p string, perm uint32) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.chmodLocked(l, perm) })
}

func (m *FS) chmodLocked(l loc, perm uint32) error {
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

func (b backend) Lchown(p string, uid, gid int) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.chownLocked(l, uid, gid) })
}

func (m *FS) chownLocked(l loc, uid, gid int) error {
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

func (b backend) Lutimes(p string, atime, mtime time.Time) error {
	m := b.fs
	return m.atLocked(p, func(l loc) error { return m.utimesLocked(l, atime, mtime) })
}

func (m *FS) utimesLocked(l loc, atime, mtime time.Time) error {
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

func (b backend) Truncate(p string, size int64) error {
	m := b.fs
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
func (n *node) truncateLocked(size int64) error {
	switch {
	case size < 0:
		return syscall.EINVAL
	case size > maxFileSize:
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

func (b backend) Caps() layer.Caps {
	return layer.Caps{Xattr: true, Mknod: true, Hardlink: true, Symlink: true, Exchange: true, WorkArea: true, NameMax: layer.NameMax}
}

func (b backend) Close() error { return nil }
