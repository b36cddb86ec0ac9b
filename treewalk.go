package overlay

import "github.com/go-overlay/overlay/internal/layer"

// A tree walk reads a dir and everything beneath it with each step
// relative to an open dir, so that its cost is linear in the tree
// whatever its depth; a merged walk does so for the dirs of every layer
// that merge into one overlay dir.

// walkedDir is a treeDir of one layer (an index into FS.lowers, or
// upperLayer).
type walkedDir struct {
	d     layer.TreeDir
	layer int
}

// upperLayer marks the upper layer's dir in a tree walk.
const upperLayer = -1

// closeAll closes the dirs of ds.
func closeAll(ds []walkedDir) {
	for _, d := range ds {
		d.d.Close()
	}
}

// entKind is what a merged walk's visit makes of an entry: 0 for a
// non-dir, which ends the merge of its name, or a set of these bits.
type entKind uint8

const (
	entDir      entKind = 1 << iota // a dir: merges with the dirs of its name below
	entOpaque                       // with entDir: hides what is below it
	entOrigin                       // with entDir: an upper dir with an origin (see mergedWalk)
	entWhiteout                     // hides its name below, shows nothing
)

// visited is what a merged walk's visit makes of an entry.
type visited struct {
	kind entKind
	// For a shown dir that a redirect merges with other lower dirs than
	// those of its name (moved): with a relative redirect, the dirs named
	// alias in the lower layers of its level; with an absolute one, below,
	// open (the walk closes them).
	moved bool
	alias string
	below []walkedDir
}

// mergedVisit is called by a merged walk for an entry e of ds[i] (shown
// says whether the merge shows it: the top-most of its name) and
// classifies it. whiteouts says whether ds's upper dir may hold whiteouts
// (the kernel's OVL_WHITEOUTS: merged with a lower dir, or carrying an
// origin).
type mergedVisit func(ds []walkedDir, whiteouts bool, i int, e layer.DirEnt, shown bool) (visited, error)

// mergedWalk walks the merged dir whose dirs, one per layer, top-most
// first, are ds, as lookup merges them: a name is shown by the top-most
// layer that has it, a whiteout or a non-dir ends its merge, a dir merges
// with the dirs of its name below (or of the name its redirect gives)
// down to an opaque one. visit is called for every entry of every layer
// that the walk lists; the walk then goes into each shown dir with the
// dirs merged beneath it as the next level. whiteouts is as for visit,
// for ds. The walk stops at the first error.
func mergedWalk(ds []walkedDir, whiteouts bool, visit mergedVisit) error {
	if len(ds) == 1 {
		return walkOne(ds, whiteouts, visit)
	}
	kinds := make([]map[string]entKind, len(ds))
	top := map[string]int{} // each name's top-most layer in ds
	var moved map[string]visited
	defer func() {
		for _, v := range moved {
			closeAll(v.below)
		}
	}()
	var order []layer.DirEnt
	for i, d := range ds {
		ents, err := d.d.List()
		if err != nil {
			return err
		}
		kinds[i] = make(map[string]entKind, len(ents))
		for _, e := range ents {
			_, seen := top[e.Name]
			v, err := visit(ds, whiteouts, i, e, !seen)
			if v.moved {
				if moved == nil {
					moved = map[string]visited{}
				}
				moved[e.Name] = v
			}
			if err != nil {
				return err
			}
			kinds[i][e.Name] = v.kind
			if !seen {
				top[e.Name] = i
				order = append(order, e)
			}
		}
	}
	for _, e := range order {
		i := top[e.Name]
		k := kinds[i][e.Name]
		if k&entDir == 0 {
			continue
		}
		d, err := ds[i].d.Sub(e.Name)
		if err != nil {
			return err
		}
		sub := []walkedDir{{d, ds[i].layer}}
		name, m := e.Name, moved[e.Name]
		if m.moved {
			name = m.alias
		}
		var below []walkedDir
		switch {
		case k&entOpaque != 0:
		case m.moved && name == "":
			below = m.below
		default:
			below, err = dirsBelow(ds[i+1:], kinds[i+1:], name)
		}
		if err == nil {
			err = mergedWalk(append(sub, below...), len(below) > 0 || k&entOrigin != 0, visit)
		}
		closeAll(sub)
		if !m.moved || name != "" {
			closeAll(below)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// walkOne is mergedWalk of a level of one layer's dir: every entry is
// shown, and a dir merges with nothing below but the dirs a redirect
// gives.
func walkOne(ds []walkedDir, whiteouts bool, visit mergedVisit) error {
	ents, err := ds[0].d.List()
	if err != nil {
		return err
	}
	for _, e := range ents {
		v, err := visit(ds, whiteouts, 0, e, true)
		if err == nil && v.kind&entDir != 0 {
			var d layer.TreeDir
			if d, err = ds[0].d.Sub(e.Name); err == nil {
				// A relative redirect names a dir of this level's lower
				// dirs, of which there are none.
				sub := append([]walkedDir{{d, ds[0].layer}}, v.below...)
				err = mergedWalk(sub, len(v.below) > 0 || v.kind&entOrigin != 0, visit)
				d.Close()
			}
		}
		closeAll(v.below)
		if err != nil {
			return err
		}
	}
	return nil
}

// dirsBelow opens the dirs name of ds that merge with a dir above them:
// down to the first layer where name is not a dir, or is an opaque one.
func dirsBelow(ds []walkedDir, kinds []map[string]entKind, name string) ([]walkedDir, error) {
	var below []walkedDir
	for j := range ds {
		k, ok := kinds[j][name]
		if !ok {
			continue
		}
		if k&entDir == 0 {
			break
		}
		d, err := ds[j].d.Sub(name)
		if err != nil {
			closeAll(below)
			return nil, err
		}
		below = append(below, walkedDir{d, ds[j].layer})
		if k&entOpaque != 0 {
			break
		}
	}
	return below, nil
}
