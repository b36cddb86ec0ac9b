package overlay

import (
	"io"
	"os"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
)

// OverlayLayer returns a read-only layer showing the merged tree of
// another overlay, so that overlays stack as the kernel's do: names and
// xattrs as that overlay presents them (its escaped trusted.overlay.overlay.*
// xattrs appear as trusted.overlay.*, so an xattr whiteout or opaque marker
// stored escaped in it takes effect in this one). As with the
// kernel, an overlay whose layers are overlays may itself be a layer of
// no other (maximum stacking depth 2: New fails with EINVAL). It cannot be
// an upper layer. The inner FS stays the caller's to close.
func OverlayLayer(inner *FS) *Layer {
	return &Layer{b: &stackBackend{fs: inner}, format: formatKernel, desc: "overlay"}
}

// maxStackDepth is the kernel's FILESYSTEM_MAX_STACK_DEPTH: an overlay
// over an overlay over a filesystem, no more.
const maxStackDepth = 2

// stackBackend reads an overlay as a layer. Its paths are the overlay's;
// every change is EROFS.
type stackBackend struct {
	fs *FS // immutable
}

var _ layer.Backend = (*stackBackend)(nil)

func stackPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func (s *stackBackend) Lstat(p string) (layer.Attr, error) {
	fi, err := s.fs.Lstat(stackPath(p))
	if err != nil {
		return layer.Attr{}, errnoOf(err)
	}
	return fi.(*fileInfo).a, nil
}

func (s *stackBackend) ReadDir(p string) ([]layer.DirEnt, error) {
	f, err := s.fs.openFile(stackPath(p), os.O_RDONLY|layer.ONoFollow, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.entries("readdirent", -1)
	if err != nil {
		return nil, errnoOf(err)
	}
	out := make([]layer.DirEnt, 0, len(ents))
	for _, e := range ents {
		out = append(out, layer.DirEnt{Name: e.name, Type: e.typ})
	}
	return out, nil
}

func (s *stackBackend) Readlink(p string) (string, error) {
	t, err := s.fs.Readlink(stackPath(p))
	if err != nil {
		return "", errnoOf(err)
	}
	return t, nil
}

func (s *stackBackend) OpenRead(p string, flag int) (layer.File, error) {
	return s.Open(p, flag&^layer.WriteFlags, 0)
}

func (s *stackBackend) Open(p string, flag int, perm uint32) (layer.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC) != 0 {
		return nil, syscall.EROFS
	}
	f, err := s.fs.openFile(stackPath(p), os.O_RDONLY|layer.ONoFollow, 0)
	if err != nil {
		return nil, err
	}
	return stackFile{f}, nil
}

func (s *stackBackend) Getxattr(p, name string) ([]byte, error) {
	return s.fs.getxattr(stackPath(p), name, followNo)
}

func (s *stackBackend) Listxattr(p string) ([]string, error) {
	return s.fs.listxattr(stackPath(p), followNo)
}

func (s *stackBackend) Setxattr(p, name string, value []byte) error   { return syscall.EROFS }
func (s *stackBackend) Removexattr(p, name string) error              { return syscall.EROFS }
func (s *stackBackend) Mkdir(p string, perm uint32) error             { return syscall.EROFS }
func (s *stackBackend) Symlink(target, p string) error                { return syscall.EROFS }
func (s *stackBackend) Link(oldp, newp string) error                  { return syscall.EROFS }
func (s *stackBackend) Mknod(p string, mode uint32, dev uint64) error { return syscall.EROFS }
func (s *stackBackend) Rename(oldp, newp string) error                { return syscall.EROFS }
func (s *stackBackend) Exchange(p1, p2 string) error                  { return syscall.EROFS }
func (s *stackBackend) Unlink(p string) error                         { return syscall.EROFS }
func (s *stackBackend) Rmdir(p string) error                          { return syscall.EROFS }
func (s *stackBackend) Chmod(p string, perm uint32) error             { return syscall.EROFS }
func (s *stackBackend) Lchown(p string, uid, gid int) error           { return syscall.EROFS }
func (s *stackBackend) Truncate(p string, size int64) error           { return syscall.EROFS }
func (s *stackBackend) Lutimes(p string, atime, mtime time.Time) error {
	return syscall.EROFS
}

func (s *stackBackend) Caps() layer.Caps { return layer.Caps{Xattr: true, NameMax: layer.NameMax} }
func (s *stackBackend) Close() error     { return nil }

// stackFile is an open file of an inner overlay as a backend file.
type stackFile struct{ f *File }

func (sf stackFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := sf.f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		err = errnoOf(err)
	}
	return n, err
}
func (sf stackFile) WriteAt(b []byte, off int64) (int, error) { return 0, syscall.EBADF }
func (sf stackFile) Append(b []byte) (int, int64, error)      { return 0, 0, syscall.EBADF }
func (sf stackFile) Close() error                             { return sf.f.Close() }
func (sf stackFile) Truncate(size int64) error                { return syscall.EINVAL }
func (sf stackFile) Sync() error                              { return nil }
func (sf stackFile) Stat() (layer.Attr, error) {
	fi, err := sf.f.Stat()
	if err != nil {
		return layer.Attr{}, errnoOf(err)
	}
	return fi.(*fileInfo).a, nil
}

// stackDepth is how deep fsys stacks: 1 over plain layers, one more than
// its deepest overlay layer.
func (fsys *FS) stackDepth() int {
	d := 1
	for _, br := range fsys.lowers {
		if s, ok := br.b.(*stackBackend); ok {
			d = max(d, s.fs.stackDepth()+1)
		}
	}
	return d
}
