package memfs

import (
	"io"
	"os"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// file is an open FS file. It holds the inode, so it keeps working
// after the file is unlinked or renamed, as an open file descriptor does.
type file struct {
	m      *FS   // immutable
	n      *node // immutable
	flag   int   // the open flags; immutable
	closed bool  // protected by m.mu
}

var _ layer.File = (*file)(nil)

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	switch {
	case f.closed || f.flag&layer.AccMode == os.O_WRONLY:
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
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	n, _, err := f.write(p, off)
	return n, err
}

// Append writes p at the end of the file under the FS lock, so no other
// writer comes between finding the end and writing there.
func (f *file) Append(p []byte) (int, int64, error) {
	if f.flag&os.O_APPEND == 0 {
		return 0, 0, syscall.EBADF
	}
	return f.write(p, 0)
}

// write is pwrite(2): it writes p at off (at the end for an O_APPEND
// file) and returns the offset just past what it wrote.
func (f *file) write(p []byte, off int64) (int, int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n := f.n
	if f.flag&os.O_APPEND != 0 {
		off = int64(len(n.data))
	}
	switch {
	case f.closed || f.flag&layer.AccMode == os.O_RDONLY:
		return 0, 0, syscall.EBADF
	case off < 0:
		return 0, 0, syscall.EINVAL
	case len(p) == 0:
		return 0, off, nil
	}
	end := off + int64(len(p))
	if end > maxFileSize {
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

func (f *file) Stat() (layer.Attr, error) {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	if f.closed {
		return layer.Attr{}, syscall.EBADF
	}
	return f.n.attr(f.m.dev), nil
}

// Truncate is ftruncate(2): EINVAL unless f is a regular file open for
// writing.
func (f *file) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return syscall.EBADF
	case !f.n.isReg() || f.flag&layer.AccMode == os.O_RDONLY:
		return syscall.EINVAL
	}
	return f.n.truncateLocked(size)
}

func (f *file) Sync() error {
	f.m.mu.RLock()
	defer f.m.mu.RUnlock()
	if f.closed {
		return syscall.EBADF
	}
	return nil
}

func (f *file) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	return nil
}

var _ layer.TreeDirOpener = backend{}

func (b backend) OpenTreeDir(p string) (layer.TreeDir, error) {
	m := b.fs
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.dirAt(p)
	if err != nil {
		return nil, err
	}
	return treeDir{m, n}, nil
}

// treeDir is a dir of a FS open for a tree walk: it holds the dir
// itself, so each step costs the same at any depth.
type treeDir struct {
	m *FS
	n *node
}

// kid returns the entry name of d. Callers hold m.mu.
func (d treeDir) kid(name string) (*node, error) {
	k := d.n.kids[name]
	if k == nil {
		return nil, syscall.ENOENT
	}
	return k, nil
}

func (d treeDir) List() ([]layer.DirEnt, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	return d.n.dirEnts(), nil
}

func (d treeDir) Lstat(name string) (layer.Attr, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return layer.Attr{}, err
	}
	return k.attr(d.m.dev), nil
}

func (d treeDir) Listxattr(name string) ([]string, error) {
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

func (d treeDir) Getxattr(name, x string) ([]byte, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	if err != nil {
		return nil, err
	}
	return d.m.getxattrLocked(loc{dir: d.n, name: name, node: k}, x)
}

func (d treeDir) Sub(name string) (layer.TreeDir, error) {
	d.m.mu.RLock()
	defer d.m.mu.RUnlock()
	k, err := d.kid(name)
	switch {
	case err != nil:
		return nil, err
	case !k.isDir():
		return nil, syscall.ENOTDIR
	}
	return treeDir{d.m, k}, nil
}

func (treeDir) Close() {}
