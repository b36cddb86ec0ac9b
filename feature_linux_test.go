package overlay_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/testerrno"
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
// from it ({u32[0]^u32[2], u32[1]^u32[3]}).
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

// TestDataOnlyLayers builds a lower whose files hold metadata only and
// point with absolute redirects into a data-only layer (the composefs
// layout), and compares what the kernel and the library read, stat
// and copy up.
func TestDataOnlyLayers(t *testing.T) {
	requireKernel(t)
	build := func() (lower, data, upper, work string) {
		dir := t.TempDir()
		lower, data, upper, work = filepath.Join(dir, "l"), filepath.Join(dir, "data"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
		for _, d := range []string{lower, upper, work, filepath.Join(data, "blobs")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		blob := []byte("the data of f, kept in a data-only layer\n")
		if err := os.WriteFile(filepath.Join(data, "blobs/f1"), blob, 0o600); err != nil {
			t.Fatal(err)
		}
		meta := func(name, redirect string, size int) {
			p := filepath.Join(lower, name)
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, int64(size)); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]string{"trusted.overlay.metacopy": "", "trusted.overlay.redirect": redirect} {
				if err := unix.Setxattr(p, k, []byte(v), 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		meta("f", "/blobs/f1", len(blob))
		meta("rel", "f1", len(blob))       // relative: refused
		meta("missing", "/blobs/nope", 10) // no data: EIO
		return
	}
	type result struct {
		data  string
		errno syscall.Errno
		mode  os.FileMode
		size  int64
	}
	probe := func(read func(string) ([]byte, error), stat func(string) (os.FileInfo, error)) map[string]result {
		out := map[string]result{}
		for _, n := range []string{"f", "rel", "missing", "blobs"} {
			var r result
			b, err := read(n)
			if err != nil {
				r.errno = testerrno.Of(err)
			}
			r.data = string(b)
			if fi, err := stat(n); err == nil {
				r.mode, r.size = fi.Mode(), fi.Size()
			}
			out[n] = r
		}
		return out
	}
	for _, withUpper := range []bool{false, true} {
		kl, kd, ku, kw := build()
		opts := func(l, d, u, w string) string {
			if !withUpper {
				return "lowerdir=" + l + "::" + d
			}
			return "lowerdir=" + l + "::" + d + ",upperdir=" + u + ",workdir=" + w
		}
		mnt := t.TempDir()
		if err := unix.Mount("overlay", mnt, "overlay", 0, opts(kl, kd, ku, kw)); err != nil {
			t.Fatal(err)
		}
		at := func(n string) string { return filepath.Join(mnt, n) }
		kernel := probe(func(n string) ([]byte, error) { return os.ReadFile(at(n)) }, func(n string) (os.FileInfo, error) { return os.Stat(at(n)) })
		if withUpper {
			if err := os.Chmod(at("f"), 0o600); err != nil { // full copy-up: metacopy is off
				t.Fatal(err)
			}
		}
		unix.Unmount(mnt, 0)

		ll, ld, lu, lw := build()
		o, err := overlay.ParseOptions(opts(ll, ld, lu, lw))
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := overlay.New(o)
		if err != nil {
			t.Fatal(err)
		}
		lib := probe(func(n string) ([]byte, error) { return afero.ReadFile(fsys, n) }, fsys.Stat)
		for n := range kernel {
			if kernel[n] != lib[n] {
				t.Errorf("upper=%v %s: kernel %+v, library %+v", withUpper, n, kernel[n], lib[n])
			}
		}
		if withUpper {
			if err := fsys.Chmod("f", 0o600); err != nil {
				t.Fatal(err)
			}
			kd, _ := os.ReadFile(filepath.Join(ku, "f"))
			ld, _ := os.ReadFile(filepath.Join(lu, "f"))
			if string(kd) != string(ld) || len(ld) == 0 {
				t.Errorf("copy-up from the data layer: kernel's upper %q, library's %q", kd, ld)
			}
		}
		fsys.Close()
	}
}

// TestVerityOnDisk: a metacopy file the library wrote with verity=on (its
// metacopy xattr carrying the fs-verity digest) reads the same through the
// kernel (which, without CONFIG_FS_VERITY, mounts it without verity=).
func TestVerityOnDisk(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	lower, upper, work := filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte(strings.Repeat("digest me\n", 1000))
	if err := os.WriteFile(filepath.Join(lower, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",redirect_dir=on,metacopy=on"
	o, err := overlay.ParseOptions(opts + ",verity=on")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Chmod("f", 0o600); err != nil {
		t.Fatal(err)
	}
	fsys.Close()
	v := make([]byte, 128)
	n, err := unix.Getxattr(filepath.Join(upper, "f"), "trusted.overlay.metacopy", v)
	if err != nil || n != 36 {
		t.Fatalf("metacopy xattr: %d bytes, %v", n, err)
	}
	// No data blocks (ext4 may count one xattr block, 8 sectors).
	if fi, _ := os.Stat(filepath.Join(upper, "f")); fi.Sys().(*syscall.Stat_t).Blocks > 8 {
		t.Errorf("the metacopy upper file has %d blocks", fi.Sys().(*syscall.Stat_t).Blocks)
	}
	mnt := t.TempDir()
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, 0)
	got, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil || string(got) != string(data) {
		t.Fatalf("kernel read of the library's metacopy file: %d bytes, %v", len(got), err)
	}
	if fi, _ := os.Stat(filepath.Join(mnt, "f")); fi.Mode().Perm() != 0o600 {
		t.Errorf("kernel sees mode %v", fi.Mode())
	}
}

// TestDataOnlyMetacopyWrite: with metacopy=on, a chmod of a file whose
// data is in a data-only layer copies its metadata only; a later append
// copies the data up from the data-only layer. Kernel and library must
// read the same bytes after each step.
func TestDataOnlyMetacopyWrite(t *testing.T) {
	requireKernel(t)
	build := func() (lower, data, upper, work string) {
		dir := t.TempDir()
		lower, data, upper, work = filepath.Join(dir, "l"), filepath.Join(dir, "data"), filepath.Join(dir, "u"), filepath.Join(dir, "w")
		for _, d := range []string{lower, upper, work, filepath.Join(data, "blobs")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		blob := []byte("blob data\n")
		if err := os.WriteFile(filepath.Join(data, "blobs/b"), blob, 0o644); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(lower, "f")
		if err := os.WriteFile(p, make([]byte, len(blob)), 0o644); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"trusted.overlay.metacopy": "", "trusted.overlay.redirect": "/blobs/b"} {
			if err := unix.Setxattr(p, k, []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	opts := func(l, d, u, w string) string {
		return "lowerdir=" + l + "::" + d + ",upperdir=" + u + ",workdir=" + w + ",redirect_dir=on,metacopy=on"
	}
	kl, kd, ku, kw := build()
	mnt := t.TempDir()
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts(kl, kd, ku, kw)); err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(mnt, "f")
	var kernel []string
	step := func(out *[]string, read func() ([]byte, error)) {
		b, err := read()
		*out = append(*out, fmt.Sprintf("%q %v", b, err))
	}
	step(&kernel, func() ([]byte, error) { return os.ReadFile(kf) })
	if err := os.Chmod(kf, 0o600); err != nil {
		t.Fatal(err)
	}
	step(&kernel, func() ([]byte, error) { return os.ReadFile(kf) })
	if err := appendTo(kf, "+"); err != nil {
		t.Fatal(err)
	}
	step(&kernel, func() ([]byte, error) { return os.ReadFile(kf) })
	unix.Unmount(mnt, 0)

	ll, ld, lu, lw := build()
	o, err := overlay.ParseOptions(opts(ll, ld, lu, lw))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	var lib []string
	read := func() ([]byte, error) { return afero.ReadFile(fsys, "f") }
	step(&lib, read)
	if err := fsys.Chmod("f", 0o600); err != nil {
		t.Fatal(err)
	}
	step(&lib, read)
	f, err := fsys.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("+"))
	f.Close()
	step(&lib, read)
	if !equalStrings(kernel, lib) {
		t.Errorf("reads after open, chmod, append:\n\tkernel:  %q\n\tlibrary: %q", kernel, lib)
	}
}
