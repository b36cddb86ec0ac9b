package overlay_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testerrno"
)

// TestConcurrentStress drives copy-ups of the same and of different lower
// files, creations, removals, renames and listings from many goroutines at
// once; run it with -race. Every goroutine checks what it can know for
// sure, and the end state is checked as a whole.
func TestConcurrentStress(t *testing.T) {
	const workers, files = 8, 16
	lower := overlay.NewMemFS()
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	lower.MkdirAll("shared", 0o755)
	lower.WriteFile("shared/big", big, 0o644)
	for i := range files {
		lower.MkdirAll(fmt.Sprintf("d%d", i), 0o755)
		lower.WriteFile(fmt.Sprintf("d%d/f", i), []byte(fmt.Sprintf("file %d", i)), 0o644)
	}
	upper := overlay.NewMemFS()
	ofs, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.MemLayer(lower)}, Upper: overlay.MemLayer(upper)})
	if err != nil {
		t.Fatal(err)
	}
	defer ofs.Close()

	var wg sync.WaitGroup
	errs := make(chan error, workers*files*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Everyone opens the same big lower file for writing: one copy-up,
			// and every writer sees the whole data.
			f, err := ofs.OpenFile("shared/big", os.O_RDWR, 0)
			if err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(big))
			if _, err := io.ReadFull(f, got); err != nil || !bytes.Equal(got, big) {
				errs <- fmt.Errorf("worker %d: copied-up data differs (%v)", w, err)
			}
			f.Close()
			for i := range files {
				name := fmt.Sprintf("d%d/f", i)
				switch (w + i) % 4 {
				case 0:
					if err := ofs.Chmod(name, 0o600); err != nil && !testerrno.Is(err, syscall.ENOENT) {
						errs <- err
					}
				case 1:
					if _, err := ofs.ReadDir(fmt.Sprintf("d%d", i)); err != nil {
						errs <- err
					}
				case 2:
					nn := fmt.Sprintf("d%d/w%d", i, w)
					if err := afero.WriteFile(ofs, nn, []byte(nn), 0o644); err != nil {
						errs <- err
					} else if err := ofs.Rename(nn, nn+".moved"); err != nil {
						errs <- err
					}
				case 3:
					if _, err := ofs.Stat(name); err != nil && !testerrno.Is(err, syscall.ENOENT) {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One copy of the big file landed in the upper, whole.
	data, err := upper.ReadFile("shared/big")
	if err != nil || !bytes.Equal(data, big) {
		t.Fatalf("upper shared/big: %d bytes, %v", len(data), err)
	}
	for i := range files {
		for w := range workers {
			if (w+i)%4 != 2 {
				continue
			}
			nn := fmt.Sprintf("d%d/w%d.moved", i, w)
			if data, err := afero.ReadFile(ofs, nn); err != nil || string(data) != nn[:len(nn)-6] {
				t.Errorf("%s: %q, %v", nn, data, err)
			}
		}
	}
}
