package overlay_test

import (
	"os"
	"testing"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testerrno"
)

// FuzzHostileLayers fills lower layers with arbitrary values of the
// overlay's private xattrs (opaque, redirect, metacopy, origin, nlink,
// whiteout, impure) on dirs and files, and runs lookups, listings, reads,
// copy-ups and renames under every feature option: nothing may panic, and
// every error must carry a syscall.Errno.
func FuzzHostileLayers(f *testing.F) {
	f.Add("opaque", []byte("y"), "redirect", []byte("/a/b"), uint8(0))
	f.Add("redirect", []byte("../../etc"), "metacopy", []byte{0, 36, 0, 1}, uint8(7))
	f.Add("metacopy", []byte{}, "redirect", []byte("/d"), uint8(3))
	f.Add("origin", []byte{0, 0xfb, 21, 0, 1}, "nlink", []byte("U-9"), uint8(4))
	f.Add("whiteout", []byte{}, "opaque", []byte("x"), uint8(1))
	f.Add("redirect", []byte("/d/d/d/d"), "redirect", []byte("d"), uint8(2))
	f.Fuzz(func(t *testing.T, x1 string, v1 []byte, x2 string, v2 []byte, opts uint8) {
		if len(v1) > 4096 || len(v2) > 4096 {
			return
		}
		top, bottom, data := overlay.NewMemFS(), overlay.NewMemFS(), overlay.NewMemFS()
		for _, m := range []*overlay.MemFS{top, bottom} {
			m.MkdirAll("d/d", 0o755)
			m.WriteFile("d/f", []byte("file"), 0o644)
			m.WriteFile("d/e", nil, 0o644)
			m.Symlink("../d", "d/l")
		}
		data.MkdirAll("a", 0o755)
		data.WriteFile("a/b", []byte("data"), 0o644)
		for _, p := range []string{"d", "d/d", "d/f", "d/e"} {
			top.Setxattr(p, "trusted.overlay."+x1, v1)
			top.Setxattr(p, "trusted.overlay."+x2, v2)
		}
		o := overlay.Options{
			Lower:    []*overlay.Layer{overlay.MemLayer(top), overlay.MemLayer(bottom)},
			DataOnly: []*overlay.Layer{overlay.MemLayer(data)},
			Upper:    overlay.MemLayer(nil),
		}
		if opts&1 != 0 {
			o.RedirectDir = overlay.RedirectOn
		}
		if opts&2 != 0 {
			o.RedirectDir, o.Metacopy = overlay.RedirectOn, overlay.SwitchOn
		}
		if opts&4 != 0 {
			o.Index = overlay.SwitchOn
		}
		if opts&8 != 0 {
			o.Verity = overlay.VerityRequire
		}
		if opts&16 != 0 {
			o.RedirectDir = overlay.RedirectNoFollow
		}
		fsys, err := overlay.New(o)
		if err != nil {
			testerrno.Require(t, "New", err)
			return
		}
		defer fsys.Close()
		for _, p := range []string{"d", "d/d", "d/f", "d/e", "d/l", "d/l/f"} {
			_, err := fsys.Stat(p)
			testerrno.Require(t, "stat "+p, err)
			_, err = fsys.ReadDir(p)
			testerrno.Require(t, "readdir "+p, err)
			_, err = afero.ReadFile(fsys, p)
			testerrno.Require(t, "read "+p, err)
			_, err = fsys.Listxattr(p)
			testerrno.Require(t, "listxattr "+p, err)
		}
		testerrno.Require(t, "chmod", fsys.Chmod("d/f", 0o600))
		if f, err := fsys.OpenFile("d/e", os.O_RDWR, 0); err == nil {
			f.Write([]byte("x"))
			f.Close()
		} else {
			testerrno.Require(t, "open", err)
		}
		testerrno.Require(t, "rename dir", fsys.Rename("d/d", "moved"))
		testerrno.Require(t, "rename file", fsys.Rename("d/f", "d/g"))
		testerrno.Require(t, "link", fsys.Link("d/e", "e2"))
		testerrno.Require(t, "removeall", fsys.RemoveAll("d"))
	})
}
