package overlay_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testskip"
)

// TestHandlesKernel compares the library's file handles with the ones
// name_to_handle_at gives on the kernel's overlay of the same dirs
// (nfs_export=on, on a tmpfs), before and after a copy-up, then opens
// objects by handle after copy-up, rename and removal.
func TestHandlesKernel(t *testing.T) {
	requireKernel(t)
	l, u, w, m := testskip.TmpfsLayers(t)
	for f, data := range map[string]string{"l/f": "lower f", "l/d/g": "lower g", "l/gone": "x", "u/uf": "upper"} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(l), f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w + ",index=on,nfs_export=on"
	names := []string{".", "f", "d", "d/g", "uf"}
	kernelHandles := func() map[string][]byte {
		out := map[string][]byte{}
		for _, n := range names {
			h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(m, n), 0)
			if err != nil {
				t.Fatalf("name_to_handle_at %s: %v", n, err)
			}
			if h.Type() != overlay.HandleType {
				t.Fatalf("kernel handle type %#x", h.Type())
			}
			out[n] = h.Bytes()
		}
		return out
	}
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	before := kernelHandles()
	if err := os.Chmod(filepath.Join(m, "f"), 0o600); err != nil { // copy-up (indexed)
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m, "d/new"), nil, 0o644); err != nil { // dir copy-up
		t.Fatal(err)
	}
	after := kernelHandles()
	unix.Unmount(m, 0)

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
		h, err := fsys.Handle(n)
		if err != nil {
			t.Fatalf("Handle(%s): %v", n, err)
		}
		if !bytes.Equal(h, after[n]) {
			t.Errorf("Handle(%s) = %x, kernel %x", n, h, after[n])
		}
		if !bytes.Equal(before[n], after[n]) {
			t.Errorf("the kernel's handle of %s changed across copy-up", n)
		}
	}

	// Round trips: a handle taken before a copy-up and a rename still
	// opens the object; a removed object's handle, and a forged one, are
	// ESTALE.
	hg, _ := fsys.Handle("d/g")
	hgone, _ := fsys.Handle("gone")
	if err := fsys.Chmod("d/g", 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename("d/g", "g2"); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenByHandle(hg, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open by handle after copy-up and rename: %v", err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if string(data) != "lower g" || f.Name() != "g2" {
		t.Errorf("open by handle: %q at %q", data, f.Name())
	}
	if err := fsys.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.OpenByHandle(hgone, os.O_RDONLY); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("handle of a removed file: %v, want ESTALE", err)
	}
	forged := bytes.Clone(hg)
	forged[len(forged)-5] ^= 0xff
	if _, err := fsys.OpenByHandle(forged, os.O_RDONLY); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("forged handle: %v, want ESTALE", err)
	}
	if _, err := fsys.OpenByHandle([]byte{1, 2, 3}, os.O_RDONLY); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("garbage handle: %v, want ESTALE", err)
	}
}
