package overlay

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// RemoveAll is like os.RemoveAll, step for step: after a failed Remove it
// removes the base name of name (trailing slashes dropped, so a symlink to
// a dir goes, not what it points to) from its parent, a dir's entries
// first. As on a read-only mount, a missing name of an overlay without an
// upper is EROFS, not nil: unlink(2) says so before it looks the name up.
func (fsys *FS) RemoveAll(name string) error {
	if name == "" {
		return nil // as os: silently
	}
	if name == "." || strings.HasSuffix(name, "/.") {
		return pathErr("RemoveAll", name, syscall.EINVAL)
	}
	err := fsys.Remove(name)
	if err == nil || errnoOf(err) == syscall.ENOENT {
		return nil
	}
	dir, base := splitOSPath(name)
	pf, err := fsys.openFile(dir, os.O_RDONLY, 0)
	if err == syscall.ENOENT {
		return nil // no parent, no name
	}
	if err != nil {
		return pathErr("open", dir, err)
	}
	pf.Close()
	if err := fsys.removeAllFrom(dir, base); err != nil {
		if pe, ok := err.(*fs.PathError); ok {
			pe.Path = dir + "/" + pe.Path
		}
		return err
	}
	return nil
}

// removeAllFrom is os's removeAllFrom with base named within dir rather
// than by a dir handle: unlink base; if it is a dir, remove its entries
// and then the dir. Errors are os's: *fs.PathError named from dir.
func (fsys *FS) removeAllFrom(dir, base string) error {
	p := strings.TrimSuffix(dir, "/") + "/" + base
	uerr := fsys.unlink(p)
	if uerr == nil || uerr == syscall.ENOENT {
		return nil
	}
	if uerr != syscall.EISDIR && uerr != syscall.EPERM && uerr != syscall.EACCES {
		return pathErr("unlinkat", base, uerr)
	}
	var rerr error
	f, err := fsys.openFile(p, os.O_RDONLY|layer.ODirectory|layer.ONoFollow, 0)
	switch {
	case err == syscall.ENOENT:
		return nil
	case err == syscall.ENOTDIR:
		return pathErr("unlinkat", base, uerr) // not a dir: the unlink's error
	case err != nil:
		rerr = pathErr("openfdat", base, err)
	default:
		if ok, terr := fsys.removeTreeAtOnce(p); ok {
			// The whole tree in one step, linear in its depth.
			f.Close()
			if terr == nil || errnoOf(terr) == syscall.ENOENT {
				return nil
			}
			return pathErr("unlinkat", base, errnoOf(terr))
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			if errnoOf(err) == syscall.ENOENT {
				return nil
			}
			return pathErr("readdirnames", base, errnoOf(err))
		}
		for _, n := range names {
			if err := fsys.removeAllFrom(p, n); err != nil {
				if pe, ok := err.(*fs.PathError); ok {
					pe.Path = base + "/" + pe.Path
				}
				if rerr == nil {
					rerr = err
				}
			}
		}
	}
	err = fsys.rmdir(p)
	if err == nil || err == syscall.ENOENT {
		return nil
	}
	if rerr != nil {
		return rerr
	}
	return pathErr("unlinkat", base, err)
}

// splitOSPath is os's splitPath: the parent dir (".") and the base name
// of name, trailing slashes dropped.
func splitOSPath(name string) (string, string) {
	for len(name) > 1 && name[0] == '/' && name[1] == '/' {
		name = name[1:]
	}
	for len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	i := strings.LastIndexByte(name, '/')
	switch {
	case i < 0:
		return ".", name
	case i == 0:
		return "/", name[1:]
	}
	dir := name[:i]
	for len(dir) > 1 && dir[len(dir)-1] == '/' {
		dir = dir[:len(dir)-1]
	}
	return dir, name[i+1:]
}

// removeTreeAtOnce removes the dir name with everything beneath it in
// one step, leaving what removing each entry and then the dir leaves: a
// whiteout when a lower layer has the name, else nothing; with nfs_export
// a whiteout in the index for each lower object removed (written after
// the tree goes). A dir that is only in the lower layers is copied up
// first, as the removal of its first entry would copy it up (its parent
// is marked impure as then). ok is false where the result could differ
// (see removableTree), on an upper without xattrs, or for a caller other
// than root; the caller then removes the tree entry by entry. The check
// and, on a native upper, the removal walk by directory descriptors, so
// the cost grows linearly with the tree, however deep (the kernel's
// overlay, which removes entry by entry, does not need to resolve long
// paths).
func (fsys *FS) removeTreeAtOnce(name string) (ok bool, err error) {
	u := fsys.upper
	switch {
	case u == nil:
		return false, nil
	case u.format == formatKernel && !u.caps.Xattr:
		// An upper without xattrs fails some removals (EIO, as the
		// kernel): only entry by entry shows which.
		return false, nil
	case !fsys.caller().root():
		// Each entry's removal is the caller's to be allowed.
		return false, nil
	}
	check := func(r walkResult) error {
		switch {
		case r.parent == nil, r.last == "." || r.last == "..":
			return syscall.EINVAL
		case !r.n.present:
			return syscall.ENOENT
		case !r.n.isDir():
			return syscall.EINVAL
		}
		return nil
	}
	for try := 0; try < 4; try++ {
		r, err := fsys.lockForChange(name, followNever, check)
		if err == syscall.EINVAL {
			return false, nil
		}
		if err != nil {
			return true, err
		}
		// An empty lower dir is left to rmdir, which does not copy it up.
		gone, ok := fsys.removableTree(r.n)
		if !ok || !r.n.upper && fsys.checkEmpty(r.n, true) == nil {
			fsys.mu.Unlock()
			return false, nil
		}
		if !r.n.upper {
			fsys.mu.Unlock()
			if err := fsys.copyUp(r.n, copyFull); err != nil && err != errStale {
				return true, err
			}
			continue
		}
		defer fsys.mu.Unlock()
		fsys.dropSubtree(r.n)
		if err := fsys.removeName(r); err != nil {
			return true, err
		}
		// What removing each object would have left in the index (each
		// copied up into it first, then whited out there), once nothing
		// of the tree is visible.
		for _, idx := range gone {
			if err := fsys.upper.whiteout(idx, 0); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	return false, nil // copied up and gone again each time: entry by entry
}

// removableTree reports whether the tree beneath dir n may go at once
// (see removeTreeAtOnce), walking the dirs merged with it in every layer
// by descriptors, and returns, with nfs_export, the index entries to white
// out once it has gone: those of the lower objects the merge shows. Where
// the answer could take a lookup that might fail or an index that keeps
// counts, it is no. Callers hold FS.mu.
//
// Entry by entry, each entry is looked up and removed, a dir once empty;
// at once, only the top dir is, the rest leaving with it. The two end the
// same when
//   - no lookup in the tree can fail: the lower trees carry no private
//     xattr but opaque "y" on dirs, the upper tree no private xattr but
//     origin and, on dirs, impure, opaque "y" and, where redirects are
//     followed, a redirect lookup follows without error; with index=on
//     no origin names an index entry, with nfs_export no dir has an
//     origin;
//   - no rmdir finds a whiteout it counts as an entry (ENOTEMPTY): an
//     upper whiteout sits only in a dir that may hold whiteouts (the
//     kernel's OVL_WHITEOUTS: merged with a lower dir, or with an origin);
//   - with index=on, no file has more than one link, as a removed name of
//     a hard-linked file is counted in the index.
func (fsys *FS) removableTree(n *node) (indexNames []string, ok bool) {
	c := &treeCheck{fsys: fsys, nfs: fsys.feat.nfsExport && len(n.lowers) > 0}
	var ds []walkedDir
	defer func() { closeAll(ds) }()
	if n.upper {
		if ds, ok = c.open(ds, upperLayer, n.path()); !ok {
			return nil, false
		}
	}
	for _, lr := range n.lowers {
		if ds, ok = c.open(ds, lr.layer, lr.path); !ok {
			return nil, false
		}
	}
	whiteouts := n.upper && (n.whiteouts || len(ds) > 1 || fsys.upper.hasXattr(n.path(), ondisk.XOrigin))
	if err := mergedWalk(ds, whiteouts, c.visit); err != nil {
		return nil, false
	}
	return c.indexNames, true
}

// treeCheck is removableTree's walk.
type treeCheck struct {
	fsys       *FS
	nfs        bool            // with nfs_export, over lower dirs: note indexNames
	indexNames []string        // the index entries removing the tree whites out
	inIndex    map[string]bool // the index dir's names, once read
}

// errNotAtOnce ends removableTree's walk where the tree must go entry by
// entry.
var errNotAtOnce = errors.New("overlay: a tree to remove entry by entry")

// br is the layer of a tree walk's walkedDir.
func (c *treeCheck) br(li int) *branch {
	if li == upperLayer {
		return c.fsys.upper
	}
	return c.fsys.lowers[li]
}

// open appends the dir p of layer li, opened for a tree walk, to ds; ok
// is false where the layer cannot be walked so.
func (c *treeCheck) open(ds []walkedDir, li int, p string) (_ []walkedDir, ok bool) {
	br := c.br(li)
	o, isOpener := br.b.(layer.TreeDirOpener)
	if !isOpener || br.format != formatKernel {
		return ds, false
	}
	d, err := o.OpenTreeDir(p)
	if err != nil {
		return ds, false
	}
	return append(ds, walkedDir{d, li}), true
}

// indexed reports whether the index dir holds the entry name.
func (c *treeCheck) indexed(name string) bool {
	if c.inIndex == nil {
		c.inIndex = map[string]bool{}
		ents, _ := c.fsys.upper.b.ReadDir(indexDir)
		for _, e := range ents {
			c.inIndex[e.Name] = true
		}
	}
	return c.inIndex[name]
}

// visit is the mergedVisit of the walk: errNotAtOnce for an entry that
// sends the tree entry by entry.
func (c *treeCheck) visit(ds []walkedDir, whiteouts bool, i int, e layer.DirEnt, shown bool) (visited, error) {
	fsys := c.fsys
	d, upper, br := ds[i].d, ds[i].layer == upperLayer, c.br(ds[i].layer)
	a, err := d.Lstat(e.Name)
	switch {
	case err != nil:
		return visited{}, err
	case a.IsChr00():
		// A lower whiteout hides what is below; an upper one must be in
		// a dir whose rmdir clears it.
		if upper && !whiteouts {
			return visited{}, errNotAtOnce
		}
		return visited{kind: entWhiteout}, nil
	case fsys.feat.index && !a.IsDir() && a.Nlink > 1:
		return visited{}, errNotAtOnce
	}
	xs, err := d.Listxattr(e.Name)
	if err != nil && !errors.Is(err, syscall.ENOTSUP) {
		return visited{}, errNotAtOnce
	}
	var kind entKind
	if a.IsDir() {
		kind = entDir
	}
	redirect := ""
	for _, x := range xs {
		suffix, private := strings.CutPrefix(x, br.prefix)
		var v []byte
		if private {
			if v, err = d.Getxattr(e.Name, x); err != nil {
				return visited{}, errNotAtOnce
			}
		}
		switch {
		case !private:
		case !upper && (suffix != ondisk.XOpaque || !a.IsDir()):
			return visited{}, errNotAtOnce
		case suffix == ondisk.XOrigin && a.IsDir():
			if fsys.feat.nfsExport {
				return visited{}, errNotAtOnce // lookup checks its index entry
			}
			kind |= entOrigin
		case suffix == ondisk.XOrigin:
			// Indexed, its lookup checks the entry and its removal
			// counts links there.
			if fsys.feat.index && c.indexed(ondisk.IndexName(v)) {
				return visited{}, errNotAtOnce
			}
		case suffix == ondisk.XImpure && a.IsDir():
		case suffix == ondisk.XOpaque && a.IsDir():
			if string(v) != "y" {
				return visited{}, errNotAtOnce
			}
			kind |= entOpaque
		case suffix == ondisk.XRedirect && a.IsDir() && fsys.feat.redirectFollow():
			if redirect, err = ondisk.ParseRedirect(v); err != nil {
				return visited{}, errNotAtOnce
			}
		default:
			return visited{}, errNotAtOnce
		}
	}
	if c.nfs && shown && !upper {
		// Removed one by one, each lower object is copied up into the
		// index and its entry then whited out.
		if err := c.noteIndex(d, br, e.Name); err != nil {
			return visited{}, err
		}
	}
	switch {
	case redirect == "" || kind&entOpaque != 0 || !shown:
		return visited{kind: kind}, nil // an opaque dir's redirect is not read
	case redirect[0] != '/':
		// Lookup searches the lower dirs of this level for the name the
		// redirect gives instead.
		if dotName(redirect) {
			return visited{}, errNotAtOnce // lookup fails EACCES
		}
		return visited{kind: kind, moved: true, alias: redirect}, nil
	}
	below, err := c.redirected(redirect)
	return visited{kind: kind, moved: true, below: below}, err
}

// noteIndex notes the index entry of the lower object name of d, which
// removing it would white out.
func (c *treeCheck) noteIndex(d layer.TreeDir, br *branch, name string) error {
	hd, isHandler := d.(layer.HandleTreeDir)
	h, isLayerHandler := br.b.(layer.Handler)
	if !isHandler || !isLayerHandler {
		return errNotAtOnce
	}
	fh, err := hd.Handle(name)
	if err != nil {
		return err
	}
	fb := c.fsys.originFB(h, fh)
	idx := indexDir + "/" + ondisk.IndexName(fb)
	if len(fb) == 0 || c.fsys.upperHas(idx) {
		return errNotAtOnce // no entry of its own, or one there already
	}
	c.indexNames = append(c.indexNames, idx)
	return nil
}

// redirected opens the lower dirs that an upper dir whose redirect is
// the absolute path r merges with: those lookup finds, from the root's.
func (c *treeCheck) redirected(r string) (below []walkedDir, err error) {
	stack, want, abs, err := c.fsys.followIn(ondisk.Object{Redirect: r}, upperLayer, nil, "", false)
	if err != nil {
		return nil, errNotAtOnce
	}
	m := &node{present: true, upper: true, typ: syscall.S_IFDIR}
	if _, err := c.fsys.lookupBelow(m, stack, want, abs, nil); err != nil {
		return nil, errNotAtOnce
	}
	for _, lr := range m.lowers {
		var ok bool
		if below, ok = c.open(below, lr.layer, lr.path); !ok {
			closeAll(below)
			return nil, errNotAtOnce
		}
	}
	return below, nil
}

// dropSubtree marks the cached nodes beneath n dead, their objects about
// to go. Callers hold FS.mu for writing.
func (fsys *FS) dropSubtree(n *node) {
	n.mu.Lock()
	kids := n.children
	n.children = nil
	n.mu.Unlock()
	for _, c := range kids {
		c.dead = true
		fsys.dropSubtree(c)
	}
}
