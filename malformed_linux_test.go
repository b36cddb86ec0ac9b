//go:build linux

package overlay_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-overlay/overlay"
)

// The malformed table: private xattrs of every malformed shape, written by
// hand into the layers, run under the option settings that read them and
// compared with the kernel (results, errnos, merged tree and the upper dir
// afterwards), as every scenario of the shared table is.

// malformedFileOps is the fixed set of operations run on a file X in dir D.
func malformedFileOps(d, x string) string {
	r := strings.NewReplacer("D/", d, "X", x)
	return r.Replace(`
lstat X
readfile X
readdir D.
listxattr X
chmod X 0640
stat X
readfile X
rename X D/moved
readfile D/moved
appendfile D/moved "+"
readfile D/moved
link D/moved D/linked
stat D/linked
remove D/moved
readdir D.`)
}

// malformedDirOps is the fixed set of operations run on a dir X in the root.
var malformedDirOps = dirOpsAt("")

// dirOpsAt is malformedDirOps on the dir X in dir d ("" or "p/").
func dirOpsAt(d string) string {
	r := strings.NewReplacer("X", d+"X", "readdir .", "readdir "+d+".")
	return r.Replace(`
stat X
readdir X
readfile X/own
readfile X/t
writefile X/new "n"
mkdir X/sub
readdir X
rename X X2
readdir X2
removeall X2
readdir .
stat X`)
}

// metacopyValues are values of the metacopy xattr, well-formed and not.
var metacopyValues = []struct{ name, v string }{
	{"empty", ""},
	{"len1", "\x00"},
	{"len2", "\x00\x04"},
	{"len3", "\x00\x04\x00"},
	{"len4", "\x00\x04\x00\x00"},
	{"bad-version", "\x01\x04\x00\x00"},
	{"bad-version-ff", "\xff\x04\x00\x00"},
	{"bad-len", "\x00\x05\x00\x00"},
	{"bad-len-short", "\x00\x02\x00\x00"},
	{"bad-flags", "\x00\x04\x07\x00"},
	{"algo-no-digest", "\x00\x04\x00\x01"},
	{"short-digest", "\x00\x06\x00\x01\xaa\xbb"},
	{"sha256-digest", "\x00\x24\x00\x01" + strings.Repeat("\xab", 32)},
	{"unknown-algo", "\x00\x08\x00\x09abcd"},
	{"too-long", "\x00\x45\x00\x02" + strings.Repeat("\xcd", 65)},
	{"very-long", strings.Repeat("\x00", 200)},
}

// redirectValues are values of the redirect xattr, well-formed and not.
var redirectValues = []struct{ name, v string }{
	{"relative", "tgt"},
	{"absolute", "/tgt"},
	{"empty", ""},
	{"nul", "\x00"},
	{"nul-inside", "tgt\x00junk"},
	{"nul-first", "\x00tgt"},
	{"abs-nul-inside", "/tgt\x00/x"},
	{"dot", "."},
	{"dotdot", ".."},
	{"relative-slash", "a/b"},
	{"slash", "/"},
	{"double-slash", "//"},
	{"abs-double-slash", "/tgt//x"},
	{"trailing-slash", "/tgt/"},
	{"abs-dotdot", "/../x"},
	{"abs-dot", "/./tgt"},
	{"abs-dotdot-tgt", "/tgt/../tgt"},
	{"long-component", strings.Repeat("a", 300)},
	{"abs-long-component", "/" + strings.Repeat("a", 300)},
	{"long-absolute", strings.Repeat("/aaaaaaaaaa", 360)},
	{"missing", "nothere"},
	{"self", "r"},
}

var opaqueValues = []struct{ name, v string }{
	{"empty", ""}, {"n", "n"}, {"yy", "yy"}, {"x", "x"}, {"Y", "Y"}, {"y-nul", "y\x00"},
}

// originValues are values of the origin xattr on a copied-up file.
var originValues = []struct{ name, v string }{
	{"empty", ""},
	{"one-byte", "\x00"},
	{"truncated", "\x00\xfb\x1d\x00\x01"},
	{"header-only", "\x00\xfb\x15\x00\x01" + strings.Repeat("\x11", 16)},
	{"bad-version", "\x01\xfb\x1d\x00\x01" + strings.Repeat("\x11", 16) + "\x25\x00\x00\x00\x12\x28\x9f\x7d"},
	{"bad-magic", "\x00\xfa\x1d\x00\x01" + strings.Repeat("\x11", 16) + "\x25\x00\x00\x00\x12\x28\x9f\x7d"},
	{"bad-len", "\x00\xfb\x30\x00\x01" + strings.Repeat("\x11", 16) + "\x25\x00\x00\x00\x12\x28\x9f\x7d"},
	{"bad-flags", "\x00\xfb\x1d\x80\x01" + strings.Repeat("\x11", 16) + "\x25\x00\x00\x00\x12\x28\x9f\x7d"},
	{"wrong-uuid", "\x00\xfb\x1d\x00\x01" + strings.Repeat("\x11", 16) + "\x25\x00\x00\x00\x12\x28\x9f\x7d"},
	{"odd-fid", "\x00\xfb\x1a\x00\x01" + strings.Repeat("\x11", 16) + "\x25\x00\x00\x00\x12"},
}

// malformedVariants are the option settings the table runs under.
var malformedVariants = []variant{
	{},
	metacopyVariant,
	indexVariant,
	{name: "redirect", mountOpts: "redirect_dir=on", redirect: overlay.RedirectOn},
	{name: "nofollow", mountOpts: "redirect_dir=nofollow", redirect: overlay.RedirectNoFollow},
	metacopyIndexVariant,
	nfsExportVariant,
	// The fixtures' trusted.overlay.* xattrs become user.overlay.*.
	{name: "userxattr", mountOpts: "userxattr", userxattr: true},
}

// malformedSettings names, for each family of the table, the settings
// that read its xattrs differently ("" is the defaults), to keep the
// table's run time down.
var malformedSettings = map[string][]string{
	"metacopy-upper":        {"", "metacopy", "metacopy-index", "userxattr"},
	"metacopy-lower":        {"", "metacopy", "metacopy-index", "userxattr"},
	"metacopy-redirect":     {"", "metacopy", "metacopy-index"},
	"redirect-lower":        {"", "redirect", "nofollow", "metacopy", "userxattr"},
	"redirect-lower-only":   {"", "redirect", "nofollow"},
	"redirect-upper":        {"", "redirect", "nofollow", "metacopy", "userxattr"},
	"redirect-upper-pure":   {"", "redirect", "nofollow"},
	"redirect-upper-opaque": {"", "redirect", "nofollow"},
	"opaque-upper":          {"", "redirect", "index", "userxattr"},
	"opaque-lower":          {"", "redirect", "index", "userxattr"},
	"origin-upper":          {"", "index", "nfs_export", "metacopy-index", "userxattr"},
	"origin-upper-dir":      {"", "index", "nfs_export", "redirect"},
	"xwhiteout":             {"", "metacopy", "index", "nfs_export", "userxattr"},
	"nlink-upper":           {"", "index", "nfs_export"},
}

// malformedScenarios builds the table.
func malformedScenarios() []scenario {
	var sc []scenario
	q := strconv.Quote
	for _, m := range metacopyValues {
		sc = append(sc, scenario{name: "metacopy-upper/" + m.name, fix: `
-- lower1 --
file f "lowerdata"
-- upper --
file f "UPPERDATA"
xattr f trusted.overlay.metacopy ` + q(m.v), ops: malformedFileOps("", "f")})
		sc = append(sc, scenario{name: "metacopy-lower/" + m.name, fix: `
-- lower1 --
dir d
file d/f "midlayer!"
xattr d/f trusted.overlay.metacopy ` + q(m.v) + `
-- lower2 --
dir d
file d/f "lowerdata"
`, ops: malformedFileOps("d/", "d/f")})
	}
	// A metacopy file's redirect names where its data is.
	for _, r := range []struct{ name, v string }{
		{"relative", "g"}, {"absolute", "/d/g"}, {"empty", ""}, {"nul", "\x00"}, {"dot", "."},
		{"dotdot", ".."}, {"relative-slash", "d/g"}, {"trailing-slash", "/d/g/"}, {"abs-dotdot", "/d/../g"},
		{"to-dir", "/d"}, {"missing", "/nothere"}, {"long-component", strings.Repeat("g", 300)},
	} {
		sc = append(sc, scenario{name: "metacopy-redirect/" + r.name, fix: `
-- lower1 --
dir d
file d/f "f-data"
file d/g "g-data"
-- upper --
dir d
file d/f "UPPER"
xattr d/f trusted.overlay.metacopy ""
xattr d/f trusted.overlay.redirect ` + q(r.v) + `
`, ops: malformedFileOps("d/", "d/f")})
	}
	sc = append(sc, scenario{name: "metacopy-upper/on-dir", fix: `
-- lower1 --
dir X
file X/t "t"
-- upper --
dir X
file X/own "o"
xattr X trusted.overlay.metacopy ""
`, ops: malformedDirOps})
	sc = append(sc, scenario{name: "metacopy-upper/no-lower", fix: `
-- lower1 --
file g "g"
-- upper --
file f "UPPERDATA"
xattr f trusted.overlay.metacopy ""
`, ops: malformedFileOps("", "f")})
	for _, r := range redirectValues {
		sc = append(sc, scenario{name: "redirect-lower/" + r.name, fix: `
-- lower1 --
dir X
xattr X trusted.overlay.redirect ` + q(r.v) + `
file X/own "own"
-- lower2 --
dir X
file X/below "below"
dir tgt
file tgt/t "t"
`, ops: malformedDirOps})
		// In a dir of the top lower only: with redirect_dir=nofollow its
		// redirect is in the last layer searched, and not read.
		sc = append(sc, scenario{name: "redirect-lower-only/" + r.name, fix: `
-- lower1 --
dir p
dir p/X
xattr p/X trusted.overlay.redirect ` + q(r.v) + `
file p/X/own "own"
-- lower2 --
dir tgt
file tgt/t "t"
`, ops: dirOpsAt("p/")})
		sc = append(sc, scenario{name: "redirect-upper-pure/" + r.name, fix: `
-- lower1 --
dir X
file X/below "below"
-- upper --
dir p
dir p/X
xattr p/X trusted.overlay.redirect ` + q(r.v) + `
file p/X/own "own"
`, ops: dirOpsAt("p/")})
		sc = append(sc, scenario{name: "redirect-upper-opaque/" + r.name, fix: `
-- lower1 --
dir X
file X/below "below"
dir tgt
file tgt/t "t"
-- upper --
dir X
xattr X trusted.overlay.redirect ` + q(r.v) + `
opaque X
file X/own "own"
whiteout tgt
`, ops: malformedDirOps})
		sc = append(sc, scenario{name: "redirect-upper/" + r.name, fix: `
-- lower1 --
dir X
file X/below "below"
dir tgt
file tgt/t "t"
-- upper --
dir X
xattr X trusted.overlay.redirect ` + q(r.v) + `
file X/own "own"
# As a rename with redirect_dir=on leaves it: the target's own name
# whited out (two overlay dirs merging one lower dir are ESTALE on the
# kernel while both are cached; doc.go).
whiteout tgt
`, ops: malformedDirOps})
	}
	for _, o := range opaqueValues {
		sc = append(sc, scenario{name: "opaque-upper/" + o.name, fix: `
-- lower1 --
dir X
file X/t "t"
-- upper --
dir X
xattr X trusted.overlay.opaque ` + q(o.v) + `
file X/own "o"
`, ops: malformedDirOps})
		sc = append(sc, scenario{name: "opaque-lower/" + o.name, fix: `
-- lower1 --
dir X
xattr X trusted.overlay.opaque ` + q(o.v) + `
file X/own "o"
-- lower2 --
dir X
file X/t "t"
`, ops: malformedDirOps})
	}
	sc = append(sc, scenario{name: "opaque-upper/x-on-file", fix: `
-- lower1 --
file f "lowerdata"
-- upper --
file f "upper"
xattr f trusted.overlay.opaque "x"
`, ops: malformedFileOps("", "f")})
	sc = append(sc, scenario{name: "opaque-upper/y-on-file", fix: `
-- lower1 --
file f "lowerdata"
-- upper --
file f "upper"
xattr f trusted.overlay.opaque "y"
`, ops: malformedFileOps("", "f")})
	for _, o := range originValues {
		sc = append(sc, scenario{name: "origin-upper/" + o.name, fix: `
-- lower1 --
file f "lowerdata"
-- upper --
file f "upperdata"
xattr f trusted.overlay.origin ` + q(o.v), ops: malformedFileOps("", "f")})
		sc = append(sc, scenario{name: "origin-upper-dir/" + o.name, fix: `
-- lower1 --
dir X
file X/t "t"
-- upper --
dir X
xattr X trusted.overlay.origin ` + q(o.v) + `
file X/own "o"
`, ops: malformedDirOps})
	}
	// Xattr whiteouts where they are not whiteouts, or not listed.
	sc = append(sc,
		scenario{name: "xwhiteout/upper-dir", fix: `
-- lower1 --
dir X
file X/t "t"
-- upper --
dir X
xattr X trusted.overlay.whiteout "y"
file X/own "o"
`, ops: malformedDirOps},
		scenario{name: "xwhiteout/lower-dir", fix: `
-- lower1 --
dir X
xattr X trusted.overlay.whiteout "y"
file X/own "o"
-- lower2 --
dir X
file X/t "t"
`, ops: malformedDirOps},
		scenario{name: "xwhiteout/upper-nonempty-file", fix: `
-- lower1 --
file f "lowerdata"
-- upper --
file f "upper"
xattr f trusted.overlay.whiteout "y"
`, ops: malformedFileOps("", "f")},
		scenario{name: "xwhiteout/upper-empty-file", fix: `
-- lower1 --
dir d
file d/f "lowerdata"
file d/g "g"
-- upper --
dir d
file d/f ""
xattr d/f trusted.overlay.whiteout ""
`, ops: malformedFileOps("d/", "d/f") + `
writefile d/f "again"
readfile d/f
readdir d`},
		scenario{name: "xwhiteout/lower-nonempty-file", fix: `
-- lower1 --
dir d
file d/f "mid"
xattr d/f trusted.overlay.whiteout "y"
-- lower2 --
dir d
file d/f "lowerdata"
`, ops: malformedFileOps("d/", "d/f")},
		scenario{name: "xwhiteout/lower-empty-no-x", fix: `
-- lower1 --
dir d
file d/f ""
xattr d/f trusted.overlay.whiteout "y"
-- lower2 --
dir d
file d/f "lowerdata"
file d/g "g"
`, ops: malformedFileOps("d/", "d/f") + `
writefile d/f "again"
readfile d/f
readdir d`},
		scenario{name: "xwhiteout/symlink", fix: `
-- lower1 --
dir d
link d/f -> g
xattr d/f trusted.overlay.whiteout "y"
-- lower2 --
dir d
file d/f "lowerdata"
file d/g "g"
`, ops: `
lstat d/f
readdir d
readfile d/f`},
	)
	// The nlink xattr, malformed, on a file of one link.
	for _, v := range []string{"", "U", "U+", "U+x", "X+1", "U-5", "L+1", "U+100", "U+1\x00", "1234567890123"} {
		sc = append(sc, scenario{name: "nlink-upper/" + q(v), fix: `
-- lower1 --
file f "lowerdata"
-- upper --
file f "upperdata"
xattr f trusted.overlay.nlink ` + q(v), ops: malformedFileOps("", "f")})
	}
	return sc
}

// TestKernelDiffMalformed runs the malformed table under every option
// setting that reads the xattrs.
func TestKernelDiffMalformed(t *testing.T) {
	requireKernel(t)
	var vs []variant
	for _, v := range malformedVariants {
		v.tmpfs = true // faster to mount and unmount than the temp dir's filesystem
		vs = append(vs, v)
	}
	diffTable(t, vs, malformedScenarios(), func(v variant, sc scenario) (scenario, bool) {
		family, _, _ := strings.Cut(sc.name, "/")
		settings, ok := malformedSettings[family]
		if !ok {
			t.Fatalf("%s: no settings for family %q", sc.name, family)
		}
		if !slices.Contains(settings, v.name) {
			return sc, false
		}
		if v.userxattr {
			if sc.name == "xwhiteout/symlink" {
				return sc, false // user.* xattrs cannot go on a symlink
			}
			sc.fix = strings.ReplaceAll(sc.fix, "trusted.overlay.", "user.overlay.")
		}
		return sc, true
	}, nil)
}
