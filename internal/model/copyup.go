package model

import (
	"path"
	"strings"
)

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
