package layer

import (
	"io"
	"strings"
	"syscall"
	"time"
)

// Attr is the stat information of one object in one layer: the parts of
// struct stat the overlay uses. Mode is a raw st_mode (S_IFMT type bits plus
// permission, setuid, setgid and sticky bits).
type Attr struct {
	Mode    uint32
	Nlink   uint64
	Uid     uint32
	Gid     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	Ino     uint64
	Dev     uint64
	Atime   time.Time
	Mtime   time.Time
	Ctime   time.Time
}

// Type is the S_IFMT bits of the mode.
func (a *Attr) Type() uint32 { return a.Mode & syscall.S_IFMT }

// IsDir, IsReg and IsLink tell a directory, a regular file and a symlink.
func (a *Attr) IsDir() bool  { return a.Type() == syscall.S_IFDIR }
func (a *Attr) IsReg() bool  { return a.Type() == syscall.S_IFREG }
func (a *Attr) IsLink() bool { return a.Type() == syscall.S_IFLNK }

// Perm is the mode without its type bits.
func (a *Attr) Perm() uint32 { return a.Mode &^ syscall.S_IFMT }

// IsChr00 tells a character device 0/0: a whiteout in the kernel's format.
func (a *Attr) IsChr00() bool { return a.Type() == syscall.S_IFCHR && a.Rdev == 0 }

// DirEnt is one entry of a layer directory, in the layer's own order, as
// the backend lists it. Type is the S_IFMT bits of the entry (0 when the backend cannot tell
// without a stat, as getdents' DT_UNKNOWN).
type DirEnt struct {
	Name string
	Type uint32
	Ino  uint64
}

// File is an open file of a backend. The overlay keeps file offsets
// itself and only uses positioned I/O, so that an open file can be
// switched to another backing file (after copy-up) without losing its place.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Append writes p at the end of a file opened with O_APPEND, as one
	// step with respect to every other writer of the same object (other
	// open files, other names of the inode), as write(2) on an O_APPEND
	// descriptor is; it returns the offset just past what it wrote.
	Append(p []byte) (n int, end int64, err error)
	Stat() (Attr, error)
	Truncate(size int64) error
	Sync() error
}

// Backend is what a layer must provide: a small filesystem addressed by
// slash-separated paths relative to the layer root ("" is the root). Paths
// are already clean and contain no "." or ".." components; the overlay
// resolves symlinks itself, so a Backend never follows a symlink in any
// component, and must never resolve anything outside its root.
//
// Paths beginning with "/" address the layer's work area (the kernel's
// workdir W/, so "/work/#1" is W/work/#1). Only an upper layer has one; a
// rename between the work area and the layer proper must be atomic, as
// rename(2) within one filesystem is.
//
// Errors are syscall.Errno values (possibly wrapped); the overlay shapes
// them into *fs.PathError with the overlay path. A Backend that cannot do
// an operation at all returns syscall.EOPNOTSUPP (xattrs, mknod) or
// syscall.EPERM (link, symlink), as Linux filesystems do.
type Backend interface {
	Reader
	Writer
}

// Reader is the read side of a backend: all an FS may do to a lower
// layer, and how it reads the upper.
type Reader interface {
	// Lstat does not follow a final symlink.
	Lstat(p string) (Attr, error)
	// ReadDir lists a directory in the layer's own order, without "." and "..".
	ReadDir(p string) ([]DirEnt, error)
	Readlink(p string) (string, error)
	// OpenRead opens p for reading with the flags of os.OpenFile that do
	// not write (the others are ignored), as open does.
	OpenRead(p string, flag int) (File, error)

	Getxattr(p, name string) ([]byte, error) // ENODATA when absent
	Listxattr(p string) ([]string, error)

	// Caps reports what the backend can hold.
	Caps() Caps
	// Close releases what the backend holds open (directory fds).
	Close() error
}

// WriteFlags are the flags of os.OpenFile that OpenRead ignores.
const WriteFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_CREAT | syscall.O_EXCL | syscall.O_TRUNC | syscall.O_APPEND

// Writer is the write side of a backend, which only the door of the
// overlay's upper layer holds.
type Writer interface {
	// Open opens p with os.OpenFile flags; it never follows a final
	// symlink (O_NOFOLLOW is implied) and fails with ELOOP on one.
	Open(p string, flag int, perm uint32) (File, error)

	Setxattr(p, name string, value []byte) error
	Removexattr(p, name string) error

	Mkdir(p string, perm uint32) error
	Symlink(target, p string) error
	Link(oldp, newp string) error
	Mknod(p string, mode uint32, dev uint64) error
	// Rename replaces newp atomically as rename(2) does.
	Rename(oldp, newp string) error
	// Exchange swaps two names atomically (renameat2 RENAME_EXCHANGE);
	// EOPNOTSUPP where the backend cannot.
	Exchange(p1, p2 string) error
	Unlink(p string) error
	Rmdir(p string) error

	// Chmod, Lchown, Lutimes and Truncate do not follow a final symlink
	// (chmod of a symlink itself is EOPNOTSUPP on Linux).
	Chmod(p string, perm uint32) error
	Lchown(p string, uid, gid int) error
	Lutimes(p string, atime, mtime time.Time) error
	Truncate(p string, size int64) error
}

// Caps are a backend's optional capabilities.
type Caps struct {
	Xattr    bool // Getxattr and Setxattr work
	Mknod    bool // device nodes (kernel whiteouts) can be created
	Hardlink bool // Link works
	Symlink  bool // Symlink works
	Exchange bool // Exchange works
	WorkArea bool // paths beginning with "/" address a work area
	NameMax  int  // longest name component (f_namelen)
}

// StatReader is what the overlay classifies an object with: a backend,
// or one dir of it opened for probing its entries (see DirProber).
type StatReader interface {
	Lstat(p string) (Attr, error)
	Getxattr(p, name string) ([]byte, error)
}

// PathMax is PATH_MAX, the longest path and the longest symlink target
// (include/uapi/linux/limits.h).
const PathMax = 4096

// MaxSymlinks is the number of symlinks one path walk may follow before it
// fails with ELOOP: Linux's MAXSYMLINKS (include/linux/namei.h).
const MaxSymlinks = 40

// NameMax is the longest name component any layer here accepts
// (NAME_MAX, include/uapi/linux/limits.h); longer names are ENAMETOOLONG as
// in ovl_lookup's f_namelen check.
const NameMax = 255

// AccMode masks the access mode of os.OpenFile flags (O_RDONLY, O_WRONLY,
// O_RDWR).
const AccMode = syscall.O_RDONLY | syscall.O_WRONLY | syscall.O_RDWR

// CheckName validates one path component as every backend does: EINVAL
// for an empty name, "." and "..", or a NUL byte; ENAMETOOLONG past NameMax.
func CheckName(c string) error {
	switch {
	case c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0:
		return syscall.EINVAL
	case len(c) > NameMax:
		return syscall.ENAMETOOLONG
	}
	return nil
}
