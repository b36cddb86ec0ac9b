package overlay_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay"
	"golang.org/x/sys/unix"
)

// nativeDirs makes lower, upper and work dirs and returns an overlay over
// them with the options given.
func nativeDirs(t *testing.T, o overlay.Options) (fsys *overlay.FS, lower, upper, work string) {
	t.Helper()
	requireKernel(t)
	dir := t.TempDir()
	lower, upper, work = filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "f"), []byte("lower"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := overlay.ParseOptions("lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work)
	if err != nil {
		t.Fatal(err)
	}
	opts.Fsync, opts.UUID = o.Fsync, o.UUID
	fsys, err = overlay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return fsys, lower, upper, work
}

// TestVolatileMarker checks that fsync=volatile leaves the kernel's
// incompat marker: the kernel then refuses to mount the upper (EINVAL),
// and so does New, until the marker is removed.
func TestVolatileMarker(t *testing.T) {
	fsys, lower, upper, work := nativeDirs(t, overlay.Options{Fsync: overlay.FsyncVolatile})
	if err := os.WriteFile(filepath.Join(upper, "probe"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys.Close()
	if _, err := os.Stat(filepath.Join(work, "work/incompat/volatile/dirty")); err != nil {
		t.Fatalf("no volatile marker: %v", err)
	}
	target := t.TempDir()
	err := unix.Mount("overlay", target, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work)
	if err == nil {
		unix.Unmount(target, unix.MNT_DETACH)
		t.Fatal("the kernel mounted an upper marked volatile")
	}
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("kernel mount: %v, want EINVAL", err)
	}
	o, err := overlay.ParseOptions("lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := overlay.New(o); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("New over a volatile upper: %v, want EINVAL", err)
	}
	// Once the marker is gone both mount it again.
	if err := os.RemoveAll(filepath.Join(work, "work/incompat")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", target, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Fatalf("kernel mount after removing the marker: %v", err)
	}
	unix.Unmount(target, 0)
}

// TestUUIDOnNewUpper checks that New stores a 16-byte overlay uuid on a
// new upper (uuid=auto) and that the kernel's statfs fsid then derives
// from it (§5.6: {u32[0]^u32[2], u32[1]^u32[3]}).
func TestUUIDOnNewUpper(t *testing.T) {
	fsys, lower, upper, work := nativeDirs(t, overlay.Options{})
	fsys.Close()
	id := make([]byte, 64)
	n, err := unix.Getxattr(upper, "trusted.overlay.uuid", id)
	if err != nil || n != 16 {
		t.Fatalf("trusted.overlay.uuid: %d bytes, %v", n, err)
	}
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(id[4*i:]) }
	target := t.TempDir()
	if err := unix.Mount("overlay", target, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(target, 0)
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		t.Fatal(err)
	}
	want := [2]int32{int32(w(0) ^ w(2)), int32(w(1) ^ w(3))}
	if st.Fsid.Val != want {
		t.Errorf("kernel f_fsid %x, want %x from the library's uuid", st.Fsid.Val, want)
	}

	// uuid=null and uuid=off store none.
	for _, m := range []overlay.UUIDMode{overlay.UUIDNull, overlay.UUIDOff} {
		fsys, _, upper, _ := nativeDirs(t, overlay.Options{UUID: m})
		fsys.Close()
		if _, err := unix.Getxattr(upper, "trusted.overlay.uuid", id); !errors.Is(err, unix.ENODATA) {
			t.Errorf("uuid=%v stored a uuid (%v)", m, err)
		}
	}
}
