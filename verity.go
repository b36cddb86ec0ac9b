package overlay

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"io"
)

// fs-verity file digests (Documentation/filesystems/fsverity.rst), which
// the verity= option stores in and checks against metacopy xattrs.
// The kernel asks the data file's filesystem for its fs-verity digest; the
// library computes it itself, so that verity works on every layer kind.

// fs-verity hash algorithm numbers (FS_VERITY_HASH_ALG_*).
const (
	verityAlgSHA256 = 1
	verityAlgSHA512 = 2
)

// verityBlock is the Merkle tree block size the digests use: 4096, the
// fsverity tool's default and the page size the kernel's overlay expects.
const verityBlock = 4096

// verityDigest returns the fs-verity digest of the size bytes of r with
// the given algorithm and no salt: the hash of the fs-verity descriptor,
// which holds the root hash of a Merkle tree of verityBlock-byte blocks.
func verityDigest(r io.ReaderAt, size int64, alg uint8) ([]byte, error) {
	newHash := sha256.New
	if alg == verityAlgSHA512 {
		newHash = sha512.New
	}
	h := newHash()
	hsize := h.Size()

	// Level 0: the hashes of the data blocks, the last one zero-padded.
	var level []byte
	buf := make([]byte, verityBlock)
	for off := int64(0); off < size; off += verityBlock {
		n, err := r.ReadAt(buf, off)
		if int64(n) < min(verityBlock, size-off) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		clear(buf[n:])
		level = append(level, blockHash(h, buf)...)
	}
	// Upper levels: the hashes packed into zero-padded blocks, hashed,
	// until one hash is left: the root hash (all zeros for an empty file).
	for len(level) > hsize {
		var next []byte
		for i := 0; i < len(level); i += verityBlock {
			clear(buf)
			copy(buf, level[i:min(i+verityBlock, len(level))])
			next = append(next, blockHash(h, buf)...)
		}
		level = next
	}
	root := make([]byte, 64)
	copy(root, level)

	// struct fsverity_descriptor: version, hash_algorithm, log_blocksize,
	// salt_size, reserved le32, data_size le64, root_hash[64], salt[32],
	// reserved[144].
	desc := make([]byte, 256)
	desc[0], desc[1], desc[2] = 1, alg, 12
	binary.LittleEndian.PutUint64(desc[8:], uint64(size))
	copy(desc[16:80], root)
	h.Reset()
	h.Write(desc)
	return h.Sum(nil), nil
}

func blockHash(h hash.Hash, b []byte) []byte {
	h.Reset()
	h.Write(b)
	return h.Sum(nil)
}
