package overlay

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
)

// TestAferoLayer: an afero layer is in the OCI format and names its
// filesystem.
func TestAferoLayer(t *testing.T) {
	l := AferoLayer(afero.NewReadOnlyFs(afero.NewMemMapFs()))
	if l.format != formatOCI || !strings.HasPrefix(l.String(), "afero ") {
		t.Errorf("layer %v %v", l.format, l)
	}
}

// TestAferoUpperRefusesXattrFeatures: the options whose features store
// xattrs on the upper are refused by New with an afero upper (which holds
// none), rather than accepted and failing at the first chmod or rename;
// the defaults are accepted, and a merged dir's rename is then EXDEV, as
// on the kernel without redirect_dir=on. A MemLayer upper with
// redirect_dir=on renames it.
func TestAferoUpperRefusesXattrFeatures(t *testing.T) {
	lower := func() *Layer {
		m := NewMemFS()
		m.MkdirAll("d", 0o755)
		m.WriteFile("d/f", []byte("f"), 0o644)
		return MemLayer(m)
	}
	for _, c := range []struct {
		name string
		o    Options
		opt  string
	}{
		{"redirect_dir=on", Options{RedirectDir: RedirectOn}, "redirect_dir"},
		{"metacopy=on", Options{Metacopy: SwitchOn}, "metacopy"},
		{"index=on", Options{Index: SwitchOn}, "index"},
		{"nfs_export=on", Options{NFSExport: SwitchOn}, "index"},
	} {
		o := c.o
		o.Lower, o.Upper = []*Layer{lower()}, AferoLayer(afero.NewMemMapFs())
		_, err := New(o)
		var oe *OptionError
		if !errors.As(err, &oe) || !errors.Is(err, syscall.EINVAL) || oe.Option != c.opt || !strings.Contains(err.Error(), "xattrs") {
			t.Errorf("%s on an afero upper: %v, want an *OptionError for %q wrapping EINVAL", c.name, err, c.opt)
		}
	}
	fsys, err := New(Options{Lower: []*Layer{lower()}, Upper: AferoLayer(afero.NewMemMapFs())})
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename("d", "e"); !errors.Is(err, syscall.EXDEV) {
		t.Errorf("rename of a merged dir on an afero upper: %v, want EXDEV", err)
	}
	if err := fsys.Chmod("d/f", 0o600); err != nil {
		t.Errorf("chmod on an afero upper: %v", err)
	}
	fsys.Close()
	fsys, err = New(Options{Lower: []*Layer{lower()}, Upper: MemLayer(nil), RedirectDir: RedirectOn})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if err := fsys.Rename("d", "e"); err != nil {
		t.Errorf("rename of a merged dir with redirect_dir=on on a MemLayer upper: %v", err)
	}
	if b, err := afero.ReadFile(fsys, "e/f"); err != nil || string(b) != "f" {
		t.Errorf("e/f after the rename: %q, %v", b, err)
	}
}
