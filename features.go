package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// A FeatureSet is a layer's record of the on-disk features its content
// uses, kept in the P.feature xattr of the layer's root (P the private
// xattr prefix, trusted.overlay. or, with userxattr, user.overlay.). As on
// ext4, a feature is compat (a reader that does not know it may read and
// write the layer), ro-compat (may only read it) or incompat (may not use
// it at all, since it would misread it). The kernel ignores the record;
// New and the checker do not (see [New] and doc.go).
type FeatureSet struct {
	Compat, ROCompat, Incompat uint64
}

// The feature bits.
const (
	CompatFeatureSet = ondisk.CompatFeatureSet // the record exists; always set
	CompatOrigin     = ondisk.CompatOrigin     // origin xattrs (file handles of lower objects)
	CompatImpure     = ondisk.CompatImpure     // impure xattrs
	CompatUUID       = ondisk.CompatUUID       // the uuid xattr on the upper root

	ROCompatIndex     = ondisk.ROCompatIndex     // the index dir (index=on)
	ROCompatNFSExport = ondisk.ROCompatNFSExport // index entries of dirs and whiteouts (nfs_export=on)

	IncompatRedirectDir   = ondisk.IncompatRedirectDir   // redirect xattrs
	IncompatMetacopy      = ondisk.IncompatMetacopy      // metadata-only files
	IncompatDataRedirect  = ondisk.IncompatDataRedirect  // absolute redirects into data-only layers
	IncompatXattrWhiteout = ondisk.IncompatXattrWhiteout // whiteouts as files with the whiteout xattr
	IncompatMergeFile     = ondisk.IncompatMergeFile     // partially copied-up files
	IncompatUserxattr     = ondisk.IncompatUserxattr     // markers in user.overlay.* xattrs
)

// String lists the bits by class and name, unknown ones by number:
// "compat=feature_set,origin ro_compat=index incompat=redirect_dir,bit 9".
func (f FeatureSet) String() string { return ondisk.FeatureSet(f).String() }

// Unknown is the part of f this package does not know.
func (f FeatureSet) Unknown() FeatureSet { return FeatureSet(ondisk.FeatureSet(f).Unknown()) }

// ReadFeatures reads the feature set recorded on the layer l, in the
// trusted.overlay. namespace or else the user.overlay. one; ok is false
// when l has none (a layer the kernel wrote, or one without xattrs). A
// record that cannot be decoded is an error wrapping EINVAL.
func ReadFeatures(l *Layer) (f FeatureSet, ok bool, err error) {
	for _, prefix := range []string{ondisk.TrustedPrefix, ondisk.UserPrefix} {
		f, ok, err := readFeatures(l.b, prefix)
		if ok || err != nil {
			return FeatureSet(f), ok, err
		}
	}
	return FeatureSet{}, false, nil
}

// readFeatures reads the record under prefix of the layer r.
func readFeatures(r layer.Reader, prefix string) (ondisk.FeatureSet, bool, error) {
	v, err := r.Getxattr("", prefix+ondisk.XFeature)
	switch {
	case errors.Is(err, layer.ErrNoData) || errors.Is(err, syscall.EOPNOTSUPP):
		return ondisk.FeatureSet{}, false, nil
	case err != nil:
		return ondisk.FeatureSet{}, false, &fs.PathError{Op: "getxattr", Path: "/", Err: err}
	}
	f, err := ondisk.ParseFeatures(v)
	if err != nil && !errors.Is(err, ondisk.ErrNewerFeatures) {
		return ondisk.FeatureSet{}, false, fmt.Errorf("corrupt feature set %q: %w", v, syscall.EINVAL)
	}
	return f, true, err
}

// Features reports the feature set recorded on the upper layer, as it
// stands now (bits are added when a feature is first used); ok is false
// when the upper has no record (an upper that was not new when this
// library first opened it, or one without xattrs) or there is no upper.
func (fsys *FS) Features() (f FeatureSet, ok bool) {
	if fsys.upper == nil || fsys.upper.w.features == nil {
		return FeatureSet{}, false
	}
	return FeatureSet(fsys.upper.w.features.get()), true
}

// FormatLayer gives the layer l, which must be empty (no entries, no
// overlay xattrs on its root, an empty work area), a feature set: f with
// CompatFeatureSet, and IncompatUserxattr when userxattr is set (the
// record is then in the user.overlay. namespace, as every marker of such
// an overlay). It is mkfs.overlay's job: a layer so formatted tells every
// later reader which features it may meet. A layer that cannot hold
// xattrs is EOPNOTSUPP; one that is not empty, ENOTEMPTY.
func FormatLayer(l *Layer, userxattr bool, f FeatureSet) error {
	if l.format != formatKernel || !l.b.Caps().Xattr {
		return &fs.PathError{Op: "format", Path: l.desc, Err: syscall.EOPNOTSUPP}
	}
	for _, p := range []string{"", "/"} {
		if p == "/" && !l.b.Caps().WorkArea {
			continue
		}
		ents, err := l.b.ReadDir(p)
		if err != nil {
			return &fs.PathError{Op: "format", Path: l.desc, Err: err}
		}
		if len(ents) > 0 {
			return &fs.PathError{Op: "format", Path: l.desc, Err: syscall.ENOTEMPTY}
		}
	}
	names, err := l.b.Listxattr("")
	if err != nil && !errors.Is(err, syscall.EOPNOTSUPP) {
		return &fs.PathError{Op: "format", Path: l.desc, Err: err}
	}
	for _, n := range names {
		if strings.HasPrefix(n, ondisk.TrustedPrefix) || strings.HasPrefix(n, ondisk.UserPrefix) {
			return &fs.PathError{Op: "format", Path: l.desc, Err: syscall.ENOTEMPTY}
		}
	}
	prefix, g := ondisk.TrustedPrefix, ondisk.FeatureSet(f)
	if userxattr {
		prefix, g.Incompat = ondisk.UserPrefix, g.Incompat|ondisk.IncompatUserxattr
	}
	if err := newUpperDoor(l.b).setxattr("", prefix+ondisk.XFeature, ondisk.FormatFeatures(g)); err != nil {
		return &fs.PathError{Op: "format", Path: l.desc, Err: err}
	}
	return nil
}

// AddFeatures adds the bits of f to the feature set of the layer l (in
// the user.overlay. namespace when userxattr is set), making one where it
// has none: a record made so lists what f says, which overlay fsck
// completes with the features it finds in use. The layer must not be in
// use by an overlay.
func AddFeatures(l *Layer, userxattr bool, f FeatureSet) error {
	if l.format != formatKernel || !l.b.Caps().Xattr {
		return &fs.PathError{Op: "setfeatures", Path: l.desc, Err: syscall.EOPNOTSUPP}
	}
	prefix := ondisk.TrustedPrefix
	if userxattr {
		prefix = ondisk.UserPrefix
	}
	cur, _, err := readFeatures(l.b, prefix)
	if err != nil && !errors.Is(err, ondisk.ErrNewerFeatures) {
		return err
	}
	if errors.Is(err, ondisk.ErrNewerFeatures) {
		return &fs.PathError{Op: "setfeatures", Path: l.desc, Err: syscall.EROFS}
	}
	next := cur.Or(ondisk.FeatureSet(f))
	if userxattr {
		next.Incompat |= ondisk.IncompatUserxattr
	}
	if err := newUpperDoor(l.b).setxattr("", prefix+ondisk.XFeature, ondisk.FormatFeatures(next)); err != nil {
		return &fs.PathError{Op: "setfeatures", Path: l.desc, Err: err}
	}
	return nil
}

// ParseFeature finds a feature by the name String gives it ("origin",
// "index", "redirect_dir", ...).
func ParseFeature(name string) (FeatureSet, bool) {
	class, bit, ok := ondisk.ParseFeatureName(name)
	if !ok {
		return FeatureSet{}, false
	}
	var f FeatureSet
	switch class {
	case 0:
		f.Compat = bit
	case 1:
		f.ROCompat = bit
	default:
		f.Incompat = bit
	}
	return f, true
}

// checkFeatures reads the feature set of every layer that keeps private
// xattrs, as New opens them: an unknown incompat bit (or a corrupt
// record) refuses the layer, an unknown ro-compat bit refuses it as the
// upper (EROFS: it may still be a lower). On the upper it sets up the
// record the door keeps: the one there, or a new one on a new (empty)
// upper, written once New's checks are done (newRecord).
func (fsys *FS) checkFeatures() (newRecord bool, err error) {
	check := func(br *branch, opt string, upper bool) (ondisk.FeatureSet, bool, error) {
		if !br.xattrMarkers() {
			return ondisk.FeatureSet{}, false, nil
		}
		f, ok, err := readFeatures(br.b, fsys.prefix)
		newer := errors.Is(err, ondisk.ErrNewerFeatures)
		switch {
		case err != nil && errors.Is(err, syscall.EINVAL):
			return f, false, newOptErr(opt, err, "corrupt feature set (overlay fsck repairs it)")
		case err != nil && !newer:
			return f, false, newOptErr(opt, err, "cannot read the layer's feature set")
		case !ok:
			return f, false, nil
		}
		if u := f.Unknown(); u.Incompat != 0 {
			return f, false, newOptErr(opt, syscall.EINVAL,
				fmt.Sprintf("layer with unknown incompat feature '%s' cannot be used", ondisk.FeatureSet{Incompat: u.Incompat}))
		} else if upper && u.ROCompat != 0 {
			return f, false, newOptErr(opt, syscall.EROFS,
				fmt.Sprintf("layer with unknown ro_compat feature '%s' cannot be an upper layer", ondisk.FeatureSet{ROCompat: u.ROCompat}))
		} else if upper && newer {
			return f, false, newOptErr(opt, syscall.EROFS, "layer with a feature set of a newer version cannot be an upper layer")
		}
		return f, true, nil
	}
	for i, br := range fsys.lowers {
		opt := "lowerdir"
		if i > fsys.bottom {
			opt = "datadir+"
		}
		if _, _, err := check(br, opt, false); err != nil {
			return false, err
		}
	}
	u := fsys.upper
	if u == nil {
		return false, nil
	}
	f, ok, err := check(u, "upperdir", true)
	if err != nil || !u.xattrMarkers() {
		return false, err
	}
	if ok {
		u.w.features = newFeatureRecord(fsys.prefix, f)
		return false, nil
	}
	ents, err := u.b.ReadDir("")
	return err == nil && len(ents) == 0, nil
}

// writeFeatures gives a new upper its record (see checkFeatures).
func (fsys *FS) writeFeatures() error {
	f := ondisk.FeatureSet{Compat: ondisk.CompatFeatureSet}
	if fsys.feat.userxattr {
		f.Incompat |= ondisk.IncompatUserxattr
	}
	u := fsys.upper
	if err := u.w.setxattr("", fsys.prefix+ondisk.XFeature, ondisk.FormatFeatures(f)); err != nil {
		if errors.Is(err, syscall.EOPNOTSUPP) {
			return nil // no xattrs in this namespace: no record, as no uuid
		}
		if err := fsys.notPrivileged(err, ondisk.XFeature); err != nil {
			return err
		}
		return newOptErr("upperdir", err, "cannot record the layer's feature set")
	}
	u.w.features = newFeatureRecord(fsys.prefix, f)
	return nil
}

// featureRecord is the upper's feature set as the door keeps it: a
// feature's bit is added to the record on the layer before the first
// change that uses the feature (upperDoor.use), so that no crash leaves a
// feature used and not recorded. After that first time a use costs a
// lock-free check.
type featureRecord struct {
	prefix string // immutable
	cur    atomic.Pointer[ondisk.FeatureSet]
	mu     sync.Mutex // serializes the record's updates
}

func newFeatureRecord(prefix string, f ondisk.FeatureSet) *featureRecord {
	r := &featureRecord{prefix: prefix}
	r.cur.Store(&f)
	return r
}

func (r *featureRecord) get() ondisk.FeatureSet { return *r.cur.Load() }

// xattrFeature is the feature a private xattr of the record's namespace
// stands for (zero for the others).
func (r *featureRecord) xattrFeature(name string) ondisk.FeatureSet {
	suffix, ok := strings.CutPrefix(name, r.prefix)
	if !ok {
		return ondisk.FeatureSet{}
	}
	switch suffix {
	case ondisk.XOrigin:
		return ondisk.FeatureSet{Compat: ondisk.CompatOrigin}
	case ondisk.XImpure:
		return ondisk.FeatureSet{Compat: ondisk.CompatImpure}
	case ondisk.XUUID:
		return ondisk.FeatureSet{Compat: ondisk.CompatUUID}
	case ondisk.XRedirect:
		return ondisk.FeatureSet{Incompat: ondisk.IncompatRedirectDir}
	case ondisk.XMetacopy:
		return ondisk.FeatureSet{Incompat: ondisk.IncompatMetacopy}
	case ondisk.XWhiteout:
		return ondisk.FeatureSet{Incompat: ondisk.IncompatXattrWhiteout}
	}
	return ondisk.FeatureSet{}
}
