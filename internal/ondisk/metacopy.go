package ondisk

import "syscall"

// Metacopy is what a metacopy xattr says of a metadata-only copy: the
// fs-verity digest of its data, when it carries one. Its presence alone
// marks the copy; an empty value is the plain marker.
type Metacopy struct {
	// DigestAlg is the fs-verity hash algorithm (FS_VERITY_HASH_ALG_*) of
	// Digest: 0 for no digest, BadDigestAlg for a value too malformed to
	// hold one (verifying it fails).
	DigestAlg uint8
	Digest    []byte
}

// BadDigestAlg marks a metacopy xattr too malformed to hold a digest: no
// algorithm has this number.
const BadDigestAlg = 0xff

// metacopyHeader is the length of struct ovl_metacopy before the digest:
// version, len, flags, digest_algo.
const metacopyHeader = 4

// maxMetacopy is the longest struct ovl_metacopy: the header and a
// digest of FS_VERITY_MAX_DIGEST_SIZE (64) bytes.
const maxMetacopy = metacopyHeader + 64

// ParseMetacopy reads a metacopy xattr value as the kernel does
// (ovl_check_metacopy_xattr): empty is the plain marker; 1 to 3 bytes is
// EIO; 4 bytes is a header without digest, whatever its version; longer,
// a value whose version is not 0, whose len byte is not its length or
// which exceeds the largest digest keeps its algorithm as BadDigestAlg.
func ParseMetacopy(v []byte) (Metacopy, error) {
	switch {
	case len(v) == 0 || len(v) == metacopyHeader:
		return Metacopy{}, nil
	case len(v) < metacopyHeader:
		return Metacopy{}, syscall.EIO
	}
	m := Metacopy{DigestAlg: v[3], Digest: v[metacopyHeader:]}
	if v[0] != 0 || int(v[1]) != len(v) || len(v) > maxMetacopy {
		m.DigestAlg = BadDigestAlg
	}
	return m, nil
}

// FormatMetacopy is the metacopy xattr value for m: empty without a
// digest, else version 0, the length, no flags, the algorithm and the
// digest.
func FormatMetacopy(m Metacopy) []byte {
	if m.DigestAlg == 0 {
		return []byte{}
	}
	return append([]byte{0, byte(metacopyHeader + len(m.Digest)), 0, m.DigestAlg}, m.Digest...)
}
