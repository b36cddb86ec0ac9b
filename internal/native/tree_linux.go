//go:build linux

package native

import (
	"io"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

var _ layer.TreeRemover = (*backend)(nil)

// RemoveTree removes the dir p and everything beneath it, walking down
// with directory descriptors as os.RemoveAll does: each level costs the
// same however deep it lies (no path is resolved from the root again),
// and trees deeper than PATH_MAX go too.
func (b *backend) RemoveTree(p string) error {
	return b.onParent(p, unix.EBUSY, func(dirfd int, name string) error {
		return removeAt(dirfd, name, make([]byte, 32<<10))
	})
}

// ClearTree removes everything inside the dir p, keeping p.
func (b *backend) ClearTree(p string) error {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return clearAt(fd, make([]byte, 32<<10))
}

// removeAt removes name in the dir parent, with everything beneath it.
// Symlinks are never followed and mounts never crossed (a mount point
// beneath fails EXDEV, as any lookup of the layer). buf is the getdents
// buffer, shared by every level (each level parses it before going down).
func removeAt(parent int, name string, buf []byte) error {
	err := unix.Unlinkat(parent, name, 0)
	switch err {
	case nil, unix.ENOENT:
		return nil
	case unix.EISDIR:
	default:
		return err
	}
	fd, err := openSubdir(parent, name)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	err = clearAt(fd, buf)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// clearAt removes everything in the dir open at fd.
func clearAt(fd int, buf []byte) error {
	for {
		// Read a batch, remove it, and read again from the start: the
		// removals change the directory under its offset.
		if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
			return err
		}
		ents, err := readDirents(fd, buf)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return nil
		}
		for _, e := range ents {
			if err := removeAt(fd, e.Name, buf); err != nil {
				return err
			}
		}
	}
}

var _ layer.InodeHolder = (*backend)(nil)

func (b *backend) Hold(p string) (func() (layer.Attr, error), func(), error) {
	fd, err := b.openObj(p, 0)
	if err != nil {
		return nil, nil, err
	}
	return func() (layer.Attr, error) { return fstatAttr(fd) }, func() { unix.Close(fd) }, nil
}

// openSubdir opens the dir name in the dir open at fd, never following a
// symlink and never leaving the layer, for a walk by descriptors.
func openSubdir(fd int, name string) (int, error) {
	return openRetry(fd, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: resolveFlags,
	})
}
