package overlay

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay/internal/ondisk"
)

// featLower is a lower layer with a file f, a dir d holding g, and, when
// rec is non-nil, the feature set rec.
func featLower(t *testing.T, rec []byte) *Layer {
	t.Helper()
	m := NewMemFS()
	memMust(t, m.MkdirAll("d", 0o755))
	memMust(t, m.WriteFile("d/g", []byte("g"), 0o644))
	memMust(t, m.WriteFile("f", []byte("f"), 0o644))
	if rec != nil {
		memMust(t, m.Setxattr("/", "trusted.overlay.feature", rec))
	}
	return MemLayer(m)
}

func featFS(t *testing.T, o Options) *FS {
	t.Helper()
	fsys, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// wantFeatures checks the FS's record and the one on its upper layer.
func wantFeatures(t *testing.T, what string, fsys *FS, upper *Layer, want FeatureSet) {
	t.Helper()
	got, ok := fsys.Features()
	if !ok || got != want {
		t.Errorf("%s: Features() = %v, %v; want %v", what, got, ok, want)
	}
	onLayer, ok, err := ReadFeatures(upper)
	if err != nil || !ok || onLayer != want {
		t.Errorf("%s: ReadFeatures(upper) = %v, %v, %v; want %v", what, onLayer, ok, err, want)
	}
}

// TestFeaturesRecorded: a new upper gets a feature set, and each
// feature's bit is recorded the first time the overlay uses it.
func TestFeaturesRecorded(t *testing.T) {
	base := FeatureSet{Compat: CompatFeatureSet | CompatUUID} // uuid=auto stores a uuid on a new upper
	t.Run("defaults", func(t *testing.T) {
		up := MemLayer(nil)
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up})
		wantFeatures(t, "new upper", fsys, up, base)
		memMust(t, fsys.Chmod("f", 0o600)) // a copy-up: origin, and the merged root is impure
		wantFeatures(t, "after a copy-up", fsys, up, FeatureSet{Compat: base.Compat | CompatOrigin | CompatImpure})
	})
	t.Run("redirect_dir", func(t *testing.T) {
		up := MemLayer(nil)
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up, RedirectDir: RedirectOn})
		memMust(t, fsys.Rename("d", "e"))
		got, _ := fsys.Features()
		if got.Incompat&IncompatRedirectDir == 0 {
			t.Errorf("after a merged dir's rename: %v, want redirect_dir", got)
		}
		wantFeatures(t, "after the rename", fsys, up, got)
	})
	t.Run("metacopy", func(t *testing.T) {
		up := MemLayer(nil)
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up, Metacopy: SwitchOn})
		memMust(t, fsys.Chmod("f", 0o600))
		got, _ := fsys.Features()
		if got.Incompat&IncompatMetacopy == 0 {
			t.Errorf("after a metadata-only copy-up: %v, want metacopy", got)
		}
	})
	t.Run("nfs_export", func(t *testing.T) {
		up := MemLayer(nil)
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up, NFSExport: SwitchOn})
		got, _ := fsys.Features()
		if got.ROCompat != ROCompatIndex|ROCompatNFSExport {
			t.Errorf("nfs_export=on: %v, want index and nfs_export", got)
		}
		wantFeatures(t, "nfs_export=on", fsys, up, got)
	})
	t.Run("userxattr", func(t *testing.T) {
		up := MemLayer(nil)
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up, Userxattr: true})
		wantFeatures(t, "userxattr", fsys, up, FeatureSet{Compat: base.Compat, Incompat: IncompatUserxattr})
		if _, err := up.b.Getxattr("", "user.overlay.feature"); err != nil {
			t.Errorf("userxattr: the record is not in user.overlay.: %v", err)
		}
	})
	t.Run("used upper", func(t *testing.T) {
		// An upper that is not new and has no record (the kernel wrote it)
		// gets none: it would not list what the upper already holds.
		m := NewMemFS()
		memMust(t, m.WriteFile("x", nil, 0o644))
		up := MemLayer(m)
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up, RedirectDir: RedirectOn})
		memMust(t, fsys.Rename("d", "e"))
		if f, ok := fsys.Features(); ok {
			t.Errorf("Features() of an upper without a record = %v, true", f)
		}
		if f, ok, err := ReadFeatures(up); ok || err != nil {
			t.Errorf("ReadFeatures = %v, %v, %v; want none", f, ok, err)
		}
	})
	t.Run("afero upper", func(t *testing.T) {
		fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: AferoLayer(afero.NewMemMapFs())})
		if _, ok := fsys.Features(); ok {
			t.Errorf("an upper without xattrs has a feature set")
		}
	})
}

// TestFeaturesBeforeUse: the record gains a feature's bit before the
// change that uses it, so that no crash leaves the feature unrecorded.
func TestFeaturesBeforeUse(t *testing.T) {
	var steps []string
	upperHook = func(op string, paths ...string) { steps = append(steps, op+" "+strings.Join(paths, " ")) }
	defer func() { upperHook = nil }()
	fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: MemLayer(nil), RedirectDir: RedirectOn})
	steps = nil
	memMust(t, fsys.Rename("d", "e"))
	rec, redirect := -1, -1
	for i, s := range steps {
		switch {
		case strings.HasSuffix(s, "trusted.overlay.feature") && rec < 0:
			rec = i
		case strings.HasSuffix(s, "trusted.overlay.redirect") && redirect < 0:
			redirect = i
		}
	}
	if rec < 0 || redirect < 0 || rec > redirect {
		t.Errorf("steps %q: want the feature set written before the first redirect", steps)
	}
}

// TestFeaturesRefused: New refuses a layer with an unknown incompat bit,
// and as an upper one with an unknown ro_compat bit or a corrupt record;
// unknown compat bits are kept.
func TestFeaturesRefused(t *testing.T) {
	rec := func(f ondisk.FeatureSet) []byte { return ondisk.FormatFeatures(f) }
	upperWith := func(v []byte) *Layer {
		m := NewMemFS()
		memMust(t, m.Setxattr("/", "trusted.overlay.feature", v))
		return MemLayer(m)
	}
	for _, c := range []struct {
		name   string
		o      func() Options
		errno  syscall.Errno
		option string
		text   string
	}{
		{"lower unknown incompat", func() Options {
			return Options{Lower: []*Layer{featLower(t, rec(ondisk.FeatureSet{Incompat: 1 << 40}))}, Upper: MemLayer(nil)}
		}, syscall.EINVAL, "lowerdir", "unknown incompat feature 'incompat=bit 40'"},
		{"upper unknown incompat", func() Options {
			return Options{Lower: []*Layer{featLower(t, nil)}, Upper: upperWith(rec(ondisk.FeatureSet{Incompat: 1 << 9}))}
		}, syscall.EINVAL, "upperdir", "bit 9"},
		{"upper unknown ro_compat", func() Options {
			return Options{Lower: []*Layer{featLower(t, nil)}, Upper: upperWith(rec(ondisk.FeatureSet{ROCompat: 1 << 5}))}
		}, syscall.EROFS, "upperdir", "unknown ro_compat feature 'ro_compat=bit 5'"},
		{"upper corrupt", func() Options {
			return Options{Lower: []*Layer{featLower(t, nil)}, Upper: upperWith([]byte("yes"))}
		}, syscall.EINVAL, "upperdir", "corrupt feature set"},
		{"lower corrupt", func() Options {
			return Options{Lower: []*Layer{featLower(t, []byte{0xfe, 1})}, Upper: MemLayer(nil)}
		}, syscall.EINVAL, "lowerdir", "corrupt feature set"},
	} {
		_, err := New(c.o())
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != c.option || !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v; want an *OptionError for %q wrapping %v saying %q", c.name, err, c.option, c.errno, c.text)
		}
	}

	// An unknown ro_compat bit only refuses the upper: the layer is
	// still a lower. Unknown compat bits are kept as the record grows.
	ro := featLower(t, rec(ondisk.FeatureSet{ROCompat: 1 << 5}))
	featFS(t, Options{Lower: []*Layer{ro, featLower(t, nil)}})
	up := upperWith(rec(ondisk.FeatureSet{Compat: 1 << 30}))
	fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: up})
	memMust(t, fsys.Chmod("f", 0o600))
	wantFeatures(t, "unknown compat bit", fsys, up, FeatureSet{Compat: CompatFeatureSet | 1<<30 | CompatUUID | CompatOrigin | CompatImpure})
}

func TestFormatLayer(t *testing.T) {
	l := MemLayer(nil)
	memMust(t, FormatLayer(l, false, FeatureSet{ROCompat: ROCompatIndex}))
	if f, ok, err := ReadFeatures(l); err != nil || !ok || f != (FeatureSet{Compat: CompatFeatureSet, ROCompat: ROCompatIndex}) {
		t.Errorf("ReadFeatures after FormatLayer = %v, %v, %v", f, ok, err)
	}
	if err := FormatLayer(l, false, FeatureSet{}); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("FormatLayer twice: %v, want ENOTEMPTY", err)
	}
	m := NewMemFS()
	memMust(t, m.WriteFile("x", nil, 0o644))
	if err := FormatLayer(MemLayer(m), false, FeatureSet{}); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("FormatLayer of a non-empty layer: %v, want ENOTEMPTY", err)
	}
	if err := FormatLayer(AferoLayer(afero.NewMemMapFs()), false, FeatureSet{}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("FormatLayer of an afero layer: %v, want EOPNOTSUPP", err)
	}
	u := MemLayer(nil)
	memMust(t, FormatLayer(u, true, FeatureSet{}))
	if f, ok, err := ReadFeatures(u); err != nil || !ok || f != (FeatureSet{Compat: CompatFeatureSet, Incompat: IncompatUserxattr}) {
		t.Errorf("ReadFeatures after FormatLayer with userxattr = %v, %v, %v", f, ok, err)
	}
	// A formatted upper keeps its record: New adds to it.
	fl := MemLayer(nil)
	memMust(t, FormatLayer(fl, false, FeatureSet{Incompat: IncompatRedirectDir}))
	fsys := featFS(t, Options{Lower: []*Layer{featLower(t, nil)}, Upper: fl})
	wantFeatures(t, "formatted upper", fsys, fl, FeatureSet{Compat: CompatFeatureSet | CompatUUID, Incompat: IncompatRedirectDir})
}
