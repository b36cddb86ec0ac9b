//go:build linux

package overlay_test

import (
	"errors"
	"fmt"
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

// Index entries of every odd shape (index=on): a kernel mount copies up
// one name of a hard-linked lower file, making a genuine entry; the entry
// is then renamed, retyped, stripped of its xattrs or orphaned, the same
// way for a kernel mount and for the library, which must agree on
// whether the overlay opens (and its errno), on every op, on the merged
// tree and on what is left in the upper and the index.

// indexMutations change the entry E of W/index (or the layers around it).
var indexMutations = []struct {
	name string
	fn   func(lower, upper, index, e string) error
	// inconsistent marks a state whose union link count contradicts the
	// upper: the ops must agree, what is left on disk may not (doc.go).
	inconsistent bool
}{
	{name: "none", fn: func(l, u, ix, e string) error { return nil }},
	{name: "bad-name", fn: func(l, u, ix, e string) error { return os.Rename(filepath.Join(ix, e), filepath.Join(ix, "zz"+e)) }},
	{name: "short-name", fn: func(l, u, ix, e string) error { return os.Rename(filepath.Join(ix, e), filepath.Join(ix, "00fb")) }},
	{name: "odd-hex-name", fn: func(l, u, ix, e string) error { return os.Rename(filepath.Join(ix, e), filepath.Join(ix, e+"0")) }},
	{name: "name-version", fn: renameIndex(func(e string) string { return "01" + e[2:] })},
	{name: "name-magic", fn: renameIndex(func(e string) string { return e[:2] + "fa" + e[4:] })},
	{name: "name-len-too-big", fn: renameIndex(func(e string) string { return e[:4] + "ff" + e[6:] })},
	{name: "name-len-small", fn: renameIndex(func(e string) string { return e[:4] + "15" + e[6:] })},
	{name: "name-big-endian", fn: renameIndex(func(e string) string { return e[:6] + "01" + e[8:] })},
	{name: "name-any-endian", fn: renameIndex(func(e string) string { return e[:6] + "03" + e[8:] })},
	{name: "name-unknown-flag", fn: renameIndex(func(e string) string { return e[:6] + "80" + e[8:] })},
	{name: "name-upper-flag", fn: renameIndex(func(e string) string { return e[:6] + "04" + e[8:] })},
	{name: "name-uppercase", fn: renameIndex(strings.ToUpper)},
	{name: "temp-name", fn: func(l, u, ix, e string) error { return os.Rename(filepath.Join(ix, e), filepath.Join(ix, "#77")) }},
	{name: "dir", fn: func(l, u, ix, e string) error {
		return errors.Join(os.Remove(filepath.Join(u, "h1")), os.Remove(filepath.Join(ix, e)), os.Mkdir(filepath.Join(ix, e), 0o755))
	}},
	{name: "whiteout", fn: func(l, u, ix, e string) error {
		return errors.Join(os.Remove(filepath.Join(u, "h1")), os.Remove(filepath.Join(ix, e)), unix.Mknod(filepath.Join(ix, e), unix.S_IFCHR, 0))
	}},
	{name: "symlink", fn: func(l, u, ix, e string) error {
		return errors.Join(os.Remove(filepath.Join(u, "h1")), os.Remove(filepath.Join(ix, e)), os.Symlink("x", filepath.Join(ix, e)))
	}},
	{name: "plain-file", fn: func(l, u, ix, e string) error {
		return errors.Join(os.Remove(filepath.Join(ix, e)), os.WriteFile(filepath.Join(ix, e), []byte("other"), 0o644))
	}},
	{name: "upper-name-gone", fn: func(l, u, ix, e string) error { return os.Remove(filepath.Join(u, "h1")) }, inconsistent: true},
	{name: "orphan", fn: func(l, u, ix, e string) error {
		return errors.Join(os.Remove(filepath.Join(u, "h1")), unix.Setxattr(filepath.Join(ix, e), "trusted.overlay.nlink", []byte("U-1"), 0))
	}},
	{name: "nlink-bad", fn: setIndexXattr("nlink", "X+1")},
	{name: "nlink-empty", fn: setIndexXattr("nlink", "")},
	{name: "nlink-negative", fn: setIndexXattr("nlink", "U-9")},
	{name: "nlink-lower", fn: setIndexXattr("nlink", "L+0")},
	{name: "nlink-garbage", fn: setIndexXattr("nlink", "U+1x")},
	{name: "nlink-none", fn: func(l, u, ix, e string) error { return unix.Removexattr(filepath.Join(ix, e), "trusted.overlay.nlink") }},
	{name: "origin-none", fn: func(l, u, ix, e string) error {
		return unix.Removexattr(filepath.Join(ix, e), "trusted.overlay.origin")
	}},
	{name: "origin-other", fn: setIndexXattr("origin", "\x00\xfb\x1d\x00\x01"+strings.Repeat("\x00", 16)+"\x25\x00\x00\x00\x12\x28\x9f\x7d")},
	{name: "origin-empty", fn: setIndexXattr("origin", "")},
	{name: "dangling", fn: func(l, u, ix, e string) error {
		return errors.Join(os.Remove(filepath.Join(l, "h1")), os.Remove(filepath.Join(l, "h2")))
	}},
}

// renameIndex renames the entry E to f(E).
func renameIndex(f func(string) string) func(l, u, ix, e string) error {
	return func(l, u, ix, e string) error { return os.Rename(filepath.Join(ix, e), filepath.Join(ix, f(e))) }
}

func setIndexXattr(name, v string) func(l, u, ix, e string) error {
	return func(l, u, ix, e string) error {
		return unix.Setxattr(filepath.Join(ix, e), "trusted.overlay."+name, []byte(v), 0)
	}
}

const indexEntryOps = `
stat h1
stat h2
readfile h1
readfile h2
stat p1
readfile s
chmod h2 0640
stat h2
stat h1
appendfile p2 "+"
stat p1
remove h1
stat h2
readdir .`

// indexEntrySide builds, under root/name, the lower (h1 and h2 one file,
// p1 and p2 another, s), copies h1 up with a kernel mount to make its
// index entry, and applies the mutation m.
func indexEntrySide(t *testing.T, root, name, extra string, m func(l, u, ix, e string) error) (opts, lower, upper, work string) {
	t.Helper()
	lower, upper, work = filepath.Join(root, name, "l"), filepath.Join(root, name, "u"), filepath.Join(root, name, "w")
	for _, d := range []string{lower, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct{ n, data string }{{"h1", "data"}, {"p1", "pair"}, {"s", "s"}} {
		if err := os.WriteFile(filepath.Join(lower, f.n), []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(os.Link(filepath.Join(lower, "h1"), filepath.Join(lower, "h2")), os.Link(filepath.Join(lower, "p1"), filepath.Join(lower, "p2"))); err != nil {
		t.Fatal(err)
	}
	opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + "," + extra
	mnt := layertest.Mount(t, []string{lower}, upper, work, extra)
	if err := os.Chmod(filepath.Join(mnt, "h1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := layertest.Unmount(mnt); err != nil {
		t.Fatal(err)
	}
	ix := filepath.Join(work, "index")
	ents, err := os.ReadDir(ix)
	if err != nil {
		t.Fatal(err)
	}
	var e string
	for _, de := range ents {
		if !strings.HasPrefix(de.Name(), "#") {
			e = de.Name()
		}
	}
	if e == "" {
		t.Fatal("the kernel made no index entry")
	}
	if err := m(lower, upper, ix, e); err != nil {
		t.Fatal(err)
	}
	return opts, lower, upper, work
}

// indexListing describes the entries of an index dir: type, link count
// and nlink xattr, sorted (names differ between two fixtures).
func indexListing(t *testing.T, work string) string {
	ix := filepath.Join(work, "index")
	ents, err := os.ReadDir(ix)
	if err != nil {
		return "error " + err.Error()
	}
	var l []string
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), "#") {
			continue // the kernel's shared whiteout and temporaries
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(ix, de.Name()), &st); err != nil {
			t.Fatal(err)
		}
		v, _ := layertest.Getxattr(filepath.Join(ix, de.Name()), "trusted.overlay.nlink")
		kind := map[uint32]string{unix.S_IFREG: "f", unix.S_IFDIR: "d", unix.S_IFCHR: "c", unix.S_IFLNK: "l"}[st.Mode&unix.S_IFMT]
		name := "entry"
		switch {
		case strings.Trim(de.Name(), "0123456789abcdef") != "":
			name = fmt.Sprintf("non-hex(%d)", len(de.Name()))
		case len(de.Name()) < 42:
			name = de.Name()
		}
		if kind == "c" {
			st.Nlink = 0 // the kernel's whiteouts share one inode, the library's do not (doc.go)
		}
		l = append(l, fmt.Sprintf("%s %s nlink=%d %q", name, kind, st.Nlink, v))
	}
	sort.Strings(l)
	return strings.Join(l, "; ")
}

// TestKernelDiffIndexEntries runs indexEntryOps over each mutated index on
// the kernel and on the library (on a tmpfs, whose UUID index needs).
func TestKernelDiffIndexEntries(t *testing.T) {
	requireKernel(t)
	// (Subtest names go into paths, which mount options cannot hold commas.)
	t.Run("index", func(t *testing.T) { indexEntriesDiff(t, "index=on") })
	t.Run("nfs_export", func(t *testing.T) { indexEntriesDiff(t, "index=on,nfs_export=on") })
}

func indexEntriesDiff(t *testing.T, extra string) {
	for _, m := range indexMutations {
		t.Run(m.name, func(t *testing.T) {
			root := t.TempDir()
			testskip.Tmpfs(t, root, "size=16m")
			ops := mustOps(indexEntryOps)

			kopts, _, ku, kw := indexEntrySide(t, root, "k", extra, m.fn)
			mnt := filepath.Join(root, "mnt")
			os.Mkdir(mnt, 0o755)
			var kres []opResult
			var kdump string
			kerr := unix.Mount("overlay", mnt, "overlay", 0, kopts)
			if kerr == nil {
				kres = runScript(osTarget{mnt}, ops, runConfig{})
				var err error
				if kdump, err = layertest.DumpDir(mnt); err != nil {
					t.Fatal(err)
				}
				if err := layertest.Unmount(mnt); err != nil {
					t.Fatal(err)
				}
			}

			lopts, _, lu, lw := indexEntrySide(t, root, "l", extra, m.fn)
			o, err := overlay.ParseOptions(lopts)
			if err != nil {
				t.Fatal(err)
			}
			var lres []opResult
			var ldump string
			fsys, lerr := overlay.New(o)
			if lerr == nil {
				lres = runScript(fsys, ops, runConfig{})
				if ldump, err = layertest.DumpFS(fsys, "/"); err != nil {
					t.Fatal(err)
				}
				if err := fsys.Close(); err != nil {
					t.Fatal(err)
				}
			}
			var ke, le syscall.Errno
			errors.As(kerr, &ke)
			errors.As(lerr, &le)
			if ke != le || (kerr == nil) != (lerr == nil) {
				t.Fatalf("opening: kernel %v, library %v", kerr, lerr)
			}
			if kerr == nil {
				compareResults(t, "kernel", "library", ops, kres, lres, false)
				diffDumps(t, "merged tree", "kernel", "library", kdump, ldump)
			}
			if m.inconsistent {
				return
			}
			diffDumps(t, "index", "kernel", "library", indexListing(t, kw), indexListing(t, lw))
			kup, err := layertest.DumpDir(ku, layertest.IgnoreBookkeeping())
			if err != nil {
				t.Fatal(err)
			}
			lup, err := layertest.DumpDir(lu, layertest.IgnoreBookkeeping())
			if err != nil {
				t.Fatal(err)
			}
			diffDumps(t, "upper dir", "kernel", "library", kup, lup)
		})
	}
}
