package overlay

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/go-overlay/overlay/internal/native"
)

// DirLayer returns a layer on the host directory dir, in the kernel's
// on-disk format (char 0/0 whiteouts, trusted.overlay.* xattrs). All access
// is confined beneath dir: symlinks inside it are never followed and
// nothing outside it is ever read or written. The directory stays open
// until the layer is closed. It needs Linux (openat2 and its RESOLVE_*
// flags); on other systems it fails with an error wrapping
// [errors.ErrUnsupported].
func DirLayer(dir string) (*Layer, error) {
	if !native.Supported {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: errors.ErrUnsupported}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	rp, err := filepath.EvalSymlinks(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fs.PathError{Op: "open", Path: dir, Err: pe.Err}
		}
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	nb, err := native.Open(rp)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Layer{b: nb, format: formatKernel, desc: "dir " + rp}, nil
}
