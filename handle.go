package overlay

import (
	"encoding/binary"

	"github.com/go-overlay/overlay/internal/ondisk"
)

// LYRFileHandle is a file handle of a layer object as name_to_handle_at(2)
// gives it: the exportfs fid type and the fid bytes.
type LYRFileHandle struct {
	Type uint8
	FID []byte
}

// LYRHandler is implemented by backends that can name their objects by file
// handle: the origin xattrs, index names and exported handles are built
// from them. A backend without it gets empty origins,
// as the kernel writes for a lower filesystem without handles.
type LYRHandler interface {
	// FileHandle returns the handle of the object at p (not following a
	// final symlink).
	FileHandle(p string) (LYRFileHandle, error)
	// FSUUID is the UUID of the backend's filesystem (s_uuid; zero when it
	// has none).
	FSUUID() [16]byte
}

// encodeFB builds the ovl_fb bytes of a handle (see ondisk.EncodeFB).
func encodeFB(uuid [16]byte, h LYRFileHandle, upper bool) []byte {
	return ondisk.EncodeFB(uuid, ondisk.Handle{Type: h.Type, FID: h.FID}, upper)
}

// originOf returns the origin xattr value for the lower object at p of
// br: its ovl_fb, or empty when the layer cannot make file handles (the
// kernel's "copied up, origin unknown"). With uuid=off the UUID is zero.
func (fsys *FS) originOf(br *branch, p string) []byte {
	h, ok := br.b.(LYRHandler)
	if !ok {
		return []byte{}
	}
	fh, err := h.FileHandle(p)
	if err != nil {
		return []byte{}
	}
	return fsys.originFB(h, fh)
}

// originFB is the origin xattr value for the lower object of handler h
// whose handle is fh (empty when the handle is too long for one).
func (fsys *FS) originFB(h LYRHandler, fh LYRFileHandle) []byte {
	if len(fh.FID) > ondisk.FBMaxFID {
		return []byte{}
	}
	var uuid [16]byte
	if fsys.feat.uuid != UUIDOff {
		uuid = h.FSUUID()
	}
	return encodeFB(uuid, fh, false)
}

// memHandleType is the fid type of MemFS handles (no kernel filesystem
// uses it): the fid is the inode number, little-endian, 8 bytes; MemFS
// never reuses inode numbers, so no generation is needed.
const memHandleType = 0x4d

var _ LYRHandler = memBackend{}

func (b memBackend) FileHandle(p string) (LYRFileHandle, error) {
	a, err := b.Lstat(p)
	if err != nil {
		return LYRFileHandle{}, err
	}
	fid := make([]byte, 8)
	binary.LittleEndian.PutUint64(fid, a.Ino)
	return LYRFileHandle{Type: memHandleType, FID: fid}, nil
}

func (b memBackend) FSUUID() [16]byte { return b.fs.uuid }

// LYRHandleChecker is implemented by backends that can tell whether a file
// handle names an existing object of their filesystem (without opening
// it: OpenByHandle rejects a forged handle with it before any search).
type LYRHandleChecker interface {
	// HandleLive reports whether fh names an existing object; known is
	// false when the backend cannot tell (no privilege to decode).
	HandleLive(fh LYRFileHandle) (live, known bool)
}
