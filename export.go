package overlay

import (
	"io/fs"
	"os"
	"syscall"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// Exported file handles (nfs_export=on): the bytes
// the kernel's name_to_handle_at gives for an overlay object (handle type
// 0xf8): three zero bytes, then the struct ovl_fb of the object's upper
// inode (pure upper objects and the root) or of its origin in a lower
// layer (lower objects and copied-up ones, which with nfs_export are all
// indexed), so a handle stays the same across copy-up and rename.

// HandleType is the kernel's handle type of overlay file handles
// (OVL_FILEID_V1).
const HandleType = 0xf8

// Handle returns the file handle of name (not following a final
// symlink), as name_to_handle_at(2) on the kernel's overlay. It needs
// file handles on every layer (EOPNOTSUPP otherwise), as the kernel.
func (fsys *FS) Handle(name string) ([]byte, error) {
	fsys.pruneIfNeeded()
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	n, err := fsys.lookupFinal(name, followNo)
	if err != nil {
		return nil, pathErr("name_to_handle_at", name, err)
	}
	h, err := fsys.handleOf(n)
	if err != nil {
		return nil, pathErr("name_to_handle_at", name, err)
	}
	fsys.remember(string(h), name)
	return h, nil
}

// handleOf encodes n's handle. Callers hold FS.mu.
func (fsys *FS) handleOf(n *node) ([]byte, error) {
	var br *branch
	var p string
	upper := false
	switch {
	case n.parent == nil && fsys.upper != nil, n.upper && len(n.lowers) == 0:
		br, p, upper = fsys.upper, n.path(), true
	case len(n.lowers) > 0:
		br, p = fsys.lowers[n.lowers[0].layer], n.lowers[0].path
	default:
		return nil, syscall.ESTALE
	}
	h, ok := br.b.(layer.Handler)
	if !ok {
		return nil, syscall.EOPNOTSUPP
	}
	fh, err := h.FileHandle(p)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	if fsys.feat.uuid != UUIDOff {
		id = h.FSUUID()
	}
	return append([]byte{0, 0, 0}, ondisk.EncodeFB(id, fh, upper)...), nil
}

// OpenByHandle opens the object a handle from Handle names, wherever it
// is now, as open_by_handle_at(2) on the kernel's overlay with
// nfs_export=on (EOPNOTSUPP without it). A handle of an object that is
// gone, or a forged one, is ESTALE. The object is found by looking in
// the overlay itself — the handles this FS gave out are remembered, others
// are searched for through the merged tree — so nothing outside a layer
// is ever looked at (the kernel decodes the handle in the layer's
// filesystem instead).
func (fsys *FS) OpenByHandle(h []byte, flag int) (afero.File, error) {
	if !fsys.feat.nfsExport {
		return nil, &fs.PathError{Op: "open_by_handle_at", Path: "", Err: syscall.EOPNOTSUPP}
	}
	if !fsys.caller().root() {
		// Opening by handle bypasses the dirs' search permission: root
		// only (CAP_DAC_READ_SEARCH).
		return nil, &fs.PathError{Op: "open_by_handle_at", Path: "", Err: syscall.EPERM}
	}
	name, err := fsys.findHandle(h)
	if err != nil {
		return nil, &fs.PathError{Op: "open_by_handle_at", Path: "", Err: errnoOf(err)}
	}
	f, err := fsys.openFile(name, flag&^(os.O_CREATE|os.O_EXCL)|layer.ONoFollow, 0)
	if err != nil {
		return nil, pathErr("open_by_handle_at", name, err)
	}
	return f, nil
}

// findHandle returns the overlay path of the object with handle h.
func (fsys *FS) findHandle(h []byte) (string, error) {
	if len(h) < 3+ondisk.FBHeaderLen || h[0] != 0 || h[1] != 0 || h[2] != 0 {
		return "", syscall.ESTALE
	}
	fb := h[3:]
	if fb[0] != ondisk.FBVersion || fb[1] != ondisk.FBMagic || int(fb[2]) != len(fb) || len(fb)-ondisk.FBHeaderLen > ondisk.FBMaxFID || fb[3]&^ondisk.FlagUpper != 0 {
		return "", syscall.ESTALE
	}
	if fb[3]&ondisk.FlagUpper == 0 && fsys.upper != nil {
		// A lower object deleted through the overlay leaves a whiteout in
		// the index under its handle.
		if a, err := fsys.upper.b.Lstat(indexDir + "/" + ondisk.IndexName(fb)); err == nil && a.IsChr00() {
			return "", syscall.ESTALE
		}
	}
	key := string(h)
	fsys.handlesMu.Lock()
	name, ok := fsys.handles[key]
	fsys.handlesMu.Unlock()
	if ok && fsys.handleIs(name, key) {
		return name, nil
	}
	// Check the handle before looking for its object, in time that does
	// not grow with the tree: it must name a layer by UUID and, where the
	// layer's filesystem can tell, an object that exists (a forged fid
	// fails there at once). Only then is the object looked for: an upper
	// one in the upper layer alone; a lower one in the map of the lower
	// layers by handle (built once, shared with the origin lookups), then
	// under the name it has there; a search of the merged tree is left
	// for a lower object that was copied up and has moved since.
	var uuid [16]byte
	copy(uuid[:], fb[5:21])
	fh := layer.FileHandle{Type: fb[4], FID: fb[ondisk.FBHeaderLen:]}
	if fb[3]&ondisk.FlagUpper != 0 {
		if fsys.upper == nil || !fsys.handleMayName(fsys.upper, uuid, fh) {
			return "", syscall.ESTALE
		}
		// A pure upper object (or the root) is where the upper has it:
		// the search needs only the upper layer.
		if p, ok := fsys.findInUpper(fh); ok && fsys.handleIs(p, key) {
			return p, nil
		}
		return "", syscall.ESTALE
	}
	maybe := false
	for i := 0; i <= fsys.bottom && !maybe; i++ {
		maybe = fsys.handleMayName(fsys.lowers[i], uuid, fh)
	}
	if !maybe {
		return "", syscall.ESTALE
	}
	fsys.mu.RLock()
	lr, ok := fsys.originIndex(fb)
	fsys.mu.RUnlock()
	if !ok {
		return "", syscall.ESTALE
	}
	if fsys.handleIs(lr.path, key) {
		return lr.path, nil
	}
	// Not under its own name: a lower object moves only by a copy-up,
	// which with nfs_export leaves an index entry under its handle.
	if !fsys.upperHas(indexDir + "/" + ondisk.IndexName(fb)) {
		return "", syscall.ESTALE
	}
	// A copied-up lower object moved since: search the merged tree,
	// breadth first.
	queue := []string{"."}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if fsys.handleIs(dir, key) {
			return dir, nil
		}
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := e.Name()
			if dir != "." {
				p = dir + "/" + p
			}
			if e.IsDir() {
				queue = append(queue, p)
			} else if fsys.handleIs(p, key) {
				return p, nil
			}
		}
	}
	return "", syscall.ESTALE
}

// findInUpper returns the upper path of the object whose handle is fh,
// searching the upper layer breadth first (its objects only, not the
// lower layers').
func (fsys *FS) findInUpper(fh layer.FileHandle) (string, bool) {
	h, ok := fsys.upper.b.(layer.Handler)
	if !ok {
		return "", false
	}
	match := func(p string) bool {
		got, err := h.FileHandle(p)
		return err == nil && got.Type == fh.Type && string(got.FID) == string(fh.FID)
	}
	if match("") {
		return ".", true
	}
	queue := []string{""}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		ents, err := fsys.upper.b.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := layer.Join(dir, e.Name)
			if fsys.upper.hiddenName(e.Name) {
				continue
			}
			if match(p) {
				return p, true
			}
			t := e.Type
			if t == 0 {
				if a, err := fsys.upper.b.Lstat(p); err == nil {
					t = a.Type()
				}
			}
			if t == syscall.S_IFDIR {
				queue = append(queue, p)
			}
		}
	}
	return "", false
}

// handleMayName reports whether fh, on a filesystem with the given UUID
// (as handleOf writes it), may name an object of br: the UUID must be
// br's and, where br can decode handles, the handle must name an object
// that exists. It never reaches the object: a decoded handle is only
// checked and closed.
func (fsys *FS) handleMayName(br *branch, uuid [16]byte, fh layer.FileHandle) bool {
	h, ok := br.b.(layer.Handler)
	if !ok {
		return false
	}
	var want [16]byte
	if fsys.feat.uuid != UUIDOff {
		want = h.FSUUID()
	}
	if uuid != want {
		return false
	}
	if c, ok := br.b.(layer.HandleChecker); ok {
		if live, known := c.HandleLive(fh); known {
			return live
		}
	}
	return true
}

// handleIs reports whether name's handle is key (Handle remembers it).
func (fsys *FS) handleIs(name, key string) bool {
	h, err := fsys.Handle(name)
	return err == nil && string(h) == key
}

// remember notes that handle key was given out for name, so that opening
// it again needs no search (bounded like the lookup cache).
func (fsys *FS) remember(key, name string) {
	fsys.handlesMu.Lock()
	defer fsys.handlesMu.Unlock()
	if fsys.handles == nil || len(fsys.handles) > int(cacheLimit) {
		fsys.handles = map[string]string{}
	}
	fsys.handles[key] = name
}
