//go:build linux

package overlay

// ForceProcXattrs makes the DirLayers opened until restore is called reach
// xattrs through /proc/self/fd, as on kernels without getxattrat(2). Not
// for parallel tests.
func ForceProcXattrs() (restore func()) {
	old := xattrProbe.noAt
	xattrProbe.noAt = true
	return func() { xattrProbe.noAt = old }
}
