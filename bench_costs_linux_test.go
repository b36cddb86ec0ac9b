//go:build linux

package overlay_test

// Benchmarks of costs that a caller (or a crafted layer) can drive up:
// the same work through a kernel overlay mount and through the library,
// in the style of bench_linux_test.go. BENCHMARKS.md has the commands and
// the results.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testskip"
)

// benchTmpfs mounts a tmpfs on a fresh temp dir (unmounted at cleanup).
func benchTmpfs(b *testing.B, size string) string {
	b.Helper()
	d := b.TempDir()
	testskip.Tmpfs(b, d, "size="+size)
	return d
}

// benchManyFiles creates n empty files in dir, named f00000...
func benchManyFiles(b *testing.B, dir string, n int) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	for i := 0; i < n; i++ {
		f, err := unix.Openat(fd, fmt.Sprintf("f%05d", i), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(f)
	}
}

// BenchmarkOpenByHandleForged: a handle of a real lower file with one fid
// byte changed, given to open_by_handle_at on the kernel's overlay and to
// OpenByHandle, over a lower of 100,000 files in 100 dirs (nfs_export=on,
// on a tmpfs): both must fail ESTALE, in time that does not depend on the
// tree's size.
func BenchmarkOpenByHandleForged(b *testing.B) {
	benchNeedKernel(b)
	root := benchTmpfs(b, "512m")
	lower := filepath.Join(root, "l")
	for d := 0; d < 100; d++ {
		benchManyFiles(b, filepath.Join(lower, fmt.Sprintf("d%02d", d)), 1000)
	}
	dirs := benchMkdirs(b, filepath.Join(root, "ku"), filepath.Join(root, "kw"), filepath.Join(root, "lu"), filepath.Join(root, "lw"))
	forge := func(h []byte) []byte {
		f := bytes.Clone(h)
		f[len(f)-5] ^= 0xff // in the fid's inode number
		return f
	}
	b.Run("kernel", func(b *testing.B) {
		mnt := filepath.Join(root, "m")
		benchMount(b, mnt, []string{lower}, dirs[0], dirs[1], "index=on,nfs_export=on")
		h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(mnt, "d50/f00500"), 0)
		if err != nil {
			b.Fatal(err)
		}
		fh := unix.NewFileHandle(h.Type(), forge(h.Bytes()))
		mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(mfd)
		b.ReportAllocs()
		for b.Loop() {
			if fd, err := unix.OpenByHandleAt(mfd, fh, unix.O_RDONLY); err != unix.ESTALE {
				unix.Close(fd)
				b.Fatalf("open_by_handle_at(forged): %v, want ESTALE", err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		ofs, _ := benchLibrary(b, []string{lower}, dirs[2], dirs[3], overlay.Options{Index: overlay.SwitchOn, NFSExport: overlay.SwitchOn})
		h, err := ofs.Handle("d50/f00500")
		if err != nil {
			b.Fatal(err)
		}
		forged := forge(h)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ofs.OpenByHandle(forged, os.O_RDONLY); !errors.Is(err, syscall.ESTALE) {
				b.Fatalf("OpenByHandle(forged): %v, want ESTALE", err)
			}
		}
	})
}

// benchDeepTree makes a chain of depth dirs named "d" under dir/top, with a
// file in each, through directory descriptors (so that depth is not
// limited by PATH_MAX).
func benchDeepTree(b *testing.B, dir string, depth int) {
	b.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "top"), 0o755); err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Open(filepath.Join(dir, "top"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		f, err := unix.Openat(fd, "f", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(f)
		if err := unix.Mkdirat(fd, "d", 0o755); err != nil {
			b.Fatal(err)
		}
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			b.Fatal(err)
		}
		fd = next
	}
	unix.Close(fd)
}

// BenchmarkRemoveAllDeep: RemoveAll of a chain of dirs (each holding one
// file) in the upper layer, through the kernel mount (os.RemoveAll) and
// the library, at two depths: the time per level must not grow with the
// depth. Each iteration builds the tree again, outside the timer. On a
// tmpfs: on this machine's ext4 (mounted with discard) removals wait for
// the disk and the figures say little about either side.
func BenchmarkRemoveAllDeep(b *testing.B) {
	benchNeedKernel(b)
	for _, depth := range []int{100, 400, 1000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			root := benchTmpfs(b, "256m")
			lower := filepath.Join(root, "l")
			dirs := benchMkdirs(b, lower, filepath.Join(root, "ku"), filepath.Join(root, "kw"), filepath.Join(root, "lu"), filepath.Join(root, "lw"))
			b.Run("kernel", func(b *testing.B) {
				mnt := filepath.Join(root, "m")
				benchMount(b, mnt, []string{lower}, dirs[1], dirs[2], "")
				for b.Loop() {
					b.StopTimer()
					benchDeepTree(b, dirs[1], depth)
					b.StartTimer()
					if err := os.RemoveAll(filepath.Join(mnt, "top")); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(depth), "ns/level")
			})
			b.Run("library", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					benchDeepTree(b, dirs[3], depth)
					ofs, closeFS := benchLibrary(b, []string{lower}, dirs[3], dirs[4], overlay.Options{})
					b.StartTimer()
					if err := ofs.RemoveAll("top"); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					closeFS()
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(depth), "ns/level")
			})
		})
	}
}

// BenchmarkReaddirCold: Readdir (names and FileInfos, as os.File.Readdir)
// of a lower dir of 99,000 files, cold (a fresh mount or FS per iteration,
// made outside the timer) and warm (the same one again).
func BenchmarkReaddirCold(b *testing.B) {
	benchNeedKernel(b)
	const n = 99000
	root := b.TempDir()
	lower := filepath.Join(root, "l")
	benchManyFiles(b, filepath.Join(lower, "big"), n)
	dirs := benchMkdirs(b, filepath.Join(root, "ku"), filepath.Join(root, "kw"), filepath.Join(root, "lu"), filepath.Join(root, "lw"))
	unix.Sync()
	mnt := filepath.Join(root, "m")
	readdir := func(b *testing.B, open func() (interface {
		Readdir(int) ([]os.FileInfo, error)
		Close() error
	}, error)) {
		f, err := open()
		if err != nil {
			b.Fatal(err)
		}
		fis, err := f.Readdir(-1)
		f.Close()
		if err != nil || len(fis) != n {
			b.Fatalf("Readdir: %d entries, %v", len(fis), err)
		}
	}
	type dirFile = interface {
		Readdir(int) ([]os.FileInfo, error)
		Close() error
	}
	for _, cold := range []bool{true, false} {
		b.Run(map[bool]string{true: "cold", false: "warm"}[cold], func(b *testing.B) {
			b.Run("kernel", func(b *testing.B) {
				unmount := benchMount(b, mnt, []string{lower}, dirs[0], dirs[1], "")
				open := func() (dirFile, error) { return os.Open(filepath.Join(mnt, "big")) }
				readdir(b, open)
				for b.Loop() {
					if cold {
						b.StopTimer()
						unmount()
						unmount = benchMount(b, mnt, []string{lower}, dirs[0], dirs[1], "")
						b.StartTimer()
					}
					readdir(b, open)
				}
				unmount()
			})
			b.Run("library", func(b *testing.B) {
				ofs, closeFS := benchLibrary(b, []string{lower}, dirs[2], dirs[3], overlay.Options{})
				open := func() (dirFile, error) { return ofs.Open("big") }
				readdir(b, open)
				for b.Loop() {
					if cold {
						b.StopTimer()
						closeFS()
						ofs, closeFS = benchLibrary(b, []string{lower}, dirs[2], dirs[3], overlay.Options{})
						b.StartTimer()
					}
					readdir(b, open)
				}
				closeFS()
			})
		})
	}
}
