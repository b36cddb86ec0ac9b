package overlay

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// dotName reports a name that lookup_one_len refuses with EACCES.
func dotName(name string) bool { return name == "." || name == ".." || name == "" }

// branch is a layer as the overlay uses it: the backend plus how the
// layer encodes whiteouts and opaque dirs. Immutable after New.
type branch struct {
	l      *Layer
	b      layer.Reader
	w      *upperDoor // the upper's only; nil for a lower layer
	format format
	prefix string // the private xattr prefix P, for formatKernel
	caps   layer.Caps
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

// xattrMarkers reports whether the layer keeps the overlay's private
// xattrs (origin, impure, redirect, nlink, ...): a layer in the kernel's
// format on a filesystem that holds xattrs.
func (br *branch) xattrMarkers() bool { return br.format == formatKernel && br.caps.Xattr }

// probe looks at p in this layer and classifies it. In the bottom-most
// lower layer opaque markers are not read, as in ovl_lookup's "last layer"
// optimisation.
func (br *branch) probe(p string, bottom bool) (ondisk.Object, error) {
	return br.format.probe(br, p, bottom)
}

func (br *branch) hasXattr(p, suffix string) bool {
	_, err := br.b.Getxattr(p, br.prefix+suffix)
	return err == nil
}

// listDir reads directory p of this layer, in the layer's order, marking
// whiteouts. Kernel format: char 0/0 devices are whiteouts; zero-size
// files carrying P.whiteout only when xwh is set (a lower dir marked
// opaque=x in a merge: elsewhere they show, as on the kernel). OCI
// format: ".wh.NAME" entries become whiteouts of NAME and the reserved
// names are dropped.
func (br *branch) listDir(p string, xwh bool) ([]ondisk.Entry, error) {
	ents, _, err := br.listDirDots(p, xwh, false)
	return ents, err
}

// listDirDots is listDir; with dots it also tells, where the backend can
// (dotsReader), how many of the returned entries the dir lists before "."
// and before ".." (else none: they come first).
func (br *branch) listDirDots(p string, xwh, dots bool) ([]ondisk.Entry, [2]int, error) {
	var ents []layer.DirEnt
	var at [2]int
	var err error
	if dr, ok := br.b.(layer.DotsReader); ok && dots && br.format == formatKernel {
		ents, at, err = dr.ReadDirDots(p)
	} else {
		ents, err = br.b.ReadDir(p)
	}
	if err != nil {
		return nil, at, err
	}
	out, err := br.classify(p, xwh, ents, &at)
	return out, at, err
}

// classify turns a dir's raw entries into layer entries, whiteouts found;
// an entry gone meanwhile is dropped, and the dot counts in at, given for
// the raw entries, are turned into counts of the entries returned.
func (br *branch) classify(p string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]ondisk.Entry, error) {
	return br.format.classify(br, p, xwh, ents, at)
}

// The writing side, used on the upper layer only.

// temp returns a fresh name in the work area, W/work/#N.
func (br *branch) temp() string {
	return fmt.Sprintf("/work/#%x", br.tmp.Add(1))
}

// whiteout puts a whiteout at p, replacing what the upper holds there:
// nothing, a non-dir, or (existing S_IFDIR) a directory whose contents
// are whiteouts at most, so that p is never missing in between.
func (br *branch) whiteout(p string, existing uint32) error {
	return br.format.whiteout(br, p, existing)
}

// renameWhiteout moves sp to dp, replacing what the upper holds at dp
// (dpType: its S_IFMT type, 0 for nothing; a dir must be empty), and
// leaves a whiteout at sp, for a name that lower layers also have. The
// kernel does it in one step, rename with RENAME_WHITEOUT (ovl_rename);
// here too where the backend can. Otherwise no crash may leave sp
// without its whiteout while dp shows the moved object (the object twice,
// or for a dir with a redirect, ESTALE): the kernel format puts a
// whiteout at dp first and then exchanges the two names, so that a crash
// shows the source in place and the target, if any, already removed; the
// OCI format writes the ".wh." file of sp first, which the object at sp
// still shadows.
func (br *branch) renameWhiteout(sp, dp string, dpType uint32) error {
	return br.format.renameWhiteout(br, sp, dp, dpType)
}

// clearEmpty replaces the upper dir p, which shows no entries but may
// hold whiteouts, by an empty opaque dir with its mode, owner, times and
// xattrs (the overlay's own excepted), built in the work dir and
// exchanged with it, as the kernel's ovl_clear_empty: emptying p in
// place would show the lower entries again after a crash midway. Where
// the backend cannot exchange (or in the OCI format, whose opaque marker
// is itself an entry), p is emptied in place.
func (br *branch) clearEmpty(p string) error {
	if br.format == formatOCI || !br.caps.Exchange || !br.caps.Xattr {
		return br.clearDir(p)
	}
	ents, err := br.b.ReadDir(p)
	if err != nil || len(ents) == 0 {
		return err
	}
	a, err := br.b.Lstat(p)
	if err != nil {
		return err
	}
	t := br.temp()
	if err := br.w.mkdir(t, 0o700); err != nil {
		return err
	}
	err = br.copyUserXattrs(p, t)
	if err == nil {
		err = br.setOpaque(t)
	}
	if err == nil {
		err = br.w.lchown(t, int(a.Uid), int(a.Gid))
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EOPNOTSUPP) {
			err = nil
		}
	}
	if err == nil {
		err = br.w.chmod(t, a.Perm())
	}
	if err == nil {
		err = br.w.lutimes(t, a.Atime, a.Mtime)
	}
	if err == nil {
		err = br.w.exchange(t, p)
	}
	if err != nil {
		br.removeAll(t, true)
		return err
	}
	return br.removeAll(t, true) // the old dir and its whiteouts
}

// copyUserXattrs copies the xattrs of the upper object p to q, except
// the overlay's private ones.
func (br *branch) copyUserXattrs(p, q string) error {
	names, err := br.b.Listxattr(p)
	if err != nil {
		return err
	}
	for _, name := range names {
		if strings.HasPrefix(name, br.prefix) && !strings.HasPrefix(name, br.prefix+"overlay.") {
			continue
		}
		v, err := br.b.Getxattr(p, name)
		if err != nil {
			if errors.Is(err, layer.ErrNoData) {
				continue
			}
			return err
		}
		if err := br.w.setxattr(q, name, v); err != nil {
			return err
		}
	}
	return nil
}

// setOpaque marks the upper dir p opaque.
func (br *branch) setOpaque(p string) error {
	return br.format.setOpaque(br, p)
}

func (br *branch) createEmpty(p string) error {
	f, err := br.w.open(p, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// removeAll removes p and, for a dir, everything below it (used on the
// upper only: whiteouts and dirs being replaced or discarded).
func (br *branch) removeAll(p string, isDir bool) error {
	if !isDir {
		err := br.w.unlink(p)
		if layer.IsNotFound(err) {
			return nil
		}
		return err
	}
	if tr, ok := br.w.treeRemover(); ok {
		err := tr.RemoveTree(p)
		if layer.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := br.clearDir(p); err != nil {
		if layer.IsNotFound(err) {
			return nil
		}
		return err
	}
	err := br.w.rmdir(p)
	if layer.IsNotFound(err) {
		return nil
	}
	return err
}

// clearDir removes everything inside the dir p, keeping p. Replacing a
// merge dir that shows no entries but holds whiteouts, the kernel swaps
// it for an empty opaque copy (ovl_clear_empty); as the dir is replaced
// at once after, emptying it in place leaves the same result.
func (br *branch) clearDir(p string) error {
	if tr, ok := br.w.treeRemover(); ok {
		return tr.ClearTree(p)
	}
	ents, err := br.b.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		cp := layer.Join(p, e.Name)
		t := e.Type
		if t == 0 {
			a, err := br.b.Lstat(cp)
			if err != nil {
				return err
			}
			t = a.Type()
		}
		if err := br.removeAll(cp, t == syscall.S_IFDIR); err != nil {
			return err
		}
	}
	return nil
}

// hiddenName reports names the overlay never shows from this layer and
// that cannot be created in it.
func (br *branch) hiddenName(name string) bool { return br.format.hidden(name) }
