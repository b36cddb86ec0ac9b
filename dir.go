package overlay

import (
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// lockForChange walks name with FS.mu held for writing, runs check on the
// result (the VFS's checks: existence, type, EROFS), and makes sure the
// final component's parent dir is in the upper layer, copying it up
// (without FS.mu) and walking again when it is not. On success it returns
// with FS.mu held for writing; the caller unlocks.
func (fsys *FS) lockForChange(name string, follow followMode, check func(r walkResult) error) (walkResult, error) {
	for {
		fsys.pruneIfNeeded()
		fsys.mu.Lock()
		r, err := fsys.walk(name, follow)
		if err == nil {
			err = check(r)
		}
		if err != nil {
			fsys.mu.Unlock()
			return r, err
		}
		if r.parent == nil || r.parent.upper {
			return r, nil
		}
		p := r.parent
		fsys.mu.Unlock()
		if err := fsys.copyUp(p, copyFull); err != nil && err != errStale {
			return r, err
		}
	}
}

// checkCreate is the VFS's check before creating a non-dir at name:
// checkNew, then the caller's write and search permission on the parent
// (may_create).
func (fsys *FS) checkCreate(r walkResult) error {
	if err := fsys.checkNew(r, false); err != nil {
		return err
	}
	return fsys.mayCreate(r.parent)
}

// checkMkdir is checkCreate for mkdir, which takes a trailing slash.
func (fsys *FS) checkMkdir(r walkResult) error {
	if err := fsys.checkNew(r, true); err != nil {
		return err
	}
	return fsys.mayCreate(r.parent)
}

// checkNew: name must not exist, nor end in "/" for a non-dir (a missing
// dir asked for: ENOENT), and the overlay needs an upper, in that order
// (filename_create).
func (fsys *FS) checkNew(r walkResult, dir bool) error {
	if r.parent == nil || r.n.present {
		return syscall.EEXIST
	}
	if r.dirOK && !dir {
		return syscall.ENOENT
	}
	if fsys.upper == nil {
		return syscall.EROFS
	}
	if fsys.upper.hiddenName(r.name) {
		return syscall.EINVAL
	}
	return nil
}

// createObj makes a new object at the negative name r in the upper
// layer, mk creating it at a given upper path. Over an upper
// whiteout, the object is built in the work dir (a dir marked opaque)
// and renamed over the whiteout (a dir is exchanged with it), so the name
// is never missing nor half-made; in the OCI format it is renamed next to
// the ".wh." file, which it shadows at once, and that file is dropped
// last. Callers hold FS.mu for writing and forget the name afterwards.
func (fsys *FS) createObj(r walkResult, isDir bool, mk func(p string) error) error {
	u := fsys.upper
	p := layer.Join(r.parent.path(), r.name)
	if !r.n.upperWh {
		return mk(p)
	}
	if isDir && u.format == formatKernel && !u.caps.Xattr {
		// The dir over a whiteout must be opaque: without xattrs the
		// kernel fails with EIO (ovl_set_opaque), before any change.
		return syscall.EIO
	}
	tmp := u.temp()
	if u.format == formatOCI {
		// Built in the work dir too: the new object shadows the ".wh."
		// file of its name at once, so that is dropped last.
		err := mk(tmp)
		if err == nil && isDir {
			err = u.setOpaque(tmp)
		}
		if err == nil {
			err = u.w.rename(tmp, p)
		}
		if err != nil {
			u.removeAll(tmp, isDir)
			return err
		}
		return u.clearWhiteoutOCI(p)
	}
	if err := mk(tmp); err != nil {
		return err
	}
	if isDir {
		err := u.setOpaque(tmp)
		if err == nil {
			err = u.w.exchange(tmp, p)
		}
		if err != nil {
			u.removeAll(tmp, true)
			return err
		}
		return u.removeAll(tmp, false) // the whiteout, now in the work dir
	}
	if err := u.w.rename(tmp, p); err != nil {
		u.removeAll(tmp, false)
		return err
	}
	return nil
}

func (fsys *FS) mkdir(name string, perm uint32) error {
	r, err := fsys.lockForChange(name, followNever, fsys.checkMkdir)
	if err != nil {
		return err
	}
	defer fsys.mu.Unlock()
	mode := perm &^ fsys.umask &^ (syscall.S_ISUID | syscall.S_ISGID) // as mkdir(2)
	if pa, err := fsys.permAttr(r.parent); err == nil && pa.Mode&syscall.S_ISGID != 0 {
		mode |= syscall.S_ISGID // a new dir in a setgid dir is setgid (inode_init_owner)
	}
	// With redirect_dir=on, index, metacopy or xino in effect the kernel
	// makes every new dir in a merge dir opaque, so that later offline
	// changes to lower layers cannot merge into it.
	strict := fsys.feat.redirectCreate() || fsys.feat.index || fsys.feat.metacopy || fsys.xinoBits > 0
	// The kernel lets that marking fail (it is an optimisation), as it
	// does on an upper without xattrs.
	u := fsys.upper
	opaque := strict && len(r.parent.lowers) > 0 && !r.n.upperWh && (u.format == formatOCI || u.caps.Xattr)
	err = fsys.createObj(r, true, fsys.ownNew(r, func(p string) error {
		if err := fsys.upper.w.mkdir(p, mode); err != nil {
			return err
		}
		if err := fsys.upper.w.chmod(p, mode); err != nil {
			fsys.upper.w.rmdir(p) // a failed mkdir leaves nothing
			return err
		}
		if opaque {
			// An optimisation the kernel lets fail (ovl_create_upper).
			fsys.upper.setOpaque(p)
		}
		return nil
	}))
	fsys.forget(r.parent, r.name)
	return err
}

func (fsys *FS) symlink(target, name string) error {
	r, err := fsys.lockForChange(name, followNever, fsys.checkCreate)
	if err != nil {
		return err
	}
	defer fsys.mu.Unlock()
	if !fsys.upper.caps.Symlink {
		return syscall.EPERM
	}
	err = fsys.createObj(r, false, fsys.ownNew(r, func(p string) error { return fsys.upper.w.symlink(target, p) }))
	fsys.forget(r.parent, r.name)
	return err
}

func (fsys *FS) mknod(name string, mode uint32, dev uint64) error {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFIFO, syscall.S_IFSOCK:
	case 0, syscall.S_IFREG:
		mode |= syscall.S_IFREG
	case syscall.S_IFDIR:
		return syscall.EPERM
	default:
		return syscall.EINVAL
	}
	r, err := fsys.lockForChange(name, followNever, func(r walkResult) error {
		if err := fsys.checkCreate(r); err != nil {
			return err
		}
		switch t := mode & syscall.S_IFMT; {
		case t == syscall.S_IFCHR && dev == 0:
			return syscall.EPERM // a whiteout cannot be made through the overlay
		case (t == syscall.S_IFCHR || t == syscall.S_IFBLK) && !fsys.caller().root():
			return syscall.EPERM // CAP_MKNOD
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer fsys.mu.Unlock()
	m := mode&syscall.S_IFMT | (mode&^syscall.S_IFMT)&^fsys.umask
	err = fsys.createObj(r, false, fsys.ownNew(r, func(p string) error {
		if m&syscall.S_IFMT == syscall.S_IFREG {
			return fsys.upper.createEmpty(p)
		}
		return fsys.upper.w.mknod(p, m, dev)
	}))
	fsys.forget(r.parent, r.name)
	return err
}

// link makes newname a hard link to oldname: the source is copied
// up whole, then linked within the upper layer.
func (fsys *FS) link(oldname, newname string) error {
	for {
		fsys.pruneIfNeeded()
		fsys.mu.Lock()
		// The source is not followed, unless it ends in "/".
		src, err := fsys.walk(oldname, followNo)
		switch {
		case err != nil:
		case !src.n.present:
			err = syscall.ENOENT
		case src.dirOK && !src.n.isDir():
			err = syscall.ENOTDIR
		}
		if err != nil {
			fsys.mu.Unlock()
			return err
		}
		dst, err := fsys.walk(newname, followNever)
		if err == nil {
			err = fsys.checkNew(dst, false)
		}
		if err == nil {
			err = fsys.mayLink(src.n) // before may_create, as in do_linkat
		}
		if err == nil {
			err = fsys.mayCreate(dst.parent)
		}
		if err == nil && src.n.isDir() {
			err = syscall.EPERM
		}
		if err != nil {
			fsys.mu.Unlock()
			return err
		}
		if !src.n.upper || !dst.parent.upper {
			n, p := src.n, dst.parent
			fsys.mu.Unlock()
			if err := fsys.copyUp(n, copyMeta); err != nil && err != errStale {
				return err
			}
			if err := fsys.copyUp(p, copyFull); err != nil && err != errStale {
				return err
			}
			continue
		}
		if !fsys.upper.caps.Hardlink {
			fsys.mu.Unlock()
			return syscall.EPERM
		}
		op := src.n.path()
		if src.n.metacopy {
			// The link keeps its data below: an absolute redirect.
			if err := fsys.setRedirect(src.n, src.name, true, op); err != nil {
				fsys.mu.Unlock()
				return err
			}
		}
		if len(src.n.lowers) > 0 {
			if err := fsys.setImpureAt(dst.parent.path(), true); err != nil {
				fsys.mu.Unlock()
				return err
			}
		}
		err = fsys.createObj(dst, false, func(p string) error { return fsys.upper.w.link(op, p) })
		fsys.forget(dst.parent, dst.name)
		fsys.mu.Unlock()
		return err
	}
}

// unlink removes a non-dir: a name that a lower layer also has
// is replaced by a whiteout, a pure upper name just goes.
func (fsys *FS) unlink(name string) error {
	for {
		r, err := fsys.unlinkLock(name)
		if err != nil {
			return err
		}
		if n := r.n; fsys.copiedBeforeRemoval(n) {
			// The removal of a name of a hard-linked lower file copies it
			// up first, to hold the link count of the others: the
			// first one into the index, a later one as a link to it, so
			// that replacing the link by the whiteout moves the upper
			// inode's count and the union count together, and no crash
			// leaves the count wrong.
			fsys.mu.Unlock()
			if err := fsys.copyUp(n, copyMeta); err != nil && err != errStale {
				return err
			}
			continue
		}
		defer fsys.mu.Unlock()
		return fsys.removeName(r)
	}
}

func (fsys *FS) unlinkLock(name string) (walkResult, error) {
	return fsys.lockForChange(name, followNever, func(r walkResult) error {
		if r.parent == nil {
			return syscall.EISDIR
		}
		if fsys.upper == nil {
			return syscall.EROFS
		}
		switch {
		case !r.n.present:
			return syscall.ENOENT
		case r.dirOK && r.n.isDir():
			return syscall.EISDIR
		case r.dirOK:
			return syscall.ENOTDIR
		}
		if err := fsys.mayDelete(r.parent, r.n); err != nil {
			return err
		}
		if r.n.isDir() {
			return syscall.EISDIR
		}
		return nil
	})
}

// removeName removes the present name r from the overlay, leaving a
// whiteout when a lower layer has the name. Callers hold FS.mu for writing
// with r's parent in the upper layer, and have checked that a dir is
// empty.
func (fsys *FS) removeName(r walkResult) (err error) {
	defer fsys.forget(r.parent, r.name)
	p := layer.Join(r.parent.path(), r.name)
	if r.n.isDir() {
		defer fsys.keepGoneAttr(r.n, p)(&err)
	}
	pos, err := fsys.lowerPositive(r.parent, r.name)
	if err != nil {
		return err
	}
	switch {
	case pos:
		existing := uint32(0)
		if r.n.upper {
			existing = r.n.typ
		}
		err = fsys.upper.whiteout(p, existing)
	case r.n.isDir():
		err = fsys.upper.removeAll(p, true)
	default:
		err = fsys.upper.w.unlink(p)
	}
	if err == nil && fsys.feat.nfsExport && r.n.isDir() && r.n.upper && len(r.n.lowers) > 0 {
		// A copied-up dir is gone: its index entry becomes a whiteout.
		lr := r.n.lowers[0]
		if idx := fsys.indexName(fsys.lowers[lr.layer], lr.path); fsys.upperHas(idx) {
			err = fsys.upper.whiteout(idx, syscall.S_IFDIR)
		}
	}
	if err == nil && r.n.idx != "" {
		// One name fewer for an indexed inode: an upper link went
		// with the name; an uncovered lower name is counted in the xattr.
		d := 0
		if !r.n.upper {
			d = -1
		}
		err = fsys.addNlink(r.n.idx, r.n.lattr.Nlink, d)
	}
	return err
}

// keepGoneAttr, called before dir n at p is removed, returns the func to
// defer over the removal: when the removal succeeded (*err nil) it marks n
// removed (an open handle then lists nothing, IS_DEADDIR) and saves what
// such a handle stats. A lower dir, which stays in its layer, stats as
// before; an upper one as its file system leaves it, unlinked (a merge
// dir's count stays 1, as the overlay shows it). A backend that holds the
// dir across the removal (inodeHolder) tells its size and times; elsewhere
// the dir counts as emptied to size 0. Callers hold FS.mu for writing.
func (fsys *FS) keepGoneAttr(n *node, p string) func(err *error) {
	a, aerr := fsys.nodeAttr(n)
	if !n.upper {
		return func(err *error) {
			if *err == nil && aerr == nil {
				n.gone = &a
			}
		}
	}
	var after func() (layer.Attr, error)
	release := func() {}
	if h, ok := fsys.upper.b.(layer.InodeHolder); ok && aerr == nil {
		if st, rel, err := h.Hold(p); err == nil {
			after, release = st, rel
		}
	}
	return func(err *error) {
		defer release()
		if *err != nil || aerr != nil {
			return
		}
		merge := a.Nlink == 1
		a.Size, a.Nlink = 0, 0
		if after != nil {
			if b, err := after(); err == nil {
				a.Size, a.Nlink = b.Size, b.Nlink
				a.Mtime, a.Ctime = b.Mtime, b.Ctime
			}
		}
		if merge {
			a.Nlink = 1
		}
		n.gone = &a
	}
}

// rmdir removes an empty dir: ENOTEMPTY while any entry is
// visible through the overlay, lower ones included.
func (fsys *FS) rmdir(name string) error {
	r, err := fsys.lockForChange(name, followNever, func(r walkResult) error {
		switch {
		case r.parent == nil:
			return syscall.EBUSY
		case r.last == ".":
			return syscall.EINVAL
		case r.last == "..":
			return syscall.ENOTEMPTY
		case fsys.upper == nil:
			return syscall.EROFS
		case !r.n.present:
			return syscall.ENOENT
		}
		if err := fsys.mayDelete(r.parent, r.n); err != nil {
			return err
		}
		if !r.n.isDir() {
			return syscall.ENOTDIR
		}
		// A pure upper dir goes by a plain rmdir(2), so whiteouts in it
		// count as entries; any other is checked with whiteouts hidden,
		// and they are cleaned up with it (ovl_do_remove).
		pos, err := fsys.lowerPositive(r.parent, r.name)
		if err != nil {
			return err
		}
		return fsys.checkEmpty(r.n, pos)
	})
	if err != nil {
		return err
	}
	if fsys.copiedBeforeRemoval(r.n) {
		fsys.mu.Unlock()
		if err := fsys.copyUp(r.n, copyMeta); err != nil && err != errStale {
			return err
		}
		return fsys.rmdir(name) // looked up and checked again
	}
	defer fsys.mu.Unlock()
	if r.n.upper && fsys.needsOpaqueClear(layer.Join(r.parent.path(), r.name)) {
		return syscall.EIO
	}
	return fsys.removeName(r)
}

// needsOpaqueClear reports whether removing or replacing the upper dir p
// would need what the kernel cannot do on an upper without xattrs: p
// holds whiteouts, which the kernel clears by swapping in an opaque empty
// copy (ovl_clear_empty), failing with EIO when the opaque xattr cannot
// be set. Callers hold FS.mu.
func (fsys *FS) needsOpaqueClear(p string) bool {
	u := fsys.upper
	if u.format != formatKernel || u.caps.Xattr {
		return false
	}
	ents, err := u.b.ReadDir(p)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Type != 0 && e.Type != syscall.S_IFCHR {
			continue
		}
		if o, _ := u.probe(layer.Join(p, e.Name), false); o.Kind == ondisk.Whiteout {
			return true
		}
	}
	return false
}

// checkEmpty returns ENOTEMPTY when dir n shows any entry, whiteouts
// hidden when filter is set or the dir is not pure upper. Callers hold
// FS.mu.
func (fsys *FS) checkEmpty(n *node, filter bool) error {
	ents, err := fsys.listNode(n, filter)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return syscall.ENOTEMPTY
	}
	return nil
}
