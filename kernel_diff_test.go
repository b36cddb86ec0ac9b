//go:build linux

package overlay_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// OVERLAY_KERNEL_ONLY=1 runs only the kernel side of the differential
// tests and logs its results, to debug scenarios and the harness while the
// library is incomplete.
func kernelOnly() bool { return os.Getenv("OVERLAY_KERNEL_ONLY") != "" }

// kernelResult is what one run of a scenario produced.
type kernelResult struct {
	res    []opResult
	merged string // DumpDir of the mount point (or DumpFS of the library)
	// inos is the library's merged dump with inode numbers, to compare
	// with a kernel mount of the same dirs.
	inos string
	// portable is the merged dump without what differs between backends
	// (dir sizes and link counts), to compare with in-memory layers.
	portable string
	upper    string // DumpDir of the upper dir after unmount/Close ("" read-only)
	dirs     layertest.Dirs
	// stale: a readdir of the mount left out an entry whose lookup gives
	// ESTALE (a dir merged twice; see staleSkipped).
	stale bool
}

// variant is a mount option setting under which the table runs.
type variant struct {
	name      string // "" for the defaults; names per-setting expectations
	mountOpts string // extra kernel mount options
	userxattr bool   // private xattrs are user.overlay.*
	redirect  overlay.RedirectMode
	metacopy  bool
	index     bool
	nfsExport bool
	volatile  bool
	// noFileNlink leaves the link counts of files out of the comparisons
	// across sessions (one side opening the upper the other wrote): with
	// nfs_export the kernel shows the lower's count for a file of one
	// link copied up while its inode is cached, as the library does for
	// one copied up while it is open, and the upper's count after a
	// remount (doc.go).
	noFileNlink bool
	// noFileNlinkInRun does the same within a session, for random runs.
	noFileNlinkInRun bool
	// tmpfs runs the scenario on a tmpfs: index needs a filesystem with
	// a UUID, which this machine's ext4 lacks.
	tmpfs bool
	// splitUpper puts the upper and work dirs on a tmpfs of their own,
	// so that the layers span two filesystems (for xino).
	splitUpper bool
	// ramfsUpper puts the upper and work dirs on a ramfs, a filesystem
	// without xattrs (nor RENAME_WHITEOUT or file handles), where the
	// kernel falls back to redirect_dir=nofollow and uuid=null. The
	// scripts' stated results assume xattrs and are not checked.
	ramfsUpper bool
	xino       overlay.XinoMode
	// dataLayer adds a data-only layer below the lowers (a dir holding
	// one file no scenario names).
	dataLayer bool
	// readOnly: the random generator makes stacks without an upper.
	readOnly bool
}

// apply sets the variant's options on o (the layers are set already).
func (v variant) apply(o *overlay.Options) {
	o.RedirectDir = v.redirect
	if v.metacopy {
		o.Metacopy = overlay.SwitchOn
	}
	if v.dataLayer && len(o.DataOnly) == 0 {
		m := overlay.NewMemFS() // in-memory runs get an in-memory data layer
		m.MkdirAll("blobs", 0o755)
		m.WriteFile("blobs/x", []byte("data"), 0o644)
		o.DataOnly = []*overlay.Layer{overlay.MemLayer(m)}
	}
	if v.index {
		o.Index = overlay.SwitchOn
	}
	if v.nfsExport {
		o.NFSExport = overlay.SwitchOn
	}
	if v.volatile {
		o.Fsync = overlay.FsyncVolatile
	}
	o.Xino = v.xino
}

// dirOptionsIn is dirOptions for fixtures written under dir; with
// splitUpper it mounts the tmpfs for the upper and work dirs.
func (v variant) dirOptionsIn(t *testing.T, dir string) layertest.DirOptions {
	o := v.dirOptions()
	if v.splitUpper || v.ramfsUpper {
		o.UpperRoot = dir + "-upperfs"
		if err := os.Mkdir(o.UpperRoot, 0o755); err != nil {
			t.Fatal(err)
		}
		fstype, data := "tmpfs", "size=64m"
		if v.ramfsUpper {
			fstype, data = "ramfs", ""
		}
		if err := unix.Mount(fstype, o.UpperRoot, fstype, 0, data); err != nil {
			testskip.Skip(t, "cannot mount %s: %v", fstype, err)
		}
		t.Cleanup(func() { unix.Unmount(o.UpperRoot, unix.MNT_DETACH) })
	}
	return o
}

func (v variant) dirOptions() layertest.DirOptions {
	return layertest.DirOptions{Userxattr: v.userxattr}
}

func (v variant) upperDumpOpts() []layertest.DumpOption {
	// The library does not write the kernel's origin/impure/uuid
	// bookkeeping nor share one inode among whiteouts.
	return []layertest.DumpOption{layertest.IgnoreBookkeeping()}
}

// runKernel builds s under dir, mounts it and runs ops through the mount.
func runKernel(t *testing.T, v variant, s layertest.Stack, dir string, ops []op) kernelResult {
	t.Helper()
	d, err := layertest.WriteDirs(s, dir, v.dirOptionsIn(t, dir))
	if err != nil {
		t.Fatalf("kernel fixture: %v", err)
	}
	before := checkDirs(t, v, d)
	merged := layertest.Mount(t, v.mountLowers(t, d), d.Upper, d.Work, v.mountOpts)
	kr := kernelResult{dirs: d}
	kr.res = runScript(osTarget{merged}, ops, runConfig{})
	// A first walk settles what lookups write (an origin, and the
	// parent's impure mark, which changes what the next readdir of the
	// parent shows), as a fresh mount of the result would find it.
	layertest.DumpDir(merged)
	if kr.merged, err = layertest.DumpDir(merged); err != nil {
		t.Fatalf("DumpDir(merged): %v", err)
	}
	if kr.portable, err = layertest.DumpDir(merged, layertest.Portable()); err != nil {
		t.Fatalf("DumpDir(merged): %v", err)
	}
	kr.stale = staleSkipped(merged, d, false)
	if err := layertest.Unmount(merged); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	v.noNewProblems(t, "the kernel", before, checkDirs(t, v, d))
	if d.Upper != "" {
		if kr.upper, err = layertest.DumpDir(d.Upper, v.upperDumpOpts()...); err != nil {
			t.Fatalf("DumpDir(upper): %v", err)
		}
	}
	return kr
}

// runNative builds s under dir as native layers and runs ops on the
// library; it returns the dirs too, for a kernel mount of the result.
func runNative(t *testing.T, v variant, s layertest.Stack, dir string, ops []op) (kernelResult, layertest.Dirs, bool) {
	t.Helper()
	d, err := layertest.WriteDirs(s, dir, v.dirOptionsIn(t, dir))
	if err != nil {
		t.Fatalf("native fixture: %v", err)
	}
	before := checkDirs(t, v, d)
	o, err := d.Options()
	if err != nil {
		t.Errorf("DirLayer: %v", err)
		return kernelResult{}, d, false
	}
	defer closeLayers(o)
	defer func() { v.noNewProblems(t, "the library", before, checkDirs(t, v, d)) }()
	v.addDataLayer(t, d, &o)
	o.Userxattr = v.userxattr
	v.apply(&o)
	fsys, err := overlay.New(o)
	if err != nil {
		t.Errorf("overlay.New: %v", err)
		return kernelResult{}, d, false
	}
	var lr kernelResult
	lr.res = runScript(fsys, ops, runConfig{})
	layertest.DumpFS(fsys, "/") // settles lookups' writes, as in runKernel
	if lr.merged, err = layertest.DumpFS(fsys, "/"); err != nil {
		t.Errorf("DumpFS: %v", err)
	}
	if lr.inos, err = layertest.DumpFS(fsys, "/", layertest.WithIno()); err != nil {
		t.Errorf("DumpFS: %v", err)
	}
	if err := fsys.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d.Upper != "" {
		if lr.upper, err = layertest.DumpDir(d.Upper, v.upperDumpOpts()...); err != nil {
			t.Fatalf("DumpDir(upper): %v", err)
		}
	}
	return lr, d, true
}

// closeLayers closes the layers of o: an FS leaves the layers it is given
// open for their owner.
func closeLayers(o overlay.Options) {
	for _, l := range append(append([]*overlay.Layer{o.Upper, o.Work}, o.Lower...), o.DataOnly...) {
		if l != nil {
			l.Close()
		}
	}
}

// requireKernel skips the test when the kernel's overlayfs cannot be
// mounted here, and checks that the temp dir can hold kernel-format layers.
func requireKernel(t *testing.T) {
	t.Helper()
	if ok, why := layertest.KernelAvailable(); !ok {
		testskip.Skip(t, "%s", why)
	}
	if err := layertest.CheckDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// label names a variant's subtests.
func (v variant) label() string {
	if v.name == "" {
		return "default"
	}
	return v.name
}

// diffTable runs each of scs under each of vs with diffRun, as subtests
// variant/scenario. pick, when not nil, says whether a scenario runs under
// a variant and may adapt it; each, when not nil, gets every run's
// kernel results.
func diffTable(t *testing.T, vs []variant, scs []scenario, pick func(variant, scenario) (scenario, bool), each func(t *testing.T, v variant, sc scenario, ops []op, kr kernelResult)) {
	for _, v := range vs {
		t.Run(v.label(), func(t *testing.T) {
			for _, sc := range scs {
				if pick != nil {
					var ok bool
					if sc, ok = pick(v, sc); !ok {
						continue
					}
				}
				t.Run(sc.name, func(t *testing.T) {
					ops := mustOps(sc.ops)
					kr := diffRun(t, v, sc.stack(), ops)
					if each != nil {
						each(t, v, sc, ops, kr)
					}
				})
			}
		})
	}
}

// diffRun runs ops over s on the kernel and on the library over native
// layers and compares op results, the merged trees and the upper dirs;
// then it mounts the library's layers with the kernel, which must show the
// tree the library showed. It returns the kernel's results.
func diffRun(t *testing.T, v variant, s layertest.Stack, ops []op) kernelResult {
	t.Helper()
	dir := diffDir(t, v)
	kr := runKernel(t, v, s, filepath.Join(dir, "k"), ops)
	raw := kr
	if !v.ramfsUpper {
		checkWants(t, "kernel", v.name, ops, kr.res)
	}
	if kernelOnly() {
		var b strings.Builder
		for i, o := range ops {
			b.WriteString("\n\t" + o.line + "  ==> " + kr.res[i].res)
			if kr.res[i].shape != "" {
				b.WriteString("  " + kr.res[i].shape)
			}
		}
		t.Logf("kernel results:%s\nmerged:\n%s\nupper:\n%s", b.String(), kr.merged, kr.upper)
		return raw
	}
	if !v.userxattr && !v.ramfsUpper { // the MemFS builder writes trusted.overlay.* markers
		memDiff(t, v, s, ops, kr)
	}
	lr, d, ok := runNative(t, v, s, filepath.Join(dir, "l"), ops)
	if !ok {
		return raw
	}
	if !v.ramfsUpper {
		checkWants(t, "library", v.name, ops, lr.res)
	}
	if v.noFileNlinkInRun {
		// Random scripts leave inodes unused long enough for the kernel
		// to evict them, after which it counts a file's links otherwise
		// (see noFileNlink).
		for _, r := range []*kernelResult{&kr, &lr} {
			for i := range r.res {
				r.res[i].res = fileNlinkRE.ReplaceAllString(r.res[i].res, "$1")
			}
			r.merged = fileNlinkRE.ReplaceAllString(r.merged, "$1")
		}
	}
	libMerged := lr.merged // with every link count, for the remount below
	if kr.dirs.Upper != "" {
		// The other way: the library opens what the kernel wrote.
		o, err := kr.dirs.Options()
		if err != nil {
			t.Fatalf("DirLayer: %v", err)
		}
		v.addDataLayer(t, kr.dirs, &o)
		v.apply(&o)
		o.Userxattr = v.userxattr
		if v.volatile {
			os.RemoveAll(filepath.Join(kr.dirs.Work, "work", "incompat"))
		}
		if fsys, err := overlay.New(o); err != nil {
			t.Errorf("library over the kernel's upper: %v", err)
		} else {
			got, err := layertest.DumpFS(fsys, "/")
			if err != nil {
				t.Errorf("DumpFS: %v", err)
			}
			fsys.Close()
			closeLayers(o)
			want := kr.merged
			if v.noFileNlink {
				want, got = fileNlinkRE.ReplaceAllString(want, "$1"), fileNlinkRE.ReplaceAllString(got, "$1")
			}
			if v.index && hasRedirect(s) && want != got {
				// Likely a dir merged twice through a hand-written
				// redirect: with index=on a fresh lookup fails (the
				// index names the other dir) where the kernel's own,
				// with the other not yet indexed, did not (a listed
				// deviation). The run itself was compared above.
				t.Logf("library over the kernel's upper: a dir merged twice; not compared")
			} else {
				diffDumps(t, "merged tree", "kernel", "library over the kernel's upper", want, got)
			}
		}
	}
	compareResults(t, "kernel", "library", ops, kr.res, lr.res, true)
	diffDumps(t, "merged tree", "kernel", "library", kr.merged, lr.merged)
	diffDumps(t, "upper dir", "kernel", "library", kr.upper, lr.upper)
	if d.Upper == "" {
		return raw
	}
	if v.volatile {
		// A volatile upper is refused until its marker goes (TestVolatileMarker).
		os.RemoveAll(filepath.Join(d.Work, "work", "incompat"))
	}
	merged := layertest.Mount(t, v.mountLowers(t, d), d.Upper, d.Work, v.mountOpts)
	km, err := layertest.DumpDir(merged)
	if err != nil {
		t.Fatalf("DumpDir: %v", err)
	}
	if staleSkipped(merged, d, v.index && hasRedirect(s)) {
		// Which of two dirs merging one lower dir the kernel shows
		// depends on lookup order (a deviation listed in doc.go).
		t.Logf("kernel mount of library's upper: a dir merged twice (ESTALE); not compared")
		return raw
	}
	linos := lr.inos
	if v.noFileNlink {
		libMerged, km = fileNlinkRE.ReplaceAllString(libMerged, "$1"), fileNlinkRE.ReplaceAllString(km, "$1")
		linos = fileNlinkRE.ReplaceAllString(linos, "$1")
	}
	diffDumps(t, "merged tree", "library", "kernel mount of library's upper", libMerged, km)
	if v.ramfsUpper {
		return raw // no origins: dirs get non-persistent numbers in lookup order
	}
	// The same dirs, so the same inode numbers.
	kino, err := layertest.DumpDir(merged, layertest.WithIno())
	if err != nil {
		t.Fatalf("DumpDir: %v", err)
	}
	if v.noFileNlink {
		kino = fileNlinkRE.ReplaceAllString(kino, "$1")
	}
	diffDumps(t, "inode numbers", "library", "kernel mount of library's upper", linos, kino)
	return raw
}

// diffDir makes the scratch dir of a differential run, on a tmpfs of its
// own for v.tmpfs, with subdirs k (the kernel's) and l (the library's).
func diffDir(t *testing.T, v variant) string {
	t.Helper()
	dir := t.TempDir()
	if v.tmpfs {
		testskip.Tmpfs(t, dir, "size=64m")
	}
	for _, sub := range []string{"k", "l"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Scenarios may run ops as another user ("as"), who must reach the
	// mount point: the test's temp dirs are 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// staleSkipped reports whether a readdir of the mount at merged left out
// a name that one of d's layers has in the same dir and whose lookup
// through the mount gives ESTALE: a dir merged twice (two overlay dirs
// reaching one lower dir, one through a redirect), which the kernel's
// readdir skips as stale once the other is in its inode cache. With errIO
// an EIO counts too: with index=on, a mount of an upper written with two
// dirs merging one lower dir finds the index entry naming the other
// (ovl_verify_index).
func staleSkipped(merged string, d layertest.Dirs, errIO bool) bool {
	layers := append([]string{d.Upper}, d.Lowers...)
	stale := false
	filepath.WalkDir(merged, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() || stale {
			return nil
		}
		rel, _ := filepath.Rel(merged, p)
		shown := map[string]bool{}
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			shown[e.Name()] = true
		}
		for _, l := range layers {
			if l == "" {
				continue
			}
			ents, _ := os.ReadDir(filepath.Join(l, rel))
			for _, e := range ents {
				if shown[e.Name()] {
					continue
				}
				_, err := os.Lstat(filepath.Join(p, e.Name()))
				if errors.Is(err, unix.ESTALE) || errIO && errors.Is(err, unix.EIO) {
					stale = true
					return filepath.SkipAll
				}
			}
		}
		return nil
	})
	return stale
}

// hasRedirect reports whether a fixture writes a redirect xattr.
func hasRedirect(s layertest.Stack) bool {
	layers := append([]layertest.Layer{}, s.Lowers...)
	if s.Upper != nil {
		layers = append(layers, *s.Upper)
	}
	for _, l := range layers {
		for _, e := range l.Entries {
			if e.Kind == layertest.Xattr && strings.HasSuffix(e.Attr, "redirect") {
				return true
			}
		}
	}
	return false
}

// usesMarkers reports whether a scenario reads or writes overlay markers:
// fixture whiteouts, opaque dirs or xattrs, or removals, renames and mkdirs
// that may leave whiteouts and opaque dirs behind.
func usesMarkers(sc scenario) bool {
	s := sc.stack()
	for _, k := range []layertest.Kind{layertest.Whiteout, layertest.Opaque, layertest.XWhiteout, layertest.Xattr} {
		if s.Uses(k) {
			return true
		}
	}
	for _, o := range mustOps(sc.ops) {
		switch o.verb {
		case "remove", "removeall", "rename", "setxattr", "removexattr":
			return !sc.ro
		}
	}
	return false
}

// metacopyVariant is redirect_dir=on,metacopy=on: metadata changes of
// lower files copy up metadata only.
var metacopyVariant = variant{name: "metacopy", mountOpts: "redirect_dir=on,metacopy=on", redirect: overlay.RedirectOn, metacopy: true}

// memDiff runs the scenario on the library over in-memory layers with the
// variant's options and compares it with the kernel: the errno of every
// op, and the merged tree (less dir sizes and link counts, which are the
// backend's own).
func memDiff(t *testing.T, v variant, s layertest.Stack, ops []op, kr kernelResult) {
	t.Helper()
	o, err := layertest.MemOptions(s)
	if err != nil {
		t.Fatalf("building MemFS layers: %v", err)
	}
	v.apply(&o)
	res, dump, ok := libRun(t, o, ops, runConfig{portable: true}, layertest.Portable())
	if !ok {
		return
	}
	for i, op := range ops {
		k, m := errnoField(kr.res[i].res), errnoField(res[i].res)
		if (op.verb == "removeall" || op.verb == "lsdir" || strings.Contains(op.verb, "readdir")) && (k != "ok" || m != "ok") {
			// Which entry's error RemoveAll reports first, and which
			// entries a readdir returns before a lookup fails, follow
			// the layers' readdir order, the file system's own in the
			// kernel, which MemFS does not share.
			continue
		}
		if k != m {
			t.Errorf("in memory: op %d %q: kernel %s, library over MemFS %s", i+1, op.line, kr.res[i].res, res[i].res)
		}
	}
	if strings.Contains(kr.portable+dump, " read:E") {
		return // a dir read failed partway: order-dependent, as above
	}
	want := kr.portable
	if v.noFileNlinkInRun {
		want, dump = fileNlinkRE.ReplaceAllString(want, "$1"), fileNlinkRE.ReplaceAllString(dump, "$1")
	}
	diffDumps(t, "merged tree", "kernel", "library over MemFS", want, dump)
}

// errnoField is the outcome of an op result: "ok" or the errno name.
func errnoField(res string) string {
	f, _, _ := strings.Cut(res, " ")
	return f
}

// indexVariant is index=on, on a tmpfs (whose UUID index needs).
var indexVariant = variant{name: "index", mountOpts: "index=on", index: true, tmpfs: true}

// nfsExportVariant is index=on,nfs_export=on, on a tmpfs.
var nfsExportVariant = variant{name: "nfs_export", mountOpts: "index=on,nfs_export=on", index: true, nfsExport: true, tmpfs: true, noFileNlink: true}

// fileNlinkRE matches the link count of a regular file or symlink in
// results and dumps.
var fileNlinkRE = regexp.MustCompile(`(\b[fl] [0-7]{4} size=\d+) nlink=\d+`)

// xinoVariant is xino=on over layers on two filesystems.
var xinoVariant = variant{name: "xino", mountOpts: "xino=on", xino: overlay.XinoOn, splitUpper: true}

// dataDir makes (once) the data-only layer of fixture d: a dir beside
// its lowers holding one file.
func dataDir(t *testing.T, d layertest.Dirs) string {
	dir := filepath.Join(filepath.Dir(d.Lowers[0]), "data")
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs/x"), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mountLowers is the lowers of d for a kernel mount: with dataLayer, the
// data-only layer follows after "::" (the lowers are joined with ":").
func (v variant) mountLowers(t *testing.T, d layertest.Dirs) []string {
	if !v.dataLayer {
		return d.Lowers
	}
	return append(append([]string{}, d.Lowers...), ":"+dataDir(t, d))
}

// addDataLayer gives the library's options over d the data-only layer.
func (v variant) addDataLayer(t *testing.T, d layertest.Dirs, o *overlay.Options) {
	if !v.dataLayer {
		return
	}
	l, err := overlay.DirLayer(dataDir(t, d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	o.DataOnly = []*overlay.Layer{l}
}

// checkDirs runs overlay.Check without changes on the layers of d, with
// the variant's options.
func checkDirs(t *testing.T, v variant, d layertest.Dirs) map[string]bool {
	t.Helper()
	o, err := d.Options()
	if err != nil {
		t.Errorf("DirLayer: %v", err)
		return nil
	}
	defer closeLayers(o)
	v.addDataLayer(t, d, &o)
	o.Userxattr = v.userxattr
	v.apply(&o)
	return checkProblems(t, o)
}

// noNewProblems is the package's noNewProblems, knowing that a volatile
// mount leaves its marker behind on purpose.
func (v variant) noNewProblems(t *testing.T, who string, before, after map[string]bool) {
	t.Helper()
	if v.volatile {
		for p := range after {
			if strings.HasSuffix(p, ": "+overlay.ProblemVolatileLeftover.String()) {
				delete(after, p)
			}
		}
	}
	noNewProblems(t, who+" ("+v.name+")", before, after)
}
