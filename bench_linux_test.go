//go:build linux

package overlay_test

// Benchmarks of the library against a kernel overlay mount of the same
// on-disk layers. Each pair shares one fixture built in the parent
// benchmark; BENCHMARKS.md has the command and the results. They run only
// with -bench: no Test function builds a fixture or mounts anything.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testskip"
)

// benchSink keeps results alive so that no work is optimised away.
var benchSink any

// benchNeedKernel skips b unless this process can mount an overlay.
func benchNeedKernel(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("kernel overlay mount needs root (euid != 0)")
	}
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		b.Skipf("cannot read /proc/filesystems: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
			return
		}
	}
	b.Skip("overlay is not in /proc/filesystems")
}

// benchUnmount unmounts mnt, lazily if a plain unmount fails.
func benchUnmount(mnt string) error {
	if err := unix.Unmount(mnt, 0); err != nil {
		if err2 := unix.Unmount(mnt, unix.MNT_DETACH); err2 != nil {
			return fmt.Errorf("unmount %s: %v; MNT_DETACH: %v", mnt, err, err2)
		}
	}
	return nil
}

// benchMount mounts a kernel overlay of lowers (top-most first) with upper
// and work at mnt, creating mnt. The returned func unmounts it; it is also
// registered with b.Cleanup and may be called more than once.
func benchMount(b *testing.B, mnt string, lowers []string, upper, work, extra string) (unmount func()) {
	b.Helper()
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		b.Fatal(err)
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if extra != "" {
		opts += "," + extra
	}
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		b.Skipf("kernel overlay mount impossible: mount -t overlay -o %s %s: %v", opts, mnt, err)
	}
	mounted := true
	unmount = func() {
		if !mounted {
			return
		}
		mounted = false
		if err := benchUnmount(mnt); err != nil {
			b.Error(err)
		}
	}
	b.Cleanup(unmount)
	return unmount
}

// benchDirLayer is overlay.DirLayer that fails b on error.
func benchDirLayer(b *testing.B, dir string) *overlay.Layer {
	b.Helper()
	l, err := overlay.DirLayer(dir)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchLibrary opens the library's overlay of the same native dirs as
// benchMount (a fresh DirLayer for each), closed by the returned func and
// at b.Cleanup.
func benchLibrary(b *testing.B, lowers []string, upper, work string, o overlay.Options) (*overlay.FS, func()) {
	b.Helper()
	o.Lower = nil
	for _, l := range lowers {
		o.Lower = append(o.Lower, benchDirLayer(b, l))
	}
	o.Upper = benchDirLayer(b, upper)
	o.Work = benchDirLayer(b, work)
	layers := append([]*overlay.Layer{o.Upper, o.Work}, o.Lower...)
	ofs, err := overlay.New(o)
	if err != nil {
		benchCloseLayers(b, layers)
		b.Fatal(err)
	}
	closed := false
	closeFS := func() {
		if !closed {
			closed = true
			if err := ofs.Close(); err != nil {
				b.Error(err)
			}
			benchCloseLayers(b, layers)
		}
	}
	b.Cleanup(closeFS)
	return ofs, closeFS
}

// benchCloseLayers closes layers: an FS does not close the layers given
// to it.
func benchCloseLayers(b *testing.B, layers []*overlay.Layer) {
	for _, l := range layers {
		if err := l.Close(); err != nil {
			b.Error(err)
		}
	}
}

// benchMkdirs creates each dir (with parents) and returns them.
func benchMkdirs(b *testing.B, dirs ...string) []string {
	b.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return dirs
}

func benchWrite(b *testing.B, name string, data []byte) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// benchRandom returns n deterministic pseudo-random bytes (no zero runs to
// be turned into holes).
func benchRandom(n int) []byte {
	buf := make([]byte, n)
	rand.NewChaCha8([32]byte{'o', 'v', 'l'}).Read(buf)
	return buf
}

// Deep-stat fixture: benchDeepLowers lowers, each with d1/d2 and a few
// files in it; the file benchDeepName (path depth 3) is only in the
// bottom-most lower; benchMissingName is in none.
const (
	benchDeepLowers  = 20
	benchDeepName    = "d1/d2/deep"
	benchMissingName = "d1/d2/missing"
	benchDeepSize    = 100
)

// benchDeepFixture builds the deep-stat layers on disk and opens them both
// ways: the kernel mount's path of the tree and the library's FS. With
// features the upper and work dirs go to tmpfs and both sides get
// redirect_dir=on,xino=on,index=on (see benchFeatureRoot and
// benchFeatureLowerRoot).
func benchDeepFixture(b *testing.B, features bool) (mnt string, ofs *overlay.FS) {
	benchNeedKernel(b)
	root := b.TempDir()
	upRoot, kopts, lopts := root, "", overlay.Options{}
	if features {
		root = benchFeatureLowerRoot(b)
		upRoot, kopts, lopts = benchFeatureRoot(b), benchFeatureKOpts, benchFeatureLOpts()
	}
	var lowers []string
	for i := 0; i < benchDeepLowers; i++ {
		l := filepath.Join(root, fmt.Sprintf("l%02d", i))
		for j := 0; j < 8; j++ {
			benchWrite(b, filepath.Join(l, "d1", "d2", fmt.Sprintf("f%d-%d", i, j)), []byte("x"))
		}
		benchWrite(b, filepath.Join(l, "d1", fmt.Sprintf("g%d", i)), []byte("x"))
		lowers = append(lowers, l)
	}
	deep := filepath.Join(lowers[benchDeepLowers-1], filepath.FromSlash(benchDeepName))
	benchWrite(b, deep, make([]byte, benchDeepSize))
	dirs := benchMkdirs(b, filepath.Join(upRoot, "ku"), filepath.Join(upRoot, "kw"),
		filepath.Join(upRoot, "lu"), filepath.Join(upRoot, "lw"))
	unix.Sync() // no writeback of the fixture while timing
	mnt = filepath.Join(root, "mnt")
	benchMount(b, mnt, lowers, dirs[0], dirs[1], kopts)
	ofs, _ = benchLibrary(b, lowers, dirs[2], dirs[3], lopts)
	if features {
		benchCheckXino(b, deep, filepath.Join(mnt, filepath.FromSlash(benchDeepName)), ofs, benchDeepName)
	}
	return mnt, ofs
}

// The Features variants: redirect_dir=on, xino=on and index=on on both
// sides (lowers on a tmpfs, upper on /dev/shm: two filesystems with UUIDs).
const benchFeatureKOpts = "redirect_dir=on,xino=on,index=on"

func benchFeatureLOpts() overlay.Options {
	return overlay.Options{RedirectDir: overlay.RedirectOn, Xino: overlay.XinoOn, Index: overlay.SwitchOn}
}

// benchFeatureRoot returns a fresh directory on /dev/shm (tmpfs), removed
// at b.Cleanup, for the upper and work dirs of the Features variants: with
// every layer on one filesystem the kernel ignores xino=on ("useless with
// all layers on same fs") and so does the library, so the upper goes to
// another filesystem than the ext4 lowers.
// benchFeatureLowerRoot is a tmpfs for the lowers of the feature
// benchmarks: index needs lower filesystems with a UUID, which this
// machine's ext4 lacks (the upper is on /dev/shm, another tmpfs, so xino
// is in effect too).
func benchFeatureLowerRoot(b *testing.B) string {
	b.Helper()
	d := b.TempDir()
	testskip.Tmpfs(b, d, "size=1g")
	return d
}

func benchFeatureRoot(b *testing.B) string {
	b.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		b.Skipf("/dev/shm is not a tmpfs (statfs: %v, type %#x): no second filesystem for xino", err, st.Type)
	}
	d, err := os.MkdirTemp("/dev/shm", "ovl-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// benchCheckXino fails b unless xino is in effect on both sides: the
// lower file realPath, seen as kpath through the kernel mount and as name
// through ofs, shows an inode number other than its real one, and the
// same one on both sides.
func benchCheckXino(b *testing.B, realPath, kpath string, ofs *overlay.FS, name string) {
	b.Helper()
	var rst, kst unix.Stat_t
	if err := unix.Stat(realPath, &rst); err != nil {
		b.Fatal(err)
	}
	if err := unix.Stat(kpath, &kst); err != nil {
		b.Fatal(err)
	}
	fi, err := ofs.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	lst, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		b.Fatalf("library Stat(%s).Sys() is %T", name, fi.Sys())
	}
	if kst.Ino == rst.Ino || lst.Ino != kst.Ino {
		b.Fatalf("xino not in effect: real ino %#x, kernel %#x, library %#x", rst.Ino, kst.Ino, lst.Ino)
	}
}

// benchStatPair runs the kernel and library sub-benchmarks of a stat of
// name; exist tells whether it should be found.
func benchStatPair(b *testing.B, mnt string, ofs *overlay.FS, name string, exist bool) {
	check := func(b *testing.B, fi fs.FileInfo, err error) {
		b.Helper()
		if exist {
			if err != nil || fi.Size() != benchDeepSize {
				b.Fatalf("stat %s: %v, %v", name, fi, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			b.Fatalf("stat %s: %v, want ENOENT", name, err)
		}
	}
	b.Run("kernel", func(b *testing.B) {
		b.ReportAllocs()
		p := filepath.Join(mnt, filepath.FromSlash(name))
		fi, err := os.Stat(p) // warm the dcache
		check(b, fi, err)
		for b.Loop() {
			fi, err = os.Stat(p)
		}
		check(b, fi, err)
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		fi, err := ofs.Stat(name) // warm the library's cache
		check(b, fi, err)
		for b.Loop() {
			fi, err = ofs.Stat(name)
		}
		check(b, fi, err)
	})
}

// BenchmarkStatDeep: warm stat of a file that only the bottom-most of 20
// native lowers has (goal: library <= 1.5x kernel).
func BenchmarkStatDeep(b *testing.B) {
	mnt, ofs := benchDeepFixture(b, false)
	benchStatPair(b, mnt, ofs, benchDeepName, true)
}

// BenchmarkStatDeepFeatures: BenchmarkStatDeep with redirect_dir=on and
// xino=on on both sides, the upper on tmpfs so that xino is in effect
// (goal as BenchmarkStatDeep: library <= 1.5x kernel).
func BenchmarkStatDeepFeatures(b *testing.B) {
	mnt, ofs := benchDeepFixture(b, true)
	benchStatPair(b, mnt, ofs, benchDeepName, true)
}

// BenchmarkStatMissing: stat of a name that none of 20 native lowers has
// (goal: library <= 2x kernel).
func BenchmarkStatMissing(b *testing.B) {
	mnt, ofs := benchDeepFixture(b, false)
	benchStatPair(b, mnt, ofs, benchMissingName, false)
}

// BenchmarkStatDeepMem: warm stat through 20 MemLayers, same tree as
// BenchmarkStatDeep (goal: < 1 µs/op; no kernel counterpart).
func BenchmarkStatDeepMem(b *testing.B) {
	var lowers []*overlay.Layer
	for i := 0; i < benchDeepLowers; i++ {
		m := overlay.NewMemFS()
		if err := m.MkdirAll("d1/d2", 0o755); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 8; j++ {
			if err := m.WriteFile(fmt.Sprintf("d1/d2/f%d-%d", i, j), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.WriteFile(fmt.Sprintf("d1/g%d", i), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
		if i == benchDeepLowers-1 {
			if err := m.WriteFile(benchDeepName, make([]byte, benchDeepSize), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		lowers = append(lowers, overlay.MemLayer(m))
	}
	ofs, err := overlay.New(overlay.Options{Lower: lowers, Upper: overlay.MemLayer(nil)})
	if err != nil {
		b.Fatal(err)
	}
	defer ofs.Close()
	b.ReportAllocs()
	fi, err := ofs.Stat(benchDeepName)
	if err != nil || fi.Size() != benchDeepSize {
		b.Fatalf("stat: %v, %v", fi, err)
	}
	for b.Loop() {
		fi, err = ofs.Stat(benchDeepName)
	}
	if err != nil {
		b.Fatal(err)
	}
	benchSink = fi
}

// Merged-readdir fixture: dir "big" in 5 lowers; lower i has 2,000 names
// of its own, the 4 upper ones also 100 names of the lower below (hidden
// duplicates), the top one 10 whiteouts of bottom names and 10 extra
// names: 10,000 merged entries.
const (
	benchRDLayers   = 5
	benchRDPerLayer = 2000
	benchRDDups     = 100
	benchRDWhiteout = 10
	benchRDMerged   = benchRDLayers*benchRDPerLayer - benchRDWhiteout + benchRDWhiteout
)

// BenchmarkReaddirMerged: open a merged dir of 10,000 entries over 5
// native lowers and read all names, fresh open each iteration (goal:
// library <= 1x kernel).
func BenchmarkReaddirMerged(b *testing.B) { benchReaddirMerged(b, false) }

// BenchmarkReaddirMergedFeatures: BenchmarkReaddirMerged with
// redirect_dir=on and xino=on on both sides, the upper on tmpfs so that
// xino is in effect (goal as BenchmarkReaddirMerged: library <= 1x
// kernel).
func BenchmarkReaddirMergedFeatures(b *testing.B) { benchReaddirMerged(b, true) }

func benchReaddirMerged(b *testing.B, features bool) {
	benchNeedKernel(b)
	root := b.TempDir()
	upRoot, kopts, lopts := root, "", overlay.Options{}
	if features {
		root = benchFeatureLowerRoot(b)
		upRoot, kopts, lopts = benchFeatureRoot(b), benchFeatureKOpts, benchFeatureLOpts()
	}
	var lowers []string
	name := func(layer, j int) string { return fmt.Sprintf("l%d-%05d", layer, j) }
	for i := 0; i < benchRDLayers; i++ {
		l := filepath.Join(root, fmt.Sprintf("l%d", i))
		d := filepath.Join(l, "big")
		benchMkdirs(b, d)
		for j := 0; j < benchRDPerLayer; j++ {
			benchWrite(b, filepath.Join(d, name(i, j)), nil)
		}
		if i+1 < benchRDLayers {
			for j := 0; j < benchRDDups; j++ {
				benchWrite(b, filepath.Join(d, name(i+1, j)), nil)
			}
		}
		lowers = append(lowers, l)
	}
	top := filepath.Join(lowers[0], "big")
	for j := 0; j < benchRDWhiteout; j++ {
		if err := unix.Mknod(filepath.Join(top, name(benchRDLayers-1, 1000+j)), unix.S_IFCHR|0o644, 0); err != nil {
			b.Fatal(err)
		}
		benchWrite(b, filepath.Join(top, fmt.Sprintf("extra-%d", j)), nil)
	}
	dirs := benchMkdirs(b, filepath.Join(upRoot, "ku"), filepath.Join(upRoot, "kw"),
		filepath.Join(upRoot, "lu"), filepath.Join(upRoot, "lw"))
	unix.Sync() // no writeback of the fixture while timing
	mnt := filepath.Join(root, "mnt")
	benchMount(b, mnt, lowers, dirs[0], dirs[1], kopts)
	ofs, _ := benchLibrary(b, lowers, dirs[2], dirs[3], lopts)
	if features {
		n := name(benchRDLayers-1, 500) // only in the bottom lower
		benchCheckXino(b, filepath.Join(lowers[benchRDLayers-1], "big", n), filepath.Join(mnt, "big", n), ofs, "big/"+n)
	}

	kdir := filepath.Join(mnt, "big")
	kernel := func() ([]string, error) {
		f, err := os.Open(kdir)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	}
	library := func() ([]string, error) {
		f, err := ofs.Open("/big")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	}
	// Both sides must list the same 10,000 names.
	kn, err := kernel()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := library()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(kn)
	slices.Sort(ln)
	if len(kn) != benchRDMerged || !slices.Equal(kn, ln) {
		b.Fatalf("kernel lists %d names, library %d (want %d, equal sets)", len(kn), len(ln), benchRDMerged)
	}
	for _, side := range []struct {
		name string
		list func() ([]string, error)
	}{{"kernel", kernel}, {"library", library}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				names, err := side.list()
				if err != nil || len(names) != benchRDMerged {
					b.Fatalf("%d names, %v", len(names), err)
				}
			}
		})
	}
}

// BenchmarkOpenRead4K: open, read to EOF and close a 4 KiB file of the
// (single) native lower (goal: library <= 1.5x kernel).
func BenchmarkOpenRead4K(b *testing.B) {
	benchNeedKernel(b)
	root := b.TempDir()
	lower := filepath.Join(root, "l0")
	want := benchRandom(4096)
	benchWrite(b, filepath.Join(lower, "d", "f4k"), want)
	dirs := benchMkdirs(b, filepath.Join(root, "ku"), filepath.Join(root, "kw"),
		filepath.Join(root, "lu"), filepath.Join(root, "lw"))
	unix.Sync() // no writeback of the fixture while timing
	mnt := filepath.Join(root, "mnt")
	benchMount(b, mnt, []string{lower}, dirs[0], dirs[1], "")
	ofs, _ := benchLibrary(b, []string{lower}, dirs[2], dirs[3], overlay.Options{})

	kpath := filepath.Join(mnt, "d", "f4k")
	for _, side := range []struct {
		name string
		open func() (io.ReadCloser, error)
	}{
		{"kernel", func() (io.ReadCloser, error) { return os.Open(kpath) }},
		{"library", func() (io.ReadCloser, error) { return ofs.Open("/d/f4k") }},
	} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 8192)
			read := func() int {
				f, err := side.open()
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					m, err := f.Read(buf[n:])
					n += m
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				return n
			}
			if n := read(); n != len(want) || !bytes.Equal(buf[:n], want) {
				b.Fatalf("read %d bytes, want %d equal ones", n, len(want))
			}
			for b.Loop() {
				if n := read(); n != len(want) {
					b.Fatalf("read %d bytes", n)
				}
			}
		})
	}
}
