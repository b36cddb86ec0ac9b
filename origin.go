package overlay

import (
	"bytes"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// fixOrigin is ovl_fix_origin, once the lookup of the upper dir c has
// found its lower dirs: a merge dir whose upper has no origin is given its
// top lower dir's handle as origin, and its parent is marked impure (so
// readdir of the parent then looks its upper entries up). Best effort, as
// an optimisation of the kernel's; errors leave the dir as it was.
// Callers hold FS.mu.
func (fsys *FS) fixOrigin(c *node) {
	if !c.present || len(c.lowers) == 0 {
		return
	}
	p := layer.Join(c.parent.path(), c.name)
	u := fsys.upper
	if u.hasXattr(p, ondisk.XOrigin) {
		return
	}
	lr := c.lowers[0]
	if err := u.w.setxattr(p, fsys.prefix+ondisk.XOrigin, fsys.originOf(fsys.lowers[lr.layer], lr.path)); err != nil {
		return
	}
	fsys.setImpureAt(c.parent.path(), true)
}

// findOrigin gives the copied-up non-dir c its lower origin, for st_ino:
// the object of the same name below, when the upper's origin xattr names
// it. (The kernel decodes the handle instead; see doc.go.) Callers hold
// FS.mu.
func (fsys *FS) findOrigin(c *node, stack []lowerRef) error {
	u := fsys.upper
	if !u.xattrMarkers() {
		return nil
	}
	v, err := u.b.Getxattr(layer.Join(c.parent.path(), c.name), fsys.prefix+ondisk.XOrigin)
	if err != nil || len(v) == 0 {
		return nil
	}
	for _, lr := range stack {
		l := fsys.lowers[lr.layer]
		p := layer.Join(lr.path, c.name)
		o, err := l.probe(p, lr.layer == fsys.bottom)
		if err != nil {
			return err
		}
		switch {
		case o.Kind == ondisk.Absent:
			continue
		case o.Kind == ondisk.Present && !o.Attr.IsDir() && bytes.Equal(fsys.originOf(l, p), v):
			c.lowers, c.lattr = []lowerRef{{layer: lr.layer, path: p}}, o.Attr
			return nil
		}
		break
	}
	if lr, ok := fsys.originIndex(v); ok {
		// Found elsewhere than under its name (a link made in the
		// overlay, or a file renamed before this FS was opened).
		o, err := fsys.lowers[lr.layer].probe(lr.path, lr.layer == fsys.bottom)
		if err != nil {
			return err
		}
		if o.Kind == ondisk.Present && !o.Attr.IsDir() {
			c.lowers, c.lattr = []lowerRef{lr}, o.Attr
			if fsys.indexed(c) {
				c.idx = fsys.indexName(fsys.lowers[lr.layer], lr.path)
			}
			return nil
		}
	}
	if fsys.feat.index {
		// Another name of an indexed inode (a link made in the overlay):
		// the index entry named by its origin is the same upper inode.
		idx := indexDir + "/" + ondisk.IndexName(v)
		ia, err1 := u.b.Lstat(idx)
		ca, err2 := u.b.Lstat(layer.Join(c.parent.path(), c.name))
		if err1 == nil && err2 == nil && ia.Ino == ca.Ino && ia.Dev == ca.Dev {
			c.idx = idx
			c.lattr.Nlink = fsys.lowerNlinkOf(idx)
		}
	}
	return nil
}

// originIndex finds the lower object whose origin handle is v, for an
// upper object not found under its own name or a handle given to
// OpenByHandle: a map of the objects of the regular lower layers by
// handle, built on first need by walking the layers (never by decoding
// the handle, which could reach outside them).
// Callers hold FS.mu.
func (fsys *FS) originIndex(v []byte) (lowerRef, bool) {
	fsys.originOnce.Do(func() {
		m := map[string]lowerRef{}
		for i := 0; i <= fsys.bottom; i++ {
			br := fsys.lowers[i]
			if _, ok := br.b.(layer.Handler); !ok {
				continue
			}
			var walk func(dir string)
			walk = func(dir string) {
				ents, err := br.b.ReadDir(dir)
				if err != nil {
					return
				}
				for _, e := range ents {
					p := layer.Join(dir, e.Name)
					t := e.Type
					if t == 0 {
						a, err := br.b.Lstat(p)
						if err != nil {
							continue
						}
						t = a.Type()
					}
					key := string(fsys.originOf(br, p))
					if _, dup := m[key]; !dup && len(key) > 0 {
						m[key] = lowerRef{layer: i, path: p}
					}
					if t == syscall.S_IFDIR {
						walk(p)
					}
				}
			}
			walk("")
		}
		fsys.originMap = m
	})
	lr, ok := fsys.originMap[string(v)]
	return lr, ok
}

// findDirIndex notes, with nfs_export, whether the upper dir c was copied
// up through the index (a dir index entry under its origin); only such a
// dir shows its origin's inode number then. Callers hold FS.mu.
func (fsys *FS) findDirIndex(c *node) {
	if !fsys.feat.nfsExport || !c.upper || len(c.lowers) == 0 {
		return
	}
	lr := c.lowers[0]
	c.dirIndexed = fsys.upperHas(fsys.indexName(fsys.lowers[lr.layer], lr.path))
}
