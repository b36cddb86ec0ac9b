package layertest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
)

// DirOptions tunes WriteDirs.
type DirOptions struct {
	// Userxattr writes the private xattrs as user.overlay.* (the kernel's
	// userxattr mount option) instead of trusted.overlay.*.
	Userxattr bool
	// UpperRoot, when set, is where the upper and work dirs go (for
	// instance another filesystem than the lowers'), instead of root.
	UpperRoot string
}

// Prefix is the private xattr prefix the layers are written with.
func (o DirOptions) Prefix() string {
	if o.Userxattr {
		return "user.overlay."
	}
	return "trusted.overlay."
}

// Dirs are the host directories of a stack written by WriteDirs.
type Dirs struct {
	Lowers []string // top-most first
	Upper  string   // "" for a read-only stack
	Work   string   // "" for a read-only stack
}

// WriteDirs writes s under root in the kernel's on-disk format: root/lower1,
// root/lower2, ..., root/upper and an empty root/work.
func WriteDirs(s Stack, root string, o DirOptions) (Dirs, error) {
	var d Dirs
	write := func(l Layer, name string) (string, error) {
		dir := filepath.Join(root, name)
		if o.UpperRoot != "" && (name == "upper" || name == "work") {
			dir = filepath.Join(o.UpperRoot, name)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", err
		}
		// Mkdir is subject to the umask; the layer roots are 0755 exactly.
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", err
		}
		return dir, build(l, &dirWriter{root: dir, prefix: o.Prefix()})
	}
	for i, l := range s.Lowers {
		dir, err := write(l, "lower"+strconv.Itoa(i+1))
		if err != nil {
			return d, err
		}
		d.Lowers = append(d.Lowers, dir)
	}
	if s.Upper != nil {
		var err error
		if d.Upper, err = write(*s.Upper, "upper"); err != nil {
			return d, err
		}
		if d.Work, err = write(Layer{Name: "work"}, "work"); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Options opens the directories as native layers.
func (d Dirs) Options() (overlay.Options, error) {
	var o overlay.Options
	for _, dir := range d.Lowers {
		l, err := overlay.DirLayer(dir)
		if err != nil {
			return o, err
		}
		o.Lower = append(o.Lower, l)
	}
	if d.Upper != "" {
		var err error
		if o.Upper, err = overlay.DirLayer(d.Upper); err != nil {
			return o, err
		}
		if o.Work, err = overlay.DirLayer(d.Work); err != nil {
			return o, err
		}
	}
	return o, nil
}

// MountOptions renders d as a kernel mount option string (without a
// leading or trailing comma).
func (d Dirs) MountOptions() string {
	s := "lowerdir="
	for i, l := range d.Lowers {
		if i > 0 {
			s += ":"
		}
		s += l
	}
	if d.Upper != "" {
		s += ",upperdir=" + d.Upper + ",workdir=" + d.Work
	}
	return s
}

// dirWriter writes the kernel format into a host directory.
type dirWriter struct {
	root   string
	prefix string
}

func (w *dirWriter) p(rel string) string { return filepath.Join(w.root, filepath.FromSlash(rel)) }

func (w *dirWriter) exists(p string) bool {
	_, err := os.Lstat(w.p(p))
	return err == nil
}

func (w *dirWriter) mkdir(p string, perm fs.FileMode) error {
	if err := os.Mkdir(w.p(p), 0o700); err != nil {
		return err
	}
	return os.Chmod(w.p(p), perm)
}

func (w *dirWriter) writeFile(p, data string, perm fs.FileMode) error {
	if err := os.WriteFile(w.p(p), []byte(data), 0o600); err != nil {
		return err
	}
	return os.Chmod(w.p(p), perm)
}

func (w *dirWriter) symlink(target, p string) error { return os.Symlink(target, w.p(p)) }

func (w *dirWriter) link(oldp, newp string) error { return os.Link(w.p(oldp), w.p(newp)) }

func (w *dirWriter) whiteout(p string) error {
	return unix.Mknod(w.p(p), unix.S_IFCHR, 0)
}

func (w *dirWriter) opaque(dir string) error {
	return unix.Lsetxattr(w.p(dir), w.prefix+"opaque", []byte("y"), 0)
}

func (w *dirWriter) xwhiteout(p string) error {
	if err := os.WriteFile(w.p(p), nil, 0o644); err != nil {
		return err
	}
	if err := unix.Lsetxattr(w.p(p), w.prefix+"whiteout", []byte("y"), 0); err != nil {
		return err
	}
	parent := w.p(filepath.Dir(p))
	if n, _ := unix.Lgetxattr(parent, w.prefix+"opaque", nil); n > 0 {
		return nil // already marked (opaque "y" stays "y")
	}
	return unix.Lsetxattr(parent, w.prefix+"opaque", []byte("x"), 0)
}

func (w *dirWriter) setxattr(p, name, value string) error {
	return unix.Lsetxattr(w.p(p), name, []byte(value), 0)
}

func (w *dirWriter) chown(p string, uid, gid int) error { return os.Lchown(w.p(p), uid, gid) }

// CheckDir verifies that dir's filesystem can hold a kernel-format layer:
// trusted.* xattrs and 0/0 character devices (both need root).
func CheckDir(dir string) error {
	probe, err := os.MkdirTemp(dir, "probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(probe)
	if err := unix.Lsetxattr(probe, "trusted.overlay.probe", []byte("y"), 0); err != nil {
		return fmt.Errorf("%s does not take trusted xattrs: %w", dir, err)
	}
	if err := unix.Mknod(filepath.Join(probe, "wh"), unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("%s does not take device nodes: %w", dir, err)
	}
	return nil
}
