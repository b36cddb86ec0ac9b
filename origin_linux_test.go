package overlay_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
)

// originFixture makes lower/upper/work dirs: a file f, a dir d with a
// file, and a file h with a second hard link h2.
func originFixture(t *testing.T) (lower, upper, work string) {
	t.Helper()
	dir := t.TempDir()
	lower, upper, work = filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
	for _, d := range []string{lower, upper, work, filepath.Join(lower, "d")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"f", "d/x", "h"} {
		if err := os.WriteFile(filepath.Join(lower, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(lower, "h"), filepath.Join(lower, "h2")); err != nil {
		t.Fatal(err)
	}
	return lower, upper, work
}

func ino(t *testing.T, stat func(string) (os.FileInfo, error), name string) uint64 {
	t.Helper()
	fi, err := stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// originChanges copies up f, d and h and renames f to g, through fs.
type changer interface {
	Chmod(string, os.FileMode) error
	Rename(string, string) error
	Lstat(string) (os.FileInfo, error)
}

func originChanges(t *testing.T, c changer) {
	t.Helper()
	for _, err := range []error{c.Chmod("f", 0o600), c.Chmod("d", 0o700), c.Chmod("h", 0o600), c.Rename("f", "g")} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

type osChanger struct{ root string }

func (o osChanger) Chmod(n string, m os.FileMode) error { return os.Chmod(filepath.Join(o.root, n), m) }
func (o osChanger) Rename(a, b string) error {
	return os.Rename(filepath.Join(o.root, a), filepath.Join(o.root, b))
}
func (o osChanger) Lstat(n string) (os.FileInfo, error) { return os.Lstat(filepath.Join(o.root, n)) }

// checkInodes asserts the kernel's st_ino rules on what stat shows: the
// copied-up f (now g) and d keep their lower inode numbers; h, whose lower
// has two links, shows its upper's.
func checkInodes(t *testing.T, who string, stat func(string) (os.FileInfo, error), lower, upper string) {
	t.Helper()
	if got, want := ino(t, stat, "g"), ino(t, os.Lstat, filepath.Join(lower, "f")); got != want {
		t.Errorf("%s: st_ino of copied-up f (renamed g) = %d, want the lower's %d", who, got, want)
	}
	if got, want := ino(t, stat, "d"), ino(t, os.Lstat, filepath.Join(lower, "d")); got != want {
		t.Errorf("%s: st_ino of copied-up dir d = %d, want the lower's %d", who, got, want)
	}
	if got, want := ino(t, stat, "h"), ino(t, os.Lstat, filepath.Join(upper, "h")); got != want {
		t.Errorf("%s: st_ino of copied-up hard-linked h = %d, want the upper's %d", who, got, want)
	}
}

func TestOriginInodes(t *testing.T) {
	requireKernel(t)
	opts := func(l, u, w string) string { return "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w }

	// The kernel's own behaviour on its copy of the fixture.
	kl, ku, kw := originFixture(t)
	kmnt := t.TempDir()
	if err := unix.Mount("overlay", kmnt, "overlay", 0, opts(kl, ku, kw)); err != nil {
		t.Fatal(err)
	}
	originChanges(t, osChanger{kmnt})
	checkInodes(t, "kernel", osChanger{kmnt}.Lstat, kl, ku)
	unix.Unmount(kmnt, 0)

	// The library on its copy.
	ll, lu, lw := originFixture(t)
	o, err := overlay.ParseOptions(opts(ll, lu, lw))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	originChanges(t, fsys)
	checkInodes(t, "library", fsys.Lstat, ll, lu)
	fsys.Close()

	// The kernel decodes the origins the library wrote...
	if err := unix.Mount("overlay", kmnt, "overlay", 0, opts(ll, lu, lw)); err != nil {
		t.Fatal(err)
	}
	checkInodes(t, "kernel over the library's upper", osChanger{kmnt}.Lstat, ll, lu)
	unix.Unmount(kmnt, 0)

	// ...and the library recognises the ones the kernel wrote, byte for
	// byte (it compares them with the handles of the lower objects).
	o, err = overlay.ParseOptions(opts(kl, ku, kw))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err = overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if got, want := ino(t, fsys.Lstat, "d"), ino(t, os.Lstat, filepath.Join(kl, "d")); got != want {
		t.Errorf("library over the kernel's upper: st_ino of d = %d, want %d", got, want)
	}
	// g was renamed by the kernel: its origin is found by handle.
	if got, want := ino(t, fsys.Lstat, "g"), ino(t, os.Lstat, filepath.Join(kl, "f")); got != want {
		t.Errorf("library over the kernel's upper: st_ino of the renamed g = %d, want the lower's %d", got, want)
	}
	// And a file the kernel copies up in place.
	if err := os.WriteFile(filepath.Join(kl, "k"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", kmnt, "overlay", 0, opts(kl, ku, kw)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(kmnt, "k"), 0o600); err != nil {
		t.Fatal(err)
	}
	unix.Unmount(kmnt, 0)
	fsys.Close()
	o, _ = overlay.ParseOptions(opts(kl, ku, kw))
	fsys, err = overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ino(t, fsys.Lstat, "k"), ino(t, os.Lstat, filepath.Join(kl, "k")); got != want {
		t.Errorf("library over the kernel's upper: st_ino of k = %d, want the lower's %d (origin bytes differ)", got, want)
	}
}
