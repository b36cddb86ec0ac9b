package ondisk

import (
	"strings"

	"github.com/go-overlay/overlay/internal/layer"
)

// The OCI image-layer names: ".wh.NAME" deletes NAME from the layers
// below, ".wh..wh..opq" makes its dir opaque, and every other name
// beginning ".wh..wh." is reserved metadata (AUFS's), never shown. A layer
// in the OCI format never shows any ".wh." name.
const (
	OCIWhiteoutPrefix = ".wh."
	OCIOpaque         = ".wh..wh..opq"
	OCIMeta           = ".wh..wh."
)

// OCIWhiteout is the name of the whiteout file of p.
func OCIWhiteout(p string) string {
	dir, base := layer.Split(p)
	return layer.Join(dir, OCIWhiteoutPrefix+base)
}

// ProbeOCI reads the object at p of a layer in the OCI format through r.
// In the bottom-most lower layer opaque markers are not read.
func ProbeOCI(r layer.StatReader, p string, bottom bool) (Object, error) {
	_, base := layer.Split(p)
	if strings.HasPrefix(base, OCIWhiteoutPrefix) {
		return Object{}, nil
	}
	a, err := r.Lstat(p)
	if err == nil {
		o := Object{Kind: Present, Attr: a}
		if a.IsDir() && !bottom {
			if _, err := r.Lstat(layer.Join(p, OCIOpaque)); err == nil {
				o.Opaque = true
			}
		}
		return o, nil
	}
	if !layer.IsNotFound(err) {
		return Object{}, err
	}
	if _, err := r.Lstat(OCIWhiteout(p)); err == nil {
		return Object{Kind: Whiteout}, nil
	}
	return Object{}, nil
}

// ClassifyOCI marks the entries of a dir in the OCI format, appending
// them to out: ".wh.NAME" becomes a whiteout of NAME, reserved names are
// left out. An object and the ".wh." file of its own name may stand side
// by side in one layer (a crash between the steps of a rename or of a
// creation over a whiteout); the object wins, as on lookup.
func ClassifyOCI(ents []layer.DirEnt, out []Entry) []Entry {
	var objs map[string]bool
	for _, e := range ents {
		if strings.HasPrefix(e.Name, OCIMeta) {
			continue
		}
		if strings.HasPrefix(e.Name, OCIWhiteoutPrefix) {
			out = append(out, Entry{Name: e.Name[len(OCIWhiteoutPrefix):], Whiteout: true})
			continue
		}
		if objs == nil {
			objs = make(map[string]bool)
		}
		objs[e.Name] = true
		out = append(out, Entry{Name: e.Name, Type: e.Type})
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
