package overlay

import "syscall"

// dirEntry is one name a directory shows through the overlay; typ is the
// S_IFMT bits as the layer's readdir reported them (0 when unknown).
type dirEntry struct {
	name string
	typ  uint32
}

// dirLayer is one layer's copy of a directory.
type dirLayer struct {
	br  *branch
	p   string
	xwh bool // lower dir marked opaque=x: its xattr whiteouts count
}

// layersOf lists the layers holding dir n, top first. Callers hold FS.mu.
func (fsys *FS) layersOf(n *node) []dirLayer {
	var ls []dirLayer
	if n.upper {
		ls = append(ls, dirLayer{br: fsys.upper, p: n.path()})
	}
	merge := len(ls)+len(n.lowers) > 1
	for _, lr := range n.lowers {
		l := dirLayer{br: fsys.lowers[lr.layer], p: lr.path}
		// Xattr whiteouts count only in a merge, in a lower dir marked
		// opaque=x; the upper's and the bottom layer's show (§2.3: the
		// kernel reads no opaque marker in the bottom layer).
		if merge && lr.layer != fsys.bottom && l.br.format == formatKernel && l.br.caps.xattr {
			v, err := l.br.b.getxattr(l.p, l.br.prefix+xOpaque)
			l.xwh = err == nil && len(v) == 1 && v[0] == 'x'
		}
		ls = append(ls, l)
	}
	return ls
}

// listNode returns the entries dir n shows, in the kernel's order
// (ovl_dir_read_merged, §11.1): a dir held by one layer lists in that
// layer's order; a merge dir lists the names of its lowest layer first,
// in that layer's order (names also present higher up included), then the
// remaining names top-down, each layer in its own order. A whiteout hides
// its name in the layers below and is never listed. A dir of one layer
// lists its whiteouts too (as names whose stat fails) unless filter is set
// or the kernel's OVL_WHITEOUTS rule applies. Callers hold FS.mu.
func (fsys *FS) listNode(n *node, filter bool) ([]dirEntry, error) {
	if !n.present || !n.isDir() {
		return nil, syscall.ENOTDIR
	}
	ls := fsys.layersOf(n)
	if len(ls) == 1 {
		ents, err := ls[0].br.listDir(ls[0].p, false)
		if err != nil {
			return nil, err
		}
		filter = filter || fsys.mayHaveWhiteouts(n, ls)
		out := make([]dirEntry, 0, len(ents))
		for _, e := range ents {
			if !e.whiteout || !filter {
				out = append(out, dirEntry{name: e.name, typ: e.typ})
			}
		}
		return out, nil
	}

	type ent struct {
		dirEntry
		whiteout bool
		low      bool // listed in the lowest layer's region
	}
	seen := make(map[string]*ent)
	var upperOrder []*ent // names first seen above the lowest layer, top-down
	var lowOrder []*ent   // the lowest layer's names, in its order
	for i, l := range ls {
		ents, err := l.br.listDir(l.p, l.xwh)
		if err != nil {
			return nil, err
		}
		lowest := i == len(ls)-1
		for _, e := range ents {
			if lowest {
				p := seen[e.name]
				if p == nil {
					p = &ent{dirEntry: dirEntry{name: e.name, typ: e.typ}, whiteout: e.whiteout}
					seen[e.name] = p
				}
				if !p.low {
					p.low = true
					lowOrder = append(lowOrder, p)
				}
				continue
			}
			if seen[e.name] != nil {
				continue
			}
			p := &ent{dirEntry: dirEntry{name: e.name, typ: e.typ}, whiteout: e.whiteout}
			seen[e.name] = p
			upperOrder = append(upperOrder, p)
		}
	}
	out := make([]dirEntry, 0, len(seen))
	for _, p := range lowOrder {
		if !p.whiteout {
			out = append(out, p.dirEntry)
		}
	}
	for _, p := range upperOrder {
		if !p.whiteout && !p.low {
			out = append(out, p.dirEntry)
		}
	}
	return out, nil
}

// mayHaveWhiteouts is the kernel's OVL_WHITEOUTS flag of dir n, whose
// layers are ls: set on the root, on a dir of more than one layer, on a
// copied-up dir and on one carrying an origin xattr; such a dir hides its
// whiteouts from readdir and rmdir. OCI layers never show theirs.
// Callers hold FS.mu.
func (fsys *FS) mayHaveWhiteouts(n *node, ls []dirLayer) bool {
	if n.parent == nil || n.whiteouts || len(ls) > 1 {
		return true
	}
	br := ls[0].br
	return br.format == formatOCI || br.caps.xattr && br.hasXattr(ls[0].p, xOrigin)
}
