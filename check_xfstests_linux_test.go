package overlay

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-overlay/overlay/internal/testskip"
	"golang.org/x/sys/unix"
)

// ckBuilders are the layer kinds the fsck cases run on: in memory, and as
// root on host dirs (native layers), where trusted.* xattrs can be set.
func ckBuilders() map[string]ckBuilder {
	b := map[string]ckBuilder{"mem": memBuilder}
	if os.Geteuid() == 0 {
		b["native"] = dirBuilder
	}
	return b
}

// hostDir is a host dir as a ckFS.
type hostDir string

func (h hostDir) p(name string) string { return filepath.Join(string(h), name) }

func (h hostDir) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(h.p(name), perm) }
func (h hostDir) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return os.WriteFile(h.p(name), data, perm)
}
func (h hostDir) Mknod(name string, mode uint32, dev uint64) error {
	return unix.Mknod(h.p(name), mode, int(dev))
}
func (h hostDir) Setxattr(name, attr string, value []byte) error {
	return unix.Lsetxattr(h.p(name), attr, value, 0)
}
func (h hostDir) Getxattr(name, attr string) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(h.p(name), attr, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
func (h hostDir) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(h.p(name)) }

func dirBuilder(t *testing.T, n int) ([]ckFS, ckFS, []*Layer, *Layer, *Layer) {
	dir := t.TempDir()
	open := func(name string) (hostDir, *Layer) {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := DirLayer(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return hostDir(p), l
	}
	var lowers []ckFS
	var lo []*Layer
	for i := range n {
		h, l := open("lower" + strconv.Itoa(i+1))
		lowers, lo = append(lowers, h), append(lo, l)
	}
	u, up := open("upper")
	_, work := open("work")
	return lowers, u, lo, up, work
}

// TestCheckKernelMounts: corruptions that make the kernel fail or show
// what it should not (a metacopy value it refuses with EIO, an xattr
// whiteout it lists as a file) are found with -n, repaired with -p, and
// the kernel then shows the expected tree; a second -n is clean.
func TestCheckKernelMounts(t *testing.T) {
	for name, build := range ckBuilders() {
		t.Run(name, func(t *testing.T) {
			lowers, upper, lo, up, work := build(t, 1)
			ckLayer(t, lowers[0], "d g\nf g/x\nf g/y")
			memMust(t, lowers[0].WriteFile("f", []byte("data"), 0o644))
			ckLayer(t, upper, "d g\nx / impure y")
			memMust(t, upper.WriteFile("g/x", nil, 0o644))
			memMust(t, upper.Setxattr("g/x", "trusted.overlay.whiteout", nil))
			memMust(t, upper.WriteFile("f", []byte{0, 0, 0, 0}, 0o644))
			memMust(t, upper.Setxattr("f", "trusted.overlay.metacopy", []byte("y")))
			o := Options{Lower: lo, Upper: up, Work: work, Metacopy: SwitchOn}
			r, err := Check(o, CheckOptions{Mode: CheckNoChange})
			if err != nil || r.ExitCode() != ExitUncorrected || len(r.Problems) != 2 {
				t.Fatalf("-n: %v, exit %d: %v", err, r.ExitCode(), r.Problems)
			}
			if r, err = Check(o, CheckOptions{Mode: CheckSafe}); err != nil || r.ExitCode() != ExitCorrected {
				t.Fatalf("-p: %v, exit %d: %v", err, r.ExitCode(), r.Problems)
			}
			if r, err = Check(o, CheckOptions{Mode: CheckNoChange}); err != nil || r.ExitCode() != ExitClean {
				t.Fatalf("second -n: %v, exit %d: %v", err, r.ExitCode(), r.Problems)
			}
			fsys, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()
			if b, err := fs.ReadFile(fsys.IOFS(), "f"); err != nil || string(b) != "data" {
				t.Errorf("library: f = %q, %v", b, err)
			}
			if ents, err := fsys.ReadDir("g"); err != nil || len(ents) != 1 || ents[0].Name() != "y" {
				t.Errorf("library: g lists %v, %v; want y", ents, err)
			}
			h, ok := upper.(hostDir)
			if !ok {
				return
			}
			if b, err := os.ReadFile("/proc/filesystems"); err != nil || !bytes.Contains(b, []byte("\toverlay\n")) {
				testskip.Skip(t, "no overlay in /proc/filesystems")
			}
			fsys.Close()
			m := t.TempDir()
			opts := "lowerdir=" + string(lowers[0].(hostDir)) + ",upperdir=" + string(h) + ",workdir=" + filepath.Join(filepath.Dir(string(h)), "work") + ",metacopy=on"
			if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
				t.Fatalf("mount: %v", err)
			}
			defer unix.Unmount(m, 0)
			if b, err := os.ReadFile(filepath.Join(m, "f")); err != nil || string(b) != "data" {
				t.Errorf("kernel: f = %q, %v", b, err)
			}
			if ents, err := os.ReadDir(filepath.Join(m, "g")); err != nil || len(ents) != 1 || ents[0].Name() != "y" {
				t.Errorf("kernel: g lists %v, %v; want y", ents, err)
			}
		})
	}
}
