package layertest

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
)

// MemFSes writes s into MemFS values in the kernel format (char 0/0
// whiteouts, trusted.overlay.* xattrs). upper is nil for a read-only stack.
func MemFSes(s Stack) (lowers []*overlay.MemFS, upper *overlay.MemFS, err error) {
	for _, l := range s.Lowers {
		m := overlay.NewMemFS()
		if err := build(l, &memWriter{m: m}); err != nil {
			return nil, nil, err
		}
		lowers = append(lowers, m)
	}
	if s.Upper != nil {
		upper = overlay.NewMemFS()
		if err := build(*s.Upper, &memWriter{m: upper}); err != nil {
			return nil, nil, err
		}
	}
	return lowers, upper, nil
}

// MemOptions builds s as in-memory layers ready for overlay.New.
func MemOptions(s Stack) (overlay.Options, error) {
	lowers, upper, err := MemFSes(s)
	if err != nil {
		return overlay.Options{}, err
	}
	var o overlay.Options
	for _, m := range lowers {
		o.Lower = append(o.Lower, overlay.MemLayer(m))
	}
	if upper != nil {
		o.Upper = overlay.MemLayer(upper)
	}
	return o, nil
}

type memWriter struct{ m *overlay.MemFS }

func (w *memWriter) exists(p string) bool {
	_, err := w.m.Lstat(p)
	return err == nil
}

func (w *memWriter) mkdir(p string, perm fs.FileMode) error {
	if err := w.m.Mkdir(p, perm); err != nil {
		return err
	}
	return w.m.Chmod(p, perm)
}

func (w *memWriter) writeFile(p, data string, perm fs.FileMode) error {
	if err := w.m.WriteFile(p, []byte(data), perm); err != nil {
		return err
	}
	return w.m.Chmod(p, perm)
}

func (w *memWriter) symlink(target, p string) error { return w.m.Symlink(target, p) }
func (w *memWriter) link(oldp, newp string) error   { return w.m.Link(oldp, newp) }
func (w *memWriter) whiteout(p string) error        { return w.m.Mknod(p, syscall.S_IFCHR, 0) }

func (w *memWriter) opaque(dir string) error {
	return w.m.Setxattr(dir, "trusted.overlay.opaque", []byte("y"))
}

func (w *memWriter) xwhiteout(p string) error {
	if err := w.m.WriteFile(p, nil, 0o644); err != nil {
		return err
	}
	if err := w.m.Setxattr(p, "trusted.overlay.whiteout", []byte("y")); err != nil {
		return err
	}
	parent := path.Dir(p)
	if parent == "." {
		parent = "/"
	}
	if v, err := w.m.Getxattr(parent, "trusted.overlay.opaque"); err == nil && len(v) > 0 {
		return nil
	}
	return w.m.Setxattr(parent, "trusted.overlay.opaque", []byte("x"))
}

func (w *memWriter) setxattr(p, name, value string) error {
	return w.m.Setxattr(p, name, []byte(value))
}

func (w *memWriter) chown(p string, uid, gid int) error { return w.m.Chown(p, uid, gid) }

// ErrUnsupported is returned by the afero builder for fixtures that the OCI
// encoding on an afero backend cannot hold (symlinks, hard links, xattrs).
var ErrUnsupported = errors.ErrUnsupported

// AferoFSes writes s into afero.MemMapFs values in the OCI in-band format
// (".wh.NAME" whiteouts, ".wh..wh..opq" opaque markers). upper is nil for a
// read-only stack. Fixtures using symlinks, hard links or xattrs fail with
// an error wrapping ErrUnsupported.
func AferoFSes(s Stack) (lowers []afero.Fs, upper afero.Fs, err error) {
	for _, l := range s.Lowers {
		a := afero.NewMemMapFs()
		if err := build(l, &aferoWriter{fs: a}); err != nil {
			return nil, nil, err
		}
		lowers = append(lowers, a)
	}
	if s.Upper != nil {
		upper = afero.NewMemMapFs()
		if err := build(*s.Upper, &aferoWriter{fs: upper}); err != nil {
			return nil, nil, err
		}
	}
	return lowers, upper, nil
}

// AferoOptions builds s as afero layers ready for overlay.New.
func AferoOptions(s Stack) (overlay.Options, error) {
	lowers, upper, err := AferoFSes(s)
	if err != nil {
		return overlay.Options{}, err
	}
	var o overlay.Options
	for _, a := range lowers {
		o.Lower = append(o.Lower, overlay.AferoLayer(a))
	}
	if upper != nil {
		o.Upper = overlay.AferoLayer(upper)
	}
	return o, nil
}

type aferoWriter struct{ fs afero.Fs }

func (w *aferoWriter) exists(p string) bool {
	_, err := w.fs.Stat("/" + p)
	return err == nil
}

func (w *aferoWriter) mkdir(p string, perm fs.FileMode) error {
	if err := w.fs.Mkdir("/"+p, perm); err != nil {
		return err
	}
	return w.fs.Chmod("/"+p, fs.ModeDir|perm)
}

func (w *aferoWriter) writeFile(p, data string, perm fs.FileMode) error {
	if strings.HasPrefix(path.Base(p), ".wh.") {
		return fmt.Errorf("name %q is reserved in the OCI format: %w", p, ErrUnsupported)
	}
	if err := afero.WriteFile(w.fs, "/"+p, []byte(data), perm); err != nil {
		return err
	}
	return w.fs.Chmod("/"+p, perm)
}

func (w *aferoWriter) symlink(target, p string) error {
	return fmt.Errorf("symlink: %w", ErrUnsupported)
}

func (w *aferoWriter) link(oldp, newp string) error {
	return fmt.Errorf("hard link: %w", ErrUnsupported)
}

func (w *aferoWriter) whiteout(p string) error {
	return afero.WriteFile(w.fs, "/"+path.Join(path.Dir(p), ".wh."+path.Base(p)), nil, 0o644)
}

func (w *aferoWriter) opaque(dir string) error {
	return afero.WriteFile(w.fs, "/"+path.Join(dir, ".wh..wh..opq"), nil, 0o644)
}

func (w *aferoWriter) xwhiteout(p string) error { return w.whiteout(p) }

func (w *aferoWriter) setxattr(p, name, value string) error {
	return fmt.Errorf("xattr: %w", ErrUnsupported)
}

func (w *aferoWriter) chown(p string, uid, gid int) error {
	// afero's in-memory files keep a -1 as it is: 0 is what root makes.
	return w.fs.Chown("/"+p, max(uid, 0), max(gid, 0))
}
