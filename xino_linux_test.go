package overlay_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testskip"
)

// TestXinoKernel puts the lower layer on a tmpfs and the upper on the
// temp dir's filesystem, and compares the inode numbers the kernel and the
// library show for the same objects of the same dirs, under xino=off,
// auto and on (the library's own runs are made on the same dirs after the
// kernel's, so the real inode numbers are the same).
func TestXinoKernel(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	tmpfs := filepath.Join(dir, "tmpfs")
	if err := os.Mkdir(tmpfs, 0o755); err != nil {
		t.Fatal(err)
	}
	testskip.Tmpfs(t, tmpfs, "size=8m")
	lower := filepath.Join(tmpfs, "l")
	for _, d := range []string{lower, filepath.Join(lower, "d")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"f", "d/x", "c"} {
		if err := os.WriteFile(filepath.Join(lower, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{".", "f", "d", "d/x", "c", "u", "ud"}
	for _, mode := range []string{"off", "auto", "on"} {
		t.Run("xino="+mode, func(t *testing.T) {
			upper, work := filepath.Join(dir, mode, "u"), filepath.Join(dir, mode, "w")
			for _, d := range []string{upper, work, filepath.Join(upper, "ud")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(upper, "u"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",xino=" + mode
			mnt := filepath.Join(dir, mode, "m")
			os.Mkdir(mnt, 0o755)
			if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(mnt, "c"), 0o600); err != nil { // copy-up
				t.Fatal(err)
			}
			kernel := map[string]uint64{}
			for _, n := range names {
				kernel[n] = ino(t, os.Lstat, filepath.Join(mnt, n))
			}
			unix.Unmount(mnt, 0)

			o, err := overlay.ParseOptions(opts)
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := overlay.New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()
			for _, n := range names {
				got := ino(t, fsys.Lstat, n)
				fi, _ := fsys.Lstat(n)
				if fi.IsDir() && mode == "off" && n != "." {
					continue // overlay-allocated, non-persistent: numbering differs
				}
				if got != kernel[n] {
					t.Errorf("st_ino of %s: library %#x, kernel %#x", n, got, kernel[n])
				}
			}
		})
	}
}
