package model

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

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
