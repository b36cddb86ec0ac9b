package overlay

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// The inode index (index=on): a lower file with
// several hard links is copied up once, into the index dir W/index under
// the hex of its origin handle, and every name of it in the overlay is a
// hard link to that entry, so hard links survive copy-up. The nlink xattr
// on the entry keeps the union link count relative to the upper inode's.

// indexDir is the index dir, in the upper's work area.
const indexDir = "/index"

// inUse counts, per upper and work root (device and inode), the FSs of
// this process using it, as the kernel marks both dirs in use at mount: a
// New with index=on on a dir already in use fails with EBUSY, one with
// index off goes ahead (the kernel only warns).
var inUse = struct {
	sync.Mutex
	m map[[2]uint64]int
}{m: map[[2]uint64]int{}}

// reserveUpper marks the upper and work roots in use, failing with EBUSY
// when index=on and another FS uses either (ovl_get_upper and
// ovl_get_workdir, before either touches the work dir).
func (fsys *FS) reserveUpper() error {
	u := fsys.upper
	var keys [][2]uint64
	for _, p := range []string{"", "/"} {
		a, err := u.b.Lstat(p)
		if err != nil {
			continue
		}
		k := [2]uint64{a.Dev, a.Ino}
		if p == "" {
			k[0] = u.dev
		}
		keys = append(keys, k)
	}
	inUse.Lock()
	defer inUse.Unlock()
	for i, k := range keys {
		if inUse.m[k] > 0 && fsys.feat.index {
			if i == 0 {
				return newOptErr("upperdir", syscall.EBUSY, "upperdir is in use by another overlay with index=on")
			}
			return newOptErr("workdir", syscall.EBUSY, "workdir is in use by another overlay with index=on")
		}
	}
	for _, k := range keys {
		inUse.m[k]++
	}
	fsys.inUseKeys = keys
	return nil
}

// releaseUpper forgets the upper and work roots as in use (at Close, or
// when New fails after reserveUpper).
func (fsys *FS) releaseUpper() {
	inUse.Lock()
	defer inUse.Unlock()
	for _, k := range fsys.inUseKeys {
		if inUse.m[k]--; inUse.m[k] <= 0 {
			delete(inUse.m, k)
		}
	}
	fsys.inUseKeys = nil
}

// lowerUUIDsBad reports whether a lower filesystem's UUID cannot tell its
// file handles apart, as ovl_get_fsid and ovl_lower_uuid_ok decide at
// mount: each lower filesystem other than the upper's, in layer order, is
// bad when its UUID is null and no feature that needs origins is on
// (index, metacopy, redirect_dir=on, xino=on), or when a lower filesystem
// met before has the same UUID. A null UUID is thus fine for index=on as
// long as it is not shared (the kernel allows one such lower, say a
// squashfs), and lowers on the upper's filesystem are never checked.
func (fsys *FS) lowerUUIDsBad() bool {
	if !fsys.feat.nfsExport && fsys.upper == nil {
		return false
	}
	offline := !fsys.feat.index && !fsys.feat.metacopy && fsys.feat.redirect != RedirectOn && fsys.feat.xino != XinoOn
	type fsEnt struct {
		dev   uint64
		uuid  [16]byte
		lower bool
	}
	var fss []fsEnt
	if fsys.upper != nil {
		e := fsEnt{dev: fsys.upper.dev}
		if h, ok := fsys.upper.b.(layer.Handler); ok {
			e.uuid = h.FSUUID()
		}
		fss = append(fss, e)
	}
	bad := false
	for _, br := range fsys.lowers {
		i := slices.IndexFunc(fss, func(e fsEnt) bool { return e.dev == br.dev })
		if i < 0 {
			var id [16]byte
			h, hok := br.b.(layer.Handler)
			if hok {
				id = h.FSUUID()
			}
			switch {
			case !hok: // no handles: the features that need them are off anyway
			case offline && id == [16]byte{}:
				bad = true
			default:
				for _, e := range fss {
					if e.lower && e.uuid == id {
						bad = true
					}
				}
			}
			fss = append(fss, fsEnt{dev: br.dev, uuid: id})
			i = len(fss) - 1
		}
		fss[i].lower = true
	}
	return bad
}

// checkIndex decides, before New changes anything, whether index=on can
// work here, and verifies what an upper used before records: it turns
// index (and nfs_export) off where the layers cannot support it, as the
// kernel does with a warning (file handles and xattrs on the upper, file
// handles on every lower, lower UUIDs that tell the layers apart), and
// fails with ESTALE when the upper root's origin is not the top lower
// root or the index dir records another upper root, and with ENOTDIR when
// W/index is not a dir.
func (fsys *FS) checkIndex() error {
	if !fsys.feat.index {
		return nil
	}
	u := fsys.upper
	uh, ok := u.b.(layer.Handler)
	ok = ok && u.xattrMarkers() && u.caps.Hardlink
	if ok {
		_, err := uh.FileHandle("")
		ok = err == nil
	}
	for _, br := range fsys.lowers {
		if !ok {
			break
		}
		h, hok := br.b.(layer.Handler)
		if ok = hok; ok {
			_, err := h.FileHandle("")
			ok = err == nil
		}
	}
	if !ok || fsys.lowerUUIDsBad() {
		fsys.feat.index, fsys.feat.nfsExport = false, false
		return nil
	}
	want := fsys.originOf(fsys.lowers[0], "")
	if v, err := u.b.Getxattr("", fsys.prefix+ondisk.XOrigin); err == nil && string(v) != string(want) {
		return newOptErr("index", syscall.ESTALE, "upper root does not match the lower layers (index=on)")
	}
	a, err := u.b.Lstat(indexDir)
	if err == nil && !a.IsDir() {
		return newOptErr("index", syscall.ENOTDIR, "cannot create the index dir")
	}
	if err == nil {
		up, err := fsys.upperRootFB()
		if err != nil {
			return newOptErr("index", err, "cannot encode the upper root")
		}
		if v, err := u.b.Getxattr(indexDir, fsys.prefix+ondisk.XUpper); err == nil && string(v) != string(up) {
			return newOptErr("index", syscall.ESTALE, "index dir belongs to another upper dir")
		}
	}
	return nil
}

// upperRootFB is the struct ovl_fb of the upper root, which the index dir
// records.
func (fsys *FS) upperRootFB() ([]byte, error) {
	uh := fsys.upper.b.(layer.Handler)
	fh, err := uh.FileHandle("")
	if err != nil {
		return nil, err
	}
	var id [16]byte
	if fsys.feat.uuid != UUIDOff {
		id = uh.FSUUID()
	}
	return ondisk.EncodeFB(id, fh, true), nil
}

// setupIndex prepares the index at New, after checkIndex: it records the
// upper root's origin and the upper root on the index dir, and drops
// temporaries and orphans from it.
func (fsys *FS) setupIndex() error {
	if !fsys.feat.index {
		return nil
	}
	u := fsys.upper
	want := fsys.originOf(fsys.lowers[0], "")
	if _, err := u.b.Getxattr("", fsys.prefix+ondisk.XOrigin); err != nil {
		if err := u.w.setxattr("", fsys.prefix+ondisk.XOrigin, want); err != nil {
			return newOptErr("index", err, "cannot record the upper root's origin")
		}
	}
	if err := u.w.mkdir(indexDir, 0); err != nil && !errors.Is(err, syscall.EEXIST) {
		return newOptErr("index", err, "cannot create the index dir")
	}
	if fsys.feat.nfsExport {
		// Such an FS indexes dirs and leaves whiteouts in the index.
		if err := u.w.use(ondisk.FeatureSet{ROCompat: ondisk.ROCompatNFSExport}); err != nil {
			return newOptErr("nfs_export", err, "cannot record the layer's feature set")
		}
	}
	up, err := fsys.upperRootFB()
	if err != nil {
		return newOptErr("index", err, "cannot encode the upper root")
	}
	if _, err := u.b.Getxattr(indexDir, fsys.prefix+ondisk.XUpper); err != nil {
		if err := u.w.setxattr(indexDir, fsys.prefix+ondisk.XUpper, up); err != nil {
			return newOptErr("index", err, "cannot record the upper root on the index dir")
		}
	}
	ents, err := u.b.ReadDir(indexDir)
	if err != nil {
		return newOptErr("index", err, "cannot read the index dir")
	}
	for _, e := range ents {
		p := indexDir + "/" + e.Name
		if strings.HasPrefix(e.Name, "#") {
			u.removeAll(p, e.Type == syscall.S_IFDIR)
			continue
		}
		switch err := fsys.verifyIndex(e.Name, p); {
		case err == nil:
		case errors.Is(err, syscall.ESTALE):
			u.removeAll(p, e.Type == syscall.S_IFDIR) // stale: its origin is gone
		case errors.Is(err, errOrphan):
			if fsys.feat.nfsExport {
				// Its handle must stay stale.
				u.whiteout(p, syscall.S_IFREG)
			} else {
				u.w.unlink(p)
			}
		default:
			return newOptErr("index", err, "failed index dir cleanup: "+e.Name)
		}
	}
	return nil
}

// errOrphan is verifyIndex's verdict on an entry no overlay name uses.
var errOrphan = errors.New("orphan index entry")

// verifyIndex checks the index entry name at p as the kernel does at
// mount (ovl_verify_index): a name too short or not hex, or not an
// ovl_fb, fails the mount (EINVAL; ENODATA for a version, flags or
// endianness this reader does not know); whiteouts, and dirs without
// nfs_export, are kept; a non-dir must carry an origin xattr (else
// ENODATA, failing the mount) equal to its name (else ESTALE: removed);
// one of a single link whose origin is gone is stale, and one whose
// union link count is not positive is an orphan (errOrphan).
func (fsys *FS) verifyIndex(name, p string) error {
	u := fsys.upper
	fb, err := ondisk.ParseIndexName(name)
	if err != nil {
		return err
	}
	a, err := u.b.Lstat(p)
	if err != nil {
		return err
	}
	if a.IsChr00() || a.IsDir() && !fsys.feat.nfsExport {
		return nil
	}
	if a.IsDir() {
		// A dir entry (nfs_export) names its upper dir in its upper
		// xattr; one without is stale. Whether that dir still exists is
		// not checked here.
		if v, err := u.b.Getxattr(p, fsys.prefix+ondisk.XUpper); err != nil || len(v) == 0 {
			return syscall.ESTALE
		}
		return nil
	}
	v, err := u.b.Getxattr(p, fsys.prefix+ondisk.XOrigin)
	switch {
	case errors.Is(err, layer.ErrNoData) || err == nil && len(v) == 0:
		return layer.ErrNoData
	case err != nil:
		return err
	case len(v) < ondisk.FBHeaderLen || int(v[2]) != int(fb[2]) || string(v[:v[2]]) != string(fb[:fb[2]]):
		return syscall.ESTALE
	}
	if a.Nlink != 1 {
		return nil
	}
	lr, ok := fsys.originIndex(fb[:fb[2]])
	if !ok {
		return syscall.ESTALE
	}
	la, err := fsys.lowers[lr.layer].b.Lstat(lr.path)
	if err != nil {
		return syscall.ESTALE
	}
	if la.Nlink == 1 {
		return errOrphan // the union count is then the upper's alone: none but the index
	}
	if union, ok := fsys.rawUnion(p, a.Nlink, la.Nlink); !ok || union <= 0 {
		return errOrphan
	}
	return nil
}

// indexed reports whether the non-dir n goes through the index: one whose
// lower has several links, or, with nfs_export, any copied-up one.
func (fsys *FS) indexed(n *node) bool {
	return fsys.feat.index && !n.isDir() && len(n.lowers) > 0 && (n.lattr.Nlink > 1 || fsys.feat.nfsExport)
}

// copiedBeforeRemoval reports whether removing n, or renaming over it,
// copies it up first, as ovl_nlink_start does: a name of a hard-linked
// lower file, to hold the others' link count, or, with nfs_export, any
// lower object, dirs included, so that its index entry can then record
// the removal.
func (fsys *FS) copiedBeforeRemoval(n *node) bool {
	return !n.upper && len(n.lowers) > 0 && (fsys.indexed(n) || fsys.feat.nfsExport && n.isDir())
}

// indexName is the index entry of the lower object at p of br: the hex
// of its origin handle.
func (fsys *FS) indexName(br *branch, p string) string {
	return indexDir + "/" + ondisk.IndexName(fsys.originOf(br, p))
}

// unionNlink is the overlay's link count of an indexed inode: the upper
// inode's count (which includes the index link) adjusted by the nlink
// xattr ("U+N" relative to it, "L+N" relative to the lower's); an invalid
// or non-positive result falls back to the real count.
func (fsys *FS) unionNlink(idx string, upper, lower uint64) uint64 {
	if n, ok := fsys.rawUnion(idx, upper, lower); ok && n > 0 {
		return uint64(n)
	}
	return upper
}

// rawUnion is the link count the nlink xattr gives, unchecked; ok is
// false when the xattr is missing or malformed.
func (fsys *FS) rawUnion(idx string, upper, lower uint64) (int64, bool) {
	v, err := fsys.upper.b.Getxattr(idx, fsys.prefix+ondisk.XNlink)
	if err != nil {
		return 0, false
	}
	b, d, ok := ondisk.ParseNlink(v)
	if !ok {
		return 0, false
	}
	base := upper
	if b == 'L' {
		base = lower
	}
	return int64(base) + d, true
}

// addNlink moves the nlink xattr of the index entry by d (an uncovered
// lower name was whited out) and removes the entry once no overlay name
// is left. Callers hold FS.mu for writing.
func (fsys *FS) addNlink(idx string, lowerNlink uint64, d int) error {
	a, err := fsys.upper.b.Lstat(idx)
	if err != nil {
		return err
	}
	union, ok := fsys.rawUnion(idx, a.Nlink, lowerNlink)
	if !ok {
		union = int64(a.Nlink) - 1 // every name but the index link
	}
	union += int64(d)
	if union <= 0 {
		if fsys.feat.nfsExport {
			// The object is gone: its handle must now be stale.
			return fsys.upper.whiteout(idx, syscall.S_IFREG)
		}
		return fsys.upper.w.unlink(idx)
	}
	return fsys.upper.w.setxattr(idx, fsys.prefix+ondisk.XNlink, ondisk.FormatNlink('U', union-int64(a.Nlink)))
}

// linkUp makes the upper name p a link to the index entry idx (a lower
// name of an indexed inode copied up after another one): no data is
// copied, and the union link count stays what it was. Callers hold FS.mu
// for writing.
func (fsys *FS) linkUp(idx, p string, lowerNlink uint64) error {
	a, err := fsys.upper.b.Lstat(idx)
	if err != nil {
		return err
	}
	union := int64(fsys.unionNlink(idx, a.Nlink, lowerNlink))
	if lowerNlink > 0 {
		// Relative to the lower file's count first, which the link does
		// not change, so that a crash after it keeps the count right
		// (ovl_link_up's order).
		if err := fsys.upper.w.setxattr(idx, fsys.prefix+ondisk.XNlink, ondisk.FormatNlink('L', union-int64(lowerNlink))); err != nil {
			return err
		}
	}
	if err := fsys.upper.w.link(idx, p); err != nil {
		return err
	}
	return fsys.upper.w.setxattr(idx, fsys.prefix+ondisk.XNlink, ondisk.FormatNlink('U', union-int64(a.Nlink)-1))
}

// dropIndexIfUnused removes the index entry once no overlay name links to
// it. Callers hold FS.mu for writing.
func (fsys *FS) dropIndexIfUnused(idx string, lowerNlink uint64) error {
	return fsys.addNlink(idx, lowerNlink, 0)
}

// indexDirEntry records, with nfs_export, the copy-up of a dir: an empty
// dir in the index under its origin's handle, whose upper xattr is the
// handle of the upper dir at p. The entry is built in the work dir and
// renamed into place, as the kernel's ovl_create_index.
// upperDirFB is the value a dir index entry's upper xattr holds for the
// upper dir p: its file handle, flagged as an upper one.
func (fsys *FS) upperDirFB(p string) ([]byte, error) {
	uh, ok := fsys.upper.b.(layer.Handler)
	if !ok {
		return nil, syscall.EOPNOTSUPP
	}
	fh, err := uh.FileHandle(p)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	if fsys.feat.uuid != UUIDOff {
		id = uh.FSUUID()
	}
	return ondisk.EncodeFB(id, fh, true), nil
}

func (fsys *FS) indexDirEntry(lower *branch, lp, p string) error {
	fb, err := fsys.upperDirFB(p)
	if err != nil {
		return err
	}
	u := fsys.upper
	t := u.temp()
	if err := u.w.mkdir(t, 0); err != nil {
		return err
	}
	err = u.w.chmod(t, 0)
	if err == nil {
		err = u.w.setxattr(t, fsys.prefix+ondisk.XUpper, fb)
	}
	if err == nil {
		err = u.w.rename(t, fsys.indexName(lower, lp))
	}
	if err != nil {
		u.removeAll(t, true)
	}
	return err
}

// forgetAliases drops from the cache every node other than n that shows
// the same lower inode as n (another name of a hard-linked lower file),
// so that its next lookup finds the index entry. Callers hold FS.mu for
// writing.
func (fsys *FS) forgetAliases(n *node) {
	var walk func(d *node)
	walk = func(d *node) {
		d.mu.Lock()
		kids := make([]*node, 0, len(d.children))
		for _, c := range d.children {
			kids = append(kids, c)
		}
		d.mu.Unlock()
		for _, c := range kids {
			if c != n && !c.isDir() && len(c.lowers) > 0 && c.lattr.Ino == n.lattr.Ino && c.lattr.Dev == n.lattr.Dev {
				fsys.forget(d, c.name)
				continue
			}
			walk(c)
		}
	}
	walk(fsys.root)
}

// rememberLowerNlink notes the link count of the lower file an index
// entry was made for, which a name found through the entry alone (a link
// made in the overlay, or a renamed file) needs for its own count.
func (fsys *FS) rememberLowerNlink(idx string, nlink uint64) {
	fsys.handlesMu.Lock()
	defer fsys.handlesMu.Unlock()
	if fsys.lowerNlinks == nil || len(fsys.lowerNlinks) > int(cacheLimit) {
		fsys.lowerNlinks = map[string]uint64{}
	}
	fsys.lowerNlinks[idx] = nlink
}

// indexedHere reports whether the index entry idx was made by this FS
// (its copy-up happened while the FS was open).
func (fsys *FS) indexedHere(idx string) bool {
	fsys.handlesMu.Lock()
	defer fsys.handlesMu.Unlock()
	_, ok := fsys.lowerNlinks[idx]
	return ok
}

// lowerNlinkOf is the link count of the lower file of index entry idx:
// remembered from its copy-up, else guessed from the nlink xattr, which
// stays "U-1" for a file of one link (copied up alone, it gets no other
// name from below).
func (fsys *FS) lowerNlinkOf(idx string) uint64 {
	fsys.handlesMu.Lock()
	n, ok := fsys.lowerNlinks[idx]
	fsys.handlesMu.Unlock()
	if ok {
		return n
	}
	if v, err := fsys.upper.b.Getxattr(idx, fsys.prefix+ondisk.XNlink); err == nil && string(v) == "U-1" {
		return 1
	}
	return 0 // unknown: the nlink xattr decides
}
