package overlay

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// The OCI image-layer names (semantics §2.4): ".wh.NAME" deletes NAME from
// the layers below, ".wh..wh..opq" makes its directory opaque, and every
// other name beginning ".wh..wh." is reserved metadata (AUFS's), never
// shown. Layers in the OCI format never show any ".wh." name.
const (
	ociWhPrefix = ".wh."
	ociOpaque   = ".wh..wh..opq"
	ociMeta     = ".wh..wh."
)

// Private xattr suffixes (appended to the prefix P, trusted.overlay. or
// user.overlay.).
const (
	xOpaque   = "opaque"
	xWhiteout = "whiteout"
	xOrigin   = "origin"
	xRedirect = "redirect"
	xImpure   = "impure"
	xMetacopy = "metacopy"
)

// validRedirect checks a redirect as the kernel does on reading it
// (ovl_check_redirect): an absolute "/c1/c2" with no empty component, or a
// relative name with no "/"; never empty. "." and ".." components are
// refused too, so no redirect can point outside a layer.
func validRedirect(r string) bool {
	if r == "" || strings.IndexByte(r, 0) >= 0 {
		return false
	}
	if r[0] != '/' {
		return !strings.Contains(r, "/") && r != "." && r != ".."
	}
	for _, c := range strings.Split(r[1:], "/") {
		if c == "" || c == "." || c == ".." || len(c) > maxNameLen {
			return false
		}
	}
	return true
}

// branch is a layer as the overlay uses it: the backend plus how the
// layer encodes whiteouts and opaque dirs. Immutable after New.
type branch struct {
	l      *Layer
	b      backend
	format format
	prefix string // the private xattr prefix P, for formatKernel
	caps   caps
	dev    uint64 // st_dev of the layer root; set by New
	fsid   int    // the layer's filesystem slot (xino.go); set by New
	// tmp numbers work-area temporaries (#1, #2, ...), like the kernel's
	// module-wide counter.
	tmp *atomic.Uint64
	// hints holds probe results of a lower layer's objects read ahead
	// for a listing (probe_batch.go); protected by hintMu.
	hintMu sync.Mutex
	hints  map[string]hint
}

type objKind uint8

const (
	objNone objKind = iota
	objWhiteout
	objPresent
)

// obj is what one layer holds at one path.
type obj struct {
	kind   objKind
	a      attr
	opaque bool // dir marked opaque (never read in the bottom layer)
	xdir   bool // dir marked opaque=x: it may hold xattr whiteouts
	// redirect is a dir's validated redirect xattr (§4.2): "/a/b" or
	// "name"; never read in the bottom layer. Also a metacopy file's.
	redirect string
	metacopy bool // a regular file holding metadata only (§7)
	// digest is a metacopy file's fs-verity digest of its data, and
	// digestAlg its algorithm (0: none stored).
	digest    []byte
	digestAlg uint8
}

// probe looks at p in this layer and classifies it. In the bottom-most
// lower layer opaque markers are not read, as in ovl_lookup's "last layer"
// optimisation.
func (br *branch) probe(p string, bottom bool) (obj, error) {
	if br.format == formatOCI {
		return br.probeOCI(p, bottom)
	}
	if o, ok := br.takeHint(p, bottom); ok {
		return o, nil
	}
	return br.probeFrom(br.b, p, bottom)
}

// objReader is what probeFrom reads an object with: a backend, or one
// dir of it opened for probing its entries (readAhead).
type objReader interface {
	lstat(p string) (attr, error)
	getxattr(p, name string) ([]byte, error)
}

// probeFrom is probe of a kernel-format layer through r.
func (br *branch) probeFrom(r objReader, p string, bottom bool) (obj, error) {
	a, err := r.lstat(p)
	if err != nil {
		if isNotFound(err) {
			return obj{}, nil
		}
		return obj{}, err
	}
	switch {
	case a.isChr00():
		return obj{kind: objWhiteout, a: a}, nil
	case a.isReg() && br.caps.xattr:
		if a.Size == 0 {
			if _, err := r.getxattr(p, br.prefix+xWhiteout); err == nil {
				return obj{kind: objWhiteout, a: a}, nil
			}
		}
		return br.probeMetacopyFrom(r, p, a, bottom)
	case a.isDir() && !bottom && br.caps.xattr:
		o := obj{kind: objPresent, a: a}
		if v, err := r.getxattr(p, br.prefix+xOpaque); err == nil && len(v) == 1 {
			o.opaque, o.xdir = v[0] == 'y', v[0] == 'x'
		}
		v, err := r.getxattr(p, br.prefix+xRedirect)
		if err == nil {
			if !validRedirect(string(v)) {
				return obj{}, syscall.EINVAL
			}
			o.redirect = string(v)
		}
		return o, nil
	}
	return obj{kind: objPresent, a: a}, nil
}

func (br *branch) probeOCI(p string, bottom bool) (obj, error) {
	dir, base := splitLast(p)
	if strings.HasPrefix(base, ociWhPrefix) {
		return obj{}, nil
	}
	a, err := br.b.lstat(p)
	if err == nil {
		o := obj{kind: objPresent, a: a}
		if a.isDir() && !bottom {
			if _, err := br.b.lstat(joinPath(p, ociOpaque)); err == nil {
				o.opaque = true
			}
		}
		return o, nil
	}
	if !isNotFound(err) {
		return obj{}, err
	}
	if _, err := br.b.lstat(joinPath(dir, ociWhPrefix+base)); err == nil {
		return obj{kind: objWhiteout}, nil
	}
	return obj{}, nil
}

func (br *branch) hasXattr(p, suffix string) bool {
	_, err := br.b.getxattr(p, br.prefix+suffix)
	return err == nil
}

// isNotFound reports an error that means "nothing at this path in this
// layer": ENOENT, or ENOTDIR when a path component is not a directory.
func isNotFound(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR)
}

func splitLast(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// layerEnt is one entry of one layer's directory, classified.
type layerEnt struct {
	name     string
	typ      uint32
	whiteout bool
}

// listDir reads directory p of this layer, in the layer's order, marking
// whiteouts. Kernel format: char 0/0 devices are whiteouts; zero-size
// files carrying P.whiteout only when xwh is set (a lower dir marked
// opaque=x in a merge, §2.3: elsewhere they show, as on the kernel). OCI
// format: ".wh.NAME" entries become whiteouts of NAME and the reserved
// names are dropped.
func (br *branch) listDir(p string, xwh bool) ([]layerEnt, error) {
	ents, err := br.b.readDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]layerEnt, 0, len(ents))
	for _, e := range ents {
		le := layerEnt{name: e.Name, typ: e.Type}
		if br.format == formatOCI {
			if strings.HasPrefix(e.Name, ociMeta) {
				continue
			}
			if strings.HasPrefix(e.Name, ociWhPrefix) {
				le.name = e.Name[len(ociWhPrefix):]
				le.whiteout = true
				le.typ = 0
			}
			out = append(out, le)
			continue
		}
		if e.Type == syscall.S_IFCHR || e.Type == 0 || (xwh && e.Type == syscall.S_IFREG) {
			a, err := br.b.lstat(joinPath(p, e.Name))
			if err != nil {
				if isNotFound(err) {
					continue
				}
				return nil, err
			}
			le.typ = a.typ()
			switch {
			case a.isChr00():
				le.whiteout = true
			case xwh && a.isReg() && a.Size == 0 && br.caps.xattr && br.hasXattr(joinPath(p, e.Name), xWhiteout):
				le.whiteout = true
			}
		}
		out = append(out, le)
	}
	return out, nil
}

// The writing side, used on the upper layer only.

// temp returns a fresh name in the work area, W/work/#N.
func (br *branch) temp() string {
	return fmt.Sprintf("/work/#%x", br.tmp.Add(1))
}

// whiteout puts a whiteout at p, replacing what the upper holds there:
// nothing, a non-dir, or (isDir) a directory whose contents are whiteouts
// at most. The kernel format builds a char 0/0 in the work dir and renames
// it into place (a dir is exchanged with it, then removed from the work
// dir), so p is never missing in between (ovl_remove_and_whiteout).
func (br *branch) whiteout(p string, existing uint32) error {
	if br.format == formatOCI {
		dir, base := splitLast(p)
		if err := br.createEmpty(joinPath(dir, ociWhPrefix+base)); err != nil {
			return err
		}
		if existing != 0 {
			return br.removeAll(p, existing == syscall.S_IFDIR)
		}
		return nil
	}
	if !br.caps.mknod {
		return syscall.EPERM
	}
	t := br.temp()
	if err := br.b.mknod(t, syscall.S_IFCHR, 0); err != nil {
		return err
	}
	if existing == syscall.S_IFDIR {
		if err := br.b.exchange(t, p); err != nil {
			br.b.unlink(t)
			return err
		}
		return br.removeAll(t, true)
	}
	if err := br.b.rename(t, p); err != nil {
		br.b.unlink(t)
		return err
	}
	return nil
}

// setOpaque marks the upper dir p opaque.
func (br *branch) setOpaque(p string) error {
	if br.format == formatOCI {
		return br.createEmpty(joinPath(p, ociOpaque))
	}
	if !br.caps.xattr {
		return syscall.EOPNOTSUPP
	}
	return br.b.setxattr(p, br.prefix+xOpaque, []byte("y"))
}

// clearWhiteoutOCI removes the OCI whiteout file for p, once a new
// object stands at p (the object in the same layer already hides the lower
// ones, so a crash in between leaves a valid layer).
func (br *branch) clearWhiteoutOCI(p string) error {
	dir, base := splitLast(p)
	err := br.b.unlink(joinPath(dir, ociWhPrefix+base))
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

func (br *branch) createEmpty(p string) error {
	f, err := br.b.open(p, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// removeAll removes p and, for a dir, everything below it (used on the
// upper only: whiteouts and dirs being replaced or discarded).
func (br *branch) removeAll(p string, isDir bool) error {
	if !isDir {
		err := br.b.unlink(p)
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if tr, ok := br.b.(treeRemover); ok {
		err := tr.removeTree(p)
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if err := br.clearDir(p); err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	err := br.b.rmdir(p)
	if isNotFound(err) {
		return nil
	}
	return err
}

// clearDir removes everything inside the dir p, keeping p. Replacing a
// merge dir that shows no entries but holds whiteouts, the kernel swaps
// it for an empty opaque copy (ovl_clear_empty); as the dir is replaced
// at once after, emptying it in place leaves the same result.
func (br *branch) clearDir(p string) error {
	if tr, ok := br.b.(treeRemover); ok {
		return tr.clearTree(p)
	}
	ents, err := br.b.readDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		cp := joinPath(p, e.Name)
		t := e.Type
		if t == 0 {
			a, err := br.b.lstat(cp)
			if err != nil {
				return err
			}
			t = a.typ()
		}
		if err := br.removeAll(cp, t == syscall.S_IFDIR); err != nil {
			return err
		}
	}
	return nil
}

// hiddenName reports names the overlay never shows from this layer and
// that cannot be created in it (the OCI encoding's reserved ".wh." names).
func (br *branch) hiddenName(name string) bool {
	return br.format == formatOCI && strings.HasPrefix(name, ociWhPrefix)
}
