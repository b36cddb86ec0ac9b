package layertest

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// DumpDir dumps the host directory tree under root (an overlay mount point,
// or a layer directory) in the format of DumpFS: one line per entry sorted
// by path, with type, permission bits, size, link count, owner, device
// number, symlink target, content (or its hash) and xattrs (hex values).
// Timestamps are not shown. Symlinks are not followed and their xattrs are
// not shown.
func DumpDir(root string, opts ...DumpOption) (string, error) {
	c := newConfig(opts)
	var recs []*record
	var walk func(rel string) error
	walk = func(rel string) error {
		name := filepath.Join(root, filepath.FromSlash(rel))
		r := &record{path: rel}
		recs = append(recs, r)
		fi, err := os.Lstat(name)
		if err != nil {
			r.err = err
			return nil
		}
		fillStat(r, fi)
		switch r.mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			r.target, r.derr = os.Readlink(name)
			return nil
		case syscall.S_IFREG:
			r.data, r.derr = os.ReadFile(name)
		}
		r.xattrs, r.xerr = Lxattrs(name)
		if r.mode&syscall.S_IFMT != syscall.S_IFDIR {
			return nil
		}
		ents, err := os.ReadDir(name)
		if err != nil {
			r.derr = err
			return nil
		}
		for _, e := range ents {
			if err := walk(filepath.ToSlash(filepath.Join(rel, e.Name()))); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("."); err != nil {
		return "", err
	}
	return finish(recs, c), nil
}

// Lxattrs reads all xattrs of name without following a final symlink.
func Lxattrs(name string) (map[string][]byte, error) {
	names, err := Llistxattr(name)
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	for _, n := range names {
		v, err := Lgetxattr(name, n)
		if err != nil {
			v = []byte("getxattr:" + ErrString(err))
		}
		m[n] = v
	}
	return m, nil
}

// Llistxattr lists the xattr names of name (not following a final
// symlink), in the filesystem's order.
func Llistxattr(name string) ([]string, error) { return listxattr(name, unix.Llistxattr) }

// Listxattr is like Llistxattr but follows a final symlink.
func Listxattr(name string) ([]string, error) { return listxattr(name, unix.Listxattr) }

// Lgetxattr reads one xattr of name, not following a final symlink.
func Lgetxattr(name, attr string) ([]byte, error) { return getxattr(name, attr, unix.Lgetxattr) }

// Getxattr is like Lgetxattr but follows a final symlink.
func Getxattr(name, attr string) ([]byte, error) { return getxattr(name, attr, unix.Getxattr) }

func listxattr(name string, list func(string, []byte) (int, error)) ([]string, error) {
	for {
		n, err := list(name, nil)
		if err != nil {
			return nil, &os.PathError{Op: "listxattr", Path: name, Err: err}
		}
		if n == 0 {
			return []string{}, nil
		}
		buf := make([]byte, n)
		n, err = list(name, buf)
		if err == unix.ERANGE {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, &os.PathError{Op: "listxattr", Path: name, Err: err}
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

func getxattr(name, attr string, get func(string, string, []byte) (int, error)) ([]byte, error) {
	for {
		n, err := get(name, attr, nil)
		if err != nil {
			return nil, &os.PathError{Op: "getxattr", Path: name, Err: err}
		}
		buf := make([]byte, n)
		if n == 0 {
			return buf, nil
		}
		n, err = get(name, attr, buf)
		if err == unix.ERANGE {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, &os.PathError{Op: "getxattr", Path: name, Err: err}
		}
		return buf[:n], nil
	}
}
