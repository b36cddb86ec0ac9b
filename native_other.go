//go:build !linux

package overlay

import (
	"errors"
	"io/fs"
)

// DirLayer returns a layer on the host directory dir, in the kernel's
// on-disk format. It needs Linux (openat2 and its RESOLVE_* flags); on
// other systems it fails with an error wrapping [errors.ErrUnsupported].
func DirLayer(dir string) (*Layer, error) {
	return nil, &fs.PathError{Op: "open", Path: dir, Err: errors.ErrUnsupported}
}
