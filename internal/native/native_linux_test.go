//go:build linux

package native

import (
	"errors"
	"io"
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

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/x\134y`: `/x\y`, `/p\0`: `/p\0`, "/plain": "/plain", `/n\012`: "/n\n"} {
		if got := UnescapeMountinfo(in); got != want {
			t.Errorf("UnescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
