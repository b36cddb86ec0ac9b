package overlay

import (
	"io"
	"os"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// memFile is an open MemFS file. It holds the inode, so it keeps working
// after the file is unlinked or renamed, as an open file descriptor does.
type memFile struct {
	m      *MemFS   // immutable
	n      *memNode // immutable
	flag   int      // the open flags; immutable
	closed bool     // protected by m.mu
}

var _ layer.File = (*memFile)(nil)

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	switch {
	case f.closed || f.flag&accMode == os.O_WRONLY:
		return 0, syscall.EBADF
	case f.n.isDir():
		return 0, syscall.EISDIR
	case off < 0:
		return 0, syscall.EINVAL
	case off >= int64(len(f.n.data)):
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes at off, extending the file with zeros if needed. As
// pwrite(2) on Linux, a file opened with O_APPEND is written at its end
// whatever off is.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	n, _, err := f.write(p, off)
	return n, err
}

// Append writes p at the end of the file under the MemFS lock, so no other
// writer comes between finding the end and writing there.
func (f *memFile) Append(p []byte) (int, int64, error) {
	if f.flag&os.O_APPEND == 0 {
		return 0, 0, syscall.EBADF
	}
	return f.write(p, 0)
}

// write is pwrite(2): it writes p at off (at the end for an O_APPEND
// file) and returns the offset just past what it wrote.
func (f *memFile) write(p []byte, off int64) (int, int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n := f.n
	if f.flag&os.O_APPEND != 0 {
		off = int64(len(n.data))
	}
	switch {
	case f.closed || f.flag&accMode == os.O_RDONLY:
		return 0, 0, syscall.EBADF
	case off < 0:
		return 0, 0, syscall.EINVAL
	case len(p) == 0:
		return 0, off, nil
	}
	end := off + int64(len(p))
	if end > memMaxFileSize {
		return 0, 0, syscall.EFBIG
	}
	if end > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
	}
	copy(n.data[off:], p)
	now := time.Now()
	n.mtime, n.ctime = now, now
	return len(p), end, nil
}

func (f *memFile) Stat() (layer.Attr, error) {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	if f.closed {
		return layer.Attr{}, syscall.EBADF
	}
	return f.n.attr(f.m.dev), nil
}

// Truncate is ftruncate(2): EINVAL unless f is a regular file open for
// writing.
func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return syscall.EBADF
	case !f.n.isReg() || f.flag&accMode == os.O_RDONLY:
		return syscall.EINVAL
	}
	return f.n.truncateLocked(size)
}

func (f *memFile) Sync() error {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	if f.closed {
		return syscall.EBADF
	}
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	return nil
}

var _ layer.TreeDirOpener = memBackend{}

func (b memBackend) OpenTreeDir(p string) (layer.TreeDir, error) {
	m := b.fs
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.dirAt(p)
	if err != nil {
		return nil, err
	}
	return memTreeDir{m, n}, nil
}

// memTreeDir is a dir of a MemFS open for a tree walk: it holds the dir
// itself, so each step costs the same at any depth.
type memTreeDir struct {
	m *MemFS
	n *memNode
}

// kid returns the entry name of d. Callers hold m.mu.
func (d memTreeDir) kid(name string) (*memNode, error) {
	k := d.n.kids[name]
	if k == nil {
		return nil, syscall.ENOENT
	}
	return k, nil
}

func (d memTreeDir) List() ([]layer.DirEnt, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	return d.n.dirEnts(), nil
}

func (d memTreeDir) Lstat(name string) (layer.Attr, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return layer.Attr{}, err
	}
	return k.attr(d.m.dev), nil
}

func (d memTreeDir) Listxattr(name string) ([]string, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(k.xattrs))
	for x := range k.xattrs {
		names = append(names, x)
	}
	return names, nil
}

func (d memTreeDir) Getxattr(name, x string) ([]byte, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return nil, err
	}
	return d.m.getxattrLocked(memLoc{dir: d.n, name: name, node: k}, x)
}

func (d memTreeDir) Sub(name string) (layer.TreeDir, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	switch {
	case err != nil:
		return nil, err
	case !k.isDir():
		return nil, syscall.ENOTDIR
	}
	return memTreeDir{d.m, k}, nil
}

func (memTreeDir) Close() {}
