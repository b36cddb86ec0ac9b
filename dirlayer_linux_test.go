package overlay

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/native"
)

func TestDirLayer(t *testing.T) {
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	dir := t.TempDir()
	must("write", os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
	must("symlink", os.Symlink(".", filepath.Join(dir, "self")))

	_, err := DirLayer(filepath.Join(dir, "missing"))
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing dir: %v, want *fs.PathError ENOENT", err)
	}
	_, err = DirLayer(filepath.Join(dir, "file"))
	if !errors.As(err, &pe) || !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("file: %v, want *fs.PathError ENOTDIR", err)
	}

	l, err := DirLayer(filepath.Join(dir, "self") + "/")
	must("DirLayer via symlink", err)
	defer l.b.Close()
	real, _ := filepath.EvalSymlinks(dir)
	if l.String() != "dir "+real || l.format != formatKernel {
		t.Errorf("layer = %q format %v", l.String(), l.format)
	}
	var st unix.Stat_t
	must("stat", unix.Stat(dir, &st))
	path, dev, ino := l.b.(layer.Rooted).RootInfo()
	if path != real || dev != uint64(st.Dev) || ino != st.Ino {
		t.Errorf("rootInfo = %q %d %d, want %q %d %d", path, dev, ino, real, st.Dev, st.Ino)
	}
	c := l.b.Caps()
	if !c.Xattr || !c.Mknod || !c.Hardlink || !c.Symlink || !c.Exchange || c.WorkArea || c.NameMax != 255 {
		t.Errorf("caps = %+v", c)
	}
}

// TestDirLayerNoXattrAccess: without /proc and the *xattrat calls,
// DirLayer, and so New of options naming dirs, fails at once with an error
// that says what is missing.
func TestDirLayerNoXattrAccess(t *testing.T) {
	dir := t.TempDir()
	defer native.ForceXattrAccess(filepath.Join(dir, "proc")+"/", true)()
	l, err := DirLayer(dir)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != dir || !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "/proc must be mounted") {
		t.Errorf("DirLayer without /proc and xattrat: %v, want a *PathError saying that /proc is needed", err)
	}
	if l != nil {
		l.Close()
	}
	_, err = ParseOptions("lowerdir=" + dir)
	if !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "/proc must be mounted") {
		t.Errorf("ParseOptions without /proc and xattrat: %v, want an error saying that /proc is needed", err)
	}
}
