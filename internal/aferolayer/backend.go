package aferolayer

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"

	"github.com/spf13/afero"
)

// workDir is the directory at the root of an afero layer that holds
// its work area. Its name has the AUFS/OCI reserved prefix ".wh..wh.", so
// it can never be a layer entry; it is left out of the root's listing.
const workDir = ".wh..wh.work"

// devMajor is the st_dev major number synthesized for afero objects
// whose FileInfo carries no stat (the in-memory layers have 4096).
const devMajor = 4097

// New returns the backend of an afero layer over fsys (see
// overlay.AferoLayer for what it can hold and what it synthesizes).
func New(fsys afero.Fs) layer.Backend {
	b := &backend{fsys: fsys, dev: layer.FakeDev(devMajor)}
	_, b.readOnly = fsys.(*afero.ReadOnlyFs)
	b.linker, _ = fsys.(afero.Linker)
	b.lstater, _ = fsys.(afero.Lstater)
	b.linkReader, _ = fsys.(afero.LinkReader)
	b.basePath, _ = fsys.(*afero.BasePathFs)
	return b
}

// backend is an afero layer.
type backend struct {
	fsys       afero.Fs          // immutable
	dev        uint64            // synthesized st_dev; immutable
	readOnly   bool              // fsys is an afero.ReadOnlyFs: writes are EROFS; immutable
	linker     afero.Linker      // nil when fsys cannot make symlinks; immutable
	lstater    afero.Lstater     // nil when fsys cannot lstat; immutable
	linkReader afero.LinkReader  // immutable
	basePath   *afero.BasePathFs // non-nil when fsys is one; immutable

	// nsMu serializes the changes to the namespace this backend makes, so
	// that the checks made before calling fsys still hold when it acts.
	nsMu sync.Mutex

	// dataMu serializes changes to file data through every open file of
	// the backend (taken after file.mu), so that an O_APPEND write
	// finds the end and writes there in one step: afero's files keep
	// their own offsets, and nothing below makes appends through two
	// handles atomic.
	dataMu sync.Mutex

	// owners remembers, by fsys path, the owners set with lchown on
	// objects whose FileInfo carries no stat (afero's MemMapFs stores them
	// but cannot report them). Moved by rename, dropped by unlink and
	// rmdir. Protected by ownMu, which is taken after nsMu.
	ownMu  sync.Mutex
	owners map[string][2]uint32
}

var _ layer.Backend = (*backend)(nil)

func (b *backend) Lstat(p string) (layer.Attr, error) {
	_, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return layer.Attr{}, err
	case fi == nil:
		return layer.Attr{}, syscall.ENOENT
	}
	return b.attrOf(p, fi), nil
}

// readDirAfero lists fsys directory ap in fsys's order.
func (b *backend) readDirAfero(ap string) ([]fs.FileInfo, error) {
	f, err := b.fsys.Open(ap)
	if err != nil {
		return nil, aferoErrno(err)
	}
	defer f.Close()
	fis, err := f.Readdir(-1)
	return fis, aferoErrno(err)
}

func (b *backend) ReadDir(p string) ([]layer.DirEnt, error) {
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return nil, err
	case fi == nil:
		return nil, syscall.ENOENT
	case !fi.IsDir():
		return nil, syscall.ENOTDIR
	}
	fis, err := b.readDirAfero(ap)
	if err != nil {
		return nil, err
	}
	ents := make([]layer.DirEnt, 0, len(fis))
	for _, fi := range fis {
		name := path.Base(fi.Name()) // MemMapFs gives full paths
		if p == "" && name == workDir {
			continue
		}
		a := b.attrOf(path.Join(p, name), fi)
		ents = append(ents, layer.DirEnt{Name: name, Type: a.Type(), Ino: a.Ino})
	}
	return ents, nil
}

func (b *backend) Readlink(p string) (string, error) {
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return "", err
	case fi == nil:
		return "", syscall.ENOENT
	case fi.Mode()&fs.ModeSymlink == 0 || b.linkReader == nil:
		return "", syscall.EINVAL
	}
	t, err := b.linkReader.ReadlinkIfPossible(ap)
	return t, aferoErrno(err)
}

func (b *backend) OpenRead(p string, flag int) (layer.File, error) {
	return b.Open(p, flag&^layer.WriteFlags, 0)
}

func (b *backend) Open(p string, flag int, perm uint32) (layer.File, error) {
	write := flag&layer.AccMode != os.O_RDONLY || flag&(os.O_TRUNC|os.O_APPEND) != 0
	if write && b.readOnly {
		return nil, syscall.EROFS
	}
	if flag&os.O_CREATE != 0 {
		b.nsMu.Lock()
		defer b.nsMu.Unlock()
	}
	ap, fi, err := b.resolve(p)
	if err != nil {
		return nil, err
	}
	created := false
	switch {
	case fi == nil && flag&os.O_CREATE == 0:
		return nil, syscall.ENOENT
	case fi == nil:
		created = true
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, syscall.EEXIST
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, syscall.ELOOP
	case fi.IsDir() && (write || flag&os.O_CREATE != 0):
		return nil, syscall.EISDIR
	case !fi.IsDir() && !fi.Mode().IsRegular():
		return nil, syscall.ENXIO // devices, FIFOs, sockets: no opening them here
	}
	// O_APPEND is emulated by WriteAt (os.File refuses WriteAt with it).
	f, err := b.fsys.OpenFile(ap, flag&^os.O_APPEND, layer.FileMode(perm&0o7777))
	if err != nil {
		return nil, aferoErrno(err)
	}
	if created {
		// Exactly perm, whatever the umask.
		if err := b.fsys.Chmod(ap, layer.FileMode(perm&0o7777)); err != nil {
			f.Close()
			return nil, aferoErrno(err)
		}
	}
	return &file{b: b, f: f, p: p, flag: flag, dir: fi != nil && fi.IsDir()}, nil
}

func (b *backend) Getxattr(p, name string) ([]byte, error) { return nil, syscall.EOPNOTSUPP }
func (b *backend) Listxattr(p string) ([]string, error)    { return nil, syscall.EOPNOTSUPP }
func (b *backend) Setxattr(p, name string, value []byte) error {
	return syscall.EOPNOTSUPP
}
func (b *backend) Removexattr(p, name string) error { return syscall.EOPNOTSUPP }

func (b *backend) Mkdir(p string, perm uint32) error {
	if b.readOnly {
		return syscall.EROFS
	}
	b.nsMu.Lock()
	defer b.nsMu.Unlock()
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return err
	case fi != nil:
		return syscall.EEXIST
	}
	mode := layer.FileMode(perm & (0o777 | syscall.S_ISVTX)) // as mkdir(2)
	if err := b.fsys.Mkdir(ap, mode); err != nil {
		return aferoErrno(err)
	}
	return aferoErrno(b.fsys.Chmod(ap, mode))
}

func (b *backend) Symlink(target, p string) error {
	switch {
	case b.readOnly:
		return syscall.EROFS
	case b.linker == nil:
		return syscall.EPERM
	case target == "":
		return syscall.ENOENT
	case len(target) >= layer.PathMax:
		return syscall.ENAMETOOLONG
	}
	b.nsMu.Lock()
	defer b.nsMu.Unlock()
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return err
	case fi != nil:
		return syscall.EEXIST
	}
	if b.basePath != nil {
		// BasePathFs would rewrite target into a host path; write it
		// verbatim when the base is on the host.
		if real, ok := b.hostPath(ap); ok {
			return aferoErrno(os.Symlink(target, real))
		}
	}
	return aferoErrno(b.linker.SymlinkIfPossible(target, ap))
}

// hostPath returns the host path of fsys path ap when fsys is a BasePathFs
// over the host filesystem (its parent's FileInfo carries a stat).
func (b *backend) hostPath(ap string) (string, bool) {
	fi, err := b.lstatAfero(path.Dir(ap))
	if err != nil || !statFields(fi.Sys(), &layer.Attr{}) {
		return "", false
	}
	real, err := b.basePath.RealPath(ap)
	if err != nil {
		return "", false
	}
	if rfi, err := os.Lstat(path.Dir(real)); err != nil || !os.SameFile(rfi, fi) {
		return "", false
	}
	return real, true
}

// Link fails: afero has no hard links.
func (b *backend) Link(oldp, newp string) error { return syscall.EPERM }

// Mknod fails as vfs_mknod does on a filesystem without a Mknod operation.
func (b *backend) Mknod(p string, mode uint32, dev uint64) error { return syscall.EPERM }

func (b *backend) Exchange(p1, p2 string) error { return syscall.EOPNOTSUPP }

func (b *backend) Rename(oldp, newp string) error {
	if b.readOnly {
		return syscall.EROFS
	}
	b.nsMu.Lock()
	defer b.nsMu.Unlock()
	oap, ofi, err := b.resolve(oldp)
	if err != nil {
		return err
	}
	nap, nfi, err := b.resolve(newp)
	switch {
	case err != nil:
		return err
	case ofi == nil:
		return syscall.ENOENT
	case isRoot(oldp) || isRoot(newp):
		return syscall.EBUSY
	case ofi.IsDir() && strings.HasPrefix(nap, oap+"/"):
		return syscall.EINVAL // into its own subtree
	case nfi != nil && nfi.IsDir() && strings.HasPrefix(oap, nap+"/"):
		return syscall.ENOTEMPTY // over an ancestor of the source
	case oap == nap || nfi != nil && os.SameFile(ofi, nfi):
		return nil
	}
	if nfi != nil {
		switch {
		case ofi.IsDir() && !nfi.IsDir():
			return syscall.ENOTDIR
		case !ofi.IsDir() && nfi.IsDir():
			return syscall.EISDIR
		}
		if nfi.IsDir() {
			// os.Rename refuses to replace a directory (EEXIST) and
			// MemMapFs would orphan its entries: remove the empty
			// target first. Not atomic, unlike rename(2).
			fis, err := b.readDirAfero(nap)
			if err != nil {
				return err
			}
			if len(fis) > 0 {
				return syscall.ENOTEMPTY
			}
			if err := b.fsys.Remove(nap); err != nil {
				return aferoErrno(err)
			}
		}
	}
	if err := b.fsys.Rename(oap, nap); err != nil {
		return aferoErrno(err)
	}
	b.moveOwners(oap, nap)
	return nil
}

func (b *backend) Unlink(p string) error {
	if b.readOnly {
		return syscall.EROFS
	}
	b.nsMu.Lock()
	defer b.nsMu.Unlock()
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return err
	case fi == nil:
		return syscall.ENOENT
	case fi.IsDir():
		return syscall.EISDIR
	}
	if err := b.fsys.Remove(ap); err != nil {
		return aferoErrno(err)
	}
	b.moveOwners(ap, "")
	return nil
}

func (b *backend) Rmdir(p string) error {
	if b.readOnly {
		return syscall.EROFS
	}
	b.nsMu.Lock()
	defer b.nsMu.Unlock()
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return err
	case fi == nil:
		return syscall.ENOENT
	case !fi.IsDir():
		return syscall.ENOTDIR
	case isRoot(p):
		return syscall.EBUSY
	}
	fis, err := b.readDirAfero(ap)
	if err != nil {
		return err
	}
	if len(fis) > 0 {
		return syscall.ENOTEMPTY
	}
	if err := b.fsys.Remove(ap); err != nil {
		return aferoErrno(err)
	}
	b.moveOwners(ap, "")
	return nil
}

// existing resolves p for a change of its attributes: it must exist, and
// afero's Chmod, Chown and Chtimes follow symlinks, so a symlink's own
// attributes cannot be changed (EOPNOTSUPP).
func (b *backend) existing(p string) (string, fs.FileInfo, error) {
	if b.readOnly {
		return "", nil, syscall.EROFS
	}
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return "", nil, err
	case fi == nil:
		return "", nil, syscall.ENOENT
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", nil, syscall.EOPNOTSUPP
	}
	return ap, fi, nil
}

func (b *backend) Chmod(p string, perm uint32) error {
	ap, _, err := b.existing(p)
	if err != nil {
		return err
	}
	return aferoErrno(b.fsys.Chmod(ap, layer.FileMode(perm&0o7777)))
}

func (b *backend) Lchown(p string, uid, gid int) error {
	b.nsMu.Lock()
	defer b.nsMu.Unlock()
	ap, fi, err := b.existing(p)
	if err != nil {
		return err
	}
	if err := b.fsys.Chown(ap, uid, gid); err != nil {
		return aferoErrno(err)
	}
	if statFields(fi.Sys(), &layer.Attr{}) {
		return nil
	}
	cur := b.attrOf(p, fi)
	if uid != -1 {
		cur.Uid = uint32(uid)
	}
	if gid != -1 {
		cur.Gid = uint32(gid)
	}
	b.ownMu.Lock()
	defer b.ownMu.Unlock()
	if b.owners == nil {
		b.owners = make(map[string][2]uint32)
	}
	b.owners[ap] = [2]uint32{cur.Uid, cur.Gid}
	return nil
}

// moveOwners moves the remembered owners of fsys path from and everything
// under it to to (dropping them when to is ""), and drops those that were
// at to.
func (b *backend) moveOwners(from, to string) {
	b.ownMu.Lock()
	defer b.ownMu.Unlock()
	under := func(k, dir string) (string, bool) {
		if k == dir {
			return "", true
		}
		rest, ok := strings.CutPrefix(k, dir+"/")
		return "/" + rest, ok
	}
	moved := make(map[string][2]uint32)
	for k, o := range b.owners {
		if rest, ok := under(k, from); ok {
			delete(b.owners, k)
			if to != "" {
				moved[strings.TrimSuffix(to+rest, "/")] = o
			}
		} else if _, ok := under(k, to); ok && to != "" {
			delete(b.owners, k)
		}
	}
	for k, o := range moved {
		b.owners[k] = o
	}
}

// Lutimes leaves a time unchanged when it is zero (afero's MemMapFs would
// store the zero time).
func (b *backend) Lutimes(p string, atime, mtime time.Time) error {
	ap, fi, err := b.existing(p)
	if err != nil {
		return err
	}
	cur := b.attrOf(p, fi)
	if atime.IsZero() {
		atime = cur.Atime
	}
	if mtime.IsZero() {
		mtime = cur.Mtime
	}
	return aferoErrno(b.fsys.Chtimes(ap, atime, mtime))
}

func (b *backend) Truncate(p string, size int64) error {
	if b.readOnly {
		return syscall.EROFS
	}
	ap, fi, err := b.resolve(p)
	switch {
	case err != nil:
		return err
	case fi == nil:
		return syscall.ENOENT
	case fi.IsDir():
		return syscall.EISDIR
	case !fi.Mode().IsRegular() || size < 0:
		return syscall.EINVAL
	}
	f, err := b.fsys.OpenFile(ap, os.O_WRONLY, 0)
	if err != nil {
		return aferoErrno(err)
	}
	err = aferoErrno(f.Truncate(size))
	if cerr := aferoErrno(f.Close()); err == nil {
		err = cerr
	}
	return err
}

func (b *backend) Caps() layer.Caps {
	return layer.Caps{Symlink: b.linker != nil && !b.readOnly, WorkArea: true, NameMax: layer.NameMax}
}

func (b *backend) Close() error { return nil }
