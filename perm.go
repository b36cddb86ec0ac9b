package overlay

import (
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// Cred is the identity an FS acts for: a user ID, a primary group ID and
// the supplementary groups, as a process's fsuid, fsgid and groups. Uid 0
// is root, with the capabilities that bypass permission checks
// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
// CAP_CHOWN, CAP_MKNOD, CAP_SYS_ADMIN for trusted.* xattrs).
type Cred struct {
	Uid, Gid uint32
	Groups   []uint32
}

// As returns a view of the overlay that acts for the caller c, as the
// kernel's overlay serves a process other than its mounter: every
// operation through the view checks c's permission on the merged objects
// (the kernel's checks on the overlay inode: owner, group and other bits,
// search permission on every directory walked, sticky directories, the
// owner-only operations, root's overrides), and objects it creates are
// owned by c (their group is the parent's in a setgid directory). The
// work on the layers (copy-up, whiteouts, private xattrs) is done as the
// process, as the kernel does it with the mounter's credentials, so that
// a caller may write a lower file it owns in a directory only root may
// write. This is what a file server built on the library (9P, NFS, FUSE,
// WebDAV) needs to serve each client as itself.
//
// The view shares everything with fsys: cache, locks, upper layer, open
// files. Closing it does nothing; it must not be used after fsys is
// closed. Without a view, an FS acts for the process: its effective user
// and group IDs and supplementary groups at New (for root, no check ever
// fails).
func (fsys *FS) As(c Cred) *FS {
	c.Groups = slices.Clone(c.Groups)
	return &FS{core: fsys.core, cred: &c}
}

// processCred returns the process's credentials, the caller of an FS that
// is not a view. Where there are no user IDs (Windows), it is root.
func processCred() Cred {
	uid, gid := os.Geteuid(), os.Getegid()
	if uid < 0 || gid < 0 {
		return Cred{}
	}
	c := Cred{Uid: uint32(uid), Gid: uint32(gid)}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			c.Groups = append(c.Groups, uint32(g))
		}
	}
	return c
}

// caller returns the credentials fsys acts for.
func (fsys *FS) caller() *Cred {
	if fsys.cred != nil {
		return fsys.cred
	}
	return &fsys.proc
}

func (c *Cred) root() bool { return c.Uid == 0 }

// inGroup is the kernel's in_group_p: g is the fsgid or a supplementary
// group.
func (c *Cred) inGroup(g uint32) bool {
	return c.Gid == g || slices.Contains(c.Groups, g)
}

// Permission masks, as the kernel's MAY_EXEC, MAY_WRITE and MAY_READ.
const (
	mayExec  = 1
	mayWrite = 2
	mayRead  = 4
)

// permit is generic_permission: the owner's, group's or other's bits,
// whichever class c is in, must grant mask; root may read and write
// anything, search any dir and execute what has an execute bit.
func (c *Cred) permit(a *layer.Attr, mask uint32) error {
	if c.root() {
		if mask&mayExec == 0 || a.IsDir() || a.Mode&0o111 != 0 {
			return nil
		}
		return syscall.EACCES
	}
	mode := a.Mode
	switch {
	case a.Uid == c.Uid:
		mode >>= 6
	case c.inGroup(a.Gid):
		mode >>= 3
	}
	if mask&^mode&7 != 0 {
		return syscall.EACCES
	}
	return nil
}

// owns is inode_owner_or_capable: c owns a, or is root (CAP_FOWNER).
func (c *Cred) owns(a *layer.Attr) bool { return c.root() || a.Uid == c.Uid }

// permAttr returns the attributes the permission checks read for n: its
// mode and owner, the overlay inode's (the upper object's, else the top
// lower one's). Callers hold FS.mu.
func (fsys *FS) permAttr(n *node) (layer.Attr, error) {
	switch {
	case n.upper:
		return fsys.upper.b.Lstat(n.path())
	case n.idx != "":
		return fsys.upper.b.Lstat(n.idx)
	}
	return n.lattr, nil
}

// may checks the caller's permission mask on n (EACCES). Callers hold
// FS.mu.
func (fsys *FS) may(n *node, mask uint32) error {
	c := fsys.caller()
	if c.root() && (mask&mayExec == 0 || n.isDir()) {
		return nil // the common case costs nothing
	}
	a, err := fsys.permAttr(n)
	if err != nil {
		return err
	}
	return c.permit(&a, mask)
}

// maySearch is the check of every dir a walk looks a name up in.
func (fsys *FS) maySearch(dir *node) error { return fsys.may(dir, mayExec) }

// mayCreate is may_create: write and search permission on the parent.
func (fsys *FS) mayCreate(dir *node) error { return fsys.may(dir, mayWrite|mayExec) }

// mayDelete is may_delete's permission part, for removing or renaming
// away victim from dir: write and search permission on dir (EACCES), and
// in a sticky dir ownership of victim or of dir (EPERM).
func (fsys *FS) mayDelete(dir, victim *node) error {
	c := fsys.caller()
	if c.root() {
		return nil
	}
	if err := fsys.may(dir, mayWrite|mayExec); err != nil {
		return err
	}
	da, err := fsys.permAttr(dir)
	if err != nil {
		return err
	}
	if da.Mode&syscall.S_ISVTX == 0 || da.Uid == c.Uid {
		return nil
	}
	va, err := fsys.permAttr(victim)
	if err != nil {
		return err
	}
	if va.Uid != c.Uid {
		return syscall.EPERM
	}
	return nil
}

// mayOwn is the check of the owner-only operations (chmod, setting
// explicit times): EPERM unless the caller owns n or is root.
func (fsys *FS) mayOwn(n *node) error {
	c := fsys.caller()
	if c.root() {
		return nil
	}
	a, err := fsys.permAttr(n)
	if err != nil {
		return err
	}
	if !c.owns(&a) {
		return syscall.EPERM
	}
	return nil
}

// mayOpen is may_open's permission check of an existing object: read
// and write permission by the access mode, write for O_TRUNC.
func (fsys *FS) mayOpen(n *node, flag int) error {
	var mask uint32
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_RDONLY:
		mask = mayRead
	case os.O_WRONLY:
		mask = mayWrite
	default:
		mask = mayRead | mayWrite
	}
	if flag&os.O_TRUNC != 0 {
		mask |= mayWrite
	}
	return fsys.may(n, mask)
}

// mayChown is setattr_prepare's check of a change of owner (uid, gid, -1
// for no change): only root gives a file away; the owner may set the
// group to one of its groups (EPERM otherwise).
func (fsys *FS) mayChown(n *node, uid, gid int) error {
	c := fsys.caller()
	if c.root() || uid == -1 && gid == -1 {
		return nil
	}
	a, err := fsys.permAttr(n)
	if err != nil {
		return err
	}
	if uid != -1 && (a.Uid != c.Uid || uint32(uid) != a.Uid) {
		return syscall.EPERM
	}
	if gid != -1 && (a.Uid != c.Uid || uint32(gid) != a.Gid && !c.inGroup(uint32(gid))) {
		return syscall.EPERM
	}
	return nil
}

// chmodMode is the mode a chmod by the caller sets on the object with
// attributes a: setgid is dropped when the caller is not root and not in
// the object's group.
func (fsys *FS) chmodMode(a *layer.Attr, perm uint32) uint32 {
	if c := fsys.caller(); !c.root() && !c.inGroup(a.Gid) {
		perm &^= syscall.S_ISGID
	}
	return perm
}

// mayXattr is xattr_permission for the attribute name as the caller
// names it: no check for security.* and system.*; trusted.* only for
// root (EPERM to write, ENODATA to read); user.* only on regular files
// and dirs (EPERM, ENODATA), and in a sticky dir written by its owner
// only; then read or write permission.
func (fsys *FS) mayXattr(n *node, name string, write bool) error {
	c := fsys.caller()
	if c.root() || strings.HasPrefix(name, "security.") || strings.HasPrefix(name, "system.") {
		return nil
	}
	denied := layer.ErrNoData
	if write {
		denied = syscall.EPERM
	}
	if strings.HasPrefix(name, "trusted.") {
		return denied
	}
	a, err := fsys.permAttr(n)
	if err != nil {
		return err
	}
	if strings.HasPrefix(name, "user.") {
		if !a.IsReg() && !a.IsDir() {
			return denied
		}
		if write && a.IsDir() && a.Mode&syscall.S_ISVTX != 0 && !c.owns(&a) {
			return syscall.EPERM
		}
	}
	mask := uint32(mayRead)
	if write {
		mask = mayWrite
	}
	return c.permit(&a, mask)
}

// listable reports whether the caller sees the xattr name in a listing:
// the overlay lists trusted.* only to root.
func (fsys *FS) listable(name string) bool {
	return fsys.caller().root() || !strings.HasPrefix(name, "trusted.")
}

// mayLink is may_linkat with protected hardlinks: a caller may link only
// a file it owns, or a regular file that is neither setuid nor
// setgid-executable and that it may read and write (EPERM).
func (fsys *FS) mayLink(n *node) error {
	c := fsys.caller()
	if c.root() {
		return nil
	}
	a, err := fsys.permAttr(n)
	if err != nil {
		return err
	}
	if c.owns(&a) {
		return nil
	}
	if a.IsReg() && a.Mode&syscall.S_ISUID == 0 && a.Mode&(syscall.S_ISGID|0o010) != syscall.S_ISGID|0o010 &&
		c.permit(&a, mayRead|mayWrite) == nil {
		return nil
	}
	return syscall.EPERM
}

// mayRename is vfs_rename's permission part: removing the source from
// its dir, removing the target or creating in the target dir, and, for
// a dir moving to another parent, write permission on the dir itself
// (its ".." changes).
func (fsys *FS) mayRename(src, dst walkResult) error {
	if fsys.caller().root() {
		return nil
	}
	if err := fsys.mayDelete(src.parent, src.n); err != nil {
		return err
	}
	var err error
	if dst.n.present {
		err = fsys.mayDelete(dst.parent, dst.n)
	} else {
		err = fsys.mayCreate(dst.parent)
	}
	if err != nil {
		return err
	}
	if src.n.isDir() && src.parent != dst.parent {
		return fsys.may(src.n, mayWrite)
	}
	return nil
}

// ownNew wraps mk, which makes a new object at a given upper path in the
// dir r.parent, so that a view's new object is owned by its caller, as
// the kernel creates it with the caller's fsuid and fsgid: the caller's
// uid, and its gid or, in a setgid dir, the dir's. A non-dir made setgid
// and group-executable in a setgid dir whose group the caller is not in
// loses setgid (mode_strip_sgid). Without a view the backend already
// gives the process's ownership, except over a whiteout, where the object
// is made in the work dir: then a root process gives it the group of a
// setgid parent. Callers hold FS.mu for writing.
func (fsys *FS) ownNew(r walkResult, mk func(p string) error) func(p string) error {
	c := fsys.cred
	who := c // whose rights decide mode_strip_sgid
	if c == nil {
		if !r.n.upperWh || !fsys.proc.root() {
			return mk
		}
		who = &fsys.proc
		// The process's own ids (also when a test makes it act as root),
		// where the platform has them.
		c = &fsys.proc
		if uid, gid := os.Geteuid(), os.Getegid(); uid >= 0 && gid >= 0 {
			c = &Cred{Uid: uint32(uid), Gid: uint32(gid)}
		}
	}
	return func(p string) error {
		if err := mk(p); err != nil {
			return err
		}
		pa, err := fsys.permAttr(r.parent)
		if err != nil {
			return err
		}
		gid := c.Gid
		if pa.Mode&syscall.S_ISGID != 0 {
			gid = pa.Gid
		}
		a, err := fsys.upper.b.Lstat(p)
		if err != nil {
			return err
		}
		if a.Uid != c.Uid || a.Gid != gid {
			if err := fsys.upper.w.lchown(p, int(c.Uid), int(gid)); err != nil {
				return err
			}
		}
		if a.IsLink() {
			return nil
		}
		mode := a.Perm()
		if !a.IsDir() && mode&(syscall.S_ISGID|0o010) == syscall.S_ISGID|0o010 && pa.Mode&syscall.S_ISGID != 0 &&
			!who.root() && !who.inGroup(pa.Gid) {
			mode &^= syscall.S_ISGID
		}
		// A chown of a non-dir clears setuid and setgid: set them again.
		if b, err := fsys.upper.b.Lstat(p); err != nil || b.Perm() != mode {
			return fsys.upper.w.chmod(p, mode)
		}
		return nil
	}
}

// dropPrivs is file_remove_privs for a write or truncation of the regular
// file n by the caller: unless it is root (CAP_FSETID), setuid goes, and
// setgid when group-execute is set or the caller is not in the file's
// group. Callers hold no FS lock.
func (fsys *FS) dropPrivs(n *node) error {
	if fsys.caller().root() {
		return nil
	}
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	return fsys.dropPrivsLocked(n)
}

// dropPrivsLocked is dropPrivs for callers holding FS.mu.
func (fsys *FS) dropPrivsLocked(n *node) error {
	c := fsys.caller()
	if c.root() || !n.upper || n.stale() || n.typ != syscall.S_IFREG {
		return nil
	}
	p := n.path()
	a, err := fsys.upper.b.Lstat(p)
	if err != nil || !a.IsReg() {
		return err
	}
	m := a.Perm() &^ syscall.S_ISUID
	if m&syscall.S_ISGID != 0 && (m&0o010 != 0 || !c.inGroup(a.Gid)) {
		m &^= syscall.S_ISGID
	}
	if m == a.Perm() {
		return nil
	}
	return fsys.upper.w.chmod(p, m)
}
