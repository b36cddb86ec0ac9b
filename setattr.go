package overlay

import (
	"syscall"
	"time"
)

// setattr runs fn on the upper copy of name's object, copying it up first
// (chmod, chown, utimes, truncate all copy up), metadata only when
// mode is copyMeta and metacopy=on, with its data (also into an upper
// metacopy file) when mode is copyFull. check runs on the
// object before anything changes, for the VFS's errors that come before
// EROFS. fn runs with FS.mu held for reading, which keeps the object's
// upper path from changing under it.
func (fsys *FS) setattr(name string, follow followMode, mode copyMode, check func(n *node) error, fn func(p string, n *node) error) error {
	for {
		fsys.pruneIfNeeded()
		fsys.mu.RLock()
		n, err := fsys.lookupFinal(name, follow)
		if err == nil && check != nil {
			err = check(n)
		}
		if err == nil && fsys.upper == nil {
			err = syscall.EROFS
		}
		if err != nil {
			fsys.mu.RUnlock()
			return err
		}
		if !n.upper || mode == copyFull && n.metacopy {
			fsys.mu.RUnlock()
			err := fsys.copyUp(n, mode)
			if err == nil && mode == copyFull {
				err = fsys.copyUpData(n, true)
			}
			if err != nil && err != errStale {
				return err
			}
			continue
		}
		err = fn(n.path(), n)
		fsys.mu.RUnlock()
		return err
	}
}

// roFirst runs a setattr permission check after EROFS, as the kernel
// checks the mount before the inode.
func (fsys *FS) roFirst(check func(n *node) error) func(n *node) error {
	return func(n *node) error {
		if fsys.upper == nil {
			return syscall.EROFS
		}
		return check(n)
	}
}

func (fsys *FS) chmod(name string, perm uint32) error {
	return fsys.setattr(name, followYes, copyMeta, fsys.roFirst(fsys.mayOwn), func(p string, n *node) error {
		if !fsys.caller().root() {
			a, err := fsys.upper.b.Lstat(p)
			if err != nil {
				return err
			}
			perm = fsys.chmodMode(&a, perm)
		}
		return fsys.upper.w.chmod(p, perm)
	})
}

func (fsys *FS) chown(name string, uid, gid int, follow followMode) error {
	return fsys.setattr(name, follow, copyMeta, fsys.roFirst(func(n *node) error {
		return fsys.mayChown(n, uid, gid)
	}), func(p string, n *node) error {
		return fsys.upper.w.lchown(p, uid, gid)
	})
}

// chtimes sets explicit times: only the owner may (setattr_prepare).
// With neither time (both UTIME_OMIT) it only looks the name up, as
// utimensat(2) does.
func (fsys *FS) chtimes(name string, atime, mtime time.Time) error {
	if atime.IsZero() && mtime.IsZero() {
		// Both left as they are (UTIME_OMIT): the kernel returns before
		// it even looks the name up (utimensat: "we must not even check
		// the path").
		return nil
	}
	return fsys.setattr(name, followYes, copyMeta, fsys.roFirst(fsys.mayOwn), func(p string, n *node) error {
		if atime.IsZero() || mtime.IsZero() {
			a, err := fsys.upper.b.Lstat(p)
			if err != nil {
				return err
			}
			atime, mtime = timeOrKeep(atime, a.Atime), timeOrKeep(mtime, a.Mtime)
		}
		return fsys.upper.w.lutimes(p, atime, mtime)
	})
}

// truncate is truncate(2): EINVAL for a negative size, then EISDIR for a
// dir and EINVAL for anything but a regular file, then EROFS.
func (fsys *FS) truncate(name string, size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	return fsys.setattr(name, followYes, copyFull, func(n *node) error {
		switch {
		case n.isDir():
			return syscall.EISDIR
		case n.typ != syscall.S_IFREG:
			return syscall.EINVAL
		case fsys.upper == nil:
			return syscall.EROFS
		}
		return fsys.may(n, mayWrite)
	}, func(p string, n *node) error {
		if err := fsys.upper.w.truncate(p, size); err != nil {
			return err
		}
		return fsys.dropPrivsLocked(n)
	})
}
