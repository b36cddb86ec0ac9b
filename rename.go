package overlay

import (
	"slices"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// rename moves oldname to newname with rename(2)'s rules and the
// overlay's: the VFS checks first (ENOENT, EINVAL for a move into
// its own subtree, ENOTDIR/EISDIR for mismatched types), then EXDEV for a
// dir that a lower layer has (redirect_dir is not on), then ENOTEMPTY for
// a target dir that shows entries. The source, and both parents, are
// copied up; a source name that a lower layer has gets a whiteout.
func (fsys *FS) rename(oldname, newname string) error {
	for {
		fsys.pruneIfNeeded()
		fsys.mu.Lock()
		src, dst, err := fsys.renameCheck(oldname, newname)
		if err != nil || src.n == dst.n {
			fsys.mu.Unlock()
			return err
		}
		var need []*node
		for _, n := range []*node{src.n, src.parent, dst.parent} {
			if !n.upper {
				need = append(need, n)
			}
		}
		if dst.n.present && fsys.copiedBeforeRemoval(dst.n) {
			// Renaming over a name of a hard-linked lower file: copy it up
			// first, so the others keep their count; with
			// nfs_export, over any lower object.
			need = append(need, dst.n)
		}
		if len(need) > 0 {
			fsys.mu.Unlock()
			for _, n := range need {
				if err := fsys.copyUp(n, copyMeta); err != nil && err != errStale {
					return err
				}
			}
			continue
		}
		err = fsys.renameLocked(src, dst)
		if err == nil && dst.n.present && dst.n.idx != "" && dst.n.idx != src.n.idx {
			err = fsys.dropIndexIfUnused(dst.n.idx, dst.n.lattr.Nlink) // it lost a link
		}
		if err == nil && !src.n.isDir() && len(src.n.lowers) > 0 {
			// The moved object keeps its origin (and a metacopy file its
			// data), which a lookup by name under the new name would not
			// find.
			fsys.adopt(dst.parent, dst.name, src.n)
		} else if err == nil {
			// Open files follow the object to its new name.
			if c, cerr := fsys.child(dst.parent, dst.name); cerr == nil && c.present {
				src.n.moved = c
			}
		}
		fsys.mu.Unlock()
		return err
	}
}

// renameCheck walks both names and applies the checks that come before
// any change. Callers hold FS.mu for writing.
func (fsys *FS) renameCheck(oldname, newname string) (src, dst walkResult, err error) {
	// The order of do_renameat2: both parents, the names' kinds (EBUSY),
	// a read-only overlay, then the old name (ENOENT when absent) and only
	// then the new name.
	var ps [2]walkResult
	for i, name := range []string{oldname, newname} {
		if ps[i], err = fsys.walk(name, parentOnly); err != nil {
			return
		}
	}
	for _, p := range ps {
		if p.parent == nil || p.last == "." || p.last == ".." {
			return src, dst, syscall.EBUSY // the root, "." or ".."
		}
	}
	if fsys.upper == nil {
		return src, dst, syscall.EROFS
	}
	if src, err = fsys.walk(oldname, followNever); err != nil {
		return
	}
	if !src.n.present {
		return src, dst, syscall.ENOENT
	}
	if dst, err = fsys.walk(newname, followNever); err != nil {
		return
	}
	if fsys.upper.hiddenName(dst.name) {
		return src, dst, syscall.EINVAL
	}
	if !src.n.isDir() && (src.dirOK || dst.dirOK) {
		return src, dst, syscall.ENOTDIR
	}
	if src.n == dst.n {
		return src, dst, nil
	}
	if src.n.isDir() {
		for p := dst.parent; p != nil; p = p.parent {
			if p == src.n {
				return src, dst, syscall.EINVAL // into its own subtree
			}
		}
	}
	for p := src.parent; p != nil; p = p.parent {
		if p == dst.n {
			return src, dst, syscall.ENOTEMPTY // over an ancestor of the source
		}
	}
	if dst.n.present && fsys.sameIndexedInode(src.n, dst.n) {
		// Two names of one hard-linked lower file: with index=on they
		// are one overlay inode, and rename(2) does nothing.
		return src, src, nil
	}
	if dst.n.present && src.n.upper && dst.n.upper && !src.n.isDir() {
		// Two names of one upper inode, which are one overlay inode:
		// rename(2) does nothing, before any permission check.
		sa, err1 := fsys.upper.b.Lstat(src.n.path())
		da, err2 := fsys.upper.b.Lstat(dst.n.path())
		if err1 == nil && err2 == nil && sa.Ino == da.Ino && sa.Dev == da.Dev {
			return src, src, nil
		}
	}
	if err := fsys.mayRename(src, dst); err != nil {
		return src, dst, err
	}
	if dst.n.present {
		switch {
		case src.n.isDir() && !dst.n.isDir():
			return src, dst, syscall.ENOTDIR
		case !src.n.isDir() && dst.n.isDir():
			return src, dst, syscall.EISDIR
		}
	}
	if src.n.isDir() && len(src.n.lowers) > 0 && !fsys.feat.redirectCreate() {
		return src, dst, syscall.EXDEV // redirect_dir is not on
	}
	if dst.n.present && dst.n.isDir() && (len(dst.n.lowers) > 0 || fsys.upper.format == formatOCI) {
		// A pure upper target is left to rename(2) itself, after the
		// source is marked opaque, as ovl_rename does; in the OCI format
		// even a pure upper dir may hold marker files, so it is checked
		// here and emptied below.
		if err := fsys.checkEmpty(dst.n, true); err != nil {
			return src, dst, err
		}
	}
	return src, dst, nil
}

// renameLocked does the move in the upper layer; everything it touches is
// already there. Callers hold FS.mu for writing.
func (fsys *FS) renameLocked(src, dst walkResult) error {
	u := fsys.upper
	defer fsys.forget(src.parent, src.name)
	defer fsys.forget(dst.parent, dst.name)
	sp := layer.Join(src.parent.path(), src.name)
	dp := layer.Join(dst.parent.path(), dst.name)
	srcPos, err := fsys.lowerPositive(src.parent, src.name)
	if err != nil {
		return err
	}
	isDir := src.n.isDir()
	// What the kernel's ovl_rename cannot do on an upper without xattrs
	// or RENAME_WHITEOUT fails before any change: a target dir holding
	// whiteouts would be swapped for an opaque copy (EIO), and a source
	// name a lower layer has is renamed with RENAME_WHITEOUT (EINVAL).
	if dst.n.present && dst.n.isDir() && dst.n.upper && fsys.needsOpaqueClear(dp) {
		return syscall.EIO
	}
	if srcPos && !dst.n.upperWh && fsys.noRenameWhiteout {
		return syscall.EINVAL
	}
	if (len(src.n.lowers) > 0 || src.n.lowerBorn) && src.parent != dst.parent {
		// The new parent will hold an entry with an origin.
		if err := fsys.setImpureAt(dst.parent.path(), true); err != nil {
			return err
		}
	}
	if isDir && len(src.n.lowers) > 0 || src.n.metacopy {
		// A dir that lower layers have keeps them through a redirect
		//, and a metacopy file its data; without redirect_dir=on
		// the move of such a dir is EXDEV (checked before).
		abs := src.n.metacopy && src.n.lattr.Nlink > 1
		if err := fsys.setRedirect(src.n, src.name, src.parent != dst.parent || abs, sp); err != nil {
			return err
		}
	} else if isDir && len(dst.parent.lowers) > 0 && !src.n.opaque {
		// A pure upper dir moved into a merge dir must not merge with
		// lower dirs of its new name.
		if err := u.setOpaque(sp); err != nil {
			return syscall.EXDEV
		}
		src.n.opaque = true
	}
	dpType := uint32(0)
	if dst.n.present && dst.n.upper {
		dpType = dst.n.typ
	}
	if dpType == syscall.S_IFDIR && (len(dst.n.lowers) > 0 || u.format == formatOCI) {
		// A merge target shows no entries but may hold whiteouts: swap
		// it for an empty opaque dir first, so rename(2) can replace it.
		// In the OCI format, with no exchange, it is whited out (moved
		// into the work dir in one step), and the source lands next to
		// its ".wh." file, dropped after.
		if u.format == formatOCI && u.caps.WorkArea {
			if err := u.whiteout(dp, syscall.S_IFDIR); err != nil {
				return err
			}
			dpType = 0
		} else if err := u.clearEmpty(dp); err != nil {
			return err
		}
	}
	if dst.n.upperWh {
		if u.format == formatKernel && isDir {
			// A dir cannot be renamed over the char device: swap them,
			// then the source name holds the whiteout.
			if err := u.w.exchange(sp, dp); err != nil {
				return err
			}
			if !srcPos {
				return u.w.unlink(sp)
			}
			return nil
		}
		if u.format == formatOCI {
			if srcPos {
				return u.renameWhiteout(sp, dp, 0)
			}
			if err := u.w.rename(sp, dp); err != nil {
				return err
			}
			return u.clearWhiteoutOCI(dp)
		}
		if srcPos {
			// Swap with the whiteout: the source name gets it.
			return u.w.exchange(sp, dp)
		}
	}
	if srcPos {
		// The move and the source's whiteout in one step.
		return u.renameWhiteout(sp, dp, dpType)
	}
	if err := u.w.rename(sp, dp); err != nil {
		return err
	}
	if u.format == formatOCI {
		return u.clearWhiteoutOCI(dp)
	}
	return nil
}

// redirectMax is the longest redirect the kernel writes: its module
// parameter redirect_max (default 256, fs/overlayfs/params.c); a longer
// one makes the rename fail with EXDEV.
const redirectMax = 256

// setRedirect stores on the upper object n at sp (named name) the
// redirect that keeps its lower dirs merged, or a metacopy file's data
// found, under a new name (ovl_set_redirect): relative (its current
// name), or absolute from the root when asked, built of each ancestor's
// name or redirect; an existing one is kept when it still fits. Failure is EXDEV, which makes mv(1) copy instead. Callers hold
// FS.mu for writing.
func (fsys *FS) setRedirect(n *node, name string, absolute bool, sp string) error {
	old := n.redirect
	if old != "" && (!absolute || old[0] == '/') {
		return nil
	}
	value := name
	if absolute {
		var parts []string
		for d := n; d.parent != nil; d = d.parent {
			name := d.name
			if d.redirect != "" {
				name = d.redirect
			}
			if name[0] == '/' {
				parts = append(parts, name[1:])
				break
			}
			parts = append(parts, name)
		}
		slices.Reverse(parts)
		value = "/" + strings.Join(parts, "/")
	}
	if len(value) > redirectMax {
		return syscall.EXDEV
	}
	u := fsys.upper
	if !u.xattrMarkers() {
		return syscall.EXDEV
	}
	if err := u.w.setxattr(sp, fsys.prefix+ondisk.XRedirect, []byte(value)); err != nil {
		return syscall.EXDEV
	}
	n.redirect = value
	return nil
}

// adopt caches, as the child name of parent, an upper non-dir that was
// n (just renamed there), with n's origin. Callers hold FS.mu for writing.
func (fsys *FS) adopt(parent *node, name string, n *node) {
	c := &node{parent: parent, name: name, present: true, upper: true, typ: n.typ, lowers: n.lowers, lattr: n.lattr,
		metacopy: n.metacopy, data: n.data, dattr: n.dattr, redirect: n.redirect,
		digest: n.digest, digestAlg: n.digestAlg, idx: n.idx}
	parent.mu.Lock()
	if parent.children == nil {
		parent.children = make(map[string]*node)
	}
	if old := parent.children[name]; old != nil {
		old.dead = true
	}
	parent.children[name] = c
	parent.mu.Unlock()
	n.moved = c
}

// sameIndexedInode reports whether a and b are names of one hard-linked
// lower file under index=on. Callers hold FS.mu.
func (fsys *FS) sameIndexedInode(a, b *node) bool {
	return fsys.indexed(a) && fsys.indexed(b) && a.lattr.Nlink > 1 &&
		a.lattr.Ino == b.lattr.Ino && a.lattr.Dev == b.lattr.Dev
}
