//go:build linux

package overlay_test

import (
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
)

// ondiskScript changes an overlay in every way that leaves a mark on the
// upper layer: whiteouts (of files, symlinks and dirs), an opaque dir made
// by mkdir over a whiteout, copy-ups of nested files and of metadata,
// renames (with whiteouts left behind, and of a pure upper dir into a merge
// dir), symlinks, hard links and xattrs.
const ondiskScript = `
remove a/f
remove a/l
removeall a/sub
mkdir a/sub
writefile a/sub/new "in opaque dir"
appendfile a/h "+appended"
rename a/g a/g2
rename top d2/top
symlink ../d2/top a/sym
setxattr a/h user.x "1"
setxattr d2 user.dir "d"
chmod d2/x 0600
chown a/g2 1000 1000
mkdir nd
writefile nd/f "f"
rename nd a/nd
link a/h a/hl
writefile "名 with space" "unicode"
`

// ondiskDump is the dump of a merged tree for on-disk comparisons.
func ondiskDump(t *testing.T, fsys *overlay.FS) string {
	t.Helper()
	d, err := layertest.DumpFS(fsys, "/")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOndiskLibraryWritesKernelReads: the library writes an upper and work
// dir; the kernel mounts them and must show the tree the library showed.
func TestOndiskLibraryWritesKernelReads(t *testing.T) {
	requireKernel(t)
	if kernelOnly() {
		t.Log("OVERLAY_KERNEL_ONLY: nothing to do without the library")
		return
	}
	s := layertest.MustParse(sharedFixtures["base"] + "\n-- upper --\n")
	d, err := layertest.WriteDirs(s, t.TempDir(), layertest.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := d.Options()
	if err != nil {
		t.Fatalf("DirLayer: %v", err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatalf("overlay.New: %v", err)
	}
	ops := mustOps(ondiskScript)
	for i, r := range runScript(fsys, ops, runConfig{}) {
		if r.errno != "ok" {
			t.Errorf("library: %q: %s", ops[i].line, r.res)
		}
	}
	libDump := ondiskDump(t, fsys)
	if err := fsys.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	merged := layertest.Mount(t, d.Lowers, d.Upper, d.Work, "")
	kDump, err := layertest.DumpDir(merged)
	if err != nil {
		t.Fatal(err)
	}
	diffDumps(t, "merged tree", "library", "kernel over library's upper", libDump, kDump)
}

// TestOndiskKernelWritesLibraryReads: the kernel writes an upper through a
// mount; after unmounting, the library opens the same dirs and must show
// the tree the kernel showed.
func TestOndiskKernelWritesLibraryReads(t *testing.T) {
	requireKernel(t)
	s := layertest.MustParse(sharedFixtures["base"] + "\n-- upper --\n")
	d, err := layertest.WriteDirs(s, t.TempDir(), layertest.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	merged := layertest.Mount(t, d.Lowers, d.Upper, d.Work, "")
	ops := mustOps(ondiskScript)
	for i, r := range runScript(osTarget{merged}, ops, runConfig{}) {
		if r.errno != "ok" {
			t.Errorf("kernel: %q: %s", ops[i].line, r.res)
		}
	}
	kDump, err := layertest.DumpDir(merged)
	if err != nil {
		t.Fatal(err)
	}
	if err := layertest.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	if kernelOnly() {
		upper, _ := layertest.DumpDir(d.Upper)
		t.Logf("kernel merged:\n%s\nkernel upper:\n%s", kDump, upper)
		return
	}
	o, err := d.Options()
	if err != nil {
		t.Fatalf("DirLayer: %v", err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatalf("overlay.New over the kernel's upper: %v", err)
	}
	diffDumps(t, "merged tree", "kernel", "library over kernel's upper", kDump, ondiskDump(t, fsys))

	// The library keeps working on the kernel's upper: the same further
	// changes through both must agree.
	more := mustOps(`
remove a/h
rename a/sub/new a/sub/moved
removeall a/nd
writefile d2/top "rewritten"
readdir a
readdir d2`)
	libRes := runScript(fsys, more, runConfig{})
	libDump := ondiskDump(t, fsys)
	if err := fsys.Close(); err != nil {
		t.Fatal(err)
	}
	merged2 := layertest.Mount(t, d.Lowers, d.Upper, d.Work, "")
	kDump2, err := layertest.DumpDir(merged2)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range libRes {
		if r.errno != "ok" {
			t.Errorf("library: %q: %s", more[i].line, r.res)
		}
	}
	diffDumps(t, "merged tree after more library changes", "library", "kernel remount", libDump, kDump2)
}
