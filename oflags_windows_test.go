//go:build windows

package overlay_test

// The open flags of scenarios that the os package does not name: the
// library's own values on Windows.
const (
	oDirectory = 0x40000000
	oNoFollow  = 0x20000000
)
