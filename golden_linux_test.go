//go:build linux

package overlay_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-overlay/overlay"
)

// tableVariant is one option setting the scenario table runs under, with
// the scenarios it applies to (nil: all).
type tableVariant struct {
	v    variant
	only func(scenario) bool
}

// name names the variant's subtests and golden file.
func (tv tableVariant) name() string {
	if tv.v.name == "" {
		return "defaults"
	}
	return tv.v.name
}

func isRedirectScenario(sc scenario) bool { return strings.HasPrefix(sc.name, "redirect/") }

// tableVariants are every option setting of the kernel comparison. The
// one list drives TestKernelDiff (as root, against a live kernel) and
// TestKernelGolden (anywhere, against the kernel's recorded results).
var tableVariants = []tableVariant{
	{v: variant{}},
	// userxattr: fixtures carry user.overlay.* markers and both sides must
	// honour and write those. The redirect fixtures spell
	// trusted.overlay.redirect out, which under userxattr is an ordinary
	// xattr (userxattr means nofollow).
	{v: variant{name: "userxattr", mountOpts: "userxattr", userxattr: true},
		only: func(sc scenario) bool { return usesMarkers(sc) && !isRedirectScenario(sc) }},
	// redirect_dir=on: merged and lower dirs move by writing redirects, new
	// dirs in merge dirs are opaque, and lookups follow what was written.
	{v: variant{name: "redirect", mountOpts: "redirect_dir=on", redirect: overlay.RedirectOn}},
	{v: variant{name: "nofollow", mountOpts: "redirect_dir=nofollow", redirect: overlay.RedirectNoFollow},
		only: isRedirectScenario},
	{v: metacopyVariant},
	{v: indexVariant},
	{v: variant{name: "volatile", mountOpts: "volatile", volatile: true}},
	// index=on,nfs_export=on: every copy-up is indexed.
	{v: nfsExportVariant},
	// xino=on over layers on two filesystems (lowers on the temp dir's,
	// upper and work on a tmpfs).
	{v: xinoVariant},
	{v: variant{name: "dataonly", dataLayer: true}},
	// The upper and work dirs on a ramfs, which holds no xattrs: the
	// kernel falls back (redirect_dir=nofollow, uuid=null, no index or
	// metacopy) and fails what needs an xattr on the upper (EIO for an
	// opaque dir, EINVAL for a rename that would leave a whiteout); the
	// library must do the same and leave the same upper. Only scenarios
	// whose upper starts empty: an upper fixture's markers need xattrs.
	{v: variant{name: "ramfs", ramfsUpper: true}, only: func(sc scenario) bool {
		s := sc.stack()
		return !sc.ro && s.Upper != nil && len(s.Upper.Entries) == 0
	}},
}

func (tv tableVariant) scenarios() []scenario {
	var out []scenario
	for _, sc := range scenarios {
		if tv.only == nil || tv.only(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// goldenPath is where the kernel's results of a variant are recorded.
func (tv tableVariant) goldenPath() string {
	return filepath.Join("testdata", "kernel", tv.name()+".golden")
}

// recordGolden: OVERLAY_RECORD_GOLDEN=1 makes TestKernelDiff write the
// kernel's results to testdata/kernel instead of checking them against it.
func recordGolden() bool { return os.Getenv("OVERLAY_RECORD_GOLDEN") != "" }

// TestKernelDiff runs every scenario of the table under every option
// setting on the kernel's overlayfs and on the library (over native layers
// built from identical fixtures and over in-memory layers), and checks that
// the kernel still gives the results recorded in testdata/kernel.
func TestKernelDiff(t *testing.T) {
	requireKernel(t)
	for _, tv := range tableVariants {
		t.Run(tv.name(), func(t *testing.T) {
			golden, err := readGolden(tv.goldenPath())
			if err != nil && !recordGolden() {
				t.Fatalf("%v (record it with OVERLAY_RECORD_GOLDEN=1 go test -run TestKernelDiff .)", err)
			}
			got := map[string]goldenResult{}
			for _, sc := range tv.scenarios() {
				t.Run(sc.name, func(t *testing.T) {
					ops := mustOps(sc.ops)
					kr := diffRun(t, tv.v, sc.stack(), ops)
					g := goldenOf(ops, kr)
					got[sc.name] = g
					if want, ok := golden[sc.name]; !recordGolden() && (!ok || want.String() != g.String()) {
						t.Errorf("the kernel's results differ from %s: re-record with OVERLAY_RECORD_GOLDEN=1 go test -run TestKernelDiff .\nrecorded:\n%s\nnow:\n%s", tv.goldenPath(), want, g)
					}
				})
			}
			if recordGolden() {
				if err := writeGolden(tv.goldenPath(), tv.scenarios(), got); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestKernelGolden runs the scenario table on the library over in-memory
// layers under every option setting and compares it with the kernel's
// recorded results: errnos and the merged tree. It needs neither root nor
// a kernel, so the comparison with the kernel holds for every run.
func TestKernelGolden(t *testing.T) {
	for _, tv := range tableVariants {
		if tv.v.userxattr || tv.v.ramfsUpper {
			// The MemFS builder writes trusted.overlay.* markers, and a
			// MemFS holds xattrs.
			continue
		}
		t.Run(tv.name(), func(t *testing.T) {
			golden, err := readGolden(tv.goldenPath())
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range tv.scenarios() {
				t.Run(sc.name, func(t *testing.T) {
					g, ok := golden[sc.name]
					if !ok {
						t.Fatalf("no recorded kernel result in %s: record it as root with OVERLAY_RECORD_GOLDEN=1 go test -run TestKernelDiff .", tv.goldenPath())
					}
					ops := mustOps(sc.ops)
					if len(g.res) != len(ops) {
						t.Fatalf("%s records %d results for %d ops: re-record it", tv.goldenPath(), len(g.res), len(ops))
					}
					kr := kernelResult{portable: g.portable}
					for _, r := range g.res {
						kr.res = append(kr.res, opResult{res: r})
					}
					memDiff(t, tv.v, sc.stack(), ops, kr.asOwner())
				})
			}
		})
	}
}

// asOwner rewrites the owner the kernel's objects got when recorded (root)
// as the owner this process gives new objects, so that the comparison
// holds for a run as another user.
func (r kernelResult) asOwner() kernelResult {
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 && gid == 0 {
		return r
	}
	fix := func(s string) string {
		s = uidRE.ReplaceAllString(s, fmt.Sprintf("uid=%d", uid))
		return gidRE.ReplaceAllString(s, fmt.Sprintf("gid=%d", gid))
	}
	res := make([]opResult, len(r.res))
	for i, o := range r.res {
		o.res = fix(o.res)
		res[i] = o
	}
	r.res = res
	r.portable = fix(r.portable)
	return r
}

// The owner ids the kernel gave new objects (fixtures never name 0).
var uidRE, gidRE = regexp.MustCompile(`\buid=0\b`), regexp.MustCompile(`\bgid=0\b`)

// goldenResult is what the kernel did for one scenario: each op's result,
// and the merged tree without what differs between backends.
type goldenResult struct {
	res      []string
	portable string
}

func goldenOf(ops []op, kr kernelResult) goldenResult {
	g := goldenResult{portable: kr.portable}
	for _, r := range kr.res {
		g.res = append(g.res, r.res)
	}
	return g
}

func (g goldenResult) String() string {
	var b strings.Builder
	for _, r := range g.res {
		fmt.Fprintf(&b, "op %s\n", strconv.Quote(r))
	}
	for _, line := range strings.Split(strings.TrimRight(g.portable, "\n"), "\n") {
		if line != "" {
			fmt.Fprintf(&b, "tree %s\n", line)
		}
	}
	return b.String()
}

const goldenHeader = `# The kernel's results for the scenario table (scenarios_test.go) under
# one option setting, recorded from a live overlayfs mount by
#	OVERLAY_RECORD_GOLDEN=1 go test -run TestKernelDiff .
# TestKernelGolden holds the library to them without root; TestKernelDiff
# fails when the kernel no longer gives them.
`

func writeGolden(path string, scs []scenario, got map[string]goldenResult) error {
	var b strings.Builder
	b.WriteString(goldenHeader)
	for _, sc := range scs {
		g, ok := got[sc.name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n=== %s\n%s", sc.name, g)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func readGolden(path string) (map[string]goldenResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]goldenResult{}
	var name string
	var cur *goldenResult
	var tree strings.Builder
	flush := func() {
		if cur != nil {
			cur.portable = tree.String()
			out[name] = *cur
		}
		tree.Reset()
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "=== "):
			flush()
			name, cur = strings.TrimPrefix(line, "=== "), &goldenResult{}
		case cur != nil && strings.HasPrefix(line, "op "):
			r, err := strconv.Unquote(strings.TrimPrefix(line, "op "))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n, err)
			}
			cur.res = append(cur.res, r)
		case cur != nil && strings.HasPrefix(line, "tree "):
			tree.WriteString(strings.TrimPrefix(line, "tree ") + "\n")
		default:
			return nil, fmt.Errorf("%s:%d: unexpected line %q", path, n, line)
		}
	}
	flush()
	return out, sc.Err()
}
