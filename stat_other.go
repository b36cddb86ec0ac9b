//go:build !linux

package overlay

import "github.com/go-overlay/overlay/internal/layer"

// statT returns nil outside Linux: the fields of syscall.Stat_t differ per
// platform, and the overlay's numbers follow Linux's rules.
func statT(a *layer.Attr) any { return nil }

// processUmask assumes the usual 022 where it cannot be read portably.
func processUmask() uint32 { return 0o022 }
