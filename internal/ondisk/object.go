package ondisk

import "github.com/go-overlay/overlay/internal/layer"

// The private xattrs' prefixes: the kernel's, and the one of userxattr
// mounts (unprivileged overlays).
const (
	TrustedPrefix = "trusted.overlay."
	UserPrefix    = "user.overlay."
)

// The private xattrs' names, appended to a prefix.
const (
	XOpaque   = "opaque"   // a dir's "y" (opaque) or "x" (may hold xattr whiteouts)
	XWhiteout = "whiteout" // a zero-size file that is a whiteout (in an "x" dir)
	XOrigin   = "origin"   // the file handle of a copied-up object's lower
	XRedirect = "redirect" // where a renamed dir's (or metacopy file's) lower is
	XImpure   = "impure"   // a dir holding copied-up or redirected entries
	XMetacopy = "metacopy" // a file holding metadata only
	XNlink    = "nlink"    // an index entry's union link count (see ParseNlink)
	XUpper    = "upper"    // an index dir entry's upper file handle
	XUUID     = "uuid"     // the upper root's overlay UUID (uuid=on)
)

// A Kind is what a layer holds at a path, as the overlay sees it.
type Kind uint8

const (
	Absent   Kind = iota // nothing
	Whiteout             // a whiteout: the name is deleted from the layers below
	Present              // an object
)

// An Object is what one layer holds at one path, its markers decoded.
type Object struct {
	Kind   Kind
	Attr   layer.Attr
	Opaque bool // a dir marked opaque (never read in the bottom layer)
	XDir   bool // a dir marked opaque "x": it may hold xattr whiteouts
	// Redirect is a dir's validated redirect xattr: "/a/b" or "name";
	// never read in the bottom layer. Also a metacopy file's.
	Redirect string
	Metacopy bool // a regular file holding metadata only
	// Digest is a metacopy file's fs-verity digest of its data, and
	// DigestAlg its algorithm (0: none stored).
	Digest    []byte
	DigestAlg uint8
}

// An Entry is one entry of one layer's dir with its format's markers
// decoded: a whiteout, or (in a listing that keeps their places) "." and
// "..".
type Entry struct {
	Name     string
	Type     uint32 // S_IFMT bits; 0 when unknown
	Whiteout bool
	Dot      bool
}
