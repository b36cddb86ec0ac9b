package overlay

import (
	"bytes"
	"errors"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// Metacopy: with metacopy=on a metadata change of a lower
// regular file (chmod, chown, utimes, xattrs, rename, link) copies up its
// metadata only: an upper file of the full size without data blocks,
// marked with the metacopy xattr; its data is read from the lower file
// until an open for writing, O_TRUNC or truncate copies the data in. The
// data may also live in a data-only layer, reached through an absolute
// redirect.

// findData looks below a metacopy object for its data: the first regular
// file that is not itself metacopy, in stack from index i on, under want
// (or the absolute path want when abs), following the redirects of
// intermediate metacopy files; then, for an absolute path, in the
// data-only layers. No data is EIO; a non-regular object where data should
// be ends the search the same way. Callers hold FS.mu.
func (fsys *FS) findData(c *node, stack []lowerRef, i int, want string, abs bool) error {
	for ; i < len(stack); i++ {
		lr := stack[i]
		o, p, stopBelow, err := fsys.probeLower(lr, want, abs, lr.layer == fsys.bottom)
		if err != nil {
			return err
		}
		if stopBelow && o.Kind != ondisk.Present {
			return syscall.EIO
		}
		if stopBelow {
			stack = stack[:i+1]
		}
		if o.Kind == ondisk.Present && len(c.lowers) == 0 {
			// The object below an upper metacopy file is its origin.
			c.lowers, c.lattr = []lowerRef{{layer: lr.layer, path: p}}, o.Attr
		}
		switch {
		case o.Kind == ondisk.Absent:
			continue
		case o.Kind == ondisk.Whiteout || !o.Attr.IsReg():
			return syscall.EIO
		case !o.Metacopy:
			c.data, c.dattr = lowerRef{layer: lr.layer, path: p}, o.Attr
			return nil
		}
		if o.Redirect != "" {
			stack, want, abs = fsys.followRedirect(o.Redirect, lr.layer, stack, want, abs)
			if o.Redirect[0] == '/' {
				i = -1 // the new stack from its top
			}
		}
	}
	if fsys.bottom == len(fsys.lowers)-1 {
		return syscall.EIO // no data-only layers: metacopy without data
	}
	if !abs {
		return syscall.EPERM // data layers are reached by absolute redirects only
	}
	// The data-only layers are searched lazily, at the first open.
	c.data = lowerRef{layer: lazyData, path: want}
	return nil
}

// lazyData marks a data file still to be looked up in the data-only
// layers, under data.path.
const lazyData = -1

// resolveData looks up the data file of n in the data-only layers: the
// first regular file at the path, never following symlinks (ENOENT when
// there is none). Callers hold FS.mu.
func (fsys *FS) resolveData(n *node) (lowerRef, layer.Attr, error) {
	if n.data.layer != lazyData {
		return n.data, n.dattr, nil
	}
	for l := fsys.bottom + 1; l < len(fsys.lowers); l++ {
		o, err := fsys.lowers[l].probe(n.data.path, true)
		if err != nil {
			return lowerRef{}, layer.Attr{}, err
		}
		if o.Kind == ondisk.Present && o.Attr.IsReg() && !o.Metacopy {
			return lowerRef{layer: l, path: n.data.path}, o.Attr, nil
		}
	}
	return lowerRef{}, layer.Attr{}, syscall.ENOENT
}

// metacopyAllowed is whether metacopy files may be followed: with
// metacopy=on, or when data-only layers exist. Meeting one otherwise
// is EPERM ("refusing to follow metacopy origin").
func (fsys *FS) metacopyAllowed() bool {
	return fsys.feat.metacopy || fsys.bottom < len(fsys.lowers)-1
}

// dataRef is where the data of n is read from: the upper object, or for
// a metacopy object its data file, else its lower object. Callers hold
// FS.mu.
func (fsys *FS) dataRef(n *node) (br *branch, p string, upper bool, err error) {
	switch {
	case n.upper && !n.metacopy:
		return fsys.upper, n.path(), true, nil
	case !n.upper && n.idx != "" && !fsys.upper.hasXattr(n.idx, ondisk.XMetacopy):
		return fsys.upper, n.idx, true, nil // the index entry is its upper inode
	case n.upper && !fsys.upper.hasXattr(n.path(), ondisk.XMetacopy):
		// Its data was copied in through another name of the same upper
		// inode (a hard link).
		return fsys.upper, n.path(), true, nil
	case n.metacopy:
		d, _, err := fsys.resolveData(n)
		if err != nil {
			return nil, "", false, err
		}
		if err := fsys.checkVerity(n, fsys.lowers[d.layer], d.path); err != nil {
			return nil, "", false, err
		}
		return fsys.lowers[d.layer], d.path, false, nil
	}
	lr := n.lowers[0]
	return fsys.lowers[lr.layer], lr.path, false, nil
}

// copyUpData completes the copy-up of an upper metacopy file n: its data
// is copied into the upper file in place (skipped with keep false, for
// O_TRUNC), synced, and the metacopy xattr removed, so a crash
// leaves the file metacopy with its data below. Serialised by n.cu;
// FS.mu is not held while data is copied (an open file does not care
// about renames). Callers hold no FS lock.
func (fsys *FS) copyUpData(n *node, keep bool) error {
	n.cu.Lock()
	defer n.cu.Unlock()
	fsys.mu.RLock()
	if n.stale() {
		fsys.mu.RUnlock()
		return errStale
	}
	if !n.upper || !n.metacopy {
		fsys.mu.RUnlock()
		return nil
	}
	src, sp, up, err := fsys.dataRef(n)
	if err != nil {
		fsys.mu.RUnlock()
		return err
	}
	_, da, err := fsys.resolveData(n) // the data file's size (a lazy one was not known)
	if err != nil {
		fsys.mu.RUnlock()
		return err
	}
	if up {
		// Another name of the same upper inode already copied the data:
		// copying again would overwrite what was written since.
		fsys.mu.RUnlock()
		fsys.mu.Lock()
		n.metacopy = false
		fsys.mu.Unlock()
		return nil
	}
	size := da.Size
	out, err := fsys.upper.w.open(n.path(), syscall.O_WRONLY, 0)
	fsys.mu.RUnlock()
	if err != nil {
		return err
	}
	if keep && size > 0 {
		err = fsys.copyInto(out, src, sp, size)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if n.stale() {
		return errStale
	}
	if err := fsys.upper.w.removexattr(n.path(), fsys.prefix+ondisk.XMetacopy); err != nil && !errors.Is(err, layer.ErrNoData) {
		return err
	}
	n.metacopy = false
	n.upperGen++
	return nil
}

// metacopyValue is the metacopy xattr for a metadata-only copy-up of a
// file whose data is size bytes at sp of src: empty, or with verity=on or
// require the data's fs-verity digest (struct ovl_metacopy), which
// the library computes itself where the kernel would ask the filesystem.
func (fsys *FS) metacopyValue(src *branch, sp string, size int64) ([]byte, error) {
	if fsys.feat.verity != VerityOn && fsys.feat.verity != VerityRequire {
		return []byte{}, nil
	}
	d, err := fsys.fileDigest(src, sp, size, verityAlgSHA256)
	if err != nil {
		return nil, err
	}
	return ondisk.FormatMetacopy(ondisk.Metacopy{DigestAlg: verityAlgSHA256, Digest: d}), nil
}

func (fsys *FS) fileDigest(src *branch, sp string, size int64, alg uint8) ([]byte, error) {
	f, err := src.b.OpenRead(sp, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return verityDigest(f, size, alg)
}

// checkVerity verifies, before a metacopy file's data is used, the
// digest its metacopy xattr carries (verity=on and require), and refuses
// one without (require), with EIO as the kernel's ovl_validate_verity.
// A node is verified once. Callers hold FS.mu.
func (fsys *FS) checkVerity(n *node, src *branch, sp string) error {
	if fsys.feat.verity != VerityOn && fsys.feat.verity != VerityRequire || n.verified.Load() {
		return nil
	}
	if n.digestAlg == 0 {
		if fsys.feat.verity == VerityRequire {
			return syscall.EIO
		}
		return nil
	}
	if n.digestAlg != verityAlgSHA256 && n.digestAlg != verityAlgSHA512 {
		return syscall.EIO
	}
	a, err := src.b.Lstat(sp)
	if err != nil {
		return err
	}
	d, err := fsys.fileDigest(src, sp, a.Size, n.digestAlg)
	if err != nil {
		return err
	}
	if !bytes.Equal(d, n.digest) {
		return syscall.EIO
	}
	n.verified.Store(true)
	return nil
}
