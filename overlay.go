package overlay

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/spf13/afero"
)

// FS is an overlay: lower layers merged under one writable upper layer (or
// none, read-only). It has afero.Fs's method set; IOFS gives an io/fs
// view. An FS is safe for concurrent use. Its layers must not be changed
// by anything else while it is open (the kernel calls that undefined).
//
// An FS acts for a caller whose permissions it checks as the kernel does
// on the overlay's inodes: the process itself, or the [Cred] of a view
// made by [FS.As].
type FS struct {
	*core
	// cred is the caller a view made by As acts for; nil for the process
	// (its credentials are core.proc).
	cred *Cred
}

// core is the state of an overlay, shared by the FS New returns and every
// view of it made by As.
type core struct {
	opts   Options  // immutable after New
	feat   resolved // effective feature settings; immutable after New
	upper  *branch  // nil for a read-only overlay; immutable after New
	lowers []*branch
	// bottom is the index in lowers of the bottom-most regular lower
	// layer (data-only layers follow it). Immutable after New.
	bottom int
	prefix string // private xattr prefix P; immutable after New
	umask  uint32 // process umask at New; immutable
	dev    uint64 // the overlay's own st_dev; immutable
	samefs bool   // every layer on one filesystem; immutable
	// xinoBits is the number of high st_ino bits xino uses for the fsid
	// (0: xino off or not needed); immutable after New. See xino.go.
	xinoBits int
	xinoNext atomic.Uint64 // non-persistent xino inode numbers

	// mu is the namespace lock: held for reading by lookups and reads of
	// the cache, for writing by every change to the namespace or to a
	// node's resolution. Lock order: node.cu, then FS.mu, then node.mu.
	mu   sync.RWMutex
	root *node // immutable pointer; the node itself is protected as nodes are

	inoNext atomic.Uint64 // overlay-allocated inode numbers
	cached  atomic.Int64  // nodes cached since the cache was last dropped
	// inUseKeys are the upper and work roots this FS marked in use (see
	// reserveUpper); set by New, cleared by Close.
	inUseKeys [][2]uint64

	originOnce  sync.Once           // builds originMap
	originMap   map[string]lowerRef // lower non-dirs by origin handle; see originIndex
	handlesMu   sync.Mutex          // protects handles and lowerNlinks
	handles     map[string]string   // handles given out: handle bytes to overlay path
	lowerNlinks map[string]uint64   // index entries made: the lower file's link count
	closed      atomic.Bool
	// noRenameWhiteout: the upper's filesystem lacks RENAME_WHITEOUT, so
	// a rename that leaves a whiteout fails EINVAL as on the kernel.
	// Immutable after New.
	noRenameWhiteout bool
	// proc is the process's credentials at New (euid, egid, groups): the
	// caller of an FS that is not a view. Immutable.
	proc Cred
}

var (
	_ afero.Fs        = (*FS)(nil)
	_ afero.Lstater   = (*FS)(nil)
	_ afero.Symlinker = (*FS)(nil)
)

// devCounter hands out the overlay's st_dev values, like the kernel's
// anonymous block devices (major 0).
var devCounter atomic.Uint64

// New builds an overlay from o. It checks the layers and options as the
// kernel's mount does, prepares the upper's work area (the kernel empties
// W/work at every mount), and does no scan of the lower layers: its cost
// does not grow with their size. Every check comes before the first
// change to the upper or work dir: a New that fails leaves them as they
// were (on an error writing them, as far as it got).
func New(o Options) (fsys *FS, err error) {
	if o.ownLayers {
		// Layers that ParseOptions opened belong to the FS; without one,
		// nobody else would close them.
		defer func() {
			if err != nil {
				o.closeLayers()
			}
		}()
	}
	if err := o.validateLayers(); err != nil {
		return nil, err
	}
	feat, err := o.resolve()
	if err != nil {
		return nil, err
	}
	fsys = &FS{core: &core{opts: o, feat: feat, umask: processUmask(), proc: processCred()}}
	fsys.prefix = ondisk.TrustedPrefix
	if feat.userxattr {
		fsys.prefix = ondisk.UserPrefix
	}
	counter := new(atomic.Uint64)
	mk := func(l *Layer) *branch {
		return &branch{l: l, b: l.b, format: l.format, prefix: fsys.prefix, caps: l.b.Caps(), tmp: counter}
	}
	for _, l := range o.Lower {
		fsys.lowers = append(fsys.lowers, mk(l))
	}
	fsys.bottom = len(fsys.lowers) - 1
	if fsys.stackDepth() > maxStackDepth {
		return nil, newOptErr("lowerdir", syscall.EINVAL, "maximum fs stacking depth exceeded")
	}
	for _, l := range o.DataOnly {
		fsys.lowers = append(fsys.lowers, mk(l))
	}
	if o.Upper != nil {
		fsys.upper = mk(o.Upper)
		if wa, ok := o.Upper.b.(layer.WorkAttacher); ok {
			if o.Work == nil {
				return nil, newOptErr("workdir", syscall.EINVAL, "missing 'workdir'")
			}
			if err := wa.AttachWork(o.Work.b); err != nil {
				return nil, newOptErr("workdir", err, "cannot use as work dir of the upper layer")
			}
			fsys.upper.caps = o.Upper.b.Caps()
		}
		fsys.upper.w = newUpperDoor(o.Upper.b)
		if !fsys.upper.caps.WorkArea {
			return nil, newOptErr("upperdir", syscall.EINVAL, "upper layer has no work area")
		}
		if err := fsys.checkUpperXattrs(); err != nil {
			return nil, err
		}
	}
	newRecord, err := fsys.checkFeatures()
	if err != nil {
		return nil, err
	}
	fsys.dev = layer.Makedev(0, 0x8000+devCounter.Add(1))
	if err := fsys.initRoot(); err != nil {
		return nil, err
	}
	if fsys.upper != nil {
		// Preconditions first, in the kernel's order (in use, then
		// incompat): nothing below may fail after the work dir was
		// touched for a reason known before.
		if err := fsys.reserveUpper(); err != nil {
			return nil, err
		}
		reserved := fsys
		defer func() {
			if err != nil {
				reserved.releaseUpper()
			}
		}()
		if err := fsys.checkWork(); err != nil {
			return nil, err
		}
		if newRecord {
			if err := fsys.writeFeatures(); err != nil {
				return nil, err
			}
		}
	}
	fsys.setupXino()
	if fsys.upper != nil {
		if err := fsys.checkIndex(); err != nil {
			return nil, err
		}
		if err := fsys.setupWork(); err != nil {
			return nil, err
		}
		if wr, ok := fsys.upper.b.(layer.WhiteoutProber); ok {
			fsys.noRenameWhiteout = !wr.RenameWhiteoutOK()
		}
		if err := fsys.setupIndex(); err != nil {
			return nil, err
		}
	}
	return fsys, nil
}

// initRoot builds the root node: always a merge of the upper root and all
// regular lower roots (the kernel treats the root as merge).
func (fsys *FS) initRoot() error {
	r := &node{present: true, typ: syscall.S_IFDIR, upper: fsys.upper != nil}
	devs := map[uint64]bool{}
	if fsys.upper != nil {
		a, err := fsys.upper.b.Lstat("")
		if err != nil {
			return &fs.PathError{Op: "stat", Path: "/", Err: err}
		}
		devs[a.Dev] = true
		fsys.upper.dev = a.Dev
	}
	for i, l := range fsys.lowers {
		a, err := l.b.Lstat("")
		if err != nil {
			return &fs.PathError{Op: "stat", Path: "/", Err: err}
		}
		if !a.IsDir() {
			return newOptErr("lowerdir", syscall.ENOTDIR, "layer root is not a directory")
		}
		devs[a.Dev] = true
		l.dev = a.Dev
		if i > fsys.bottom {
			continue // data-only layers are not part of the namespace
		}
		if len(r.lowers) == 0 {
			r.lattr = a
		}
		r.lowers = append(r.lowers, lowerRef{layer: i, path: ""})
	}
	fsys.samefs = len(devs) == 1
	r.ino.Store(fsys.inoNext.Add(2)) // the kernel's non-persistent numbers start at 2 for the root
	fsys.root = r
	return nil
}

// checkWork checks, without changing anything, that the work area can be
// set up: an upper marked with an incompat feature (a volatile mount's
// leftover) is refused with EINVAL.
func (fsys *FS) checkWork() error {
	if ents, err := fsys.upper.b.ReadDir("/work/incompat"); err == nil && len(ents) > 0 {
		return newOptErr("workdir", syscall.EINVAL,
			fmt.Sprintf("overlay with incompat feature '%s' cannot be mounted", ents[0].Name))
	}
	return nil
}

// setupWork prepares the work area as the kernel's mount does:
// empty and recreate W/work (whatever is there: a non-dir is replaced),
// and for fsync=volatile leave the dirty marker; then the UUID.
func (fsys *FS) setupWork() error {
	b := fsys.upper.w
	if a, err := fsys.upper.b.Lstat("/work"); err == nil {
		if err := fsys.upper.removeAll("/work", a.IsDir()); err != nil {
			return newOptErr("workdir", err, "cannot clean up work dir")
		}
	}
	mode := uint32(0)
	if fsys.upper.format == formatOCI || os.Geteuid() != 0 {
		mode = 0o700 // a mode-0 work dir is usable only by root
	}
	if err := b.mkdir("/work", mode); err != nil {
		return newOptErr("workdir", err, "cannot create work dir")
	}
	if err := b.chmod("/work", mode); err != nil {
		return newOptErr("workdir", err, "cannot create work dir")
	}
	if fsys.feat.fsync == FsyncVolatile {
		for _, d := range []string{"/work/incompat", "/work/incompat/volatile"} {
			if err := b.mkdir(d, mode); err != nil {
				return newOptErr("volatile", err, "cannot create the volatile marker")
			}
		}
		f, err := b.open("/work/incompat/volatile/dirty", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0)
		if err != nil {
			return newOptErr("volatile", err, "cannot create the volatile marker")
		}
		f.Close()
	}
	return fsys.setupUUID()
}

// setupUUID gives a new upper its persistent overlay UUID, as uuid=auto
// and uuid=on do at the kernel's first mount.
func (fsys *FS) setupUUID() error {
	u := fsys.upper
	if !u.xattrMarkers() {
		return nil
	}
	switch fsys.feat.uuid {
	case UUIDOn, UUIDAuto:
	default:
		return nil
	}
	if v, err := u.b.Getxattr("", fsys.prefix+ondisk.XUUID); err == nil && len(v) == 16 {
		return nil
	}
	if fsys.feat.uuid == UUIDAuto {
		if _, err := u.b.Getxattr("", fsys.prefix+ondisk.XImpure); err == nil {
			fsys.feat.uuid = UUIDNull // an old upper: the kernel downgrades to uuid=null
			return nil
		}
		fsys.feat.uuid = UUIDOn // a new upper: the kernel upgrades to uuid=on
	}
	id := make([]byte, 16)
	rand.Read(id)
	if err := u.w.setxattr("", fsys.prefix+ondisk.XUUID, id); err != nil && !errors.Is(err, syscall.EOPNOTSUPP) {
		if err := fsys.notPrivileged(err, ondisk.XUUID); err != nil {
			return err
		}
		return newOptErr("uuid", err, "cannot store the overlay uuid")
	}
	return nil
}

// notPrivileged is the error of New where storing the private xattr
// P.name on the upper failed with err for want of privilege: trusted.*
// xattrs need CAP_SYS_ADMIN, and the userxattr option is the way out.
// nil for other errors.
func (fsys *FS) notPrivileged(err error, name string) error {
	if !errors.Is(err, syscall.EPERM) || fsys.feat.userxattr {
		return nil
	}
	return newOptErr("upperdir", err, "cannot store "+fsys.prefix+name+" (without CAP_SYS_ADMIN, "+
		"the upper layer holds no trusted.* xattrs: use the userxattr option)")
}

// Close ends the use of the overlay. It closes the layers only when they
// came from ParseOptions; layers given in Options stay open for their
// owner to close (see [Layer.Close]). The FS must not be used after.
// Close of a view made by As does nothing.
func (fsys *FS) Close() error {
	if fsys.cred != nil || fsys.closed.Swap(true) {
		return nil
	}
	fsys.releaseUpper()
	if !fsys.opts.ownLayers {
		return nil
	}
	var first error
	seen := map[*Layer]bool{}
	all := append(append([]*Layer{fsys.opts.Upper, fsys.opts.Work}, fsys.opts.Lower...), fsys.opts.DataOnly...)
	for _, l := range all {
		if l == nil || seen[l] {
			continue
		}
		seen[l] = true
		if err := l.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Name returns "overlay", the kernel's filesystem type name.
func (fsys *FS) Name() string { return "overlay" }

// timeOrKeep returns t, or keep when t is zero (os.Chtimes leaves a time
// unchanged when given the zero time).
func timeOrKeep(t, keep time.Time) time.Time {
	if t.IsZero() {
		return keep
	}
	return t
}

// checkUpperXattrs applies what the upper's xattr support allows, before
// anything is changed. An upper in the OCI format (an afero backend) can
// never hold the overlay's private xattrs: the features that store them
// are refused with EINVAL rather than failing at the first operation that
// needs them. An upper in the kernel's format is probed as the kernel
// probes its upper at mount; on a filesystem without xattrs (ramfs, or
// native layers without /proc) New falls back as the kernel does (see
// noXattrFallback).
func (fsys *FS) checkUpperXattrs() error {
	u := fsys.upper
	if u.format != formatKernel {
		f := &fsys.feat
		var opt, need string
		switch {
		case f.index:
			opt, need = "index", "index=on"
		case f.nfsExport:
			opt, need = "nfs_export", "nfs_export=on"
		case f.metacopy:
			opt, need = "metacopy", "metacopy=on"
		case f.redirect == RedirectOn:
			opt, need = "redirect_dir", "redirect_dir=on"
		default:
			return nil
		}
		return newOptErr(opt, syscall.EINVAL, "upper layer "+fsys.opts.Upper.String()+
			" cannot hold the xattrs "+need+" stores (use a MemLayer or DirLayer upper)")
	}
	if u.caps.Xattr {
		// The kernel sets and removes the opaque xattr on W/work; a read
		// of the work root tells the same without a change.
		if _, err := u.b.Getxattr("/", fsys.prefix+ondisk.XOpaque); !errors.Is(err, syscall.EOPNOTSUPP) {
			return nil
		}
		u.caps.Xattr = false
	}
	fsys.noXattrFallback()
	return nil
}

// noXattrFallback turns off what needs xattrs on the upper, as the kernel
// does when its probe fails ("failed to set xattr on upper"): redirects
// are not followed (nofollow), and metacopy, index and nfs_export are off,
// uuid=on|auto becomes null and xino=auto off. FS.Options shows the
// result, as /proc/mounts does.
func (fsys *FS) noXattrFallback() {
	f := &fsys.feat
	if f.redirect != RedirectNoFollow {
		f.redirect = RedirectNoFollow
	}
	f.metacopy = false
	f.index, f.nfsExport = false, false
	if f.uuid == UUIDOn || f.uuid == UUIDAuto {
		f.uuid = UUIDNull
	}
	if f.xino == XinoAuto {
		f.xino = XinoOff
	}
}
