package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// fsckDirs makes lower, upper and work dirs under a temp dir: the lower
// holds the dir origin and a file f, the upper a whiteout with nothing
// below it (orphan) and the dir testdir redirected to origin without the
// whiteout that must cover the old name.
func fsckDirs(t *testing.T) (opts string, l, u string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testskip.Skip(t, "trusted.overlay.* xattrs need root")
	}
	dir := t.TempDir()
	l, u, w := filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
	for _, d := range []string{l + "/origin", u + "/testdir", w} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(l+"/f", []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(u+"/orphan", unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	for p, x := range map[string][2]string{u + "/testdir": {"redirect", "origin"}, u: {"impure", "y"}} {
		if err := unix.Lsetxattr(p, "trusted.overlay."+x[0], []byte(x[1]), 0); err != nil {
			t.Fatal(err)
		}
	}
	return "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w, l, u
}

func runCmd(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(name, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestFsck: -n reports and changes nothing (4), -p repairs (1), a second
// -n is clean (0), and the kernel then mounts the layers and shows the
// redirected dir under its new name only.
func TestFsck(t *testing.T) {
	opts, _, u := fsckDirs(t)
	if code, out, errs := runCmd(t, "overlay", "fsck", "-n", "-o", opts); code != 4 || !strings.Contains(out, "orphan whiteout") || !strings.Contains(out, "redirect missing whiteout") {
		t.Fatalf("fsck -n: exit %d, out %q, err %q; want 4 and both problems", code, out, errs)
	}
	if _, err := os.Lstat(u + "/orphan"); err != nil {
		t.Fatalf("fsck -n changed the upper: %v", err)
	}
	if code, out, errs := runCmd(t, "fsck.overlay", "-p", "-o", opts); code != 1 {
		t.Fatalf("fsck.overlay -p: exit %d, out %q, err %q; want 1", code, out, errs)
	}
	if code, out, _ := runCmd(t, "overlay", "fsck", "-n", "-o", opts); code != 0 || !strings.Contains(out, "clean") {
		t.Fatalf("second fsck -n: exit %d, out %q; want 0", code, out)
	}
	if ok, why := layertest.KernelAvailable(); !ok {
		testskip.Skip(t, "%s", why)
	}
	parts := strings.Split(opts, ",")
	lower, upper, work := strings.TrimPrefix(parts[0], "lowerdir="), strings.TrimPrefix(parts[1], "upperdir="), strings.TrimPrefix(parts[2], "workdir=")
	m := layertest.Mount(t, []string{lower}, upper, work, "redirect_dir=on")
	defer layertest.Unmount(m)
	ents, err := os.ReadDir(m)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "f testdir" {
		t.Errorf("the kernel's merged root after the repair: %v, want f testdir", names)
	}

	// In use by that mount: a repairing run is refused, a read-only one
	// goes ahead.
	if code, _, errs := runCmd(t, "overlay", "fsck", "-y", "-o", opts); code != 8 || !strings.Contains(errs, "in use") {
		t.Errorf("fsck -y of mounted layers: exit %d, err %q; want 8", code, errs)
	}
	if code, _, errs := runCmd(t, "overlay", "fsck", "-n", "-o", opts); code&8 != 0 {
		t.Errorf("fsck -n of mounted layers: exit %d, err %q", code, errs)
	}
}

func TestFsckUsageAndJSON(t *testing.T) {
	for _, args := range [][]string{{"fsck"}, {"fsck", "-p", "-n", "-o", "lowerdir=/x"}, {"fsck", "-o", "lowerdir=/,bogus=1"}, {"nope"}} {
		if code, _, _ := runCmd(t, "overlay", args...); code != 16 {
			t.Errorf("overlay %q: exit %d, want 16", args, code)
		}
	}
	if code, _, _ := runCmd(t, "overlay", "fsck", "-n", "-o", "lowerdir=/nonexistent-dir-of-fsck"); code != 8 {
		t.Errorf("missing dir: exit %d, want 8", code)
	}
	opts, _, _ := fsckDirs(t)
	code, out, _ := runCmd(t, "overlay", "fsck", "-n", "-json", "-o", opts)
	var r struct {
		Problems []struct{ Kind, Layer, Path string }
		Exit     int
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 4 || r.Exit != 4 || len(r.Problems) != 2 {
		t.Errorf("fsck -json: exit %d, %v, %+v", code, err, r)
	}
}

// TestFeaturesCommand: format a fresh dir, add a feature, show it.
func TestFeaturesCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		testskip.Skip(t, "trusted.overlay.* xattrs need root")
	}
	dir := t.TempDir()
	if code, out, errs := runCmd(t, "overlay", "features", "-format", "-set", "index", dir); code != 0 || !strings.Contains(out, "ro_compat=index") {
		t.Fatalf("features -format: exit %d, out %q, err %q", code, out, errs)
	}
	if code, out, _ := runCmd(t, "overlay", "features", "-set", "redirect_dir", dir); code != 0 || !strings.Contains(out, "incompat=redirect_dir") {
		t.Fatalf("features -set: exit %d, out %q", code, out)
	}
	if code, _, errs := runCmd(t, "overlay", "features", "-format", dir); code != 8 || !strings.Contains(errs, "not empty") {
		t.Errorf("features -format of a formatted dir: exit %d, err %q; want 8", code, errs)
	}
	if code, _, _ := runCmd(t, "overlay", "features", "-set", "bogus", dir); code != 16 {
		t.Errorf("unknown feature: exit %d, want 16", code)
	}
}
