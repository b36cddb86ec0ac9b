//go:build linux

package native

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/testerrno"
	"github.com/go-overlay/overlay/internal/testskip"
)

// newNativeTest returns a native layer on a fresh directory.
func newNativeTest(t testing.TB) (*backend, string) {
	t.Helper()
	b, dir, err := openDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

// openDir opens the dir as a native layer, as overlay.DirLayer does: by
// its symlink-free path, returned as dir.
func openDir(path string) (b *backend, dir string, err error) {
	if dir, err = filepath.EvalSymlinks(path); err != nil {
		return nil, "", err
	}
	nb, err := Open(dir)
	if err != nil {
		return nil, "", err
	}
	return nb.(*backend), dir, nil
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testskip.Skip(t, "needs root (trusted.* xattrs, mknod, chown, mount)")
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestNativeFiles(t *testing.T) {
	b, dir := newNativeTest(t)
	must(t, "mkdir", b.Mkdir("d", 0o755))
	f, err := b.Open("d/f", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	must(t, "create", err)
	if n, err := f.WriteAt([]byte("hello world"), 0); n != 11 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	buf := make([]byte, 5)
	if n, err := f.ReadAt(buf, 6); n != 5 || err != nil || string(buf) != "world" {
		t.Errorf("ReadAt = %d %v %q", n, err, buf)
	}
	if n, err := f.ReadAt(buf, 9); n != 2 || err != io.EOF {
		t.Errorf("ReadAt at end = %d %v, want 2 EOF", n, err)
	}
	must(t, "Truncate", f.Truncate(5))
	must(t, "Sync", f.Sync())
	a, err := f.Stat()
	must(t, "Stat", err)
	if !a.IsReg() || a.Size != 5 || a.Perm() != 0o644&^umask() {
		t.Errorf("Stat = %+v", a)
	}
	must(t, "Close", f.Close())
	testerrno.Want(t, "second Close", f.Close(), unix.EBADF)
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("ReadAt after Close: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "d/f")); string(got) != "hello" {
		t.Errorf("content = %q", got)
	}
	_, err = b.Open("d/f", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	testerrno.Want(t, "O_EXCL", err, unix.EEXIST)

	// lstat
	a, err = b.Lstat("d/f")
	must(t, "lstat", err)
	var st unix.Stat_t
	must(t, "stat", unix.Lstat(filepath.Join(dir, "d/f"), &st))
	if a.Ino != st.Ino || a.Dev != uint64(st.Dev) || a.Size != 5 || a.Nlink != 1 || a.Mode != st.Mode ||
		!a.Mtime.Equal(time.Unix(st.Mtim.Unix())) {
		t.Errorf("lstat = %+v, stat = %+v", a, st)
	}
	a, err = b.Lstat("")
	must(t, "lstat root", err)
	if !a.IsDir() {
		t.Errorf("root not a dir: %o", a.Mode)
	}
	_, err = b.Lstat("d/missing")
	testerrno.Want(t, "lstat missing", err, unix.ENOENT)
	_, err = b.Lstat("d/f/x")
	testerrno.Want(t, "lstat under file", err, unix.ENOTDIR)

	// symlinks: never followed, yet lstat-able and readlink-able.
	must(t, "symlink", b.Symlink("f", "d/l"))
	must(t, "symlink dangling", b.Symlink("/nonexistent/x", "d/dl"))
	testerrno.Want(t, "symlink exists", b.Symlink("f", "d/l"), unix.EEXIST)
	a, err = b.Lstat("d/l")
	must(t, "lstat symlink", err)
	if !a.IsLink() || a.Size != 1 {
		t.Errorf("lstat symlink = %+v", a)
	}
	if s, err := b.Readlink("d/dl"); s != "/nonexistent/x" || err != nil {
		t.Errorf("readlink = %q %v", s, err)
	}
	long := strings.Repeat("x/", 1000)
	must(t, "long symlink", b.Symlink(long, "d/long"))
	if s, err := b.Readlink("d/long"); s != long || err != nil {
		t.Errorf("readlink long = %d bytes %v", len(s), err)
	}
	_, err = b.Readlink("d/f")
	testerrno.Want(t, "readlink of file", err, unix.EINVAL)
	_, err = b.Open("d/l", os.O_RDONLY, 0)
	testerrno.Want(t, "open symlink", err, unix.ELOOP)
	_, err = b.Open("d/dl", os.O_RDWR|os.O_CREATE, 0o644)
	testerrno.Want(t, "create through dangling symlink", err, unix.ELOOP)
	must(t, "symlink dir", b.Symlink("d", "ld"))
	_, err = b.Lstat("ld/f")
	testerrno.Want(t, "symlink in a component", err, unix.ELOOP)
	_, err = b.ReadDir("ld")
	if err == nil {
		t.Errorf("readDir of a symlink to a dir succeeded")
	}

	// link, mknod
	must(t, "link", b.Link("d/f", "d/h"))
	a, _ = b.Lstat("d/f")
	if a.Nlink != 2 {
		t.Errorf("nlink after link = %d", a.Nlink)
	}
	must(t, "link symlink", b.Link("d/dl", "d/dl2"))
	if a, _ := b.Lstat("d/dl2"); !a.IsLink() {
		t.Errorf("link of a symlink followed it: %o", a.Mode)
	}
	testerrno.Want(t, "link root", b.Link("", "d/r"), unix.EPERM)
	testerrno.Want(t, "link onto root", b.Link("d/f", ""), unix.EEXIST)
	if os.Geteuid() == 0 {
		must(t, "mknod whiteout", b.Mknod("d/wh", unix.S_IFCHR, 0))
		if a, _ := b.Lstat("d/wh"); !a.IsChr00() || a.Perm() != 0 {
			t.Errorf("whiteout = %+v", a)
		}
		must(t, "mknod chr", b.Mknod("d/null", unix.S_IFCHR|0o600, unix.Mkdev(1, 3)))
		if a, _ := b.Lstat("d/null"); a.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("rdev = %x", a.Rdev)
		}
	}
	must(t, "mknod fifo", b.Mknod("d/fifo", unix.S_IFIFO|0o644, 0))
	// FIFOs and devices are never opened (nodev): no blocking, no drivers.
	for _, p := range []string{"d/fifo", "d/null"} {
		if _, err := b.Open(p, os.O_RDONLY, 0); !errors.Is(err, unix.EACCES) && !(p == "d/null" && os.Geteuid() != 0) {
			t.Errorf("open(%q) = %v, want EACCES", p, err)
		}
	}
	_, err = b.Open("d/fifo", os.O_WRONLY|os.O_CREATE, 0o644)
	testerrno.Want(t, "create over a fifo", err, unix.EACCES)
	if d, err := b.Open("d", os.O_RDONLY, 0); err != nil {
		t.Errorf("open dir: %v", err)
	} else {
		d.Close()
	}

	// chmod, lchown, lutimes, truncate
	must(t, "chmod", b.Chmod("d/f", 0o4710))
	if a, _ := b.Lstat("d/f"); a.Perm() != 0o4710 {
		t.Errorf("perm after chmod = %o", a.Perm())
	}
	must(t, "chmod root", b.Chmod("", 0o711))
	testerrno.Want(t, "chmod symlink", b.Chmod("d/l", 0o600), unix.EOPNOTSUPP)
	if a, _ := b.Lstat("d/f"); a.Perm() != 0o4710 {
		t.Errorf("chmod of the symlink reached its target: %o", a.Perm())
	}
	if os.Geteuid() == 0 {
		must(t, "lchown", b.Lchown("d/l", 123, 456))
		la, _ := b.Lstat("d/l")
		fa, _ := b.Lstat("d/f")
		if la.Uid != 123 || la.Gid != 456 || fa.Uid == 123 {
			t.Errorf("lchown: link %d:%d, target %d:%d", la.Uid, la.Gid, fa.Uid, fa.Gid)
		}
	}
	at, mt := time.Unix(1000, 5), time.Unix(2000, 7)
	must(t, "lutimes", b.Lutimes("d/l", at, mt))
	la, _ := b.Lstat("d/l")
	fa, _ := b.Lstat("d/f")
	if !la.Atime.Equal(at) || !la.Mtime.Equal(mt) || fa.Mtime.Equal(mt) {
		t.Errorf("lutimes: link %v %v, target mtime %v", la.Atime, la.Mtime, fa.Mtime)
	}
	must(t, "lutimes omit", b.Lutimes("d/l", time.Time{}, time.Unix(3000, 0)))
	if la, _ := b.Lstat("d/l"); !la.Atime.Equal(at) || la.Mtime.Unix() != 3000 {
		t.Errorf("lutimes with zero atime: %v %v", la.Atime, la.Mtime)
	}
	must(t, "truncate", b.Truncate("d/f", 100))
	if a, _ := b.Lstat("d/f"); a.Size != 100 {
		t.Errorf("size after truncate = %d", a.Size)
	}
	testerrno.Want(t, "truncate symlink", b.Truncate("d/l", 0), unix.ELOOP)
	testerrno.Want(t, "truncate dir", b.Truncate("d", 0), unix.EISDIR)
	testerrno.Want(t, "truncate fifo", b.Truncate("d/fifo", 0), unix.EINVAL)

	// rename, exchange, unlink, rmdir
	must(t, "mkdir e", b.Mkdir("e", 0o700))
	must(t, "rename", b.Rename("d/h", "e/h"))
	must(t, "exchange", b.Exchange("d", "e"))
	if a, _ := b.Lstat("d/h"); !a.IsReg() {
		t.Errorf("after exchange d/h = %+v", a)
	}
	if a, _ := b.Lstat("e/f"); !a.IsReg() {
		t.Errorf("after exchange e/f = %+v", a)
	}
	testerrno.Want(t, "exchange missing", b.Exchange("d", "nope"), unix.ENOENT)
	testerrno.Want(t, "rename root", b.Rename("", "x"), unix.EBUSY)
	testerrno.Want(t, "rmdir non-empty", b.Rmdir("e"), unix.ENOTEMPTY)
	testerrno.Want(t, "unlink dir", b.Unlink("e"), unix.EISDIR)
	testerrno.Want(t, "rmdir file", b.Rmdir("d/h"), unix.ENOTDIR)
	must(t, "unlink", b.Unlink("d/h"))
	must(t, "unlink symlink", b.Unlink("e/l"))
	if _, err := os.Stat(filepath.Join(dir, "e/f")); err != nil {
		t.Errorf("unlink of a symlink removed its target: %v", err)
	}
	must(t, "rmdir", b.Rmdir("d"))
	testerrno.Want(t, "rmdir root", b.Rmdir(""), unix.EBUSY)
	testerrno.Want(t, "mkdir root", b.Mkdir("", 0o755), unix.EEXIST)
	testerrno.Want(t, "unlink root", b.Unlink(""), unix.EISDIR)

	// invalid paths, and no work area
	for _, p := range []string{"..", "a/..", "../x", "e/../e", ".", "./e", "e/", "e//f", "e\x00f", "/x", "/"} {
		if _, err := b.Lstat(p); !errors.Is(err, unix.EINVAL) {
			t.Errorf("lstat(%q) = %v, want EINVAL", p, err)
		}
		if err := b.Mkdir(p, 0o755); !errors.Is(err, unix.EINVAL) && p != "/" {
			t.Errorf("mkdir(%q) = %v, want EINVAL", p, err)
		}
	}
	_, err = b.Lstat(strings.Repeat("n", 256))
	testerrno.Want(t, "long name", err, unix.ENAMETOOLONG)

	// close
	must(t, "close", b.Close())
	must(t, "close twice", b.Close())
	_, err = b.Lstat("e")
	testerrno.Want(t, "lstat after close", err, unix.EBADF)
}

func umask() uint32 {
	m := unix.Umask(0)
	unix.Umask(m)
	return uint32(m)
}

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

func TestNativeReadDirOrder(t *testing.T) {
	b, dir := newNativeTest(t)
	must(t, "mkdir", b.Mkdir("d", 0o755))
	for i := range 300 {
		name := "d/" + strings.Repeat(string(rune('a'+i%26)), 1+i/26)
		if i%3 == 0 {
			must(t, "mkdir", b.Mkdir(name, 0o755))
		} else {
			must(t, "symlink", b.Symlink("t", name))
		}
	}
	f, err := b.Open("d/reg", os.O_CREATE|os.O_WRONLY, 0o644)
	must(t, "create", err)
	f.Close()
	ents, err := b.ReadDir("d")
	must(t, "readDir", err)

	out, err := exec.Command("ls", "-f", filepath.Join(dir, "d")).Output()
	if err != nil {
		testskip.Skip(t, "ls -f: %v", err)
	}
	var want []string
	for _, s := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if s != "." && s != ".." {
			want = append(want, s)
		}
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name)
		a, err := b.Lstat("d/" + e.Name)
		must(t, "lstat", err)
		if e.Ino != a.Ino || (e.Type != 0 && e.Type != a.Type()) {
			t.Errorf("%s: entry %+v, lstat mode %o ino %d", e.Name, e, a.Mode, a.Ino)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readDir order differs from ls -f:\n got %q\nwant %q", got, want)
	}
	if slices.IsSorted(got) {
		t.Logf("note: this filesystem lists in sorted order, the order check is weak")
	}
	_, err = b.ReadDir("d/reg")
	testerrno.Want(t, "readDir of a file", err, unix.ENOTDIR)
	root, err := b.ReadDir("")
	must(t, "readDir root", err)
	if len(root) != 1 || root[0].Name != "d" || root[0].Type != unix.S_IFDIR {
		t.Errorf("root = %+v", root)
	}
}

func TestNativeParseDirents(t *testing.T) {
	rec := func(ino uint64, typ byte, name string) []byte {
		n := (19 + len(name) + 1 + 7) &^ 7
		r := make([]byte, n)
		*(*uint64)(unsafe.Pointer(&r[0])) = ino
		*(*uint16)(unsafe.Pointer(&r[16])) = uint16(n)
		r[18] = typ
		copy(r[19:], name)
		return r
	}
	var buf []byte
	buf = append(buf, rec(1, unix.DT_DIR, ".")...)
	buf = append(buf, rec(2, unix.DT_DIR, "..")...)
	buf = append(buf, rec(7, unix.DT_UNKNOWN, "u")...)
	buf = append(buf, rec(8, unix.DT_WHT, "w")...)
	buf = append(buf, rec(9, unix.DT_CHR, "a-longer-name")...)
	buf = append(buf, 1, 2, 3) // truncated garbage is ignored
	got, _ := parseDirents(buf, nil)
	want := []layer.DirEnt{{Name: "u", Ino: 7}, {Name: "w", Ino: 8}, {Name: "a-longer-name", Type: unix.S_IFCHR, Ino: 9}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDirents = %+v", got)
	}
}

func TestNativeWorkArea(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"upper", "work"} {
		must(t, "mkdir", os.Mkdir(filepath.Join(base, d), 0o755))
	}
	u, _, err := openDir(filepath.Join(base, "upper"))
	must(t, "upper", err)
	wl, _, err := openDir(filepath.Join(base, "work"))
	must(t, "work", err)
	defer u.Close()

	testerrno.Want(t, "work path before attach", u.Mkdir("/work", 0), unix.EINVAL)
	testerrno.Want(t, "attach non-native", u.AttachWork(nil), unix.EXDEV)
	must(t, "attachWork", u.AttachWork(wl))
	// The upper holds its own descriptor of the work root.
	must(t, "close work layer", wl.Close())
	if !u.Caps().WorkArea {
		t.Errorf("caps().workArea false after attachWork")
	}
	// Mode 0 as the kernel makes it, which only root can enter (New
	// makes it 0700 for others).
	workMode := uint32(0)
	if os.Geteuid() != 0 {
		workMode = 0o700
	}
	must(t, "mkdir /work", u.Mkdir("/work", workMode))
	if a, err := u.Lstat("/work"); err != nil || !a.IsDir() || a.Perm() != workMode&^umask() {
		t.Errorf("lstat /work = %+v %v", a, err)
	}
	if a, err := u.Lstat("/"); err != nil || !a.IsDir() {
		t.Errorf("lstat / = %+v %v", a, err)
	}
	f, err := u.Open("/work/#1", os.O_CREATE|os.O_RDWR, 0o600)
	must(t, "create /work/#1", err)
	f.WriteAt([]byte("data"), 0)
	f.Close()
	must(t, "mkdir a", u.Mkdir("a", 0o755))
	must(t, "rename work to upper", u.Rename("/work/#1", "a/b"))
	if got, _ := os.ReadFile(filepath.Join(base, "upper/a/b")); string(got) != "data" {
		t.Errorf("a/b = %q", got)
	}
	must(t, "rename upper to work", u.Rename("a/b", "/work/#2"))
	if _, err := os.Lstat(filepath.Join(base, "work/work/#2")); err != nil {
		t.Errorf("work/#2: %v", err)
	}
	must(t, "mkdir /work/#3", u.Mkdir("/work/#3", 0o755))
	must(t, "exchange", u.Exchange("/work/#3", "a"))
	if a, _ := u.Lstat("a"); a.Perm() != 0o755 || a.Nlink != 2 {
		t.Errorf("a after exchange = %+v", a)
	}
	ents, err := u.ReadDir("/work")
	must(t, "readDir /work", err)
	if len(ents) != 2 {
		t.Errorf("readDir /work = %+v", ents)
	}
	for _, p := range []string{"/..", "/work/../x", "//x", "/work/"} {
		if _, err := u.Lstat(p); !errors.Is(err, unix.EINVAL) {
			t.Errorf("lstat(%q) = %v, want EINVAL", p, err)
		}
	}
	testerrno.Want(t, "rmdir work root", u.Rmdir("/"), unix.EBUSY)
}

func TestNativeAttachWorkEXDEV(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	mnt := filepath.Join(base, "mnt")
	must(t, "mkdir", os.Mkdir(mnt, 0o755))
	testskip.Tmpfs(t, mnt, "size=1m")
	must(t, "mkdir upper", os.Mkdir(filepath.Join(base, "upper"), 0o755))
	ul, _, err := openDir(filepath.Join(base, "upper"))
	must(t, "upper", err)
	defer ul.Close()
	wl, _, err := openDir(mnt)
	must(t, "work", err)
	defer wl.Close()
	testerrno.Want(t, "attachWork across filesystems", ul.AttachWork(wl), unix.EXDEV)
	if ul.Caps().WorkArea {
		t.Errorf("workArea after a failed attach")
	}
}

// TestNativeMountPoint: a mount beneath the root shows the dir it covers,
// as a layer of the kernel's overlay does.
func TestNativeMountPoint(t *testing.T) {
	needRoot(t)
	b, dir := newNativeTest(t)
	mnt := filepath.Join(dir, "m")
	must(t, "mkdir", os.Mkdir(mnt, 0o755))
	testskip.Tmpfs(t, mnt, "size=1m,mode=0755")
	must(t, "write", os.WriteFile(filepath.Join(mnt, "x"), []byte("x"), 0o644))
	// The layer sees the dir the mount covers, as the kernel's overlay
	// does: empty, and changes go to it, not to the mount.
	_, err := b.Lstat("m/x")
	testerrno.Want(t, "lstat in mount", err, unix.ENOENT)
	ents, err := b.ReadDir("m")
	if err != nil || len(ents) != 0 {
		t.Errorf("readDir of the covered dir: %v, %v", ents, err)
	}
	must(t, "chmod of the covered dir", b.Chmod("m", 0o700))
	must(t, "setxattr on the covered dir", b.Setxattr("m", "trusted.x", nil))
	var st unix.Stat_t
	must(t, "stat", unix.Stat(mnt, &st))
	if st.Mode&0o777 != 0o755 {
		t.Errorf("mount root mode changed: %o", st.Mode)
	}
}

func TestNativeConcurrent(t *testing.T) {
	b, _ := newNativeTest(t)
	must(t, "mkdir", b.Mkdir("d", 0o755))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			name := "d/" + string(rune('a'+g))
			for i := range 50 {
				f, err := b.Open(name, os.O_CREATE|os.O_RDWR, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				f.WriteAt([]byte{byte(i)}, int64(i))
				f.Close()
				b.Lstat(name)
				b.ReadDir("d")
				b.Rename(name, name+"2")
				b.Rename(name+"2", name)
			}
		})
	}
	wg.Wait()
	// close racing with lookups fails cleanly (EBADF), never on a reused fd.
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if _, err := b.Lstat("d"); err != nil && !errors.Is(err, unix.EBADF) {
					t.Error(err)
				}
			}
		})
	}
	b.Close()
	wg.Wait()
}

// containment is a layer root and a work dir next to a sentinel directory
// "outside" that no backend call may read or change.
type containment struct {
	base, root, outside string
	b                   *backend
	before              map[string]string // snapshot of everything outside
	outIno              map[[2]uint64]bool
	ifd                 int
	watch               map[int32]string // inotify wd -> dir
}

const (
	secretData  = "SECRET-CONTENT"
	secretXattr = "SECRET-XATTR"
	probeName   = "ovl-containment-probe"
)

func newContainment(t testing.TB) *containment {
	t.Helper()
	base := t.TempDir()
	c := &containment{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	w := func(name, data string) {
		must(t, "write", os.WriteFile(name, []byte(data), 0o644))
	}
	for _, d := range []string{"root", "root/d", "work", "outside", "outside/sub"} {
		must(t, "mkdir", os.Mkdir(filepath.Join(base, d), 0o755))
	}
	w(filepath.Join(c.outside, "secret.txt"), secretData)
	w(filepath.Join(c.outside, "sub/secret2"), secretData)
	for _, p := range []string{"outside", "outside/secret.txt", "outside/sub"} {
		unix.Lsetxattr(filepath.Join(base, p), "user.secret", []byte(secretXattr), 0)
	}
	w(filepath.Join(c.root, "f"), "inside")
	w(filepath.Join(c.root, "d/f"), "inside")
	for name, target := range map[string]string{
		"etc": "/etc", "up": "../../", "abs": c.outside, "rel": "../outside",
		"dirlink": "../outside", "l": "f", "d/up": "../../outside",
		"pself": "/proc/self/root", "proot": "/proc/self/cwd/..",
	} {
		must(t, "symlink", os.Symlink(target, filepath.Join(c.root, name)))
	}
	up, _, err := openDir(c.root)
	must(t, "open", err)
	wl, _, err := openDir(filepath.Join(base, "work"))
	must(t, "open work", err)
	c.b = up
	must(t, "attachWork", c.b.AttachWork(wl))
	wl.Close()
	t.Cleanup(func() { c.b.Close() })

	c.before = c.snapshot(t)
	c.ifd, err = unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	must(t, "inotify", err)
	t.Cleanup(func() { unix.Close(c.ifd) })
	c.watch = map[int32]string{}
	for _, d := range []string{base, c.outside, filepath.Join(c.outside, "sub")} {
		wd, err := unix.InotifyAddWatch(c.ifd, d, unix.IN_ALL_EVENTS)
		must(t, "inotify watch", err)
		c.watch[int32(wd)] = d
	}
	return c
}

// snapshot records everything about the base directory except root/ and
// work/, and about the outside tree, that a stray call could change.
func (c *containment) snapshot(t testing.TB) map[string]string {
	t.Helper()
	snap := map[string]string{}
	ents, err := os.ReadDir(c.base)
	must(t, "readdir base", err)
	for _, e := range ents {
		snap["base entry "+e.Name()] = ""
	}
	c.outIno = map[[2]uint64]bool{}
	err = filepath.WalkDir(c.outside, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		c.outIno[[2]uint64{uint64(st.Dev), st.Ino}] = true
		s := fmt.Sprint(st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Ino, st.Mtim.Nano(), st.Ctim.Nano())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += " data=" + string(data)
		}
		buf := make([]byte, 4096)
		n, _ := unix.Llistxattr(p, buf)
		s += " xattrs=" + string(buf[:max(n, 0)])
		n, _ = unix.Lgetxattr(p, "user.secret", buf)
		s += " secret=" + string(buf[:max(n, 0)])
		snap[p] = s
		return nil
	})
	must(t, "walk outside", err)
	var st unix.Stat_t
	if unix.Lstat("/etc/"+probeName, &st) == nil {
		snap["/etc/"+probeName] = "exists"
	}
	return snap
}

// check fails the test if anything outside was opened, read, changed or
// created, as seen by inotify and by a new snapshot.
func (c *containment) check(t testing.TB, what string) {
	t.Helper()
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(c.ifd, buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			break
		}
		must(t, "inotify read", err)
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			dir := c.watch[ev.Wd]
			if dir == c.base && (name == "root" || name == "work") {
				continue // the layer's own root and work dir
			}
			t.Errorf("%s: inotify event %#x on %s/%s outside the layer", what, ev.Mask, dir, name)
		}
	}
	after := c.snapshot(t)
	if !reflect.DeepEqual(c.before, after) {
		for k, v := range after {
			if c.before[k] != v {
				t.Errorf("%s: outside changed: %s\n was %q\n now %q", what, k, c.before[k], v)
			}
		}
		for k := range c.before {
			if _, ok := after[k]; !ok {
				t.Errorf("%s: outside removed: %s", what, k)
			}
		}
	}
}

// probe runs every backend method on p, checking that no result carries
// data from outside the layer.
func (c *containment) probe(t testing.TB, p string) {
	t.Helper()
	b := c.b
	leak := func(op string, bad bool) {
		if bad {
			t.Errorf("%s(%q) returned data from outside the layer", op, p)
		}
	}
	if a, err := b.Lstat(p); err == nil {
		leak("lstat", c.outIno[[2]uint64{a.Dev, a.Ino}])
	}
	if ents, err := b.ReadDir(p); err == nil {
		for _, e := range ents {
			leak("readDir", e.Name == "secret.txt" || e.Name == "secret2" || e.Name == "passwd")
		}
	}
	b.Readlink(p)
	if f, err := b.Open(p, os.O_RDONLY, 0); err == nil {
		buf := make([]byte, 256)
		n, _ := f.ReadAt(buf, 0)
		leak("read", bytes.Contains(buf[:n], []byte("SECRET")) || bytes.Contains(buf[:n], []byte("root:")))
		if a, err := f.Stat(); err == nil {
			leak("Stat", c.outIno[[2]uint64{a.Dev, a.Ino}])
		}
		f.Close()
	}
	if v, err := b.Getxattr(p, "user.secret"); err == nil {
		leak("getxattr", string(v) == secretXattr)
	}
	if names, err := b.Listxattr(p); err == nil {
		leak("listxattr", slices.Contains(names, "user.secret"))
	}
	b.Setxattr(p, "user.probe", []byte("PWNED"))
	b.Removexattr(p, "user.secret")
	b.Chmod(p, 0o777)
	b.Lchown(p, 4242, 4242)
	b.Lutimes(p, time.Unix(1, 0), time.Unix(1, 0))
	b.Truncate(p, 0)
	if f, err := b.Open(p, os.O_RDWR|os.O_CREATE, 0o666); err == nil {
		f.WriteAt([]byte("PWNED"), 0)
		f.Truncate(1)
		f.Close()
	}
	b.Mkdir(p, 0o777)
	b.Mkdir(p+"/"+probeName, 0o777)
	b.Symlink("PWNED", p+"/"+probeName+"2")
	b.Mknod(p+"/"+probeName+"3", unix.S_IFIFO|0o644, 0)
	b.Link("f", p+"/"+probeName+"4")
	b.Link(p, "d/"+probeName+"5")
	b.Rename(p, "d/"+probeName+"6")
	b.Rename("d/f", p)
	b.Exchange(p, "d")
	b.Exchange("/", p)
	b.Rename(p, "/"+probeName)
	b.Unlink(p)
	b.Rmdir(p)
}

var containmentPaths = []string{
	"etc", "etc/passwd", "etc/" + probeName, "up", "up/outside", "up/outside/secret.txt",
	"abs", "abs/secret.txt", "abs/sub", "abs/sub/secret2", "rel", "rel/secret.txt",
	"dirlink/secret.txt", "dirlink/sub", "dirlink/" + probeName, "d/up", "d/up/secret.txt",
	"pself/etc/passwd", "proot/outside/secret.txt",
	"..", "../outside", "../outside/secret.txt", "a/../../x", "d/../../outside/secret.txt",
	"d/./../../outside", "/../outside/secret.txt", "/..", "/../root", "//", "/etc/passwd",
	"outside/../../outside", "d/f/../../../outside",
}

func TestNativeContainment(t *testing.T) {
	for _, p := range containmentPaths {
		c := newContainment(t)
		c.probe(t, p)
		c.check(t, p)
	}
	// The errors say why.
	c := newContainment(t)
	for p, want := range map[string]unix.Errno{
		"rel/secret.txt": unix.ELOOP, "etc/passwd": unix.ELOOP, "d/up/secret.txt": unix.ELOOP,
		"pself/etc/passwd": unix.ELOOP, "a/../../x": unix.EINVAL, "../outside": unix.EINVAL,
		"/../outside": unix.EINVAL,
	} {
		_, err := c.b.Lstat(p)
		testerrno.Want(t, "lstat "+p, err, want)
	}
	c.check(t, "errno checks")
}

func FuzzNativeContainment(f *testing.F) {
	for _, p := range containmentPaths {
		f.Add(p)
	}
	f.Add("")
	f.Add("a\x00b")
	f.Add("x/\x00/../..")
	f.Add(strings.Repeat("n", 300))
	f.Add(strings.Repeat("a/", 2100))
	f.Add("secret.txt")
	f.Fuzz(func(t *testing.T, name string) {
		c := newContainment(t)
		for _, p := range []string{name, "d/" + name, "rel/" + name, name + "/secret.txt", "/" + name, "/work/" + name} {
			c.probe(t, p)
		}
		c.check(t, name)
	})
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/x\134y`: `/x\y`, `/p\0`: `/p\0`, "/plain": "/plain", `/n\012`: "/n\n"} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
