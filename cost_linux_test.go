//go:build linux

package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/native"
	"github.com/go-overlay/overlay/internal/testskip"
)

// Tests that costs a caller can drive up do not grow with the size or depth
// of the tree, counted in walks rather than timed (the benchmarks in
// bench_costs_linux_test.go time them against the kernel).

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
	testskip.Tmpfs(t, root, "size=16m")
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
	if err := fsys.Mkdir("ud", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := afero.WriteFile(fsys, "ud/uf", []byte("u"), 0o644); err != nil {
		t.Fatal(err)
	}
	huf, err := fsys.Handle("ud/uf")
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
	// A real handle of a pure upper file this FS did not give out: found
	// in the upper layer, without the lower layers' map.
	file, err := fsys.OpenByHandle(huf, os.O_RDONLY)
	if err != nil {
		t.Fatalf("real upper handle: %v", err)
	}
	if file.Name() != "ud/uf" {
		t.Errorf("real upper handle opened %q", file.Name())
	}
	file.Close()
	fsys.mu.RLock()
	built = fsys.originMap != nil
	fsys.mu.RUnlock()
	if built {
		t.Errorf("an upper handle built the map of the lower layers")
	}
	// A real handle this FS did not give out: found through the map.
	file, err = fsys.OpenByHandle(h, os.O_RDONLY)
	if err != nil {
		t.Fatalf("real handle: %v", err)
	}
	if file.Name() != "d/f100" {
		t.Errorf("real handle opened %q", file.Name())
	}
	file.Close()
}

// costFS opens a native overlay of root/l under root/u (work root/w).
func costFS(t *testing.T, root string, opts ...string) *FS {
	t.Helper()
	o, err := ParseOptions(strings.Join(append([]string{"lowerdir=" + root + "/l,upperdir=" + root + "/u,workdir=" + root + "/w"}, opts...), ","))
	if err != nil {
		t.Fatal(err)
	}
	o.Userxattr = os.Geteuid() != 0 // an unprivileged upper holds user.* xattrs only
	fsys, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	// The costs measured are root's: a caller whose permission each
	// removal needs removes a tree entry by entry.
	fsys.proc = Cred{}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// TestReaddirColdWalks: a cold Readdir (FileInfos, a fresh FS) of a lower
// dir of 3,000 files resolves a bounded number of paths from the layer
// root, not a few per entry: the entries are read relative to the dir
// (BenchmarkReaddirCold has the times).
func TestReaddirColdWalks(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"l/big", "u", "w"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const n = 3000
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(root, "l/big", fmt.Sprintf("f%04d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys := costFS(t, root)
	f, err := fsys.Open("big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := native.RootWalks.Load()
	fis, err := f.Readdir(-1)
	walks := native.RootWalks.Load() - before
	if err != nil || len(fis) != n {
		t.Fatalf("Readdir: %d entries, %v", len(fis), err)
	}
	if walks > 20 {
		t.Errorf("a cold Readdir of %d entries resolved %d paths from the layer roots", n, walks)
	}
}

// TestRemoveAllDeepWalks: RemoveAll of a chain of dirs, in the upper or
// in the lower layer, resolves as many paths from the layer roots at depth
// 400 as at depth 50: the tree is removed at once, by directory
// descriptors (BenchmarkRemoveAllDeep has the times).
func TestRemoveAllDeepWalks(t *testing.T) {
	// "changed": a lower tree in which, through the overlay, every dir
	// had a file copied up (origin, impure parents) and one removed (a
	// whiteout in a merged dir) and, with redirect_dir=on, a subdir
	// renamed (a redirect).
	t.Run("defaults", func(t *testing.T) { removeAllDeepWalks(t, []string{"u", "l", "changed"}) })
	t.Run("redirect_dir=on", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testskip.Skip(t, "redirect_dir=on needs trusted.* xattrs: not root")
		}
		removeAllDeepWalks(t, []string{"changed"}, "redirect_dir=on")
	})
	t.Run("index=on", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testskip.Skip(t, "index=on needs trusted.* xattrs: not root")
		}
		removeAllDeepWalks(t, []string{"u", "l", "changed"}, "index=on")
	})
	t.Run("nfs_export=on", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testskip.Skip(t, "nfs_export=on needs trusted.* xattrs: not root")
		}
		removeAllDeepWalks(t, []string{"u", "l"}, "index=on", "nfs_export=on")
	})
}

// removeAllDeepWalks removes a chain of dirs, each holding a file, at
// depths 50 and 400, in each of layers (the upper u, the lower l, or the
// lower changed through the overlay as TestRemoveAllDeepWalks says) and
// checks that the paths resolved from the layer roots do not grow with
// the depth, or, where each removed object leaves an entry in the index
// (a lower tree with nfs_export), that they grow with the number of
// objects only: never with depth times objects, which resolving each
// object's path from the root would cost.
func removeAllDeepWalks(t *testing.T, layers []string, opts ...string) {
	nfs := slices.Contains(opts, "nfs_export=on")
	for _, layer := range layers {
		walks, names := map[int]int64{}, map[int]int64{}

		for _, depth := range []int{50, 400} {
			root := t.TempDir()
			for _, d := range []string{"l", "u", "w"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dir := layer
			if layer == "changed" {
				dir = "l"
			}
			fd, err := unix.Open(filepath.Join(root, dir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			name := "top"
			for i := 0; i < depth; i++ {
				if err := unix.Mkdirat(fd, name, 0o755); err != nil {
					t.Fatal(err)
				}
				next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				unix.Close(fd)
				if err != nil {
					t.Fatal(err)
				}
				fd, name = next, "d"
				for _, f := range []string{"f", "g"} {
					if f, err := unix.Openat(fd, f, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644); err == nil {
						unix.Close(f)
					}
				}
				if err := unix.Mkdirat(fd, "m", 0o755); err == nil {
					if f, err := unix.Openat(fd, "m/x", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644); err == nil {
						unix.Close(f)
					}
				}
			}
			unix.Close(fd)
			if layer == "changed" {
				fsys := costFS(t, root, opts...)
				p := "top"
				for i := 0; i < depth; i++ {
					if err := afero.WriteFile(fsys, p+"/f", []byte("changed"), 0o644); err != nil {
						t.Fatal(err)
					}
					if err := fsys.Remove(p + "/g"); err != nil {
						t.Fatal(err)
					}
					if slices.Contains(opts, "redirect_dir=on") {
						// A merged dir moved: a redirect.
						if err := fsys.Rename(p+"/m", p+"/m2"); err != nil {
							t.Fatal(err)
						}
					}
					p += "/d"
				}
				fsys.Close()
			}
			fsys := costFS(t, root, opts...)
			before, beforeNames := native.RootWalks.Load(), native.RootWalkNames.Load()
			if err := fsys.RemoveAll("top"); err != nil {
				t.Fatalf("%s, depth %d: %v", layer, depth, err)
			}
			walks[depth] = native.RootWalks.Load() - before
			names[depth] = native.RootWalkNames.Load() - beforeNames
			if _, err := fsys.Lstat("top"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s, depth %d: top still there: %v", layer, depth, err)
			}
		}
		switch {
		case nfs && layer == "l":
			// 8 times the objects: well under 16 times the names.
			if names[400] > 16*names[50] {
				t.Errorf("%s: RemoveAll resolved %d names from the roots at depth 50, %d at depth 400", layer, names[50], names[400])
			}
		case walks[400] != walks[50]:
			t.Errorf("%s: RemoveAll resolved %d paths from the roots at depth 50, %d at depth 400", layer, walks[50], walks[400])
		}
	}
}
