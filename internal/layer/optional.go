package layer

// DotsReader is implemented by backends that can tell where a dir lists
// "." and "..": ReadDirDots is ReadDir with, for each of them, the number
// of entries listed before it (ext4 lists them in hash order, tmpfs
// first). Elsewhere they count as first.
type DotsReader interface {
	ReadDirDots(p string) ([]DirEnt, [2]int, error)
}

// DirStreamer is implemented by backends whose dirs can be read through
// a descriptor of their own, with the file system's own positions: the
// kernel reads a dir of one layer that way (ovl_iterate_real), so that
// telldir cookies and seeks are the layer's.
type DirStreamer interface {
	OpenDirStream(p string) (DirStream, error)
}

// DirStream is an open dir of a DirStreamer.
type DirStream interface {
	// ReadEntries is one getdents call: the entries ("." and ".." left out),
	// the position after them, or eof when there were none.
	ReadEntries() (ents []DirEnt, pos int64, eof bool, err error)
	Seek(off int64, whence int) (int64, error)
	Close() error
}

// WhiteoutRenamer is implemented by backends that can rename and leave a
// whiteout (char 0/0) at the old name in one atomic step, as renameat2
// with RENAME_WHITEOUT does; the overlay uses it to move a name that
// lower layers also have (ovl_rename's way). EINVAL or EOPNOTSUPP means
// the filesystem cannot, and the overlay falls back to making the
// whiteout in steps.
type WhiteoutRenamer interface {
	RenameWhiteout(oldp, newp string) error
}

// Rooted is implemented by backends that live in a directory of the host
// (native layers), so that New can apply the kernel's layer-overlap rules.
type Rooted interface {
	// RootInfo reports the layer root's absolute, symlink-free path and
	// its device and inode numbers.
	RootInfo() (path string, dev, ino uint64)
}

// Placed is implemented by rooted backends that know the mount their root
// was reached through and where the root lies in its filesystem, so that
// New can compare layers as the kernel does: by mount, not st_dev, and by
// ancestry in the filesystem, which a bind mount does not hide.
type Placed interface {
	Rooted
	// MountID is the id of the mount the root was opened through
	// (statx's stx_mnt_id, the first field of /proc/self/mountinfo); 0
	// when the kernel cannot tell.
	MountID() uint64
	// FSPosition reports the filesystem holding the root (its device as
	// the mount table gives it) and the root's path from that
	// filesystem's own root; an error when it cannot be told.
	FSPosition() (dev uint64, path string, err error)
}

// WhiteoutProber is implemented by backends on a filesystem that may lack
// renameat2's RENAME_WHITEOUT (native layers; ramfs has none). The kernel
// renames a name that a lower layer has with that flag, so that where the
// upper's filesystem lacks it such a rename fails with EINVAL; New probes
// the upper once, after preparing W/work.
type WhiteoutProber interface {
	RenameWhiteoutOK() bool
}

// WorkAttacher is implemented by backends whose work area is a separate
// layer (native layers, where workdir= is its own directory): New calls
// AttachWork on the upper with the work layer's backend, after checking
// that both are on one filesystem.
type WorkAttacher interface {
	AttachWork(work Backend) error
}

// InodeHolder is implemented by backends that can hold the object p open
// across its removal: stat then tells what an open handle of it sees
// (size and link count as the file system leaves them); release lets it
// go.
type InodeHolder interface {
	Hold(p string) (stat func() (Attr, error), release func(), err error)
}

// TreeRemover is implemented by backends that remove a whole tree
// themselves, in time linear in its size whatever its depth (the native
// layer walks it with directory descriptors); others are emptied one path
// at a time.
type TreeRemover interface {
	// RemoveTree removes the dir p and everything beneath it.
	RemoveTree(p string) error
	// ClearTree removes everything beneath the dir p, keeping p.
	ClearTree(p string) error
}

// FileHandle is a file handle of a layer object as name_to_handle_at(2)
// gives it: the exportfs fid type and the fid bytes.
type FileHandle struct {
	Type uint8
	FID  []byte
}

// Handler is implemented by backends that can name their objects by file
// handle: the origin xattrs, index names and exported handles are built
// from them. A backend without it gets empty origins,
// as the kernel writes for a lower filesystem without handles.
type Handler interface {
	// FileHandle returns the handle of the object at p (not following a
	// final symlink).
	FileHandle(p string) (FileHandle, error)
	// FSUUID is the UUID of the backend's filesystem (s_uuid; zero when it
	// has none).
	FSUUID() [16]byte
}

// HandleChecker is implemented by backends that can tell whether a file
// handle names an existing object of their filesystem (without opening
// it: OpenByHandle rejects a forged handle with it before any search).
type HandleChecker interface {
	// HandleLive reports whether fh names an existing object; known is
	// false when the backend cannot tell (no privilege to decode).
	HandleLive(fh FileHandle) (live, known bool)
}

// DirProber is implemented by backends that can read many entries of one
// dir through one open handle of it.
type DirProber interface {
	// ProbeDir opens the dir p to classify its entries; errors.ErrUnsupported when
	// the backend cannot here.
	ProbeDir(p string) (ProbeDirReader, error)
}

// ProbeDirReader reads the entries (single names) of one dir.
type ProbeDirReader interface {
	StatReader
	Close()
}

// TreeDirOpener is implemented by backends that can open a dir for a
// tree walk.
type TreeDirOpener interface {
	OpenTreeDir(p string) (TreeDir, error)
}

// TreeDir is a dir open for a tree walk; names are its entries.
type TreeDir interface {
	List() ([]DirEnt, error) // its entries, each with its type
	Lstat(name string) (Attr, error)
	Listxattr(name string) ([]string, error)
	Getxattr(name, x string) ([]byte, error)
	Sub(name string) (TreeDir, error) // the dir name, opened the same way
	Close()
}

// HandleTreeDir is a TreeDir of a layer that names its objects by file
// handle (see Handler).
type HandleTreeDir interface {
	TreeDir
	Handle(name string) (FileHandle, error)
}
