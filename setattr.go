package overlay

import (
	"os"
	"slices"
	"syscall"
	"time"
)

// setattr runs fn on the upper copy of name's object, copying it up first
// (§3.1: chmod, chown, utimes, truncate all copy up), metadata only when
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

// ownerCheck is setattr_prepare's check, which the kernel's overlay makes
// before copy-up and after EROFS: changing the mode, or setting times
// explicitly, takes the object's owner or root (inode_owner_or_capable);
// anyone else gets EPERM. The caller is the calling thread's effective
// uid. Callers hold FS.mu.
func (fsys *FS) ownerCheck(n *node) error {
	if fsys.upper == nil {
		return syscall.EROFS
	}
	e := os.Geteuid()
	if e <= 0 {
		return nil // root (or no uids here)
	}
	a, err := fsys.nodeAttr(n)
	if err != nil {
		return err
	}
	if a.Uid != uint32(e) {
		return syscall.EPERM
	}
	return nil
}

// chownCheck is chown(2)'s check (chown_ok, chgrp_ok), after EROFS: only
// root gives an object away; its owner may set its group to its own
// group or to one it is in; anyone else gets EPERM. Callers hold FS.mu.
func (fsys *FS) chownCheck(n *node, uid, gid int) error {
	if fsys.upper == nil {
		return syscall.EROFS
	}
	e := os.Geteuid()
	if e <= 0 || uid == -1 && gid == -1 {
		return nil
	}
	a, err := fsys.nodeAttr(n)
	if err != nil {
		return err
	}
	if a.Uid != uint32(e) || uid != -1 && uint32(uid) != a.Uid {
		return syscall.EPERM
	}
	if gid == -1 || uint32(gid) == a.Gid || gid == os.Getegid() {
		return nil
	}
	groups, _ := os.Getgroups()
	if slices.Contains(groups, gid) {
		return nil
	}
	return syscall.EPERM
}

func (fsys *FS) chmod(name string, perm uint32) error {
	return fsys.setattr(name, followYes, copyMeta, fsys.ownerCheck, func(p string, n *node) error {
		return fsys.upper.b.chmod(p, perm)
	})
}

func (fsys *FS) chown(name string, uid, gid int, follow followMode) error {
	check := func(n *node) error { return fsys.chownCheck(n, uid, gid) }
	return fsys.setattr(name, follow, copyMeta, check, func(p string, n *node) error {
		return fsys.upper.b.lchown(p, uid, gid)
	})
}

func (fsys *FS) chtimes(name string, atime, mtime time.Time) error {
	if atime.IsZero() && mtime.IsZero() {
		// Both left as they are (UTIME_OMIT): the kernel returns before
		// it even looks the name up (do_utimes).
		return nil
	}
	return fsys.setattr(name, followYes, copyMeta, fsys.ownerCheck, func(p string, n *node) error {
		if atime.IsZero() || mtime.IsZero() {
			a, err := fsys.upper.b.lstat(p)
			if err != nil {
				return err
			}
			atime, mtime = timeOrKeep(atime, a.Atime), timeOrKeep(mtime, a.Mtime)
		}
		return fsys.upper.b.lutimes(p, atime, mtime)
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
		}
		return nil
	}, func(p string, n *node) error {
		return fsys.upper.b.truncate(p, size)
	})
}
