package overlay

import (
	"os"
	"syscall"
)

// openFile opens name as open(2) does on the kernel's overlay: a lower
// regular file opened for writing (or with O_TRUNC) is copied up first
// (its data skipped with O_TRUNC, §3.1); a read-only open reads the layer
// holding the file; O_CREATE makes the file in the upper layer.
func (fsys *FS) openFile(name string, flag int, perm uint32) (*File, error) {
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if acc == os.O_RDONLY|os.O_WRONLY|os.O_RDWR {
		return nil, syscall.EINVAL
	}
	write := acc != os.O_RDONLY || flag&os.O_TRUNC != 0
	follow := followYes
	switch {
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		follow = followNever
	case flag&oNoFollow != 0:
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
			return f, err
		}
		err = fsys.checkOpen(r, flag, write)
		if err != nil {
			fsys.mu.RUnlock()
			return nil, err
		}
		f := &File{fsys: fsys, name: name, n: n, isDir: n.isDir(), read: acc != os.O_WRONLY, write: acc != os.O_RDONLY, app: flag&os.O_APPEND != 0}
		if f.isDir {
			fsys.mu.RUnlock()
			return f, nil
		}
		special := n.typ != syscall.S_IFREG
		if write && n.upper && n.metacopy && fsys.upper.hasXattr(n.path(), xMetacopy) {
			// Writing needs the data in the upper file (§7.1).
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

// checkOpen applies open(2)'s checks to the present object r.n. Callers
// hold FS.mu.
func (fsys *FS) checkOpen(r walkResult, flag int, write bool) error {
	n := r.n
	switch {
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return syscall.EEXIST
	case n.typ == syscall.S_IFLNK:
		return syscall.ELOOP // O_NOFOLLOW on a symlink
	case r.dirOK && !n.isDir(), flag&oDirectory != 0 && !n.isDir():
		return syscall.ENOTDIR
	case n.isDir() && (write || flag&os.O_CREATE != 0):
		return syscall.EISDIR
	case write && fsys.upper == nil:
		return syscall.EROFS
	}
	return fsys.mayOpen(n, flag)
}

// openHolder opens the backing file of n from the layer holding its data
// (for a metacopy file, the data file below).
// Callers hold FS.mu.
func (fsys *FS) openHolder(n *node, flag int) (bfile, bool, error) {
	bflag := flag &^ (os.O_CREATE | os.O_EXCL | oNoFollow | oDirectory)
	br, p, up, err := fsys.dataRef(n)
	if err != nil {
		return nil, false, err
	}
	if !up {
		bflag &^= os.O_TRUNC | os.O_APPEND
	}
	f, err := br.b.open(p, bflag, 0)
	return f, up, err
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
	var bf bfile
	err = fsys.createObj(r, false, fsys.ownNew(r, func(p string) error {
		f, err := fsys.upper.b.open(p, acc|flag&os.O_APPEND|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if err := fsys.upper.b.chmod(p, mode); err != nil {
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
