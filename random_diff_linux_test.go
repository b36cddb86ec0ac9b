//go:build linux

package overlay_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
)

// randomSeeds are the fixed seeds of TestRandomDiff; each one is a fixture
// and a script, replayable by its subtest name. After 1..20 come seeds
// that once showed a difference from the kernel in a long run (-seeds N),
// kept as regression cases.
var randomSeeds = []uint64{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
	23, 116, 134, 146, 210, 219, 240, 314, 374, 388, 437, 438, 458, 495,
	628, 783, 787, 1384, 1844, 2036, 2130, 2302, 2732, 3382, 3493, 4985,
}

// randomOps is the number of operations per seed.
const randomOps = 40

// Name pools: small, so that random operations collide with each other
// and with the fixture.
var (
	randTop   = []string{"a", "b", "c", "f", "g"}
	randChild = []string{"x", "y", "z", "d"}
)

// randomFixture generates a stack of 1 to 4 lower layers and an upper
// (none for a read-only variant), with files, hard-link groups, dirs,
// symlinks, whiteouts, opaque dirs, redirects and xattrs, in the layertest
// format. It also returns the paths it used, for the script.
func randomFixture(r, ro *rand.Rand, v variant) (string, []string) {
	var b strings.Builder
	// own gives a file or dir, now and then, another owner and mode, for
	// the ops a script runs as another user (drawn from ro, so that the
	// rest of a seed's fixture stays as it was before owners came in).
	own := func(dir bool) string {
		if ro.IntN(3) != 0 {
			return ""
		}
		modes := []string{"0600", "0640", "0644", "0666"}
		if dir {
			modes = []string{"0700", "0755", "0775", "01777", "0555"}
		}
		ids := []string{"", " uid=1000 gid=1000", " uid=1001 gid=1000", " gid=1000"}
		return " " + modes[ro.IntN(len(modes))] + ids[ro.IntN(len(ids))]
	}
	var paths []string
	nl := 1 + r.IntN(4)
	if v.readOnly && nl == 1 {
		nl = 2 // without an upper the kernel wants two lowers
	}
	prefix := v.dirOptions().Prefix()
	layer := func(name string, bottom bool) {
		fmt.Fprintf(&b, "-- %s --\n", name)
		var files, free []string // this layer's files; names it left absent
		var entry func(p string, depth int)
		entry = func(p string, depth int) {
			k := r.IntN(10)
			if k >= 2 {
				paths = append(paths, p)
			}
			switch {
			case k < 2: // absent
				free = append(free, p)
			case k < 5:
				fmt.Fprintf(&b, "file %q %q%s\n", p, name+":"+p, own(false))
				files = append(files, p)
				if r.IntN(4) == 0 {
					fmt.Fprintf(&b, "xattr %q user.r %q\n", p, name)
				}
			case k < 8:
				if !bottom && r.IntN(4) == 0 {
					fmt.Fprintf(&b, "opaque %q\n", p)
				} else {
					fmt.Fprintf(&b, "dir %q%s\n", p, own(true))
				}
				if !bottom && r.IntN(6) == 0 {
					// A redirect, as a kernel with redirect_dir=on
					// leaves on a moved dir: absolute or relative.
					targets := []string{"/a", "/b/x", "/c/d", "x", "y", "a"}
					fmt.Fprintf(&b, "xattr %q %sredirect %q\n", p, prefix, targets[r.IntN(len(targets))])
				}
				if depth < 2 {
					for _, c := range randChild {
						entry(p+"/"+c, depth+1)
					}
				}
			case k < 9:
				if !bottom {
					fmt.Fprintf(&b, "whiteout %q\n", p)
				}
			default:
				// No ".." targets: a rename may move a link to the top,
				// from where the kernel would resolve ".." on the host
				// while the library stops at the overlay root.
				targets := []string{"x", "a/x", "nowhere", ".", "d/x"}
				fmt.Fprintf(&b, "link %q -> %q\n", p, targets[r.IntN(len(targets))])
			}
		}
		for _, n := range randTop {
			entry(n, 1)
		}
		// Hard-link groups: further names of the layer's files, in places
		// it left free (parents exist: free names are only ever children
		// of dirs, or top-level).
		for _, f := range files {
			if len(free) == 0 || r.IntN(3) != 0 {
				continue
			}
			i := r.IntN(len(free))
			fmt.Fprintf(&b, "hardlink %q = %q\n", free[i], f)
			paths = append(paths, free[i])
			free = append(free[:i], free[i+1:]...)
		}
	}
	if !v.readOnly {
		layer("upper", false)
	}
	for i := 1; i <= nl; i++ {
		layer("lower"+strconv.Itoa(i), i == nl)
	}
	return b.String(), paths
}

// randomScript generates n operations on paths drawn mostly from the
// fixture's paths, else from its name pools plus fresh names. Now and then
// (drawn from ro) the ops that follow run as another user, or as root
// again; opens add O_DIRECTORY and O_NOFOLLOW drawn from rf. (Each later
// addition has its own stream, so that a seed's earlier script stays.)
func randomScript(r, ro, rf *rand.Rand, n int, paths []string) string {
	randPath0 := func() string {
		if len(paths) > 0 && r.IntN(10) < 7 {
			return strconv.Quote(paths[r.IntN(len(paths))])
		}
		names := append(append([]string(nil), randTop...), "new", "n2")
		p := names[r.IntN(len(names))]
		if r.IntN(2) == 0 {
			kids := append(append([]string(nil), randChild...), "new")
			p += "/" + kids[r.IntN(len(kids))]
		}
		if r.IntN(6) == 0 {
			p += "/" + randChild[r.IntN(len(randChild))]
		}
		return strconv.Quote(p)
	}
	randPath := func() string {
		p := randPath0()
		if r.IntN(10) == 0 {
			p = p[:len(p)-1] + `/"` // a trailing slash
		}
		return p
	}
	var opened []string // handles an open op named: the others' ops would not parse
	handle := func() string { return opened[r.IntN(len(opened))] }
	var b strings.Builder
	for i := 0; i < n; i++ {
		if ro.IntN(8) == 0 {
			users := []string{"1000 1000", "1001 1000", "1002 1002", "0 0"}
			fmt.Fprintf(&b, "as %s\n", users[ro.IntN(len(users))])
		}
		if r.IntN(4) == 0 {
			// Open files: opened with any flags, used across later
			// changes of the namespace.
			k := r.IntN(10)
			if len(opened) == 0 {
				k = 0
			}
			switch k {
			case 0, 1, 2:
				h := []string{"h1", "h2"}[r.IntN(2)]
				if !slices.Contains(opened, h) {
					opened = append(opened, h)
				}
				flags := []string{"r", "w", "rw"}[r.IntN(3)]
				for _, f := range []string{"append", "creat", "excl", "trunc"} {
					if r.IntN(4) == 0 {
						flags += "+" + f
					}
				}
				for _, f := range []string{"dir", "nofollow"} {
					if rf.IntN(6) == 0 {
						flags += "+" + f
					}
				}
				fmt.Fprintf(&b, "open %s %s %s\n", h, randPath(), flags)
			case 3:
				fmt.Fprintf(&b, "read %s %d\n", handle(), 1+r.IntN(8))
			case 4:
				fmt.Fprintf(&b, "pread %s %d %d\n", handle(), r.IntN(6), 1+r.IntN(8))
			case 5:
				fmt.Fprintf(&b, "write %s %q\n", handle(), fmt.Sprint("h", i))
			case 6:
				fmt.Fprintf(&b, "seek %s %d %d\n", handle(), r.IntN(4), r.IntN(3))
			case 7:
				fmt.Fprintf(&b, "fstat %s\n", handle())
			case 8:
				fmt.Fprintf(&b, "freaddir %s -1\n", handle())
			case 9:
				fmt.Fprintf(&b, "close %s\n", handle())
			}
			continue
		}
		switch r.IntN(20) {
		case 0:
			fmt.Fprintf(&b, "writefile %s %q\n", randPath(), fmt.Sprint("w", i))
		case 1:
			fmt.Fprintf(&b, "appendfile %s %q\n", randPath(), fmt.Sprint("+", i))
		case 2:
			fmt.Fprintf(&b, "readfile %s\n", randPath())
		case 3:
			fmt.Fprintf(&b, "mkdir %s\n", randPath())
		case 4:
			fmt.Fprintf(&b, "remove %s\n", randPath())
		case 5:
			fmt.Fprintf(&b, "removeall %s\n", randPath())
		case 6, 7:
			fmt.Fprintf(&b, "rename %s %s\n", randPath(), randPath())
		case 8:
			targets := []string{"x", "new", "a/x", "d"}
			fmt.Fprintf(&b, "symlink %q %s\n", targets[r.IntN(len(targets))], randPath())
		case 9:
			fmt.Fprintf(&b, "link %s %s\n", randPath(), randPath())
		case 10:
			fmt.Fprintf(&b, "truncate %s %d\n", randPath(), r.IntN(6))
		case 11:
			fmt.Fprintf(&b, "chmod %s 0%o\n", randPath(), []int{0o600, 0o755, 0o700, 0o644}[r.IntN(4)])
		case 12:
			fmt.Fprintf(&b, "stat %s\n", randPath())
		case 13:
			fmt.Fprintf(&b, "lstat %s\n", randPath())
		case 14, 15:
			fmt.Fprintf(&b, "readdir %s\n", randPath()[:2]+`"`)
		case 16:
			fmt.Fprintf(&b, "setxattr %s user.k %q\n", randPath(), fmt.Sprint(i))
		case 17:
			fmt.Fprintf(&b, "getxattr %s user.r\n", randPath())
		case 18:
			fmt.Fprintf(&b, "removexattr %s user.r\n", randPath())
		case 19:
			fmt.Fprintf(&b, "readlink %s\n", randPath())
		}
	}
	b.WriteString("readdir \".\"\n")
	return b.String()
}

// seedsFlag replaces the fixed seeds of TestRandomDiff by 1..N, for long
// runs: go test -run TestRandomDiff -seeds 5000 . (OVERLAY_RANDOM_SEEDS=N
// does the same).
var seedsFlag = flag.Int("seeds", 0, "run TestRandomDiff over seeds 1..N")

// TestRandomDiff runs random fixtures and scripts on the kernel and the
// library over native layers and compares them op by op and at the end.
func TestRandomDiff(t *testing.T) {
	t.Run("defaults", func(t *testing.T) { randomDiff(t, variant{}) })
	t.Run("metacopy=on", func(t *testing.T) { randomDiff(t, metacopyVariant) })
	t.Run("index=on", func(t *testing.T) { randomDiff(t, indexVariant) })
	t.Run("nfs_export=on", func(t *testing.T) { randomDiff(t, nfsExportVariant) })
	t.Run("xino=on", func(t *testing.T) { randomDiff(t, xinoVariant) })
	t.Run("data-only layer", func(t *testing.T) { randomDiff(t, variant{name: "dataonly", dataLayer: true}) })
	t.Run("userxattr", func(t *testing.T) {
		randomDiff(t, variant{name: "userxattr", mountOpts: "userxattr", userxattr: true})
	})
	t.Run("volatile", func(t *testing.T) { randomDiff(t, variant{name: "volatile", mountOpts: "volatile", volatile: true}) })
	t.Run("redirect_dir=on", func(t *testing.T) {
		randomDiff(t, variant{name: "redirect", mountOpts: "redirect_dir=on", redirect: overlay.RedirectOn})
	})
	t.Run("redirect_dir=nofollow", func(t *testing.T) {
		randomDiff(t, variant{name: "nofollow", mountOpts: "redirect_dir=nofollow", redirect: overlay.RedirectNoFollow})
	})
	t.Run("read-only", func(t *testing.T) { randomDiff(t, variant{name: "readonly", readOnly: true}) })
}

func randomDiff(t *testing.T, v variant) {
	requireKernel(t)
	// On a tmpfs: faster than on disk.
	v.tmpfs = true
	v.noFileNlinkInRun = v.noFileNlink
	seeds := randomSeeds
	n, err := strconv.Atoi(os.Getenv("OVERLAY_RANDOM_SEEDS"))
	if *seedsFlag > 0 {
		n, err = *seedsFlag, nil
	}
	if err == nil {
		seeds = nil
		for i := 1; i <= n; i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0x6f766c))
			ro := rand.New(rand.NewPCG(seed, 0x6f776e))
			fix, paths := randomFixture(r, ro, v)
			rf := rand.New(rand.NewPCG(seed, 0x666c67))
			script := randomScript(r, ro, rf, randomOps, paths)
			s, err := layertest.Parse(fix)
			if err != nil {
				t.Fatalf("generated fixture: %v\n%s", err, fix)
			}
			ops, err := parseOps(script)
			if err != nil {
				t.Fatalf("generated script: %v\n%s", err, script)
			}
			if strings.Contains(fix, "redirect") && kernelESTALE(t, v, s, ops) {
				// A redirect merged a lower dir that is still visible
				// under its own name: the kernel answers the second
				// lookup with ESTALE, the library shows both (a
				// deviation listed in doc.go). The seed shows nothing
				// more.
				t.Logf("the kernel gives ESTALE: a dir merged twice; not compared")
				return
			}
			diffRun(t, v, s, ops)
			if t.Failed() {
				t.Logf("fixture:\n%s\nscript:\n%s", fix, script)
			}
		})
	}
}

// kernelESTALE runs ops on the kernel alone and reports whether any op or
// the final tree met ESTALE.
func kernelESTALE(t *testing.T, v variant, s layertest.Stack, ops []op) bool {
	t.Helper()
	kr := runKernel(t, v, s, filepath.Join(diffDir(t, v), "k"), ops)
	for _, r := range kr.res {
		if r.errno == "ESTALE" {
			return true
		}
	}
	return kr.stale || strings.Contains(kr.merged, "ESTALE")
}
