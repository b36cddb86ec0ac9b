package overlay

import (
	"errors"
	"io/fs"
	"path"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"

	"github.com/go-overlay/overlay/internal/memfs"
)

// MemFS is a small in-memory POSIX filesystem, used to build in-memory
// layers ([MemLayer]). It holds regular files, directories, symlinks,
// hard links, device nodes, FIFOs and sockets, with full st_mode,
// ownership, timestamps and extended attributes (any namespace).
//
// Behaviour, modelled on Linux tmpfs:
//   - The root directory has inode number 1, the work area's root 2; every
//     other object gets the next number of a per-MemFS counter, never reused.
//   - Each MemFS has its own st_dev: major 4096 (outside the kernel's 12-bit
//     major space, so it never equals a real device) and a minor from a
//     process-wide counter.
//   - New objects are owned by os.Geteuid()/os.Getegid(); in a setgid
//     directory they take the directory's group, and new directories inherit
//     its setgid bit (inode_init_owner). No umask is applied and no access
//     checks are made: every caller acts as root.
//   - Directories have nlink 2 + subdirectories and list their entries
//     sorted by name; a directory's size is 20 bytes per entry plus 40, as
//     tmpfs reports.
//   - Changing an inode updates its ctime; adding or removing entries
//     updates the directory's mtime and ctime. Reads do not update atime
//     (as with noatime). Chown of a non-directory clears setuid, and setgid
//     when group-execute is set, even for root, as chown(2) does on Linux.
//   - "user." xattrs exist only on regular files and directories (Linux
//     xattr_permission: setting one elsewhere is EPERM, reading ENODATA).
//   - Special files cannot be opened (ENXIO: there are no drivers).
//   - Files are not sparse; the largest file is 4 GiB (EFBIG beyond).
//
// The exported methods are for populating a layer. Their paths are
// slash-separated and relative to the MemFS root (a leading "/" is allowed);
// symlinks in intermediate components are followed, with the MemFS root as
// "/" and ".." stopping at it, but a final symlink never is (so WriteFile on
// a symlink fails with ELOOP). Errors are *fs.PathError (*os.LinkError for
// Link and Symlink) holding a syscall.Errno.
//
// A MemFS is safe for concurrent use, including while layers built on it
// are in use.
type MemFS struct {
	fs *memfs.FS // immutable
}

// NewMemFS returns an empty MemFS: a root directory with mode 0755.
func NewMemFS() *MemFS { return &MemFS{fs: memfs.New()} }

// MemLayer returns an in-memory layer in the kernel's format over m (a new
// empty MemFS when m is nil). The layer shares m: changes made through m's
// methods are visible in the layer and the other way round.
func MemLayer(m *MemFS) *Layer {
	if m == nil {
		m = NewMemFS()
	}
	return &Layer{b: m.fs.Backend(), format: formatKernel, desc: "memory"}
}

// Mkdir is like [os.Mkdir]. As mkdir(2), it ignores setuid and setgid in
// perm (a directory inherits setgid from its parent); use Chmod to set them.
func (m *MemFS) Mkdir(name string, perm fs.FileMode) error {
	return pathErr("mkdir", name, m.fs.Mkdir(name, layer.RawMode(perm)))
}

// MkdirAll is like [os.MkdirAll]: it creates name and any missing parents,
// and succeeds when name is already a directory (or a symlink to one).
func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	return pathErr("mkdir", name, m.fs.MkdirAll(name, layer.RawMode(perm)))
}

// WriteFile is like [os.WriteFile], except that a final symlink is not
// followed (ELOOP).
func (m *MemFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	err := m.fs.WriteFile(name, data, layer.RawMode(perm))
	if errors.Is(err, syscall.EFBIG) {
		return pathErr("write", name, err)
	}
	return pathErr("open", name, err)
}

// ReadFile is like [os.ReadFile], except that a final symlink is not
// followed (ELOOP).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	b, err := m.fs.ReadFile(name)
	if errors.Is(err, syscall.EISDIR) {
		return nil, pathErr("read", name, err)
	}
	return b, pathErr("open", name, err)
}

// Symlink is like [os.Symlink]: it creates newname as a symlink to target.
func (m *MemFS) Symlink(target, newname string) error {
	return linkErr("symlink", target, newname, m.fs.Symlink(target, newname))
}

// Link is like [os.Link]; oldname is not followed if it is a symlink.
func (m *MemFS) Link(oldname, newname string) error {
	return linkErr("link", oldname, newname, m.fs.Link(oldname, newname))
}

// Mknod is like mknod(2): mode is a raw st_mode (S_IFCHR, S_IFBLK,
// S_IFIFO, S_IFSOCK, S_IFREG or 0 for a regular file) and dev the device
// number of a character or block device. Mknod(name, syscall.S_IFCHR, 0)
// makes a whiteout.
func (m *MemFS) Mknod(name string, mode uint32, dev uint64) error {
	return pathErr("mknod", name, m.fs.Mknod(name, mode, dev))
}

// Setxattr sets extended attribute attr of name (not following a final
// symlink), creating or replacing it.
func (m *MemFS) Setxattr(name, attr string, value []byte) error {
	return pathErr("setxattr", name, m.fs.Setxattr(name, attr, value))
}

// Getxattr returns extended attribute attr of name (not following a final
// symlink); ENODATA when it has none.
func (m *MemFS) Getxattr(name, attr string) ([]byte, error) {
	v, err := m.fs.Getxattr(name, attr)
	return v, pathErr("getxattr", name, err)
}

// Remove is like [os.Remove]: it unlinks a non-directory or removes an
// empty directory.
func (m *MemFS) Remove(name string) error {
	return pathErr("remove", name, m.fs.Remove(name))
}

// Chmod is like [os.Chmod] on Linux (setuid, setgid and sticky bits of
// mode are honoured), except that a final symlink is not followed:
// changing a symlink's mode is EOPNOTSUPP.
func (m *MemFS) Chmod(name string, mode fs.FileMode) error {
	return pathErr("chmod", name, m.fs.Chmod(name, layer.RawMode(mode)))
}

// Chown is like [os.Lchown]; -1 leaves an id unchanged. As chown(2),
// it clears setuid (and setgid, if group-execute is set) of a non-directory.
func (m *MemFS) Chown(name string, uid, gid int) error {
	return pathErr("lchown", name, m.fs.Chown(name, uid, gid))
}

// Chtimes is like [os.Chtimes] (a zero time leaves that time unchanged),
// except that a final symlink is not followed.
func (m *MemFS) Chtimes(name string, atime, mtime time.Time) error {
	return pathErr("chtimes", name, m.fs.Chtimes(name, atime, mtime))
}

// Lstat is like [os.Lstat]. The FileInfo's Sys is nil.
func (m *MemFS) Lstat(name string) (fs.FileInfo, error) {
	a, err := m.fs.Lstat(name)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return &fileInfo{name: path.Base(path.Clean("/" + name)), a: a}, nil
}

// ReadDir lists the dir name, sorted by name, everything included:
// whiteouts show as char devices 0/0, as a layer holds them.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := m.fs.ReadDir(name)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = fs.FileInfoToDirEntry(&fileInfo{name: e.Name, a: e.Attr})
	}
	return out, nil
}

// Readlink returns the target of the symlink name.
func (m *MemFS) Readlink(name string) (string, error) {
	t, err := m.fs.Readlink(name)
	return t, pathErr("readlink", name, err)
}
