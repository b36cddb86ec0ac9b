package overlay_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-overlay/overlay"
)

// FuzzNativeNames runs every operation with crafted names on an overlay
// of native layers whose lower holds symlinks pointing out of it, and
// checks that nothing outside the layer roots was touched: the sentinel
// dir beside them keeps its exact contents.
func FuzzNativeNames(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	top := f.TempDir()
	sentinel := filepath.Join(top, "sentinel")
	os.MkdirAll(filepath.Join(sentinel, "sub"), 0o755)
	os.WriteFile(filepath.Join(sentinel, "file"), []byte("keep"), 0o644)
	before := snapshot(f, sentinel)
	f.Fuzz(func(t *testing.T, a, b string) {
		dir := t.TempDir()
		lower, upper, work := filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
		for _, d := range []string{lower, upper, work} {
			os.Mkdir(d, 0o755)
		}
		os.MkdirAll(filepath.Join(lower, "d"), 0o755)
		os.Symlink(sentinel, filepath.Join(lower, "d", "abs"))
		os.Symlink("../../sentinel", filepath.Join(lower, "d", "up"))
		os.Symlink(sentinel, filepath.Join(upper, "abs"))
		ll, err := overlay.DirLayer(lower)
		if err != nil {
			t.Fatal(err)
		}
		ul, err := overlay.DirLayer(upper)
		if err != nil {
			t.Fatal(err)
		}
		wl, err := overlay.DirLayer(work)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []*overlay.Layer{ll, ul, wl} {
			defer l.Close() // an FS does not close the layers it is given
		}
		// Not root: no trusted.* xattrs, so userxattr (as the kernel needs).
		ofs, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{ll}, Upper: ul, Work: wl, Userxattr: os.Geteuid() != 0})
		if err != nil {
			t.Fatal(err)
		}
		defer ofs.Close()
		fuzzOps(ofs, a, b)
		fuzzOps(ofs, "d/up/"+a, "d/abs/"+b)
		fuzzOps(ofs, "abs/"+a, "abs")
		if after := snapshot(t, sentinel); after != before {
			t.Fatalf("outside the layers changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func snapshot(t testing.TB, dir string) string {
	var out string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		data := ""
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			data = string(b)
		}
		out += p + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + data + "\n"
		return nil
	})
	return out
}
