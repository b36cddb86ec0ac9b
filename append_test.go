package overlay_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
)

// appendUpper makes an overlay over one lower layer holding "lower/f" (the
// bytes of initial) with a writable upper of some kind.
type appendUpper struct {
	name  string
	links bool // the upper holds hard links
	mk    func(t *testing.T, initial []byte) *overlay.FS
}

// appendUppers are the uppers the append stress test runs on: every kind
// of backend that can be written. appendUppersOS adds the native one.
func appendUppers() []appendUpper {
	memLower := func(initial []byte) *overlay.Layer {
		m := overlay.NewMemFS()
		m.MkdirAll("lower", 0o777)
		m.WriteFile("lower/f", initial, 0o666)
		return overlay.MemLayer(m)
	}
	newFS := func(t *testing.T, o overlay.Options) *overlay.FS {
		ofs, err := overlay.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ofs.Close() })
		return ofs
	}
	us := []appendUpper{
		{name: "mem", links: true, mk: func(t *testing.T, initial []byte) *overlay.FS {
			return newFS(t, overlay.Options{Lower: []*overlay.Layer{memLower(initial)}, Upper: overlay.MemLayer(nil)})
		}},
		{name: "afero-mem", mk: func(t *testing.T, initial []byte) *overlay.FS {
			return newFS(t, overlay.Options{Lower: []*overlay.Layer{memLower(initial)}, Upper: overlay.AferoLayer(afero.NewMemMapFs())})
		}},
		{name: "afero-os", mk: func(t *testing.T, initial []byte) *overlay.FS {
			up := afero.NewBasePathFs(afero.NewOsFs(), t.TempDir())
			return newFS(t, overlay.Options{Lower: []*overlay.Layer{memLower(initial)}, Upper: overlay.AferoLayer(up)})
		}},
	}
	return append(us, appendUppersOS()...)
}

// TestConcurrentAppend has many goroutines append fixed-size records to
// one file, each through its own O_APPEND handle, and counts every byte:
// each record must be there exactly once, whole, in its writer's order,
// and the file exactly as long as what was written. Writers race with the
// copy-up of a lower file, and append through two names of one inode, and
// each checks that its offset after a write is within the size it sees.
// Run with -race.
func TestConcurrentAppend(t *testing.T) {
	const writers, records = 16, 100
	initial := []byte("initial line of the lower file\n")
	for _, u := range appendUppers() {
		for _, sc := range []struct {
			name  string
			names []string // the writers use these names in turn
			setup func(ofs *overlay.FS) error
		}{
			{name: "upper file", names: []string{"new"}, setup: func(ofs *overlay.FS) error {
				return afero.WriteFile(ofs, "new", initial, 0o666)
			}},
			{name: "lower file during copy-up", names: []string{"lower/f"}},
			{name: "two names", names: []string{"lower/f", "lower/g"}, setup: func(ofs *overlay.FS) error {
				return ofs.Link("lower/f", "lower/g")
			}},
		} {
			if len(sc.names) > 1 && !u.links {
				continue
			}
			t.Run(u.name+"/"+sc.name, func(t *testing.T) {
				ofs := u.mk(t, initial)
				if sc.setup != nil {
					if err := sc.setup(ofs); err != nil {
						t.Fatal(err)
					}
				}
				start := make(chan struct{})
				errs := make(chan error, writers)
				var wg sync.WaitGroup
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs <- appendRecords(ofs, sc.names[w%len(sc.names)], w, records)
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Error(err)
					}
				}
				for _, name := range sc.names {
					data, err := afero.ReadFile(ofs, name)
					if err != nil {
						t.Fatal(err)
					}
					checkRecords(t, name, data, initial, writers, records)
				}
			})
		}
	}
}

// record is writer w's i-th record: fixed length, so any overlap shows.
func record(w, i int) string { return fmt.Sprintf("writer %02d record %03d\n", w, i) }

func appendRecords(ofs *overlay.FS, name string, w, records int) error {
	f, err := ofs.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := range records {
		rec := record(w, i)
		n, err := f.WriteString(rec)
		if err != nil || n != len(rec) {
			return fmt.Errorf("writer %d: write %d: %d bytes, %v", w, i, n, err)
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if off < int64(len(rec)) || off > fi.Size() {
			return fmt.Errorf("writer %d: offset %d after a write, size %d", w, off, fi.Size())
		}
		if i%8 == 0 {
			runtime.Gosched()
		}
	}
	return nil
}

func checkRecords(t *testing.T, name string, data, initial []byte, writers, records int) {
	t.Helper()
	if !bytes.HasPrefix(data, initial) {
		t.Fatalf("%s: the initial content is gone: %q", name, data[:min(len(data), 64)])
	}
	want := len(initial) + writers*records*len(record(0, 0))
	if len(data) != want {
		t.Errorf("%s: %d bytes, want %d (%d records lost)", name, len(data), want, (want-len(data))/len(record(0, 0)))
	}
	next := make([]int, writers)
	for _, line := range strings.SplitAfter(string(data[len(initial):]), "\n") {
		if line == "" {
			continue
		}
		var w, i int
		if _, err := fmt.Sscanf(line, "writer %d record %d\n", &w, &i); err != nil || w < 0 || w >= writers || line != record(w, i) {
			t.Fatalf("%s: torn record %q", name, line)
		}
		if i != next[w] {
			t.Fatalf("%s: writer %d: record %d where %d was due", name, w, i, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != records {
			t.Errorf("%s: writer %d: %d records of %d", name, w, n, records)
		}
	}
}
