package overlay

import (
	"math/bits"

	"github.com/go-overlay/overlay/internal/layer"
)

// Inode numbers across filesystems . Every layer's
// filesystem gets a slot, its fsid: 0 for the upper's (reserved even
// without an upper), then one per further filesystem in layer order. With
// xino the overlay shows every object on its own st_dev, with
// st_ino = real ino | fsid << (64 - bits + 1), where bits is xinoBits.

// setupXino assigns the fsid slots and decides xino's bits, as
// ovl_get_layers and ovl_get_fsid do. Called by New after initRoot.
func (fsys *FS) setupXino() {
	slots := map[uint64]int{}
	numfs := 1
	if fsys.upper != nil {
		slots[fsys.upper.dev] = 0
	}
	for _, br := range fsys.lowers {
		s, ok := slots[br.dev]
		if !ok {
			s = numfs
			numfs++
			slots[br.dev] = s
		}
		br.fsid = s
	}
	if fsys.feat.uuid == UUIDOff && numfs > 1 {
		// uuid=off (null UUIDs in handles) needs a single filesystem, the
		// upper's slot counted even without an upper: the kernel falls
		// back to uuid=null.
		fsys.feat.uuid = UUIDNull
	}
	if fsys.samefs || fsys.feat.xino == XinoOff {
		return
	}
	handles, defaultEnc := true, true
	all := fsys.lowers
	if fsys.upper != nil {
		all = append([]*branch{fsys.upper}, all...)
	}
	for _, br := range all {
		h, ok := br.b.(layer.Handler)
		if !ok {
			handles, defaultEnc = false, false
			continue
		}
		fh, err := h.FileHandle("")
		if err != nil {
			handles, defaultEnc = false, false
			continue
		}
		// The kernel asks whether the filesystem has its own encode_fh;
		// from user space, the generic encoder is recognised by its
		// non-connectable handle: FILEID_INO32_GEN, 8 bytes (a 32-bit inode
		// number and a generation). tmpfs also says type 1, with 12 bytes.
		if fh.Type != 1 || len(fh.FID) != 8 {
			defaultEnc = false
		}
	}
	uuidsOK := !fsys.lowerUUIDsBad()
	if fsys.feat.xino == XinoAuto && fsys.upper != nil && (!handles || !fsys.upper.caps.Xattr || !uuidsOK) {
		fsys.feat.xino = XinoOff // xino=auto falls back to off (FS.Options shows it)
		return
	}
	fsys.xinoBits = 32
	if !defaultEnc {
		fsys.xinoBits = bits.Len(uint(numfs-1)) - 1 + 2 // ilog2(numfs-1) + 2
	}
}

// xinoIno maps a real inode number of the filesystem in slot fsid to the
// overlay's (ovl_map_ino): the fsid in the high bits, or, when the real
// number already uses them, a non-persistent number from a per-overlay
// counter with bit 64-bits set.
func (fsys *FS) xinoIno(ino uint64, fsid int) uint64 {
	b := uint(fsys.xinoBits)
	if ino>>(64-b) == 0 {
		return ino | uint64(fsid)<<(64-b+1)
	}
	low := fsys.xinoNext.Add(1) & (1<<(64-b) - 1)
	return low | 1<<(64-b)
}
