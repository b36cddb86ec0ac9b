package overlay

import (
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// The fsck cases of xfstests (tests/overlay/045, 046, 056), on in-memory
// layers: each builds layers, runs Check in a mode and wants fsck's exit
// code and end state; a second check without changes then finds nothing
// where the first repaired everything.

// ckFS is a layer as the cases build and inspect it: a MemFS, or a host
// dir (check_xfstests_linux_test.go).
type ckFS interface {
	MkdirAll(name string, perm fs.FileMode) error
	WriteFile(name string, data []byte, perm fs.FileMode) error
	Mknod(name string, mode uint32, dev uint64) error
	Setxattr(name, attr string, value []byte) error
	Getxattr(name, attr string) ([]byte, error)
	Lstat(name string) (fs.FileInfo, error)
}

// ckBuilder makes the layers of a case: n lowers, an upper and its work
// layer (nil for an in-memory upper).
type ckBuilder func(t *testing.T, n int) (lowers []ckFS, upper ckFS, lo []*Layer, up, work *Layer)

func memBuilder(t *testing.T, n int) ([]ckFS, ckFS, []*Layer, *Layer, *Layer) {
	var lowers []ckFS
	var lo []*Layer
	for range n {
		m := NewMemFS()
		lowers, lo = append(lowers, m), append(lo, MemLayer(m))
	}
	u := NewMemFS()
	return lowers, u, lo, MemLayer(u), nil
}

// ckLayer fills m from lines: "d PATH" (dir), "f PATH" (file), "w PATH"
// (whiteout), "x PATH NAME [VALUE]" (the private xattr
// trusted.overlay.NAME, empty without VALUE).
func ckLayer(t *testing.T, m ckFS, spec string) {
	t.Helper()
	for _, line := range strings.Split(spec, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "d":
			memMust(t, m.MkdirAll(f[1], 0o755))
		case "f":
			memMust(t, m.WriteFile(f[1], []byte("x"), 0o644))
		case "w":
			memMust(t, m.Mknod(f[1], syscall.S_IFCHR, 0))
		case "x":
			v := ""
			if len(f) > 3 {
				v = f[3]
			}
			memMust(t, m.Setxattr(f[1], "trusted.overlay."+f[2], []byte(v)))
		default:
			t.Fatalf("bad layer line %q", line)
		}
	}
}

func ckExists(m ckFS, p string) bool { _, err := m.Lstat(p); return err == nil }

func ckXattr(m ckFS, p, name string) (string, bool) {
	v, err := m.Getxattr(p, "trusted.overlay."+name)
	return string(v), err == nil
}

func ckIsWhiteout(m ckFS, p string) bool {
	fi, err := m.Lstat(p)
	return err == nil && fi.Mode().Type() == fs.ModeDevice|fs.ModeCharDevice
}

type ckCase struct {
	name   string
	lowers []string // top-most first
	upper  string
	mode   CheckMode
	exit   int
	then   []CheckMode // further runs, each wanting exit 1 (repaired)...
	after  func(t *testing.T, lowers []ckFS, upper ckFS)
}

func TestCheckXfstests(t *testing.T) {
	cases := []ckCase{
		// overlay/045: orphan whiteouts.
		{name: "045 orphan whiteout", lowers: []string{"w foo"}, upper: "w foo\nw bar", mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if ckExists(l[0], "foo") || ckExists(u, "foo") || ckExists(u, "bar") {
					t.Errorf("whiteouts left")
				}
			}},
		{name: "045 valid whiteout", lowers: []string{"w bar", "f foo\nf bar"}, upper: "w foo", mode: CheckSafe, exit: ExitClean,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if !ckExists(u, "foo") || !ckExists(l[0], "bar") {
					t.Errorf("valid whiteouts removed")
				}
			}},
		{name: "045 orphan whiteout 2", lowers: []string{"d testdir\nf testdir/foo"}, upper: "d testdir\nx testdir opaque y\nw testdir/foo",
			mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if ckExists(u, "testdir/foo") {
					t.Errorf("whiteout in an opaque dir left")
				}
			}},
		{name: "045 orphan whiteout 3", lowers: []string{
			"f testdir1\nw testdir2\nd testdir3\nx testdir3 opaque y",
			"d testdir1\nf testdir1/foo\nd testdir2\nf testdir2/foo\nd testdir3\nf testdir3/foo"},
			upper: "d testdir1\nd testdir2\nd testdir3\nd testdir4\nw testdir1/foo\nw testdir2/foo\nw testdir3/foo\nw testdir4/foo",
			mode:  CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				for _, p := range []string{"testdir1/foo", "testdir2/foo", "testdir3/foo", "testdir4/foo"} {
					if ckExists(u, p) {
						t.Errorf("%s left", p)
					}
				}
			}},
		{name: "045 orphan whiteout 4", lowers: []string{"d testdir\nf testdir/foo\nd origin"},
			upper: "d testdir\nx testdir redirect origin\nw testdir/foo\nw origin\nx / impure y", mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if ckExists(u, "testdir/foo") {
					t.Errorf("whiteout below a redirect with nothing below it left")
				}
			}},
		{name: "045 valid whiteout 2", lowers: []string{"d origin\nf origin/foo"},
			upper: "x / impure y\nd testdir\nx testdir redirect origin\nw origin\nw testdir/foo", mode: CheckSafe, exit: ExitClean},
		{name: "045 valid whiteout 3", lowers: []string{"d testdir\nx testdir redirect origin\nw origin", "d origin/subdir\nf origin/subdir/foo"},
			upper: "x / impure y\nd testdir/subdir\nx testdir impure y\nw testdir/subdir/foo", mode: CheckSafe, exit: ExitClean},
		{name: "045 orphan whiteout 5", lowers: []string{"d origin/subdir\nf origin/subdir/foo"},
			upper: "x / impure y\nd testdir/subdir\nx testdir redirect origin\nw origin\nx testdir/subdir opaque y\nw testdir/subdir/foo",
			mode:  CheckSafe, exit: ExitCorrected},
		{name: "045 valid whiteout 4", lowers: []string{"d origin\nf origin/foo"},
			upper: "d testdir\nx testdir opaque y\nd testdir/subdir\nx testdir/subdir redirect /origin\nw origin\nw testdir/subdir/foo\nx testdir impure y",
			mode:  CheckSafe, exit: ExitClean},

		// overlay/046: redirects.
		{name: "046 invalid redirect", lowers: []string{"d x"}, upper: "d testdir\nx testdir redirect invalid", mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if _, ok := ckXattr(u, "testdir", "redirect"); ok {
					t.Errorf("invalid redirect kept")
				}
			}},
		{name: "046 invalid redirect 2", lowers: []string{"f origin"}, upper: "d testdir\nx testdir redirect origin", mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if _, ok := ckXattr(u, "testdir", "redirect"); ok {
					t.Errorf("redirect to a file kept")
				}
			}},
		{name: "046 valid redirect", lowers: []string{"d origin"}, upper: "w origin\nd testdir\nx testdir redirect origin\nx / impure y",
			mode: CheckSafe, exit: ExitClean},
		{name: "046 valid redirect 2", lowers: []string{"d origin"},
			upper: "w origin\nd testdir1/testdir2\nx testdir1/testdir2 redirect /origin\nx testdir1 impure y", mode: CheckSafe, exit: ExitClean},
		{name: "046 missing whiteout", lowers: []string{"d origin"}, upper: "d testdir\nx testdir redirect origin\nx / impure y",
			mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if v, ok := ckXattr(u, "testdir", "redirect"); !ok || v != "origin" {
					t.Errorf("redirect lost: %q %v", v, ok)
				}
				if !ckIsWhiteout(u, "origin") {
					t.Errorf("no whiteout made at origin")
				}
			}},
		{name: "046 valid redirect 3 (exchanged)", lowers: []string{"d testdir1\nd testdir2"},
			upper: "d testdir1\nd testdir2\nx testdir1 redirect testdir2\nx testdir2 redirect testdir1\nx / impure y", mode: CheckSafe, exit: ExitClean},
		{name: "046 invalid redirect 3", lowers: []string{"d testdir"}, upper: "d testdir\nx testdir redirect invalid\nx / impure y",
			mode: CheckAll, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if _, ok := ckXattr(u, "testdir", "redirect"); ok {
					t.Errorf("invalid redirect kept")
				}
			}},
		{name: "046 duplicate redirect", lowers: []string{
			"d testdir1\nx testdir1 redirect origin\nd testdir2\nx testdir2 redirect origin", "d origin"},
			upper: "d testdir3\nx testdir3 redirect origin\nx / impure y", mode: CheckSafe, exit: ExitUncorrected, then: []CheckMode{CheckAll},
			after: func(t *testing.T, l []ckFS, u ckFS) {
				_, ok1 := ckXattr(l[0], "testdir1", "redirect")
				_, ok2 := ckXattr(l[0], "testdir2", "redirect")
				if ok1 == ok2 {
					t.Errorf("lower redirects: testdir1 %v testdir2 %v, want exactly one", ok1, ok2)
				}
				if _, ok := ckXattr(u, "testdir3", "redirect"); ok {
					t.Errorf("upper testdir3 keeps its redirect")
				}
			}},
		{name: "046 duplicate redirect 2", lowers: []string{"d origin"}, upper: "d origin\nd testdir\nx testdir redirect origin\nx / impure y",
			mode: CheckSafe, exit: ExitUncorrected, then: []CheckMode{CheckAll},
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if _, ok := ckXattr(u, "testdir", "redirect"); ok {
					t.Errorf("duplicate redirect kept")
				}
			}},

		// overlay/056: impure.
		{name: "056 missing impure", lowers: []string{"d testdir1\nf testdir1/foo\nd testdir2/subdir"},
			upper: "d testdir1\nf testdir1/foo\nx testdir1/foo origin \nd testdir2/subdir\nx testdir2/subdir origin ",
			mode:  CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				for _, p := range []string{"testdir1", "testdir2"} {
					if _, ok := ckXattr(u, p, "impure"); !ok {
						t.Errorf("%s not impure", p)
					}
				}
			}},
		{name: "056 missing impure 2", lowers: []string{"d origin"},
			upper: "w origin\nx / impure y\nd testdir/subdir\nx testdir/subdir redirect /origin", mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if _, ok := ckXattr(u, "testdir", "impure"); !ok {
					t.Errorf("testdir not impure")
				}
			}},
		{name: "056 missing impure 3", lowers: []string{"d testdir"}, upper: "d testdir", mode: CheckSafe, exit: ExitCorrected,
			after: func(t *testing.T, l []ckFS, u ckFS) {
				if _, ok := ckXattr(u, "/", "impure"); !ok {
					t.Errorf("upper root not impure")
				}
			}},
	}
	for _, c := range cases {
		for name, build := range ckBuilders() {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				lowers, upper, lo, up, work := build(t, len(c.lowers))
				for i, s := range c.lowers {
					ckLayer(t, lowers[i], s)
				}
				ckLayer(t, upper, c.upper)
				o := Options{Lower: lo, Upper: up, Work: work}
				r, err := Check(o, CheckOptions{Mode: c.mode})
				if err != nil {
					t.Fatal(err)
				}
				if r.ExitCode() != c.exit {
					t.Errorf("exit %d, want %d: %v", r.ExitCode(), c.exit, r.Problems)
				}
				for _, m := range c.then {
					if r, err = Check(o, CheckOptions{Mode: m}); err != nil || r.ExitCode() != ExitCorrected {
						t.Errorf("then %v: exit %d, %v, want 1: %v", m, r.ExitCode(), err, r.Problems)
					}
				}
				if c.after != nil {
					c.after(t, lowers, upper)
				}
				if r, err := Check(o, CheckOptions{Mode: CheckNoChange}); err != nil || r.ExitCode() != ExitClean && (c.exit != ExitUncorrected || c.then != nil) {
					t.Errorf("second check: exit %d, %v: %v", r.ExitCode(), err, r.Problems)
				}
			})
		}
	}
}
