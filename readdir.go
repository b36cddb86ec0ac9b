package overlay

import (
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// mergedEnt is one name a directory shows through the overlay; typ is the
// S_IFMT bits as the layer's readdir reported them (0 when unknown).
type mergedEnt struct {
	name string
	typ  uint32
	// err, in the listing of an open dir, marks an entry whose lookup
	// failed: it is never shown, and it ends the read that meets it (see
	// File.getdents).
	err error
	// hidden, in the listing of an open dir, marks a whiteout or (dot)
	// "." or "..": never shown, it still takes a directory position, as
	// in the kernel's merged listing.
	hidden, dot bool
}

// withDots inserts "." and ".." into the listing ents of one layer where
// at says the layer lists them (see dotsReader), as hidden entries that
// take positions; mk makes an entry of the listing.
func withDots[E any](ents []E, at [2]int, mk func(name string) E) []E {
	out := make([]E, 0, len(ents)+2)
	for i := 0; i <= len(ents); i++ {
		for k, name := range []string{".", ".."} {
			if at[k] == i {
				out = append(out, mk(name))
			}
		}
		if i < len(ents) {
			out = append(out, ents[i])
		}
	}
	return out
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
		// opaque=x; the upper's and the bottom layer's show (the
		// kernel reads no opaque marker in the bottom layer).
		if merge && lr.layer != fsys.bottom && l.br.xattrMarkers() {
			v, err := l.br.b.Getxattr(l.p, l.br.prefix+ondisk.XOpaque)
			l.xwh = err == nil && len(v) == 1 && v[0] == 'x'
		}
		ls = append(ls, l)
	}
	return ls
}

// listNode returns the entries dir n shows, in the kernel's order
// (ovl_dir_read_merged): a dir held by one layer lists in that
// layer's order; a merge dir lists the names of its lowest layer first,
// in that layer's order (names also present higher up included), then the
// remaining names top-down, each layer in its own order. A whiteout hides
// its name in the layers below and is never listed. A dir of one layer
// lists its whiteouts too (as names whose stat fails) unless filter is set
// or the kernel's OVL_WHITEOUTS rule applies. Callers hold FS.mu.
func (fsys *FS) listNode(n *node, filter bool) ([]mergedEnt, error) {
	return fsys.listEntries(n, filter, false)
}

// listEntries is listNode; with positions, the whiteouts it leaves out
// stay in the list as hidden entries, where the kernel's merged listing
// counts them.
func (fsys *FS) listEntries(n *node, filter, positions bool) ([]mergedEnt, error) {
	if !n.present || !n.isDir() {
		return nil, syscall.ENOTDIR
	}
	ls := fsys.layersOf(n)
	if len(ls) == 1 {
		ents, at, err := ls[0].br.listDirDots(ls[0].p, false, positions)
		if err != nil {
			return nil, err
		}
		filter = filter || fsys.mayHaveWhiteouts(n, ls)
		out := make([]mergedEnt, 0, len(ents))
		for _, e := range ents {
			if !e.Whiteout || !filter || positions {
				out = append(out, mergedEnt{name: e.Name, typ: e.Type, hidden: e.Whiteout && filter})
			}
		}
		if positions {
			out = withDots(out, at, dotEntry)
		}
		return out, nil
	}

	// Read every layer first, so the name index is sized once.
	lists := make([][]ondisk.Entry, len(ls))
	total := 0
	for i, l := range ls {
		lowest := i == len(ls)-1
		ents, at, err := l.br.listDirDots(l.p, l.xwh, positions && lowest)
		if err != nil {
			return nil, err
		}
		if positions && lowest {
			// "." and ".." take their places in the lowest layer's
			// order, which comes first.
			ents = withDots(ents, at, func(name string) ondisk.Entry { return ondisk.Entry{Name: name, Dot: true} })
		}
		lists[i] = ents
		total += len(ents)
	}
	type ent struct {
		mergedEnt
		whiteout bool
		low      bool // listed in the lowest layer's region
	}
	all := make([]ent, 0, total) // names in the order first seen, top-down
	index := make(map[string]int32, total)
	lowest := lists[len(lists)-1]
	lowOrder := make([]int32, 0, len(lowest)) // the lowest layer's names, in its order
	for _, ents := range lists[:len(lists)-1] {
		for _, e := range ents {
			if _, ok := index[e.Name]; !ok {
				index[e.Name] = int32(len(all))
				all = append(all, ent{mergedEnt: mergedEnt{name: e.Name, typ: e.Type}, whiteout: e.Whiteout})
			}
		}
	}
	for _, e := range lowest {
		k, ok := index[e.Name]
		if !ok {
			k = int32(len(all))
			index[e.Name] = k
			all = append(all, ent{mergedEnt: mergedEnt{name: e.Name, typ: e.Type, dot: e.Dot}, whiteout: e.Whiteout})
		}
		if !all[k].low {
			all[k].low = true
			lowOrder = append(lowOrder, k)
		}
	}
	out := make([]mergedEnt, 0, len(all))
	add := func(e ent) {
		switch {
		case e.dot:
			out = append(out, dotEntry(e.name))
		case !e.whiteout:
			out = append(out, e.mergedEnt)
		case positions:
			e.hidden = true
			out = append(out, e.mergedEnt)
		}
	}
	for _, k := range lowOrder {
		add(all[k])
	}
	for k := range all {
		if !all[k].low {
			add(all[k])
		}
	}
	return out, nil
}

// dotEntry is the hidden entry of "." or ".." in an open dir's listing.
func dotEntry(name string) mergedEnt { return mergedEnt{name: name, hidden: true, dot: true} }

// isRealDir returns, for a dir the kernel reads straight from its one
// layer (ovl_dir_is_real: not a merge, no OVL_WHITEOUTS), that layer's
// copy when its backend can stream it (dirStreamer, kernel format); nil
// otherwise, and the dir is read from the merged listing. Callers hold
// FS.mu.
func (fsys *FS) isRealDir(n *node) *dirLayer {
	if !n.present || !n.isDir() || n.isMerge() {
		return nil
	}
	ls := fsys.layersOf(n)
	if len(ls) != 1 || fsys.mayHaveWhiteouts(n, ls) || ls[0].br.format != formatKernel {
		return nil
	}
	if _, ok := ls[0].br.b.(layer.DirStreamer); !ok {
		return nil
	}
	return &ls[0]
}

// realDirStream opens the layer copy of dir n for reading when the kernel
// reads it straight (isRealDir); nil otherwise. Callers hold FS.mu.
func (fsys *FS) realDirStream(n *node) layer.DirStream {
	l := fsys.isRealDir(n)
	if l == nil {
		return nil
	}
	s, err := l.br.b.(layer.DirStreamer).OpenDirStream(l.p)
	if err != nil {
		return nil
	}
	return s
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
	return br.format == formatOCI || br.caps.Xattr && br.hasXattr(ls[0].p, ondisk.XOrigin)
}

// translatedList is the listing of merge dir n as the kernel's readdir
// gives it when it must translate inode numbers (xino): every entry is
// looked up, so one whose lookup finds nothing (an xattr whiteout shown as
// an entry) is left out, and one whose lookup fails is kept marked with its
// error (ovl_cache_update; File.getdents says what the error does).
// Callers hold FS.mu.
func (fsys *FS) translatedList(n *node, list []mergedEnt) ([]mergedEnt, error) {
	out := list[:0:0]
	for len(list) > 0 {
		chunk := list[:min(len(list), hintChunk)]
		list = list[len(chunk):]
		names := make([]string, 0, len(chunk))
		for _, e := range chunk {
			if !e.hidden {
				names = append(names, e.name)
			}
		}
		drop := fsys.readAhead(n, names)
		for _, e := range chunk {
			if e.hidden {
				out = append(out, e)
				continue
			}
			c, err := fsys.child(n, e.name)
			if err != nil {
				e.err = err
			}
			if err != nil || c.present {
				out = append(out, e)
			}
		}
		drop()
	}
	return out, nil
}

// impureLookups is what a read of an impure upper dir of one layer costs
// in the kernel (ovl_dir_read_impure): every entry is looked up for its
// inode number, and a lookup that fails fails the read, before any entry
// is returned. Callers hold FS.mu.
func (fsys *FS) impureLookups(n *node) error {
	u := fsys.upper
	if !n.upper || !u.xattrMarkers() || !u.hasXattr(n.path(), ondisk.XImpure) {
		return nil
	}
	ents, err := u.listDir(n.path(), false)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, err := fsys.child(n, e.Name); err != nil {
			return err
		}
	}
	return nil
}

// impureList is the listing of merge dir n as the kernel's readdir gives
// it when n's upper dir is impure (holds copied-up objects): each entry of
// the upper dir is looked up for its inode number (ovl_calc_d_ino): one
// whose lookup finds nothing is skipped as stale, and one whose lookup
// fails is kept marked with its error, as in translatedList. Callers hold
// FS.mu.
func (fsys *FS) impureList(n *node, list []mergedEnt) ([]mergedEnt, error) {
	u := fsys.upper
	p := n.path()
	if !u.xattrMarkers() || !u.hasXattr(p, ondisk.XImpure) {
		return list, nil
	}
	ents, err := u.listDir(p, false)
	if err != nil {
		return nil, err
	}
	inUpper := make(map[string]bool, len(ents))
	for _, e := range ents {
		inUpper[e.Name] = true
	}
	out := list[:0:0]
	for _, e := range list {
		if inUpper[e.name] && !e.hidden {
			c, err := fsys.child(n, e.name)
			if err != nil {
				e.err = err
			} else if !c.present {
				continue
			}
		}
		out = append(out, e)
	}
	return out, nil
}
