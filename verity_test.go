package overlay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestVerityDigest checks the digests against fsverity-utils'
// `fsverity digest` (block size 4096, no salt) on the same contents.
func TestVerityDigest(t *testing.T) {
	pattern := func(n int, f func(i int) byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = f(i)
		}
		return b
	}
	for _, c := range []struct {
		name string
		data []byte
		alg  uint8
		want string
	}{
		{"empty", nil, verityAlgSHA256, "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95"},
		{"one byte", []byte("a"), verityAlgSHA256, "bce75948b9e7510293f8f2720412af9697c1479281323f3f220623fb8e94b557"},
		{"one zero block", make([]byte, 4096), verityAlgSHA256, "babc284ee4ffe7f449377fbf6692715b43aec7bc39c094a95878904d34bac97e"},
		{"3 blocks", pattern(10000, func(i int) byte { return byte(i % 251) }), verityAlgSHA256, "d12c9af23bd04b706b9a6a2f706150d552a9460efd4759586dfc04ebdf96eb5e"},
		{"two levels", pattern(600000, func(i int) byte { return byte(i * 7 % 256) }), verityAlgSHA256, "c8be0edef35bb9299173355ceda2b77f99f569725b260ef9fab9809475dd8a38"},
		{"128 blocks exactly", pattern(128*4096, func(i int) byte { return byte((i*13 + 5) % 256) }), verityAlgSHA256, "e9147e5c00d6825a94f4718605fcf7fc6a40a9e065d3c5b2f543ccc01085dd2c"},
		{"sha512", pattern(10000, func(i int) byte { return byte(i % 251) }), verityAlgSHA512, "86645940beab38208dc84afd90e334cc03fe92748c0324bd0cd8a624b313ca34e04c42385107a5dc87d057ae9080c3556db5599de507409bf388849cbec41fc7"},
	} {
		got, err := verityDigest(bytes.NewReader(c.data), int64(len(c.data)), c.alg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%s: digest %x, want %s", c.name, got, c.want)
		}
	}
	if _, err := verityDigest(bytes.NewReader([]byte("short")), 10, verityAlgSHA256); err == nil {
		t.Error("a file shorter than its size gave a digest")
	}
}

// TestVerityMetacopy: with verity=on a metadata-only copy-up stores the
// data's digest, reads check it (tampered data is EIO), and with
// verity=require a metacopy file without a digest is EIO.
func TestVerityMetacopy(t *testing.T) {
	data := bytes.Repeat([]byte("verity "), 2000)
	lower := NewMemFS()
	lower.WriteFile("f", data, 0o644)
	lower.WriteFile("g", data, 0o644)
	upper := NewMemFS()
	open := func(v VerityMode) *FS {
		t.Helper()
		fsys, err := New(Options{Lower: []*Layer{MemLayer(lower)}, Upper: MemLayer(upper),
			RedirectDir: RedirectOn, Metacopy: SwitchOn, Verity: v})
		if err != nil {
			t.Fatal(err)
		}
		return fsys
	}
	fsys := open(VerityOn)
	if err := fsys.Chmod("f", 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := upper.Getxattr("f", "trusted.overlay.metacopy")
	want, _ := verityDigest(bytes.NewReader(data), int64(len(data)), verityAlgSHA256)
	if err != nil || len(v) != 36 || v[0] != 0 || v[1] != 36 || v[3] != verityAlgSHA256 || !bytes.Equal(v[4:], want) {
		t.Fatalf("metacopy xattr %x (%v), want 00 24 00 01 + %x", v, err, want)
	}
	if got, err := fsys.IOFS().(interface {
		ReadFile(string) ([]byte, error)
	}).ReadFile("f"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a good digest: %v", err)
	}

	// The data below changes (same size): a new overlay refuses it.
	tampered := bytes.Clone(data)
	tampered[100] ^= 1
	lower.WriteFile("f", tampered, 0o644)
	fsys = open(VerityOn)
	if _, err := fsys.Open("f"); !errnoIsInternal(err, syscall.EIO) {
		t.Errorf("read of tampered data: %v, want EIO", err)
	}
	// Writing needs the data too: refused as well, and nothing copied.
	if _, err := fsys.OpenFile("f", os.O_WRONLY, 0); !errnoIsInternal(err, syscall.EIO) {
		t.Errorf("write over tampered data: %v, want EIO", err)
	}
	// verity=off ignores digests.
	if _, err := open(VerityOff).Open("f"); err != nil {
		t.Errorf("verity=off: %v", err)
	}

	// A metacopy file without digest (written with verity off).
	if err := open(VerityOff).Chmod("g", 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := open(VerityOn).Open("g"); err != nil {
		t.Errorf("verity=on, no digest: %v", err)
	}
	if _, err := open(VerityRequire).Open("g"); !errnoIsInternal(err, syscall.EIO) {
		t.Errorf("verity=require, no digest: %v, want EIO", err)
	}
}

func errnoIsInternal(err error, want syscall.Errno) bool {
	var e syscall.Errno
	return errors.As(err, &e) && e == want
}
