//go:build linux

package overlay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// permChildEnv names the merged dir a re-executed test binary runs
// permScript on, as permCaller (see TestPermKernelChild).
const permChildEnv = "OVERLAY_PERM_CHILD"

// TestPermKernelChild is not a test: it is the kernel side of
// TestPermKernel, run in a child process with permCaller's credentials.
// It prints the results of permScript on the mount as one JSON line.
func TestPermKernelChild(t *testing.T) {
	merged := os.Getenv(permChildEnv)
	if merged == "" {
		return
	}
	print := func(tag string, res []opResult) {
		out := make([][3]string, len(res))
		for i, r := range res {
			out[i] = [3]string{r.res, r.errno, r.shape}
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("\n%s %s\n", tag, b)
	}
	print("PERMRESULT", runScript(osTarget{merged}, mustOps(permScript), runConfig{}))
	// The library without a view acts for the process, here uid 1000:
	// over in-memory layers (which check nothing themselves) it must
	// give the kernel's results.
	fsys := memStackFS(t, permStack())
	print("PERMMEM", runScript(fsys, mustOps(permScript), runConfig{}))
}

// childResults decodes the results the child printed after tag.
func childResults(t *testing.T, out []byte, tag string, n int) []opResult {
	t.Helper()
	_, line, ok := bytes.Cut(out, []byte("\n"+tag+" "))
	if !ok {
		t.Fatalf("child printed no %s:\n%s", tag, out)
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	var raw [][3]string
	if err := json.Unmarshal(line, &raw); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if len(raw) != n {
		t.Fatalf("child: %d results for %d ops", len(raw), n)
	}
	res := make([]opResult, len(raw))
	for i, r := range raw {
		res[i] = opResult{res: r[0], errno: r[1], shape: r[2]}
	}
	return res
}

// TestPermKernel runs permScript on a kernel overlay mounted by root, as
// uid 1000 with groups 1000 and 2000 (a child process), and on the
// library's view As(permCaller) over identical native layers, and
// compares every result and the upper layers they leave, owners and
// modes included.
func TestPermKernel(t *testing.T) {
	requireKernel(t)
	if os.Geteuid() != 0 {
		testskip.Skip(t, "needs root to mount and to run a child as another user")
	}
	dir := t.TempDir()
	for _, sub := range []string{"k", "l"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	openUp(t, dir)
	ops := mustOps(permScript)
	s := permStack()

	// The kernel side.
	kd, err := layertest.WriteDirs(s, filepath.Join(dir, "k"), layertest.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(bin, "overlay.test")
	copyFile(t, os.Args[0], exe, 0o755)
	merged := layertest.Mount(t, kd.Lowers, kd.Upper, kd.Work, "")
	openUp(t, filepath.Dir(merged))
	cmd := exec.Command(exe, "-test.run=^TestPermKernelChild$", "-test.count=1")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), permChildEnv+"="+merged)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: permCaller.Uid, Gid: permCaller.Gid, Groups: permCaller.Groups,
	}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	kres := childResults(t, out, "PERMRESULT", len(ops))
	checkWants(t, "kernel", "", ops, kres)
	// The library acting for the process (uid 1000, no view), over
	// in-memory layers: the same errnos (stat results differ in sizes and
	// inode numbers between backends).
	mres := childResults(t, out, "PERMMEM", len(ops))
	for i, o := range ops {
		if mres[i].errno != kres[i].errno {
			t.Errorf("op %d %q: kernel %s, library as the process %s", i+1, o.line, kres[i].res, mres[i].res)
		}
	}
	if err := layertest.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	kupper, err := layertest.DumpDir(kd.Upper, layertest.IgnoreBookkeeping())
	if err != nil {
		t.Fatal(err)
	}

	// The library side.
	ld, err := layertest.WriteDirs(s, filepath.Join(dir, "l"), layertest.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := ld.Options()
	if err != nil {
		t.Fatal(err)
	}
	defer closeLayers(o)
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	lres := runScript(fsys.As(permCaller), ops, runConfig{})
	if err := fsys.Close(); err != nil {
		t.Fatal(err)
	}
	checkWants(t, "library", "", ops, lres)
	compareResults(t, "kernel", "library", ops, kres, lres, true)
	lupper, err := layertest.DumpDir(ld.Upper, layertest.IgnoreBookkeeping())
	if err != nil {
		t.Fatal(err)
	}
	diffDumps(t, "upper", "kernel", "library", kupper, lupper)
}

// openUp makes dir and its parents up to the temp dir searchable by
// everyone, for the child that runs as another user.
func openUp(t *testing.T, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for d := dir; d != tmp && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPermSetgidOverWhiteout: an object created over a whiteout is made
// in the work dir and renamed into place; in a setgid dir it must still
// get the dir's group (and a dir the setgid bit), as the kernel creates
// it with the group the overlay inode is given.
func TestPermSetgidOverWhiteout(t *testing.T) {
	requireKernel(t)
	s := layertest.MustParse(`
-- upper --
dir sg 02777 uid=1001 gid=2000
whiteout sg/f
whiteout sg/d
-- lower --
dir sg 02777 uid=1001 gid=2000
file sg/f "x"
dir sg/d
`)
	diffRun(t, variant{}, s, mustOps(`
writefile sg/f n => ok
mkdir sg/d => ok
mknod sg/p p => ok
lstat sg/f => ok
lstat sg/d => ok
`))
}
