package overlay

import (
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// IOFS returns a read-only io/fs view of the overlay. It implements
// fs.StatFS, fs.ReadDirFS, fs.ReadFileFS, fs.ReadLinkFS and fs.SubFS, and
// follows io/fs's path rules (unrooted, slash-separated, no "." or ".."
// elements; fs.ErrInvalid otherwise). Symlinks resolve inside the overlay.
func (fsys *FS) IOFS() fs.FS { return &ioFS{fsys: fsys} }

type ioFS struct {
	fsys   *FS
	prefix string // the dir of a Sub view, "" for the root
}

var (
	_ fs.StatFS     = (*ioFS)(nil)
	_ fs.ReadDirFS  = (*ioFS)(nil)
	_ fs.ReadFileFS = (*ioFS)(nil)
	_ fs.ReadLinkFS = (*ioFS)(nil)
	_ fs.SubFS      = (*ioFS)(nil)
)

// full checks name as io/fs requires and maps it to an overlay path.
func (v *ioFS) full(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return path.Join(v.prefix, name), nil
}

// withIOFSName makes an error carry the io/fs name instead of the overlay path.
func withIOFSName(err error, name string) error {
	if pe, ok := err.(*fs.PathError); ok {
		pe.Path = name
	}
	return err
}

func (v *ioFS) Open(name string) (fs.File, error) {
	p, err := v.full("open", name)
	if err != nil {
		return nil, err
	}
	f, err := v.fsys.openFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	f.name = name
	return f, nil
}

func (v *ioFS) Stat(name string) (fs.FileInfo, error) {
	p, err := v.full("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := v.fsys.Stat(p)
	if err != nil {
		return nil, withIOFSName(err, name)
	}
	if name == "." {
		fi.(*fileInfo).name = "."
	}
	return fi, nil
}

func (v *ioFS) Lstat(name string) (fs.FileInfo, error) {
	p, err := v.full("lstat", name)
	if err != nil {
		return nil, err
	}
	fi, err := v.fsys.Lstat(p)
	if err != nil {
		return nil, withIOFSName(err, name)
	}
	if name == "." {
		fi.(*fileInfo).name = "."
	}
	return fi, nil
}

func (v *ioFS) ReadLink(name string) (string, error) {
	p, err := v.full("readlink", name)
	if err != nil {
		return "", err
	}
	t, err := v.fsys.Readlink(p)
	return t, withIOFSName(err, name)
}

func (v *ioFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := v.full("readdir", name)
	if err != nil {
		return nil, err
	}
	f, err := v.fsys.openFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	defer f.Close()
	f.name = name
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

func (v *ioFS) ReadFile(name string) ([]byte, error) {
	p, err := v.full("readfile", name)
	if err != nil {
		return nil, err
	}
	f, err := v.fsys.openFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	defer f.Close()
	f.name = name
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, fi.Size()+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF {
				return buf, nil
			}
			return buf, err
		}
	}
}

func (v *ioFS) Sub(dir string) (fs.FS, error) {
	p, err := v.full("sub", dir)
	if err != nil {
		return nil, err
	}
	if dir == "." {
		return v, nil
	}
	return &ioFS{fsys: v.fsys, prefix: p}, nil
}
