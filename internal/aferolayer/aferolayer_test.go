package aferolayer

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/testerrno"
	"github.com/go-overlay/overlay/internal/testskip"
)

// aferoFixtures are the afero filesystems every afero test runs on.
func aferoFixtures(t *testing.T) map[string]afero.Fs {
	return map[string]afero.Fs{
		"mem": afero.NewMemMapFs(),
		"os":  afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()),
	}
}

// aferoPopulate makes: d/ d/f "hello" d/sub/ d/sub/g  e/ (empty)  f "data"
// and, where fsys can, ln -> d.
func aferoPopulate(t *testing.T, fsys afero.Fs) layer.Backend {
	t.Helper()
	b := New(fsys)
	must(t, b.Mkdir("d", 0o755))
	must(t, b.Mkdir("d/sub", 0o755))
	must(t, b.Mkdir("e", 0o700))
	for p, data := range map[string]string{"d/f": "hello", "d/sub/g": "", "f": "data"} {
		f, err := b.Open(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		must(t, err)
		_, err = f.WriteAt([]byte(data), 0)
		must(t, err)
		must(t, f.Close())
	}
	if b.Caps().Symlink {
		must(t, b.Symlink("d", "ln"))
	}
	return b
}

func TestAferoErrnos(t *testing.T) {
	tests := []struct {
		name    string
		op      func(b layer.Backend) error
		want    syscall.Errno
		symlink bool // needs symlinks
	}{
		{name: "lstat root", op: func(b layer.Backend) error { _, err := b.Lstat(""); return err }},
		{name: "lstat work root", op: func(b layer.Backend) error { _, err := b.Lstat("/"); return err }},
		{name: "lstat missing", op: func(b layer.Backend) error { _, err := b.Lstat("x"); return err }, want: syscall.ENOENT},
		{name: "lstat under file", op: func(b layer.Backend) error { _, err := b.Lstat("f/x"); return err }, want: syscall.ENOTDIR},
		{name: "lstat through symlink", op: func(b layer.Backend) error { _, err := b.Lstat("ln/f"); return err }, want: syscall.ELOOP, symlink: true},
		{name: "lstat long", op: func(b layer.Backend) error { _, err := b.Lstat(strings.Repeat("x", 256)); return err }, want: syscall.ENAMETOOLONG},
		{name: "readDir file", op: func(b layer.Backend) error { _, err := b.ReadDir("f"); return err }, want: syscall.ENOTDIR},
		{name: "readlink file", op: func(b layer.Backend) error { _, err := b.Readlink("f"); return err }, want: syscall.EINVAL},
		{name: "open missing", op: func(b layer.Backend) error { return openClose(b, "x", os.O_RDONLY) }, want: syscall.ENOENT},
		{name: "open create", op: func(b layer.Backend) error { return openClose(b, "x", os.O_RDWR|os.O_CREATE) }},
		{name: "open create no parent", op: func(b layer.Backend) error { return openClose(b, "x/y", os.O_RDWR|os.O_CREATE) }, want: syscall.ENOENT},
		{name: "open excl", op: func(b layer.Backend) error { return openClose(b, "f", os.O_RDWR|os.O_CREATE|os.O_EXCL) }, want: syscall.EEXIST},
		{name: "open symlink", op: func(b layer.Backend) error { return openClose(b, "ln", os.O_RDONLY) }, want: syscall.ELOOP, symlink: true},
		{name: "open dir", op: func(b layer.Backend) error { return openClose(b, "d", os.O_RDONLY) }},
		{name: "open dir write", op: func(b layer.Backend) error { return openClose(b, "d", os.O_RDWR) }, want: syscall.EISDIR},
		{name: "open work", op: func(b layer.Backend) error { return openClose(b, "/x", os.O_RDWR|os.O_CREATE) }},
		{name: "xattr", op: func(b layer.Backend) error { return b.Setxattr("f", "user.x", nil) }, want: syscall.EOPNOTSUPP},
		{name: "mkdir exists", op: func(b layer.Backend) error { return b.Mkdir("f", 0o755) }, want: syscall.EEXIST},
		{name: "mkdir no parent", op: func(b layer.Backend) error { return b.Mkdir("x/y", 0o755) }, want: syscall.ENOENT},
		{name: "mkdir work", op: func(b layer.Backend) error { return b.Mkdir("/work", 0) }},
		{name: "link", op: func(b layer.Backend) error { return b.Link("f", "g") }, want: syscall.EPERM},
		{name: "mknod", op: func(b layer.Backend) error { return b.Mknod("c", syscall.S_IFCHR, 0) }, want: syscall.EPERM},
		{name: "exchange", op: func(b layer.Backend) error { return b.Exchange("f", "e") }, want: syscall.EOPNOTSUPP},
		{name: "rename missing", op: func(b layer.Backend) error { return b.Rename("x", "y") }, want: syscall.ENOENT},
		{name: "rename file over file", op: func(b layer.Backend) error { return b.Rename("f", "d/f") }},
		{name: "rename file over dir", op: func(b layer.Backend) error { return b.Rename("f", "e") }, want: syscall.EISDIR},
		{name: "rename dir over file", op: func(b layer.Backend) error { return b.Rename("e", "f") }, want: syscall.ENOTDIR},
		{name: "rename dir over empty dir", op: func(b layer.Backend) error { return b.Rename("d", "e") }},
		{name: "rename dir over non-empty", op: func(b layer.Backend) error { return b.Rename("e", "d") }, want: syscall.ENOTEMPTY},
		{name: "rename into itself", op: func(b layer.Backend) error { return b.Rename("d", "d/sub/x") }, want: syscall.EINVAL},
		{name: "rename onto ancestor", op: func(b layer.Backend) error { return b.Rename("d/sub", "d") }, want: syscall.ENOTEMPTY},
		{name: "rename same", op: func(b layer.Backend) error { return b.Rename("d", "d") }},
		{name: "rename root", op: func(b layer.Backend) error { return b.Rename("", "x") }, want: syscall.EBUSY},
		{name: "rename to work", op: func(b layer.Backend) error { return b.Rename("d", "/d") }},
		{name: "unlink dir", op: func(b layer.Backend) error { return b.Unlink("e") }, want: syscall.EISDIR},
		{name: "unlink missing", op: func(b layer.Backend) error { return b.Unlink("x") }, want: syscall.ENOENT},
		{name: "unlink file", op: func(b layer.Backend) error { return b.Unlink("f") }},
		{name: "rmdir file", op: func(b layer.Backend) error { return b.Rmdir("f") }, want: syscall.ENOTDIR},
		{name: "rmdir non-empty", op: func(b layer.Backend) error { return b.Rmdir("d") }, want: syscall.ENOTEMPTY},
		{name: "rmdir empty", op: func(b layer.Backend) error { return b.Rmdir("e") }},
		{name: "rmdir root", op: func(b layer.Backend) error { return b.Rmdir("") }, want: syscall.EBUSY},
		{name: "chmod", op: func(b layer.Backend) error { return b.Chmod("f", 0o600) }},
		{name: "chmod symlink", op: func(b layer.Backend) error { return b.Chmod("ln", 0o600) }, want: syscall.EOPNOTSUPP, symlink: true},
		{name: "chmod missing", op: func(b layer.Backend) error { return b.Chmod("x", 0o600) }, want: syscall.ENOENT},
		{name: "truncate dir", op: func(b layer.Backend) error { return b.Truncate("d", 0) }, want: syscall.EISDIR},
		{name: "truncate", op: func(b layer.Backend) error { return b.Truncate("f", 2) }},
	}
	for fsName := range aferoFixtures(t) {
		for _, tt := range tests {
			t.Run(fsName+"/"+tt.name, func(t *testing.T) {
				b := aferoPopulate(t, aferoFixtures(t)[fsName])
				if tt.symlink && !b.Caps().Symlink {
					testskip.Skip(t, "no symlinks")
				}
				testerrno.Want(t, tt.name, tt.op(b), tt.want)
			})
		}
	}
}

func openClose(b layer.Backend, p string, flag int) error {
	f, err := b.Open(p, flag, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func aferoRead(t *testing.T, b layer.Backend, p string) string {
	t.Helper()
	f, err := b.Open(p, os.O_RDONLY, 0)
	must(t, err)
	defer f.Close()
	buf := make([]byte, 100)
	n, err := f.ReadAt(buf, 0)
	if err != io.EOF {
		t.Errorf("ReadAt at end: %v, want io.EOF", err)
	}
	return string(buf[:n])
}

func TestAferoBehaviour(t *testing.T) {
	for fsName, fsys := range aferoFixtures(t) {
		t.Run(fsName, func(t *testing.T) {
			b := aferoPopulate(t, fsys)
			// Attributes.
			a, err := b.Lstat("d/f")
			must(t, err)
			if a.Mode != syscall.S_IFREG|0o644 || a.Size != 5 || a.Ino == 0 || a.Nlink != 1 {
				t.Errorf("lstat d/f = %+v", a)
			}
			d, _ := b.Lstat("d")
			if !d.IsDir() || d.Nlink < 2 || d.Dev != a.Dev {
				t.Errorf("lstat d = %+v", d)
			}
			if d.Ino == a.Ino {
				t.Errorf("same inode number for d and d/f")
			}
			// Exact modes, whatever the umask.
			must(t, b.Mkdir("m", 0o777|syscall.S_ISVTX))
			if m, _ := b.Lstat("m"); m.Mode != syscall.S_IFDIR|syscall.S_ISVTX|0o777 {
				t.Errorf("mkdir mode %o", m.Mode)
			}
			must(t, b.Chmod("f", syscall.S_ISUID|0o750))
			if f, _ := b.Lstat("f"); f.Mode != syscall.S_IFREG|syscall.S_ISUID|0o750 {
				t.Errorf("chmod mode %o", f.Mode)
			}
			// Times; a zero time is left alone.
			mt := time.Unix(1e9, 0)
			must(t, b.Lutimes("f", mt, mt))
			must(t, b.Lutimes("f", time.Unix(2e9, 0), time.Time{}))
			if f, _ := b.Lstat("f"); !f.Mtime.Equal(mt) {
				t.Errorf("mtime %v, want %v", f.Mtime, mt)
			}
			// Listing, without the work area.
			// Mode 0 as the kernel makes it, which only root can enter.
			workMode := uint32(0)
			if os.Geteuid() != 0 {
				workMode = 0o700
			}
			must(t, b.Mkdir("/work", workMode))
			ents, err := b.ReadDir("")
			must(t, err)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name)
				if e.Name == "d" && e.Type != syscall.S_IFDIR {
					t.Errorf("dirEnt d: %+v", e)
				}
			}
			if strings.Contains(strings.Join(names, " "), workDir) {
				t.Errorf("root listing shows the work area: %v", names)
			}
			// Work area rename both ways.
			f, err := b.Open("/work/#1", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
			must(t, err)
			_, err = f.WriteAt([]byte("xy"), 3)
			must(t, err)
			must(t, f.Close())
			must(t, b.Rename("/work/#1", "d/f"))
			if got := aferoRead(t, b, "d/f"); got != "\x00\x00\x00xy" {
				t.Errorf("d/f = %q", got)
			}
			must(t, b.Rename("d", "/work/d"))
			if got := aferoRead(t, b, "/work/d/sub/g"); got != "" {
				t.Errorf("/work/d/sub/g = %q", got)
			}
			// Open files: access modes, append, truncate, close.
			w, err := b.Open("/work/d/f", os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = w.WriteAt([]byte("!"), 0)
			must(t, err)
			_, err = w.ReadAt(make([]byte, 1), 0)
			testerrno.Want(t, "ReadAt O_WRONLY", err, syscall.EBADF)
			must(t, w.Truncate(6))
			must(t, w.Sync())
			st, err := w.Stat()
			must(t, err)
			if st.Size != 6 {
				t.Errorf("size %d", st.Size)
			}
			must(t, w.Close())
			testerrno.Want(t, "Close twice", w.Close(), syscall.EBADF)
			_, err = w.WriteAt([]byte("x"), 0)
			testerrno.Want(t, "WriteAt after Close", err, syscall.EBADF)
			if got := aferoRead(t, b, "/work/d/f"); got != "\x00\x00\x00xy!" {
				t.Errorf("after append: %q", got)
			}
			r, err := b.Open("/work/d/f", os.O_RDONLY, 0)
			must(t, err)
			_, err = r.WriteAt([]byte("x"), 0)
			testerrno.Want(t, "WriteAt O_RDONLY", err, syscall.EBADF)
			must(t, r.Close())

			c := b.Caps()
			if c.Xattr || c.Mknod || c.Hardlink || c.Exchange || !c.WorkArea || c.NameMax != 255 {
				t.Errorf("caps %+v", c)
			}
		})
	}
}

func TestAferoSymlinks(t *testing.T) {
	fsys := afero.NewBasePathFs(afero.NewOsFs(), t.TempDir())
	b := aferoPopulate(t, fsys)
	if !b.Caps().Symlink {
		t.Fatal("OsFs under BasePathFs cannot symlink")
	}
	must(t, b.Mkdir("/w", 0o700))
	for _, target := range []string{"d", "../x", "/abs/path"} {
		must(t, b.Symlink(target, "/w/l"))
		must(t, b.Rename("/w/l", "d/l"))
		got, err := b.Readlink("d/l")
		if err != nil || got != target {
			t.Errorf("readlink = %q, %v; want %q", got, err, target)
		}
		a, _ := b.Lstat("d/l")
		if !a.IsLink() || a.Size != int64(len(target)) {
			t.Errorf("lstat symlink = %+v", a)
		}
		must(t, b.Unlink("d/l"))
	}
	testerrno.Want(t, "symlink exists", b.Symlink("x", "f"), syscall.EEXIST)
	testerrno.Want(t, "symlink empty", b.Symlink("", "y"), syscall.ENOENT)

	mb := New(afero.NewMemMapFs())
	testerrno.Want(t, "MemMapFs symlink", mb.Symlink("x", "y"), syscall.EPERM)
	if mb.Caps().Symlink {
		t.Errorf("MemMapFs claims symlinks")
	}
}

func TestAferoReadOnly(t *testing.T) {
	base := afero.NewMemMapFs()
	aferoPopulate(t, base)
	b := New(afero.NewReadOnlyFs(base))
	if got := aferoRead(t, b, "d/f"); got != "hello" {
		t.Errorf("d/f = %q", got)
	}
	for name, err := range map[string]error{
		"open write": openClose(b, "f", os.O_RDWR),
		"create":     openClose(b, "x", os.O_RDWR|os.O_CREATE),
		"mkdir":      b.Mkdir("x", 0o755),
		"unlink":     b.Unlink("f"),
		"rmdir":      b.Rmdir("e"),
		"rename":     b.Rename("f", "g"),
		"chmod":      b.Chmod("f", 0),
		"lchown":     b.Lchown("f", 1, 1),
		"truncate":   b.Truncate("f", 0),
		"symlink":    b.Symlink("f", "g"),
	} {
		testerrno.Want(t, name, err, syscall.EROFS)
	}
	if _, err := b.Lstat("/"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("read-only work area: %v", err)
	}
}

func TestAferoErrno(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want syscall.Errno
	}{
		{os.ErrNotExist, syscall.ENOENT},
		{&os.PathError{Op: "x", Path: "y", Err: os.ErrExist}, syscall.EEXIST},
		{afero.ErrFileClosed, syscall.EBADF},
		{os.ErrClosed, syscall.EBADF},
		{&os.PathError{Op: "x", Path: "y", Err: syscall.ENOTEMPTY}, syscall.ENOTEMPTY},
		{errors.New("strange"), syscall.EIO},
	} {
		if got := aferoErrno(tt.err); got != tt.want {
			t.Errorf("aferoErrno(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if aferoErrno(nil) != nil {
		t.Error("aferoErrno(nil) != nil")
	}
}

func TestAferoOwners(t *testing.T) {
	b := aferoPopulate(t, afero.NewMemMapFs())
	must(t, b.Lchown("d", 1000, 100))
	must(t, b.Lchown("d/sub/g", 1001, -1))
	owner := func(p string) [2]uint32 {
		a, err := b.Lstat(p)
		must(t, err)
		return [2]uint32{a.Uid, a.Gid}
	}
	if got := owner("d"); got != [2]uint32{1000, 100} {
		t.Errorf("owner of d = %v", got)
	}
	must(t, b.Rename("d", "/d"))
	if got := owner("/d/sub/g"); got != [2]uint32{1001, uint32(os.Getegid())} {
		t.Errorf("owner of /d/sub/g after rename = %v", got)
	}
	must(t, b.Unlink("/d/sub/g"))
	f, err := b.Open("/d/sub/g", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	must(t, f.Close())
	if got := owner("/d/sub/g"); got != [2]uint32{uint32(os.Geteuid()), uint32(os.Getegid())} {
		t.Errorf("owner of a new /d/sub/g = %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
