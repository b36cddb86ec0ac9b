package overlay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// ckCorrupt builds in-memory layers with one of each problem Check
// repairs (beyond fsck.overlay's cases), and returns their options.
func ckCorrupt(t *testing.T) Options {
	t.Helper()
	l := NewMemFS()
	ckLayer(t, l, "d origin\nd m\nf m/f\nf f\nd odd")
	u := NewMemFS()
	ckLayer(t, u, strings.Join([]string{
		"w orphan",      // nothing below
		"d m\nw m/gone", // in a merged dir, nothing below
		"d moved",       // redirected, old name not covered
		"x moved redirect origin",
		"d odd\nx odd opaque yes",        // a value the kernel ignores
		"d bad\nx bad redirect a/b",      // a value the kernel rejects
		"d new\nf new/c\nx new/c origin", // a copied-up file in a dir without impure
		"f bado\nx bado origin garbage",  // an origin that is no file handle
	}, "\n"))
	return Options{Lower: []*Layer{MemLayer(l)}, Upper: MemLayer(u)}
}

func TestCheckCorruptions(t *testing.T) {
	o := ckCorrupt(t)
	r, err := Check(o, CheckOptions{Mode: CheckNoChange})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[ProblemKind]int{}
	for _, p := range r.Problems {
		kinds[p.Kind]++
	}
	want := map[ProblemKind]int{ProblemOrphanWhiteout: 2, ProblemRedirectMissingWhiteout: 1, ProblemOpaqueInvalid: 1,
		ProblemRedirectInvalid: 1, ProblemImpureMissing: 2, ProblemOriginInvalid: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%v: %d, want %d (%v)", k, kinds[k], n, r.Problems)
		}
	}
	if r.ExitCode() != ExitUncorrected {
		t.Errorf("-n exit %d, want 4", r.ExitCode())
	}
	// -p leaves the opaque value (not safe), -y takes it.
	if r, _ := Check(o, CheckOptions{Mode: CheckSafe}); r.ExitCode() != ExitUncorrected || r.Unrepaired() != 1 {
		t.Errorf("-p: exit %d, %d left: %v", r.ExitCode(), r.Unrepaired(), r.Problems)
	}
	if r, _ := Check(o, CheckOptions{Mode: CheckAll}); r.ExitCode() != ExitCorrected {
		t.Errorf("-y: exit %d: %v", r.ExitCode(), r.Problems)
	}
	if r, _ := Check(o, CheckOptions{Mode: CheckNoChange}); r.ExitCode() != ExitClean {
		t.Errorf("after -y: exit %d: %v", r.ExitCode(), r.Problems)
	}
	// Ask is asked for each repair.
	o = ckCorrupt(t)
	var asked []string
	r, _ = Check(o, CheckOptions{Mode: CheckAsk, Ask: func(p Problem) bool {
		asked = append(asked, p.Kind.String())
		return p.Kind == ProblemOrphanWhiteout
	}})
	if len(asked) != 8 || r.Unrepaired() != 6 {
		t.Errorf("ask: asked %q, %d left", asked, r.Unrepaired())
	}
}

// TestCheckFeatureSets: unknown incompat bits stop the check (nothing
// changed), missing bits are added, a corrupt record is rebuilt by -y.
func TestCheckFeatureSets(t *testing.T) {
	upperWith := func(v []byte) (*MemFS, Options) {
		l, u := NewMemFS(), NewMemFS()
		ckLayer(t, l, "d d")
		ckLayer(t, u, "w orphan\nd e\nx e redirect d\nw d")
		memMust(t, u.Setxattr("/", "trusted.overlay.feature", v))
		return u, Options{Lower: []*Layer{MemLayer(l)}, Upper: MemLayer(u)}
	}
	u, o := upperWith(ondisk.FormatFeatures(ondisk.FeatureSet{Incompat: 1 << 20}))
	r, err := Check(o, CheckOptions{Mode: CheckAll})
	if !errors.Is(err, errUnknownFeatures) || len(r.Problems) != 1 || r.Problems[0].Kind != ProblemFeatureUnknown {
		t.Errorf("unknown incompat bit: %v, %v", err, r.Problems)
	}
	if _, err := u.Lstat("orphan"); err != nil {
		t.Errorf("a check stopped by unknown features changed the layer: %v", err)
	}

	u, o = upperWith(ondisk.FormatFeatures(ondisk.FeatureSet{}))
	r, _ = Check(o, CheckOptions{Mode: CheckSafe})
	if r.ExitCode() != ExitCorrected || !strings.Contains(fmt.Sprint(r.Problems), "feature missing") {
		t.Errorf("missing redirect_dir bit: exit %d, %v", r.ExitCode(), r.Problems)
	}
	if f, _, _ := ReadFeatures(MemLayer(u)); f.Incompat&IncompatRedirectDir == 0 {
		t.Errorf("after -p the record is %v, want redirect_dir", f)
	}

	u, o = upperWith([]byte("garbage"))
	if r, _ := Check(o, CheckOptions{Mode: CheckSafe}); r.ExitCode() != ExitUncorrected {
		t.Errorf("corrupt record, -p: exit %d, %v", r.ExitCode(), r.Problems)
	}
	if r, _ := Check(o, CheckOptions{Mode: CheckAll}); r.ExitCode() != ExitCorrected {
		t.Errorf("corrupt record, -y: exit %d, %v", r.ExitCode(), r.Problems)
	}
	if f, ok, err := ReadFeatures(MemLayer(u)); err != nil || !ok || f.Incompat&IncompatRedirectDir == 0 {
		t.Errorf("rebuilt record %v, %v, %v", f, ok, err)
	}
	if fsys, err := New(o); err != nil {
		t.Errorf("New after the repair: %v", err)
	} else {
		fsys.Close()
	}
}

// TestCheckWorkDir: a volatile mount's marker is reported and, with -y,
// removed; an unknown incompat entry is reported and left.
func TestCheckWorkDir(t *testing.T) {
	l, u := NewMemFS(), NewMemFS()
	ckLayer(t, l, "d d")
	o := Options{Lower: []*Layer{MemLayer(l)}, Upper: MemLayer(u), Fsync: FsyncVolatile}
	fsys, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	fsys.Close()
	o.Fsync = FsyncDefault
	r, _ := Check(o, CheckOptions{Mode: CheckSafe})
	if r.ExitCode() != ExitUncorrected || r.Problems[0].Kind != ProblemVolatileLeftover {
		t.Errorf("volatile marker, -p: exit %d, %v", r.ExitCode(), r.Problems)
	}
	if r, _ := Check(o, CheckOptions{Mode: CheckAll}); r.ExitCode() != ExitCorrected {
		t.Errorf("volatile marker, -y: exit %d, %v", r.ExitCode(), r.Problems)
	}
	if fsys, err := New(o); err != nil {
		t.Errorf("New after the marker went: %v", err)
	} else {
		if _, err := Check(o, CheckOptions{}); !errors.Is(err, syscall.EBUSY) {
			t.Errorf("Check of an upper an FS uses: %v, want EBUSY", err)
		}
		fsys.Close()
	}
	b := MemLayer(u).b
	memMust(t, b.Mkdir("/work/incompat", 0o700))
	memMust(t, b.Mkdir("/work/incompat/mergefile", 0o700))
	if r, _ := Check(o, CheckOptions{Mode: CheckAll}); r.ExitCode() != ExitUncorrected || r.Problems[0].Kind != ProblemIncompatEntry {
		t.Errorf("unknown incompat entry: exit %d, %v", r.ExitCode(), r.Problems)
	}
}

// TestCheckRepairsCrashSafe: a repair run stopped at its N-th change, for
// every N, leaves layers that a second run repairs to what one
// uninterrupted run leaves.
func TestCheckRepairsCrashSafe(t *testing.T) {
	dump := func(o Options) string {
		var b strings.Builder
		for _, l := range append(o.Lower, o.Upper) {
			ckDump(t, &b, l.b, "")
			b.WriteString("--\n")
		}
		return b.String()
	}
	o := ckCorrupt(t)
	steps := 0
	upperHook = func(string, ...string) { steps++ }
	Check(o, CheckOptions{Mode: CheckAll})
	upperHook = nil
	want := dump(o)
	if steps < 7 {
		t.Fatalf("a repair run made %d changes", steps)
	}
	type stop struct{}
	for n := 1; n <= steps; n++ {
		o := ckCorrupt(t)
		i := 0
		upperHook = func(string, ...string) {
			if i++; i == n {
				panic(stop{})
			}
		}
		func() {
			defer func() {
				if v := recover(); v != nil {
					if _, ok := v.(stop); !ok {
						panic(v)
					}
				}
			}()
			Check(o, CheckOptions{Mode: CheckAll})
		}()
		upperHook = nil
		if r, err := Check(o, CheckOptions{Mode: CheckAll}); err != nil || r.Unrepaired() != 0 {
			t.Errorf("stopped at change %d: the second run: %v, %v", n, err, r.Problems)
		}
		if got := dump(o); got != want {
			t.Errorf("stopped at change %d: after a second run\n%s\nwant\n%s", n, got, want)
		}
	}
}

// ckDump writes the tree p of the layer r: each object's path, type, size
// and xattrs, in name order.
func ckDump(t *testing.T, w *strings.Builder, r layer.Reader, p string) {
	ents, err := r.ReadDir(p)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ents, func(a, b layer.DirEnt) int { return strings.Compare(a.Name, b.Name) })
	for _, e := range ents {
		cp := layer.Join(p, e.Name)
		a, err := r.Lstat(cp)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "%s %o %d", cp, a.Mode&syscall.S_IFMT, a.Size)
		names, _ := r.Listxattr(cp)
		slices.Sort(names)
		for _, n := range names {
			v, _ := r.Getxattr(cp, n)
			fmt.Fprintf(w, " %s=%q", n, v)
		}
		w.WriteString("\n")
		if a.IsDir() {
			ckDump(t, w, r, cp)
		}
	}
}

// TestCheckIndex: index entries the kernel refuses (a name that is no
// handle) or misreads (an origin that is not the name's, an nlink value
// it cannot parse) are reported; valid ones and the temporaries a mount
// leaves are not.
func TestCheckIndex(t *testing.T) {
	l := NewMemFS()
	memMust(t, l.WriteFile("a", []byte("a"), 0o644))
	memMust(t, l.Link("a", "b"))
	memMust(t, l.WriteFile("c", []byte("c"), 0o644))
	memMust(t, l.Link("c", "d"))
	u := MemLayer(nil)
	o := Options{Lower: []*Layer{MemLayer(l)}, Upper: u, Index: SwitchOn}
	fsys, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	memMust(t, fsys.Chmod("a", 0o600)) // copied up into the index
	memMust(t, fsys.Chmod("c", 0o600))
	fsys.Close()
	if r, err := Check(o, CheckOptions{}); err != nil || len(r.Problems) != 0 {
		t.Fatalf("a valid index: %v, %v", err, r.Problems)
	}
	ents, err := u.b.ReadDir(indexDir)
	if err != nil || len(ents) != 2 {
		t.Fatalf("index entries %v, %v", ents, err)
	}
	first, second := indexDir+"/"+ents[0].Name, indexDir+"/"+ents[1].Name
	w := newUpperDoor(u.b)
	memMust(t, w.setxattr(first, "trusted.overlay.nlink", []byte("bogus")))
	origin, err := u.b.Getxattr(second, "trusted.overlay.origin")
	if err != nil {
		t.Fatal(err)
	}
	memMust(t, w.rename(second, indexDir+"/zz"))
	f, err := w.open(indexDir+"/#7", syscall.O_WRONLY|syscall.O_CREAT, 0o600)
	memMust(t, err)
	f.Close()
	other := append([]byte{}, origin...)
	other[len(other)-1] ^= 0xff
	f, err = w.open(indexDir+"/"+ondisk.IndexName(other), syscall.O_WRONLY|syscall.O_CREAT, 0o600)
	memMust(t, err)
	f.Close()
	memMust(t, w.setxattr(indexDir+"/"+ondisk.IndexName(other), "trusted.overlay.origin", origin))

	r, err := Check(o, CheckOptions{Mode: CheckAll})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range r.Problems {
		got = append(got, fmt.Sprintf("%s %v %v", p.Path, p.Kind, p.Repaired))
	}
	slices.Sort(got)
	want := []string{
		first + " invalid index entry false",
		indexDir + "/" + ondisk.IndexName(other) + " invalid index entry true",
		indexDir + "/zz invalid index entry true",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems\n%q\nwant\n%q", got, want)
	}
}
