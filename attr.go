package overlay

import (
	"io/fs"
	"strings"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// fileInfo is the overlay's fs.FileInfo. Sys returns a *syscall.Stat_t on
// Linux, as os.Stat's does.
type fileInfo struct {
	name string
	a    layer.Attr
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.a.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return layer.FileMode(fi.a.Mode) }
func (fi *fileInfo) ModTime() time.Time { return fi.a.Mtime }
func (fi *fileInfo) IsDir() bool        { return fi.a.IsDir() }
func (fi *fileInfo) Sys() any           { return statT(&fi.a) }

// baseName is os's basename: the last element of name, trailing slashes
// removed ("/" stays "/").
func baseName(name string) string {
	for len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 && len(name) > 1 {
		name = name[i+1:]
	}
	return name
}

// nodeAttr returns the attributes of n as the overlay shows them: from
// the upper object when there is one (read afresh: it changes), else from
// the top lower object (cached: lowers do not change while in use); merge
// dirs report nlink 1; st_dev and st_ino by the kernel's rules for
// xino=off. Callers hold FS.mu.
func (fsys *FS) nodeAttr(n *node) (layer.Attr, error) {
	var a layer.Attr
	var err error
	switch {
	case n.upper:
		a, err = fsys.upper.b.Lstat(n.path())
	case n.idx != "":
		a, err = fsys.upper.b.Lstat(n.idx) // a name not copied up of an indexed inode
	default:
		a = n.lattr
	}
	if err != nil {
		return layer.Attr{}, err
	}
	fsys.fixNlink(n, &a)
	if n.metacopy {
		a.Blocks = n.dattr.Blocks // its data's
	}
	layers := len(n.lowers)
	if n.upper {
		layers++
	}
	if n.isDir() && (layers > 1 || n.parent == nil) {
		a.Nlink = 1
	}
	fsys.inoDev(n, &a)
	return a, nil
}

// inoDev sets st_dev and st_ino by the kernel's rules. The
// numbers come from the object that supplies them: the root's from the
// upper root; a copied-up dir's, or a copied-up non-dir's whose lower had
// one link, from its origin (a hard-linked lower file's links break on
// copy-up, index being off, and it shows the upper's); others from their
// own layer object. Then: with xino, the overlay's st_dev and the xino
// mapping of the number (xino.go); with all layers on one filesystem, the
// overlay's st_dev and the number as it is; otherwise dirs get the
// overlay's st_dev and an overlay-allocated, non-persistent number, and
// non-dirs keep their layer's st_dev and number.
func (fsys *FS) inoDev(n *node, a *layer.Attr) {
	fsid := 0 // the upper's
	switch {
	case n.parent == nil && n.upper:
		// The root shows the upper root's numbers.
	case len(n.lowers) > 0 && fsys.usesOrigin(n):
		a.Ino, a.Dev = n.lattr.Ino, n.lattr.Dev
		fsid = fsys.lowers[n.lowers[0].layer].fsid
	case !n.upper && len(n.lowers) > 0:
		fsid = fsys.lowers[n.lowers[0].layer].fsid
	}
	switch {
	case fsys.xinoBits > 0:
		a.Dev, a.Ino = fsys.dev, fsys.xinoIno(a.Ino, fsid)
	case fsys.samefs:
		a.Dev = fsys.dev
	case n.parent == nil:
		a.Dev, a.Ino = fsys.dev, fsys.root.ino.Load()
	case n.isDir():
		a.Dev, a.Ino = fsys.dev, fsys.dirIno(n)
	}
}

// dirIno returns n's overlay-allocated inode number, allocating it on
// first use (the kernel's get_next_ino for dirs on multi-fs overlays).
func (fsys *FS) dirIno(n *node) uint64 {
	if v := n.ino.Load(); v != 0 {
		return v
	}
	n.ino.CompareAndSwap(0, fsys.inoNext.Add(1))
	return n.ino.Load()
}

// fixNlink sets the link count of an indexed object: the union count the
// nlink xattr gives, except where the lower had a single link, whose
// count read from disk is the upper inode's (ovl_get_nlink). The kernel
// computes the count when it first looks the inode up and then moves it
// with each link and unlink while the inode stays cached: an inode
// copied up during this FS's life (nfs_export indexes files of one link)
// keeps the lower's count so moved, which is what the nlink xattr
// records. Callers hold FS.mu.
func (fsys *FS) fixNlink(n *node, a *layer.Attr) {
	if n.idx != "" && (n.lattr.Nlink != 1 || fsys.indexedHere(n.idx)) {
		a.Nlink = fsys.unionNlink(n.idx, a.Nlink, n.lattr.Nlink)
	}
}

// usesOrigin reports whether n shows its origin's inode number: when it
// is indexed, or, outside nfs_export (which trusts indexed origins only),
// when it is a copied-up dir or a non-dir whose lower had one link.
// Callers hold FS.mu.
func (fsys *FS) usesOrigin(n *node) bool {
	switch {
	case n.idx != "" || n.dirIndexed:
		return true
	case fsys.feat.nfsExport || !n.upper:
		return false
	}
	return n.isDir() || n.lattr.Nlink == 1
}
