//go:build linux

package overlay_test

import (
	"testing"

	"github.com/go-overlay/overlay"
)

// Hard-linked lower files under the option settings that index them:
// the link counts, data and inode numbers of every name, and the times of
// the parents the copy-ups link into, compared with the kernel; each side
// then opens the other's upper.

const fixHardlinks = `
-- lower1 --
dir d
file h1 "data"
hardlink h2 = h1
hardlink d/h3 = h1
file p1 "pair"
hardlink d/p2 = p1
file single "s"
`

var hardlinkScenarios = []scenario{
	{name: "hardlink/stat-all", fix: fixHardlinks, ops: `
stat h1
stat h2
stat d/h3
stat p1
stat d/p2
stat single`},
	{name: "hardlink/write-keeps-parent-times", fix: fixHardlinks, ops: `
chtimes . 1000 1500000000
chtimes d 1000 1500000000
appendfile h1 "+w"
mtime .
mtime d
stat h1
stat h2
stat d/h3
chmod d/h3 0600
mtime d
mtime .
stat h2
readfile h2
readfile d/h3`},
	{name: "hardlink/chmod-some-names", fix: fixHardlinks, ops: `
chmod h1 0600
chmod d/p2 0640
stat h1
stat h2
stat d/h3
stat p1
stat d/p2
readfile h2
readfile p1`},
	{name: "hardlink/write-then-chmod-other", fix: fixHardlinks, ops: `
appendfile h2 "+2"
chmod d/h3 0600
chmod h1 0640
readfile h1
readfile h2
readfile d/h3
stat h1
stat d/h3`},
	{name: "hardlink/chmod-then-write", fix: fixHardlinks, ops: `
chmod h1 0600
appendfile d/h3 "+3"
readfile h1
readfile h2
readfile d/h3
stat h2`},
	{name: "hardlink/remove-and-link", fix: fixHardlinks, ops: `
chmod h1 0600
remove h2
stat h1
link d/h3 d/h4
stat d/h4
remove p1
stat d/p2
readfile d/p2`},
}

// metacopyIndexVariant is metacopy=on with index=on, on a tmpfs.
var metacopyIndexVariant = variant{name: "metacopy-index", mountOpts: "redirect_dir=on,metacopy=on,index=on",
	redirect: overlay.RedirectOn, metacopy: true, index: true, tmpfs: true}

// nfsExportNlinkVariant is nfs_export with every link count compared (the
// scenarios here leave no copied-up file of one link, whose count the
// kernel shows two ways; doc.go).
var nfsExportNlinkVariant = variant{name: "nfs_export", mountOpts: "index=on,nfs_export=on", index: true, nfsExport: true, tmpfs: true}

// TestKernelDiffHardlinks runs the hard-link scenarios with index=on,
// metacopy=on,index=on and nfs_export=on.
func TestKernelDiffHardlinks(t *testing.T) {
	requireKernel(t)
	diffTable(t, []variant{{}, indexVariant, metacopyIndexVariant, nfsExportNlinkVariant}, hardlinkScenarios, nil, nil)
}
