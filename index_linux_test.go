package overlay_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// indexFixture makes, on the tmpfs at root, a lower with one file of
// three names (h1, h2, d/h3) plus an upper and a work dir.
func indexFixture(t *testing.T, root, name string) (lower, upper, work string) {
	t.Helper()
	lower, upper, work = filepath.Join(root, name, "l"), filepath.Join(root, name, "u"), filepath.Join(root, name, "w")
	for _, d := range []string{filepath.Join(lower, "d"), upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "h1"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"h2", "d/h3"} {
		if err := os.Link(filepath.Join(lower, "h1"), filepath.Join(lower, l)); err != nil {
			t.Fatal(err)
		}
	}
	return
}

// indexState describes what an overlay shows of the inode's names, and
// what the index dir holds.
func indexState(t *testing.T, lstat func(string) (os.FileInfo, error), read func(string) ([]byte, error), lowerIno uint64, work string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{"h1", "h2", "d/h3", "h4"} {
		fi, err := lstat(n)
		if err != nil {
			var e syscall.Errno
			errors.As(err, &e)
			fmt.Fprintf(&b, "%s:%v ", n, e)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		data, _ := read(n)
		fmt.Fprintf(&b, "%s:nlink=%d,lowerino=%v,%q ", n, st.Nlink, st.Ino == lowerIno, data)
	}
	ents, _ := os.ReadDir(filepath.Join(work, "index"))
	var idx []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "#") {
			continue // the kernel's temporaries and shared whiteout (its work dir)
		}
		v := make([]byte, 32)
		n, _ := unix.Getxattr(filepath.Join(work, "index", e.Name()), "trusted.overlay.nlink", v)
		var st unix.Stat_t
		unix.Lstat(filepath.Join(work, "index", e.Name()), &st)
		idx = append(idx, fmt.Sprintf("entry(nlink=%d,%s)", st.Nlink, v[:max(n, 0)]))
	}
	sort.Strings(idx)
	b.WriteString(strings.Join(idx, " "))
	return b.String()
}

// TestIndexKernel runs a hard-link sequence on the kernel and on
// the library with index=on (on a tmpfs: index needs a filesystem UUID),
// comparing after every step the link counts, inode numbers and data of
// every name, and the index entries with their nlink xattrs; then each
// opens the other's upper.
func TestIndexKernel(t *testing.T) {
	requireKernel(t)
	root := t.TempDir()
	testskip.Tmpfs(t, root, "size=16m")
	kl, ku, kw := indexFixture(t, root, "k")
	ll, lu, lw := indexFixture(t, root, "l")
	opts := func(l, u, w string) string { return "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w + ",index=on" }
	inoOf := func(p string) uint64 {
		var st unix.Stat_t
		unix.Stat(p, &st)
		return st.Ino
	}
	kIno, lIno := inoOf(filepath.Join(kl, "h1")), inoOf(filepath.Join(ll, "h1"))

	mnt := filepath.Join(root, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts(kl, ku, kw)); err != nil {
		t.Fatal(err)
	}
	at := func(n string) string { return filepath.Join(mnt, n) }
	o, err := overlay.ParseOptions(opts(ll, lu, lw))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	kstate := func() string {
		return indexState(t, func(n string) (os.FileInfo, error) { return os.Lstat(at(n)) }, func(n string) ([]byte, error) { return os.ReadFile(at(n)) }, kIno, kw)
	}
	lstate := func() string {
		return indexState(t, fsys.Lstat, func(n string) ([]byte, error) {
			f, err := fsys.Open(n)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			b := make([]byte, 64)
			k, _ := f.Read(b)
			return b[:k], nil
		}, lIno, lw)
	}
	steps := []struct {
		name   string
		kernel func() error
		lib    func() error
	}{
		{"start", func() error { return nil }, func() error { return nil }},
		{"write h1", func() error { return appendTo(at("h1"), "+1") }, func() error {
			f, err := fsys.OpenFile("h1", os.O_WRONLY|os.O_APPEND, 0)
			if err == nil {
				_, err = f.Write([]byte("+1"))
				f.Close()
			}
			return err
		}},
		{"chmod h2", func() error { return os.Chmod(at("h2"), 0o600) }, func() error { return fsys.Chmod("h2", 0o600) }},
		{"ln h2 h4", func() error { return os.Link(at("h2"), at("h4")) }, func() error { return fsys.Link("h2", "h4") }},
		{"rm h1", func() error { return os.Remove(at("h1")) }, func() error { return fsys.Remove("h1") }},
		{"rm d/h3", func() error { return os.Remove(at("d/h3")) }, func() error { return fsys.Remove("d/h3") }},
		{"rm h2", func() error { return os.Remove(at("h2")) }, func() error { return fsys.Remove("h2") }},
		{"rm h4", func() error { return os.Remove(at("h4")) }, func() error { return fsys.Remove("h4") }},
	}
	for _, s := range steps {
		if err := s.kernel(); err != nil {
			t.Fatalf("%s: kernel: %v", s.name, err)
		}
		if err := s.lib(); err != nil {
			t.Fatalf("%s: library: %v", s.name, err)
		}
		k, l := kstate(), lstate()
		if k != l {
			t.Errorf("after %s:\n\tkernel:  %s\n\tlibrary: %s", s.name, k, l)
		}
	}
	unix.Unmount(mnt, 0)
	fsys.Close()

	// The mount-time checks: another lower set is ESTALE on both.
	other := filepath.Join(root, "other")
	os.Mkdir(other, 0o755)
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts(other, ku, kw)); !errors.Is(err, syscall.ESTALE) {
		if err == nil {
			unix.Unmount(mnt, 0)
		}
		t.Errorf("kernel mount over another lower: %v, want ESTALE", err)
	}
	if o, err := overlay.ParseOptions(opts(other, lu, lw)); err != nil {
		t.Fatal(err)
	} else if _, err := overlay.New(o); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("New over another lower: %v, want ESTALE", err)
	}
	// The same upper twice with index=on: EBUSY.
	o1, _ := overlay.ParseOptions(opts(ll, lu, lw))
	f1, err := overlay.New(o1)
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := overlay.ParseOptions(opts(ll, lu, lw))
	if _, err := overlay.New(o2); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("second New on an upper in use: %v, want EBUSY", err)
	}
	f1.Close()
}

func appendTo(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// TestIndexOnDisk: after one name of the hard-linked file is written,
// the kernel opens the library's upper and the library the kernel's, and
// both show all names linked, with the new data and three links.
func TestIndexOnDisk(t *testing.T) {
	requireKernel(t)
	root := t.TempDir()
	testskip.Tmpfs(t, root, "size=16m")
	opts := func(l, u, w string) string { return "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w + ",index=on" }
	mnt := filepath.Join(root, "mnt")
	os.Mkdir(mnt, 0o755)
	check := func(who string, lstat func(string) (os.FileInfo, error), read func(string) ([]byte, error)) {
		t.Helper()
		for _, n := range []string{"h1", "h2", "d/h3"} {
			fi, err := lstat(n)
			if err != nil {
				t.Errorf("%s: %s: %v", who, n, err)
				continue
			}
			data, _ := read(n)
			if nl := fi.Sys().(*syscall.Stat_t).Nlink; nl != 3 || string(data) != "data+1" {
				t.Errorf("%s: %s: nlink %d, data %q; want 3, \"data+1\"", who, n, nl, data)
			}
		}
	}
	// The library writes; the kernel reads.
	ll, lu, lw := indexFixture(t, root, "l")
	o, _ := overlay.ParseOptions(opts(ll, lu, lw))
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenFile("h1", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("+1"))
	f.Close()
	fsys.Close()
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts(ll, lu, lw)); err != nil {
		t.Fatal(err)
	}
	check("kernel over the library's upper", func(n string) (os.FileInfo, error) { return os.Lstat(filepath.Join(mnt, n)) },
		func(n string) ([]byte, error) { return os.ReadFile(filepath.Join(mnt, n)) })
	unix.Unmount(mnt, 0)

	// The kernel writes; the library reads.
	kl, ku, kw := indexFixture(t, root, "k")
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts(kl, ku, kw)); err != nil {
		t.Fatal(err)
	}
	if err := appendTo(filepath.Join(mnt, "h1"), "+1"); err != nil {
		t.Fatal(err)
	}
	unix.Unmount(mnt, 0)
	o, _ = overlay.ParseOptions(opts(kl, ku, kw))
	fsys, err = overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	check("library over the kernel's upper", fsys.Lstat, func(n string) ([]byte, error) {
		f, err := fsys.Open(n)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b := make([]byte, 64)
		k, _ := f.Read(b)
		return b[:k], nil
	})
}

// TestNFSExportRemoveAllIndex: with nfs_export, removing a tree of lower
// objects leaves a whiteout in the index for each of them (each copied up
// into the index first, then whited out). The library, which takes such a
// tree at once, must leave the same kinds of entries, as many, as the
// kernel removing it entry by entry: for a tree of one lower layer, one
// merged from two (a name in both, a file over a dir), and one merged
// with the upper.
func TestNFSExportRemoveAllIndex(t *testing.T) {
	requireKernel(t)
	for _, fix := range []string{`
-- lower --
file a/f "x"
dir a/b
file a/b/g "y"
link a/b/l -> "zz"
dir a/b/c
`, `
-- lower1 --
file a/f "x"
dir a/b
file a/b/g "y"
file a/e "e"
-- lower2 --
file a/f "old"
dir a/b
file a/b/h "h"
dir a/b/c
file a/e/under "hidden by the file above"
file a/only "o"
`, `
-- upper --
file a/new "n"
dir a/b
file a/b/up "u"
file a/e2 "shadows a dir below"
-- lower1 --
file a/f "x"
dir a/b
file a/b/g "y"
dir a/e2
file a/e2/x "x"
`} {
		s := layertest.MustParse(fix)
		s.Upper = &layertest.Layer{Name: "upper"}
		ops := mustOps("removeall a\n")
		dir := diffDir(t, nfsExportVariant)
		kr := runKernel(t, nfsExportVariant, s, filepath.Join(dir, "k"), ops)
		lr, d, ok := runNative(t, nfsExportVariant, s, filepath.Join(dir, "l"), ops)
		if !ok {
			return
		}
		if kr.res[0].res != "ok" || lr.res[0].res != "ok" {
			t.Fatalf("removeall: kernel %s, library %s", kr.res[0].res, lr.res[0].res)
		}
		// The index's own entries: the kernel keeps its shared whiteout
		// ("#" and a counter) there too.
		kinds := func(w string) map[string]int {
			ents, err := os.ReadDir(filepath.Join(w, "index"))
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]int{}
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), "#") {
					m[e.Type().String()]++
				}
			}
			return m
		}
		if k, l := kinds(kr.dirs.Work), kinds(d.Work); !maps.Equal(k, l) {
			t.Errorf("index entries after RemoveAll: kernel %v, library %v\nfixture:%s", k, l, fix)
		}
	}
}
