//go:build linux

package overlay

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/native"
	"github.com/go-overlay/overlay/internal/testskip"
)

const cloneMiB = 1 << 20 // bytes

// cloneMountXFS makes a sparse image of size bytes in a temp dir, formats
// it as XFS with reflink, attaches it to a loop device and mounts it. The
// mount and the loop device are removed at cleanup, whatever happens.
func cloneMountXFS(tb testing.TB, size int64) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		testskip.Skip(tb, "needs root (loop device, mount)")
	}
	mkfs, err := exec.LookPath("mkfs.xfs")
	if err != nil {
		testskip.Skip(tb, "mkfs.xfs not installed")
	}
	losetup, err := exec.LookPath("losetup")
	if err != nil {
		testskip.Skip(tb, "losetup not installed")
	}
	if !cloneHasFS("xfs") {
		testskip.Skip(tb, "xfs is not in /proc/filesystems")
	}
	img := filepath.Join(tb.TempDir(), "xfs.img")
	f, err := os.Create(img)
	if err != nil {
		tb.Fatal(err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		tb.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	out, err := exec.Command(losetup, "-f", "--show", img).CombinedOutput()
	if err != nil {
		tb.Fatalf("losetup -f --show: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	tb.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			tb.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	})
	mnt := tb.TempDir()
	if err := unix.Mount(dev, mnt, "xfs", 0, ""); err != nil {
		tb.Fatalf("mount %s on %s: %v", dev, mnt, err)
	}
	tb.Cleanup(func() { cloneUnmount(tb, mnt) })
	return mnt
}

// cloneUnmount unmounts mnt, retrying a busy mount briefly and detaching
// it lazily as a last resort.
func cloneUnmount(tb testing.TB, mnt string) {
	var err error
	for range 50 {
		if err = unix.Unmount(mnt, 0); err != unix.EBUSY {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Errorf("unmount %s: %v", mnt, err)
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s (MNT_DETACH): %v", mnt, err)
		}
	}
}

func cloneHasFS(name string) bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// cloneDirs makes lower, upper and work under dir and returns them.
func cloneDirs(tb testing.TB, dir string) (lower, upper, work string) {
	tb.Helper()
	lower, upper, work = filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{lower, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return lower, upper, work
}

// cloneLayer opens a DirLayer closed at cleanup.
func cloneLayer(tb testing.TB, dir string) *Layer {
	tb.Helper()
	l, err := DirLayer(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// cloneOpen opens the host file path through a DirLayer of its dir: for
// reading, or created for writing.
func cloneOpen(tb testing.TB, path string, create bool) layer.File {
	tb.Helper()
	l := cloneLayer(tb, filepath.Dir(path))
	var f layer.File
	var err error
	if create {
		f, err = l.b.Open(filepath.Base(path), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	} else {
		f, err = l.b.OpenRead(filepath.Base(path), unix.O_RDONLY)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// cloneNew opens an overlay of lower (any layer) with native upper and
// work dirs, closed at cleanup.
func cloneNew(tb testing.TB, lower *Layer, upper, work string) *FS {
	tb.Helper()
	// Not root: no trusted.* xattrs, so userxattr (as the kernel needs).
	ofs, err := New(Options{Lower: []*Layer{lower}, Upper: cloneLayer(tb, upper), Work: cloneLayer(tb, work), Userxattr: os.Geteuid() != 0})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ofs.Close() })
	return ofs
}

// cloneCopyUp opens name for writing through the overlay (a copy-up) and
// closes it.
func cloneCopyUp(tb testing.TB, ofs *FS, name string) {
	tb.Helper()
	f, err := ofs.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("open %s O_WRONLY: %v", name, err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// cloneWriteSparse creates path with size bytes: random data in each of
// the [start, end) ranges of segs, holes elsewhere.
func cloneWriteSparse(tb testing.TB, path string, size int64, segs [][2]int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, cloneMiB)
	for _, s := range segs {
		for off := s[0]; off < s[1]; off += int64(len(buf)) {
			n := min(int64(len(buf)), s[1]-off)
			rng.Read(buf[:n])
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// cloneSameContent fails tb unless files a and b hold the same bytes.
func cloneSameContent(tb testing.TB, a, b string) {
	tb.Helper()
	fa, err := os.Open(a)
	if err != nil {
		tb.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		tb.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 4*cloneMiB), make([]byte, 4*cloneMiB)
	for off := int64(0); ; off += int64(len(ba)) {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			tb.Fatalf("%s and %s differ in the %d bytes at %d (read %d and %d)", a, b, len(ba), off, na, nb)
		}
		if ea != nil || eb != nil {
			if (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF) {
				return
			}
			tb.Fatalf("read: %v, %v", ea, eb)
		}
	}
}

// cloneDataSegs lists the data segments of path with SEEK_DATA/SEEK_HOLE.
func cloneDataSegs(tb testing.TB, path string) [][2]int64 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	var segs [][2]int64
	for off := int64(0); off < fi.Size(); {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // no data after off
		}
		if err != nil {
			tb.Fatal(err)
		}
		end, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			tb.Fatal(err)
		}
		segs = append(segs, [2]int64{start, end})
		off = end
	}
	return segs
}

func cloneBlocks(tb testing.TB, path string) int64 {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	return st.Blocks * 512
}

// fiemapExtent is one struct fiemap_extent of FS_IOC_FIEMAP.
type fiemapExtent struct {
	Logical, Physical, Length uint64
	_                         [2]uint64
	Flags                     uint32
	_                         [3]uint32
}

const (
	fsIocFiemap           = 0xc020660b // _IOWR('f', 11, struct fiemap)
	fiemapFlagSync        = 0x1
	fiemapExtentLast      = 0x1
	fiemapExtentUnwritten = 0x800
	fiemapExtentShared    = 0x2000
)

// cloneFiemap returns the extents of path (FS_IOC_FIEMAP, synced first).
func cloneFiemap(tb testing.TB, path string) []fiemapExtent {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	const hdr, count = 32, 64
	var all []fiemapExtent
	for start := uint64(0); ; {
		buf := make([]uint64, (hdr+count*56)/8)
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
		ne := binary.NativeEndian
		ne.PutUint64(raw[0:], start)
		ne.PutUint64(raw[8:], ^uint64(0)-start)
		ne.PutUint32(raw[16:], fiemapFlagSync)
		ne.PutUint32(raw[24:], count)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
			tb.Fatalf("FIEMAP %s: %v", path, e)
		}
		n := ne.Uint32(raw[20:])
		exts := unsafe.Slice((*fiemapExtent)(unsafe.Pointer(&raw[hdr])), n)
		all = append(all, exts...)
		if n == 0 || exts[n-1].Flags&fiemapExtentLast != 0 {
			return all
		}
		start = exts[n-1].Logical + exts[n-1].Length
	}
}

// TestCloneXFSReflink: on XFS with reflink a copy-up clones the lower
// file: same bytes, every extent shared with the lower's, the hole kept,
// and no new space used.
func TestCloneXFSReflink(t *testing.T) {
	mnt := cloneMountXFS(t, 512*cloneMiB)
	lower, upper, work := cloneDirs(t, mnt)
	segs := [][2]int64{{0, 24 * cloneMiB}, {40 * cloneMiB, 64 * cloneMiB}}
	cloneWriteSparse(t, filepath.Join(lower, "f"), 64*cloneMiB, segs)
	ofs := cloneNew(t, cloneLayer(t, lower), upper, work)

	var before, after unix.Statfs_t
	if err := unix.Statfs(mnt, &before); err != nil {
		t.Fatal(err)
	}
	cloneCopyUp(t, ofs, "f")
	if err := unix.Statfs(mnt, &after); err != nil {
		t.Fatal(err)
	}

	lp, up := filepath.Join(lower, "f"), filepath.Join(upper, "f")
	cloneSameContent(t, lp, up)
	if fi, err := os.Stat(up); err != nil || fi.Size() != 64*cloneMiB {
		t.Fatalf("upper: %v, %v; want size %d", fi, err, 64*cloneMiB)
	}
	if got := cloneDataSegs(t, up); !equalSegs(got, segs) {
		t.Errorf("upper data segments %v, want %v (the hole kept)", got, segs)
	}
	used := (int64(before.Bfree) - int64(after.Bfree)) * int64(before.Bsize)
	if used > 4*cloneMiB {
		t.Errorf("copy-up used %d bytes of the filesystem, want (almost) none: not a clone", used)
	}

	lext, uext := cloneFiemap(t, lp), cloneFiemap(t, up)
	var shared uint64
	for _, e := range uext {
		if e.Flags&fiemapExtentUnwritten != 0 {
			continue
		}
		if e.Flags&fiemapExtentShared == 0 {
			t.Errorf("upper extent %+v is not shared", e)
		}
		shared += e.Length
	}
	if shared != 48*cloneMiB {
		t.Errorf("upper extents cover %d bytes, want %d", shared, 48*cloneMiB)
	}
	if !samePhysical(lext, uext) {
		t.Errorf("upper extents %+v do not map the lower's %+v", uext, lext)
	}

	// Across filesystems (an ext4 lower, the XFS upper) FICLONE and
	// copy_file_range give EXDEV: cloneData declines and the buffered copy
	// does it.
	t.Run("CrossFS", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "src")
		cloneWriteSparse(t, src, 8*cloneMiB, [][2]int64{{cloneMiB, 2 * cloneMiB}})
		in := cloneOpen(t, src, false)
		out := cloneOpen(t, filepath.Join(mnt, "cross"), true)
		how, err := native.CopyData(out, in, 8*cloneMiB)
		if how != native.NotCopied || err != nil {
			t.Fatalf("CopyData across filesystems = %v, %v; want NotCopied, nil", how, err)
		}
		if fi, _ := out.Stat(); fi.Size != 0 {
			t.Fatalf("declined clone left %d bytes", fi.Size)
		}

		_, upper2, work2 := cloneDirs(t, filepath.Join(mnt, "x"))
		ofs := cloneNew(t, cloneLayer(t, filepath.Dir(src)), upper2, work2)
		cloneCopyUp(t, ofs, "src")
		cloneSameContent(t, src, filepath.Join(upper2, "src"))
	})
}

func equalSegs(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// samePhysical tells whether two extent lists map the same logical bytes
// to the same physical bytes (their split into extents may differ).
func samePhysical(a, b []fiemapExtent) bool {
	type run struct{ log, phys, n uint64 }
	flat := func(es []fiemapExtent) []run {
		var rs []run
		for _, e := range es {
			if e.Flags&fiemapExtentUnwritten != 0 {
				continue // preallocated, reads as zeros: a hole to SEEK_DATA, not cloned
			}
			if k := len(rs) - 1; k >= 0 && rs[k].log+rs[k].n == e.Logical && rs[k].phys+rs[k].n == e.Physical {
				rs[k].n += e.Length
				continue
			}
			rs = append(rs, run{e.Logical, e.Physical, e.Length})
		}
		return rs
	}
	ra, rb := flat(a), flat(b)
	if len(ra) != len(rb) || len(ra) == 0 {
		return false
	}
	for i := range ra {
		if ra[i] != rb[i] {
			return false
		}
	}
	return true
}

// TestCloneExt4CopyRange: ext4 has no reflink; the copy-up goes through
// copy_file_range over the data segments only, so the holes stay holes.
func TestCloneExt4CopyRange(t *testing.T) {
	dir := t.TempDir()
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Type != unix.EXT4_SUPER_MAGIC {
		t.Logf("temp dir is not on ext4 (statfs type %#x); testing it anyway", sfs.Type)
	}
	lower, upper, work := cloneDirs(t, dir)
	segs := [][2]int64{{32 * cloneMiB, 33 * cloneMiB}}
	cloneWriteSparse(t, filepath.Join(lower, "f"), 64*cloneMiB, segs)
	ofs := cloneNew(t, cloneLayer(t, lower), upper, work)
	cloneCopyUp(t, ofs, "f")

	lp, up := filepath.Join(lower, "f"), filepath.Join(upper, "f")
	cloneSameContent(t, lp, up)
	if fi, err := os.Stat(up); err != nil || fi.Size() != 64*cloneMiB {
		t.Fatalf("upper: %v, %v; want size %d", fi, err, 64*cloneMiB)
	}
	if got := cloneBlocks(t, up); got > 2*cloneMiB {
		t.Errorf("upper allocates %d bytes, want at most %d: holes not kept", got, 2*cloneMiB)
	}
	if got := cloneDataSegs(t, up); !equalSegs(got, segs) {
		t.Errorf("upper data segments %v, want %v", got, segs)
	}

	// The fast path itself, on two native files: it does the copy (true),
	// and copy_file_range copies bytes as they are, written zeros
	// included, where the buffered copy would leave a hole.
	t.Run("Direct", func(t *testing.T) {
		bdir := t.TempDir()
		src := filepath.Join(t.TempDir(), "src")
		cloneWriteSparse(t, src, 10*cloneMiB, [][2]int64{{cloneMiB, 2 * cloneMiB}, {6 * cloneMiB, 7 * cloneMiB}})
		f, err := os.OpenFile(src, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, cloneMiB), 4*cloneMiB); err != nil { // written zeros
			t.Fatal(err)
		}
		f.Close()
		nin := cloneOpen(t, src, false)
		out := cloneOpen(t, filepath.Join(bdir, "dst"), true)
		how, err := native.CopyData(out, nin, 10*cloneMiB)
		if how != native.Copied || err != nil {
			t.Fatalf("CopyData native to native on ext4 = %v, %v; want Copied, nil", how, err)
		}
		dst := filepath.Join(bdir, "dst")
		cloneSameContent(t, src, dst)
		want := [][2]int64{{cloneMiB, 2 * cloneMiB}, {4 * cloneMiB, 5 * cloneMiB}, {6 * cloneMiB, 7 * cloneMiB}}
		if got := cloneDataSegs(t, dst); !equalSegs(got, want) {
			t.Errorf("data segments %v, want %v", got, want)
		}

		// A source shorter than the size asked (it shrank since the
		// lookup) ends in a hole up to that size, as the buffered copy.
		out2 := cloneOpen(t, filepath.Join(bdir, "dst2"), true)
		if how, err := native.CopyData(out2, nin, 12*cloneMiB); how != native.Copied || err != nil {
			t.Fatalf("CopyData, size past EOF = %v, %v", how, err)
		}
		if fi, err := os.Stat(filepath.Join(bdir, "dst2")); err != nil || fi.Size() != 12*cloneMiB {
			t.Fatalf("dst2: %v, %v; want size %d", fi, err, 12*cloneMiB)
		}
	})
}

// TestCloneMemLower: a MemFS lower has no descriptor: CopyData declines
// and the buffered copy fills the native upper.
func TestCloneMemLower(t *testing.T) {
	m := NewMemFS()
	data := bytes.Repeat([]byte("overlay "), 3*cloneMiB/8+5)
	if err := m.WriteFile("f", data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, upper, work := cloneDirs(t, t.TempDir())
	lower := MemLayer(m)
	ofs := cloneNew(t, lower, upper, work)
	cloneCopyUp(t, ofs, "f")
	got, err := os.ReadFile(filepath.Join(upper, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("upper holds %d bytes, want the lower's %d", len(got), len(data))
	}

	mf, err := lower.b.OpenRead("f", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	if how, err := native.CopyData(mf, mf, int64(len(data))); how != native.NotCopied || err != nil {
		t.Fatalf("CopyData of MemFS files = %v, %v; want NotCopied, nil", how, err)
	}
}

// BenchmarkCopyUpReflink1GiB: the copy-up of a 1 GiB file on XFS with
// reflink, by the library and by the kernel's overlay on the same lower,
// each with a fresh upper and work dir per iteration. Both clone, so both
// should take constant time, independent of the size.
func BenchmarkCopyUpReflink1GiB(b *testing.B) {
	mnt := cloneMountXFS(b, 3<<30)
	lower := filepath.Join(mnt, "lower")
	if err := os.Mkdir(lower, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(lower, "big"))
	if err != nil {
		b.Fatal(err)
	}
	pat := make([]byte, 4*cloneMiB)
	rand.NewChaCha8([32]byte{7}).Read(pat)
	for off := int64(0); off < 1<<30; off += int64(len(pat)) {
		if _, err := f.WriteAt(pat, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ll := cloneLayer(b, lower)
	seq := 0
	fresh := func(b *testing.B) (upper, work string) {
		seq++
		_, upper, work = cloneDirs(b, filepath.Join(mnt, "run"+strconv.Itoa(seq)))
		return upper, work
	}

	b.Run("library", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			upper, work := fresh(b)
			ofs, err := New(Options{Lower: []*Layer{ll}, Upper: cloneLayer(b, upper), Work: cloneLayer(b, work)})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cloneCopyUp(b, ofs, "big")
			b.StopTimer()
			ofs.Close()
			if fi, err := os.Stat(filepath.Join(upper, "big")); err != nil || fi.Size() != 1<<30 {
				b.Fatalf("upper: %v, %v", fi, err)
			}
		}
	})

	b.Run("kernel", func(b *testing.B) {
		if !cloneHasFS("overlay") {
			testskip.Skip(b, "overlay is not in /proc/filesystems")
		}
		for range b.N {
			b.StopTimer()
			upper, work := fresh(b)
			m := filepath.Join(filepath.Dir(upper), "mnt")
			if err := os.Mkdir(m, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := unix.Mount("overlay", m, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
				b.Fatalf("mount overlay: %v", err)
			}
			b.StartTimer()
			f, err := os.OpenFile(filepath.Join(m, "big"), os.O_WRONLY, 0)
			if err != nil {
				cloneUnmount(b, m)
				b.Fatal(err)
			}
			f.Close()
			b.StopTimer()
			cloneUnmount(b, m)
			if fi, err := os.Stat(filepath.Join(upper, "big")); err != nil || fi.Size() != 1<<30 {
				b.Fatalf("upper: %v, %v", fi, err)
			}
		}
	})
}
