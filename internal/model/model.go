// Package model is a deliberately naive reference model of an overlay
// filesystem, for tests: a rapid state machine runs the same operations on
// the model and on the real thing and compares canonical dumps after every
// step.
//
// The model is written to be obviously right, not fast. A layer is a map
// from clean path to node; the merged view is recomputed from the plain
// lookup rules of the kernel (fs/overlayfs/namei.c ovl_lookup) on every
// access; every operation mutates only the upper map, exactly as the
// kernel's dir.c, copy_up.c and xattrs.c would, with the errno and the
// error precedence of the VFS (fs/namei.c, fs/open.c, fs/xattr.c). The
// default mount options are modelled (redirect_dir off for creation, index,
// metacopy and xino off), and, when the fields of Model say so,
// redirect_dir=on and metacopy=on, with the caller as root and no
// umask.
//
// Redirects are only ever written into the upper layer by the model,
// except for one kind of lower entry: a metacopy file of a regular lower
// layer whose absolute redirect names its data file in the data-only
// layer (DataOnly). Lower layers hold no other redirects or metacopy
// markers (the machine never makes them).
//
// Lower layers may hold hard links: two paths of one layer mapping to
// the same *Node. Without Index a copy-up breaks the link (the copy is a
// new node); with Index the copy is recorded as the index entry of the
// lower node, every other name of it shows that entry before its own
// copy-up and is linked to it at its copy-up, so all names keep one data.
// Link counts are not modelled (the dumps show none).
//
// Not modelled: hard links made through the overlay, device nodes,
// ownership, timestamps, private xattrs other than the opaque, redirect
// and metacopy markers, xattr whiteouts, and whiteouts in single-layer
// directories (which the kernel lists as "ghost" entries).
package model

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// Kind is the type of a layer entry.
type Kind uint8

const (
	File      Kind = iota + 1 // regular file
	Dir                       // directory, merged with dirs below it
	Symlink                   // symbolic link
	Whiteout                  // char 0/0: the name is deleted
	OpaqueDir                 // directory with trusted.overlay.opaque=y: dirs below are not merged
)

func (k Kind) String() string {
	switch k {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Whiteout:
		return "whiteout"
	case OpaqueDir:
		return "opaque-dir"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsDir reports whether k is a directory, opaque or not.
func (k Kind) IsDir() bool { return k == Dir || k == OpaqueDir }

// Node is one entry of a layer.
type Node struct {
	Kind   Kind
	Mode   fs.FileMode       // permission bits (0777); whiteouts 0, symlinks 0777
	Data   string            // File
	Target string            // Symlink
	Xattrs map[string]string // user.* xattrs only

	// Upper entries, and lower metacopy files with their data in the
	// data-only layer (Redirect absolute, "/" + the data file's path).
	Redirect string // trusted.overlay.redirect ("" = none): on a dir, or a renamed metacopy file
	Metacopy bool   // a File whose data is elsewhere: Data is "", Size is the data's size
	Size     int    // size of a Metacopy file
}

func (n *Node) clone() *Node {
	c := *n
	c.Xattrs = nil
	for k, v := range n.Xattrs {
		if c.Xattrs == nil {
			c.Xattrs = map[string]string{}
		}
		c.Xattrs[k] = v
	}
	return &c
}

// Layer maps a clean slash-separated path relative to the layer root
// ("a/b") to its entry. Every entry's parent must be a directory in the
// same layer. The root ("") is implicit: a directory with mode 0755,
// unless the map holds an entry for "".
type Layer map[string]*Node

// Model is an overlay of lower layers and an optional upper layer.
type Model struct {
	// Lowers are the lower layers, top-most first. The model never
	// changes them.
	Lowers []Layer
	// Upper is the upper layer; nil for a read-only overlay.
	Upper Layer
	// RedirectDir is redirect_dir=on: dirs that lower layers have can be
	// renamed (they get a redirect), and new dirs in merge dirs are
	// opaque.
	RedirectDir bool
	// Metacopy is metacopy=on (set RedirectDir too): metadata changes of
	// a lower regular file copy up its metadata only.
	Metacopy bool
	// DataOnly is the data-only layer (nil for none): never part of the
	// merged tree, it only holds the data of metacopy files with an
	// absolute redirect, in lower layers or copied up from them.
	DataOnly Layer
	// Xino is xino=on (in effect): new dirs in merge dirs are opaque, and
	// readdir of a merge dir leaves out names whose lookup finds nothing
	// (which children does anyway).
	Xino bool
	// Index is index=on: lower hard links stay linked through copy-up
	// (see index), and new dirs in merge dirs are opaque.
	Index bool
	// index maps a lower file node to its upper copy (the index entry),
	// with Index.
	index map[*Node]*Node
}

// New returns a model of lowers (top-most first) and, when upper is true,
// an empty upper layer.
func New(lowers []Layer, upper bool) *Model {
	m := &Model{Lowers: lowers}
	if upper {
		m.Upper = Layer{}
	}
	return m
}

// maxSymlinks is the kernel's MAXSYMLINKS (include/linux/namei.h): the
// 41st symlink followed in one path walk fails with ELOOP.
const maxSymlinks = 40

// The layers are numbered as the kernel does: 0 is the upper layer, 1..n
// the lowers.
// The data-only layer, when there is one, is numbered len(Lowers)+1.
func (m *Model) layer(i int) Layer {
	switch i {
	case 0:
		return m.Upper
	case len(m.Lowers) + 1:
		return m.DataOnly
	}
	return m.Lowers[i-1]
}

// dataEnt is the data-only layer's entry for a metacopy node with the
// absolute redirect "/"+p when it is a regular file there, else nothing.
func (m *Model) dataEnt(redirect string) []ent {
	if !strings.HasPrefix(redirect, "/") {
		return nil
	}
	p := redirect[1:]
	if n := m.DataOnly[p]; n != nil && n.Kind == File {
		return []ent{{len(m.Lowers) + 1, p, n}}
	}
	return nil
}

// ent is one layer's entry for a path: the layer, the path inside that
// layer (which differs from the overlay path below a redirect), the entry.
type ent struct {
	layer int
	path  string
	node  *Node
}

var rootNode = &Node{Kind: Dir, Mode: 0o755}

func (m *Model) get(layer int, p string) *Node {
	n := m.layer(layer)[p]
	if n == nil && p == "" {
		return rootNode
	}
	return n
}

// rootStack is the root's stack: the root is always a merge dir of every
// layer.
func (m *Model) rootStack() []ent {
	var s []ent
	for i := 0; i <= len(m.Lowers); i++ {
		if i == 0 && m.Upper == nil {
			continue
		}
		s = append(s, ent{i, "", m.get(i, "")})
	}
	return s
}

// lookup returns the stack of layer entries that make up the merged object
// at the clean path p (symlinks are not followed in any component), top-most
// first, or nil when p does not exist. For a directory the stack holds every
// directory merged into it; for a non-directory it has one entry, or two
// for a metacopy upper file: the upper file and the lower file holding its
// data.
func (m *Model) lookup(p string) []ent {
	stack := m.rootStack()
	if p == "" {
		return stack
	}
	q := ""
	for _, name := range strings.Split(p, "/") {
		if !stack[0].node.Kind.IsDir() {
			return nil
		}
		q = path.Join(q, name)
		stack = m.child(stack, q, name)
		if stack == nil {
			return nil
		}
	}
	return stack
}

// child looks up name (at overlay path q) in the layers of its parent's
// stack, top-most first, with the stop rules of ovl_lookup: a whiteout ends
// the search (and hides everything below); a non-directory is the result
// when nothing was found above it, and otherwise ends the merge without
// taking part; a directory is merged, and an opaque one ends the search.
// An upper dir or metacopy file with a redirect is searched for below
// under the redirected name: a relative redirect replaces name, an
// absolute one is looked up from the root (lowerAbs). A metacopy upper
// file takes the first lower entry found as its data.
func (m *Model) child(parent []ent, q, name string) []ent {
	var out []ent
	lowers := parent
	if hasUpper(parent) {
		lowers = parent[1:]
		n := m.Upper[q]
		switch {
		case n == nil:
		case n.Kind == Whiteout:
			return nil
		case n.Kind == OpaqueDir:
			return []ent{{0, q, n}}
		case n.Kind == Dir || n.Metacopy:
			out = []ent{{0, q, n}}
			if strings.HasPrefix(n.Redirect, "/") {
				return append(out, m.lowerAbs(n.Redirect[1:], n.Kind == Dir)...)
			}
			if n.Redirect != "" {
				name = n.Redirect
			}
		default:
			return []ent{{0, q, n}}
		}
	}
	for _, e := range lowers {
		lp := join(e.path, name)
		n := m.layer(e.layer)[lp]
		switch {
		case n == nil:
			continue
		case n.Kind == Whiteout:
			return out
		case !n.Kind.IsDir():
			if len(out) == 0 || out[0].node.Metacopy {
				if c := m.index[n]; m.Index && c != nil {
					// An indexed lower hard link: the overlay shows the
					// index entry, the upper copy of another name.
					n = c
				}
				out = append(out, ent{e.layer, lp, n})
				if n.Metacopy {
					out = append(out, m.dataEnt(n.Redirect)...)
				}
			}
			return out
		}
		if len(out) > 0 && out[0].node.Metacopy {
			return out // a dir where the data should be: none found
		}
		out = append(out, ent{e.layer, lp, n})
		if n.Kind == OpaqueDir {
			return out
		}
	}
	return out
}

// lowerAbs is the lower search of ovl_lookup below an upper object with
// the absolute redirect "/"+p: in each lower layer, top-most first, p is
// walked component by component from the layer's root. In one layer, a
// missing component gives nothing there; a whiteout, or a non-dir where a
// dir is needed, gives nothing and ends the search; an opaque dir on the
// way ends the search after this layer. A dir at p (when dir) is merged
// and a file at p (when !dir) is the data, which ends the search.
func (m *Model) lowerAbs(p string, dir bool) []ent {
	var out []ent
	comps := strings.Split(p, "/")
	for i := 1; i <= len(m.Lowers); i++ {
		l := m.layer(i)
		stop := false
		q := ""
		for j, c := range comps {
			q = join(q, c)
			last := j == len(comps)-1
			n := l[q]
			if n == nil {
				break
			}
			if n.Kind == Whiteout {
				stop = true
				break
			}
			if !n.Kind.IsDir() {
				stop = true
				if last && !dir {
					out = append(out, ent{i, q, n})
					if n.Metacopy {
						out = append(out, m.dataEnt(n.Redirect)...)
					}
				}
				break
			}
			if n.Kind == OpaqueDir {
				stop = true
			}
			if last {
				if !dir {
					return out // a dir where the data should be: none found
				}
				out = append(out, ent{i, q, n})
			}
		}
		if stop {
			break
		}
	}
	if !dir && len(out) == 0 {
		// Nothing in the regular lower layers: the data-only layer.
		return m.dataEnt("/" + p)
	}
	return out
}

// hasUpper reports whether stack's top entry is in the upper layer.
func hasUpper(stack []ent) bool { return len(stack) > 0 && stack[0].layer == 0 }

// hasLower reports whether any entry of stack is in a lower layer.
func hasLower(stack []ent) bool { return len(stack) > 0 && stack[len(stack)-1].layer > 0 }

// children returns the names visible in the merged directory p (whose
// stack is given), sorted.
func (m *Model) children(p string, stack []ent) []string {
	seen := map[string]bool{}
	var names []string
	for _, e := range stack {
		for k := range m.layer(e.layer) {
			if k == "" || parentOf(k) != e.path {
				continue
			}
			name := path.Base(k)
			if seen[name] {
				continue
			}
			seen[name] = true
			if m.lookup(join(p, name)) != nil {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// resolve walks name from the overlay root as the VFS does: symlinks in
// intermediate components are followed (an absolute target restarts at the
// overlay root, ".." stops at it), and a final symlink only when
// followLast. It returns the clean path of the object, which need not
// exist, but whose parent then is an existing directory.
func (m *Model) resolve(name string, followLast bool) (string, syscall.Errno) {
	todo := strings.Split(name, "/")
	cur := ""
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		last := len(todo) == 0
		switch c {
		case "", ".":
			continue
		case "..":
			cur = parentOf(cur)
			continue
		}
		p := join(cur, c)
		if last && !followLast {
			return p, 0
		}
		st := m.lookup(p)
		if st == nil {
			if last {
				return p, 0
			}
			return "", syscall.ENOENT
		}
		n := st[0].node
		if n.Kind == Symlink {
			links++
			if links > maxSymlinks {
				return "", syscall.ELOOP
			}
			if strings.HasPrefix(n.Target, "/") {
				cur = ""
			}
			todo = append(strings.Split(n.Target, "/"), todo...)
			continue
		}
		if last {
			return p, 0
		}
		if !n.Kind.IsDir() {
			return "", syscall.ENOTDIR
		}
		cur = p
	}
	return cur, 0
}

// stat returns the merged object at the clean path p, or nil.
func (m *Model) stat(p string) *Node {
	if st := m.lookup(p); st != nil {
		return st[0].node
	}
	return nil
}

// copyUp copies p up, ancestors first (ovl_copy_up_flags): each ancestor
// without an upper entry gets a copy of its top-most lower entry. A copied
// directory keeps mode and user xattrs but not the opaque marker (private
// xattrs are not copied), and gets none of its children. With meta (a
// metadata change, a rename) and metacopy=on, a regular file is copied
// without its data and marked metacopy. p must exist.
func (m *Model) copyUp(p string, meta bool) {
	if p == "" {
		return
	}
	m.copyUp(parentOf(p), false)
	st := m.lookup(p)
	if hasUpper(st) {
		return
	}
	if m.Index && st[0].node.Kind == File {
		if c := m.index[m.layer(st[0].layer)[st[0].path]]; c != nil {
			// Another name of this lower file was copied up: link to it.
			m.Upper[p] = c
			return
		}
	}
	c := st[0].node.clone()
	if c.Kind == OpaqueDir {
		c.Kind = Dir
	}
	switch {
	case c.Kind != File:
	case meta && m.Metacopy && c.Metacopy:
		// A lower metacopy file: the copy is one too, without the
		// redirect (a private xattr, not copied); its lookup below
		// finds the lower metacopy file, whose redirect names the data.
		c.Redirect = ""
	case meta && m.Metacopy:
		c.Metacopy, c.Size, c.Data = true, len(c.Data), ""
	case c.Metacopy:
		// A lower metacopy file copied up whole, from its data file.
		c.Data = m.fileData(st)
		c.Metacopy, c.Size, c.Redirect = false, 0, ""
	}
	if m.Index && c.Kind == File {
		if m.index == nil {
			m.index = map[*Node]*Node{}
		}
		m.index[m.layer(st[0].layer)[st[0].path]] = c
	}
	m.Upper[p] = c
}

// copyUpFull copies p up with its data: a metacopy upper file gets the
// data of its lower data file (none when !keep, for O_TRUNC) and loses
// the marker; its redirect stays.
func (m *Model) copyUpFull(p string, keep bool) {
	m.copyUp(p, false)
	n := m.Upper[p]
	if n == nil || !n.Metacopy {
		return
	}
	n.Data = ""
	if keep {
		n.Data = m.fileData(m.lookup(p))
	}
	n.Metacopy, n.Size = false, 0
}

// fileData is the data of the regular file whose stack is st: the top
// entry's, or for a metacopy file the data file's below it (for an upper
// metacopy copy of a lower metacopy file, the one below that).
func (m *Model) fileData(st []ent) string {
	for _, e := range st {
		if e.node.Kind != File {
			break
		}
		if !e.node.Metacopy {
			return e.node.Data
		}
	}
	panic("model: metacopy file without data")
}

// lowerPositive is ovl_lower_positive: whether the name p exists in the
// lower layers of its parent, possibly hidden by the upper entry. For a
// negative p, whether an upper whiteout is there.
func (m *Model) lowerPositive(p string) bool {
	st := m.lookup(p)
	if st == nil {
		n := m.Upper[p]
		return n != nil && n.Kind == Whiteout
	}
	if !hasUpper(st) {
		return true
	}
	for _, e := range m.lookup(parentOf(p)) {
		if e.layer == 0 {
			continue
		}
		if n := m.layer(e.layer)[join(e.path, path.Base(p))]; n != nil {
			return n.Kind != Whiteout
		}
	}
	return false
}

// isMerge reports whether the directory at p has both an upper and a
// lower part (ovl_type_merge).
func (m *Model) isMerge(p string) bool {
	st := m.lookup(p)
	return hasUpper(st) && hasLower(st)
}

// removeUpperTree deletes p and everything under it from the upper layer.
func (m *Model) removeUpperTree(p string) {
	for k := range m.Upper {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(m.Upper, k)
		}
	}
}

// create puts n at p (whose parent exists) as ovl_create_object does: the
// parent chain is copied up; over an upper whiteout a directory is made
// opaque, and with redirect_dir=on, xino=on or index=on also in a merge
// dir; otherwise no opaque marker is set.
func (m *Model) create(p string, n *Node) {
	m.copyUp(parentOf(p), false)
	if old := m.Upper[p]; old != nil && old.Kind == Whiteout && n.Kind == Dir {
		n.Kind = OpaqueDir
	}
	if (m.RedirectDir || m.Xino || m.Index) && n.Kind == Dir && m.isMerge(parentOf(p)) {
		n.Kind = OpaqueDir
	}
	m.Upper[p] = n
}

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
		return errNoData
	}
	if n.Xattrs == nil {
		n.Xattrs = map[string]string{}
	}
	n.Xattrs[attr] = string(value)
	return 0
}

// Entry is one line of a canonical dump.
type Entry struct {
	Path   string // clean, relative to the root
	Kind   Kind
	Mode   fs.FileMode // permission bits
	Data   string      // File
	Target string      // Symlink
	Xattrs map[string]string
	// Upper dumps only.
	Redirect string // the redirect xattr, "" when none
	Metacopy bool   // a File with the metacopy xattr: Data is "", Size its size
	Size     int
}

// Format renders entries canonically, one line each, sorted by path.
func Format(entries []Entry) string {
	es := append([]Entry(nil), entries...)
	sort.Slice(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s %s %04o", e.Path, e.Kind, uint32(e.Mode&fs.ModePerm))
		switch e.Kind {
		case File:
			fmt.Fprintf(&b, " data=%q", e.Data)
			if e.Metacopy {
				fmt.Fprintf(&b, " metacopy size=%d", e.Size)
			}
		case Symlink:
			fmt.Fprintf(&b, " -> %q", e.Target)
		}
		var keys []string
		for k := range e.Xattrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, e.Xattrs[k])
		}
		if e.Redirect != "" {
			fmt.Fprintf(&b, " redirect=%q", e.Redirect)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func entry(p string, n *Node) Entry {
	return Entry{Path: p, Kind: n.Kind, Mode: n.Mode, Data: n.Data, Target: n.Target, Xattrs: n.Xattrs,
		Redirect: n.Redirect, Metacopy: n.Metacopy, Size: n.Size}
}

// Dump is the canonical listing of the merged tree, the root excluded.
// Directories are listed as Dir, opaque or not.
func (m *Model) Dump() string {
	var es []Entry
	var walk func(p string, st []ent)
	walk = func(p string, st []ent) {
		for _, name := range m.children(p, st) {
			q := join(p, name)
			cst := m.lookup(q)
			n := cst[0].node
			e := Entry{Path: q, Kind: n.Kind, Mode: n.Mode, Target: n.Target, Xattrs: n.Xattrs}
			if e.Kind == OpaqueDir {
				e.Kind = Dir
			}
			if e.Kind == File {
				e.Data = m.fileData(cst)
			}
			es = append(es, e)
			if e.Kind == Dir {
				walk(q, cst)
			}
		}
	}
	walk("", m.lookup(""))
	return Format(es)
}

// DumpUpper is the canonical listing of the upper layer, the root
// excluded, with whiteouts and opaque directories; "" for a read-only
// overlay.
func (m *Model) DumpUpper() string {
	var es []Entry
	for p, n := range m.Upper {
		if p != "" {
			es = append(es, entry(p, n))
		}
	}
	return Format(es)
}

// PruneGhostWhiteouts deletes from lowers (top-most first) the whiteouts
// that sit in a directory whose merged stack over the lowers is that one
// layer alone. The kernel reads such a non-merge directory directly and
// lists its whiteouts as "ghost" entries that cannot be stat'ed
// (ovl_dir_is_real; nothing should rely on them); a layer
// the kernel writes never has them. Pruning them changes no lookup, since
// nothing below that layer is searched for names in such a directory.
func PruneGhostWhiteouts(lowers []Layer) {
	m := New(lowers, false)
	for i, l := range lowers {
		for p, n := range l {
			if n.Kind != Whiteout {
				continue
			}
			st := m.lookup(parentOf(p))
			if len(st) == 1 && st[0].layer == i+1 {
				delete(l, p)
			}
		}
	}
}
