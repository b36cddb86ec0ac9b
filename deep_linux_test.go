//go:build linux

package overlay_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
)

// deepComp is one component of the deep trees: deepLevels of them make a
// path longer than PATH_MAX (4096 bytes).
var deepComp = strings.Repeat("n", 100)

const deepLevels = 45

// deepPath is the overlay path of name under top, deepLevels dirs down.
func deepPath(top, name string) string {
	return top + "/" + strings.Repeat(deepComp+"/", deepLevels) + name
}

// deepOpen opens name at the bottom of top's chain under root, one
// component at a time (no path string reaches PATH_MAX), with flags for
// the last component.
func deepOpen(t *testing.T, root, top, name string, flags int, perm uint32) (int, error) {
	t.Helper()
	fd, err := unix.Open(filepath.Join(root, top), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for i := 0; i < deepLevels; i++ {
		next, err := unix.Openat(fd, deepComp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	if flags&unix.O_DIRECTORY != 0 && name == "" {
		return fd, nil
	}
	defer unix.Close(fd)
	return unix.Openat(fd, name, flags|unix.O_CLOEXEC, perm)
}

// deepMake builds top's chain under root with a file f of data at the
// bottom and a file mid halfway down.
func deepMake(t *testing.T, root, top, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, top), 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(filepath.Join(root, top), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < deepLevels; i++ {
		if i == deepLevels/2 {
			f, err := unix.Openat(fd, "mid", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(f)
		}
		if err := unix.Mkdirat(fd, deepComp, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, deepComp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "f", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(f)
	if _, err := unix.Write(f, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// deepRead reads the bottom file f of top's chain under root ("ERR errno"
// when it cannot be opened).
func deepRead(t *testing.T, root, top string) string {
	t.Helper()
	fd, err := deepOpen(t, root, top, "f", unix.O_RDONLY, 0)
	if err != nil {
		return "ERR " + err.Error()
	}
	f := os.NewFile(uintptr(fd), "f")
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deepKind describes what root/name is: "none", "whiteout", "dir", ...
func deepKind(root, name string) string {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, name), &st); err != nil {
		return "none"
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
		return "whiteout"
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return "dir"
	}
	return "other"
}

// TestDeepPathsKernel: objects more than PATH_MAX bytes of path below a
// layer's root, in a lower (a) and in the upper (b), through the kernel's
// overlay (reached there by walking one dir at a time) and through the
// library over the same dirs: the same data is read, a write copies the
// deep file up to the same upper bytes, and RemoveAll of both trees
// leaves the same upper (a whiteout for a, nothing for b). The kernel
// refuses a path string of PATH_MAX bytes (ENAMETOOLONG); the library
// takes it (doc.go).
func TestDeepPathsKernel(t *testing.T) {
	requireKernel(t)
	root := t.TempDir()
	lower := filepath.Join(root, "l")
	deepMake(t, lower, "a", "deep lower")
	type side struct{ upper, work string }
	sides := map[string]side{}
	for _, s := range []string{"k", "lib"} {
		sd := side{filepath.Join(root, s+"u"), filepath.Join(root, s+"w")}
		if err := os.MkdirAll(sd.work, 0o755); err != nil {
			t.Fatal(err)
		}
		deepMake(t, sd.upper, "b", "deep upper")
		sides[s] = sd
	}
	type result struct {
		statLong         error
		readA, readB     string
		upperA           string
		removeA, removeB error
		afterA, afterB   string
	}
	var kr, lr result

	// Kernel.
	ks := sides["k"]
	mnt := layertest.Mount(t, []string{lower}, ks.upper, ks.work, "")
	_, kr.statLong = os.Stat(filepath.Join(mnt, deepPath("a", "f")))
	kr.readA, kr.readB = deepRead(t, mnt, "a"), deepRead(t, mnt, "b")
	if fd, err := deepOpen(t, mnt, "a", "f", unix.O_WRONLY|unix.O_APPEND, 0); err != nil {
		t.Fatalf("kernel: open deep file for writing: %v", err)
	} else {
		unix.Write(fd, []byte("+w"))
		unix.Close(fd)
	}
	kr.upperA = deepRead(t, ks.upper, "a")
	kr.removeA, kr.removeB = os.RemoveAll(filepath.Join(mnt, "a")), os.RemoveAll(filepath.Join(mnt, "b"))
	if err := layertest.Unmount(mnt); err != nil {
		t.Fatal(err)
	}
	kr.afterA, kr.afterB = deepKind(ks.upper, "a"), deepKind(ks.upper, "b")

	// Library.
	ls := sides["lib"]
	o, err := overlay.ParseOptions("lowerdir=" + lower + ",upperdir=" + ls.upper + ",workdir=" + ls.work)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	_, lr.statLong = fsys.Stat(deepPath("a", "f"))
	read := func(name string) string {
		f, err := fsys.Open(name)
		if err != nil {
			return "ERR " + errors.Unwrap(err).Error()
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return string(b)
	}
	lr.readA, lr.readB = read(deepPath("a", "f")), read(deepPath("b", "f"))
	if f, err := fsys.OpenFile(deepPath("a", "f"), os.O_WRONLY|os.O_APPEND, 0); err != nil {
		t.Fatalf("library: open deep file for writing: %v", err)
	} else {
		f.Write([]byte("+w"))
		f.Close()
	}
	lr.upperA = deepRead(t, ls.upper, "a")
	lr.removeA, lr.removeB = fsys.RemoveAll("a"), fsys.RemoveAll("b")
	for _, n := range []string{"a", "b"} {
		if _, err := fsys.Lstat(n); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("library: %s after RemoveAll: %v", n, err)
		}
	}
	if err := fsys.Close(); err != nil {
		t.Fatal(err)
	}
	lr.afterA, lr.afterB = deepKind(ls.upper, "a"), deepKind(ls.upper, "b")

	if !errors.Is(kr.statLong, syscall.ENAMETOOLONG) {
		t.Errorf("kernel: stat of a %d-byte path: %v, want ENAMETOOLONG", len(deepPath("a", "f")), kr.statLong)
	}
	if lr.statLong != nil {
		t.Errorf("library: Stat of a %d-byte path: %v", len(deepPath("a", "f")), lr.statLong)
	}
	kr.statLong, lr.statLong = nil, nil
	if kr != lr {
		t.Errorf("kernel and library differ:\nkernel  %+v\nlibrary %+v", kr, lr)
	}
	want := result{readA: "deep lower", readB: "deep upper", upperA: "deep lower+w", afterA: "whiteout", afterB: "none"}
	if kr != want {
		t.Errorf("kernel: %+v, want %+v", kr, want)
	}
}
