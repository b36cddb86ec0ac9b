package testskip

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs with the mount options opts (such as "size=16m")
// at dir, unmounted when t ends; where it cannot (not root), t is skipped
// with the reason.
func Tmpfs(t testing.TB, dir, opts string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		Skip(t, "cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// TmpfsLayers mounts a 16 MiB tmpfs at a new temp dir (as Tmpfs) and
// makes in it the dirs of an overlay: the lower l (with a dir l/d), the
// upper u, the work dir w and the mount point m.
func TmpfsLayers(t testing.TB) (l, u, w, m string) {
	t.Helper()
	root := t.TempDir()
	Tmpfs(t, root, "size=16m")
	l, u, w, m = filepath.Join(root, "l"), filepath.Join(root, "u"), filepath.Join(root, "w"), filepath.Join(root, "m")
	for _, d := range []string{filepath.Join(l, "d"), u, w, m} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return l, u, w, m
}
