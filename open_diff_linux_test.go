//go:build linux

package overlay_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// openKind is one kind of object that TestKernelDiffOpenFlags opens with
// every flag combination: fix gives the fixture lines for the object
// named o (and whatever it needs), path the name to open.
type openKind struct {
	name   string
	rwOnly bool // needs an upper layer
	fix    func(o string) (upper, lower string)
	suffix string // appended to the name opened ("/" for trailing slashes)
}

var openKinds = []openKind{
	{name: "lower-file", fix: func(o string) (string, string) { return "", fmt.Sprintf("file %s \"data\"\n", o) }},
	{name: "upper-file", rwOnly: true, fix: func(o string) (string, string) { return fmt.Sprintf("file %s \"data\"\n", o), "" }},
	{name: "copied-up-file", rwOnly: true, fix: func(o string) (string, string) {
		return fmt.Sprintf("file %s \"up\"\n", o), fmt.Sprintf("file %s \"data\"\n", o)
	}},
	{name: "lower-dir", fix: func(o string) (string, string) { return "", fmt.Sprintf("dir %s\nfile %s/x \"x\"\n", o, o) }},
	{name: "merged-dir", rwOnly: true, fix: func(o string) (string, string) {
		return fmt.Sprintf("dir %s\nfile %s/u \"u\"\n", o, o), fmt.Sprintf("dir %s\nfile %s/x \"x\"\n", o, o)
	}},
	{name: "upper-dir", rwOnly: true, fix: func(o string) (string, string) { return fmt.Sprintf("dir %s\n", o), "" }},
	{name: "symlink-file", fix: func(o string) (string, string) {
		return "", fmt.Sprintf("file t%s \"data\"\nlink %s -> t%s\n", o, o, o)
	}},
	{name: "symlink-dir", fix: func(o string) (string, string) {
		return "", fmt.Sprintf("dir t%s\nlink %s -> t%s\n", o, o, o)
	}},
	{name: "symlink-dangling", fix: func(o string) (string, string) { return "", fmt.Sprintf("link %s -> t%s\n", o, o) }},
	{name: "missing", fix: func(o string) (string, string) { return "", "" }},
	{name: "whiteout", rwOnly: true, fix: func(o string) (string, string) {
		return fmt.Sprintf("whiteout %s\n", o), fmt.Sprintf("file %s \"data\"\n", o)
	}},
	{name: "file-slash", suffix: "/", fix: func(o string) (string, string) { return "", fmt.Sprintf("file %s \"data\"\n", o) }},
	{name: "dir-slash", suffix: "/", fix: func(o string) (string, string) { return "", fmt.Sprintf("dir %s\n", o) }},
	{name: "symlink-dir-slash", suffix: "/", fix: func(o string) (string, string) {
		return "", fmt.Sprintf("dir t%s\nlink %s -> t%s\n", o, o, o)
	}},
	{name: "symlink-file-slash", suffix: "/", fix: func(o string) (string, string) {
		return "", fmt.Sprintf("file t%s \"data\"\nlink %s -> t%s\n", o, o, o)
	}},
	{name: "missing-slash", suffix: "/", fix: func(o string) (string, string) { return "", "" }},
	{name: "whiteout-slash", rwOnly: true, suffix: "/", fix: func(o string) (string, string) {
		return fmt.Sprintf("whiteout %s\n", o), fmt.Sprintf("file %s \"data\"\n", o)
	}},
}

// openCombos is every combination of the open flags that matter: the
// four access modes (3 is the kernel's "neither read nor write"), with or
// without O_CREATE, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOFOLLOW and O_APPEND.
func openCombos() []int {
	bits := []int{os.O_CREATE, os.O_EXCL, os.O_TRUNC, layer.ODirectory, layer.ONoFollow, os.O_APPEND}
	var out []int
	for acc := 0; acc < 4; acc++ {
		for m := 0; m < 1<<len(bits); m++ {
			f := acc
			for i, b := range bits {
				if m&(1<<i) != 0 {
					f |= b
				}
			}
			out = append(out, f)
		}
	}
	return out
}

// probeOpen opens name with flag on tg and, when that works, writes,
// reads and stats through the handle; it renders what happened.
func probeOpen(tg target, name string, flag int) string {
	f, err := tg.OpenFile(name, flag, 0o640)
	if err != nil {
		return "open=" + layertest.ErrString(err)
	}
	defer f.Close()
	var b strings.Builder
	b.WriteString("open=ok")
	_, err = f.Write([]byte("W"))
	fmt.Fprintf(&b, " write=%s", layertest.ErrString(err))
	buf := make([]byte, 8)
	n, err := f.ReadAt(buf, 0)
	if err == io.EOF {
		err = nil
	}
	fmt.Fprintf(&b, " pread=%s %q", layertest.ErrString(err), buf[:n])
	if fi, err := f.Stat(); err != nil {
		fmt.Fprintf(&b, " fstat=%s", layertest.ErrString(err))
	} else {
		st := layertest.Stat(fi)
		fmt.Fprintf(&b, " fstat=%s %04o", layertest.TypeLetter(st.Mode), st.Mode&0o7777)
		if !fi.IsDir() {
			fmt.Fprintf(&b, " size=%d", st.Size)
		}
	}
	fmt.Fprintf(&b, " close=%s", layertest.ErrString(f.Close()))
	return b.String()
}

func flagString(f int) string {
	s := []string{"r", "w", "rw", "acc3"}[f&3]
	for _, x := range []struct {
		b int
		n string
	}{{os.O_CREATE, "creat"}, {os.O_EXCL, "excl"}, {os.O_TRUNC, "trunc"}, {layer.ODirectory, "dir"}, {layer.ONoFollow, "nofollow"}, {os.O_APPEND, "append"}} {
		if f&x.b != 0 {
			s += "+" + x.n
		}
	}
	return s
}

// TestKernelDiffOpenFlags opens each kind of object (lower, upper and
// copied-up files, lower, merged and upper dirs, symlinks to each and
// dangling ones, missing names, whiteouts, each also with a trailing
// slash) with every combination of the open flags, on the kernel's overlay
// and on the library over the same layers (native and in memory), read-
// write and read-only, and compares every result and the trees left
// behind. Each combination opens its own copy of the object.
func TestKernelDiffOpenFlags(t *testing.T) {
	requireKernel(t)
	combos := openCombos()
	for _, k := range openKinds {
		for _, ro := range []bool{false, true} {
			if ro && k.rwOnly {
				continue
			}
			name := k.name
			if ro {
				name += "/ro"
			}
			t.Run(name, func(t *testing.T) {
				var up, low strings.Builder
				up.WriteString("-- upper --\n")
				low.WriteString("-- lower1 --\nfile keep \"k\"\n")
				for i := range combos {
					u, l := k.fix(fmt.Sprintf("o%03d", i))
					up.WriteString(u)
					low.WriteString(l)
				}
				// A read-only mount needs two lowers.
				fix := low.String() + "-- lower2 --\nfile keep2 \"k\"\n"
				if !ro {
					fix = up.String() + fix
				}
				s := layertest.MustParse(fix)
				probe := func(tg target) []string {
					out := make([]string, len(combos))
					for i, f := range combos {
						out[i] = probeOpen(tg, fmt.Sprintf("o%03d", i)+k.suffix, f)
					}
					return out
				}
				// On a tmpfs: thousands of small objects are made and
				// removed, which a disk filesystem's journal makes slow.
				dir := t.TempDir()
				testskip.Tmpfs(t, dir, "size=64m")
				for _, sub := range []string{"k", "l"} {
					if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				// The kernel.
				kd, err := layertest.WriteDirs(s, filepath.Join(dir, "k"), layertest.DirOptions{})
				if err != nil {
					t.Fatal(err)
				}
				merged := layertest.Mount(t, kd.Lowers, kd.Upper, kd.Work, "")
				kres := probe(osTarget{merged})
				kdump, err := layertest.DumpDir(merged)
				if err != nil {
					t.Fatal(err)
				}
				kport, err := layertest.DumpDir(merged, layertest.Portable())
				if err != nil {
					t.Fatal(err)
				}
				if err := layertest.Unmount(merged); err != nil {
					t.Fatal(err)
				}
				// The library over native layers.
				ld, err := layertest.WriteDirs(s, filepath.Join(dir, "l"), layertest.DirOptions{})
				if err != nil {
					t.Fatal(err)
				}
				o, err := ld.Options()
				if err != nil {
					t.Fatal(err)
				}
				lres, ldump := libProbe(t, o, probe)
				for _, l := range append([]*overlay.Layer{o.Upper, o.Work}, o.Lower...) {
					if l != nil {
						l.Close()
					}
				}
				// The library over MemFS layers.
				mo, err := layertest.MemOptions(s)
				if err != nil {
					t.Fatal(err)
				}
				mres, mdump := libProbe(t, mo, probe, layertest.Portable())
				for i, f := range combos {
					if kres[i] != lres[i] {
						t.Errorf("open %s%s %s:\n\tkernel:  %s\n\tlibrary: %s", fmt.Sprintf("o%03d", i), k.suffix, flagString(f), kres[i], lres[i])
					} else if kres[i] != mres[i] {
						t.Errorf("open %s%s %s:\n\tkernel:         %s\n\tlibrary/MemFS:  %s", fmt.Sprintf("o%03d", i), k.suffix, flagString(f), kres[i], mres[i])
					}
				}
				diffDumps(t, "merged tree", "kernel", "library", kdump, ldump)
				diffDumps(t, "merged tree", "kernel", "library over MemFS", kport, mdump)
				if kd.Upper != "" {
					ku, err := layertest.DumpDir(kd.Upper, layertest.IgnoreBookkeeping())
					if err != nil {
						t.Fatal(err)
					}
					lu, err := layertest.DumpDir(ld.Upper, layertest.IgnoreBookkeeping())
					if err != nil {
						t.Fatal(err)
					}
					diffDumps(t, "upper dir", "kernel", "library", ku, lu)
				}
			})
		}
	}
}

func libProbe(t *testing.T, o overlay.Options, probe func(target) []string, dopts ...layertest.DumpOption) ([]string, string) {
	t.Helper()
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatalf("overlay.New: %v", err)
	}
	defer fsys.Close()
	res := probe(fsys)
	dump, err := layertest.DumpFS(fsys, "/", dopts...)
	if err != nil {
		t.Fatalf("DumpFS: %v", err)
	}
	return res, dump
}
