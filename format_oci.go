package overlay

import (
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// ociFormat is the OCI image-layer format, for layers that hold neither
// device nodes nor xattrs.
type ociFormat struct{}

func (ociFormat) String() string { return "oci" }

func (ociFormat) probe(br *branch, p string, bottom bool) (ondisk.Object, error) {
	return ondisk.ProbeOCI(br.b, p, bottom)
}

func (ociFormat) classify(br *branch, p string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]ondisk.Entry, error) {
	*at = [2]int{}
	return ondisk.ClassifyOCI(ents, make([]ondisk.Entry, 0, len(ents))), nil
}

// whiteout writes the ".wh." file of p, then removes what p holds.
func (ociFormat) whiteout(br *branch, p string, existing uint32) error {
	if err := br.createEmpty(ondisk.OCIWhiteout(p)); err != nil {
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
	wh := ondisk.OCIWhiteout(sp)
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
	return br.createEmpty(layer.Join(p, ondisk.OCIOpaque))
}

func (ociFormat) hidden(name string) bool { return strings.HasPrefix(name, ondisk.OCIWhiteoutPrefix) }

// clearWhiteoutOCI removes the OCI whiteout file for p, once a new
// object stands at p (the object in the same layer already hides the lower
// ones, so a crash in between leaves a valid layer).
func (br *branch) clearWhiteoutOCI(p string) error {
	err := br.w.unlink(ondisk.OCIWhiteout(p))
	if err != nil && !layer.IsNotFound(err) {
		return err
	}
	return nil
}
