package overlay_test

// One table of scenarios run on every backend: the kernel's overlayfs and
// the library over native layers (kernel_diff_test.go), and the library
// over MemFS and afero layers (this file). The table is in
// testdata/scenarios (scenario_load_test.go reads it). A scenario is a
// fixture in the layertest format plus a script of operations, one per
// line:
//
//	open F PATH FLAGS [PERM]   FLAGS: r|w|rw, plus +append +creat +excl +trunc +dir +nofollow
//	read F N | pread F OFF N | readall F | write F DATA | pwrite F OFF DATA
//	seek F OFF WHENCE | fstat F | ftruncate F SIZE | freaddir F N | close F
//	create PATH | writefile PATH DATA [PERM] | appendfile PATH DATA | readfile PATH
//	mkdir PATH [PERM] | mkdirall PATH [PERM] | remove PATH | removeall PATH
//	rename OLD NEW | symlink TARGET NEW | readlink PATH | link OLD NEW
//	truncate PATH SIZE | chmod PATH PERM | chown PATH UID GID
//	chtimes PATH ATIME MTIME (unix seconds, "-" for unchanged) | mtime PATH
//	as UID GID (the ops that follow run with these effective ids)
//	stat PATH | lstat PATH | readdir PATH | readdirinfo PATH | lsdir PATH
//	setxattr PATH NAME VALUE [create|replace] | getxattr PATH NAME
//	listxattr PATH | removexattr PATH NAME | mknod PATH TYPE [MAJOR MINOR]
//
// A line may end in "=> ERRNO" or "=> ok": the result every backend must
// give, optionally followed by SETTING:ERRNO for an option setting where it
// differs ("=> ENODATA userxattr:ok"). Every op records its result (data read, stat essentials, names,
// errno) and the kernel differential test compares them all.
//
// Symlink targets in scenarios are relative and never climb above the
// overlay root: the kernel resolves an absolute or escaping target on the
// host, the library against the overlay root.

import (
	"os"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// libRun runs a scenario on the library over the given layers and returns
// the op results and the final merged-tree dump.
func libRun(t *testing.T, o overlay.Options, ops []op, rc runConfig, dopts ...layertest.DumpOption) ([]opResult, string, bool) {
	t.Helper()
	fsys, err := overlay.New(o)
	if err != nil {
		t.Errorf("overlay.New: %v", err)
		return nil, "", false
	}
	defer fsys.Close()
	// The scenarios state the kernel's results for a root caller: act as
	// root even when the tests do not run as root.
	overlay.ActAsRoot(fsys)
	res := runScript(fsys, ops, rc)
	layertest.DumpFS(fsys, "/", dopts...) // settles lookups' writes, as in runKernel
	dump, err := layertest.DumpFS(fsys, "/", dopts...)
	if err != nil {
		t.Errorf("DumpFS: %v", err)
	}
	return res, dump, true
}

// TestScenariosPortable runs the table on the library over MemFS layers and,
// where the fixture fits the OCI encoding, over afero layers, and compares
// the two and the errnos the scenarios state.
func TestScenariosPortable(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := sc.stack()
			ops := mustOps(sc.ops)
			if switchesUser(ops) && os.Geteuid() != 0 {
				testskip.Skip(t, "switching users (op as) needs root")
			}
			rc := runConfig{portable: true}
			mo, err := layertest.MemOptions(s)
			if err != nil {
				t.Fatalf("building MemFS layers: %v", err)
			}
			before := checkProblems(t, mo)
			memRes, memDump, ok := libRun(t, mo, ops, rc, layertest.Portable(), layertest.NoXattrs())
			if !ok {
				return
			}
			checkWants(t, "memfs", "", ops, memRes)
			noNewProblems(t, "the library over MemFS", before, checkProblems(t, mo))
			if sc.kernelFormat || needsRichBackend(s, ops) {
				return
			}
			ao, err := layertest.AferoOptions(s)
			if err != nil {
				t.Fatalf("building afero layers: %v", err)
			}
			afRes, afDump, ok := libRun(t, ao, ops, rc, layertest.Portable(), layertest.NoXattrs())
			if !ok {
				return
			}
			checkWants(t, "afero", "", ops, afRes)
			compareResults(t, "memfs", "afero", ops, memRes, afRes, true)
			diffDumps(t, "merged tree", "memfs", "afero", memDump, afDump)
		})
	}
}
