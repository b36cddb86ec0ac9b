//go:build linux

package native

import (
	"io"
	"sync"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

// file is an open file of a native layer.
type file struct {
	// mu guards fd against Close: the descriptor is used only while mu
	// is held for reading.
	mu  sync.RWMutex
	fd  int  // -1 after Close; protected by mu
	app bool // opened with O_APPEND; immutable
}

func (f *file) Use(fn func(fd int) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.fd < 0 {
		return unix.EBADF
	}
	return fn(f.fd)
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	return f.rw(p, off, unix.Pread, io.EOF)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	return f.rw(p, off, unix.Pwrite, io.ErrShortWrite)
}

// Append writes p with write(2) on the O_APPEND descriptor, which the
// kernel makes atomic with every other writer of the inode, then reads
// the descriptor's offset, which only the calling File moves.
func (f *file) Append(p []byte) (int, int64, error) {
	if !f.app {
		return 0, 0, unix.EBADF
	}
	n := 0
	var end int64
	err := f.Use(func(fd int) error {
		for n < len(p) {
			m, err := unix.Write(fd, p[n:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if m == 0 {
				return io.ErrShortWrite
			}
			n += m
		}
		var err error
		end, err = unix.Seek(fd, 0, io.SeekCurrent)
		return err
	})
	return n, end, err
}

// rw moves all of p at off with pread or pwrite, retrying on EINTR and
// short transfers; a transfer of nothing ends it with atEnd.
func (f *file) rw(p []byte, off int64, op func(int, []byte, int64) (int, error), atEnd error) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	n := 0
	err := f.Use(func(fd int) error {
		for n < len(p) {
			m, err := op(fd, p[n:], off+int64(n))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if m == 0 {
				return atEnd
			}
			n += m
		}
		return nil
	})
	return n, err
}

func (f *file) Stat() (layer.Attr, error) {
	var a layer.Attr
	err := f.Use(func(fd int) (err error) {
		a, err = fstatAttr(fd)
		return err
	})
	return a, err
}

func (f *file) Truncate(size int64) error {
	return f.Use(func(fd int) error { return ftruncate(fd, size) })
}

func (f *file) Sync() error {
	return f.Use(func(fd int) error {
		for {
			err := unix.Fsync(fd)
			if err != unix.EINTR {
				return err
			}
		}
	})
}

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return unix.EBADF
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}
