package memfs

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/testerrno"
)

// memFixture is a FS with a little of everything:
//
//	d/ (0755) d/f "hello" d/sub/ d/sub/g  e/ (empty)  f "data"  ln -> d
//	abs -> /d/sub  loop -> loop  c (char 1:3)  w (char 0:0)  /work/ (work area)
func memFixture(t *testing.T) backend {
	t.Helper()
	m := backend{New()}
	memMust(t, m.fs.MkdirAll("d/sub", 0o755))
	memMust(t, m.fs.Mkdir("e", 0o700))
	memMust(t, m.fs.WriteFile("d/f", []byte("hello"), 0o644))
	memMust(t, m.fs.WriteFile("d/sub/g", nil, 0o600))
	memMust(t, m.fs.WriteFile("/f", []byte("data"), 0o644))
	memMust(t, m.fs.Symlink("d", "ln"))
	memMust(t, m.fs.Symlink("/d/sub", "abs"))
	memMust(t, m.fs.Symlink("loop", "loop"))
	memMust(t, m.fs.Mknod("c", syscall.S_IFCHR|0o600, 0x103))
	memMust(t, m.fs.Mknod("w", syscall.S_IFCHR, 0))
	memMust(t, m.Mkdir("/work", 0))
	return m
}

func memMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMemBackendErrnos(t *testing.T) {
	tests := []struct {
		name string
		op   func(m backend) error
		want syscall.Errno
	}{
		{"lstat root", func(m backend) error { _, err := m.Lstat(""); return err }, 0},
		{"lstat work root", func(m backend) error { _, err := m.Lstat("/"); return err }, 0},
		{"lstat missing", func(m backend) error { _, err := m.Lstat("nope"); return err }, syscall.ENOENT},
		{"lstat under file", func(m backend) error { _, err := m.Lstat("f/x"); return err }, syscall.ENOTDIR},
		{"lstat through symlink", func(m backend) error { _, err := m.Lstat("ln/f"); return err }, syscall.ELOOP},
		{"lstat symlink", func(m backend) error { _, err := m.Lstat("ln"); return err }, 0},
		{"lstat long name", func(m backend) error { _, err := m.Lstat(strings.Repeat("x", 256)); return err }, syscall.ENAMETOOLONG},
		{"lstat dotdot", func(m backend) error { _, err := m.Lstat("d/../f"); return err }, syscall.EINVAL},
		{"readDir file", func(m backend) error { _, err := m.ReadDir("f"); return err }, syscall.ENOTDIR},
		{"readDir missing", func(m backend) error { _, err := m.ReadDir("x"); return err }, syscall.ENOENT},
		{"readlink file", func(m backend) error { _, err := m.Readlink("f"); return err }, syscall.EINVAL},
		{"open missing", func(m backend) error { return memOpenClose(m, "x", os.O_RDONLY) }, syscall.ENOENT},
		{"open create", func(m backend) error { return memOpenClose(m, "x", os.O_RDWR|os.O_CREATE) }, 0},
		{"open excl existing", func(m backend) error { return memOpenClose(m, "f", os.O_RDWR|os.O_CREATE|os.O_EXCL) }, syscall.EEXIST},
		{"open excl symlink", func(m backend) error { return memOpenClose(m, "loop", os.O_RDWR|os.O_CREATE|os.O_EXCL) }, syscall.EEXIST},
		{"open symlink", func(m backend) error { return memOpenClose(m, "ln", os.O_RDONLY) }, syscall.ELOOP},
		{"open create symlink", func(m backend) error { return memOpenClose(m, "ln", os.O_RDWR|os.O_CREATE) }, syscall.ELOOP},
		{"open dir", func(m backend) error { return memOpenClose(m, "d", os.O_RDONLY) }, 0},
		{"open dir write", func(m backend) error { return memOpenClose(m, "d", os.O_WRONLY) }, syscall.EISDIR},
		{"open dir creat", func(m backend) error { return memOpenClose(m, "d", os.O_RDONLY|os.O_CREATE) }, syscall.EISDIR},
		{"open dir trunc", func(m backend) error { return memOpenClose(m, "d", os.O_RDONLY|os.O_TRUNC) }, syscall.EISDIR},
		{"open under file", func(m backend) error { return memOpenClose(m, "f/x", os.O_RDWR|os.O_CREATE) }, syscall.ENOTDIR},
		{"open device", func(m backend) error { return memOpenClose(m, "c", os.O_RDONLY) }, syscall.ENXIO},
		{"open work", func(m backend) error { return memOpenClose(m, "/work/x", os.O_RDWR|os.O_CREATE) }, 0},
		{"getxattr missing", func(m backend) error { _, err := m.Getxattr("f", "user.x"); return err }, layer.ErrNoData},
		{"getxattr empty name", func(m backend) error { _, err := m.Getxattr("f", ""); return err }, syscall.ERANGE},
		{"setxattr user on symlink", func(m backend) error { return m.Setxattr("ln", "user.x", nil) }, syscall.EPERM},
		{"setxattr trusted on symlink", func(m backend) error { return m.Setxattr("ln", "trusted.x", nil) }, 0},
		{"setxattr too big", func(m backend) error { return m.Setxattr("f", "user.x", make([]byte, 65537)) }, syscall.E2BIG},
		{"removexattr missing", func(m backend) error { return m.Removexattr("f", "user.x") }, layer.ErrNoData},
		{"mkdir exists", func(m backend) error { return m.Mkdir("f", 0o755) }, syscall.EEXIST},
		{"mkdir over symlink", func(m backend) error { return m.Mkdir("loop", 0o755) }, syscall.EEXIST},
		{"mkdir root", func(m backend) error { return m.Mkdir("", 0o755) }, syscall.EEXIST},
		{"mkdir missing parent", func(m backend) error { return m.Mkdir("x/y", 0o755) }, syscall.ENOENT},
		{"mkdir long", func(m backend) error { return m.Mkdir(strings.Repeat("x", 256), 0o755) }, syscall.ENAMETOOLONG},
		{"mkdir 255", func(m backend) error { return m.Mkdir(strings.Repeat("x", 255), 0o755) }, 0},
		{"symlink exists", func(m backend) error { return m.Symlink("x", "f") }, syscall.EEXIST},
		{"symlink empty", func(m backend) error { return m.Symlink("", "x") }, syscall.ENOENT},
		{"link dir", func(m backend) error { return m.Link("d", "x") }, syscall.EPERM},
		{"link exists", func(m backend) error { return m.Link("d", "f") }, syscall.EEXIST},
		{"link missing", func(m backend) error { return m.Link("x", "y") }, syscall.ENOENT},
		{"link symlink", func(m backend) error { return m.Link("ln", "ln2") }, 0},
		{"link to work", func(m backend) error { return m.Link("f", "/work/f") }, 0},
		{"mknod dir", func(m backend) error { return m.Mknod("x", syscall.S_IFDIR, 0) }, syscall.EPERM},
		{"mknod symlink type", func(m backend) error { return m.Mknod("x", syscall.S_IFLNK, 0) }, syscall.EINVAL},
		{"mknod fifo", func(m backend) error { return m.Mknod("x", syscall.S_IFIFO|0o644, 0) }, 0},
		{"mknod sock", func(m backend) error { return m.Mknod("x", syscall.S_IFSOCK|0o644, 0) }, 0},
		{"mknod blk", func(m backend) error { return m.Mknod("x", syscall.S_IFBLK|0o644, 0x801) }, 0},
		{"mknod exists", func(m backend) error { return m.Mknod("f", syscall.S_IFIFO, 0) }, syscall.EEXIST},
		{"rename missing", func(m backend) error { return m.Rename("x", "y") }, syscall.ENOENT},
		{"rename file", func(m backend) error { return m.Rename("f", "d/f2") }, 0},
		{"rename file over file", func(m backend) error { return m.Rename("f", "d/f") }, 0},
		{"rename file over dir", func(m backend) error { return m.Rename("f", "e") }, syscall.EISDIR},
		{"rename dir over file", func(m backend) error { return m.Rename("e", "f") }, syscall.ENOTDIR},
		{"rename dir over empty dir", func(m backend) error { return m.Rename("d", "e") }, 0},
		{"rename dir over non-empty dir", func(m backend) error { return m.Rename("e", "d") }, syscall.ENOTEMPTY},
		{"rename dir into itself", func(m backend) error { return m.Rename("d", "d/sub/x") }, syscall.EINVAL},
		{"rename dir onto itself", func(m backend) error { return m.Rename("d", "d") }, 0},
		{"rename onto ancestor", func(m backend) error { return m.Rename("d/sub", "d") }, syscall.ENOTEMPTY},
		{"rename hard links", func(m backend) error { memMust(t, m.Link("f", "f2")); return m.Rename("f", "f2") }, 0},
		{"rename root", func(m backend) error { return m.Rename("", "x") }, syscall.EBUSY},
		{"rename to work", func(m backend) error { return m.Rename("d", "/work/d") }, 0},
		{"rename from work", func(m backend) error { return m.Rename("/work", "e") }, 0},
		{"rename symlink over dir", func(m backend) error { return m.Rename("ln", "e") }, syscall.EISDIR},
		{"exchange", func(m backend) error { return m.Exchange("f", "d") }, 0},
		{"exchange missing", func(m backend) error { return m.Exchange("f", "x") }, syscall.ENOENT},
		{"exchange into subtree", func(m backend) error { return m.Exchange("d", "d/sub/g") }, syscall.EINVAL},
		{"exchange with ancestor", func(m backend) error { return m.Exchange("d/sub/g", "d") }, syscall.EINVAL},
		{"unlink dir", func(m backend) error { return m.Unlink("e") }, syscall.EISDIR},
		{"unlink root", func(m backend) error { return m.Unlink("") }, syscall.EISDIR},
		{"unlink missing", func(m backend) error { return m.Unlink("x") }, syscall.ENOENT},
		{"unlink symlink", func(m backend) error { return m.Unlink("ln") }, 0},
		{"rmdir file", func(m backend) error { return m.Rmdir("f") }, syscall.ENOTDIR},
		{"rmdir non-empty", func(m backend) error { return m.Rmdir("d") }, syscall.ENOTEMPTY},
		{"rmdir empty", func(m backend) error { return m.Rmdir("e") }, 0},
		{"rmdir root", func(m backend) error { return m.Rmdir("") }, syscall.EBUSY},
		{"rmdir work root", func(m backend) error { return m.Rmdir("/") }, syscall.EBUSY},
		{"chmod symlink", func(m backend) error { return m.Chmod("ln", 0o600) }, syscall.EOPNOTSUPP},
		{"chmod missing", func(m backend) error { return m.Chmod("x", 0o600) }, syscall.ENOENT},
		{"lchown symlink", func(m backend) error { return m.Lchown("ln", 1, 2) }, 0},
		{"lutimes symlink", func(m backend) error { return m.Lutimes("ln", time.Unix(1, 0), time.Unix(2, 0)) }, 0},
		{"truncate dir", func(m backend) error { return m.Truncate("d", 0) }, syscall.EISDIR},
		{"truncate symlink", func(m backend) error { return m.Truncate("ln", 0) }, syscall.EINVAL},
		{"truncate negative", func(m backend) error { return m.Truncate("f", -1) }, syscall.EINVAL},
		{"truncate", func(m backend) error { return m.Truncate("f", 100) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memFixture(t)
			testerrno.Want(t, tt.name, tt.op(m), tt.want)
			memCheckNlinks(t, m)
		})
	}
}

func memOpenClose(m backend, p string, flag int) error {
	f, err := m.Open(p, flag, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// checkNlinks verifies every directory's link count is 2 + subdirectories
// and every parent pointer, in both roots.
func memCheckNlinks(t *testing.T, m backend) {
	t.Helper()
	m.fs.mu.RLock()
	defer m.fs.mu.RUnlock()
	var walk func(p string, d *node)
	walk = func(p string, d *node) {
		want := uint64(2)
		for name, k := range d.kids {
			if k.isDir() {
				want++
				if k.parent != d {
					t.Errorf("%s/%s: wrong parent", p, name)
				}
				walk(p+"/"+name, k)
			}
		}
		if d.nlink != want {
			t.Errorf("%s: nlink %d, want %d", p, d.nlink, want)
		}
	}
	walk("", m.fs.root)
	walk("W", m.fs.work)
}

func TestMemRenameEffects(t *testing.T) {
	m := memFixture(t)
	before, _ := m.Lstat("d")
	memMust(t, m.Rename("d", "/work/d"))
	if _, err := m.Lstat("d"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("old name still there: %v", err)
	}
	a, err := m.Lstat("/work/d/sub/g")
	memMust(t, err)
	after, _ := m.Lstat("/work/d")
	if after.Ino != before.Ino {
		t.Errorf("inode changed across rename")
	}
	_ = a
	// Back again, replacing the empty dir e.
	memMust(t, m.Rename("/work/d", "e"))
	if b, err := m.readFileBackend("e/f"); err != nil || string(b) != "hello" {
		t.Errorf("e/f = %q, %v", b, err)
	}
	// Exchange a file and a dir between the roots.
	memMust(t, m.Exchange("f", "/work"))
	x, _ := m.Lstat("f")
	y, _ := m.Lstat("/work")
	if !x.IsDir() || !y.IsReg() {
		t.Errorf("exchange did not swap types: %o %o", x.Mode, y.Mode)
	}
	memCheckNlinks(t, m)
}

func (m backend) readFileBackend(p string) ([]byte, error) {
	f, err := m.Open(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, a.Size)
	_, err = f.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b, err
}

func TestMemOpenFileSurvivesUnlink(t *testing.T) {
	m := memFixture(t)
	f, err := m.Open("d/f", os.O_RDWR, 0)
	memMust(t, err)
	memMust(t, m.Unlink("d/f"))
	if _, err := f.WriteAt([]byte("XY"), 7); err != nil {
		t.Fatal(err)
	}
	a, err := f.Stat()
	memMust(t, err)
	if a.Nlink != 0 || a.Size != 9 {
		t.Errorf("after unlink: nlink %d size %d", a.Nlink, a.Size)
	}
	b := make([]byte, 20)
	n, err := f.ReadAt(b, 0)
	if err != io.EOF || string(b[:n]) != "hello\x00\x00XY" {
		t.Errorf("ReadAt = %q, %v", b[:n], err)
	}
	memMust(t, f.Truncate(2))
	memMust(t, f.Sync())
	memMust(t, f.Close())
	for name, err := range map[string]error{
		"Close":    f.Close(),
		"Sync":     f.Sync(),
		"Truncate": f.Truncate(0),
	} {
		testerrno.Want(t, name+" after Close", err, syscall.EBADF)
	}
	_, err = f.ReadAt(b, 0)
	testerrno.Want(t, "ReadAt after Close", err, syscall.EBADF)
	_, err = f.WriteAt(b, 0)
	testerrno.Want(t, "WriteAt after Close", err, syscall.EBADF)
	_, err = f.Stat()
	testerrno.Want(t, "Stat after Close", err, syscall.EBADF)
}

func TestMemOpenFileFollowsRename(t *testing.T) {
	m := memFixture(t)
	f, err := m.Open("d/f", os.O_WRONLY|os.O_APPEND, 0)
	memMust(t, err)
	defer f.Close()
	memMust(t, m.Rename("d", "/work/d"))
	if _, err := f.WriteAt([]byte("!"), 0); err != nil { // O_APPEND: at the end
		t.Fatal(err)
	}
	if b, _ := m.readFileBackend("/work/d/f"); string(b) != "hello!" {
		t.Errorf("content %q", b)
	}
	_, err = f.ReadAt(make([]byte, 1), 0)
	testerrno.Want(t, "ReadAt on O_WRONLY", err, syscall.EBADF)
	r, err := m.Open("/work/d/f", os.O_RDONLY, 0)
	memMust(t, err)
	_, err = r.WriteAt([]byte("x"), 0)
	testerrno.Want(t, "WriteAt on O_RDONLY", err, syscall.EBADF)
	testerrno.Want(t, "Truncate on O_RDONLY", r.Truncate(0), syscall.EINVAL)
	memMust(t, r.Close())
	memMust(t, m.Truncate("/work/d/f", 0))
	if b, _ := m.readFileBackend("/work/d/f"); len(b) != 0 {
		t.Errorf("O_TRUNC: content %q", b)
	}
}

func TestMemHardLinks(t *testing.T) {
	m := memFixture(t)
	memMust(t, m.Link("d/f", "h1"))
	memMust(t, m.Link("h1", "/work/h2"))
	a, _ := m.Lstat("d/f")
	b, _ := m.Lstat("/work/h2")
	if a.Nlink != 3 || a.Ino != b.Ino {
		t.Errorf("nlink %d, inos %d %d", a.Nlink, a.Ino, b.Ino)
	}
	memMust(t, m.Unlink("d/f"))
	memMust(t, m.Rename("f", "h1")) // replaces one link
	b, _ = m.Lstat("/work/h2")
	if b.Nlink != 1 {
		t.Errorf("nlink after unlink and replace = %d", b.Nlink)
	}
	// Whiteout sharing, as the kernel does it.
	memMust(t, m.Mknod("/work/#1", syscall.S_IFCHR, 0))
	memMust(t, m.Link("/work/#1", "/work/#2"))
	memMust(t, m.Rename("/work/#2", "gone"))
	w, _ := m.Lstat("gone")
	if !w.IsChr00() || w.Nlink != 2 || w.Perm() != 0 {
		t.Errorf("whiteout attr %+v", w)
	}
}

func TestMemXattrs(t *testing.T) {
	m := memFixture(t)
	memMust(t, m.Setxattr("d", "trusted.overlay.opaque", []byte("y")))
	memMust(t, m.Setxattr("d", "user.b", nil))
	memMust(t, m.Setxattr("d", "security.a", []byte("1")))
	memMust(t, m.Setxattr("w", "trusted.overlay.x", []byte("2")))
	names, err := m.Listxattr("d")
	memMust(t, err)
	if strings.Join(names, ",") != "security.a,trusted.overlay.opaque,user.b" {
		t.Errorf("listxattr = %q", names)
	}
	v, err := m.Getxattr("d", "user.b")
	if err != nil || v == nil || len(v) != 0 {
		t.Errorf("empty xattr = %q %v", v, err)
	}
	v, _ = m.Getxattr("d", "trusted.overlay.opaque")
	v[0] = 'n' // must not alias
	if v, _ := m.Getxattr("d", "trusted.overlay.opaque"); string(v) != "y" {
		t.Errorf("xattr aliased: %q", v)
	}
	memMust(t, m.Removexattr("d", "user.b"))
	_, err = m.Getxattr("d", "user.b")
	testerrno.Want(t, "get removed", err, layer.ErrNoData)
	_, err = m.Getxattr("w", "user.x")
	testerrno.Want(t, "user xattr of device", err, layer.ErrNoData)
	// Xattrs move with the inode.
	memMust(t, m.Rename("d", "/work/d"))
	if v, _ := m.Getxattr("/work/d", "security.a"); string(v) != "1" {
		t.Errorf("xattr after rename: %q", v)
	}
	// The exported API.
	memMust(t, m.fs.Setxattr("/e", "user.k", []byte("v")))
	if v, err := m.fs.Getxattr("e", "user.k"); err != nil || string(v) != "v" {
		t.Errorf("Getxattr = %q, %v", v, err)
	}
	if _, err := m.fs.Getxattr("e", "user.none"); !errors.Is(err, layer.ErrNoData) {
		t.Errorf("Getxattr missing = %v", err)
	}
}

func TestMemAttrs(t *testing.T) {
	m := backend{New()}
	root, _ := m.Lstat("")
	work, _ := m.Lstat("/")
	if root.Ino != rootIno || work.Ino != workIno || root.Nlink != 2 || root.Mode != syscall.S_IFDIR|0o755 {
		t.Errorf("root %+v work %+v", root, work)
	}
	if m2 := New(); m2.dev == m.fs.dev {
		t.Errorf("two FS share st_dev %#x", m.fs.dev)
	}
	memMust(t, m.fs.Mkdir("sg", syscall.S_ISUID|syscall.S_ISGID|syscall.S_ISVTX|0o777))
	sg, _ := m.Lstat("sg")
	if sg.Mode != syscall.S_IFDIR|syscall.S_ISVTX|0o777 || sg.Uid != uint32(os.Geteuid()) || sg.Gid != uint32(os.Getegid()) {
		t.Errorf("mkdir mode %o uid %d gid %d", sg.Mode, sg.Uid, sg.Gid)
	}
	memMust(t, m.fs.Chmod("sg", syscall.S_ISGID|0o775))
	memMust(t, m.fs.Chown("sg", -1, 4242))
	memMust(t, m.fs.Mkdir("sg/sub", 0o755))
	memMust(t, m.fs.WriteFile("sg/f", []byte("x"), syscall.S_ISUID|syscall.S_ISGID|0o755))
	sub, _ := m.Lstat("sg/sub")
	f, _ := m.Lstat("sg/f")
	if sub.Mode != syscall.S_IFDIR|syscall.S_ISGID|0o755 || sub.Gid != 4242 || f.Gid != 4242 {
		t.Errorf("setgid inheritance: sub %o/%d f %d", sub.Mode, sub.Gid, f.Gid)
	}
	if f.Mode != syscall.S_IFREG|syscall.S_ISUID|syscall.S_ISGID|0o755 || f.Size != 1 || f.Blocks != 8 {
		t.Errorf("file %+v", f)
	}
	memMust(t, m.fs.Chown("sg/f", -1, -1))
	f, _ = m.Lstat("sg/f")
	if f.Mode != syscall.S_IFREG|0o755 {
		t.Errorf("chown kept setuid/setgid: %o", f.Mode)
	}
	sg, _ = m.Lstat("sg")
	if sg.Nlink != 3 {
		t.Errorf("nlink of dir with one subdir = %d", sg.Nlink)
	}

	// Timestamps.
	old := time.Unix(1000, 0)
	memMust(t, m.fs.Chtimes("sg", old, old))
	sg, _ = m.Lstat("sg")
	if !sg.Atime.Equal(old) || !sg.Mtime.Equal(old) || sg.Ctime.Equal(old) {
		t.Errorf("chtimes: %v %v %v", sg.Atime, sg.Mtime, sg.Ctime)
	}
	memMust(t, m.fs.WriteFile("sg/new", nil, 0o644))
	sg, _ = m.Lstat("sg")
	if sg.Mtime.Equal(old) || !sg.Atime.Equal(old) {
		t.Errorf("creating an entry did not update the parent's mtime")
	}
	memMust(t, m.fs.Chtimes("sg/new", old, old))
	memMust(t, m.fs.Chtimes("sg/new", time.Time{}, time.Time{}))
	n, _ := m.Lstat("sg/new")
	if !n.Mtime.Equal(old) || !n.Atime.Equal(old) {
		t.Errorf("zero times changed times")
	}
	memMust(t, m.Truncate("sg/new", 0)) // same size: no change
	if n, _ := m.Lstat("sg/new"); !n.Mtime.Equal(old) {
		t.Errorf("truncate to same size changed mtime")
	}
	memMust(t, m.Truncate("sg/new", 1))
	if n, _ := m.Lstat("sg/new"); n.Mtime.Equal(old) {
		t.Errorf("truncate did not change mtime")
	}

	memMust(t, m.fs.Mknod("dev", syscall.S_IFBLK|0o640, 0x0801))
	d, _ := m.Lstat("dev")
	if d.Rdev != 0x801 || d.Mode != syscall.S_IFBLK|0o640 {
		t.Errorf("mknod: %+v", d)
	}
	memMust(t, m.fs.Mknod("fifo", syscall.S_IFIFO|0o640, 0x0801))
	if d, _ := m.Lstat("fifo"); d.Rdev != 0 {
		t.Errorf("fifo rdev %#x", d.Rdev)
	}
}

func TestMemReadDir(t *testing.T) {
	m := memFixture(t)
	ents, err := m.ReadDir("")
	memMust(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
		a, _ := m.Lstat(e.Name)
		if a.Ino != e.Ino || a.Type() != e.Type {
			t.Errorf("%s: dirEnt %+v, lstat ino %d mode %o", e.Name, e, a.Ino, a.Mode)
		}
	}
	if got := strings.Join(names, " "); got != "abs c d e f ln loop w" {
		t.Errorf("readDir = %s", got)
	}
	ents, err = m.ReadDir("/")
	memMust(t, err)
	if len(ents) != 1 || ents[0].Name != "work" {
		t.Errorf("work area = %+v", ents)
	}
}

func TestMemConcurrent(t *testing.T) {
	m := memFixture(t)
	f, err := m.Open("f", os.O_RDWR, 0)
	memMust(t, err)
	defer f.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('a' + i))
			for j := range 100 {
				_ = m.fs.WriteFile(name, []byte{byte(j)}, 0o644)
				_ = m.Rename(name, "/"+name)
				_, _ = m.ReadDir("")
				_, _ = m.Lstat("d/f")
				_, _ = f.WriteAt([]byte{byte(j)}, int64(i))
				_, _ = f.ReadAt(make([]byte, 4), 0)
				_ = m.Setxattr("d", "user."+name, nil)
				_, _ = m.Listxattr("d")
				_ = m.Unlink("/" + name)
			}
		}()
	}
	wg.Wait()
	memCheckNlinks(t, m)
}
