package overlay_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"golang.org/x/sys/unix"
)

// Tests of New's mount-time checks against the kernel's mount(2) on the
// same layouts: every refusal has the kernel's errno and touches nothing.

// mountLayout makes, under dir, the dirs the mount-check tests use: l, l2
// with a subdir each, u with data and u/sub/work/marker, w with
// w/work/marker and w/sub, and an unrelated dir x.
func mountLayout(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"l/sub", "l2/sub", "u/sub/work", "w/work", "w/sub", "x", "m"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"l/f", "u/data", "u/sub/work/marker", "w/work/marker", "x/f"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bindMount bind-mounts src on dst (made if missing) until the test ends.
func bindMount(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", src, dst, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dst, 0); err != nil {
			unix.Unmount(dst, unix.MNT_DETACH)
		}
	})
}

// treeList lists every path under dir (relative) with its type and, for
// regular files, its content: what a refused New must leave as it was.
func treeList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, p+": "+err.Error())
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		s := rel + " " + d.Type().String()
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			s += " " + string(b)
		}
		out = append(out, s)
		return nil
	})
	sort.Strings(out)
	return out
}

// expand replaces the names of a layout in an option string by their
// paths under dir.
func expand(dir, opts string) string {
	var parts []string
	for _, p := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			parts = append(parts, p)
			continue
		}
		var vs []string
		for _, e := range strings.Split(v, ":") {
			vs = append(vs, filepath.Join(dir, e))
		}
		parts = append(parts, k+"="+strings.Join(vs, ":"))
	}
	return strings.Join(parts, ",")
}

// TestNewBindMountOverlap: layers that overlap through a bind mount are
// refused as the kernel refuses them (upperdir and workdir on different
// mounts: EINVAL; a lower root beneath another layer's root in the
// filesystem: ELOOP), before anything in the upper or work dir changes.
func TestNewBindMountOverlap(t *testing.T) {
	requireKernel(t)
	for _, c := range []struct {
		name  string
		binds [][2]string // src, dst under the layout dir
		opts  string
		want  error
	}{
		{"upper is a bind of work/work", [][2]string{{"w/work", "bu"}}, "lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL},
		{"work is a bind of an upper subdir", [][2]string{{"u/sub", "bw"}}, "lowerdir=l,upperdir=u,workdir=bw", syscall.EINVAL},
		{"upper is a bind of an unrelated dir", [][2]string{{"x", "bu"}}, "lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL},
		{"upper is a bind of a lower subdir", [][2]string{{"l/sub", "bu"}}, "lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL},
		{"lower is a bind of an upper subdir", [][2]string{{"u/sub", "bl"}}, "lowerdir=bl,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower is a bind of a work subdir", [][2]string{{"w/sub", "bl"}}, "lowerdir=bl,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower is a bind of a lower subdir", [][2]string{{"l2/sub", "bl"}}, "lowerdir=bl:l2,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower contains a bound lower", [][2]string{{"l2/sub", "bl"}}, "lowerdir=l2:bl,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower is a bind of an unrelated dir", [][2]string{{"x", "bl"}}, "lowerdir=bl:l,upperdir=u,workdir=w", nil},
		{"lower is a bind of a dir holding upper", [][2]string{{".", "bl"}}, "lowerdir=bl,upperdir=u,workdir=w", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			kdir, ldir := t.TempDir(), t.TempDir()
			for _, d := range []string{kdir, ldir} {
				mountLayout(t, d)
			}
			for _, d := range []string{kdir, ldir} {
				for _, b := range c.binds {
					bindMount(t, filepath.Join(d, b[0]), filepath.Join(d, b[1]))
				}
			}
			kopts, lopts := expand(kdir, c.opts), expand(ldir, c.opts)
			kerr := unix.Mount("overlay", filepath.Join(kdir, "m"), "overlay", 0, kopts)
			if kerr == nil {
				layertest.Unmount(filepath.Join(kdir, "m"))
			}
			if !errors.Is(kerr, c.want) && !(kerr == nil && c.want == nil) {
				t.Fatalf("kernel mount -o %s: %v, want %v", kopts, kerr, c.want)
			}
			before := treeList(t, ldir)
			o, err := overlay.ParseOptions(lopts)
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := overlay.New(o)
			if c.want == nil {
				if err != nil {
					t.Fatalf("New(%s): %v, the kernel mounts it", lopts, err)
				}
				fsys.Close()
				return
			}
			if !errors.Is(err, c.want) {
				t.Errorf("New(%s): %v, want %v as the kernel", lopts, err, c.want)
			}
			if err == nil {
				fsys.Close()
			}
			if after := treeList(t, ldir); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("a refused New changed the layers:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}
