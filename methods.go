package overlay

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"

	"github.com/spf13/afero"
)

// The exported methods of FS: each validates nothing more than the os
// package would and calls one unexported function, shaping its error as
// os does.

// Create is like os.Create.
func (fsys *FS) Create(name string) (afero.File, error) {
	return fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open is like os.Open.
func (fsys *FS) Open(name string) (afero.File, error) {
	return fsys.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile is like os.OpenFile. Opening a lower file for writing, or with
// O_TRUNC, copies it up first. The result is a *File.
func (fsys *FS) OpenFile(name string, flag int, perm fs.FileMode) (afero.File, error) {
	f, err := fsys.openFile(name, flag, layer.RawPerm(perm))
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return f, nil
}

// Mkdir is like os.Mkdir. Over a whiteout the new dir is opaque.
func (fsys *FS) Mkdir(name string, perm fs.FileMode) error {
	return pathErr("mkdir", name, fsys.mkdir(name, layer.RawPerm(perm)))
}

// MkdirAll is like os.MkdirAll.
func (fsys *FS) MkdirAll(name string, perm fs.FileMode) error {
	if fi, err := fsys.Stat(name); err == nil {
		if fi.IsDir() {
			return nil
		}
		return pathErr("mkdir", name, syscall.ENOTDIR)
	}
	trimmed := strings.TrimRight(name, "/")
	if parent := path.Dir(trimmed); parent != trimmed && parent != "." && parent != "/" {
		if err := fsys.MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	err := fsys.Mkdir(name, perm)
	if err != nil {
		if fi, serr := fsys.Lstat(name); serr == nil && fi.IsDir() {
			return nil
		}
	}
	return err
}

// Remove is like os.Remove: it unlinks a non-dir and removes an empty dir.
// A name a lower layer has is replaced by a whiteout.
func (fsys *FS) Remove(name string) error {
	e := fsys.unlink(name)
	if e == nil {
		return nil
	}
	e1 := fsys.rmdir(name)
	if e1 == nil {
		return nil
	}
	// Like os.Remove: report the rmdir error unless it only says the
	// name is not a dir.
	if e1 != syscall.ENOTDIR {
		e = e1
	}
	return pathErr("remove", name, e)
}

// Rename has rename(2)'s semantics, as the kernel's overlay does: unlike
// os.Rename on some platforms, a dir may replace an empty dir. Renaming a
// dir that a lower layer has fails with EXDEV (redirect_dir is not on).
func (fsys *FS) Rename(oldname, newname string) error {
	return linkErr("rename", oldname, newname, fsys.rename(oldname, newname))
}

// Stat is like os.Stat. FileInfo.Sys is a *syscall.Stat_t on Linux.
func (fsys *FS) Stat(name string) (fs.FileInfo, error) {
	return fsys.stat("stat", name, followYes)
}

// Lstat is like os.Lstat.
func (fsys *FS) Lstat(name string) (fs.FileInfo, error) {
	return fsys.stat("lstat", name, followNo)
}

// LstatIfPossible is Lstat; the bool is always true (afero.Lstater).
func (fsys *FS) LstatIfPossible(name string) (fs.FileInfo, bool, error) {
	fi, err := fsys.Lstat(name)
	return fi, true, err
}

func (fsys *FS) stat(op, name string, follow followMode) (fs.FileInfo, error) {
	fsys.pruneIfNeeded()
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	n, err := fsys.lookupFinal(name, follow)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	a, err := fsys.nodeAttr(n)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	return &fileInfo{name: baseName(name), a: a}, nil
}

// Chmod is like os.Chmod (it copies the object up).
func (fsys *FS) Chmod(name string, mode fs.FileMode) error {
	return pathErr("chmod", name, fsys.chmod(name, layer.RawPerm(mode)))
}

// Chown is like os.Chown (it copies the object up).
func (fsys *FS) Chown(name string, uid, gid int) error {
	return pathErr("chown", name, fsys.chown(name, uid, gid, followYes))
}

// Lchown is like os.Lchown.
func (fsys *FS) Lchown(name string, uid, gid int) error {
	return pathErr("lchown", name, fsys.chown(name, uid, gid, followNo))
}

// Chtimes is like os.Chtimes (it copies the object up).
func (fsys *FS) Chtimes(name string, atime, mtime time.Time) error {
	return pathErr("chtimes", name, fsys.chtimes(name, atime, mtime))
}

// Truncate is like os.Truncate.
func (fsys *FS) Truncate(name string, size int64) error {
	return pathErr("truncate", name, fsys.truncate(name, size))
}

// Symlink is like os.Symlink. Targets are stored as given; the overlay
// resolves them with its own root as "/".
func (fsys *FS) Symlink(oldname, newname string) error {
	return linkErr("symlink", oldname, newname, fsys.symlink(oldname, newname))
}

// SymlinkIfPossible is Symlink (afero.Linker).
func (fsys *FS) SymlinkIfPossible(oldname, newname string) error {
	return fsys.Symlink(oldname, newname)
}

// Readlink is like os.Readlink.
func (fsys *FS) Readlink(name string) (string, error) {
	fsys.pruneIfNeeded()
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	// Not followed, unless name ends in "/" (then it is no symlink).
	n, err := fsys.lookupFinal(name, followNo)
	if err == nil && n.typ != syscall.S_IFLNK {
		err = syscall.EINVAL
	}
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	t, err := fsys.readlinkNode(n)
	return t, pathErr("readlink", name, err)
}

// ReadlinkIfPossible is Readlink (afero.LinkReader).
func (fsys *FS) ReadlinkIfPossible(name string) (string, error) {
	return fsys.Readlink(name)
}

// Link is like os.Link: the source is copied up, then hard-linked within
// the upper layer.
func (fsys *FS) Link(oldname, newname string) error {
	return linkErr("link", oldname, newname, fsys.link(oldname, newname))
}

// Mknod is mknod(2): mode is a raw st_mode (S_IFCHR, S_IFBLK, S_IFIFO,
// S_IFSOCK or S_IFREG plus permission bits). A char device 0/0 is a
// whiteout and cannot be made through the overlay (EPERM).
func (fsys *FS) Mknod(name string, mode uint32, dev uint64) error {
	return pathErr("mknod", name, fsys.mknod(name, mode, dev))
}

// ReadDir is like os.ReadDir: the merged entries of a dir, sorted by
// name. (*File).ReadDir gives them in the kernel's merged order.
func (fsys *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := fsys.openFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// Getxattr returns the extended attribute attr of name (following
// symlinks, as getxattr(2)). The overlay's private attributes are not
// visible: a name under the private prefix (trusted.overlay. or, with
// userxattr, user.overlay.) addresses the escaped attribute instead.
func (fsys *FS) Getxattr(name, attr string) ([]byte, error) {
	v, err := fsys.getxattr(name, attr, followYes)
	return v, pathErr("getxattr", name, err)
}

// Listxattr lists the extended attributes of name, the overlay's private
// ones left out and escaped ones shown unescaped.
func (fsys *FS) Listxattr(name string) ([]string, error) {
	v, err := fsys.listxattr(name, followYes)
	return v, pathErr("listxattr", name, err)
}

// Setxattr sets an extended attribute (copying the object up); flags is
// 0, XattrCreate or XattrReplace.
func (fsys *FS) Setxattr(name, attr string, data []byte, flags int) error {
	return pathErr("setxattr", name, fsys.setxattr(name, attr, data, flags))
}

// Removexattr removes an extended attribute (copying the object up when
// it has the attribute).
func (fsys *FS) Removexattr(name, attr string) error {
	return pathErr("removexattr", name, fsys.removexattr(name, attr))
}
