package overlay_test

import (
	"os"
	"testing"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
)

// fuzzOps runs every name-taking operation on ofs with the fuzzed names;
// none may panic.
func fuzzOps(ofs *overlay.FS, a, b string) {
	afero.WriteFile(ofs, a, []byte("x"), 0o644)
	ofs.Mkdir(a, 0o755)
	ofs.MkdirAll(b, 0o755)
	ofs.Symlink(a, b)
	ofs.Stat(a)
	ofs.Lstat(b)
	ofs.Readlink(b)
	if f, err := ofs.OpenFile(b, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
		f.Write([]byte("y"))
		f.Readdirnames(-1)
		f.Close()
	}
	ofs.ReadDir(a)
	ofs.Chmod(a, 0o700)
	ofs.Truncate(b, 1)
	ofs.Setxattr(a, "user.k", []byte("v"), 0)
	ofs.Listxattr(a)
	ofs.Link(a, b+"l")
	ofs.Rename(a, b)
	ofs.Remove(b)
	ofs.RemoveAll(a)
}

var fuzzSeeds = [][2]string{
	{"a", "b"}, {"../x", "../../y"}, {"/abs/../..", "a/./b/"}, {"a\x00b", "c"},
	{"..", "."}, {"/", "//"}, {"d/../../../../etc/passwd", "lnk"}, {"a/b/c/d/e", "a/b"},
}

// FuzzNames checks that no name, however crafted, makes an in-memory
// overlay panic.
func FuzzNames(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		lower := overlay.NewMemFS()
		lower.MkdirAll("d/e", 0o755)
		lower.WriteFile("d/f", []byte("lower"), 0o644)
		lower.Symlink("../../..", "d/up")
		ofs, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.MemLayer(lower)}, Upper: overlay.MemLayer(nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer ofs.Close()
		fuzzOps(ofs, a, b)
		fuzzOps(ofs, "d/up/"+a, "d/up/"+b)
	})
}
