package ondisk

import (
	"encoding/hex"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// The layout of struct ovl_fb (fs/overlayfs/overlayfs.h): version, magic,
// total length, flags, handle type, the filesystem's UUID, then the fid.
const (
	FBVersion   = 0
	FBMagic     = 0xfb
	FBHeaderLen = 21  // version, magic, len, flags, type, uuid[16]
	FBMaxFID    = 128 // MAX_HANDLE_SZ

	FlagBigEndian = 0x01 // OVL_FH_FLAG_BIG_ENDIAN
	FlagAnyEndian = 0x02 // OVL_FH_FLAG_ANY_ENDIAN
	FlagUpper     = 0x04 // OVL_FH_FLAG_PATH_UPPER: a handle of an upper object
	flagsAll      = FlagBigEndian | FlagAnyEndian | FlagUpper
)

// EncodeFB builds the ovl_fb bytes of h on a filesystem with the given
// UUID, as a little-endian kernel writes them, flagged as an upper
// object's handle when upper is set.
func EncodeFB(uuid [16]byte, h layer.FileHandle, upper bool) []byte {
	fb := make([]byte, FBHeaderLen+len(h.FID))
	fb[0], fb[1], fb[2], fb[4] = FBVersion, FBMagic, byte(len(fb)), h.Type
	if upper {
		fb[3] = FlagUpper
	}
	copy(fb[5:21], uuid[:])
	copy(fb[21:], h.FID)
	return fb
}

// FB is a decoded ovl_fb.
type FB struct {
	Flags  uint8
	UUID   [16]byte
	Handle layer.FileHandle
}

// DecodeFB reads the ovl_fb bytes b as the kernel checks them
// (ovl_check_fb_len, ovl_check_fh_len): a short buffer, a wrong magic or a
// length that disagrees with the buffer is EINVAL; a newer version,
// unknown flags or a big-endian writer's handle on this little-endian
// reader is layer.ErrNoData (ENODATA), as the kernel then ignores the handle.
func DecodeFB(b []byte) (FB, error) {
	if len(b) < FBHeaderLen || b[1] != FBMagic || int(b[2]) != len(b) || len(b)-FBHeaderLen > FBMaxFID {
		return FB{}, syscall.EINVAL
	}
	if !readable(b) {
		return FB{}, layer.ErrNoData
	}
	fb := FB{Flags: b[3], Handle: layer.FileHandle{Type: b[4], FID: append([]byte(nil), b[FBHeaderLen:]...)}}
	copy(fb.UUID[:], b[5:21])
	return fb, nil
}

// readable reports whether this reader knows the version and flags of the
// ovl_fb header b, and its endianness: a big-endian writer's handle cannot
// be read here.
func readable(b []byte) bool {
	return b[0] <= FBVersion && b[3]&^flagsAll == 0 && (b[3]&FlagAnyEndian != 0 || b[3]&FlagBigEndian == 0)
}

// IndexName is the name of the index entry of the object whose origin
// handle is fb: its bytes in lowercase hex.
func IndexName(fb []byte) string { return hex.EncodeToString(fb) }

// ParseIndexName reads an index entry's name back into the ovl_fb bytes
// it names, with the checks the kernel makes when it verifies the index
// at mount (ovl_verify_index): a name too short or not hex, or bytes
// that are not an ovl_fb, are EINVAL; a version, flags or endianness this
// reader does not know are layer.ErrNoData (ENODATA). Only the first fb[2] bytes are the
// handle.
func ParseIndexName(name string) ([]byte, error) {
	if len(name) < 2*FBHeaderLen {
		return nil, syscall.EINVAL
	}
	fb, err := hex.DecodeString(name[:len(name)/2*2])
	if err != nil {
		return nil, syscall.EINVAL
	}
	if len(fb) < int(fb[2]) || fb[1] != FBMagic {
		return nil, syscall.EINVAL
	}
	if !readable(fb) {
		return nil, layer.ErrNoData
	}
	return fb, nil
}
