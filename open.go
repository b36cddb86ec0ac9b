package overlay

import (
	"os"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// openFile opens name as open(2) does on the kernel's overlay: a lower
// regular file opened for writing (or with O_TRUNC) is copied up first
// (its data skipped with O_TRUNC); a read-only open reads the layer
// holding the file; O_CREATE makes the file in the upper layer.
func (fsys *FS) openFile(name string, flag int, perm uint32) (*File, error) {
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if flag&os.O_CREATE != 0 && flag&layer.ODirectory != 0 {
		// Refused before any lookup: nothing is created (build_open_flags).
		return nil, syscall.EINVAL
	}
	if flag&os.O_CREATE != 0 && strings.HasSuffix(name, "/") {
		// O_CREAT with a trailing slash is EISDIR once the parent is
		// found, whatever the last name is: it is not even looked up
		// (open_last_lookups).
		fsys.mu.RLock()
		_, err := fsys.walk(name, parentOnly)
		fsys.mu.RUnlock()
		if err != nil {
			return nil, err
		}
		return nil, syscall.EISDIR
	}
	read, fwrite := acc == os.O_RDONLY || acc == os.O_RDWR, acc == os.O_WRONLY || acc == os.O_RDWR
	// write: the open copies up (ovl_open_flags_need_copy_up); check: it
	// is checked as a write (may_open). Access mode 3 (O_WRONLY|O_RDWR)
	// is Linux's open for neither reading nor writing, checked as both;
	// its backing file is opened read-only.
	write := fwrite || flag&os.O_TRUNC != 0
	check := write || acc == os.O_WRONLY|os.O_RDWR
	if acc == os.O_WRONLY|os.O_RDWR {
		flag = flag&^acc | os.O_RDONLY
	}
	follow := followYes
	switch {
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		follow = followNever
	case flag&layer.ONoFollow != 0:
		follow = followNo
	}
	for {
		fsys.pruneIfNeeded()
		fsys.mu.RLock()
		r, err := fsys.walk(name, follow)
		if err != nil {
			fsys.mu.RUnlock()
			return nil, err
		}
		n := r.n
		if !n.present {
			fsys.mu.RUnlock()
			if flag&os.O_CREATE == 0 {
				return nil, syscall.ENOENT
			}
			if r.dirOK {
				return nil, syscall.EISDIR
			}
			f, err := fsys.create(name, follow, flag, perm)
			if err == syscall.EEXIST && flag&os.O_EXCL == 0 {
				continue // created meanwhile: open it
			}
			if f != nil {
				f.read, f.write = read, fwrite
			}
			return f, err
		}
		err = fsys.checkOpen(r, flag, check)
		if err != nil {
			fsys.mu.RUnlock()
			return nil, err
		}
		f := &File{fsys: fsys, name: name, n: n, isDir: n.isDir(), read: read, write: fwrite, app: flag&os.O_APPEND != 0}
		if f.isDir {
			f.real = fsys.realDirStream(n)
			fsys.mu.RUnlock()
			return f, nil
		}
		special := n.typ != syscall.S_IFREG
		if write && n.upper && n.metacopy && fsys.upper.hasXattr(n.path(), ondisk.XMetacopy) {
			// Writing needs the data in the upper file.
			fsys.mu.RUnlock()
			if err := fsys.copyUpData(n, flag&os.O_TRUNC == 0); err != nil && err != errStale {
				return nil, err
			}
			continue
		}
		if !write || n.upper || special {
			f.bf, f.onUpper, err = fsys.openHolder(n, flag)
			fsys.mu.RUnlock()
			if err != nil {
				return nil, err
			}
			return f, nil
		}
		fsys.mu.RUnlock()
		mode := copyFull
		if flag&os.O_TRUNC != 0 {
			mode = copyTrunc
		}
		if err := fsys.copyUp(n, mode); err != nil && err != errStale {
			return nil, err
		}
	}
}

// checkOpen applies open(2)'s checks to the present object r.n, in the
// kernel's order: a trailing slash with O_CREATE (open_last_lookups), then
// do_open's EEXIST, EISDIR and ENOTDIR (O_DIRECTORY wins over O_NOFOLLOW's
// ELOOP on a symlink), then may_open's. Callers hold FS.mu.
func (fsys *FS) checkOpen(r walkResult, flag int, write bool) error {
	n := r.n
	creat := flag&os.O_CREATE != 0
	switch {
	case creat && r.dirOK:
		return syscall.EISDIR
	case creat && flag&os.O_EXCL != 0:
		return syscall.EEXIST
	case creat && n.isDir():
		return syscall.EISDIR
	case r.dirOK && !n.isDir(), flag&layer.ODirectory != 0 && !n.isDir():
		return syscall.ENOTDIR
	case n.typ == syscall.S_IFLNK:
		return syscall.ELOOP // O_NOFOLLOW on a symlink
	case n.isDir() && write:
		return syscall.EISDIR
	case write && fsys.upper == nil:
		return syscall.EROFS
	}
	return fsys.mayOpen(n, flag)
}

// openHolder opens the backing file of n from the layer holding its data
// (for a metacopy file, the data file below).
// Callers hold FS.mu.
func (fsys *FS) openHolder(n *node, flag int) (layer.File, bool, error) {
	bflag := flag &^ (os.O_CREATE | os.O_EXCL | layer.ONoFollow | layer.ODirectory)
	br, p, up, err := fsys.dataRef(n)
	if err != nil {
		return nil, false, err
	}
	if !up || bflag&layer.WriteFlags == 0 {
		f, err := br.b.OpenRead(p, bflag)
		return f, up, err
	}
	f, err := br.w.open(p, bflag, 0)
	return f, true, err
}

// create makes a new regular file for an open with O_CREATE.
func (fsys *FS) create(name string, follow followMode, flag int, perm uint32) (*File, error) {
	r, err := fsys.lockForChange(name, follow, fsys.checkCreate)
	if err != nil {
		return nil, err
	}
	defer fsys.mu.Unlock()
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	mode := perm &^ fsys.umask
	var bf layer.File
	err = fsys.createObj(r, false, fsys.ownNew(r, func(p string) error {
		f, err := fsys.upper.w.open(p, acc|flag&os.O_APPEND|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if err := fsys.upper.w.chmod(p, mode); err != nil {
			f.Close()
			return err
		}
		bf = f
		return nil
	}))
	if err != nil {
		fsys.forget(r.parent, r.name)
		if bf != nil {
			bf.Close()
		}
		return nil, err
	}
	fsys.forget(r.parent, r.name)
	c, err := fsys.child(r.parent, r.name)
	if err != nil {
		bf.Close()
		return nil, err
	}
	return &File{fsys: fsys, name: name, n: c, bf: bf, onUpper: true, read: acc != os.O_WRONLY, write: acc != os.O_RDONLY, app: flag&os.O_APPEND != 0}, nil
}
