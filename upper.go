package overlay

import (
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// upperDoor is the one way an FS changes its upper layer: every mkdir,
// create, rename, whiteout and setxattr goes through its methods, and it
// alone holds the layer's write side (lower layers have none: a branch's
// backend is a layer.Reader, and only the upper's branch has a door). It
// is the place for what every change needs, as the kernel's ovl_do_*
// helpers are: the layer's feature set, which gains a feature's bit
// before the first change that uses it, and the hook that tests use to
// stop at each step.
type upperDoor struct {
	writer layer.Writer
	// hook, when set, is called before each change with its name and
	// paths (see upperHook).
	hook func(op string, paths ...string)
	// noRenameWhiteout makes renameWhiteout fail as on a filesystem
	// without RENAME_WHITEOUT (tests only).
	noRenameWhiteout bool
	// features is the layer's feature set, when it keeps one: set by New
	// before any change that uses a feature.
	features *featureRecord
}

// upperHook, when set (by tests only, before New), is called before every
// change an FS makes to its upper layer, with the operation's name and
// paths: the one choke point where a test injects a crash (the hook exits
// the process) at each step of a multi-step operation. It is read once,
// in New; production code never sets it.
var upperHook func(op string, paths ...string)

// hookNoRenameWhiteout, set by tests only, makes the upper of an FS built
// afterwards act as a filesystem without RENAME_WHITEOUT (EINVAL), to
// reach the fallback.
var hookNoRenameWhiteout bool

// newUpperDoor is the door to the upper layer b.
func newUpperDoor(b layer.Backend) *upperDoor {
	return &upperDoor{writer: b, hook: upperHook, noRenameWhiteout: hookNoRenameWhiteout}
}

// before calls the hook, if any, before the change op of paths.
func (d *upperDoor) before(op string, paths ...string) {
	if d.hook != nil {
		d.hook(op, paths...)
	}
}

// open opens p for writing, or creates it (os.OpenFile flags).
func (d *upperDoor) open(p string, flag int, perm uint32) (layer.File, error) {
	d.before("open", p)
	return d.writer.Open(p, flag, perm)
}

func (d *upperDoor) setxattr(p, name string, value []byte) error {
	if d.features != nil {
		if err := d.use(d.features.xattrFeature(name)); err != nil {
			return err
		}
	}
	d.before("setxattr", p, name)
	return d.writer.Setxattr(p, name, value)
}

func (d *upperDoor) removexattr(p, name string) error {
	d.before("removexattr", p, name)
	return d.writer.Removexattr(p, name)
}

func (d *upperDoor) mkdir(p string, perm uint32) error {
	if p == indexDir {
		if err := d.use(ondisk.FeatureSet{ROCompat: ondisk.ROCompatIndex}); err != nil {
			return err
		}
	}
	d.before("mkdir", p)
	return d.writer.Mkdir(p, perm)
}

func (d *upperDoor) symlink(target, p string) error {
	d.before("symlink", p)
	return d.writer.Symlink(target, p)
}

func (d *upperDoor) link(oldp, newp string) error {
	d.before("link", oldp, newp)
	return d.writer.Link(oldp, newp)
}

func (d *upperDoor) mknod(p string, mode uint32, dev uint64) error {
	d.before("mknod", p)
	return d.writer.Mknod(p, mode, dev)
}

func (d *upperDoor) rename(oldp, newp string) error {
	d.before("rename", oldp, newp)
	return d.writer.Rename(oldp, newp)
}

func (d *upperDoor) exchange(p1, p2 string) error {
	d.before("exchange", p1, p2)
	return d.writer.Exchange(p1, p2)
}

func (d *upperDoor) unlink(p string) error {
	d.before("unlink", p)
	return d.writer.Unlink(p)
}

func (d *upperDoor) rmdir(p string) error {
	d.before("rmdir", p)
	return d.writer.Rmdir(p)
}

func (d *upperDoor) chmod(p string, perm uint32) error {
	d.before("chmod", p)
	return d.writer.Chmod(p, perm)
}

func (d *upperDoor) lchown(p string, uid, gid int) error {
	d.before("lchown", p)
	return d.writer.Lchown(p, uid, gid)
}

func (d *upperDoor) lutimes(p string, atime, mtime time.Time) error {
	d.before("lutimes", p)
	return d.writer.Lutimes(p, atime, mtime)
}

func (d *upperDoor) truncate(p string, size int64) error {
	d.before("truncate", p)
	return d.writer.Truncate(p, size)
}

// use records the features f on the layer, where it keeps a feature set,
// before a change that uses them.
func (d *upperDoor) use(f ondisk.FeatureSet) error {
	r := d.features
	if r == nil || r.get().Covers(f) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.get().Or(f)
	if next == r.get() {
		return nil
	}
	name := r.prefix + ondisk.XFeature
	d.before("setxattr", "", name)
	if err := d.writer.Setxattr("", name, ondisk.FormatFeatures(next)); err != nil {
		return err
	}
	r.cur.Store(&next)
	return nil
}

// renameWhiteout renames and leaves a whiteout at the old name in one
// step (see whiteoutRenamer): EINVAL or EOPNOTSUPP where the layer cannot.
func (d *upperDoor) renameWhiteout(oldp, newp string) error {
	wr, ok := d.writer.(layer.WhiteoutRenamer)
	switch {
	case d.noRenameWhiteout:
		return syscall.EINVAL
	case !ok:
		return syscall.EOPNOTSUPP
	}
	d.before("renameWhiteout", oldp, newp)
	return wr.RenameWhiteout(oldp, newp)
}

// treeRemover is the layer's own remover of whole trees, if it has one:
// none while a hook watches, so that it sees each step.
func (d *upperDoor) treeRemover() (layer.TreeRemover, bool) {
	tr, ok := d.writer.(layer.TreeRemover)
	return tr, ok && d.hook == nil
}
