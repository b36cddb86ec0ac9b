package overlay

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// memFixture is a MemFS with a little of everything, built through its
// exported API:
//
//	d/ (0755) d/f "hello" d/sub/ d/sub/g  e/ (empty)  f "data"  ln -> d
//	abs -> /d/sub  loop -> loop  c (char 1:3)  w (char 0:0)
func memFixture(t *testing.T) *MemFS {
	t.Helper()
	m := NewMemFS()
	memMust(t, m.MkdirAll("d/sub", 0o755))
	memMust(t, m.Mkdir("e", 0o700))
	memMust(t, m.WriteFile("d/f", []byte("hello"), 0o644))
	memMust(t, m.WriteFile("d/sub/g", nil, 0o600))
	memMust(t, m.WriteFile("/f", []byte("data"), 0o644))
	memMust(t, m.Symlink("d", "ln"))
	memMust(t, m.Symlink("/d/sub", "abs"))
	memMust(t, m.Symlink("loop", "loop"))
	memMust(t, m.Mknod("c", syscall.S_IFCHR|0o600, 0x103))
	memMust(t, m.Mknod("w", syscall.S_IFCHR, 0))
	return m
}

func memMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMemExportedAPI(t *testing.T) {
	m := memFixture(t)
	// Intermediate symlinks are followed, relative and absolute.
	if b, err := m.ReadFile("ln/f"); err != nil || string(b) != "hello" {
		t.Errorf("ReadFile(ln/f) = %q, %v", b, err)
	}
	memMust(t, m.WriteFile("/abs/new", []byte("n"), 0o644))
	if b, _ := m.ReadFile("d/sub/new"); string(b) != "n" {
		t.Errorf("write through absolute symlink: %q", b)
	}
	memMust(t, m.Symlink("../../..", "d/up"))
	if b, err := m.ReadFile("d/up/f"); err != nil || string(b) != "data" {
		t.Errorf(".. stops at the root: %q, %v", b, err)
	}
	// Final symlinks are not.
	var pe *fs.PathError
	if _, err := m.ReadFile("ln"); !errors.As(err, &pe) || !errors.Is(err, syscall.ELOOP) {
		t.Errorf("ReadFile(ln) = %v", err)
	}
	if _, err := m.Lstat("loop/x"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("symlink loop: %v", err)
	}
	if _, err := m.ReadFile("d"); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("ReadFile(dir) = %v", err)
	}
	fi, err := m.Lstat("ln")
	memMust(t, err)
	if fi.Mode() != fs.ModeSymlink|0o777 || fi.Name() != "ln" || fi.Size() != 1 {
		t.Errorf("Lstat(ln) = %v %s %d", fi.Mode(), fi.Name(), fi.Size())
	}
	if fi, _ := m.Lstat("c"); fi.Mode() != fs.ModeDevice|fs.ModeCharDevice|0o600 {
		t.Errorf("Lstat(c) = %v", fi.Mode())
	}
	// MkdirAll.
	memMust(t, m.MkdirAll("ln/sub/x/y", 0o755))
	memMust(t, m.MkdirAll("ln", 0o755))
	if _, err := m.Lstat("d/sub/x/y"); err != nil {
		t.Error(err)
	}
	if err := m.MkdirAll("f/x", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll under file = %v", err)
	}
	if err := m.MkdirAll("f", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll of file = %v", err)
	}
	// Link and Symlink errors are *os.LinkError.
	var le *os.LinkError
	if err := m.Link("d", "x"); !errors.As(err, &le) || !errors.Is(err, syscall.EPERM) {
		t.Errorf("Link(dir) = %v", err)
	}
	if err := m.Symlink("x", "f"); !errors.As(err, &le) || !errors.Is(err, syscall.EEXIST) {
		t.Errorf("Symlink over file = %v", err)
	}
	// Remove.
	if err := m.Remove("d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("Remove(non-empty) = %v", err)
	}
	memMust(t, m.Remove("e"))
	memMust(t, m.Remove("ln"))
	if err := m.Remove("/"); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("Remove(/) = %v", err)
	}
	if err := m.Chmod("loop", 0o600); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("Chmod(symlink) = %v", err)
	}
	if err := m.Mkdir("", 0o755); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("Mkdir(root) = %v", err)
	}
}

func TestMemLayer(t *testing.T) {
	l := MemLayer(nil)
	if l.format != formatKernel || l.String() != "memory" {
		t.Errorf("MemLayer: %v %v", l.format, l)
	}
	c := l.b.Caps()
	if !c.Xattr || !c.Mknod || !c.Hardlink || !c.Symlink || !c.Exchange || !c.WorkArea || c.NameMax != 255 {
		t.Errorf("caps %+v", c)
	}
	memMust(t, l.b.Close())
}

// TestMemErrorShapes: the exported API's errors are the os package's,
// with the operation of the os function each method is like.
func TestMemErrorShapes(t *testing.T) {
	m := memFixture(t)
	for _, c := range []struct {
		err  error
		op   string
		want syscall.Errno
	}{
		{m.Mkdir("d", 0o755), "mkdir", syscall.EEXIST},
		{m.MkdirAll("f/x", 0o755), "mkdir", syscall.ENOTDIR},
		{m.WriteFile("ln", nil, 0o644), "open", syscall.ELOOP},
		{func() error { _, err := m.ReadFile("d"); return err }(), "read", syscall.EISDIR},
		{func() error { _, err := m.ReadFile("nope"); return err }(), "open", syscall.ENOENT},
		{m.Mknod("f", syscall.S_IFIFO, 0), "mknod", syscall.EEXIST},
		{m.Setxattr("nope", "user.a", nil), "setxattr", syscall.ENOENT},
		{func() error { _, err := m.Getxattr("e", "user.none"); return err }(), "getxattr", layer.ErrNoData},
		{m.Remove("nope"), "remove", syscall.ENOENT},
		{m.Chmod("nope", 0), "chmod", syscall.ENOENT},
		{m.Chown("nope", 0, 0), "lchown", syscall.ENOENT},
		{m.Chtimes("nope", time.Time{}, time.Time{}), "chtimes", syscall.ENOENT},
		{func() error { _, err := m.Lstat("nope"); return err }(), "lstat", syscall.ENOENT},
		{func() error { _, err := m.ReadDir("f"); return err }(), "readdir", syscall.ENOTDIR},
		{func() error { _, err := m.Readlink("f"); return err }(), "readlink", syscall.EINVAL},
	} {
		var pe *fs.PathError
		if !errors.As(c.err, &pe) || pe.Op != c.op || !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %#v, want *fs.PathError %q wrapping %v", c.op, c.err, c.op, c.want)
		}
	}
}
