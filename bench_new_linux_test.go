//go:build linux

package overlay_test

// Benchmarks of the library against a kernel overlay mount of the same
// on-disk layers. Each pair shares one fixture built in the parent
// benchmark; BENCHMARKS.md has the command and the results. They run only
// with -bench: no Test function builds a fixture or mounts anything.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testskip"
)

// BenchmarkNew: DirLayer for lower, upper and work, New, FS.Close and
// Layer.Close, over a small (10 files) and a large (20,000 files) native
// lower: the cost must not grow with the lower's size.
func BenchmarkNew(b *testing.B) {
	root := b.TempDir()
	sizes := []struct {
		name  string
		files int
	}{{"small", 10}, {"large", 20000}}
	for _, size := range sizes {
		dir := filepath.Join(root, size.name)
		for j := 0; j < size.files; j++ {
			benchWrite(b, filepath.Join(dir, "lower", fmt.Sprintf("d%03d", j/200), fmt.Sprintf("f%05d", j)), []byte("x"))
		}
		benchMkdirs(b, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	}
	unix.Sync() // no writeback of the fixture while timing
	for _, size := range sizes {
		dir := filepath.Join(root, size.name)
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				o := overlay.Options{
					Lower: []*overlay.Layer{benchDirLayer(b, filepath.Join(dir, "lower"))},
					Upper: benchDirLayer(b, filepath.Join(dir, "upper")),
					Work:  benchDirLayer(b, filepath.Join(dir, "work")),
				}
				ofs, err := overlay.New(o)
				if err != nil {
					b.Fatal(err)
				}
				if err := ofs.Close(); err != nil {
					b.Fatal(err)
				}
				benchCloseLayers(b, []*overlay.Layer{o.Lower[0], o.Upper, o.Work})
			}
		})
	}
}

// BenchmarkChmodMetacopy1GiB: chmod of a lower file of 1 GiB of data with
// metacopy=on copies its metadata only, so it takes constant time. Each
// iteration gets a fresh upper (made, mounted and removed outside the
// timer) over the same lower file.
func BenchmarkChmodMetacopy1GiB(b *testing.B) {
	benchNeedKernel(b)
	root := b.TempDir()
	lower := filepath.Join(root, "lower")
	if err := os.Mkdir(lower, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(lower, "big"))
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("metacopy"), 1<<17) // 1 MiB
	for range 1024 {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	fresh := func(i int) (upper, work string) {
		upper, work = filepath.Join(root, fmt.Sprint("u", i)), filepath.Join(root, fmt.Sprint("w", i))
		benchMkdirs(b, upper, work)
		return
	}
	check := func(upper string) {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(upper, "big"), &st); err != nil || st.Size != 1<<30 || st.Blocks > 8 {
			b.Fatalf("upper copy: size %d, %d blocks, %v: not a metacopy", st.Size, st.Blocks, err)
		}
	}
	b.Run("kernel", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			upper, work := fresh(i)
			mnt := filepath.Join(root, fmt.Sprint("m", i))
			unmount := benchMount(b, mnt, []string{lower}, upper, work, "redirect_dir=on,metacopy=on")
			b.StartTimer()
			if err := os.Chmod(filepath.Join(mnt, "big"), 0o600); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			unmount()
			check(upper)
			os.RemoveAll(upper)
			os.RemoveAll(work)
			b.StartTimer()
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			upper, work := fresh(i + 1<<20)
			ofs, closeFS := benchLibrary(b, []string{lower}, upper, work, overlay.Options{RedirectDir: overlay.RedirectOn, Metacopy: overlay.SwitchOn})
			b.StartTimer()
			if err := ofs.Chmod("big", 0o600); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			closeFS()
			check(upper)
			os.RemoveAll(upper)
			os.RemoveAll(work)
			b.StartTimer()
		}
	})
}

// BenchmarkHandleRoundTrip: encode a file's handle and open the file by
// it, then close it (nfs_export=on, on a tmpfs), through the kernel
// (name_to_handle_at, open_by_handle_at) and the library (Handle,
// OpenByHandle).
func BenchmarkHandleRoundTrip(b *testing.B) {
	benchNeedKernel(b)
	root := b.TempDir()
	testskip.Tmpfs(b, root, "size=16m")
	dirs := benchMkdirs(b, filepath.Join(root, "l/d"), filepath.Join(root, "u"), filepath.Join(root, "w"))
	lower, upper, work := filepath.Join(root, "l"), dirs[1], dirs[2]
	benchWrite(b, filepath.Join(lower, "d/f"), []byte("handle"))
	b.Run("kernel", func(b *testing.B) {
		mnt := filepath.Join(root, "m")
		benchMount(b, mnt, []string{lower}, upper, work, "index=on,nfs_export=on")
		mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(mfd)
		b.ReportAllocs()
		for b.Loop() {
			h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(mnt, "d/f"), 0)
			if err != nil {
				b.Fatal(err)
			}
			fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	})
	b.Run("library", func(b *testing.B) {
		ofs, _ := benchLibrary(b, []string{lower}, upper, work, overlay.Options{Index: overlay.SwitchOn, NFSExport: overlay.SwitchOn})
		b.ReportAllocs()
		for b.Loop() {
			h, err := ofs.Handle("d/f")
			if err != nil {
				b.Fatal(err)
			}
			f, err := ofs.OpenByHandle(h, os.O_RDONLY)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
