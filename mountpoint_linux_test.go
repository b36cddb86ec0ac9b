package overlay_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// TestMountPointInLayer: a mount point inside a lower or upper layer shows
// the directory it covers, on the kernel and on the library alike, and a
// change through the overlay goes to the covered dir, never to the mount.
func TestMountPointInLayer(t *testing.T) {
	requireKernel(t)
	run := func(t *testing.T, dir string) (string, string) {
		for _, d := range []string{"lower/m", "lower/d", "upper/u", "work"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"lower/m/covered", "upper/u/covered"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("covered"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range []string{"lower/m", "upper/u"} {
			mp := filepath.Join(dir, m)
			testskip.Tmpfs(t, mp, "size=1m,mode=0700")
			if err := os.WriteFile(filepath.Join(mp, "ontop"), []byte("ontop"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	}
	ops := mustOps(`
readdir "m"
readfile "m/covered"
stat "m/ontop"
writefile "m/new" "new"
readdir "u"
writefile "u/covered" "changed"
mkdir "u/sub"
remove "m/covered"
readdir "."
`)
	kdir := t.TempDir()
	kup, kwork := run(t, kdir)
	merged := layertest.Mount(t, []string{filepath.Join(kdir, "lower")}, kup, kwork, "")
	kres := runScript(osTarget{merged}, ops, runConfig{})
	kdump, err := layertest.DumpDir(merged)
	if err != nil {
		t.Fatal(err)
	}
	if err := layertest.Unmount(merged); err != nil {
		t.Fatal(err)
	}

	ldir := t.TempDir()
	lup, lwork := run(t, ldir)
	o, err := overlay.ParseOptions("lowerdir=" + filepath.Join(ldir, "lower") + ",upperdir=" + lup + ",workdir=" + lwork)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	lres := runScript(fsys, ops, runConfig{})
	ldump, err := layertest.DumpFS(fsys, "/")
	if err != nil {
		t.Fatal(err)
	}
	fsys.Close()
	compareResults(t, "kernel", "library", ops, kres, lres, true)
	diffDumps(t, "merged tree", "kernel", "library", kdump, ldump)
	for _, dir := range []string{kdir, ldir} {
		for _, m := range []string{"lower/m", "upper/u"} {
			ents, err := os.ReadDir(filepath.Join(dir, m))
			if err != nil || len(ents) != 1 || ents[0].Name() != "ontop" {
				t.Errorf("%s/%s: the mount was changed: %v %v", dir, m, ents, err)
			}
		}
	}
}
