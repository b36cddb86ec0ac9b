//go:build linux

package ondisk

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/testskip"
)

// TestDecodeKernelUpper has the kernel write an upper with index=on (a
// copied-up hard-linked lower file, and a moved dir with redirect_dir=on)
// and reads it back with this package alone: every origin decodes, names
// the upper's origin's index entry, and the nlink and redirect xattrs
// parse.
func TestDecodeKernelUpper(t *testing.T) {
	if os.Geteuid() != 0 {
		testskip.Skip(t, "mounting overlay needs root")
	}
	if b, err := os.ReadFile("/proc/filesystems"); err != nil || !bytes.Contains(b, []byte("\toverlay\n")) {
		testskip.Skip(t, "no overlay in /proc/filesystems")
	}
	l, u, w, m := testskip.TmpfsLayers(t)
	if err := os.WriteFile(filepath.Join(l, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(l, "f"), filepath.Join(l, "g")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l, "h"), []byte("meta"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w + ",index=on,redirect_dir=on,metacopy=on"
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Fatalf("mount: %v", err)
	}
	mounted := true
	defer func() {
		if mounted {
			unix.Unmount(m, 0)
		}
	}()
	if err := os.WriteFile(filepath.Join(m, "f"), []byte("new"), 0o644); err != nil { // copy-up into the index
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(m, "g")); err != nil { // one name fewer: the nlink xattr moves
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(m, "d"), filepath.Join(m, "e")); err != nil { // a redirect
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(m, "h"), 0o600); err != nil { // a metadata-only copy
		t.Fatal(err)
	}
	if err := unix.Unmount(m, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false

	get := func(p, name string) []byte {
		t.Helper()
		buf := make([]byte, 256)
		n, err := unix.Lgetxattr(p, "trusted.overlay."+name, buf)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", p, name, err)
		}
		return buf[:n]
	}
	origin := get(filepath.Join(u, "f"), "origin")
	fb, err := DecodeFB(origin)
	if err != nil {
		t.Fatalf("origin of f: DecodeFB(%x): %v", origin, err)
	}
	if fb.Flags&FlagUpper != 0 || len(fb.Handle.FID) == 0 {
		t.Errorf("origin of f: %+v, want a lower handle", fb)
	}
	ents, err := os.ReadDir(filepath.Join(w, "index"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "#") {
			continue
		}
		b, err := ParseIndexName(e.Name())
		if err != nil {
			t.Errorf("index entry %s: %v", e.Name(), err)
			continue
		}
		if bytes.Equal(b, origin) {
			found = true
		}
	}
	if !found || IndexName(origin) == "" {
		t.Errorf("no index entry named %s among %v", IndexName(origin), ents)
	}
	idx := filepath.Join(w, "index", IndexName(origin))
	base, delta, ok := ParseNlink(get(idx, "nlink"))
	var st unix.Stat_t
	if err := unix.Lstat(idx, &st); err != nil {
		t.Fatal(err)
	}
	// One overlay name is left (f): the upper inode counts f and the
	// index link.
	if !ok || base != 'U' || int64(st.Nlink)+delta != 1 {
		t.Errorf("nlink xattr %c%+d with upper count %d: union %d, want 1", base, delta, st.Nlink, int64(st.Nlink)+delta)
	}
	if r, err := ParseRedirect(get(filepath.Join(u, "e"), "redirect")); err != nil || r != "d" {
		t.Errorf("redirect of e: %q, %v; want \"d\"", r, err)
	}
	if mc, err := ParseMetacopy(get(filepath.Join(u, "h"), "metacopy")); err != nil || mc.DigestAlg != 0 {
		t.Errorf("metacopy of h: %+v, %v; want the plain marker", mc, err)
	}
	if _, err := DecodeFB(get(filepath.Join(w, "index"), "upper")); err != nil {
		t.Errorf("upper xattr of the index dir: %v", err)
	}

	// The markers, through Kernel alone over the upper dir.
	k, r := Kernel{Prefix: TrustedPrefix, Xattr: true}, hostReader(u)
	for _, c := range []struct {
		p    string
		want func(Object) bool
	}{
		{"g", func(o Object) bool { return o.Kind == Whiteout }},
		{"d", func(o Object) bool { return o.Kind == Whiteout }},
		{"e", func(o Object) bool { return o.Kind == Present && o.Attr.IsDir() && o.Redirect == "d" && !o.Opaque }},
		{"h", func(o Object) bool { return o.Kind == Present && o.Metacopy && o.Attr.Size == 4 }},
		{"f", func(o Object) bool { return o.Kind == Present && !o.Metacopy && o.Attr.Size == 3 }},
		{"nope", func(o Object) bool { return o.Kind == Absent }},
	} {
		if o, err := k.Probe(r, c.p, false); err != nil || !c.want(o) {
			t.Errorf("Probe(%s) = %+v, %v", c.p, o, err)
		}
	}
	var dirents []layer.DirEnt
	des, err := os.ReadDir(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		dirents = append(dirents, layer.DirEnt{Name: de.Name()})
	}
	at := [2]int{}
	marked, err := k.Classify(r, "", false, dirents, &at)
	if err != nil {
		t.Fatal(err)
	}
	whiteouts := map[string]bool{}
	for _, e := range marked {
		if e.Whiteout {
			whiteouts[e.Name] = true
		}
	}
	if len(whiteouts) != 2 || !whiteouts["g"] || !whiteouts["d"] {
		t.Errorf("Classify of the upper root: whiteouts %v, want d and g", whiteouts)
	}
}

// hostReader reads the host dir root as a layer, for the codec alone.
type hostReader string

func (h hostReader) Lstat(p string) (layer.Attr, error) {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(string(h), p), &st); err != nil {
		return layer.Attr{}, err
	}
	return layer.Attr{Mode: st.Mode, Nlink: uint64(st.Nlink), Rdev: st.Rdev, Size: st.Size, Ino: st.Ino}, nil
}

func (h hostReader) Getxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(filepath.Join(string(h), p), name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
