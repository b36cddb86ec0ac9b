package overlay_test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
)

// TestStackedOverlays builds an inner overlay, writes through it an
// escaped xattr whiteout and opaque=x marker (meant for an outer overlay),
// then stacks an outer overlay on it; the kernel does the same with a
// mount on a mount. Both outer overlays must hide the whited-out name and
// show the same tree.
func TestStackedOverlays(t *testing.T) {
	requireKernel(t)
	build := func(root string) (innerLower, innerUpper, innerWork, bottom string) {
		innerLower, innerUpper, innerWork, bottom = filepath.Join(root, "il"), filepath.Join(root, "iu"), filepath.Join(root, "iw"), filepath.Join(root, "b")
		for _, d := range []string{filepath.Join(innerLower, "d"), innerUpper, innerWork, filepath.Join(bottom, "d")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for f, data := range map[string]string{"b/d/gone": "below", "b/d/kept": "below", "il/d/top": "inner"} {
			if err := os.WriteFile(filepath.Join(root, f), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	// markers writes, through the inner overlay, an xattr whiteout for
	// d/gone and the opaque=x marker on d: trusted.overlay.* names, which
	// the inner overlay stores escaped.
	type inner interface {
		WriteFile(name string) error
		Setxattr(name, attr, value string) error
	}
	markers := func(in inner) {
		for _, err := range []error{
			in.WriteFile("d/gone"),
			in.Setxattr("d/gone", "trusted.overlay.whiteout", ""),
			in.Setxattr("d", "trusted.overlay.opaque", "x"),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	list := func(readDir func(string) ([]string, error), stat func(string) error) []string {
		names, err := readDir("d")
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		var out []string
		for _, n := range names {
			e := "ok"
			if err := stat("d/" + n); err != nil {
				var en syscall.Errno
				errors.As(err, &en)
				e = en.Error()
			}
			out = append(out, n+":"+e)
		}
		if err := stat("d/gone"); !errors.Is(err, syscall.ENOENT) {
			out = append(out, "d/gone visible")
		}
		return out
	}

	// The kernel: an overlay mounted on an overlay mount.
	kroot := t.TempDir()
	il, iu, iw, b := build(kroot)
	imnt, omnt := filepath.Join(kroot, "im"), filepath.Join(kroot, "om")
	os.Mkdir(imnt, 0o755)
	os.Mkdir(omnt, 0o755)
	if err := unix.Mount("overlay", imnt, "overlay", 0, "lowerdir="+il+",upperdir="+iu+",workdir="+iw); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(imnt, unix.MNT_DETACH)
	markers(osInner{imnt})
	if err := unix.Mount("overlay", omnt, "overlay", 0, "lowerdir="+imnt+":"+b); err != nil {
		t.Fatal(err)
	}
	kernel := list(func(d string) ([]string, error) {
		f, err := os.Open(filepath.Join(omnt, d))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	}, func(n string) error { _, err := os.Lstat(filepath.Join(omnt, n)); return err })
	unix.Unmount(omnt, 0)

	// The library: an overlay whose top lower is another overlay.
	lroot := t.TempDir()
	il, iu, iw, b = build(lroot)
	o, err := overlay.ParseOptions("lowerdir=" + il + ",upperdir=" + iu + ",workdir=" + iw)
	if err != nil {
		t.Fatal(err)
	}
	in, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	markers(libInner{in})
	bl, err := overlay.DirLayer(b)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	out, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.OverlayLayer(in), bl}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	lib := list(func(d string) ([]string, error) {
		f, err := out.Open(d)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	}, func(n string) error { _, err := out.Lstat(n); return err })

	t.Logf("outer d: kernel %v, library %v", kernel, lib)
	if len(kernel) == 0 || !equalStrings(kernel, lib) {
		t.Errorf("outer overlay's d:\n\tkernel:  %v\n\tlibrary: %v", kernel, lib)
	}
	// A third level is refused, as by the kernel.
	if _, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.OverlayLayer(out), overlay.MemLayer(nil)}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("overlay of an overlay of an overlay: %v, want EINVAL", err)
	}
}

type osInner struct{ root string }

func (o osInner) WriteFile(n string) error { return os.WriteFile(filepath.Join(o.root, n), nil, 0o644) }
func (o osInner) Setxattr(n, a, v string) error {
	return unix.Setxattr(filepath.Join(o.root, n), a, []byte(v), 0)
}

type libInner struct{ fs *overlay.FS }

func (l libInner) WriteFile(n string) error {
	f, err := l.fs.Create(n)
	if err != nil {
		return err
	}
	return f.Close()
}
func (l libInner) Setxattr(n, a, v string) error { return l.fs.Setxattr(n, a, []byte(v), 0) }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
