package overlay_test

import (
	"io/fs"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testerrno"
)

// memStack builds a two-lower, one-upper in-memory overlay with whiteouts,
// an opaque dir, symlinks and a copied-up file.
func memStack(t testing.TB) *overlay.FS {
	t.Helper()
	base, top := overlay.NewMemFS(), overlay.NewMemFS()
	for _, err := range []error{
		base.MkdirAll("a/b", 0o755),
		base.WriteFile("a/b/deep", []byte("deep"), 0o644),
		base.WriteFile("a/gone", []byte("x"), 0o644),
		base.MkdirAll("opq/hidden", 0o755),
		base.WriteFile("root.txt", []byte("base"), 0o644),
		top.MkdirAll("a", 0o755),
		top.Mknod("a/gone", syscall.S_IFCHR, 0),
		top.WriteFile("a/top", []byte("top"), 0o600),
		top.Symlink("top", "a/link"),
		top.Symlink("../root.txt", "a/uplink"),
		top.MkdirAll("opq", 0o755),
		top.Setxattr("opq", "trusted.overlay.opaque", []byte("y")),
		top.WriteFile("opq/shown", nil, 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ofs, err := overlay.New(overlay.Options{
		Lower: []*overlay.Layer{overlay.MemLayer(top), overlay.MemLayer(base)},
		Upper: overlay.MemLayer(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ofs.Close() })
	if err := afero.WriteFile(ofs, "root.txt", []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ofs.MkdirAll("new/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	return ofs
}

func TestIOFS(t *testing.T) {
	ofs := memStack(t)
	want := []string{"a/b/deep", "a/top", "a/link", "a/uplink", "opq/shown", "root.txt", "new/dir"}
	if err := fstest.TestFS(ofs.IOFS(), want...); err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(ofs.IOFS(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(sub, "b/deep", "top", "link"); err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []string{"a/gone", "opq/hidden"} {
		if _, err := fs.Stat(ofs.IOFS(), hidden); !errorsIsNotExist(err) {
			t.Errorf("Stat(%q) = %v, want ErrNotExist", hidden, err)
		}
	}
	if _, err := ofs.IOFS().Open("/abs"); err == nil {
		t.Error("Open of an absolute path succeeded on the io/fs view")
	}
	data, err := fs.ReadFile(ofs.IOFS(), "a/uplink")
	if err != nil || string(data) != "changed" {
		t.Errorf("ReadFile(a/uplink) = %q, %v", data, err)
	}
}

func TestIOFSReadOnly(t *testing.T) {
	a, b := overlay.NewMemFS(), overlay.NewMemFS()
	a.WriteFile("x", []byte("a"), 0o644)
	b.WriteFile("y", []byte("b"), 0o644)
	ofs, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.MemLayer(a), overlay.MemLayer(b)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ofs.Close()
	if err := fstest.TestFS(ofs.IOFS(), "x", "y"); err != nil {
		t.Fatal(err)
	}
	if err := ofs.Mkdir("z", 0o755); !testerrno.Is(err, syscall.EROFS) {
		t.Errorf("Mkdir on a read-only overlay: %v, want EROFS", err)
	}
}
