package ondisk

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

func TestFeatures(t *testing.T) {
	f := FeatureSet{Compat: CompatOrigin, ROCompat: ROCompatIndex, Incompat: IncompatRedirectDir | IncompatMetacopy}
	v := FormatFeatures(f)
	want := []byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3}
	if !bytes.Equal(v, want) {
		t.Fatalf("FormatFeatures = % x, want % x", v, want)
	}
	g, err := ParseFeatures(v)
	if err != nil || g != (FeatureSet{CompatFeatureSet | CompatOrigin, ROCompatIndex, IncompatRedirectDir | IncompatMetacopy}) {
		t.Fatalf("ParseFeatures = %+v, %v", g, err)
	}
	if s := g.String(); s != "compat=feature_set,origin ro_compat=index incompat=redirect_dir,metacopy" {
		t.Errorf("String = %q", s)
	}
	for _, bad := range [][]byte{nil, v[:27], append(bytes.Clone(v), 0), {0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := ParseFeatures(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ParseFeatures(% x) = %v, want EINVAL", bad, err)
		}
	}
	v0 := bytes.Clone(v)
	v0[1] = 0
	if _, err := ParseFeatures(v0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("version 0: %v, want EINVAL", err)
	}
	v2 := append(bytes.Clone(v), 1, 2, 3)
	v2[1] = 2
	if g, err := ParseFeatures(v2); !errors.Is(err, ErrNewerFeatures) || g.Incompat != IncompatRedirectDir|IncompatMetacopy {
		t.Errorf("version 2: %+v, %v; want the set with ErrNewerFeatures", g, err)
	}
	u := FeatureSet{Compat: 1 << 40, ROCompat: 1<<7 | ROCompatIndex, Incompat: 1 << 63}.Unknown()
	if u != (FeatureSet{1 << 40, 1 << 7, 1 << 63}) {
		t.Errorf("Unknown = %+v", u)
	}
	if s := u.String(); s != "compat=bit 40 ro_compat=bit 7 incompat=bit 63" {
		t.Errorf("String of unknown bits = %q", s)
	}
	if c, b, ok := ParseFeatureName("nfs_export"); !ok || c != 1 || b != ROCompatNFSExport {
		t.Errorf("ParseFeatureName(nfs_export) = %d %d %v", c, b, ok)
	}
	if !Known.Covers(f) || f.Covers(Known) || (FeatureSet{}).IsZero() != true {
		t.Errorf("Covers/IsZero")
	}
}
