//go:build linux

package overlay_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/layertest"
)

// osTarget runs scripts on a kernel overlay mount through the os package.
// Errors name the path relative to the mount point, as the library's name
// the overlay path.
type osTarget struct{ root string }

var _ target = osTarget{}

// p is name under the mount point. A trailing slash is kept: it is part
// of what the kernel checks (filepath.Join would drop it).
func (o osTarget) p(name string) string {
	p := filepath.Join(o.root, filepath.FromSlash(name))
	if strings.HasSuffix(name, "/") && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// rel rewrites the host paths in err to paths relative to the mount.
func (o osTarget) rel(err error) error {
	strip := func(p string) string {
		if p == o.root {
			return "/"
		}
		return strings.TrimPrefix(p, o.root+"/")
	}
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &le):
		return &os.LinkError{Op: le.Op, Old: strip(le.Old), New: strip(le.New), Err: le.Err}
	case errors.As(err, &pe):
		return &fs.PathError{Op: pe.Op, Path: strip(pe.Path), Err: pe.Err}
	}
	return err
}

func (o osTarget) pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (o osTarget) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := os.OpenFile(o.p(name), flag, perm)
	if err != nil {
		return nil, o.rel(err)
	}
	return osFile{f, o}, nil
}

// osFile is an *os.File whose errors name the path relative to the mount.
type osFile struct {
	*os.File
	t osTarget
}

func (f osFile) Name() string { return strings.TrimPrefix(f.File.Name(), f.t.root+"/") }

func (f osFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	return n, f.t.rel(err)
}

func (f osFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	return n, f.t.rel(err)
}

func (f osFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	return n, f.t.rel(err)
}

func (f osFile) WriteAt(b []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(b, off)
	return n, f.t.rel(err)
}

func (f osFile) Seek(off int64, whence int) (int64, error) {
	n, err := f.File.Seek(off, whence)
	return n, f.t.rel(err)
}

func (f osFile) Readdir(n int) ([]os.FileInfo, error) {
	fis, err := f.File.Readdir(n)
	return fis, f.t.rel(err)
}

func (f osFile) Readdirnames(n int) ([]string, error) {
	names, err := f.File.Readdirnames(n)
	return names, f.t.rel(err)
}

func (f osFile) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	return fi, f.t.rel(err)
}

func (f osFile) Truncate(size int64) error { return f.t.rel(f.File.Truncate(size)) }
func (f osFile) Close() error              { return f.t.rel(f.File.Close()) }

func (o osTarget) Mkdir(name string, perm os.FileMode) error {
	return o.rel(os.Mkdir(o.p(name), perm))
}

func (o osTarget) MkdirAll(name string, perm os.FileMode) error {
	return o.rel(os.MkdirAll(o.p(name), perm))
}

func (o osTarget) Remove(name string) error    { return o.rel(os.Remove(o.p(name))) }
func (o osTarget) RemoveAll(name string) error { return o.rel(os.RemoveAll(o.p(name))) }

// Rename is rename(2), as the library's: os.Rename refuses to replace a
// directory (EEXIST) before asking the kernel.
func (o osTarget) Rename(oldname, newname string) error {
	if err := unix.Rename(o.p(oldname), o.p(newname)); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (o osTarget) Symlink(oldname, newname string) error {
	return o.rel(os.Symlink(oldname, o.p(newname)))
}

func (o osTarget) Readlink(name string) (string, error) {
	s, err := os.Readlink(o.p(name))
	return s, o.rel(err)
}

func (o osTarget) Link(oldname, newname string) error {
	return o.rel(os.Link(o.p(oldname), o.p(newname)))
}

func (o osTarget) Truncate(name string, size int64) error {
	return o.rel(os.Truncate(o.p(name), size))
}

func (o osTarget) Chmod(name string, mode os.FileMode) error {
	return o.rel(os.Chmod(o.p(name), mode))
}

func (o osTarget) Chown(name string, uid, gid int) error {
	return o.rel(os.Chown(o.p(name), uid, gid))
}

func (o osTarget) Chtimes(name string, atime, mtime time.Time) error {
	return o.rel(os.Chtimes(o.p(name), atime, mtime))
}

func (o osTarget) Stat(name string) (os.FileInfo, error) {
	fi, err := os.Stat(o.p(name))
	return fi, o.rel(err)
}

func (o osTarget) Lstat(name string) (os.FileInfo, error) {
	fi, err := os.Lstat(o.p(name))
	return fi, o.rel(err)
}

func (o osTarget) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := os.ReadDir(o.p(name))
	return ents, o.rel(err)
}

// The xattr methods follow a final symlink, as getxattr(2) and the
// library's do.

func (o osTarget) Getxattr(name, attr string) ([]byte, error) {
	v, err := layertest.Getxattr(o.p(name), attr)
	return v, o.rel(err)
}

func (o osTarget) Setxattr(name, attr string, data []byte, flags int) error {
	return o.pathErr("setxattr", name, unix.Setxattr(o.p(name), attr, data, flags))
}

func (o osTarget) Listxattr(name string) ([]string, error) {
	v, err := layertest.Listxattr(o.p(name))
	return v, o.rel(err)
}

func (o osTarget) Removexattr(name, attr string) error {
	return o.pathErr("removexattr", name, unix.Removexattr(o.p(name), attr))
}

func (o osTarget) Mknod(name string, mode uint32, dev uint64) error {
	return o.pathErr("mknod", name, unix.Mknod(o.p(name), mode, int(dev)))
}
