package layertest

import (
	"io/fs"
	"testing"

	"github.com/go-overlay/overlay/internal/layer"
)

func TestParse(t *testing.T) {
	s, err := Parse(`
# comment
-- lower2 --
file "a b/ü" "x y" 0600 uid=7
-- upper --
whiteout a/gone
-- lower --
dir a 0700
file a/f "hello"
link a/l -> f
hardlink a/h = a/f
opaque a
xwhiteout a/x
xattr a/f user.k "v v"
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Lowers) != 2 || s.Lowers[0].Name != "lower" || s.Lowers[1].Name != "lower2" || s.Upper == nil {
		t.Fatalf("layers: %+v", s)
	}
	e := s.Lowers[1].Entries[0]
	if e.Kind != File || e.Path != "a b/ü" || e.Data != "x y" || e.Mode != 0o600 || e.UID != 7 || e.GID != -1 {
		t.Errorf("file entry: %+v", e)
	}
	l := s.Lowers[0].Entries
	want := []Entry{
		{Kind: Dir, Path: "a", Mode: 0o700, UID: -1, GID: -1},
		{Kind: File, Path: "a/f", Data: "hello", UID: -1, GID: -1},
		{Kind: Symlink, Path: "a/l", Data: "f", UID: -1, GID: -1},
		{Kind: Hardlink, Path: "a/h", Data: "a/f", UID: -1, GID: -1},
		{Kind: Opaque, Path: "a", UID: -1, GID: -1},
		{Kind: XWhiteout, Path: "a/x", UID: -1, GID: -1},
		{Kind: Xattr, Path: "a/f", Attr: "user.k", Data: "v v", UID: -1, GID: -1},
	}
	if len(l) != len(want) {
		t.Fatalf("got %d entries, want %d", len(l), len(want))
	}
	for i := range want {
		if l[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, l[i], want[i])
		}
	}
	if !s.Uses(Whiteout) || s.Uses(Kind(99)) {
		t.Error("Uses")
	}
	if unixPerm(0o4755) != fs.ModeSetuid|0o755 || layer.RawPerm(fs.ModeSticky|0o777) != 0o1777 {
		t.Error("perm conversions")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"file a",                       // entry before a section
		"-- upper --\n",                // no lower
		"-- lowerx --\nfile a",         // bad section
		"-- lower --\nfrob a",          // unknown kind
		"-- lower --\nfile a 0999",     // bad mode
		"-- lower --\nfile a hello",    // unquoted content
		"-- lower --\nlink a f",        // missing ->
		"-- lower --\nwhiteout a b",    // extra argument
		"-- lower --\nfile / \"x\"",    // the root
		"-- lower --\n-- lower1 --\n",  // duplicate
		"-- lower --\nfile a \"unterm", // bad quoting
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
