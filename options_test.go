package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/testskip"
)

func TestModeString(t *testing.T) {
	for _, c := range []struct {
		v    fmt.Stringer
		want string
	}{
		{SwitchDefault, "default"}, {SwitchOn, "on"}, {SwitchOff, "off"}, {Switch(9), "Switch(9)"},
		{RedirectDefault, "follow (default)"}, {RedirectOn, "on"}, {RedirectFollow, "follow"},
		{RedirectNoFollow, "nofollow"}, {RedirectOff, "off"}, {RedirectMode(7), "RedirectMode(7)"},
		{XinoDefault, "off (default)"}, {XinoOff, "off"}, {XinoAuto, "auto"}, {XinoOn, "on"},
		{UUIDDefault, "auto (default)"}, {UUIDOff, "off"}, {UUIDNull, "null"}, {UUIDAuto, "auto"}, {UUIDOn, "on"},
		{FsyncDefault, "auto (default)"}, {FsyncVolatile, "volatile"}, {FsyncAuto, "auto"}, {FsyncStrict, "strict"},
		{VerityDefault, "off (default)"}, {VerityOff, "off"}, {VerityOn, "on"}, {VerityRequire, "require"},
	} {
		if got := c.v.String(); got != c.want {
			t.Errorf("%T(%v).String() = %q, want %q", c.v, c.v, got, c.want)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"a,b", []string{"a", "b"}},
		{`a\,b,c`, []string{`a\,b`, "c"}},
		{`a\\,b`, []string{`a\\`, "b"}},
		{`a\`, []string{`a\`}},
		{"a,,b,", []string{"a", "", "b", ""}},
	} {
		if got := splitOptions(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitOptions(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for in, want := range map[string]string{`a\:b`: "a:b", `a\\b`: `a\b`, `a\`: "a", `\`: "", `\\\,`: `\,`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitLowerdirs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // paths, data-only ones prefixed with "+"; "" for an error
	}{
		{"a", "a"},
		{"a:b:c", "a b c"},
		{`a\:b:c`, `a\:b c`},
		{`a\\:b`, `a\\ b`},
		{"a::b", "a +b"},
		{"a:b::c::d", "a b +c +d"},
		{"a::b:c", "a +b c"}, // refused later, when the regular layer is placed
		{"a:::b", ""},
		{"a::::b", ""},
		{"a:", ""},
		{"a::", ""},
		{`a:\`, ""}, // a backslash at the end does not end the trailing colon
		{`a\`, `a\`},
	} {
		comps, err := splitLowerdirs(c.in)
		var got []string
		for _, cp := range comps {
			if cp.data {
				got = append(got, "+"+cp.path)
			} else {
				got = append(got, cp.path)
			}
		}
		if c.want == "" {
			if err == nil || !errors.Is(err, syscall.EINVAL) {
				t.Errorf("splitLowerdirs(%q) = %q, %v; want EINVAL", c.in, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("splitLowerdirs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// parseFixture makes the directories the ParseOptions tests name, in a
// fresh directory that becomes the current one, and returns its path.
func parseFixture(t *testing.T) string {
	t.Helper()
	if _, err := DirLayer(t.TempDir()); errors.Is(err, errors.ErrUnsupported) {
		testskip.Skip(t, "DirLayer is not supported here")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"l1", "l2", "l3", "d1", "d2", "u", "u2", "w", "w2", "l:c", "l,c", `l\b`, "l=e", "u/sub", "w/sub", "l1/sub"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return dir
}

// summary is Options with the layers named by their paths relative to
// the fixture directory.
type summary struct {
	Lower, DataOnly []string
	Upper, Work     string
	Modes           Options // the options without layers
}

func summarize(dir string, o Options) summary {
	name := func(l *Layer) string {
		if l == nil {
			return ""
		}
		p := layerPath(l)
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
		return p
	}
	var s summary
	for _, l := range o.Lower {
		s.Lower = append(s.Lower, name(l))
	}
	for _, l := range o.DataOnly {
		s.DataOnly = append(s.DataOnly, name(l))
	}
	s.Upper, s.Work = name(o.Upper), name(o.Work)
	s.Modes = o
	s.Modes.Lower, s.Modes.DataOnly, s.Modes.Upper, s.Modes.Work = nil, nil, nil, nil
	s.Modes.ownLayers = false // set by every successful ParseOptions; checked in TestParseOptionsOwnsLayers
	return s
}

func TestParseOptions(t *testing.T) {
	dir := parseFixture(t)
	l := func(names ...string) []string { return names }
	for _, c := range []struct {
		in      string
		want    summary
		errno   error  // expected error, nil for success
		errText string // substring of the error message
	}{
		// Layers and escaping.
		{in: "lowerdir=l1:l2", want: summary{Lower: l("l1", "l2")}},
		{in: "lowerdir=" + dir + "/l1", want: summary{Lower: l("l1")}},
		{in: `lowerdir=l\:c:l2`, want: summary{Lower: l("l:c", "l2")}},
		{in: `lowerdir=l1:l\,c`, want: summary{Lower: l("l1", "l,c")}},
		{in: `lowerdir=l\\b`, want: summary{Lower: l(`l\b`)}},
		{in: `lowerdir=l=e`, want: summary{Lower: l("l=e")}},
		{in: "lowerdir=l1:l2::d1::d2", want: summary{Lower: l("l1", "l2"), DataOnly: l("d1", "d2")}},
		{in: "lowerdir=l1,lowerdir=l2:l3", want: summary{Lower: l("l2", "l3")}},
		{in: "lowerdir+=l1,lowerdir+=l2,datadir+=d1", want: summary{Lower: l("l1", "l2"), DataOnly: l("d1")}},
		{in: `lowerdir+=l\b`, want: summary{Lower: l(`l\b`)}},
		{in: "lowerdir=l1,lowerdir=,lowerdir+=l2", want: summary{Lower: l("l2")}},
		{in: "lowerdir+=l1,lowerdir=l3", want: summary{Lower: l("l3")}},
		{in: "lowerdir=l1:l2,lowerdir=", want: summary{}},
		{in: "lowerdir=l1,upperdir=u,workdir=w", want: summary{Lower: l("l1"), Upper: "u", Work: "w"}},
		{in: "lowerdir=l1,upperdir=u,workdir=w,upperdir=u2,workdir=w2", want: summary{Lower: l("l1"), Upper: "u2", Work: "w2"}},
		{in: `lowerdir=l1,upperdir=u\2,workdir=w`, want: summary{Lower: l("l1"), Upper: "u2", Work: "w"}},
		{in: "lowerdir=l1:l2,,=x,", want: summary{Lower: l("l1", "l2")}},
		{in: "", want: summary{}},

		// Modes.
		{in: "redirect_dir=on", want: summary{Modes: Options{RedirectDir: RedirectOn}}},
		{in: "redirect_dir=follow", want: summary{Modes: Options{RedirectDir: RedirectFollow}}},
		{in: "redirect_dir=nofollow", want: summary{Modes: Options{RedirectDir: RedirectNoFollow}}},
		{in: "redirect_dir=off", want: summary{Modes: Options{RedirectDir: RedirectOff}}},
		{in: "index=on,nfs_export=off,metacopy=on", want: summary{Modes: Options{Index: SwitchOn, NFSExport: SwitchOff, Metacopy: SwitchOn}}},
		{in: "index=off,nfs_export=on,metacopy=off", want: summary{Modes: Options{Index: SwitchOff, NFSExport: SwitchOn, Metacopy: SwitchOff}}},
		{in: "xino=off", want: summary{Modes: Options{Xino: XinoOff}}},
		{in: "xino=auto", want: summary{Modes: Options{Xino: XinoAuto}}},
		{in: "xino=on", want: summary{Modes: Options{Xino: XinoOn}}},
		{in: "uuid=off", want: summary{Modes: Options{UUID: UUIDOff}}},
		{in: "uuid=null", want: summary{Modes: Options{UUID: UUIDNull}}},
		{in: "uuid=auto", want: summary{Modes: Options{UUID: UUIDAuto}}},
		{in: "uuid=on", want: summary{Modes: Options{UUID: UUIDOn}}},
		{in: "fsync=volatile", want: summary{Modes: Options{Fsync: FsyncVolatile}}},
		{in: "fsync=auto", want: summary{Modes: Options{Fsync: FsyncAuto}}},
		{in: "fsync=strict", want: summary{Modes: Options{Fsync: FsyncStrict}}},
		{in: "volatile", want: summary{Modes: Options{Fsync: FsyncVolatile}}},
		{in: "volatile,fsync=strict", want: summary{Modes: Options{Fsync: FsyncStrict}}},
		{in: "verity=off", want: summary{Modes: Options{Verity: VerityOff}}},
		{in: "verity=on", want: summary{Modes: Options{Verity: VerityOn}}},
		{in: "verity=require", want: summary{Modes: Options{Verity: VerityRequire}}},
		{in: "userxattr,default_permissions", want: summary{Modes: Options{Userxattr: true, DefaultPermissions: true}}},
		{in: "override_creds", want: summary{Modes: Options{OverrideCreds: SwitchOn}}},
		{in: "override_creds,nooverride_creds", want: summary{Modes: Options{OverrideCreds: SwitchOff}}},
		{in: "index=on,index=off", want: summary{Modes: Options{Index: SwitchOff}}},
		{in: "rw,async,lazytime,nolazytime,mand,nomand", want: summary{}},

		// Syntax and value errors.
		{in: "lowerdir=:l1", errno: syscall.EINVAL, errText: "cannot append"},
		{in: "lowerdir=l1:", errno: syscall.EINVAL, errText: "trailing"},
		{in: "lowerdir=l1::", errno: syscall.EINVAL, errText: "trailing"},
		{in: `lowerdir=l1:\`, errno: syscall.EINVAL, errText: "trailing"},
		{in: "lowerdir=l1:::l2", errno: syscall.EINVAL, errText: "'::'"},
		{in: "lowerdir=l1::d1:l2", errno: syscall.EINVAL, errText: "cannot follow data"},
		{in: `lowerdir=\`, errno: syscall.EINVAL, errText: "empty path"},
		{in: "lowerdir", errno: syscall.EINVAL, errText: `option "lowerdir": missing value`},
		{in: "lowerdir=l1,lowerdir+=l2", errno: syscall.EINVAL, errText: "cannot follow lowerdir"},
		{in: "lowerdir=l1,datadir+=d1", errno: syscall.EINVAL, errText: "cannot follow lowerdir"},
		{in: "datadir+=d1,lowerdir+=l1", errno: syscall.EINVAL, errText: "cannot follow data"},
		{in: "lowerdir+=", errno: syscall.EINVAL, errText: `option "lowerdir+": bad value`},
		{in: "upperdir=", errno: syscall.EINVAL, errText: `option "upperdir": bad value`},
		{in: "workdir", errno: syscall.EINVAL, errText: `option "workdir": missing value`},
		{in: `upperdir=\`, errno: syscall.EINVAL, errText: "empty path"},
		{in: "index=maybe", errno: syscall.EINVAL, errText: `overlay: option "index": bad value "maybe"`},
		{in: "index=ON", errno: syscall.EINVAL, errText: `bad value "ON"`},
		{in: "index", errno: syscall.EINVAL, errText: `option "index": missing value`},
		{in: "index=", errno: syscall.EINVAL, errText: `option "index": bad value ""`},
		{in: `index=o\,n`, errno: syscall.EINVAL, errText: `bad value "o\\,n"`},
		{in: "redirect_dir=yes", errno: syscall.EINVAL, errText: `option "redirect_dir": bad value`},
		{in: "nfs_export=1", errno: syscall.EINVAL, errText: `option "nfs_export": bad value`},
		{in: "metacopy=true", errno: syscall.EINVAL, errText: `option "metacopy": bad value`},
		{in: "xino=nope", errno: syscall.EINVAL, errText: `option "xino": bad value`},
		{in: "uuid=maybe", errno: syscall.EINVAL, errText: `option "uuid": bad value`},
		{in: "fsync=ordered", errno: syscall.EINVAL, errText: `option "fsync": bad value`},
		{in: "verity=yes", errno: syscall.EINVAL, errText: `option "verity": bad value`},
		{in: "volatile=1", errno: syscall.EINVAL, errText: `option "volatile": unexpected value "1"`},
		{in: "userxattr=", errno: syscall.EINVAL, errText: `option "userxattr": unexpected value`},
		{in: "default_permissions=on", errno: syscall.EINVAL, errText: "unexpected value"},
		{in: "override_creds=on", errno: syscall.EINVAL, errText: "unexpected value"},
		{in: "nooverride_creds=off", errno: syscall.EINVAL, errText: "unexpected value"},
		{in: "frobnicate", errno: syscall.EINVAL, errText: `option "frobnicate": unknown parameter`},
		{in: "Index=on", errno: syscall.EINVAL, errText: "unknown parameter"},
		{in: "source=x", errno: syscall.EINVAL, errText: "unknown parameter"},
		{in: "noindex", errno: syscall.EINVAL, errText: "unknown parameter"},
		{in: "ro", errno: syscall.EINVAL, errText: "not supported"},
		{in: "lowerdir=l1\x00", errno: syscall.EINVAL, errText: "NUL"},

		// Paths that are not directories: DirLayer's error, naming the option.
		{in: "lowerdir=l1:nonexistent", errno: syscall.ENOENT, errText: `option "lowerdir"`},
		{in: "upperdir=nonexistent", errno: syscall.ENOENT, errText: `option "upperdir"`},
		{in: "workdir=nonexistent", errno: syscall.ENOENT, errText: `option "workdir"`},
		{in: "lowerdir+=nonexistent", errno: syscall.ENOENT, errText: `option "lowerdir+"`},
		{in: "datadir+=nonexistent", errno: syscall.ENOENT, errText: `option "datadir+"`},
		{in: `lowerdir+=l\,c`, errno: syscall.ENOENT}, // the backslash stays in a lowerdir+ path
		{in: "lowerdir=file", errno: syscall.ENOTDIR},
	} {
		o, err := ParseOptions(c.in)
		if c.errno != nil {
			var oe *OptionError
			if err == nil {
				t.Errorf("ParseOptions(%q) = %+v, want error %v", c.in, summarize(dir, o), c.errno)
				o.closeLayers()
			} else if !errors.Is(err, c.errno) || !errors.As(err, &oe) || !strings.Contains(err.Error(), c.errText) {
				t.Errorf("ParseOptions(%q) error = %q (%#v), want *OptionError wrapping %v containing %q", c.in, err, err, c.errno, c.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOptions(%q) error: %v", c.in, err)
			continue
		}
		if got := summarize(dir, o); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseOptions(%q) =\n%+v, want\n%+v", c.in, got, c.want)
		}
		o.closeLayers()
	}
}

func TestParseOptionsTooMany(t *testing.T) {
	parseFixture(t)
	list := strings.Repeat("l1:", MaxLowerLayers) + "l2"
	if _, err := ParseOptions("lowerdir=" + list); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "limit is 500") {
		t.Errorf("501 lowerdirs: %v, want EINVAL limit is 500", err)
	}
	s := strings.Repeat("lowerdir+=l1,", MaxLowerLayers-1) + "datadir+=d1"
	o, err := ParseOptions(s)
	if err != nil || len(o.Lower)+len(o.DataOnly) != MaxLowerLayers {
		t.Fatalf("500 layers: %d+%d, %v", len(o.Lower), len(o.DataOnly), err)
	}
	o.closeLayers()
	if _, err := ParseOptions(s + ",datadir+=d2"); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "limit is 500") {
		t.Errorf("501 layers: %v, want EINVAL limit is 500", err)
	}
}

// openFDs counts the open file descriptors of the process (-1 where that
// cannot be seen).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func TestParseOptionsClosesLayers(t *testing.T) {
	parseFixture(t)
	before := openFDs()
	if before < 0 {
		testskip.Skip(t, "no /proc/self/fd")
	}
	for _, s := range []string{
		"lowerdir=l1:l2:l3,upperdir=u,workdir=w,index=bad",
		"lowerdir=l1:l2:nonexistent",
		"lowerdir=l1,upperdir=u,upperdir=u2,workdir=w,lowerdir+=l2",
		"lowerdir+=l1,datadir+=d1,lowerdir+=l2",
	} {
		if _, err := ParseOptions(s); err == nil {
			t.Fatalf("ParseOptions(%q) succeeded", s)
		}
	}
	o, err := ParseOptions("lowerdir=l1:l2,lowerdir=l3,upperdir=u,upperdir=u2,workdir=w,workdir=w2")
	if err != nil {
		t.Fatal(err)
	}
	o.closeLayers()
	if after := openFDs(); after != before {
		t.Errorf("open descriptors: %d before, %d after", before, after)
	}
}

func TestOptionsStringRoundTrip(t *testing.T) {
	dir := parseFixture(t)
	for _, c := range []struct{ in, want string }{
		{"lowerdir=l1:l2", "lowerdir=$/l1:$/l2,redirect_dir=on"},
		{"lowerdir=l1,upperdir=u,workdir=w", "lowerdir=$/l1,upperdir=$/u,workdir=$/w"},
		{`lowerdir=l\:c:l\,c::d1,upperdir=u,workdir=w`, `lowerdir=$/l\:c:$/l\,c::$/d1,upperdir=$/u,workdir=$/w`},
		{`lowerdir+=l\b,lowerdir+=l1`, `lowerdir=$/l\\b:$/l1,redirect_dir=on`},
		{"lowerdir=l1,upperdir=u,workdir=w,metacopy=on", "lowerdir=$/l1,upperdir=$/u,workdir=$/w,redirect_dir=on,metacopy=on"},
		{"lowerdir=l1,upperdir=u,workdir=w,nfs_export=on", "lowerdir=$/l1,upperdir=$/u,workdir=$/w,index=on,nfs_export=on"},
		{"lowerdir=l1,upperdir=u,workdir=w,redirect_dir=off,index=off,uuid=auto,xino=off", "lowerdir=$/l1,upperdir=$/u,workdir=$/w"},
		{"lowerdir=l1,upperdir=u,workdir=w,userxattr,fsync=strict,verity=on,uuid=null,xino=auto,default_permissions",
			"lowerdir=$/l1,upperdir=$/u,workdir=$/w,default_permissions,redirect_dir=nofollow,uuid=null,xino=auto,fsync=strict,userxattr,verity=on"},
		{"lowerdir=l1,upperdir=u,workdir=w,volatile,nooverride_creds", "lowerdir=$/l1,upperdir=$/u,workdir=$/w,fsync=volatile,nooverride_creds"},
		{"lowerdir=l1:l2,uuid=on,volatile,index=on", "lowerdir=$/l1:$/l2,redirect_dir=on,uuid=null"},
		{"lowerdir=l1:l2,nfs_export=on,redirect_dir=nofollow", "lowerdir=$/l1:$/l2,redirect_dir=nofollow,nfs_export=on"},
		// Conflicting options show as given.
		{"lowerdir=l1,upperdir=u,workdir=w,metacopy=on,redirect_dir=off", "lowerdir=$/l1,upperdir=$/u,workdir=$/w,redirect_dir=off,metacopy=on"},
	} {
		o, err := ParseOptions(c.in)
		if err != nil {
			t.Errorf("ParseOptions(%q): %v", c.in, err)
			continue
		}
		want := strings.ReplaceAll(c.want, "$", dir)
		got := o.String()
		o.closeLayers()
		if got != want {
			t.Errorf("ParseOptions(%q).String() =\n%s, want\n%s", c.in, got, want)
			continue
		}
		o2, err := ParseOptions(got)
		if err != nil {
			t.Errorf("ParseOptions(%q): %v", got, err)
			continue
		}
		if got2 := o2.String(); got2 != got {
			t.Errorf("round trip of %q gives %q", got, got2)
		}
		o2.closeLayers()
	}
	mem := &Layer{desc: "memory"}
	if got, want := (Options{Lower: []*Layer{mem}, Upper: mem}).String(), "lowerdir=memory,upperdir=memory"; got != want {
		t.Errorf("String of memory layers = %q, want %q", got, want)
	}
}
