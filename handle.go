package overlay

import (
	"encoding/binary"
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"
)

// fileHandle is a file handle of a layer object as name_to_handle_at(2)
// gives it: the exportfs fid type and the fid bytes.
type fileHandle struct {
	typ uint8
	fid []byte
}

// handler is implemented by backends that can name their objects by file
// handle: the origin xattrs, index names and exported handles are built
// from them. A backend without it gets empty origins,
// as the kernel writes for a lower filesystem without handles.
type handler interface {
	// fileHandle returns the handle of the object at p (not following a
	// final symlink).
	fileHandle(p string) (fileHandle, error)
	// fsUUID is the UUID of the backend's filesystem (s_uuid; zero when it
	// has none).
	fsUUID() [16]byte
}

// encodeFB builds the ovl_fb bytes of a handle (see ondisk.EncodeFB).
func encodeFB(uuid [16]byte, h fileHandle, upper bool) []byte {
	return ondisk.EncodeFB(uuid, ondisk.Handle{Type: h.typ, FID: h.fid}, upper)
}

// handleDirOpener is implemented by backends that can open a dir for a
// walk that takes file handles in time linear in a tree whatever its
// depth (each step relative to an open dir).
type handleDirOpener interface {
	openHandleDir(p string) (handleDir, error)
}

// handleDir is a dir open for such a walk.
type handleDir interface {
	list() ([]dirEnt, error) // its entries, each with its type
	handle(name string) (fileHandle, error)
	sub(name string) (handleDir, error) // the dir name, opened the same way
	close()
}

// layerDir is a handleDir of one lower layer (an index into FS.lowers).
type layerDir struct {
	d     handleDir
	layer int
}

// mergedHandles calls visit for each object the merged dir of ds (the
// same dir in each lower layer, top-most first) shows beneath it, with
// its layer and handle, as lookup finds them: for a name, the top-most
// layer's object; a dir merges with the dirs of that name below until a
// non-dir. The layers must be plain (no whiteout, opaque dir or
// redirect: see plainTreer), so nothing else hides or moves a name.
func mergedHandles(ds []layerDir, visit func(layer int, h fileHandle) error) error {
	types := make([]map[string]uint32, len(ds)) // each layer's names, with their types
	lists := make([][]dirEnt, len(ds))
	for i, d := range ds {
		ents, err := d.d.list()
		if err != nil {
			return err
		}
		lists[i] = ents
		types[i] = make(map[string]uint32, len(ents))
		for _, e := range ents {
			types[i][e.Name] = e.Type
		}
	}
	seen := map[string]bool{}
	for i, d := range ds {
		for _, e := range lists[i] {
			if seen[e.Name] {
				continue
			}
			seen[e.Name] = true
			h, err := d.d.handle(e.Name)
			if err != nil {
				return err
			}
			if err := visit(d.layer, h); err != nil {
				return err
			}
			if e.Type != syscall.S_IFDIR {
				continue
			}
			sub, err := mergedSubdirs(ds, types, i, e.Name)
			if err == nil {
				err = mergedHandles(sub, visit)
			}
			for _, s := range sub {
				s.d.close()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// mergedSubdirs opens the dirs that merge as name beneath ds, from layer
// i (where name is a dir) down to the first layer where name is not a
// dir.
func mergedSubdirs(ds []layerDir, types []map[string]uint32, i int, name string) ([]layerDir, error) {
	var sub []layerDir
	for j := i; j < len(ds); j++ {
		typ, ok := types[j][name]
		if !ok {
			continue
		}
		if typ != syscall.S_IFDIR {
			break
		}
		d, err := ds[j].d.sub(name)
		if err != nil {
			for _, s := range sub {
				s.d.close()
			}
			return nil, err
		}
		sub = append(sub, layerDir{d, ds[j].layer})
	}
	return sub, nil
}

// originOf returns the origin xattr value for the lower object at p of
// br: its ovl_fb, or empty when the layer cannot make file handles (the
// kernel's "copied up, origin unknown"). With uuid=off the UUID is zero.
func (fsys *FS) originOf(br *branch, p string) []byte {
	h, ok := br.b.(handler)
	if !ok {
		return []byte{}
	}
	fh, err := h.fileHandle(p)
	if err != nil {
		return []byte{}
	}
	return fsys.originFB(h, fh)
}

// originFB is the origin xattr value for the lower object of handler h
// whose handle is fh (empty when the handle is too long for one).
func (fsys *FS) originFB(h handler, fh fileHandle) []byte {
	if len(fh.fid) > ondisk.FBMaxFID {
		return []byte{}
	}
	var uuid [16]byte
	if fsys.feat.uuid != UUIDOff {
		uuid = h.fsUUID()
	}
	return encodeFB(uuid, fh, false)
}

// memHandleType is the fid type of MemFS handles (no kernel filesystem
// uses it): the fid is the inode number, little-endian, 8 bytes; MemFS
// never reuses inode numbers, so no generation is needed.
const memHandleType = 0x4d

var _ handler = (*MemFS)(nil)

func (m *MemFS) fileHandle(p string) (fileHandle, error) {
	a, err := m.lstat(p)
	if err != nil {
		return fileHandle{}, err
	}
	fid := make([]byte, 8)
	binary.LittleEndian.PutUint64(fid, a.Ino)
	return fileHandle{typ: memHandleType, fid: fid}, nil
}

func (m *MemFS) fsUUID() [16]byte { return m.uuid }

// handleChecker is implemented by backends that can tell whether a file
// handle names an existing object of their filesystem (without opening
// it: OpenByHandle rejects a forged handle with it before any search).
type handleChecker interface {
	// handleLive reports whether fh names an existing object; known is
	// false when the backend cannot tell (no privilege to decode).
	handleLive(fh fileHandle) (live, known bool)
}
