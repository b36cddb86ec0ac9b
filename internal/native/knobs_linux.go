package native

// Knobs for tests of the packages that use native layers: they change how
// layers opened afterwards behave, and are not for parallel tests.

// ForceXattrAccess makes the layers opened until restore is called look
// for /proc/self/fd at procDir ("" for the real one), and never use the
// *xattrat calls when noAt is set, as on kernels without getxattrat(2).
func ForceXattrAccess(procDir string, noAt bool) (restore func()) {
	old := xattrProbe
	if procDir == "" {
		procDir = procSelfFD
	}
	xattrProbe.procDir, xattrProbe.noAt = procDir, noAt
	return func() { xattrProbe = old }
}
