package overlay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/layer"
)

// fake layers for resolve and validateLayers: a backend that is not on the
// host, and native ones with a root directory.
type fakeBackend struct{ layer.Backend }

type fakeRooted struct {
	layer.Backend
	path     string
	dev, ino uint64
}

func (f *fakeRooted) RootInfo() (string, uint64, uint64) { return f.path, f.dev, f.ino }

type fakeNative struct{ fakeRooted }

func (f *fakeNative) AttachWork(layer.Backend) error { return nil }

func memLayer() *Layer { return &Layer{b: fakeBackend{}, desc: "memory"} }

var fakeIno uint64 = 100

// nativeLayer is a fake native layer at path on device dev (ino 0: a fresh
// inode number).
func nativeLayer(path string, dev, ino uint64) *Layer {
	if ino == 0 {
		fakeIno++
		ino = fakeIno
	}
	return &Layer{b: &fakeNative{fakeRooted{path: path, dev: dev, ino: ino}}, desc: "dir " + path}
}

func TestResolve(t *testing.T) {
	type want struct {
		redirect                             RedirectMode
		index, nfsExport, metacopy, userxatt bool
	}
	def := want{redirect: RedirectFollow}
	for _, c := range []struct {
		name     string
		o        Options // Upper set by noUpper == false
		noUpper  bool
		want     want
		conflict []string // both options named by the EINVAL message
	}{
		{name: "defaults", want: def},
		{name: "defaults, no upper", noUpper: true, want: want{redirect: RedirectOn}},
		{name: "redirect off is follow", o: Options{RedirectDir: RedirectOff}, want: def},
		{name: "redirect on", o: Options{RedirectDir: RedirectOn}, want: want{redirect: RedirectOn}},
		{name: "redirect nofollow", o: Options{RedirectDir: RedirectNoFollow}, want: want{redirect: RedirectNoFollow}},
		{name: "nofollow, no upper", noUpper: true, o: Options{RedirectDir: RedirectNoFollow}, want: want{redirect: RedirectNoFollow}},
		{name: "index on", o: Options{Index: SwitchOn}, want: want{redirect: RedirectFollow, index: true}},
		{name: "index on, no upper", noUpper: true, o: Options{Index: SwitchOn}, want: want{redirect: RedirectOn}},

		// Rule 2: metacopy needs redirect_dir=on.
		{name: "metacopy turns redirect on", o: Options{Metacopy: SwitchOn}, want: want{redirect: RedirectOn, metacopy: true}},
		{name: "metacopy, redirect on", o: Options{Metacopy: SwitchOn, RedirectDir: RedirectOn}, want: want{redirect: RedirectOn, metacopy: true}},
		{name: "metacopy off, redirect nofollow", o: Options{Metacopy: SwitchOff, RedirectDir: RedirectNoFollow}, want: want{redirect: RedirectNoFollow}},
		{name: "metacopy vs follow", o: Options{Metacopy: SwitchOn, RedirectDir: RedirectFollow}, conflict: []string{"metacopy=on", "redirect_dir=follow"}},
		{name: "metacopy vs off", o: Options{Metacopy: SwitchOn, RedirectDir: RedirectOff}, conflict: []string{"metacopy=on", "redirect_dir=follow"}},
		{name: "metacopy vs nofollow", o: Options{Metacopy: SwitchOn, RedirectDir: RedirectNoFollow}, conflict: []string{"metacopy=on", "redirect_dir=nofollow"}},
		{name: "metacopy, follow, no upper", noUpper: true, o: Options{Metacopy: SwitchOn, RedirectDir: RedirectFollow}, want: want{redirect: RedirectOn, metacopy: true}},
		{name: "metacopy vs nofollow, no upper", noUpper: true, o: Options{Metacopy: SwitchOn, RedirectDir: RedirectNoFollow}, conflict: []string{"metacopy=on", "redirect_dir=nofollow"}},

		// Rule 3: nfs_export needs index.
		{name: "nfs_export turns index on", o: Options{NFSExport: SwitchOn}, want: want{redirect: RedirectFollow, index: true, nfsExport: true}},
		{name: "nfs_export, index on", o: Options{NFSExport: SwitchOn, Index: SwitchOn}, want: want{redirect: RedirectFollow, index: true, nfsExport: true}},
		{name: "nfs_export vs index", o: Options{NFSExport: SwitchOn, Index: SwitchOff}, conflict: []string{"nfs_export=on", "index=off"}},
		{name: "nfs_export, no upper", noUpper: true, o: Options{NFSExport: SwitchOn}, want: want{redirect: RedirectOn}},
		{name: "nfs_export, no upper, nofollow", noUpper: true, o: Options{NFSExport: SwitchOn, RedirectDir: RedirectNoFollow},
			want: want{redirect: RedirectNoFollow, nfsExport: true}},
		{name: "nfs_export, no upper, nofollow, index on", noUpper: true, o: Options{NFSExport: SwitchOn, RedirectDir: RedirectNoFollow, Index: SwitchOn},
			want: want{redirect: RedirectNoFollow, nfsExport: true}},
		{name: "nfs_export vs index, no upper, nofollow", noUpper: true, o: Options{NFSExport: SwitchOn, RedirectDir: RedirectNoFollow, Index: SwitchOff},
			conflict: []string{"nfs_export=on", "index=off"}},
		{name: "nfs_export vs index, no upper, follow", noUpper: true, o: Options{NFSExport: SwitchOn, Index: SwitchOff}, want: want{redirect: RedirectOn}},

		// Rule 4: nfs_export excludes metacopy.
		{name: "nfs_export vs metacopy", o: Options{NFSExport: SwitchOn, Metacopy: SwitchOn}, conflict: []string{"nfs_export=on", "metacopy=on"}},
		{name: "nfs_export vs metacopy, verity", o: Options{NFSExport: SwitchOn, Metacopy: SwitchOn, Verity: VerityOn}, conflict: []string{"nfs_export=on", "metacopy=on"}},
		{name: "nfs_export, verity", o: Options{NFSExport: SwitchOn, Verity: VerityRequire}, want: want{redirect: RedirectFollow, index: true, nfsExport: true}},
		{name: "nfs_export, metacopy off", o: Options{NFSExport: SwitchOn, Metacopy: SwitchOff}, want: want{redirect: RedirectFollow, index: true, nfsExport: true}},

		// Rule 5: userxattr.
		{name: "userxattr", o: Options{Userxattr: true}, want: want{redirect: RedirectNoFollow, userxatt: true}},
		{name: "userxattr, no upper", noUpper: true, o: Options{Userxattr: true}, want: want{redirect: RedirectNoFollow, userxatt: true}},
		{name: "userxattr, nofollow", o: Options{Userxattr: true, RedirectDir: RedirectNoFollow}, want: want{redirect: RedirectNoFollow, userxatt: true}},
		{name: "userxattr, metacopy off", o: Options{Userxattr: true, Metacopy: SwitchOff}, want: want{redirect: RedirectNoFollow, userxatt: true}},
		{name: "userxattr, index, nfs_export, verity", o: Options{Userxattr: true, Index: SwitchOn, NFSExport: SwitchOn, Verity: VerityOn},
			want: want{redirect: RedirectNoFollow, index: true, nfsExport: true, userxatt: true}},
		{name: "userxattr vs redirect on", o: Options{Userxattr: true, RedirectDir: RedirectOn}, conflict: []string{"userxattr", "redirect_dir=on"}},
		{name: "userxattr vs follow", o: Options{Userxattr: true, RedirectDir: RedirectFollow}, conflict: []string{"userxattr", "redirect_dir=follow"}},
		{name: "userxattr vs off", o: Options{Userxattr: true, RedirectDir: RedirectOff}, conflict: []string{"userxattr", "redirect_dir=follow"}},
		{name: "userxattr vs follow, no upper", noUpper: true, o: Options{Userxattr: true, RedirectDir: RedirectFollow}, conflict: []string{"userxattr", "redirect_dir=on"}},
		{name: "userxattr vs metacopy", o: Options{Userxattr: true, Metacopy: SwitchOn}, conflict: []string{"userxattr", "metacopy=on"}},
		{name: "userxattr vs metacopy, redirect on", o: Options{Userxattr: true, Metacopy: SwitchOn, RedirectDir: RedirectOn}, conflict: []string{"userxattr", "redirect_dir=on"}},
		{name: "userxattr vs metacopy, nofollow", o: Options{Userxattr: true, Metacopy: SwitchOn, RedirectDir: RedirectNoFollow}, conflict: []string{"metacopy=on", "redirect_dir=nofollow"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			if !c.noUpper {
				o.Upper = memLayer()
			}
			r, err := o.resolve()
			if c.conflict != nil {
				var oe *OptionError
				if err == nil || !errors.Is(err, syscall.EINVAL) || !errors.As(err, &oe) {
					t.Fatalf("resolve() = %+v, %v; want EINVAL *OptionError", r, err)
				}
				wantMsg := "overlay: conflicting options: " + c.conflict[0] + "," + c.conflict[1]
				if err.Error() != wantMsg {
					t.Errorf("error %q, want %q", err, wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			got := want{r.redirect, r.index, r.nfsExport, r.metacopy, r.userxattr}
			if got != c.want {
				t.Errorf("resolve() = %+v, want %+v", got, c.want)
			}
			if r.upper == c.noUpper {
				t.Errorf("upper = %v", r.upper)
			}
		})
	}
}

func TestResolveModes(t *testing.T) {
	up := memLayer()
	r, err := (&Options{Upper: up}).resolve()
	if err != nil || r.xino != XinoOff || r.uuid != UUIDAuto || r.fsync != FsyncAuto || r.verity != VerityOff ||
		!r.redirectFollow() || r.redirectCreate() || r.explicit.redirect || r.explicit.index {
		t.Errorf("defaults resolve to %+v, %v", r, err)
	}
	o := Options{Upper: up, Xino: XinoOn, UUID: UUIDOn, Fsync: FsyncVolatile, Verity: VerityRequire,
		Index: SwitchOff, RedirectDir: RedirectOn, DefaultPermissions: true, OverrideCreds: SwitchOff}
	r, err = o.resolve()
	if err != nil || r.xino != XinoOn || r.uuid != UUIDOn || r.fsync != FsyncVolatile || r.verity != VerityRequire ||
		!r.redirectCreate() || !r.explicit.redirect || !r.explicit.index || !r.defaultPermissions || r.overrideCreds != SwitchOff {
		t.Errorf("%+v resolves to %+v, %v", o, r, err)
	}
	o.Upper = nil
	r, err = o.resolve()
	if err != nil || r.uuid != UUIDNull || r.fsync != FsyncAuto || r.index || r.upper {
		t.Errorf("without upper: %+v, %v", r, err)
	}
	for _, bad := range []Options{
		{RedirectDir: 9}, {Index: 3}, {NFSExport: 4}, {Metacopy: 5}, {Xino: 4}, {UUID: 5}, {Fsync: 4}, {Verity: 4}, {OverrideCreds: 3},
	} {
		if _, err := bad.resolve(); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "bad value") {
			t.Errorf("%+v: resolve error %v, want EINVAL bad value", bad, err)
		}
	}
}

func TestValidateLayers(t *testing.T) {
	n := func(path string) *Layer { return nativeLayer(path, 1, 0) }
	many := func(k int) []*Layer {
		ls := make([]*Layer, k)
		for i := range ls {
			ls[i] = memLayer()
		}
		return ls
	}
	m1, m2 := memLayer(), memLayer()
	same := nativeLayer("/x/same", 1, 77)
	for _, c := range []struct {
		name  string
		o     Options
		errno error
		text  string
	}{
		{name: "mem lower and upper", o: Options{Lower: []*Layer{m1}, Upper: m2}},
		{name: "two lowers", o: Options{Lower: []*Layer{m1, m2}}},
		{name: "lower and data", o: Options{Lower: []*Layer{m1}, DataOnly: []*Layer{m2}}},
		{name: "500", o: Options{Lower: many(400), DataOnly: many(100)}},
		{name: "native", o: Options{Lower: []*Layer{n("/l1"), n("/l2")}, Upper: n("/u"), Work: n("/w")}},
		{name: "prefix not on a boundary", o: Options{Lower: []*Layer{n("/a/b"), n("/a/bc"), n("/a/b.c")}, Upper: n("/a/bcd"), Work: n("/a/b-w")}},
		{name: "upper inside lower", o: Options{Lower: []*Layer{n("/l")}, Upper: n("/l/u"), Work: n("/w")}},
		{name: "work inside lower", o: Options{Lower: []*Layer{n("/l")}, Upper: n("/u"), Work: n("/l/w")}},
		{name: "work ignored without upper", o: Options{Lower: []*Layer{m1, m2}, Work: m1}},

		{name: "no lowers", o: Options{Upper: m1}, errno: syscall.EINVAL, text: "no lower layers"},
		{name: "only data", o: Options{DataOnly: []*Layer{m1, m2}}, errno: syscall.EINVAL, text: "no lower layers"},
		{name: "501", o: Options{Lower: many(1), DataOnly: many(500), Upper: m1}, errno: syscall.EINVAL, text: "limit is 500"},
		{name: "one lower, no upper", o: Options{Lower: []*Layer{m1}}, errno: syscall.EINVAL, text: "at least 2"},
		{name: "nil lower", o: Options{Lower: []*Layer{m1, nil}}, errno: syscall.EINVAL, text: "nil"},
		{name: "nil data", o: Options{Lower: []*Layer{m1}, DataOnly: []*Layer{nil}}, errno: syscall.EINVAL, text: "nil"},
		{name: "zero lower", o: Options{Lower: []*Layer{m1, {}}}, errno: syscall.EINVAL, text: "nil"},
		{name: "zero upper", o: Options{Lower: []*Layer{m1}, Upper: &Layer{}}, errno: syscall.EINVAL, text: "nil"},
		{name: "missing workdir", o: Options{Lower: []*Layer{m1}, Upper: n("/u")}, errno: syscall.EINVAL, text: "missing 'workdir'"},
		{name: "workdir with memory upper", o: Options{Lower: []*Layer{m1}, Upper: m2, Work: n("/w")}, errno: syscall.EINVAL, text: "takes no workdir"},
		{name: "memory workdir", o: Options{Lower: []*Layer{m1}, Upper: n("/u"), Work: m2}, errno: syscall.EINVAL, text: "same mount"},
		{name: "work on another fs", o: Options{Lower: []*Layer{m1}, Upper: n("/u"), Work: nativeLayer("/w", 2, 0)}, errno: syscall.EINVAL, text: "same mount"},
		{name: "work is upper", o: Options{Lower: []*Layer{m1}, Upper: same, Work: same}, errno: syscall.EINVAL, text: "separate subtrees"},
		{name: "work same dir as upper", o: Options{Lower: []*Layer{m1}, Upper: nativeLayer("/u", 1, 5), Work: nativeLayer("/u2", 1, 5)}, errno: syscall.EINVAL, text: "separate subtrees"},
		{name: "work inside upper", o: Options{Lower: []*Layer{m1}, Upper: n("/u"), Work: n("/u/w")}, errno: syscall.EINVAL, text: "separate subtrees"},
		{name: "upper inside work", o: Options{Lower: []*Layer{m1}, Upper: n("/w/u"), Work: n("/w")}, errno: syscall.EINVAL, text: "separate subtrees"},
		{name: "lower twice", o: Options{Lower: []*Layer{m1, m1}}, errno: syscall.ELOOP, text: "twice"},
		{name: "lower is data", o: Options{Lower: []*Layer{m1}, DataOnly: []*Layer{m1}}, errno: syscall.ELOOP, text: "twice"},
		{name: "lower is upper", o: Options{Lower: []*Layer{m1}, Upper: m1}, errno: syscall.ELOOP, text: "twice"},
		{name: "same root", o: Options{Lower: []*Layer{nativeLayer("/a", 1, 9), nativeLayer("/b", 1, 9)}}, errno: syscall.ELOOP, text: "conflicting lowerdir path"},
		{name: "lower root is upper root", o: Options{Lower: []*Layer{nativeLayer("/a", 1, 9)}, Upper: nativeLayer("/a", 1, 9), Work: n("/w")}, errno: syscall.ELOOP, text: "conflicting lowerdir path"},
		{name: "lower root is work root", o: Options{Lower: []*Layer{nativeLayer("/a", 1, 9)}, Upper: n("/u"), Work: nativeLayer("/a", 1, 9)}, errno: syscall.ELOOP, text: "conflicting workdir path"},
		{name: "data root is lower root", o: Options{Lower: []*Layer{nativeLayer("/a", 1, 9)}, DataOnly: []*Layer{nativeLayer("/a", 1, 9)}}, errno: syscall.ELOOP, text: "conflicting datadir+ path"},
		{name: "lower inside lower", o: Options{Lower: []*Layer{n("/l"), n("/l/sub")}}, errno: syscall.ELOOP, text: "overlapping lowerdir path"},
		{name: "lower contains lower", o: Options{Lower: []*Layer{n("/l/sub"), n("/l")}}, errno: syscall.ELOOP, text: "overlapping lowerdir path"},
		{name: "lower inside root", o: Options{Lower: []*Layer{n("/"), n("/l")}}, errno: syscall.ELOOP, text: "overlapping lowerdir path"},
		{name: "data inside lower", o: Options{Lower: []*Layer{n("/l")}, DataOnly: []*Layer{n("/l/d")}}, errno: syscall.ELOOP, text: "overlapping datadir+ path"},
		{name: "lower inside upper", o: Options{Lower: []*Layer{n("/u/l")}, Upper: n("/u"), Work: n("/w")}, errno: syscall.ELOOP, text: "overlapping lowerdir path"},
		{name: "lower inside work", o: Options{Lower: []*Layer{n("/w/l")}, Upper: n("/u"), Work: n("/w")}, errno: syscall.ELOOP, text: "overlapping lowerdir path"},
	} {
		err := c.o.validateLayers()
		if c.errno == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var oe *OptionError
		if !errors.Is(err, c.errno) || !errors.As(err, &oe) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: error %v, want *OptionError wrapping %v containing %q", c.name, err, c.errno, c.text)
		}
	}
}

// TestValidateDirLayers checks the layer rules on real directories.
func TestValidateDirLayers(t *testing.T) {
	dir := parseFixture(t)
	if err := os.Symlink("l1", filepath.Join(dir, "l1link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in    string
		errno error
	}{
		{"lowerdir=l1:l2,upperdir=u,workdir=w", nil},
		{"lowerdir=l1,upperdir=l1/sub,workdir=w", nil},
		{"lowerdir=l1,upperdir=u,workdir=l1/sub", nil},
		{"lowerdir=l1::d1", nil},
		{"lowerdir=l1", syscall.EINVAL},
		{"lowerdir=l1,upperdir=u", syscall.EINVAL},
		{"lowerdir=l1,upperdir=u,workdir=u/sub", syscall.EINVAL},
		{"lowerdir=l1,upperdir=w/sub,workdir=w", syscall.EINVAL},
		{"lowerdir=l1,upperdir=u,workdir=u", syscall.EINVAL},
		{"lowerdir=l1:l1", syscall.ELOOP},
		{"lowerdir=l1:l1link", syscall.ELOOP},
		{"lowerdir=l1:l1/sub", syscall.ELOOP},
		{"lowerdir=l1/sub:l1", syscall.ELOOP},
		{"lowerdir=u/sub,upperdir=u,workdir=w", syscall.ELOOP},
		{"lowerdir=w/sub,upperdir=u,workdir=w", syscall.ELOOP},
		{"lowerdir=w,upperdir=u,workdir=w", syscall.ELOOP},
		{"lowerdir=l1,upperdir=l1,workdir=w", syscall.ELOOP},
	} {
		o, err := ParseOptions(c.in)
		if err != nil {
			t.Errorf("ParseOptions(%q): %v", c.in, err)
			continue
		}
		if err := o.validateLayers(); !errors.Is(err, c.errno) || (c.errno == nil) != (err == nil) {
			t.Errorf("%q: validateLayers() = %v, want %v", c.in, err, c.errno)
		}
		o.closeLayers()
	}
}

// TestParseOptionsOwnsLayers checks that an FS built from ParseOptions
// closes the layers it opened, and one built from caller's layers does not.
func TestParseOptionsOwnsLayers(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"l1", "l2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o, err := ParseOptions("lowerdir=" + filepath.Join(dir, "l1") + ":" + filepath.Join(dir, "l2"))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	fsys.Close()
	if _, err := o.Lower[0].b.Lstat(""); !errors.Is(err, syscall.EBADF) {
		t.Errorf("layer from ParseOptions still open after FS.Close: %v", err)
	}

	l1, err := DirLayer(filepath.Join(dir, "l1"))
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	fsys, err = New(Options{Lower: []*Layer{l1, MemLayer(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	fsys.Close()
	if _, err := l1.b.Lstat(""); err != nil {
		t.Errorf("caller's layer closed by FS.Close: %v", err)
	}
}

// fakePlaced is a native-like layer that knows its mount and, unless err
// is set, its position in its filesystem.
type fakePlaced struct {
	fakeNative
	mnt    uint64
	fsDev  uint64
	fsPath string
	err    error
}

func (f *fakePlaced) MountID() uint64 { return f.mnt }
func (f *fakePlaced) FSPosition() (uint64, string, error) {
	return f.fsDev, f.fsPath, f.err
}

func placedLayer(path string, dev, mnt uint64, fsPath string, err error) *Layer {
	fakeIno++
	return &Layer{b: &fakePlaced{fakeNative: fakeNative{fakeRooted{path: path, dev: dev, ino: fakeIno}}, mnt: mnt, fsDev: dev, fsPath: fsPath, err: err}, desc: "dir " + path}
}

// TestValidateLayersMounts checks the rules that compare mounts and
// positions in the filesystem, including the fail-safe refusal when the
// positions cannot be read.
func TestValidateLayersMounts(t *testing.T) {
	noinfo := syscall.ENOENT
	for _, c := range []struct {
		name  string
		o     Options
		errno error
		text  string
	}{
		{name: "one mount", o: Options{Lower: []*Layer{placedLayer("/l", 1, 5, "/l", nil)}, Upper: placedLayer("/u", 1, 5, "/u", nil), Work: placedLayer("/w", 1, 5, "/w", nil)}},
		{name: "upper and work on two mounts", o: Options{Lower: []*Layer{placedLayer("/l", 1, 5, "/l", nil)}, Upper: placedLayer("/u", 1, 6, "/u", nil), Work: placedLayer("/w", 1, 5, "/w", nil)}, errno: syscall.EINVAL, text: "same mount"},
		{name: "lower bound from upper", o: Options{Lower: []*Layer{placedLayer("/b", 1, 7, "/u/sub", nil)}, Upper: placedLayer("/u", 1, 5, "/u", nil), Work: placedLayer("/w", 1, 5, "/w", nil)}, errno: syscall.ELOOP, text: "overlapping lowerdir"},
		{name: "lower bound elsewhere", o: Options{Lower: []*Layer{placedLayer("/b", 1, 7, "/x", nil)}, Upper: placedLayer("/u", 1, 5, "/u", nil), Work: placedLayer("/w", 1, 5, "/w", nil)}},
		{name: "lower on another fs, no mount table", o: Options{Lower: []*Layer{placedLayer("/b", 2, 7, "", noinfo)}, Upper: placedLayer("/u", 1, 5, "", noinfo), Work: placedLayer("/w", 1, 5, "", noinfo)}},
		{name: "lower on another mount of the fs, no mount table", o: Options{Lower: []*Layer{placedLayer("/b", 1, 7, "", noinfo)}, Upper: placedLayer("/u", 1, 5, "", noinfo), Work: placedLayer("/w", 1, 5, "", noinfo)}, errno: syscall.ELOOP, text: "cannot tell"},
		{name: "mount ids unknown", o: Options{Lower: []*Layer{placedLayer("/b", 1, 0, "", noinfo)}, Upper: placedLayer("/u", 1, 0, "", noinfo), Work: placedLayer("/w", 1, 0, "", noinfo)}},
	} {
		err := c.o.validateLayers()
		if c.errno == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: error %v, want %v containing %q", c.name, err, c.errno, c.text)
		}
	}
}

// TestOptionErrorText: the text says the cause (the errno of a failed
// call) after what failed; EINVAL and ELOOP, which only classify the
// mistake, add nothing.
func TestOptionErrorText(t *testing.T) {
	for _, c := range []struct {
		err  *OptionError
		want string
	}{
		{&OptionError{Option: "uuid", Msg: "cannot store the overlay uuid", Err: syscall.EPERM}, `overlay: option "uuid": cannot store the overlay uuid: operation not permitted`},
		{&OptionError{Option: "workdir", Msg: "cannot create work dir", Err: syscall.EACCES}, `overlay: option "workdir": cannot create work dir: permission denied`},
		{&OptionError{Option: "uuid", Msg: "bad value", Err: syscall.EINVAL}, `overlay: option "uuid": bad value`},
		{&OptionError{Option: "lowerdir", Msg: "layer is given twice", Err: syscall.ELOOP}, `overlay: option "lowerdir": layer is given twice`},
		{&OptionError{Msg: "conflicting options: a,b", Err: syscall.EINVAL}, `overlay: conflicting options: a,b`},
		{&OptionError{Option: "upperdir", Err: syscall.ENOENT}, `overlay: option "upperdir": no such file or directory`},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}
