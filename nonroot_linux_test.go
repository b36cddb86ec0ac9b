//go:build linux

package overlay_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
)

// nonRootEnv names, in the child process of TestNonRootUpper, the dir
// that holds its layers.
const nonRootEnv = "OVERLAY_TEST_NONROOT_DIR"

// nonRootUID is the user TestNonRootUpper runs as when started as root:
// nobody.
const nonRootUID = 65534

// TestNonRootUpper: without root a native upper cannot hold trusted.*
// xattrs. New with default options fails with an error that says so and
// names userxattr; with userxattr the library writes whiteouts, an opaque
// dir and copied-up xattrs, and the kernel mounts the result (with
// userxattr) as the library showed it. As root, the test runs itself
// again as nobody and then mounts the result.
func TestNonRootUpper(t *testing.T) {
	if os.Geteuid() != 0 {
		dir := os.Getenv(nonRootEnv)
		if dir == "" {
			dir = t.TempDir()
		}
		nonRootRun(t, dir)
		return
	}
	requireKernel(t)
	// A dir nobody can write, and a copy of the test binary nobody can run.
	base, err := os.MkdirTemp("", "nonroot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "layers")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nonRootUID, nonRootUID); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(base, "overlay.test")
	copyFile(t, os.Args[0], exe, 0o755)
	cmd := exec.Command(exe, "-test.run=^TestNonRootUpper$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), nonRootEnv+"="+dir, "HOME="+dir, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonRootUID, Gid: nonRootUID}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNonRootUpper") {
		t.Fatalf("as uid %d: %v\n%s", nonRootUID, err, out)
	}
	lib, err := os.ReadFile(filepath.Join(dir, "merged.dump"))
	if err != nil {
		t.Fatal(err)
	}
	merged := layertest.Mount(t, []string{filepath.Join(dir, "l")}, filepath.Join(dir, "u"), filepath.Join(dir, "w"), "userxattr")
	km, err := layertest.DumpDir(merged)
	if err != nil {
		t.Fatal(err)
	}
	diffDumps(t, "merged tree", "library as nobody", "kernel mount (userxattr)", string(lib), km)
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// nonRootRun is TestNonRootUpper as a user other than root, on layers
// under dir; it leaves the merged tree's dump in dir/merged.dump.
func nonRootRun(t *testing.T, dir string) {
	for _, f := range []struct{ path, data string }{
		{"l/d/a", "A"}, {"l/d/b", "B"}, {"l/e/x", "X"}, {"l/f", "F"}, {"u/", ""}, {"w/", ""},
	} {
		p := filepath.Join(dir, f.path)
		if strings.HasSuffix(f.path, "/") {
			p += "/"
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f.path, "/") {
			if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	opts := "lowerdir=" + dir + "/l,upperdir=" + dir + "/u,workdir=" + dir + "/w"

	// Default options: trusted.overlay.* cannot be stored.
	o, err := overlay.ParseOptions(opts)
	if err != nil {
		t.Fatalf("ParseOptions: %v", err)
	}
	_, err = overlay.New(o)
	var oe *overlay.OptionError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("New without userxattr: %v, want an *OptionError wrapping EPERM", err)
	}
	for _, s := range []string{"operation not permitted", "trusted.* xattrs", "userxattr"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("New without userxattr: %q does not say %q", err, s)
		}
	}
	t.Logf("without userxattr: %v", err)

	// userxattr: user.overlay.* markers, which need no privilege.
	var dump string
	for i := range 2 {
		o, err := overlay.ParseOptions(opts + ",userxattr")
		if err != nil {
			t.Fatalf("ParseOptions: %v", err)
		}
		fsys, err := overlay.New(o)
		if err != nil {
			t.Fatalf("New with userxattr: %v", err)
		}
		if i == 0 {
			for _, step := range []struct {
				what string
				err  error
			}{
				{"write f", afero.WriteFile(fsys, "f", []byte("F2"), 0o644)},
				{"remove d/a", fsys.Remove("d/a")},
				{"setxattr d/b", fsys.Setxattr("d/b", "user.k", []byte("v"), 0)},
				{"removeall e", fsys.RemoveAll("e")},
				{"mkdir e", fsys.Mkdir("e", 0o755)},
				{"mkdir n", fsys.Mkdir("n", 0o755)},
			} {
				if step.err != nil {
					t.Errorf("%s: %v", step.what, step.err)
				}
			}
			if dump, err = layertest.DumpFS(fsys, "/"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "merged.dump"), []byte(dump), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			again, err := layertest.DumpFS(fsys, "/")
			if err != nil {
				t.Fatal(err)
			}
			diffDumps(t, "merged tree", "library", "library after a remount", dump, again)
		}
		if err := fsys.Close(); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []string{`"d/a"`, `"e/x"`} {
		if strings.Contains(dump, s) {
			t.Errorf("%s still shows:\n%s", s, dump)
		}
	}
	for _, s := range []string{`"d/b" f 0644 size=1`, `x:user.k=76`, `"f" f 0644 size=2`, `"e" d`, `"n" d`} {
		if !strings.Contains(dump, s) {
			t.Errorf("no %s in:\n%s", s, dump)
		}
	}
	if os.Getenv(nonRootEnv) == "" {
		t.Log("checked by the library alone: a kernel mount of the result needs root")
	}
}
