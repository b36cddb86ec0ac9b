// Package model is a deliberately naive reference model of an overlay
// filesystem, for tests: a rapid state machine runs the same operations on
// the model and on the real thing and compares canonical dumps after every
// step.
//
// The model is written to be obviously right, not fast. A layer is a map
// from clean path to node; the merged view is recomputed from the plain
// lookup rules of the kernel (fs/overlayfs/namei.c ovl_lookup) on every
// access; every operation mutates only the upper map, exactly as the
// kernel's dir.c, copy_up.c and xattrs.c would, with the errno and the
// error precedence of the VFS (fs/namei.c, fs/open.c, fs/xattr.c). The
// default mount options are modelled (redirect_dir off for creation, index,
// metacopy and xino off), and, when the fields of Model say so,
// redirect_dir=on and metacopy=on, with the caller as root and no
// umask.
//
// Redirects are only ever written into the upper layer by the model,
// except for one kind of lower entry: a metacopy file of a regular lower
// layer whose absolute redirect names its data file in the data-only
// layer (DataOnly). Lower layers hold no other redirects or metacopy
// markers (the machine never makes them).
//
// Lower layers may hold hard links: two paths of one layer mapping to
// the same *Node. Without Index a copy-up breaks the link (the copy is a
// new node); with Index the copy is recorded as the index entry of the
// lower node, every other name of it shows that entry before its own
// copy-up and is linked to it at its copy-up, so all names keep one data.
// Link counts are not modelled (the dumps show none).
//
// Not modelled: hard links made through the overlay, device nodes,
// ownership, timestamps, private xattrs other than the opaque, redirect
// and metacopy markers, xattr whiteouts, and whiteouts in single-layer
// directories (which the kernel lists as "ghost" entries).
package model

import (
	"fmt"
	"io/fs"
)

// Kind is the type of a layer entry.
type Kind uint8

const (
	File      Kind = iota + 1 // regular file
	Dir                       // directory, merged with dirs below it
	Symlink                   // symbolic link
	Whiteout                  // char 0/0: the name is deleted
	OpaqueDir                 // directory with trusted.overlay.opaque=y: dirs below are not merged
)

func (k Kind) String() string {
	switch k {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Whiteout:
		return "whiteout"
	case OpaqueDir:
		return "opaque-dir"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsDir reports whether k is a directory, opaque or not.
func (k Kind) IsDir() bool { return k == Dir || k == OpaqueDir }

// Node is one entry of a layer.
type Node struct {
	Kind   Kind
	Mode   fs.FileMode       // permission bits (0777); whiteouts 0, symlinks 0777
	Data   string            // File
	Target string            // Symlink
	Xattrs map[string]string // user.* xattrs only

	// Upper entries, and lower metacopy files with their data in the
	// data-only layer (Redirect absolute, "/" + the data file's path).
	Redirect string // trusted.overlay.redirect ("" = none): on a dir, or a renamed metacopy file
	Metacopy bool   // a File whose data is elsewhere: Data is "", Size is the data's size
	Size     int    // size of a Metacopy file
}

func (n *Node) clone() *Node {
	c := *n
	c.Xattrs = nil
	for k, v := range n.Xattrs {
		if c.Xattrs == nil {
			c.Xattrs = map[string]string{}
		}
		c.Xattrs[k] = v
	}
	return &c
}

// Layer maps a clean slash-separated path relative to the layer root
// ("a/b") to its entry. Every entry's parent must be a directory in the
// same layer. The root ("") is implicit: a directory with mode 0755,
// unless the map holds an entry for "".
type Layer map[string]*Node

// Model is an overlay of lower layers and an optional upper layer.
type Model struct {
	// Lowers are the lower layers, top-most first. The model never
	// changes them.
	Lowers []Layer
	// Upper is the upper layer; nil for a read-only overlay.
	Upper Layer
	// RedirectDir is redirect_dir=on: dirs that lower layers have can be
	// renamed (they get a redirect), and new dirs in merge dirs are
	// opaque.
	RedirectDir bool
	// Metacopy is metacopy=on (set RedirectDir too): metadata changes of
	// a lower regular file copy up its metadata only.
	Metacopy bool
	// DataOnly is the data-only layer (nil for none): never part of the
	// merged tree, it only holds the data of metacopy files with an
	// absolute redirect, in lower layers or copied up from them.
	DataOnly Layer
	// Xino is xino=on (in effect): new dirs in merge dirs are opaque, and
	// readdir of a merge dir leaves out names whose lookup finds nothing
	// (which children does anyway).
	Xino bool
	// Index is index=on: lower hard links stay linked through copy-up
	// (see index), and new dirs in merge dirs are opaque.
	Index bool
	// index maps a lower file node to its upper copy (the index entry),
	// with Index.
	index map[*Node]*Node
}

// New returns a model of lowers (top-most first) and, when upper is true,
// an empty upper layer.
func New(lowers []Layer, upper bool) *Model {
	m := &Model{Lowers: lowers}
	if upper {
		m.Upper = Layer{}
	}
	return m
}
