package overlay_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
)

// build makes options over one set of layers (new Layer values over the
// same backing filesystems each time).
type build func() (overlay.Options, error)

// crashPanic is what the in-process crash hook panics with.
type crashPanic struct{}

// TestCrashInMemory runs the crash cases (crash_linux_test.go's table)
// over in-memory layers in the kernel format and over afero layers in
// the OCI format, where no kernel can judge: the operation is stopped
// (by a panic from the upper hook) before each of its upper changes, the
// abandoned FS is dropped, and a new FS over the same layers must show
// the tree as it was before the operation or as it is after it.
func TestCrashInMemory(t *testing.T) {
	for _, be := range []struct {
		name    string
		layers  func(s layertest.Stack) (build, error)
		noXattr bool
	}{
		{"memfs", func(s layertest.Stack) (build, error) {
			lowers, upper, err := layertest.MemFSes(s)
			return func() (overlay.Options, error) {
				var o overlay.Options
				for _, m := range lowers {
					o.Lower = append(o.Lower, overlay.MemLayer(m))
				}
				o.Upper = overlay.MemLayer(upper)
				return o, nil
			}, err
		}, false},
		{"afero-oci", func(s layertest.Stack) (build, error) {
			lowers, upper, err := layertest.AferoFSes(s)
			return func() (overlay.Options, error) {
				var o overlay.Options
				for _, a := range lowers {
					o.Lower = append(o.Lower, overlay.AferoLayer(a))
				}
				o.Upper = overlay.AferoLayer(upper)
				return o, nil
			}, err
		}, true},
	} {
		for _, cc := range crashCases {
			if cc.v.index {
				continue // index needs file handles from the host
			}
			t.Run(be.name+"/"+cc.name, func(t *testing.T) {
				fixture := crashFixture
				if be.noXattr {
					var keep []string
					for _, l := range strings.Split(fixture, "\n") {
						if !strings.HasPrefix(l, "xattr ") && !strings.HasPrefix(l, "hardlink ") {
							keep = append(keep, l)
						}
					}
					fixture = strings.Join(keep, "\n")
				}
				crashInMemory(t, cc, func() build {
					b, err := be.layers(layertest.MustParse(fixture + "-- upper --\n"))
					if err != nil {
						t.Fatal(err)
					}
					return b
				})
			})
		}
	}
}

func crashInMemory(t *testing.T, cc crashCase, fresh func() build) {
	defer overlay.SetUpperHook(nil)
	overlay.SetNoRenameWhiteout(cc.noRenameWhiteout)
	defer overlay.SetNoRenameWhiteout(false)
	view := func(b build) string {
		t.Helper()
		overlay.SetUpperHook(nil)
		o, err := b()
		if err != nil {
			t.Fatal(err)
		}
		cc.v.apply(&o)
		fsys, err := overlay.New(o)
		if err != nil {
			return "New: " + err.Error()
		}
		defer fsys.Close()
		dump, err := layertest.DumpFS(fsys, "/", layertest.Portable())
		if err != nil {
			return "DumpFS: " + err.Error()
		}
		return dump
	}
	// run runs the case on fresh layers, stopping before the at-th upper
	// change of the script (never for 0); it reports the steps taken and
	// whether the script's ops all succeeded.
	run := func(at int, alt ...bool) (b build, steps int, log string, ok bool) {
		t.Helper()
		b = fresh()
		armed := false
		overlay.SetUpperHook(func(op string, paths ...string) {
			if !armed {
				return
			}
			steps++
			log += fmt.Sprintf("step %d: %s %q\n", steps, op, paths)
			if steps == at {
				panic(crashPanic{})
			}
		})
		o, err := b()
		if err != nil {
			t.Fatal(err)
		}
		cc.v.apply(&o)
		fsys, err := overlay.New(o)
		if err != nil {
			return b, 0, "New: " + err.Error(), false
		}
		for _, r := range runScript(fsys, mustOps(cc.setup), runConfig{}) {
			if r.errno != "ok" {
				return b, 0, "setup: " + r.res, false
			}
		}
		armed = true
		crashed := func() (crashed bool) {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(crashPanic); !ok {
						panic(r)
					}
					crashed = true
				}
			}()
			script := cc.script
			if len(alt) > 0 {
				script = cc.between
			}
			for _, r := range runScript(fsys, mustOps(script), runConfig{}) {
				if r.errno != "ok" {
					log += "script: " + r.res + "\n"
					ok = false
					return false
				}
			}
			ok = true
			return false
		}()
		armed = false
		if crashed {
			return b, steps, log, true // the FS is abandoned, as by a crash
		}
		fsys.Close()
		return b, steps, log, ok
	}
	full, steps, log, ok := run(0)
	if !ok {
		t.Skipf("the case does not run on this backend:\n%s", log)
	}
	if steps == 0 {
		t.Fatalf("the script made no upper change")
	}
	newState := view(full)
	pristine, _, _, _ := run(1)
	oldState := view(pristine)
	if oldState == newState {
		t.Skipf("the script changes nothing this backend shows")
	}
	between := "(none)"
	if cc.between != "" {
		b, _, _, _ := run(0, true)
		between = view(b)
	}
	for at := 2; at <= steps; at++ {
		b, _, log, _ := run(at)
		if got := view(b); got != oldState && got != newState && got != between {
			t.Errorf("crash before step %d: neither the old nor the new tree\nrun:\n%sold:\n%s\nnew:\n%s\nafter the crash:\n%s", at, log, oldState, newState, got)
		}
	}
}

// TestRenameWhiteoutFallbackNotEmpty: without RENAME_WHITEOUT, a rename
// of a lower dir over a pure upper dir that holds entries is ENOTEMPTY,
// as rename(2) gives, and leaves the target alone.
func TestRenameWhiteoutFallbackNotEmpty(t *testing.T) {
	for _, no := range []bool{false, true} {
		overlay.SetUpperHook(func(string, ...string) {})
		overlay.SetNoRenameWhiteout(no)
		o, err := layertest.MemOptions(layertest.MustParse("-- lower --\nfile a/f \"af\"\n-- upper --\nfile u/z \"uz\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		o.RedirectDir = overlay.RedirectOn
		fsys, err := overlay.New(o)
		overlay.SetUpperHook(nil)
		overlay.SetNoRenameWhiteout(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.Rename("a", "u"); !errors.Is(err, syscall.ENOTEMPTY) {
			t.Errorf("no RENAME_WHITEOUT %v: Rename over a non-empty dir: %v, want ENOTEMPTY", no, err)
		}
		for _, p := range []string{"a/f", "u/z"} {
			if _, err := fsys.Stat(p); err != nil {
				t.Errorf("no RENAME_WHITEOUT %v: %v", no, err)
			}
		}
		fsys.Close()
	}
}
