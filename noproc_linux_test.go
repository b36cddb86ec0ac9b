//go:build linux

package overlay_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
)

// noProcEnv marks the child process of TestNoProc.
const noProcEnv = "OVERLAY_TEST_NOPROC_CHILD"

// noProcScenarios selects the scenarios TestNoProc runs: those that read
// or write private xattrs (metacopy files, redirected and opaque dirs,
// user xattrs on copied-up objects).
var noProcScenarios = regexp.MustCompile(`^(metacopy/|redirect/|xattr/|rename/(merged-dir-exdev|across-merged-dirs|dir-over-emptied-merged-dir)$)|opaque`)

// TestNoProc runs kernel-differential scenarios in a process without
// /proc, as in a bare chroot, a minimal container or a build sandbox: the
// test binary runs again in a mount namespace of its own in which /proc is
// unmounted. Metacopy files must read their data, renamed merged dirs list
// their lower entries, opaque dirs hide the lower's, and every write that
// stores an xattr must work, as on the kernel.
func TestNoProc(t *testing.T) {
	if os.Getenv(noProcEnv) != "" {
		noProcChild(t)
		return
	}
	requireKernel(t)
	skipLog := filepath.Join(t.TempDir(), "skips")
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoProc$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), noProcEnv+"=1", "OVERLAY_SKIP_LOG="+skipLog)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and / made private
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child without /proc: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(skipLog); err == nil && len(b) > 0 {
		t.Errorf("child without /proc skipped:\n%s", b)
	}
	passed := strings.Count(string(out), "--- PASS: TestNoProc/")
	if passed < 40 {
		t.Errorf("child without /proc ran %d scenarios, want at least 40:\n%s", passed, out)
	}
	t.Logf("%d scenarios passed without /proc", passed)
}

// noProcChild is TestNoProc in the child: it takes /proc away and runs the
// scenarios against the kernel.
func noProcChild(t *testing.T) {
	for unix.Unmount("/proc", unix.MNT_DETACH) == nil {
	}
	if _, err := os.Stat("/proc/self/fd"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/proc/self/fd is still there: %v", err)
	}
	// The library itself, with a check that fails plainly: a metacopy
	// file reads its lower's data (it read as zeros when private xattrs
	// read as absent) after a remount.
	dir := t.TempDir()
	for _, d := range []string{"l", "u", "w"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "l/f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + dir + "/l,upperdir=" + dir + "/u,workdir=" + dir + "/w,metacopy=on,redirect_dir=on"
	for i := range 2 {
		o, err := overlay.ParseOptions(opts)
		if err != nil {
			t.Fatalf("ParseOptions without /proc: %v", err)
		}
		fsys, err := overlay.New(o)
		if err != nil {
			t.Fatalf("New without /proc: %v", err)
		}
		if i == 0 {
			if err := fsys.Chmod("f", 0o600); err != nil {
				t.Errorf("chmod (a metacopy copy-up) without /proc: %v", err)
			}
		}
		if b, err := afero.ReadFile(fsys, "f"); string(b) != "data" || err != nil {
			t.Errorf("metacopy file without /proc (mount %d) reads %q %v, want \"data\"", i+1, b, err)
		}
		if err := fsys.Close(); err != nil {
			t.Error(err)
		}
	}
	if _, err := unix.Getxattr(filepath.Join(dir, "u/f"), "trusted.overlay.metacopy", nil); err != nil {
		t.Errorf("no metacopy xattr on the upper file: %v", err)
	}

	runXattrScenarios(t)
}

// TestKernelDiffProcXattrs runs TestNoProc's scenarios with xattrs reached
// through /proc/self/fd, as on kernels without getxattrat(2).
func TestKernelDiffProcXattrs(t *testing.T) {
	requireKernel(t)
	defer overlay.ForceProcXattrs()()
	runXattrScenarios(t)
}

// runXattrScenarios runs the noProcScenarios with redirect_dir=on and
// metacopy=on, and those with markers again with userxattr.
func runXattrScenarios(t *testing.T) {
	vs := []variant{metacopyVariant, {name: "userxattr", mountOpts: "userxattr", userxattr: true}}
	diffTable(t, vs, scenarios, func(v variant, sc scenario) (scenario, bool) {
		return sc, noProcScenarios.MatchString(sc.name) && !(v.userxattr && (!usesMarkers(sc) || strings.HasPrefix(sc.name, "redirect/")))
	}, nil)
}
