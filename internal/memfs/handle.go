package memfs

import (
	"encoding/binary"

	"github.com/go-overlay/overlay/internal/layer"
)

// handleType is the fid type of FS handles (no kernel filesystem
// uses it): the fid is the inode number, little-endian, 8 bytes; FS
// never reuses inode numbers, so no generation is needed.
const handleType = 0x4d

var _ layer.Handler = backend{}

func (b backend) FileHandle(p string) (layer.FileHandle, error) {
	a, err := b.Lstat(p)
	if err != nil {
		return layer.FileHandle{}, err
	}
	fid := make([]byte, 8)
	binary.LittleEndian.PutUint64(fid, a.Ino)
	return layer.FileHandle{Type: handleType, FID: fid}, nil
}

func (b backend) FSUUID() [16]byte { return b.fs.uuid }
