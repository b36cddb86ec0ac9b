package ondisk

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/layer"
)

func TestFBRoundTrip(t *testing.T) {
	uuid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	h := layer.FileHandle{Type: 0x81, FID: []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22}}
	for _, upper := range []bool{false, true} {
		b := EncodeFB(uuid, h, upper)
		if len(b) != FBHeaderLen+len(h.FID) || b[2] != byte(len(b)) {
			t.Fatalf("EncodeFB: %x", b)
		}
		fb, err := DecodeFB(b)
		if err != nil {
			t.Fatalf("DecodeFB(%x): %v", b, err)
		}
		if fb.UUID != uuid || fb.Handle.Type != h.Type || !bytes.Equal(fb.Handle.FID, h.FID) || (fb.Flags&FlagUpper != 0) != upper {
			t.Errorf("DecodeFB(EncodeFB) = %+v", fb)
		}
		name := IndexName(b)
		back, err := ParseIndexName(name)
		if err != nil || !bytes.Equal(back, b) {
			t.Errorf("ParseIndexName(%s) = %x, %v", name, back, err)
		}
	}
}

func TestDecodeFBRefuses(t *testing.T) {
	good := EncodeFB([16]byte{}, layer.FileHandle{Type: 1, FID: []byte{1, 2, 3, 4}}, false)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, c := range []struct {
		name string
		b    []byte
		want syscall.Errno
	}{
		{"short", good[:10], syscall.EINVAL},
		{"magic", mod(func(b []byte) []byte { b[1] = 0; return b }), syscall.EINVAL},
		{"length", mod(func(b []byte) []byte { b[2]++; return b }), syscall.EINVAL},
		{"version", mod(func(b []byte) []byte { b[0] = 1; return b }), layer.ErrNoData},
		{"flags", mod(func(b []byte) []byte { b[3] = 0x80; return b }), layer.ErrNoData},
		{"big endian", mod(func(b []byte) []byte { b[3] = FlagBigEndian; return b }), layer.ErrNoData},
	} {
		if _, err := DecodeFB(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: DecodeFB(%x) = %v, want %v", c.name, c.b, err, c.want)
		}
	}
	for _, name := range []string{"", "00fb", "zz" + IndexName(good)[2:]} {
		if _, err := ParseIndexName(name); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ParseIndexName(%q) = %v, want EINVAL", name, err)
		}
	}
}

func TestNlink(t *testing.T) {
	for _, c := range []struct {
		v     string
		base  byte
		delta int64
		ok    bool
	}{
		{"U+0", 'U', 0, true}, {"U-1", 'U', -1, true}, {"L+2", 'L', 2, true},
		{"U1", 0, 0, false}, {"X+1", 0, 0, false}, {"U+", 0, 0, false}, {"", 0, 0, false},
		{"U+99999999999", 0, 0, false},
	} {
		base, delta, ok := ParseNlink([]byte(c.v))
		if base != c.base || delta != c.delta || ok != c.ok {
			t.Errorf("ParseNlink(%q) = %c %d %v", c.v, base, delta, ok)
		}
		if c.ok {
			if got := string(FormatNlink(c.base, c.delta)); got != c.v {
				t.Errorf("FormatNlink(%c, %d) = %q, want %q", c.base, c.delta, got, c.v)
			}
		}
	}
}

func TestParseRedirect(t *testing.T) {
	for _, c := range []struct {
		v, want string
		err     error
	}{
		{"a", "a", nil}, {"/a/b", "/a/b", nil}, {"a\x00junk", "a", nil}, {"\x00", ".", nil},
		{"", "", syscall.EINVAL}, {"/", "", syscall.EINVAL}, {"/a//b", "", syscall.EINVAL},
		{"/a/", "", syscall.EINVAL}, {"a/b", "", syscall.EINVAL},
	} {
		got, err := ParseRedirect([]byte(c.v))
		if got != c.want || !errors.Is(err, c.err) && (err != nil || c.err != nil) {
			t.Errorf("ParseRedirect(%q) = %q, %v; want %q, %v", c.v, got, err, c.want, c.err)
		}
	}
}

// TestMetacopy: every length of metacopy value, as the kernel reads it,
// and values written then read back.
func TestMetacopy(t *testing.T) {
	digest := bytes.Repeat([]byte{7}, 32)
	good := FormatMetacopy(Metacopy{DigestAlg: 1, Digest: digest})
	for _, c := range []struct {
		v       []byte
		alg     uint8
		wantErr error
	}{
		{v: []byte{}},
		{v: []byte{0}, wantErr: syscall.EIO},
		{v: []byte{0, 4, 0}, wantErr: syscall.EIO},
		{v: []byte{9, 9, 9, 9}},                                                 // a header alone: no digest, whatever it says
		{v: good, alg: 1},                                                       // version 0, its length, sha256
		{v: append([]byte{1}, good[1:]...), alg: BadDigestAlg},                  // unknown version
		{v: append([]byte{0, 9}, good[2:]...), alg: BadDigestAlg},               // wrong length byte
		{v: append([]byte{0, 0, 0, 1}, make([]byte, 70)...), alg: BadDigestAlg}, // too long
	} {
		m, err := ParseMetacopy(c.v)
		if err != c.wantErr || m.DigestAlg != c.alg {
			t.Errorf("ParseMetacopy(%x) = %d, %v; want %d, %v", c.v, m.DigestAlg, err, c.alg, c.wantErr)
		}
	}
	if m, err := ParseMetacopy(good); err != nil || !bytes.Equal(m.Digest, digest) {
		t.Errorf("digest read back as %x, %v", m.Digest, err)
	}
	if v := FormatMetacopy(Metacopy{}); len(v) != 0 {
		t.Errorf("FormatMetacopy without digest = %x, want empty", v)
	}
}
