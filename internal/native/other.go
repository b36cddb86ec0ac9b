//go:build !linux

package native

import (
	"errors"

	"github.com/go-overlay/overlay/internal/layer"
)

// Supported reports whether native layers work here: they need Linux
// (openat2 and its RESOLVE_* flags).
const Supported = false

// Open fails outside Linux.
func Open(path string) (layer.Backend, error) { return nil, errors.ErrUnsupported }

// CopyData has no fast path outside Linux: the caller copies through a
// buffer.
func CopyData(out, in layer.File, size int64) (CopyHow, error) { return NotCopied, nil }
