package aferolayer

import (
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/spf13/afero"
)

// file is an open file of an afero layer.
type file struct {
	b    *backend // immutable
	p    string   // layer path at open, for synthesized inode numbers; immutable
	flag int      // open flags; immutable
	dir  bool     // a directory; immutable

	// mu serializes the calls on f: afero's mem files implement ReadAt and
	// WriteAt by moving a shared offset.
	mu     sync.Mutex
	f      afero.File // protected by mu
	closed bool       // protected by mu
}

var _ layer.File = (*file)(nil)

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed || f.flag&layer.AccMode == os.O_WRONLY:
		return 0, syscall.EBADF
	case f.dir:
		return 0, syscall.EISDIR
	case off < 0:
		return 0, syscall.EINVAL
	}
	n, err := f.f.ReadAt(p, off)
	if err == io.EOF || err == nil && n < len(p) {
		return n, io.EOF
	}
	return n, aferoErrno(err)
}

// WriteAt writes at off, or at the end of the file when it was opened with
// O_APPEND, as pwrite(2) on Linux.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed || f.flag&layer.AccMode == os.O_RDONLY:
		return 0, syscall.EBADF
	case off < 0:
		return 0, syscall.EINVAL
	}
	n, _, err := f.writeLocked(p, off)
	return n, err
}

// Append writes p at the end of the file; see layer.File.
func (f *file) Append(p []byte) (int, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.flag&layer.AccMode == os.O_RDONLY || f.flag&os.O_APPEND == 0 {
		return 0, 0, syscall.EBADF
	}
	return f.writeLocked(p, 0)
}

// writeLocked writes p at off, or at the end of an O_APPEND file, and
// returns the offset past it. Callers hold f.mu.
func (f *file) writeLocked(p []byte, off int64) (int, int64, error) {
	f.b.dataMu.Lock()
	defer f.b.dataMu.Unlock()
	if f.flag&os.O_APPEND != 0 {
		fi, err := f.f.Stat()
		if err != nil {
			return 0, 0, aferoErrno(err)
		}
		off = fi.Size()
	}
	n, err := f.f.WriteAt(p, off)
	return n, off + int64(n), aferoErrno(err)
}

func (f *file) Stat() (layer.Attr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return layer.Attr{}, syscall.EBADF
	}
	fi, err := f.f.Stat()
	if err != nil {
		return layer.Attr{}, aferoErrno(err)
	}
	return f.b.attrOf(f.p, fi), nil
}

func (f *file) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return syscall.EBADF
	case f.dir || f.flag&layer.AccMode == os.O_RDONLY || size < 0:
		return syscall.EINVAL
	}
	f.b.dataMu.Lock()
	defer f.b.dataMu.Unlock()
	return aferoErrno(f.f.Truncate(size))
}

func (f *file) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	return aferoErrno(f.f.Sync())
}

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	return aferoErrno(f.f.Close())
}
