package ondisk

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"syscall"
)

// XFeature is the name of the feature-set xattr, on a layer's root dir.
const XFeature = "feature"

// A FeatureSet is a layer's record of the on-disk features its content
// uses, in three classes as ext4 has them: a reader that does not know a
// compat feature may read and write the layer; one that does not know a
// ro-compat feature may only read it; one that does not know an incompat
// feature may not use the layer at all, since it would misread it.
//
// The kernel ignores the record (an unknown xattr on the root); it is the
// library's and its checker's. The layout is the one overlayfs-progs
// proposed (its feature-set branch): magic 0xfe, version 1, two bytes of
// padding, then the three masks as big-endian 64-bit words, 28 bytes.
type FeatureSet struct {
	Compat, ROCompat, Incompat uint64
}

// The feature bits. Those overlayfs-progs defined keep its numbers.
const (
	CompatFeatureSet = 1 << 0 // the record exists (always set by writers)
	CompatOrigin     = 1 << 1 // origin xattrs (file handles of lower objects)
	CompatImpure     = 1 << 2 // impure xattrs
	CompatUUID       = 1 << 3 // the uuid xattr on the upper root

	ROCompatIndex     = 1 << 0 // the index dir (index=on)
	ROCompatNFSExport = 1 << 1 // index entries of dirs and whiteouts (nfs_export=on)

	IncompatRedirectDir   = 1 << 0 // redirect xattrs on dirs (and metacopy files)
	IncompatMetacopy      = 1 << 1 // metadata-only files
	IncompatDataRedirect  = 1 << 2 // absolute redirects into data-only layers
	IncompatXattrWhiteout = 1 << 3 // whiteouts as zero-size files with the whiteout xattr
	IncompatMergeFile     = 1 << 4 // partially copied-up files
	IncompatUserxattr     = 1 << 5 // the markers are user.overlay.* xattrs
)

// Known are the bits this package knows in each class.
var Known = FeatureSet{
	Compat:   CompatFeatureSet | CompatOrigin | CompatImpure | CompatUUID,
	ROCompat: ROCompatIndex | ROCompatNFSExport,
	Incompat: IncompatRedirectDir | IncompatMetacopy | IncompatDataRedirect | IncompatXattrWhiteout | IncompatMergeFile | IncompatUserxattr,
}

var featureNames = [3]map[uint64]string{
	{CompatFeatureSet: "feature_set", CompatOrigin: "origin", CompatImpure: "impure", CompatUUID: "uuid"},
	{ROCompatIndex: "index", ROCompatNFSExport: "nfs_export"},
	{IncompatRedirectDir: "redirect_dir", IncompatMetacopy: "metacopy", IncompatDataRedirect: "data_redirect",
		IncompatXattrWhiteout: "xattr_whiteout", IncompatMergeFile: "mergefile", IncompatUserxattr: "userxattr"},
}

const (
	featureMagic   = 0xfe
	featureVersion = 1
	// FeatureLen is the length of a version 1 record.
	FeatureLen = 28
)

// ErrNewerFeatures is the error of a record of a version newer than this
// package writes: its first 28 bytes are read as version 1's (later
// versions may only append), but it must not be rewritten.
var ErrNewerFeatures = errors.New("feature set of a newer version")

// ParseFeatures decodes a feature-set xattr. A value shorter than 28
// bytes, with another magic or version 0 is EINVAL (corrupt); a newer
// version gives the set with ErrNewerFeatures.
func ParseFeatures(v []byte) (FeatureSet, error) {
	if len(v) < FeatureLen || v[0] != featureMagic || v[1] == 0 || (v[1] == featureVersion && len(v) != FeatureLen) {
		return FeatureSet{}, syscall.EINVAL
	}
	f := FeatureSet{
		Compat:   binary.BigEndian.Uint64(v[4:12]),
		ROCompat: binary.BigEndian.Uint64(v[12:20]),
		Incompat: binary.BigEndian.Uint64(v[20:28]),
	}
	if v[1] > featureVersion {
		return f, ErrNewerFeatures
	}
	return f, nil
}

// FormatFeatures encodes f as a version 1 record, with CompatFeatureSet
// set.
func FormatFeatures(f FeatureSet) []byte {
	v := make([]byte, FeatureLen)
	v[0], v[1] = featureMagic, featureVersion
	binary.BigEndian.PutUint64(v[4:12], f.Compat|CompatFeatureSet)
	binary.BigEndian.PutUint64(v[12:20], f.ROCompat)
	binary.BigEndian.PutUint64(v[20:28], f.Incompat)
	return v
}

// Unknown is the part of f this package does not know.
func (f FeatureSet) Unknown() FeatureSet {
	return FeatureSet{f.Compat &^ Known.Compat, f.ROCompat &^ Known.ROCompat, f.Incompat &^ Known.Incompat}
}

// Or is the union of f and g.
func (f FeatureSet) Or(g FeatureSet) FeatureSet {
	return FeatureSet{f.Compat | g.Compat, f.ROCompat | g.ROCompat, f.Incompat | g.Incompat}
}

// Covers reports whether f has every bit of g.
func (f FeatureSet) Covers(g FeatureSet) bool {
	return g.Compat&^f.Compat == 0 && g.ROCompat&^f.ROCompat == 0 && g.Incompat&^f.Incompat == 0
}

// IsZero reports whether f has no bit.
func (f FeatureSet) IsZero() bool { return f == FeatureSet{} }

// String lists the bits by class, by name where known ("bit N" where
// not): "compat=feature_set,origin ro_compat=index incompat=redirect_dir".
func (f FeatureSet) String() string {
	var b strings.Builder
	for i, c := range [3]struct {
		name string
		mask uint64
	}{{"compat", f.Compat}, {"ro_compat", f.ROCompat}, {"incompat", f.Incompat}} {
		if c.mask == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.name + "=")
		for m, first := c.mask, true; m != 0; m &= m - 1 {
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(BitName(i, m&-m))
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// BitName names the bit (a single-bit mask) of class 0 (compat), 1
// (ro_compat) or 2 (incompat).
func BitName(class int, bit uint64) string {
	if n, ok := featureNames[class][bit]; ok {
		return n
	}
	return "bit " + strconv.Itoa(bits.TrailingZeros64(bit))
}

// ParseFeatureName finds the class and bit of a known feature by the name
// String gives it ("origin", "index", "redirect_dir").
func ParseFeatureName(name string) (class int, bit uint64, ok bool) {
	for c, m := range featureNames {
		for b, n := range m {
			if n == name {
				return c, b, true
			}
		}
	}
	return 0, 0, false
}
