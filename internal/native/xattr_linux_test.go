//go:build linux

package native

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/testerrno"
	"github.com/go-overlay/overlay/internal/testskip"
)

// TestNativeXattr runs the xattr calls through both ways of reaching an
// object (the *xattrat calls on the parent and /proc/self/fd/N): as root
// with trusted.* names, else with user.* names (which symlinks refuse).
func TestNativeXattr(t *testing.T) {
	for _, xa := range []xattrAccess{xattrAt, xattrProc} {
		for _, clone := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/clone=%v", xa, clone), func(t *testing.T) {
				noCloneRoots = !clone
				defer func() { noCloneRoots = false }()
				b, dir := newNativeTest(t)
				b.xattr = xa
				testNativeXattr(t, b, dir)
			})
		}
	}
}

func (xa xattrAccess) String() string {
	return [...]string{"none", "xattrat", "proc"}[xa]
}

func testNativeXattr(t *testing.T, b *backend, dir string) {
	ns := "trusted."
	paths := []string{"", "d", "d/f", "d/l", "d/0"}
	if os.Geteuid() != 0 {
		// user.* xattrs: only on files and dirs, and not through a mode-0 dir.
		ns, paths = "user.", []string{"", "d", "d/f"}
	}
	must(t, "mkdir", b.Mkdir("d", 0o755))
	f, err := b.Open("d/f", os.O_WRONLY|os.O_CREATE, 0o644)
	must(t, "create", err)
	f.Close()
	must(t, "symlink", b.Symlink("f", "d/l"))
	must(t, "mkdir", b.Mkdir("d/0", 0))
	must(t, "chmod", b.Chmod("d/0", 0)) // reached without search permission on it
	big := bytes.Repeat([]byte("v"), 3000)
	for _, p := range paths {
		_, err := b.Getxattr(p, ns+"overlay.opaque")
		testerrno.Want(t, "getxattr absent "+p, err, unix.ENODATA)
		must(t, "setxattr "+p, b.Setxattr(p, ns+"overlay.opaque", []byte("y")))
		must(t, "setxattr big "+p, b.Setxattr(p, ns+"big", big))
		must(t, "setxattr empty "+p, b.Setxattr(p, ns+"overlay.origin", nil))
		if v, err := b.Getxattr(p, ns+"overlay.opaque"); string(v) != "y" || err != nil {
			t.Errorf("getxattr %q = %q %v", p, v, err)
		}
		if v, err := b.Getxattr(p, ns+"big"); !bytes.Equal(v, big) || err != nil {
			t.Errorf("getxattr big %q = %d bytes %v", p, len(v), err)
		}
		if v, err := b.Getxattr(p, ns+"overlay.origin"); len(v) != 0 || err != nil {
			t.Errorf("getxattr empty %q = %q %v", p, v, err)
		}
		names, err := b.Listxattr(p)
		must(t, "listxattr", err)
		names = slices.DeleteFunc(names, func(s string) bool { return !strings.HasPrefix(s, ns) })
		slices.Sort(names)
		want := []string{ns + "big", ns + "overlay.opaque", ns + "overlay.origin"}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("listxattr %q = %q", p, names)
		}
		must(t, "removexattr", b.Removexattr(p, ns+"big"))
		testerrno.Want(t, "removexattr twice", b.Removexattr(p, ns+"big"), unix.ENODATA)
		// On the host, the xattrs are the object's own.
		buf := make([]byte, 10)
		n, err := unix.Lgetxattr(filepath.Join(dir, p), ns+"overlay.opaque", buf)
		if err != nil || string(buf[:n]) != "y" {
			t.Errorf("%q: xattr not on the object: %q %v", p, buf[:max(n, 0)], err)
		}
	}
	if ns == "trusted." {
		// The symlink's xattrs are its own, not its target's.
		must(t, "remove from file", b.Removexattr("d/f", "trusted.overlay.opaque"))
		if _, err := b.Getxattr("d/l", "trusted.overlay.opaque"); err != nil {
			t.Errorf("removing the target's xattr changed the link's: %v", err)
		}
	}
	// user.* xattrs are not allowed on symlinks: the error comes through.
	testerrno.Want(t, "user xattr on symlink", b.Setxattr("d/l", "user.x", nil), unix.EPERM)
	_, err = b.Getxattr("d/missing", ns+"x")
	testerrno.Want(t, "getxattr missing file", err, unix.ENOENT)
	_, err = b.Listxattr("d/missing/x")
	testerrno.Want(t, "listxattr below a missing dir", err, unix.ENOENT)
	testerrno.Want(t, "setxattr below a file", b.Setxattr("d/f/x", ns+"x", nil), unix.ENOTDIR)
	_, err = b.Getxattr("d/l/x", ns+"x")
	testerrno.Want(t, "getxattr below a symlink", err, unix.ELOOP)
	testerrno.Want(t, "removexattr bad path", b.Removexattr("d/../f", ns+"x"), unix.EINVAL)

	if os.Geteuid() == 0 && !b.cloned {
		// A mount point is not crossed, as for every other call (a
		// cloned root sees the dir it covers: TestNativeMountPoint).
		mnt := filepath.Join(dir, "d/m")
		must(t, "mkdir", os.Mkdir(mnt, 0o755))
		if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatalf("mount tmpfs: %v", err)
		}
		defer unix.Unmount(mnt, unix.MNT_DETACH)
		_, err = b.Getxattr("d/m", "trusted.x")
		testerrno.Want(t, "getxattr of a mount point", err, unix.EXDEV)
		testerrno.Want(t, "setxattr on a mount point", b.Setxattr("d/m", "trusted.x", nil), unix.EXDEV)
		_, err = b.Getxattr("d/m/x", "trusted.x")
		testerrno.Want(t, "getxattr beneath a mount point", err, unix.EXDEV)
	}

	// The work tree is reached too.
	w, _ := newNativeTest(t)
	w.xattr = b.xattr
	must(t, "attachWork", w.AttachWork(b))
	must(t, "mkdir in work", w.Mkdir("/x", 0o755))
	must(t, "setxattr in work", w.Setxattr("/x", ns+"w", []byte("1")))
	if v, err := b.Getxattr("x", ns+"w"); string(v) != "1" || err != nil {
		t.Errorf("xattr set through the work tree: %q %v", v, err)
	}
	must(t, "setxattr on work root", w.Setxattr("/", ns+"w", []byte("2")))
	if v, err := b.Getxattr("", ns+"w"); string(v) != "2" || err != nil {
		t.Errorf("xattr set on the work root: %q %v", v, err)
	}
}

// TestNativeXattrAccess checks how Open chooses the way to xattrs:
// the *xattrat calls where the kernel has them, else /proc/self/fd, and
// with neither an error that says what is missing (rather than xattrs
// that read as absent).
func TestNativeXattrAccess(t *testing.T) {
	b, dir := newNativeTest(t)
	if b.xattr != xattrAt {
		// This machine's kernel is expected to have getxattrat(2) (6.13).
		var u unix.Utsname
		unix.Uname(&u)
		testskip.Skip(t, "no *xattrat system calls on %s: %v", unix.ByteSliceToString(u.Release[:]), probeXattrAt(b.rootfd))
	}
	noProc := filepath.Join(dir, "proc") + "/"
	b.mu.RLock()
	defer b.mu.RUnlock()
	xa, proc, err := chooseXattrAccess(b.rootfd, procSelfFD, false)
	if xa != xattrAt || !proc || err != nil {
		t.Errorf("with both: %v %v %v, want xattrat, /proc usable", xa, proc, err)
	}
	xa, proc, err = chooseXattrAccess(b.rootfd, noProc, false)
	if xa != xattrAt || proc || err != nil {
		t.Errorf("without /proc: %v %v %v, want xattrat, /proc unusable", xa, proc, err)
	}
	xa, proc, err = chooseXattrAccess(b.rootfd, procSelfFD, true)
	if xa != xattrProc || !proc || err != nil {
		t.Errorf("without xattrat: %v %v %v, want proc", xa, proc, err)
	}
	// A directory that is not a procfs, and one with the wrong objects.
	for _, p := range []string{dir + "/", "/proc/1/fd/"} {
		if _, _, err := chooseXattrAccess(b.rootfd, p, true); err == nil {
			t.Errorf("with %s as /proc/self/fd: no error", p)
		}
	}
	_, _, err = chooseXattrAccess(b.rootfd, noProc, true)
	if !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "/proc must be mounted") ||
		!strings.Contains(err.Error(), "getxattrat") || !strings.Contains(err.Error(), noProc) {
		t.Errorf("with neither: %v, want EOPNOTSUPP saying that /proc is needed", err)
	}

	// Open fails at once without either.
	defer func(p string, noAt bool) { xattrProbe.procDir, xattrProbe.noAt = p, noAt }(xattrProbe.procDir, xattrProbe.noAt)
	xattrProbe.procDir, xattrProbe.noAt = noProc, true
	if nb, err := Open(dir); !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "/proc must be mounted") {
		t.Errorf("Open without /proc and xattrat: %v, want EOPNOTSUPP saying that /proc is needed", err)
		if nb != nil {
			nb.Close()
		}
	}
	xattrProbe.procDir, xattrProbe.noAt = noProc, false
	nb, err := Open(dir)
	if err != nil {
		t.Fatalf("Open without /proc: %v", err)
	}
	defer nb.Close()
	if nb := nb.(*backend); nb.xattr != xattrAt || nb.proc {
		t.Errorf("Open without /proc: access %v, /proc %v; want xattrat alone", nb.xattr, nb.proc)
	}
}
