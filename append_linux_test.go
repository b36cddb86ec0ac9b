package overlay_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-overlay/overlay"
)

// appendUppersOS adds a native upper: a DirLayer over a directory on disk
// (with userxattr when not root, as an unprivileged user mounts).
func appendUppersOS() []appendUpper {
	return []appendUpper{{name: "native", links: true, mk: func(t *testing.T, initial []byte) *overlay.FS {
		dir := t.TempDir()
		for _, d := range []string{"lower/lower", "upper", "work"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o777); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "lower/lower/f"), initial, 0o666); err != nil {
			t.Fatal(err)
		}
		opts := "lowerdir=" + dir + "/lower,upperdir=" + dir + "/upper,workdir=" + dir + "/work"
		if os.Geteuid() != 0 {
			opts += ",userxattr"
		}
		o, err := overlay.ParseOptions(opts)
		if err != nil {
			t.Fatal(err)
		}
		ofs, err := overlay.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ofs.Close() })
		return ofs
	}}}
}
