//go:build linux

package overlay

import "github.com/go-overlay/overlay/internal/native"

// ForceProcXattrs makes the DirLayers opened until restore is called reach
// xattrs through /proc/self/fd, as on kernels without getxattrat(2). Not
// for parallel tests.
func ForceProcXattrs() (restore func()) { return native.ForceXattrAccess("", true) }
