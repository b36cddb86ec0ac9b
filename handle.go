package overlay

import (
	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// originOf returns the origin xattr value for the lower object at p of
// br: its ovl_fb, or empty when the layer cannot make file handles (the
// kernel's "copied up, origin unknown"). With uuid=off the UUID is zero.
func (fsys *FS) originOf(br *branch, p string) []byte {
	h, ok := br.b.(layer.Handler)
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
func (fsys *FS) originFB(h layer.Handler, fh layer.FileHandle) []byte {
	if len(fh.FID) > ondisk.FBMaxFID {
		return []byte{}
	}
	var uuid [16]byte
	if fsys.feat.uuid != UUIDOff {
		uuid = h.FSUUID()
	}
	return ondisk.EncodeFB(uuid, fh, false)
}
