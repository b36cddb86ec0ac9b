//go:build linux

package native

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/testerrno"
)

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
