package layertest

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// KernelAvailable reports whether this process can mount the kernel's
// overlayfs: it must be root and "overlay" must be listed in
// /proc/filesystems. When not, why says which condition failed.
func KernelAvailable() (ok bool, why string) {
	if os.Geteuid() != 0 {
		return false, "kernel overlayfs tests need root"
	}
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false, "cannot read /proc/filesystems: " + err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[len(fields)-1] == "overlay" {
			return true, ""
		}
	}
	return false, `"overlay" is not in /proc/filesystems`
}

// Mount mounts the kernel's overlayfs with the given lower dirs (top-most
// first), upper and work dirs (both "" for a read-only mount) and extra
// options (appended after a comma when not empty), on a fresh directory
// that it returns. The mount is removed in t.Cleanup (lazily if busy);
// Unmount may remove it earlier.
func Mount(t testing.TB, lowers []string, upper, work string, opts string) (mergedDir string) {
	t.Helper()
	data := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		data += ",upperdir=" + upper + ",workdir=" + work
	}
	if opts != "" {
		data += "," + opts
	}
	merged := filepath.Join(t.TempDir(), "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, data); err != nil {
		t.Fatalf("mount -t overlay -o %s: %v", data, err)
	}
	t.Cleanup(func() {
		if err := Unmount(merged); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
		}
	})
	return merged
}

// Unmount unmounts the overlay at dir, lazily (MNT_DETACH) when it is busy.
// Unmounting a directory that is not a mount point is not an error.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EINVAL) {
		return nil // not (or no longer) a mount point
	}
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	return err
}
