package layertest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/go-overlay/overlay/internal/testskip"
)

func TestWriteDirsAndDump(t *testing.T) {
	s := MustParse(`
-- upper --
whiteout a/gone
opaque o
-- lower1 --
dir a
file a/f "hello" 0640
link a/l -> f
hardlink a/h = a/f
xwhiteout a/x
xattr a/f user.k "v"
`)
	for _, ux := range []bool{false, true} {
		if !ux && os.Geteuid() != 0 {
			// user.overlay.* markers and 0/0 whiteouts need no privilege.
			t.Run("trusted", func(t *testing.T) {
				testskip.Skip(t, "trusted.overlay.* markers need root (CAP_SYS_ADMIN)")
			})
			continue
		}
		d, err := WriteDirs(s, t.TempDir(), DirOptions{Userxattr: ux})
		if err != nil {
			t.Fatal(err)
		}
		p := "trusted.overlay."
		if ux {
			p = "user.overlay."
		}
		got, err := DumpDir(d.Lowers[0])
		if err != nil {
			t.Fatal(err)
		}
		want := `"." d 0755 size=4096 nlink=3 uid=0 gid=0
"a" d 0755 size=4096 nlink=2 uid=0 gid=0 x:` + p + `opaque=78
"a/f" f 0640 size=5 nlink=2 uid=0 gid=0 "hello" x:user.k=76
"a/h" f 0640 size=5 nlink=2 uid=0 gid=0 "hello" x:user.k=76
"a/l" l 0777 size=1 nlink=1 uid=0 gid=0 -> "f"
"a/x" f 0644 size=0 nlink=1 uid=0 gid=0 "" x:` + p + `whiteout=79
`
		// Created by this process: owned by it.
		ids := fmt.Sprintf("uid=%d gid=%d", os.Geteuid(), os.Getegid())
		want = strings.ReplaceAll(want, "uid=0 gid=0", ids)
		if got != want {
			t.Errorf("lower dump (userxattr=%v):\n%s\nwant:\n%s", ux, got, want)
		}
		got, err = DumpDir(d.Upper, IgnoreBookkeeping())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, `"a/gone" c 0000 size=0 `+ids+` rdev=0x0`) ||
			!strings.Contains(got, `"o" d 0755 size=4096 nlink=2 `+ids+` x:`+p+`opaque=79`) {
			t.Errorf("upper dump:\n%s", got)
		}
		if d.Work == "" || d.MountOptions() == "" {
			t.Errorf("dirs: %+v", d)
		}
	}
}
