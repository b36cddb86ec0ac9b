package overlay_test

// Crash tests: every multi-step operation that changes the upper layer is
// run in a child process (this test binary, re-executed) that exits at
// each of its upper-changing steps in turn, through the library's upper
// hook; a second set of runs kills the child at random times. After each
// crash the kernel must mount the layers and show the tree either as it
// was before the operation or as it is after it — never a lost or doubled
// tree, an ESTALE, or anything in between — and the library's next New
// must show the same tree as the kernel.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// crashCase is one operation to crash: setup runs to completion first,
// then every upper change of script is a crash point.
type crashCase struct {
	name    string
	v       variant
	fixture string
	setup   string
	script  string
	// noRenameWhiteout makes the upper refuse RENAME_WHITEOUT, as some
	// filesystems do, for the fallback order.
	noRenameWhiteout bool
	// between, when set, is a script whose result a crash may show too:
	// the documented intermediate state of a fallback order.
	between string
}

var redirectVariant = variant{name: "redirect", mountOpts: "redirect_dir=on", redirect: overlay.RedirectOn}

const crashFixture = `
-- lower --
dir a
file a/f "af"
dir a/sub
file a/sub/g "ag"
dir e
file e/x "ex"
dir t
file t/y "ty"
dir d
file lf "lower file"
file big "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
xattr lf user.k "v"
xattr a user.k "dir"
dir xd 0750
xattr xd user.k "xd"
file xd/f "xdf"
file h1 "linked"
hardlink h2 = h1
hardlink d/h3 = h1
`

var crashCases = []crashCase{
	// Renames of merged dirs (redirect_dir=on) and of lower objects.
	{name: "rename merged dir", v: redirectVariant, setup: "writefile a/new n", script: "rename a b"},
	{name: "rename lower dir", v: redirectVariant, script: "rename a b"},
	{name: "move merged dir into subdir", v: redirectVariant, setup: "writefile a/new n", script: "rename a d/a"},
	{name: "rename merged dir over emptied merged dir", v: redirectVariant, setup: "remove t/y", script: "rename a t"},
	{name: "rename merged dir over whiteout", v: redirectVariant, setup: "removeall e", script: "rename a e"},
	{name: "rename moved dir back", v: redirectVariant, setup: "rename a b", script: "rename b a"},
	{name: "rename lower file", script: "rename lf lg"},
	{name: "rename lower file over upper file", setup: "writefile g up", script: "rename lf g"},
	{name: "rename lower file over lower file", script: "rename lf a/f"},
	{name: "rename lower file over whiteout", setup: "remove a/f", script: "rename lf a/f"},
	{name: "rename upper file over whiteout", setup: "remove a/f\nwritefile u up", script: "rename u a/f"},
	{name: "rename upper dir into merged dir", setup: "mkdir u\nwritefile u/z z", script: "rename u a/u"},
	// (OCI layers, without exchange, remove the target first.)
	{name: "rename upper dir over emptied merged dir", setup: "mkdir u\nwritefile u/z z\nremove t/y", script: "rename u t", between: "removeall t"},
	// The same without RENAME_WHITEOUT.
	{name: "rename merged dir without RENAME_WHITEOUT", v: redirectVariant, setup: "writefile a/new n", script: "rename a b", noRenameWhiteout: true},
	{name: "move merged dir without RENAME_WHITEOUT", v: redirectVariant, setup: "writefile a/new n", script: "rename a d/a", noRenameWhiteout: true},
	{name: "rename merged dir over merged dir without RENAME_WHITEOUT", v: redirectVariant, setup: "remove t/y", script: "rename a t", noRenameWhiteout: true, between: "removeall t"},
	{name: "rename lower file over upper file without RENAME_WHITEOUT", setup: "writefile g up", script: "rename lf g", noRenameWhiteout: true, between: "removeall g"},
	{name: "rename lower file over lower file without RENAME_WHITEOUT", script: "rename lf a/f", noRenameWhiteout: true, between: "removeall a/f"},
	{name: "metacopy rename without RENAME_WHITEOUT", v: metacopyVariant, setup: "chmod big 0600", script: "rename big d/big", noRenameWhiteout: true},
	{name: "index rename without RENAME_WHITEOUT", v: indexVariant, script: "rename h1 h5", noRenameWhiteout: true},
	// Removal leaving whiteouts.
	{name: "unlink lower file", script: "remove lf"},
	{name: "unlink copied-up file", setup: "chmod lf 0600", script: "remove lf"},
	{name: "rmdir lower dir", setup: "remove e/x", script: "remove e"},
	{name: "rmdir merged dir", setup: "writefile e/n n\nremove e/n\nremove e/x", script: "remove e"},
	// Creation over a whiteout.
	{name: "mkdir over whiteout", setup: "removeall e", script: "mkdir e"},
	{name: "create over whiteout", setup: "remove lf", script: "create lf"},
	{name: "symlink over whiteout", setup: "remove lf", script: "symlink a lf"},
	{name: "mkdir in merged dir", v: redirectVariant, script: "mkdir a/m"},
	// Copy-up.
	{name: "copy-up dir with xattrs", script: "mkdir xd/n"},
	{name: "copy-up file with xattrs", script: "chmod lf 0600"},
	{name: "copy-up data", script: "appendfile big more"},
	{name: "copy-up nested", script: "mkdir a/sub/n"},
	// Hard links.
	{name: "link lower file", script: "link lf a/lnk"},
	// index=on: link-up and the nlink bookkeeping.
	{name: "index copy-up", v: indexVariant, script: "chmod h1 0600"},
	{name: "index link-up", v: indexVariant, setup: "chmod h1 0600", script: "chmod h2 0640"},
	{name: "index unlink first", v: indexVariant, script: "remove h1"},
	{name: "index unlink lower alias", v: indexVariant, setup: "chmod h1 0600", script: "remove h2"},
	{name: "index unlink last", v: indexVariant, setup: "remove h1\nremove d/h3", script: "remove h2"},
	{name: "index link", v: indexVariant, script: "link h1 h4"},
	{name: "index rename", v: indexVariant, script: "rename h1 h5"},
	{name: "index rename over alias", v: indexVariant, setup: "chmod h1 0600", script: "rename lf h2"},
	// nfs_export: dir index entries, and whiteouts for gone objects.
	{name: "nfs_export copy-up dir", v: nfsExportVariant, script: "mkdir xd/n"},
	{name: "nfs_export rmdir copied-up dir", v: nfsExportVariant, setup: "mkdir e/n\nremove e/n\nremove e/x", script: "remove e"},
	{name: "nfs_export unlink", v: nfsExportVariant, setup: "chmod lf 0600", script: "remove lf"},
	{name: "nfs_export unlink last", v: nfsExportVariant, setup: "remove h1\nremove d/h3", script: "remove h2"},
	// Other copy-ups.
	{name: "copy-up by setxattr", script: "setxattr lf user.n v"},
	{name: "copy-up by chown", script: "chown lf 7 8"},
	{name: "copy-up by truncate", script: "truncate big 3"},
	{name: "copy-up symlink", setup: "symlink lf s", script: "rename s s2"},
	{name: "rename moved dir over merged dir", v: redirectVariant, setup: "rename a b\nremove t/y", script: "rename b t"},
	// metacopy=on: metadata copy-up, then the data.
	{name: "metacopy copy-up", v: metacopyVariant, script: "chmod big 0600"},
	{name: "metacopy data copy-up", v: metacopyVariant, setup: "chmod big 0600", script: "appendfile big more"},
	{name: "metacopy rename into subdir", v: metacopyVariant, setup: "chmod big 0600", script: "rename big d/big"},
	{name: "metacopy link", v: metacopyVariant, script: "link big d/big"},
}

// crashExit is the status of a child that crashed on purpose.
const crashExit = 77

// crashJob is what the parent tells a child (in OVERLAY_CRASH_JOB).
type crashJob struct {
	Case   string
	Lowers []string
	Upper  string
	Work   string
	At     int  // crash before the At-th upper change of the script (0: never)
	Alt    bool // run the case's between script instead
	Slow   bool // sleep at every step, for kills at random times
}

// TestCrashChild is the child side: it does nothing unless run by
// TestCrash with a job.
func TestCrashChild(t *testing.T) {
	env := os.Getenv("OVERLAY_CRASH_JOB")
	if env == "" {
		return
	}
	var job crashJob
	if err := json.Unmarshal([]byte(env), &job); err != nil {
		t.Fatal(err)
	}
	var cc *crashCase
	for i := range crashCases {
		if crashCases[i].name == job.Case {
			cc = &crashCases[i]
		}
	}
	if cc == nil {
		t.Fatalf("no case %q", job.Case)
	}
	overlay.SetNoRenameWhiteout(cc.noRenameWhiteout)
	var armed atomic.Bool
	var steps atomic.Int64
	overlay.SetUpperHook(func(op string, paths ...string) {
		if !armed.Load() {
			return
		}
		n := steps.Add(1)
		fmt.Printf("crash-step %d: %s %q\n", n, op, paths)
		if int(n) == job.At {
			os.Exit(crashExit)
		}
		if job.Slow {
			time.Sleep(3 * time.Millisecond)
		}
	})
	d := layertest.Dirs{Lowers: job.Lowers, Upper: job.Upper, Work: job.Work}
	o, err := d.Options()
	if err != nil {
		t.Fatal(err)
	}
	cc.v.apply(&o)
	o.Userxattr = cc.v.userxattr
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runScript(fsys, mustOps(cc.setup), runConfig{}) {
		if r.errno != "ok" {
			t.Fatalf("setup %d: %s", i, r.res)
		}
	}
	fmt.Println("crash-armed")
	armed.Store(true)
	script := cc.script
	if job.Alt {
		script = cc.between
	}
	res := runScript(fsys, mustOps(script), runConfig{})
	armed.Store(false)
	for i, r := range res {
		if r.errno != "ok" {
			t.Fatalf("script %d: %s", i, r.res)
		}
	}
	if err := fsys.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("crash-steps=%d\n", steps.Load())
}

// TestCrash crashes every case at each of its steps, then at random
// times, and checks what the kernel and the library make of the result.
func TestCrash(t *testing.T) {
	requireKernel(t)
	if os.Getenv("OVERLAY_CRASH_JOB") != "" {
		return
	}
	for _, cc := range crashCases {
		if testing.Short() && !crashShort[cc.name] {
			continue
		}
		t.Run(cc.name, func(t *testing.T) { crashRun(t, cc) })
	}
}

// crashShort are the cases TestCrash runs with -short (each crash point
// costs a process and two mounts).
var crashShort = map[string]bool{
	"rename merged dir": true, "rename lower file over upper file": true,
	"rename merged dir over emptied merged dir": true, "rmdir merged dir": true,
	"index link-up": true, "index unlink lower alias": true, "metacopy rename into subdir": true,
}

func crashRun(t *testing.T, cc crashCase) {
	root := t.TempDir()
	testskip.Tmpfs(t, root, "size=64m")
	stack := layertest.MustParse(crashFixture + "-- upper --\n")
	runs := 0
	// run writes a fresh copy of the layers and runs the child on them;
	// kill, when set, kills it that long after it is armed.
	run := func(at int, slow bool, kill time.Duration, alt ...bool) (layertest.Dirs, string, bool) {
		t.Helper()
		runs++
		dir := filepath.Join(root, strconv.Itoa(runs))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		d, err := layertest.WriteDirs(stack, dir, cc.v.dirOptions())
		if err != nil {
			t.Fatal(err)
		}
		job, _ := json.Marshal(crashJob{Case: cc.name, Lowers: d.Lowers, Upper: d.Upper, Work: d.Work, At: at, Slow: slow, Alt: len(alt) > 0})
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OVERLAY_CRASH_JOB="+string(job))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if line == "crash-armed" && kill > 0 {
				p := cmd.Process
				time.AfterFunc(kill, func() { p.Signal(syscall.SIGKILL) })
			}
		}
		err = cmd.Wait()
		crashed := false
		if ee, ok := err.(*exec.ExitError); ok {
			ws := ee.Sys().(syscall.WaitStatus)
			crashed = ws.ExitStatus() == crashExit || ws.Signaled() && ws.Signal() == syscall.SIGKILL
			if !crashed {
				t.Fatalf("child: %v\n%s%s", err, out.String(), stderr.String())
			}
		} else if err != nil {
			t.Fatal(err)
		}
		return d, out.String(), crashed
	}
	// kernelView mounts d and dumps the tree, in full and without dir
	// sizes and link counts (which a copy-up, invisible otherwise, may
	// change).
	kernelView := func(d layertest.Dirs) (full, portable string) {
		t.Helper()
		merged := layertest.Mount(t, d.Lowers, d.Upper, d.Work, cc.v.mountOpts)
		full, err := layertest.DumpDir(merged)
		if err == nil {
			portable, err = layertest.DumpDir(merged, layertest.Portable())
		}
		if err != nil {
			t.Fatalf("DumpDir: %v", err)
		}
		if err := layertest.Unmount(merged); err != nil {
			t.Fatalf("unmount: %v", err)
		}
		return full, portable
	}
	libView := func(d layertest.Dirs) string {
		t.Helper()
		o, err := d.Options()
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			for _, l := range append([]*overlay.Layer{o.Upper, o.Work}, o.Lower...) {
				l.Close()
			}
		}()
		cc.v.apply(&o)
		o.Userxattr = cc.v.userxattr
		fsys, err := overlay.New(o)
		if err != nil {
			return "New: " + err.Error()
		}
		defer fsys.Close()
		dump, err := layertest.DumpFS(fsys, "/")
		if err != nil {
			return "DumpFS: " + err.Error()
		}
		return dump
	}
	full, out, _ := run(0, false, 0)
	t.Logf("the complete run:\n%s", out)
	steps := 0
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "crash-steps="); ok {
			steps, _ = strconv.Atoi(v)
		}
	}
	if steps == 0 {
		t.Fatalf("the script made no upper change:\n%s", out)
	}
	_, newState := kernelView(full)
	first, _, _ := run(1, false, 0)
	_, oldState := kernelView(first)
	if oldState == newState {
		t.Fatalf("the script changed nothing visible:\n%s", newState)
	}
	between := "(none)"
	if cc.between != "" {
		d, _, _ := run(0, false, 0, true)
		_, between = kernelView(d)
	}
	// check judges the layers d left by a crash: the kernel must show the
	// old or the new tree, and the library the kernel's. The library
	// opens them first, as it sees the crash's own leftovers; then the
	// kernel (whose mount-time cleanup the library's New mirrors).
	check := func(what string, d layertest.Dirs, out string) {
		t.Helper()
		lib := libView(d)
		ker, kp := kernelView(d)
		if kp != oldState && kp != newState && kp != between {
			t.Errorf("%s: the kernel shows neither the old nor the new tree\nchild:\n%sold:\n%s\nnew:\n%s\nafter the crash:\n%s", what, out, oldState, newState, kp)
			return
		}
		if lib != ker {
			t.Errorf("%s: the library shows another tree than the kernel\nchild:\n%s", what, out)
			diffDumps(t, "merged tree", "kernel", "library", ker, lib)
		}
	}
	for at := 2; at <= steps; at++ {
		d, out, crashed := run(at, false, 0)
		if !crashed {
			t.Fatalf("no crash at step %d:\n%s", at, out)
		}
		check(fmt.Sprintf("crash before step %d", at), d, out)
	}
	// Kills at random times: each step sleeps 3ms in the child.
	for i := 0; i < 2 && !testing.Short(); i++ {
		kill := time.Duration(rand.Int64N(int64(steps)*int64(3*time.Millisecond))) + time.Microsecond
		d, out, _ := run(0, true, kill)
		check(fmt.Sprintf("kill after %v", kill), d, out)
	}
}
