package model

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// OpenFile is open(2) with os.OpenFile flags and perm, followed, when the
// file was opened for writing, by one write of data (at offset 0, or at
// the end with O_APPEND) and close.
func (m *Model) OpenFile(name string, flag int, perm fs.FileMode, data []byte) syscall.Errno {
	excl := flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL
	p, err := m.resolve(name, !excl)
	if err != 0 {
		return err
	}
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	n := m.stat(p)
	if n == nil {
		if flag&os.O_CREATE == 0 {
			return syscall.ENOENT
		}
		if m.Upper == nil {
			return syscall.EROFS
		}
		n = &Node{Kind: File, Mode: perm & fs.ModePerm}
		m.create(p, n)
	} else {
		if excl {
			return syscall.EEXIST
		}
		if n.Kind.IsDir() {
			if write || flag&os.O_CREATE != 0 {
				return syscall.EISDIR
			}
			return 0
		}
		// A final symlink was followed, so n is a regular file.
		if !write && flag&os.O_TRUNC == 0 {
			return 0
		}
		if m.Upper == nil {
			return syscall.EROFS
		}
		m.copyUpFull(p, flag&os.O_TRUNC == 0)
		n = m.Upper[p]
		if flag&os.O_TRUNC != 0 {
			n.Data = ""
		}
	}
	if !write {
		return 0
	}
	if flag&os.O_APPEND != 0 {
		n.Data += string(data)
	} else if len(data) >= len(n.Data) {
		n.Data = string(data)
	} else {
		n.Data = string(data) + n.Data[len(data):]
	}
	return 0
}

// Mkdir is mkdir(2).
func (m *Model) Mkdir(name string, perm fs.FileMode) syscall.Errno {
	p, err := m.resolve(name, false)
	if err != 0 {
		return err
	}
	if m.stat(p) != nil {
		return syscall.EEXIST
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	m.create(p, &Node{Kind: Dir, Mode: perm & fs.ModePerm})
	return 0
}

// Symlink is symlink(2): name becomes a symlink to target.
func (m *Model) Symlink(target, name string) syscall.Errno {
	p, err := m.resolve(name, false)
	if err != 0 {
		return err
	}
	if m.stat(p) != nil {
		return syscall.EEXIST
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	m.create(p, &Node{Kind: Symlink, Mode: 0o777, Target: target})
	return 0
}

// remove is ovl_do_remove after the VFS checks: the parent chain is
// copied up, then the upper entry is deleted, or replaced by a whiteout
// when the name exists in a lower layer.
func (m *Model) remove(p string) {
	lp := m.lowerPositive(p)
	m.copyUp(parentOf(p), false)
	m.removeUpperTree(p)
	if lp {
		m.Upper[p] = &Node{Kind: Whiteout}
	}
}

// Unlink is unlink(2).
func (m *Model) Unlink(name string) syscall.Errno {
	p, err := m.resolve(name, false)
	if err != 0 {
		return err
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	n := m.stat(p)
	if n == nil {
		return syscall.ENOENT
	}
	if n.Kind.IsDir() {
		return syscall.EISDIR
	}
	m.remove(p)
	return 0
}

// Rmdir is rmdir(2). A directory is empty when its merged listing is.
func (m *Model) Rmdir(name string) syscall.Errno {
	p, err := m.resolve(name, false)
	if err != 0 {
		return err
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	st := m.lookup(p)
	if st == nil {
		return syscall.ENOENT
	}
	if !st[0].node.Kind.IsDir() {
		return syscall.ENOTDIR
	}
	if len(m.children(p, st)) > 0 {
		return syscall.ENOTEMPTY
	}
	m.remove(p)
	return 0
}

// Remove is os.Remove: unlink, else rmdir, reporting rmdir's error unless
// it is ENOTDIR.
func (m *Model) Remove(name string) syscall.Errno {
	e := m.Unlink(name)
	if e == 0 {
		return 0
	}
	e1 := m.Rmdir(name)
	if e1 == 0 {
		return 0
	}
	if e1 != syscall.ENOTDIR {
		return e1
	}
	return e
}

// Rename is rename(2) without flags, as do_renameat2, vfs_rename and
// ovl_rename check it. A directory that has a lower part cannot move
// (EXDEV) unless redirect_dir=on: then it is copied up alone and gets a
// redirect (setRedirect), as does a metacopy file.
func (m *Model) Rename(oldname, newname string) syscall.Errno {
	o, err := m.resolve(oldname, false)
	if err != 0 {
		return err
	}
	n, err := m.resolve(newname, false)
	if err != 0 {
		return err
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	ost := m.lookup(o)
	if ost == nil {
		return syscall.ENOENT
	}
	// The rename trap of lock_rename: source an ancestor of the target,
	// or the other way round.
	if strings.HasPrefix(n, o+"/") {
		return syscall.EINVAL
	}
	if strings.HasPrefix(o, n+"/") {
		return syscall.ENOTEMPTY
	}
	if o == n {
		return 0
	}
	isDir := ost[0].node.Kind.IsDir()
	nst := m.lookup(n)
	if m.Index && nst != nil && !isDir && nst[0].node == ost[0].node {
		// Two names of one inode (an indexed hard link): vfs_rename
		// does nothing.
		return 0
	}
	if nst != nil {
		switch newDir := nst[0].node.Kind.IsDir(); {
		case isDir && !newDir:
			return syscall.ENOTDIR
		case !isDir && newDir:
			return syscall.EISDIR
		}
	}
	if isDir && hasLower(ost) && !m.RedirectDir {
		return syscall.EXDEV
	}
	// A target dir with a lower part is checked by the overlay
	// (ovl_check_empty_dir); a pure upper one only by the upper
	// filesystem's rename, after the source was copied up and marked
	// opaque.
	pureUpper := hasUpper(nst) && !hasLower(nst)
	if nst != nil && isDir && !pureUpper && len(m.children(n, nst)) > 0 {
		return syscall.ENOTEMPTY
	}

	m.copyUp(o, true)
	m.copyUp(parentOf(n), false)
	lp := m.lowerPositive(o)
	moved := m.Upper[o]
	if isDir && hasLower(ost) || moved.Metacopy {
		m.setRedirect(o, parentOf(o) != parentOf(n))
	} else if isDir && moved.Kind != OpaqueDir && m.isMerge(parentOf(n)) {
		moved.Kind = OpaqueDir
	}
	if nst != nil && isDir && pureUpper && len(m.children(n, nst)) > 0 {
		return syscall.ENOTEMPTY
	}
	var sub = map[string]*Node{}
	for k, v := range m.Upper {
		if strings.HasPrefix(k, o+"/") {
			sub[n+k[len(o):]] = v
		}
	}
	m.removeUpperTree(o)
	m.removeUpperTree(n)
	for k, v := range sub {
		m.Upper[k] = v
	}
	m.Upper[n] = moved
	if lp {
		m.Upper[o] = &Node{Kind: Whiteout}
	}
	return 0
}

// setRedirect gives the upper object at o, about to move, the redirect
// that keeps its lower part found (ovl_set_redirect): relative, its name
// o's last component, or with abs an absolute path built from o's and its
// ancestors' names, each replaced by its own redirect when it has one (and
// stopping at an absolute one). A redirect already there is kept unless an
// absolute one is needed and it is relative.
func (m *Model) setRedirect(o string, abs bool) {
	n := m.Upper[o]
	if n.Redirect != "" && (!abs || strings.HasPrefix(n.Redirect, "/")) {
		return
	}
	if !abs {
		n.Redirect = path.Base(o)
		return
	}
	var parts []string
	for d := o; d != ""; d = parentOf(d) {
		name := path.Base(d)
		if r := m.Upper[d].Redirect; r != "" {
			name = r
		}
		if strings.HasPrefix(name, "/") {
			parts = append(parts, name[1:])
			break
		}
		parts = append(parts, name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString("/" + parts[i])
	}
	n.Redirect = b.String()
}

// Truncate is truncate(2).
func (m *Model) Truncate(name string, size int64) syscall.Errno {
	p, err := m.resolve(name, true)
	if err != 0 {
		return err
	}
	n := m.stat(p)
	switch {
	case n == nil:
		return syscall.ENOENT
	case n.Kind.IsDir():
		return syscall.EISDIR
	case size < 0:
		return syscall.EINVAL
	case m.Upper == nil:
		return syscall.EROFS
	}
	m.copyUpFull(p, true)
	n = m.Upper[p]
	if int64(len(n.Data)) >= size {
		n.Data = n.Data[:size]
	} else {
		n.Data += strings.Repeat("\x00", int(size)-len(n.Data))
	}
	return 0
}

// Chmod is chmod(2) with permission bits only.
func (m *Model) Chmod(name string, mode fs.FileMode) syscall.Errno {
	p, err := m.resolve(name, true)
	if err != 0 {
		return err
	}
	if m.stat(p) == nil {
		return syscall.ENOENT
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	m.copyUp(p, true)
	m.upperNode(p).Mode = mode & fs.ModePerm
	return 0
}

// upperNode is the upper entry of p, the upper root included.
func (m *Model) upperNode(p string) *Node {
	n := m.Upper[p]
	if n == nil && p == "" {
		n = rootNode.clone()
		m.Upper[""] = n
	}
	return n
}

// Setxattr is setxattr(2) (following a final symlink) of a user.* xattr,
// with flags 0, XATTR_CREATE or XATTR_REPLACE. As ovl_xattr_set does, the
// object is copied up before the upper layer checks the flags.
func (m *Model) Setxattr(name, attr string, value []byte, flags int) syscall.Errno {
	const xattrCreate, xattrReplace = 1, 2
	if !strings.HasPrefix(attr, "user.") {
		panic("model: only user.* xattrs are modelled")
	}
	p, err := m.resolve(name, true)
	if err != 0 {
		return err
	}
	if m.stat(p) == nil {
		return syscall.ENOENT
	}
	if m.Upper == nil {
		return syscall.EROFS
	}
	m.copyUp(p, true)
	n := m.upperNode(p)
	_, ok := n.Xattrs[attr]
	switch {
	case flags&xattrCreate != 0 && ok:
		return syscall.EEXIST
	case flags&xattrReplace != 0 && !ok:
		return layer.ErrNoData
	}
	if n.Xattrs == nil {
		n.Xattrs = map[string]string{}
	}
	n.Xattrs[attr] = string(value)
	return 0
}
