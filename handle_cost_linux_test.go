//go:build linux

package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/testskip"
	"golang.org/x/sys/unix"
)

// TestForgedHandleNoWalk: a forged handle (a real one with a byte of its
// fid changed, or one naming another filesystem) is ESTALE without any
// walk of the layers: the map of the lower layers by handle is never
// built and no dir is listed. A real handle of a lower file the FS did
// not give out still opens it. BenchmarkOpenByHandleForged measures the
// same on 100,000 files, against the kernel.
func TestForgedHandleNoWalk(t *testing.T) {
	if os.Geteuid() != 0 {
		testskip.Skip(t, "decoding file handles needs CAP_DAC_READ_SEARCH (root)")
	}
	root := t.TempDir()
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=16m"); err != nil {
		testskip.Skip(t, "cannot mount tmpfs: %v", err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	for _, d := range []string{"l/d", "u", "w"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		if err := os.WriteFile(filepath.Join(root, "l/d", fmt.Sprintf("f%03d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func() *FS {
		o, err := ParseOptions("lowerdir=" + root + "/l,upperdir=" + root + "/u,workdir=" + root + "/w,index=on,nfs_export=on")
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return fsys
	}
	fsys := open()
	h, err := fsys.Handle("d/f100")
	if err != nil {
		t.Fatal(err)
	}
	hu, err := fsys.Handle(".")
	if err != nil {
		t.Fatal(err)
	}
	fsys.Close()

	fsys = open()
	defer fsys.Close()
	forged := map[string][]byte{}
	f := bytes.Clone(h)
	f[len(f)-5] ^= 0xff // the fid's inode number
	forged["lower fid"] = f
	f = bytes.Clone(hu)
	f[len(f)-5] ^= 0xff
	forged["upper fid"] = f
	f = bytes.Clone(h)
	f[3+5] ^= 0xff // the UUID
	forged["uuid"] = f
	for what, f := range forged {
		if _, err := fsys.OpenByHandle(f, os.O_RDONLY); !errors.Is(err, syscall.ESTALE) {
			t.Errorf("forged %s: %v, want ESTALE", what, err)
		}
	}
	fsys.mu.RLock()
	built, listed := fsys.originMap != nil, len(fsys.root.children) > 0
	fsys.mu.RUnlock()
	if built || listed {
		t.Errorf("forged handles walked the layers: origin map built %v, root looked up %v", built, listed)
	}
	// A real handle this FS did not give out: found through the map.
	file, err := fsys.OpenByHandle(h, os.O_RDONLY)
	if err != nil {
		t.Fatalf("real handle: %v", err)
	}
	if file.Name() != "d/f100" {
		t.Errorf("real handle opened %q", file.Name())
	}
	file.Close()
}
