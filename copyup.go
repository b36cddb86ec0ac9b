package overlay

import (
	"errors"
	"io"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/native"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// copyChunk is the unit of the data copy: the kernel splices 1 MiB at a
// time (OVL_COPY_UP_CHUNK_SIZE in fs/overlayfs/copy_up.c).
const copyChunk = 1 << 20

// errStale reports that a node was dropped from the cache while an
// operation had let go of FS.mu; the operation walks again.
var errStale = errors.New("overlay: stale node")

// copyMode is how much of an object a copy-up copies.
type copyMode uint8

const (
	copyFull  copyMode = iota // everything
	copyTrunc                 // a regular file's data is skipped (open with O_TRUNC)
	copyMeta                  // metadata only, with metacopy=on; else as copyFull
)

// copyUp makes n exist in the upper layer, ancestors first. The copy is
// built in the work dir — data, xattrs, mode, owner, times — and appears
// under its name by one atomic rename, so a crash never exposes a partial
// object. With copyTrunc (an open with O_TRUNC) a regular file is copied
// as empty, and with copyMeta (metacopy=on) without its data, as the
// kernel does.
//
// Copy-up of one node is serialised by node.cu and re-checked under it,
// so concurrent callers copy once; FS.mu is held only for the final
// rename, never while data is copied. Callers hold no FS lock. It returns
// errStale when n was dropped from the cache meanwhile.
func (fsys *FS) copyUp(n *node, mode copyMode) error {
	if fsys.upper == nil {
		return syscall.EROFS
	}
	fsys.mu.RLock()
	done, stale, parent := n.upper, n.stale(), n.parent
	fsys.mu.RUnlock()
	if stale {
		return errStale
	}
	if done {
		return nil
	}
	if parent != nil {
		if err := fsys.copyUp(parent, copyFull); err != nil {
			return err
		}
	}

	n.cu.Lock()
	defer n.cu.Unlock()
	fsys.mu.RLock()
	done, stale = n.upper, n.stale()
	src := n.lowers
	a := n.lattr
	var dataFrom *branch
	var dataPath string
	var derr error
	if n.metacopy {
		var d lowerRef
		if d, _, derr = fsys.resolveData(n); derr == nil {
			dataFrom, dataPath = fsys.lowers[d.layer], d.path
			if mode != copyMeta {
				derr = fsys.checkVerity(n, dataFrom, dataPath)
			}
		}
	}
	fsys.mu.RUnlock()
	if derr != nil && mode != copyMeta {
		return derr
	}
	if stale {
		return errStale
	}
	if done {
		return nil
	}
	if len(src) == 0 {
		return syscall.ENOENT
	}
	lr := src[0]
	lower := fsys.lowers[lr.layer]
	if dataFrom == nil {
		dataFrom, dataPath = lower, lr.path
	}
	if mode == copyMeta && (!fsys.feat.metacopy || !a.IsReg()) {
		mode = copyFull
	}
	fsys.mu.RLock()
	indexed, idx := fsys.indexed(n), n.idx
	fsys.mu.RUnlock()
	if indexed {
		// Hard links of the lower file share one upper inode, the index
		// entry: the first name copies into it, later ones link to it.
		if idx == "" {
			idx = fsys.indexName(lower, lr.path)
		}
		if fsys.upperHas(idx) {
			if err := fsys.setImpure(parent); err != nil {
				return err
			}
			return fsys.finishCopyUp(n, "", idx, a, mode, lr, nil)
		}
	}

	if err := fsys.setImpure(parent); err != nil {
		return err
	}
	tmp := fsys.upper.temp()
	var mval []byte
	if mode == copyMeta {
		var err error
		if mval, err = fsys.metacopyValue(dataFrom, dataPath, a.Size); err != nil {
			return err
		}
	}
	err := fsys.buildCopy(lower, lr.path, a, tmp, mode, dataFrom, dataPath, mval)
	if err == nil && fsys.feat.fsync == FsyncStrict && (a.IsDir() || a.IsReg()) {
		err = fsys.syncObject(tmp) // its metadata too, before it appears
	}
	if err != nil {
		fsys.upper.removeAll(tmp, a.IsDir())
		return err
	}

	if indexed {
		return fsys.finishCopyUp(n, tmp, idx, a, mode, lr, mval)
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if n.stale() || !n.parent.upper {
		fsys.upper.removeAll(tmp, a.IsDir())
		return errStale
	}
	parentPath := n.parent.path()
	pa, perr := fsys.upper.b.Lstat(parentPath)
	if err := fsys.upper.w.rename(tmp, layer.Join(parentPath, n.name)); err != nil {
		fsys.upper.removeAll(tmp, a.IsDir())
		return err
	}
	if perr == nil {
		// The kernel restores the parent's times after the copy-up.
		fsys.upper.w.lutimes(parentPath, pa.Atime, pa.Mtime)
	}
	n.upper = true
	n.upperGen++
	if !a.IsDir() && mode != copyMeta && !fsys.upper.hasXattr(layer.Join(parentPath, n.name), ondisk.XOrigin) {
		// No origin could be recorded (a hard-linked lower file without
		// index, a symlink with userxattr): it is the upper's own inode now.
		n.lowers, n.lowerBorn = nil, n.lattr.Nlink == 1
	}
	if a.IsDir() && fsys.feat.nfsExport {
		// The dir's index entry, once the dir is in place: made
		// before, as the kernel does, a crash in between would leave an
		// entry naming a dir that the work dir's cleanup removes, and
		// the lower dir would then fail to look up (EIO).
		if err := fsys.indexDirEntry(lower, lr.path, layer.Join(parentPath, n.name)); err != nil {
			return err
		}
		n.dirIndexed = true
	}
	fsys.setCopiedData(n, mode == copyMeta, lr, a, mval)
	if a.IsDir() {
		n.whiteouts = true
	}
	return nil
}

// buildCopy makes the copy of the lower object at lp in the work area at
// tmp: the object, its data, its xattrs (the overlay's private ones
// excepted), then mode, owner and times, in the kernel's order (step
// 6): the data first, so that writing it cannot strip security xattrs or
// setuid bits set afterwards, then the owner, then the mode.
func (fsys *FS) buildCopy(lower *branch, lp string, a layer.Attr, tmp string, mode copyMode, dataFrom *branch, dataPath string, mval []byte) error {
	u := fsys.upper.w
	switch a.Type() {
	case syscall.S_IFDIR:
		if err := u.mkdir(tmp, 0o700); err != nil {
			return err
		}
	case syscall.S_IFREG:
		if err := fsys.copyData(dataFrom, dataPath, a, tmp, mode); err != nil {
			return err
		}
	case syscall.S_IFLNK:
		target, err := lower.b.Readlink(lp)
		if err != nil {
			return err
		}
		if err := u.symlink(target, tmp); err != nil {
			return err
		}
	default:
		if err := u.mknod(tmp, a.Mode, a.Rdev); err != nil {
			return err
		}
	}
	if err := fsys.copyXattrs(lower, lp, tmp); err != nil {
		return err
	}
	indexed := fsys.feat.index && !a.IsDir() && (a.Nlink > 1 || fsys.feat.nfsExport)
	if indexed {
		// The union link count, every lower name, relative to the lower
		// file's count: true whether or not the first name is
		// linked to the entry yet, so a crash between the two steps
		// keeps it right. finishCopyUp makes it relative to the upper
		// inode's count afterwards, as the kernel leaves it.
		if err := u.setxattr(tmp, fsys.prefix+ondisk.XNlink, []byte("L+0")); err != nil {
			return err
		}
	}
	if fsys.upper.xattrMarkers() && (a.IsDir() || a.Nlink == 1 || indexed) {
		// The origin names the lower object; a hard-linked lower
		// file gets none, its links broken as index is off.
		// Best effort where the upper refuses it, as the kernel's copy-up
		// goes on (user.* xattrs cannot go on symlinks, with userxattr).
		err := u.setxattr(tmp, fsys.prefix+ondisk.XOrigin, fsys.originOf(lower, lp))
		if err != nil && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EOPNOTSUPP) {
			return err
		}
	}
	if mode == copyMeta {
		// Metadata only: the data stays below.
		if err := u.setxattr(tmp, fsys.prefix+ondisk.XMetacopy, mval); err != nil {
			return err
		}
	}
	// Owner before mode: a chown(2) clears setuid and setgid, which the
	// kernel's notify_change during copy-up does not.
	if err := u.lchown(tmp, int(a.Uid), int(a.Gid)); err != nil && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EOPNOTSUPP) {
		return err
	}
	if !a.IsLink() {
		if err := u.chmod(tmp, a.Perm()); err != nil {
			return err
		}
	}
	if a.IsLink() && fsys.upper.format == formatOCI {
		return nil // afero cannot set a symlink's own times
	}
	return u.lutimes(tmp, a.Atime, a.Mtime)
}

// copyData copies a regular file's bytes into a new file at tmp, 1 MiB at a
// time, and syncs it unless fsync=volatile (the kernel's fsync=auto syncs
// data copy-ups before linking them into place).
func (fsys *FS) copyData(lower *branch, lp string, a layer.Attr, tmp string, mode copyMode) (err error) {
	out, err := fsys.upper.w.open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	switch {
	case mode == copyMeta:
		return out.Truncate(a.Size) // full size, no data blocks
	case mode == copyTrunc || a.Size == 0:
		return nil
	}
	return fsys.copyInto(out, lower, lp, a.Size)
}

// copyInto copies size bytes of the file at sp of src into out (cloned
// where the backends can, else through a buffer) and syncs them unless
// fsync=volatile, before the copy is linked into place.
func (fsys *FS) copyInto(out layer.File, src *branch, sp string, size int64) error {
	in, err := src.b.OpenRead(sp, syscall.O_RDONLY)
	if err != nil {
		return err
	}
	defer in.Close()
	how, err := native.CopyData(out, in, size)
	if err != nil {
		return err
	}
	if how == native.NotCopied {
		err = bufferedCopy(out, in, size)
	}
	// A whole-file clone writes no data, and the kernel skips the sync
	// after one (ovl_copy_up_file).
	if err == nil && how != native.Cloned && fsys.feat.fsync != FsyncVolatile {
		err = out.Sync()
	}
	return err
}

// bufferedCopy copies size bytes from in to out through a buffer, 1 MiB
// at a time, leaving a hole for every chunk of zeros.
func bufferedCopy(out, in layer.File, size int64) error {
	buf := make([]byte, copyChunk)
	var off int64
	for off < size {
		n, rerr := in.ReadAt(buf, off)
		if n > 0 {
			if allZero(buf[:n]) && off+int64(n) < size {
				// Leave a hole, as the kernel's SEEK_DATA skipping does;
				// the final chunk is always written so the size is right.
				off += int64(n)
				continue
			}
			if _, werr := out.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if off < size {
		return out.Truncate(size)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// copyXattrs copies the xattrs of the lower object to tmp, except the
// overlay's private ones (escaped ones, P+"overlay.*", are copied as they
// are). EOPNOTSUPP from the upper is ignored, as the kernel ignores it for
// everything but ACLs and security xattrs.
func (fsys *FS) copyXattrs(lower *branch, lp, tmp string) error {
	if !lower.caps.Xattr {
		return nil
	}
	names, err := lower.b.Listxattr(lp)
	if err != nil {
		if errors.Is(err, syscall.EOPNOTSUPP) {
			return nil
		}
		return err
	}
	for _, name := range names {
		if fsys.isPrivate(name) {
			continue
		}
		v, err := lower.b.Getxattr(lp, name)
		if err != nil {
			if errors.Is(err, layer.ErrNoData) {
				continue
			}
			return err
		}
		if err := fsys.upper.w.setxattr(tmp, name, v); err != nil {
			if errors.Is(err, syscall.EOPNOTSUPP) && !strings.HasPrefix(name, "security.") && !strings.HasPrefix(name, "system.posix_acl") {
				continue
			}
			return err
		}
	}
	return nil
}

// setImpure marks the upper dir n impure: it may hold entries with
// an origin, whose inode numbers readdir must translate. The kernel sets
// it on the parent before every copy-up and on the new parent of a
// rename or link of an object with an origin. Callers hold no FS lock
// (for a copy-up) or hold it; the xattr write is idempotent.
func (fsys *FS) setImpure(n *node) error {
	u := fsys.upper
	if n == nil || !u.xattrMarkers() {
		return nil
	}
	fsys.mu.RLock()
	p, up := n.path(), n.upper
	fsys.mu.RUnlock()
	return fsys.setImpureAt(p, up)
}

func (fsys *FS) setImpureAt(p string, up bool) error {
	u := fsys.upper
	if !up || !u.xattrMarkers() {
		return nil
	}
	if v, err := u.b.Getxattr(p, fsys.prefix+ondisk.XImpure); err == nil && string(v) == "y" {
		return nil
	}
	return u.w.setxattr(p, fsys.prefix+ondisk.XImpure, []byte("y"))
}

// syncObject fsyncs the upper object at p (a file or a dir).
func (fsys *FS) syncObject(p string) error {
	f, err := fsys.upper.b.OpenRead(p, syscall.O_RDONLY)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// setCopiedData records where the data of n, just copied up, lives: in
// its upper file, or with meta (a metadata-only copy) still below, in the
// lower file lr of attributes a (unless a data file is known already);
// mval is the metacopy xattr written. Callers hold FS.mu for writing.
func (fsys *FS) setCopiedData(n *node, meta bool, lr lowerRef, a layer.Attr, mval []byte) {
	if !meta {
		n.metacopy = false
		return
	}
	if !n.metacopy {
		n.data, n.dattr = lr, a // the data is the lower file's own
	}
	n.metacopy = true
	if m, err := ondisk.ParseMetacopy(mval); err == nil && m.DigestAlg != 0 {
		n.digestAlg, n.digest = m.DigestAlg, m.Digest
		n.verified.Store(true) // computed from the data just now
	}
}

// finishCopyUp puts an indexed copy in place: the new copy tmp (when not
// empty) becomes the index entry idx, then n's name is linked to the
// entry, and the parent's times are put back as they were (ovl_link_up).
// With metacopy=on the entry may hold metadata only (copied so, mode
// copyMeta, or by an earlier name): n's data then stays in the lower
// file lr until a write copies it into the entry. Callers hold n.cu and
// no FS lock.
func (fsys *FS) finishCopyUp(n *node, tmp, idx string, a layer.Attr, mode copyMode, lr lowerRef, mval []byte) error {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if n.stale() || !n.parent.upper {
		if tmp != "" {
			fsys.upper.removeAll(tmp, false)
		}
		return errStale
	}
	parentPath := n.parent.path()
	p := layer.Join(parentPath, n.name)
	pa, perr := fsys.upper.b.Lstat(parentPath)
	if tmp != "" {
		if err := fsys.upper.w.rename(tmp, idx); err != nil {
			fsys.upper.removeAll(tmp, false)
			return err
		}
		if err := fsys.upper.w.link(idx, p); err != nil {
			return err
		}
		// Every lower name, one of them now upper and the index link not
		// counted.
		if err := fsys.upper.w.setxattr(idx, fsys.prefix+ondisk.XNlink, ondisk.FormatNlink('U', int64(a.Nlink)-2)); err != nil {
			return err
		}
		// The other names of the inode, cached without an index entry,
		// must find it now.
		if a.Nlink > 1 {
			fsys.forgetAliases(n)
		}
		fsys.rememberLowerNlink(idx, a.Nlink)
	} else if err := fsys.linkUp(idx, p, a.Nlink); err != nil {
		return err
	}
	if perr == nil {
		fsys.upper.w.lutimes(parentPath, pa.Atime, pa.Mtime)
	}
	n.upper, n.idx = true, idx
	n.upperGen++
	meta := mode == copyMeta
	if tmp == "" {
		meta = fsys.upper.hasXattr(idx, ondisk.XMetacopy) // as the entry holds it
	}
	fsys.setCopiedData(n, meta, lr, a, mval)
	return nil
}
