package overlay

import (
	"github.com/go-overlay/overlay/internal/aferolayer"
	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
	"github.com/spf13/afero"
)

// A Layer is one branch of an overlay: a lower (read-only) layer, or the
// upper (writable) layer. Build one with [MemLayer], [AferoLayer] or
// [DirLayer]. A Layer may be used by at most one [FS] as its upper layer at a
// time; a lower layer may be shared by any number of overlays, since the
// overlay never writes to it.
type Layer struct {
	b      layer.Backend // immutable after construction
	format format        // how whiteouts and opaque dirs are encoded; immutable
	desc   string        // human description for errors ("memory", "dir /x"); immutable
}

// AferoLayer returns a layer over any afero filesystem. The layer addresses
// fsys with absolute paths ("/a/b"); note that afero's MemMapFs keeps "a"
// and "/a" apart, so populate one with absolute paths. Whiteouts and
// opaque directories use the OCI encoding (".wh.NAME", ".wh..wh..opq"),
// since afero holds neither device nodes nor xattrs. As an upper layer its
// work area is the directory ".wh..wh.work" at the root of fsys, created
// (mode 0700) when first needed.
//
// The layer never follows a symlink: it uses [afero.Lstater] when fsys has
// it (without it, symlinks cannot be told apart). Symlinks can be created
// only when fsys implements [afero.Linker]; hard links, device nodes, xattrs
// and RENAME_EXCHANGE are never available. Where fsys has no stat
// information (FileInfo.Sys is not a *syscall.Stat_t), owner, link count,
// times and numbers are synthesized: the caller's euid/egid (or the owners
// last set through the layer, which it remembers), nlink 1 (2 for
// a directory), atime = ctime = mtime, an inode number hashed from the path
// (so it changes on rename) and one st_dev per layer. Namespace checks
// (rename(2) and rmdir(2) rules) are made before calling fsys and are atomic
// only with respect to this layer.
func AferoLayer(fsys afero.Fs) *Layer {
	return &Layer{b: aferolayer.New(fsys), format: formatOCI, desc: "afero " + fsys.Name()}
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
	probe(br *branch, p string, bottom bool) (ondisk.Object, error)
	// classify marks the entries ents of br's dir p (see branch.classify).
	classify(br *branch, p string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]ondisk.Entry, error)
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
