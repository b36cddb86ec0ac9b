package overlay

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// countingUpper counts the copy-up temporaries made in the work area.
type countingUpper struct {
	layer.Backend
	temps atomic.Int32
}

func (c *countingUpper) Open(p string, flag int, perm uint32) (layer.File, error) {
	if strings.HasPrefix(p, "/work/#") && flag&os.O_CREATE != 0 {
		c.temps.Add(1)
	}
	return c.Backend.Open(p, flag, perm)
}

// gatedLower makes every read of a file wait at a gate, so a test can
// hold copy-ups in the middle of their data copy.
type gatedLower struct {
	layer.Backend
	reading chan string   // a read started (the path)
	gate    chan struct{} // closed to let reads go on
}

func (g *gatedLower) OpenRead(p string, flag int) (layer.File, error) {
	f, err := g.Backend.OpenRead(p, flag)
	if err != nil {
		return nil, err
	}
	return &gatedFile{File: f, g: g, p: p}, nil
}

type gatedFile struct {
	layer.File
	g    *gatedLower
	p    string
	once sync.Once
}

func (f *gatedFile) ReadAt(b []byte, off int64) (int, error) {
	f.once.Do(func() {
		f.g.reading <- f.p
		<-f.g.gate
	})
	return f.File.ReadAt(b, off)
}

func concurrencyFS(t *testing.T, files int) (*FS, *countingUpper, *gatedLower) {
	t.Helper()
	m := NewMemFS()
	for i := range files {
		m.WriteFile(fmt.Sprintf("f%d", i), []byte(strings.Repeat("x", 1<<16)), 0o644)
	}
	lower := &gatedLower{Backend: MemLayer(m).b, reading: make(chan string, 64), gate: make(chan struct{})}
	upper := &countingUpper{Backend: MemLayer(nil).b}
	fsys, err := New(Options{
		Lower: []*Layer{{b: lower, format: formatKernel, desc: "gated"}},
		Upper: &Layer{b: upper, format: formatKernel, desc: "counting"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return fsys, upper, lower
}

// TestCopyUpOnce: eight goroutines opening one lower file for writing at
// once make exactly one copy, and all of them see it.
func TestCopyUpOnce(t *testing.T) {
	fsys, upper, lower := concurrencyFS(t, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := fsys.OpenFile("f0", os.O_RDWR, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			if fi, err := f.Stat(); err != nil || fi.Size() != 1<<16 {
				errs <- fmt.Errorf("after copy-up: %v, %v", fi, err)
			}
		}()
	}
	<-lower.reading // the one copy-up is in its data copy
	time.Sleep(20 * time.Millisecond)
	close(lower.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := upper.temps.Load(); n != 1 {
		t.Errorf("%d copies of one file, want 1", n)
	}
}

// TestCopyUpParallel: copy-ups of different files run at the same time:
// both reach their data copy before either may finish, which would
// deadlock if a global lock were held while data is copied.
func TestCopyUpParallel(t *testing.T) {
	fsys, upper, lower := concurrencyFS(t, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := fsys.OpenFile(fmt.Sprintf("f%d", i), os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Close()
		}()
	}
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < 2 {
		select {
		case p := <-lower.reading:
			seen[p] = true
		case <-timeout:
			t.Fatalf("copy-ups did not run in parallel: only %v started copying", seen)
		}
	}
	close(lower.gate)
	wg.Wait()
	if n := upper.temps.Load(); n != 2 {
		t.Errorf("%d copies, want 2", n)
	}
}

// syncCounter counts fsyncs of files opened through it.
type syncCounter struct {
	layer.Backend
	syncs atomic.Int32
}

func (c *syncCounter) Open(p string, flag int, perm uint32) (layer.File, error) {
	f, err := c.Backend.Open(p, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncFile{File: f, c: c}, nil
}

func (c *syncCounter) OpenRead(p string, flag int) (layer.File, error) {
	return c.Open(p, flag&^layer.WriteFlags, 0)
}

type syncFile struct {
	layer.File
	c *syncCounter
}

func (f *syncFile) Sync() error { f.c.syncs.Add(1); return f.File.Sync() }

// TestFsyncModes: fsync=auto syncs the data of a copied-up file, strict
// also the copy's metadata and copied-up dirs, volatile nothing.
func TestFsyncModes(t *testing.T) {
	for _, c := range []struct {
		mode FsyncMode
		want int32 // syncs for copying up d/f: dir d, then file f
	}{{FsyncAuto, 1}, {FsyncDefault, 1}, {FsyncStrict, 3}, {FsyncVolatile, 0}} {
		m := NewMemFS()
		m.MkdirAll("d", 0o755)
		m.WriteFile("d/f", []byte("data"), 0o644)
		up := &syncCounter{Backend: MemLayer(nil).b}
		fsys, err := New(Options{Lower: []*Layer{MemLayer(m)}, Upper: &Layer{b: up, format: formatKernel, desc: "counting"}, Fsync: c.mode})
		if err != nil {
			t.Fatal(err)
		}
		f, err := fsys.OpenFile("d/f", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got := up.syncs.Load(); got != c.want {
			t.Errorf("fsync=%v: %d syncs for a file copy-up under a dir copy-up, want %d", c.mode, got, c.want)
		}
	}
}

// TestCacheBound: with a tiny cache limit the lookup cache keeps being
// dropped while goroutines look up, copy up and rename; every result must
// stay right and the cache must stay small.
func TestCacheBound(t *testing.T) {
	old := cacheLimit
	cacheLimit = 20
	defer func() { cacheLimit = old }()
	m := NewMemFS()
	for i := range 50 {
		m.MkdirAll(fmt.Sprintf("d%d", i), 0o755)
		m.WriteFile(fmt.Sprintf("d%d/f", i), []byte(fmt.Sprint(i)), 0o644)
	}
	fsys, err := New(Options{Lower: []*Layer{MemLayer(m)}, Upper: MemLayer(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 50; i += 4 {
				name := fmt.Sprintf("d%d/f", i)
				if err := fsys.Chmod(name, 0o600); err != nil {
					t.Error(err)
				}
				if err := fsys.Rename(name, name+"2"); err != nil {
					t.Error(err)
				}
				f, err := fsys.Open(name + "2")
				if err != nil {
					t.Error(err)
					continue
				}
				buf := make([]byte, 8)
				n, _ := f.Read(buf)
				f.Close()
				if string(buf[:n]) != fmt.Sprint(i) {
					t.Errorf("%s2: %q", name, buf[:n])
				}
				if _, err := fsys.Stat(name); !errnoIsInternal(err, syscall.ENOENT) {
					t.Errorf("%s after rename: %v", name, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := fsys.cached.Load(); n > 2*cacheLimit+10 {
		t.Errorf("%d nodes cached, limit %d", n, cacheLimit)
	}
}
