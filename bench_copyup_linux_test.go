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
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
)

const benchCopyUpSize = 64 << 20

// benchCopyUp runs the kernel and library copy-up sub-benchmarks: each
// iteration gets a fresh upper and work dir and a fresh mount (or New)
// outside the timer, looks the file up (warm), and times only an O_WRONLY
// open and close of the 64 MiB lower file, which copies it up. volatile
// selects fsync=volatile on both sides (no fsync of the copy).
func benchCopyUp(b *testing.B, volatile bool) {
	benchNeedKernel(b)
	root := b.TempDir()
	lower := filepath.Join(root, "l0")
	big := filepath.Join(lower, "big")
	benchWrite(b, big, benchRandom(benchCopyUpSize))
	unix.Sync() // the lower's data is clean (and cached) before any copy-up
	kopts := ""
	lopts := overlay.Options{}
	if volatile {
		kopts = "volatile"
		lopts.Fsync = overlay.FsyncVolatile
	}
	checkUp := func(b *testing.B, upper string) {
		fi, err := os.Stat(filepath.Join(upper, "big"))
		if err != nil || fi.Size() != benchCopyUpSize {
			b.Fatalf("copy-up left %v, %v", fi, err)
		}
	}
	fresh := func(b *testing.B, side string, i int) (upper, work string) {
		dirs := benchMkdirs(b, filepath.Join(root, fmt.Sprintf("%s-u%d", side, i)),
			filepath.Join(root, fmt.Sprintf("%s-w%d", side, i)))
		return dirs[0], dirs[1]
	}
	b.Run("kernel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(benchCopyUpSize)
		b.StopTimer()
		for i := 0; i < b.N; i++ {
			upper, work := fresh(b, "k", i)
			mnt := filepath.Join(root, "mnt")
			unmount := benchMount(b, mnt, []string{lower}, upper, work, kopts)
			p := filepath.Join(mnt, "big")
			if _, err := os.Stat(p); err != nil {
				b.Fatal(err)
			}
			unix.Sync()
			b.StartTimer()
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			checkUp(b, upper)
			unmount()
			os.RemoveAll(upper)
			os.RemoveAll(work)
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(benchCopyUpSize)
		b.StopTimer()
		for i := 0; i < b.N; i++ {
			upper, work := fresh(b, "l", i)
			ofs, closeFS := benchLibrary(b, []string{lower}, upper, work, lopts)
			if _, err := ofs.Stat("/big"); err != nil {
				b.Fatal(err)
			}
			unix.Sync()
			b.StartTimer()
			f, err := ofs.OpenFile("/big", os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			checkUp(b, upper)
			closeFS()
			os.RemoveAll(upper)
			os.RemoveAll(work)
		}
	})
}

// BenchmarkCopyUp64M: copy-up of a 64 MiB lower file with the default
// fsync=auto, which syncs the copy (goal: library <= 1.2x kernel). Run
// with -benchtime=5x.
func BenchmarkCopyUp64M(b *testing.B) { benchCopyUp(b, false) }

// BenchmarkCopyUp64MVolatile: the same without the fsync (kernel mount
// option volatile, library FsyncVolatile), to separate the copy from the
// sync in the result.
func BenchmarkCopyUp64MVolatile(b *testing.B) { benchCopyUp(b, true) }

// benchBatch is the number of copy-ups started at once by
// BenchmarkCopyUpParallel and BenchmarkCopyUpSameFile8.
const benchBatch = 8

// benchSide is one side (kernel or library) of the batch copy-up
// benchmarks over one native lower.
type benchSide struct {
	name string
	// start makes a fresh upper and work dir (named after tag) and a
	// fresh mount or FS over the lower.
	start func(b *testing.B, tag string) *benchRun
}

// benchRun is one mount or FS of a benchSide.
type benchRun struct {
	upper, work string
	stat        func(name string) error
	open        func(name string) error // O_WRONLY open and close: a copy-up
	stop        func()                  // unmount or close, remove upper and work
}

// benchSides returns the kernel and library sides over lower, their
// upper and work dirs under root; volatile selects fsync=volatile on both.
func benchSides(root, lower string, volatile bool) []benchSide {
	kopts, lopts := "", overlay.Options{}
	if volatile {
		kopts, lopts.Fsync = "volatile", overlay.FsyncVolatile
	}
	dirs := func(b *testing.B, tag string) (string, string) {
		d := benchMkdirs(b, filepath.Join(root, tag+"-u"), filepath.Join(root, tag+"-w"))
		return d[0], d[1]
	}
	remove := func(dirs ...string) {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	kernel := func(b *testing.B, tag string) *benchRun {
		upper, work := dirs(b, tag)
		mnt := filepath.Join(root, "mnt")
		unmount := benchMount(b, mnt, []string{lower}, upper, work, kopts)
		return &benchRun{
			upper: upper, work: work,
			stat: func(name string) error {
				_, err := os.Stat(filepath.Join(mnt, name))
				return err
			},
			open: func(name string) error {
				f, err := os.OpenFile(filepath.Join(mnt, name), os.O_WRONLY, 0)
				if err != nil {
					return err
				}
				return f.Close()
			},
			stop: func() { unmount(); remove(upper, work) },
		}
	}
	library := func(b *testing.B, tag string) *benchRun {
		upper, work := dirs(b, tag)
		ofs, closeFS := benchLibrary(b, []string{lower}, upper, work, lopts)
		return &benchRun{
			upper: upper, work: work,
			stat: func(name string) error {
				_, err := ofs.Stat(name)
				return err
			},
			open: func(name string) error {
				f, err := ofs.OpenFile(name, os.O_WRONLY, 0)
				if err != nil {
					return err
				}
				return f.Close()
			},
			stop: func() { closeFS(); remove(upper, work) },
		}
	}
	return []benchSide{{"kernel", kernel}, {"library", library}}
}

// benchBatchCopyUp times, per iteration, the copy-up of names through a
// fresh mount or FS of side: all at once, one goroutine each, when
// parallel, else one after the other from one goroutine. Outside the
// timer: the fresh upper, work dir and mount or FS, a stat of every name
// (warm lookup), sync(); after the timer check(upper, work), then unmount
// or close and remove the upper and work dir. ns/op is the wall time of
// one batch; bytes is what one batch copies.
func benchBatchCopyUp(b *testing.B, side benchSide, names []string, parallel bool, bytes int64, check func(b *testing.B, upper, work string)) {
	b.ReportAllocs()
	b.SetBytes(bytes)
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		r := side.start(b, fmt.Sprintf("%s%d", side.name, i))
		for _, n := range names {
			if err := r.stat(n); err != nil {
				b.Fatal(err)
			}
		}
		unix.Sync()
		errs := make([]error, len(names))
		if parallel {
			var ready, done sync.WaitGroup
			start := make(chan struct{})
			for k, n := range names {
				ready.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					ready.Done()
					<-start
					errs[k] = r.open(n)
				}()
			}
			ready.Wait()
			b.StartTimer()
			close(start)
			done.Wait()
			b.StopTimer()
		} else {
			b.StartTimer()
			for k, n := range names {
				errs[k] = r.open(n)
			}
			b.StopTimer()
		}
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		check(b, r.upper, r.work)
		r.stop()
	}
}

// BenchmarkCopyUpParallel: 8 copy-ups of 8 different 64 MiB lower files,
// from 8 goroutines at once (run=par) or one after the other (run=seq),
// through the kernel mount and the library, with fsync=auto (the copies
// are fsynced) and fsync=volatile. ns/op is the wall time of the batch of
// 8 (goal: the library's parallel batch clearly faster than its sequential
// one). Run with -benchtime=5x.
func BenchmarkCopyUpParallel(b *testing.B) {
	benchNeedKernel(b)
	root := b.TempDir()
	lower := filepath.Join(root, "l0")
	data := benchRandom(benchCopyUpSize)
	names := make([]string, benchBatch)
	for k := range names {
		names[k] = fmt.Sprintf("big%d", k)
		benchWrite(b, filepath.Join(lower, names[k]), data)
	}
	unix.Sync() // the lower's data is clean (and cached) before any copy-up
	check := func(b *testing.B, upper, work string) {
		for _, n := range names {
			fi, err := os.Stat(filepath.Join(upper, n))
			if err != nil || fi.Size() != benchCopyUpSize {
				b.Fatalf("copy-up of %s left %v, %v", n, fi, err)
			}
		}
	}
	for _, mode := range []string{"auto", "volatile"} {
		for _, side := range benchSides(root, lower, mode == "volatile") {
			for _, run := range []string{"seq", "par"} {
				b.Run(fmt.Sprintf("fsync=%s/impl=%s/run=%s", mode, side.name, run), func(b *testing.B) {
					benchBatchCopyUp(b, side, names, run == "par", benchBatch*benchCopyUpSize, check)
				})
			}
		}
	}
}

// BenchmarkCopyUpSameFile8: 8 goroutines open the same 64 MiB lower file
// for writing at once (run=8), against one open (run=1), through the
// kernel mount and the library (fsync=auto). ns/op is the wall time until
// all 8 opens and closes are done (goal: the library <= 1.2x the kernel,
// as for one copy-up). After each iteration the upper must hold exactly
// one complete copy (same bytes as the lower) and the work dir no
// leftover temporary; otherwise b.Fatal. Run with -benchtime=5x.
func BenchmarkCopyUpSameFile8(b *testing.B) {
	benchNeedKernel(b)
	root := b.TempDir()
	lower := filepath.Join(root, "l0")
	data := benchRandom(benchCopyUpSize)
	benchWrite(b, filepath.Join(lower, "big"), data)
	unix.Sync() // the lower's data is clean (and cached) before any copy-up
	check := func(b *testing.B, upper, work string) {
		ents, err := os.ReadDir(upper)
		if err != nil || len(ents) != 1 || ents[0].Name() != "big" {
			b.Fatalf("upper holds %v (%v), want big only", ents, err)
		}
		got, err := os.ReadFile(filepath.Join(upper, "big"))
		if err != nil || !bytes.Equal(got, data) {
			b.Fatalf("upper big: %d bytes (%v), want the lower's %d bytes", len(got), err, len(data))
		}
		// The kernel's and the library's temporaries are made in W/work.
		if tmp, err := os.ReadDir(filepath.Join(work, "work")); err != nil || len(tmp) != 0 {
			b.Fatalf("work dir holds %v (%v), want nothing", tmp, err)
		}
	}
	for _, side := range benchSides(root, lower, false) {
		for _, n := range []int{1, benchBatch} {
			names := slices.Repeat([]string{"big"}, n)
			b.Run(fmt.Sprintf("impl=%s/run=%d", side.name, n), func(b *testing.B) {
				// One copy whatever the number of opens.
				benchBatchCopyUp(b, side, names, true, benchCopyUpSize, check)
			})
		}
	}
}
