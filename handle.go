package overlay

import (
	"encoding/binary"

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

// treeDirOpener is implemented by backends that can open a dir for a
// walk whose cost is linear in a tree whatever its depth (each step
// relative to an open dir).
type treeDirOpener interface {
	openTreeDir(p string) (treeDir, error)
}

// treeDir is a dir open for such a walk; names are its entries.
type treeDir interface {
	list() ([]dirEnt, error) // its entries, each with its type
	lstat(name string) (attr, error)
	listxattr(name string) ([]string, error)
	getxattr(name, x string) ([]byte, error)
	sub(name string) (treeDir, error) // the dir name, opened the same way
	close()
}

// handleTreeDir is a treeDir of a layer that names its objects by file
// handle (see handler).
type handleTreeDir interface {
	treeDir
	handle(name string) (fileHandle, error)
}

// layerDir is a treeDir of one layer: an index into FS.lowers, or
// upperLayer.
type layerDir struct {
	d     treeDir
	layer int
}

// upperLayer marks the upper layer's dir in a tree walk.
const upperLayer = -1

// entKind is what a merged walk's visit makes of an entry: 0 for a
// non-dir, which ends the merge of its name, or a set of these bits.
type entKind uint8

const (
	entDir      entKind = 1 << iota // a dir: merges with the dirs of its name below
	entOpaque                       // with entDir: hides what is below it
	entOrigin                       // with entDir: an upper dir with an origin (see mergedWalk)
	entWhiteout                     // hides its name below, shows nothing
)

// mergedWalk walks the merged dir whose dirs, one per layer, top-most
// first, are ds, as lookup merges them where no redirect moves a name:
// a name is shown by the top-most layer that has it, a whiteout or a
// non-dir ends its merge, a dir merges with the dirs of its name below
// down to an opaque one. visit is called for every entry of every layer
// that the walk lists (shown says whether the merge shows it, the
// top-most of its name) and classifies it; the walk goes into each
// shown dir with the merged dirs beneath it as the next level. whiteouts
// tells visit whether the level's upper dir may hold whiteouts (the
// kernel's OVL_WHITEOUTS: merged with a lower dir, or carrying an
// origin); the caller gives it for ds. The walk stops at the first
// error.
func mergedWalk(ds []layerDir, whiteouts bool, visit func(ds []layerDir, whiteouts bool, i int, e dirEnt, shown bool) (entKind, error)) error {
	kinds := make([]map[string]entKind, len(ds))
	top := map[string]int{} // each name's top-most layer in ds
	var order []dirEnt
	for i, d := range ds {
		ents, err := d.d.list()
		if err != nil {
			return err
		}
		kinds[i] = make(map[string]entKind, len(ents))
		for _, e := range ents {
			_, seen := top[e.Name]
			k, err := visit(ds, whiteouts, i, e, !seen)
			if err != nil {
				return err
			}
			kinds[i][e.Name] = k
			if !seen {
				top[e.Name] = i
				order = append(order, e)
			}
		}
	}
	for _, e := range order {
		i := top[e.Name]
		if kinds[i][e.Name]&entDir == 0 {
			continue
		}
		var sub []layerDir
		err := func() error {
			for j := i; j < len(ds); j++ {
				k, ok := kinds[j][e.Name]
				if !ok {
					continue
				}
				if k&entDir == 0 {
					break
				}
				d, err := ds[j].d.sub(e.Name)
				if err != nil {
					return err
				}
				sub = append(sub, layerDir{d, ds[j].layer})
				if k&entOpaque != 0 {
					break
				}
			}
			w := len(sub) > 1 || kinds[i][e.Name]&entOrigin != 0
			return mergedWalk(sub, w, visit)
		}()
		for _, s := range sub {
			s.d.close()
		}
		if err != nil {
			return err
		}
	}
	return nil
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
