//go:build linux

package overlay_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
)

// bigXattrNames are n user xattr names of 251 bytes (252 with the NUL
// listxattr(2) puts after each): 260 fit in its 64 KiB (XATTR_LIST_MAX),
// 300 do not (E2BIG).
func bigXattrNames(n int) []string {
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("user.%03d", i)+strings.Repeat("x", 242))
	}
	return names
}

// TestCopyUpBigXattrListKernel: a lower file whose xattr names fill
// almost 64 KiB copies up with all of them on both sides; one whose names
// exceed 64 KiB in total is another matter. The kernel lists them for the copy-up inside the
// kernel, where the limit does not apply, and copies every one; through
// its mount, listxattr fails E2BIG. No process can list such a file's
// names (listxattr, flistxattr and listxattrat all stop at 64 KiB), so
// the library fails the copy-up with E2BIG and leaves no partial copy
// (doc.go), and its Listxattr fails E2BIG as the kernel's. On a tmpfs,
// which takes that many xattrs (ext4 keeps them in one block).
func TestCopyUpBigXattrListKernel(t *testing.T) {
	requireKernel(t)
	for _, n := range []int{260, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { testCopyUpBigXattrList(t, n) })
	}
}

func testCopyUpBigXattrList(t *testing.T, nnames int) {
	fits := nnames*252 <= 1<<16
	root := t.TempDir()
	testskip.Tmpfs(t, root, "size=16m")
	for _, d := range []string{"l", "ku", "kw", "lu", "lw"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lf := filepath.Join(root, "l/f")
	if err := os.WriteFile(lf, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := bigXattrNames(nnames)
	for i, n := range names {
		if err := unix.Setxattr(lf, n, []byte(fmt.Sprint(i)), 0); err != nil {
			testskip.Skip(t, "tmpfs here takes no %d user xattrs: %v", len(names), err)
		}
	}
	countIn := func(p string) int {
		got := 0
		buf := make([]byte, 16)
		for i, n := range names {
			if k, err := unix.Lgetxattr(p, n, buf); err == nil && string(buf[:k]) == fmt.Sprint(i) {
				got++
			}
		}
		return got
	}

	// Kernel: the copy-up copies all of them.
	mnt := layertest.Mount(t, []string{filepath.Join(root, "l")}, filepath.Join(root, "ku"), filepath.Join(root, "kw"), "")
	_, kList := unix.Listxattr(filepath.Join(mnt, "f"), make([]byte, 1<<16))
	kChmod := os.Chmod(filepath.Join(mnt, "f"), 0o600)
	if err := layertest.Unmount(mnt); err != nil {
		t.Fatal(err)
	}
	if wantList := map[bool]error{true: nil, false: unix.E2BIG}[fits]; kList != wantList || kChmod != nil {
		t.Fatalf("kernel: listxattr %v (want %v), chmod %v (want success)", kList, wantList, kChmod)
	}
	if got := countIn(filepath.Join(root, "ku/f")); got != len(names) {
		t.Fatalf("kernel: the upper copy has %d of the %d xattrs", got, len(names))
	}

	// Library.
	o, err := overlay.ParseOptions("lowerdir=" + root + "/l,upperdir=" + root + "/lu,workdir=" + root + "/lw")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if fits {
		if l, err := fsys.Listxattr("f"); err != nil || len(l) != len(names) {
			t.Errorf("library: Listxattr: %d names, %v", len(l), err)
		}
		if err := fsys.Chmod("f", 0o600); err != nil {
			t.Fatalf("library: Chmod (copy-up): %v", err)
		}
		if got := countIn(filepath.Join(root, "lu/f")); got != len(names) {
			t.Errorf("library: the upper copy has %d of the %d xattrs", got, len(names))
		}
		return
	}
	if _, err := fsys.Listxattr("f"); !errors.Is(err, syscall.E2BIG) {
		t.Errorf("library: Listxattr: %v, want E2BIG as the kernel", err)
	}
	if err := fsys.Chmod("f", 0o600); !errors.Is(err, syscall.E2BIG) {
		t.Errorf("library: Chmod (copy-up): %v, want E2BIG (doc.go)", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "lu/f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("library: a failed copy-up left %v in the upper", err)
	}
	if fi, err := fsys.Stat("f"); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("library: after the failed copy-up: %v %v", fi, err)
	}
	if got := countIn(lf); got != len(names) {
		t.Errorf("the lower file lost xattrs: %d of %d", got, len(names))
	}
}
