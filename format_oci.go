package overlay

import (
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// The OCI image-layer names : ".wh.NAME" deletes NAME from
// the layers below, ".wh..wh..opq" makes its directory opaque, and every
// other name beginning ".wh..wh." is reserved metadata (AUFS's), never
// shown. Layers in the OCI format never show any ".wh." name.
const (
	ociWhPrefix = ".wh."
	ociOpaque   = ".wh..wh..opq"
	ociMeta     = ".wh..wh."
)

// ociFormat is the OCI image-layer format, for layers that hold neither
// device nodes nor xattrs.
type ociFormat struct{}

func (ociFormat) String() string { return "oci" }

func (ociFormat) probe(br *branch, p string, bottom bool) (ondisk.Object, error) {
	dir, base := splitLast(p)
	if strings.HasPrefix(base, ociWhPrefix) {
		return ondisk.Object{}, nil
	}
	a, err := br.b.Lstat(p)
	if err == nil {
		o := ondisk.Object{Kind: ondisk.Present, Attr: a}
		if a.IsDir() && !bottom {
			if _, err := br.b.Lstat(joinPath(p, ociOpaque)); err == nil {
				o.Opaque = true
			}
		}
		return o, nil
	}
	if !isNotFound(err) {
		return ondisk.Object{}, err
	}
	if _, err := br.b.Lstat(joinPath(dir, ociWhPrefix+base)); err == nil {
		return ondisk.Object{Kind: ondisk.Whiteout}, nil
	}
	return ondisk.Object{}, nil
}

func (ociFormat) classify(br *branch, p string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]ondisk.Entry, error) {
	*at = [2]int{}
	return listOCI(ents, make([]ondisk.Entry, 0, len(ents))), nil
}

// listOCI classifies the entries of an OCI-format dir. An object and the
// ".wh." file of its own name may stand side by side in one layer (a
// crash between the steps of a rename or a creation over a whiteout); the
// object wins, as on lookup.
func listOCI(ents []layer.DirEnt, out []ondisk.Entry) []ondisk.Entry {
	var objs map[string]bool
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ociMeta) {
			continue
		}
		if strings.HasPrefix(e.Name, ociWhPrefix) {
			out = append(out, ondisk.Entry{Name: e.Name[len(ociWhPrefix):], Whiteout: true})
			continue
		}
		if objs == nil {
			objs = make(map[string]bool)
		}
		objs[e.Name] = true
		out = append(out, ondisk.Entry{Name: e.Name, Type: e.Type})
	}
	if len(objs) == len(out) {
		return out
	}
	keep := out[:0]
	for _, le := range out {
		if !le.Whiteout || !objs[le.Name] {
			keep = append(keep, le)
		}
	}
	return keep
}

// whiteout writes the ".wh." file of p, then removes what p holds.
func (ociFormat) whiteout(br *branch, p string, existing uint32) error {
	dir, base := splitLast(p)
	if err := br.createEmpty(joinPath(dir, ociWhPrefix+base)); err != nil {
		return err
	}
	if existing != syscall.S_IFDIR || !br.caps.WorkArea {
		return br.removeAll(p, existing == syscall.S_IFDIR)
	}
	// The dir shadows the new ".wh." file until it goes, and goes in
	// one step: moved into the work dir, emptied there. Emptied in
	// place, a crash would show the lower entries its own ".wh."
	// files hid.
	t := br.temp()
	if err := br.w.rename(p, t); err != nil {
		return err
	}
	return br.removeAll(t, true)
}

// renameWhiteout writes the ".wh." file of sp first, which the object at
// sp still shadows, then renames.
func (ociFormat) renameWhiteout(br *branch, sp, dp string, dpType uint32) error {
	dir, base := splitLast(sp)
	wh := joinPath(dir, ociWhPrefix+base)
	if err := br.createEmpty(wh); err != nil {
		return err
	}
	if err := br.w.rename(sp, dp); err != nil {
		br.w.unlink(wh)
		return err
	}
	return br.clearWhiteoutOCI(dp)
}

func (ociFormat) setOpaque(br *branch, p string) error {
	return br.createEmpty(joinPath(p, ociOpaque))
}

func (ociFormat) hidden(name string) bool { return strings.HasPrefix(name, ociWhPrefix) }

// clearWhiteoutOCI removes the OCI whiteout file for p, once a new
// object stands at p (the object in the same layer already hides the lower
// ones, so a crash in between leaves a valid layer).
func (br *branch) clearWhiteoutOCI(p string) error {
	dir, base := splitLast(p)
	err := br.w.unlink(joinPath(dir, ociWhPrefix+base))
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
