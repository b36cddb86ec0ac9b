package overlay

import (
	"io"
	"syscall"
	"time"
)

// A Layer is one branch of an overlay: a lower (read-only) layer, or the
// upper (writable) layer. Build one with [MemLayer], [AferoLayer] or
// [DirLayer]. A Layer may be used by at most one [FS] as its upper layer at a
// time; a lower layer may be shared by any number of overlays, since the
// overlay never writes to it.
type Layer struct {
	b      LYRBackend // immutable after construction
	format format  // how whiteouts and opaque dirs are encoded; immutable
	desc   string  // human description for errors ("memory", "dir /x"); immutable
}

// Close releases what the layer holds open (a DirLayer's directory file
// descriptors). An FS does not close the layers given to it in Options,
// since a lower layer may serve several overlays, except those that
// ParseOptions opened. Closing a layer still in use makes the overlays
// using it fail with EBADF.
func (l *Layer) Close() error { return l.b.Close() }

// String describes the layer, for error messages.
func (l *Layer) String() string { return l.desc }

// format is a layer's encoding of the overlay's markers, whiteouts and
// opaque dirs: how they are read (probe, classify) and, on the upper,
// written. The branch methods of the same names call it.
type format interface {
	// probe classifies the object at p of br (bottom: br is the
	// bottom-most lower layer, whose opaque markers are not read).
	probe(br *branch, p string, bottom bool) (obj, error)
	// classify marks the entries ents of br's dir p (see branch.classify).
	classify(br *branch, p string, xwh bool, ents []LYRDirEnt, at *[2]int) ([]markedEnt, error)
	whiteout(br *branch, p string, existing uint32) error
	renameWhiteout(br *branch, sp, dp string, dpType uint32) error
	setOpaque(br *branch, p string) error
	// hidden reports names the overlay never shows from such a layer
	// and cannot create in it.
	hidden(name string) bool
	String() string
}

var (
	// formatKernel is the kernel's: char 0/0 whiteouts (plus xattr
	// whiteouts on lookup), P.opaque xattrs (format_kernel.go).
	formatKernel format = kernelFormat{}
	// formatOCI is the OCI image layer convention: ".wh.NAME" whiteout
	// files and a ".wh..wh..opq" marker file, for backends that cannot
	// hold device nodes or xattrs (format_oci.go).
	formatOCI format = ociFormat{}
)

// LYRAttr is the stat information of one object in one layer: the parts of
// struct stat the overlay uses. Mode is a raw st_mode (S_IFMT type bits plus
// permission, setuid, setgid and sticky bits).
type LYRAttr struct {
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

func (a *LYRAttr) Type() uint32   { return a.Mode & syscall.S_IFMT }
func (a *LYRAttr) IsDir() bool   { return a.Type() == syscall.S_IFDIR }
func (a *LYRAttr) IsReg() bool   { return a.Type() == syscall.S_IFREG }
func (a *LYRAttr) IsLink() bool  { return a.Type() == syscall.S_IFLNK }
func (a *LYRAttr) Perm() uint32  { return a.Mode &^ syscall.S_IFMT }
func (a *LYRAttr) IsChr00() bool { return a.Type() == syscall.S_IFCHR && a.Rdev == 0 }

// LYRDirEnt is one entry of a layer directory, in the layer's own order, as
// the backend lists it. (An entry passes through three forms: a LYRDirEnt of
// a backend, a markedEnt once the layer's format has told whiteouts from
// objects, a mergedEnt once the layers are merged; an fsDirEntry is one
// given to callers.)
// Type is the S_IFMT bits of the entry (0 when the backend cannot tell
// without a stat, as getdents' DT_UNKNOWN).
type LYRDirEnt struct {
	Name string
	Type uint32
	Ino  uint64
}

// LYRDotsReader is implemented by backends that can tell where a dir lists
// "." and "..": readDirDots is readDir with, for each of them, the number
// of entries listed before it (ext4 lists them in hash order, tmpfs
// first). Elsewhere they count as first.
type LYRDotsReader interface {
	ReadDirDots(p string) ([]LYRDirEnt, [2]int, error)
}

// LYRDirStreamer is implemented by backends whose dirs can be read through
// a descriptor of their own, with the file system's own positions: the
// kernel reads a dir of one layer that way (ovl_iterate_real), so that
// telldir cookies and seeks are the layer's.
type LYRDirStreamer interface {
	OpenDirStream(p string) (LYRDirStream, error)
}

// LYRDirStream is an open dir of a dirStreamer.
type LYRDirStream interface {
	// ReadEntries is one getdents call: the entries ("." and ".." left out),
	// the position after them, or eof when there were none.
	ReadEntries() (ents []LYRDirEnt, pos int64, eof bool, err error)
	Seek(off int64, whence int) (int64, error)
	Close() error
}

// LYRFile is an open file of a backend. The overlay keeps file offsets
// itself and only uses positioned I/O, so that an open file can be
// switched to another backing file (after copy-up) without losing its place.
type LYRFile interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Append writes p at the end of a file opened with O_APPEND, as one
	// step with respect to every other writer of the same object (other
	// open files, other names of the inode), as write(2) on an O_APPEND
	// descriptor is; it returns the offset just past what it wrote.
	Append(p []byte) (n int, end int64, err error)
	Stat() (LYRAttr, error)
	Truncate(size int64) error
	Sync() error
}

// LYRBackend is what a layer must provide: a small filesystem addressed by
// slash-separated paths relative to the layer root ("" is the root). Paths
// are already clean and contain no "." or ".." components; the overlay
// resolves symlinks itself, so a LYRBackend never follows a symlink in any
// component, and must never resolve anything outside its root.
//
// Paths beginning with "/" address the layer's work area (the kernel's
// workdir W/, so "/work/#1" is W/work/#1). Only an upper layer has one; a
// rename between the work area and the layer proper must be atomic, as
// rename(2) within one filesystem is.
//
// Errors are syscall.Errno values (possibly wrapped); the overlay shapes
// them into *fs.PathError with the overlay path. A LYRBackend that cannot do
// an operation at all returns syscall.EOPNOTSUPP (xattrs, mknod) or
// syscall.EPERM (link, symlink), as Linux filesystems do.
type LYRBackend interface {
	LYRReader
	LYRWriter
}

// LYRReader is the read side of a backend: all an FS may do to a lower
// layer, and how it reads the upper.
type LYRReader interface {
	// Lstat does not follow a final symlink.
	Lstat(p string) (LYRAttr, error)
	// ReadDir lists a directory in the layer's own order, without "." and "..".
	ReadDir(p string) ([]LYRDirEnt, error)
	Readlink(p string) (string, error)
	// OpenRead opens p for reading with the flags of os.OpenFile that do
	// not write (the others are ignored), as open does.
	OpenRead(p string, flag int) (LYRFile, error)

	Getxattr(p, name string) ([]byte, error) // ENODATA when absent
	Listxattr(p string) ([]string, error)

	// Caps reports what the backend can hold.
	Caps() LYRCaps
	// Close releases what the backend holds open (directory fds).
	Close() error
}

// LYRWriteFlags are the flags of os.OpenFile that openRead ignores.
const LYRWriteFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_CREAT | syscall.O_EXCL | syscall.O_TRUNC | syscall.O_APPEND

// LYRWriter is the write side of a backend, which only the upper
// layer's door holds (upper.go).
type LYRWriter interface {
	// Open opens p with os.OpenFile flags; it never follows a final
	// symlink (O_NOFOLLOW is implied) and fails with ELOOP on one.
	Open(p string, flag int, perm uint32) (LYRFile, error)

	Setxattr(p, name string, value []byte) error
	Removexattr(p, name string) error

	Mkdir(p string, perm uint32) error
	Symlink(target, p string) error
	Link(oldp, newp string) error
	Mknod(p string, mode uint32, dev uint64) error
	// Rename replaces newp atomically as Rename(2) does.
	Rename(oldp, newp string) error
	// Exchange swaps two names atomically (renameat2 RENAME_EXCHANGE);
	// EOPNOTSUPP where the backend cannot.
	Exchange(p1, p2 string) error
	Unlink(p string) error
	Rmdir(p string) error

	// lchmod, lchown, lutimes and truncate do not follow a final symlink
	// (Chmod of a symlink itself is EOPNOTSUPP on Linux).
	Chmod(p string, perm uint32) error
	Lchown(p string, uid, gid int) error
	Lutimes(p string, atime, mtime time.Time) error
	Truncate(p string, size int64) error
}

// LYRCaps are a backend's optional capabilities.
type LYRCaps struct {
	Xattr    bool // getxattr/setxattr work
	Mknod    bool // device nodes (kernel whiteouts) can be created
	Hardlink bool // link works
	Symlink  bool // symlink works
	Exchange bool // exchange works
	WorkArea bool // paths beginning with "/" address a work area
	NameMax  int  // longest name component (f_namelen)
}

// LYRWhiteoutRenamer is implemented by backends that can rename and leave a
// whiteout (char 0/0) at the old name in one atomic step, as renameat2
// with RENAME_WHITEOUT does; the overlay uses it to move a name that
// lower layers also have (ovl_rename's way). EINVAL or EOPNOTSUPP means
// the filesystem cannot, and the overlay falls back to whiteout.go's
// renameWhiteout order.
type LYRWhiteoutRenamer interface {
	RenameWhiteout(oldp, newp string) error
}

// LYRRooted is implemented by backends that live in a directory of the host
// (native layers), so that New can apply the kernel's layer-overlap rules.
type LYRRooted interface {
	// RootInfo reports the layer root's absolute, symlink-free path and
	// its device and inode numbers.
	RootInfo() (path string, dev, ino uint64)
}

// LYRPlaced is implemented by rooted backends that know the mount their root
// was reached through and where the root lies in its filesystem, so that
// New can compare layers as the kernel does: by mount, not st_dev, and by
// ancestry in the filesystem, which a bind mount does not hide.
type LYRPlaced interface {
	LYRRooted
	// MountID is the id of the mount the root was opened through
	// (statx's stx_mnt_id, the first field of /proc/self/mountinfo); 0
	// when the kernel cannot tell.
	MountID() uint64
	// FSPosition reports the filesystem holding the root (its device as
	// the mount table gives it) and the root's path from that
	// filesystem's own root; an error when it cannot be told.
	FSPosition() (dev uint64, path string, err error)
}

// LYRWhiteoutProber is implemented by backends on a filesystem that may lack
// renameat2's RENAME_WHITEOUT (native layers; ramfs has none). The kernel
// renames a name that a lower layer has with that flag, so that where the
// upper's filesystem lacks it such a rename fails with EINVAL; New probes
// the upper once, after preparing W/work.
type LYRWhiteoutProber interface {
	RenameWhiteoutOK() bool
}

// LYRWorkAttacher is implemented by backends whose work area is a separate
// layer (native layers, where workdir= is its own directory): New calls
// attachWork on the upper with the work layer's backend, after checking
// that both are on one filesystem.
type LYRWorkAttacher interface {
	AttachWork(work LYRBackend) error
}

// LYRInodeHolder is implemented by backends that can hold the object p open
// across its removal: stat then tells what an open handle of it sees
// (size and link count as the file system leaves them); release lets it
// go.
type LYRInodeHolder interface {
	Hold(p string) (stat func() (LYRAttr, error), release func(), err error)
}

// LYRTreeRemover is implemented by backends that remove a whole tree
// themselves, in time linear in its size whatever its depth (the native
// layer walks it with directory descriptors); others are emptied one path
// at a time.
type LYRTreeRemover interface {
	// RemoveTree removes the dir p and everything beneath it.
	RemoveTree(p string) error
	// ClearTree removes everything beneath the dir p, keeping p.
	ClearTree(p string) error
}
