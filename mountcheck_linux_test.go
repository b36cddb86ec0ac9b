package overlay_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// Tests of New's mount-time checks against the kernel's mount(2) on the
// same layouts: every refusal has the kernel's errno and touches nothing.

// mountLayout makes, under dir, the dirs the mount-check tests use: l, l2
// with a subdir each, u with data and u/sub/work/marker, w with
// w/work/marker and w/sub, and an unrelated dir x.
func mountLayout(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"l/sub", "l2/sub", "u/sub/work", "w/work", "w/sub", "x", "m"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"l/f", "u/data", "u/sub/work/marker", "w/work/marker", "x/f"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bindMount bind-mounts src on dst (made if missing) until the test ends.
func bindMount(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", src, dst, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dst, 0); err != nil {
			unix.Unmount(dst, unix.MNT_DETACH)
		}
	})
}

// treeList lists every path under dir (relative) with its type and, for
// regular files, its content: what a refused New must leave as it was.
func treeList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, p+": "+err.Error())
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		s := rel + " " + d.Type().String()
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			s += " " + string(b)
		}
		out = append(out, s)
		return nil
	})
	sort.Strings(out)
	return out
}

// expand replaces the names of a layout in an option string by their
// paths under dir.
func expand(dir, opts string) string {
	var parts []string
	for _, p := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			parts = append(parts, p)
			continue
		}
		var vs []string
		for _, e := range strings.Split(v, ":") {
			vs = append(vs, filepath.Join(dir, e))
		}
		parts = append(parts, k+"="+strings.Join(vs, ":"))
	}
	return strings.Join(parts, ",")
}

// TestNewBindMountOverlap: layers that overlap through a bind mount are
// refused as the kernel refuses them (upperdir and workdir on different
// mounts: EINVAL; a lower root beneath another layer's root in the
// filesystem: ELOOP), before anything in the upper or work dir changes.
func TestNewBindMountOverlap(t *testing.T) {
	requireKernel(t)
	for _, c := range []struct {
		name  string
		binds [][2]string // src, dst under the layout dir
		opts  string
		want  error
	}{
		{"upper is a bind of work/work", [][2]string{{"w/work", "bu"}}, "lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL},
		{"work is a bind of an upper subdir", [][2]string{{"u/sub", "bw"}}, "lowerdir=l,upperdir=u,workdir=bw", syscall.EINVAL},
		{"upper is a bind of an unrelated dir", [][2]string{{"x", "bu"}}, "lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL},
		{"upper is a bind of a lower subdir", [][2]string{{"l/sub", "bu"}}, "lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL},
		{"lower is a bind of an upper subdir", [][2]string{{"u/sub", "bl"}}, "lowerdir=bl,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower is a bind of a work subdir", [][2]string{{"w/sub", "bl"}}, "lowerdir=bl,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower is a bind of a lower subdir", [][2]string{{"l2/sub", "bl"}}, "lowerdir=bl:l2,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower contains a bound lower", [][2]string{{"l2/sub", "bl"}}, "lowerdir=l2:bl,upperdir=u,workdir=w", syscall.ELOOP},
		{"lower is a bind of an unrelated dir", [][2]string{{"x", "bl"}}, "lowerdir=bl:l,upperdir=u,workdir=w", nil},
		{"lower is a bind of a dir holding upper", [][2]string{{".", "bl"}}, "lowerdir=bl,upperdir=u,workdir=w", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			kdir, ldir := t.TempDir(), t.TempDir()
			for _, d := range []string{kdir, ldir} {
				mountLayout(t, d)
			}
			for _, d := range []string{kdir, ldir} {
				for _, b := range c.binds {
					bindMount(t, filepath.Join(d, b[0]), filepath.Join(d, b[1]))
				}
			}
			kopts, lopts := expand(kdir, c.opts), expand(ldir, c.opts)
			kerr := unix.Mount("overlay", filepath.Join(kdir, "m"), "overlay", 0, kopts)
			if kerr == nil {
				layertest.Unmount(filepath.Join(kdir, "m"))
			}
			if !errors.Is(kerr, c.want) && !(kerr == nil && c.want == nil) {
				t.Fatalf("kernel mount -o %s: %v, want %v", kopts, kerr, c.want)
			}
			before := treeList(t, ldir)
			o, err := overlay.ParseOptions(lopts)
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := overlay.New(o)
			if c.want == nil {
				if err != nil {
					t.Fatalf("New(%s): %v, the kernel mounts it", lopts, err)
				}
				fsys.Close()
				return
			}
			if !errors.Is(err, c.want) {
				t.Errorf("New(%s): %v, want %v as the kernel", lopts, err, c.want)
			}
			if err == nil {
				fsys.Close()
			}
			if after := treeList(t, ldir); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("a refused New changed the layers:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// procMountOpts returns the options /proc/mounts shows for the mount at
// dir after the layer paths (from the first option past workdir=, or past
// lowerdir= without upper).
func procMountOpts(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != dir {
			continue
		}
		var out []string
		for _, o := range strings.Split(f[3], ",") {
			switch {
			case o == "rw", o == "relatime", strings.HasPrefix(o, "lowerdir="), strings.HasPrefix(o, "upperdir="), strings.HasPrefix(o, "workdir="):
			default:
				out = append(out, o)
			}
		}
		return strings.Join(out, ",")
	}
	t.Fatalf("%s not in /proc/self/mounts", dir)
	return ""
}

// libOpts is the options part of fsys.Options().String(), as procMountOpts.
func libOpts(fsys *overlay.FS) string {
	var out []string
	for _, o := range strings.Split(fsys.Options().String(), ",") {
		if !strings.HasPrefix(o, "lowerdir=") && !strings.HasPrefix(o, "upperdir=") && !strings.HasPrefix(o, "workdir=") {
			out = append(out, o)
		}
	}
	return strings.Join(out, ",")
}

// TestNewNoXattrFallback: on an upper whose filesystem holds no xattrs
// (ramfs) the kernel mounts with fallbacks (redirect_dir=nofollow,
// uuid=null, no index, metacopy or nfs_export, xino=auto off); New does
// the same and FS.Options shows what /proc/mounts shows.
func TestNewNoXattrFallback(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	r := filepath.Join(dir, "r")
	if err := os.Mkdir(r, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("ramfs", r, "ramfs", 0, ""); err != nil {
		testskip.Skip(t, "cannot mount ramfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(r, unix.MNT_DETACH) })
	l, m := filepath.Join(dir, "l"), filepath.Join(dir, "m")
	for _, d := range []string{l, m} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l, "f"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, extra := range []string{"", "index=on", "nfs_export=on", "metacopy=on", "redirect_dir=on", "xino=auto", "xino=on", "uuid=on", "uuid=off", "verity=on"} {
		base := fmt.Sprintf("%s/%d", r, i)
		k, lb := base+"k", base+"l"
		for _, d := range []string{k + "/u", k + "/w", lb + "/u", lb + "/w"} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		opts := func(b string) string {
			s := "lowerdir=" + l + ",upperdir=" + b + "/u,workdir=" + b + "/w"
			if extra != "" {
				s += "," + extra
			}
			return s
		}
		if err := unix.Mount("overlay", m, "overlay", 0, opts(k)); err != nil {
			t.Fatalf("kernel mount %s: %v", extra, err)
		}
		want := procMountOpts(t, m)
		layertest.Unmount(m)
		o, err := overlay.ParseOptions(opts(lb))
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := overlay.New(o)
		if err != nil {
			t.Errorf("%q: New: %v; the kernel mounts it (%s)", extra, err, want)
			continue
		}
		if got := libOpts(fsys); got != want {
			t.Errorf("%q: FS.Options shows %q, /proc/mounts %q", extra, got, want)
		}
		// Copy-up and a whiteout work; a new dir too.
		if err := afero.WriteFile(fsys, "f", []byte("new"), 0o644); err != nil {
			t.Errorf("%q: write (copy-up): %v", extra, err)
		}
		if err := fsys.Mkdir("d", 0o755); err != nil {
			t.Errorf("%q: mkdir: %v", extra, err)
		}
		if err := fsys.Remove("f"); err != nil {
			t.Errorf("%q: remove: %v", extra, err)
		}
		fsys.Close()
	}
}

// TestNewInUseTouchesNothing: a New refused with EBUSY (index=on, the
// upper or the work dir in use by another FS) changes nothing in the
// work dir, which the FS using it may be copying up through; the kernel
// refuses the same second mount (EBUSY) and leaves the work dir too.
func TestNewInUseTouchesNothing(t *testing.T) {
	requireKernel(t)
	for _, who := range []string{"kernel", "library"} {
		dir := t.TempDir()
		for _, d := range []string{"l", "u", "u2", "w", "w2", "m", "m2"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		opts := func(u, w string) string {
			return "lowerdir=" + filepath.Join(dir, "l") + ",upperdir=" + filepath.Join(dir, u) + ",workdir=" + filepath.Join(dir, w) + ",index=on"
		}
		var second func(u, w string) error
		if who == "kernel" {
			if err := unix.Mount("overlay", filepath.Join(dir, "m"), "overlay", 0, opts("u", "w")); err != nil {
				t.Fatal(err)
			}
			defer layertest.Unmount(filepath.Join(dir, "m"))
			second = func(u, w string) error {
				err := unix.Mount("overlay", filepath.Join(dir, "m2"), "overlay", 0, opts(u, w))
				if err == nil {
					layertest.Unmount(filepath.Join(dir, "m2"))
				}
				return err
			}
		} else {
			o, err := overlay.ParseOptions(opts("u", "w"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := overlay.New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			second = func(u, w string) error {
				o, err := overlay.ParseOptions(opts(u, w))
				if err != nil {
					return err
				}
				b, err := overlay.New(o)
				if err == nil {
					b.Close()
				}
				return err
			}
		}
		// What the first user is doing in its work dir.
		marker := filepath.Join(dir, "w", "work", "#copy-up-in-progress")
		if err := os.WriteFile(marker, []byte("staged"), 0o644); err != nil {
			t.Fatal(err)
		}
		// An incompat marker too: the in-use check comes first (EBUSY,
		// not EINVAL).
		if err := os.MkdirAll(filepath.Join(dir, "w", "work", "incompat", "volatile"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2]string{{"u", "w2"}, {"u2", "w"}} {
			if err := second(c[0], c[1]); !errors.Is(err, syscall.EBUSY) {
				t.Errorf("%s: second use of upperdir=%s,workdir=%s with index=on: %v, want EBUSY", who, c[0], c[1], err)
			}
			if b, err := os.ReadFile(marker); err != nil || string(b) != "staged" {
				t.Errorf("%s: the refused use changed the work dir: %q, %v", who, b, err)
			}
		}
	}
}

// TestNewReplacesNonDirWork: the kernel replaces whatever is at W/work (a
// file, a symlink, which it does not follow) with a new dir; so does New.
func TestNewReplacesNonDirWork(t *testing.T) {
	requireKernel(t)
	for _, kind := range []string{"file", "symlink"} {
		for _, who := range []string{"kernel", "library"} {
			dir := t.TempDir()
			for _, d := range []string{"l", "u", "w", "m", "target"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			keep := filepath.Join(dir, "target", "keep")
			if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			work := filepath.Join(dir, "w", "work")
			var err error
			if kind == "file" {
				err = os.WriteFile(work, []byte("junk"), 0o644)
			} else {
				err = os.Symlink(filepath.Join(dir, "target"), work)
			}
			if err != nil {
				t.Fatal(err)
			}
			opts := "lowerdir=" + filepath.Join(dir, "l") + ",upperdir=" + filepath.Join(dir, "u") + ",workdir=" + filepath.Join(dir, "w")
			if who == "kernel" {
				err = unix.Mount("overlay", filepath.Join(dir, "m"), "overlay", 0, opts)
				if err == nil {
					layertest.Unmount(filepath.Join(dir, "m"))
				}
			} else {
				var o overlay.Options
				if o, err = overlay.ParseOptions(opts); err == nil {
					var fsys *overlay.FS
					if fsys, err = overlay.New(o); err == nil {
						fsys.Close()
					}
				}
			}
			if err != nil {
				t.Errorf("%s with a %s at W/work: %v", who, kind, err)
				continue
			}
			if fi, err := os.Lstat(work); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0 {
				t.Errorf("%s with a %s at W/work: W/work is %v, %v; want a mode-0 dir", who, kind, fi, err)
			}
			if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
				t.Errorf("%s with a %s at W/work: the symlink's target changed: %q, %v", who, kind, b, err)
			}
		}
	}
}

// nullUUIDFS mounts, until the test ends, an ext4 filesystem created
// without a UUID (mkfs.ext4 -U clear) on a loop device, and returns its
// mount point.
func nullUUIDFS(t *testing.T) string {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		testskip.Skip(t, "no mkfs.ext4: %v", err)
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-U", "clear", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		testskip.Skip(t, "cannot mount a loop device: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// umount(8) frees the loop device it set up.
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// TestIndexNullUUID: with every layer on one filesystem that has no UUID
// (as this machine's ext4 root), the kernel keeps index=on: hard links
// of a lower file survive a write to one name, the index dir is made,
// and an upper used with other lower layers is refused with ESTALE. New
// does the same, and FS.Options says index=on.
func TestIndexNullUUID(t *testing.T) {
	requireKernel(t)
	fsroot := nullUUIDFS(t)
	results := map[string]string{}
	for _, who := range []string{"kernel", "library"} {
		dir := filepath.Join(fsroot, who)
		for _, d := range []string{"l", "l2", "u", "w", "m"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "l", "h1"), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(dir, "l", "h1"), filepath.Join(dir, "l", "h2")); err != nil {
			t.Fatal(err)
		}
		opts := func(lower string) string {
			return "lowerdir=" + filepath.Join(dir, lower) + ",upperdir=" + filepath.Join(dir, "u") + ",workdir=" + filepath.Join(dir, "w") + ",index=on"
		}
		var res strings.Builder
		var stale error
		if who == "kernel" {
			m := filepath.Join(dir, "m")
			if err := unix.Mount("overlay", m, "overlay", 0, opts("l")); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&res, "options %s; ", procMountOpts(t, m))
			if err := appendTo(filepath.Join(m, "h1"), "+"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(m, "h2"))
			fmt.Fprintf(&res, "h2 %q %v; ", b, err)
			layertest.Unmount(m)
			stale = unix.Mount("overlay", m, "overlay", 0, opts("l2"))
			if stale == nil {
				layertest.Unmount(m)
			}
		} else {
			o, err := overlay.ParseOptions(opts("l"))
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := overlay.New(o)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&res, "options %s; ", libOpts(fsys))
			f, err := fsys.OpenFile("h1", os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("+")
			f.Close()
			b, err := afero.ReadFile(fsys, "h2")
			fmt.Fprintf(&res, "h2 %q %v; ", b, err)
			fsys.Close()
			if o, err = overlay.ParseOptions(opts("l2")); err != nil {
				t.Fatal(err)
			}
			if fsys, stale = overlay.New(o); stale == nil {
				fsys.Close()
			}
		}
		_, err := os.Stat(filepath.Join(dir, "w", "index"))
		fmt.Fprintf(&res, "index dir %v; another lower: %v", err == nil, errors.Is(stale, syscall.ESTALE))
		results[who] = res.String()
	}
	want := `options index=on,uuid=on; h2 "data+" <nil>; index dir true; another lower: true`
	if results["kernel"] != want {
		t.Errorf("kernel: %s\nwant     %s", results["kernel"], want)
	}
	if results["library"] != results["kernel"] {
		t.Errorf("library: %s\nkernel:  %s", results["library"], results["kernel"])
	}
}

// TestLowerNullUUIDOptions: a lower filesystem without a UUID under an
// upper on another one: the kernel keeps index=on (a single null-UUID
// lower is fine for it) but turns xino=auto off (a null UUID is refused
// when no feature needs origins). FS.Options must show the same.
func TestLowerNullUUIDOptions(t *testing.T) {
	requireKernel(t)
	nul := nullUUIDFS(t)
	tmp := t.TempDir()
	testskip.Tmpfs(t, tmp, "size=16m")
	m := filepath.Join(t.TempDir(), "m")
	os.Mkdir(m, 0o755)
	for i, extra := range []string{"index=on", "xino=auto", "nfs_export=on", "xino=on"} {
		l := filepath.Join(nul, fmt.Sprint("l", i))
		if err := os.MkdirAll(l, 0o755); err != nil {
			t.Fatal(err)
		}
		var got [2]string
		for j := range got {
			u, w := filepath.Join(tmp, fmt.Sprint(i, j, "u")), filepath.Join(tmp, fmt.Sprint(i, j, "w"))
			os.Mkdir(u, 0o755)
			os.Mkdir(w, 0o755)
			opts := "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w + "," + extra
			if j == 0 {
				if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
					t.Fatalf("kernel mount %s: %v", extra, err)
				}
				got[j] = procMountOpts(t, m)
				layertest.Unmount(m)
				continue
			}
			o, err := overlay.ParseOptions(opts)
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := overlay.New(o)
			if err != nil {
				t.Fatalf("New %s: %v", extra, err)
			}
			got[j] = libOpts(fsys)
			fsys.Close()
		}
		if got[1] != got[0] {
			t.Errorf("%s: FS.Options shows %q, /proc/mounts %q", extra, got[1], got[0])
		}
	}
}

// TestNewWithoutProc runs New where /proc is not mounted (a child
// process in a mount namespace of its own): upperdir and workdir on two
// mounts are still refused (the mount ids come from statx), as the
// kernel refuses them; a lower root on another mount of the upper's
// filesystem, whose position cannot be read, is refused (ELOOP) where the
// kernel, which sees that it is not nested, accepts it: the documented
// fail-safe deviation. Nothing is changed by a refused New.
func TestNewWithoutProc(t *testing.T) {
	requireKernel(t)
	if dir := os.Getenv("OVERLAY_TEST_NOPROC_DIR"); dir != "" {
		newWithoutProcChild(t, dir)
		return
	}
	dir := t.TempDir()
	mountLayout(t, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewWithoutProc$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "OVERLAY_TEST_NOPROC_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNewWithoutProc") {
		t.Fatalf("child without /proc: %v\n%s", err, out)
	}
}

func newWithoutProcChild(t *testing.T, dir string) {
	// Go made the namespace's mounts private; /proc goes only here.
	if err := unix.Unmount("/proc", unix.MNT_DETACH); err != nil {
		t.Fatalf("unmount /proc: %v", err)
	}
	if _, err := os.Stat("/proc/self/mountinfo"); err == nil {
		t.Fatal("/proc/self/mountinfo still readable")
	}
	bindMount(t, filepath.Join(dir, "x"), filepath.Join(dir, "bl"))
	bindMount(t, filepath.Join(dir, "w/work"), filepath.Join(dir, "bu"))
	for _, c := range []struct {
		opts         string
		want, kernel error
	}{
		{"lowerdir=l,upperdir=bu,workdir=w", syscall.EINVAL, syscall.EINVAL},
		{"lowerdir=bl,upperdir=u,workdir=w", syscall.ELOOP, nil},
		{"lowerdir=l2,upperdir=u,workdir=w", nil, nil},
	} {
		opts := expand(dir, c.opts)
		before := treeList(t, dir)
		o, err := overlay.ParseOptions(opts)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := overlay.New(o)
		if err == nil {
			fsys.Close()
		}
		if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("without /proc, New(%s): %v, want %v", c.opts, err, c.want)
		}
		if err != nil {
			if after := treeList(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("a refused New changed the layers:\nbefore %q\nafter  %q", before, after)
			}
		}
		kerr := unix.Mount("overlay", filepath.Join(dir, "m"), "overlay", 0, opts)
		if kerr == nil {
			unix.Unmount(filepath.Join(dir, "m"), 0)
		}
		if !errors.Is(kerr, c.kernel) || (kerr == nil) != (c.kernel == nil) {
			t.Errorf("without /proc, kernel mount %s: %v, want %v", c.opts, kerr, c.kernel)
		}
	}
}
