//go:build linux

package overlay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/testskip"
)

// appearsIn reports whether path p is written in the option string s:
// literally (lowerdir+=, datadir+=) or with backslash escapes (lowerdir=,
// upperdir=, workdir=).
func appearsIn(s, p string) bool {
	if p == "" {
		return false
	}
	if strings.Contains(s, p) {
		return true
	}
	for start := range len(s) {
		j, k := start, 0
		for k < len(p) && j < len(s) {
			if s[j] == '\\' {
				j++
				if j == len(s) {
					break
				}
			}
			if s[j] != p[k] {
				break
			}
			j++
			k++
		}
		if k == len(p) {
			return true
		}
	}
	return false
}

// FuzzParseOptions checks that ParseOptions never panics, opens layers
// only at paths written in its input, leaves no layer open on error, and
// that what it accepts renders (String) to a string that parses back to
// the same overlay.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		"lowerdir=l1:l2,upperdir=u,workdir=w",
		`lowerdir=l\:c:l2::d1::d2,index=on,nfs_export=on`,
		`lowerdir+=l1,lowerdir+=l\b,datadir+=d1,redirect_dir=nofollow,userxattr`,
		"lowerdir=l1,upperdir=u,workdir=w,metacopy=on,redirect_dir=off,volatile",
		`lowerdir=l1,upperdir=u\,x,workdir=w,,=x,xino=auto,uuid=null,fsync=strict,verity=require`,
		"lowerdir=:l1", "lowerdir=l1:::l2", "lowerdir=l1:", "index", "volatile=1", "frob",
		"lowerdir=l1,lowerdir+=l2", "lowerdir=l1:l1/sub", "lowerdir=../l1:/",
	} {
		f.Add(s)
	}
	dir, err := filepath.EvalSymlinks(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range []string{"l1", "l2", "d1", "d2", "u", "w", "l:c", `l\b`, "u,x", "l1/sub"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	f.Chdir(dir)

	var opened map[*Layer]string
	openDirLayer = func(p string) (*Layer, error) {
		l, err := DirLayer(p)
		if err == nil {
			opened[l] = p
		}
		return l, err
	}
	f.Cleanup(func() { openDirLayer = DirLayer })

	f.Fuzz(func(t *testing.T, s string) {
		opened = map[*Layer]string{}
		fds := openFDs()
		o, err := ParseOptions(s)
		if err != nil {
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("ParseOptions(%q): error %#v is not an *OptionError", s, err)
			}
			if after := openFDs(); after != fds {
				t.Fatalf("ParseOptions(%q) failed (%v) leaving %d descriptors open", s, err, after-fds)
			}
			return
		}
		defer o.closeLayers()
		for _, l := range append(append(append([]*Layer{}, o.Lower...), o.DataOnly...), o.Upper, o.Work) {
			if l == nil {
				continue
			}
			p, ok := opened[l]
			if !ok {
				t.Fatalf("ParseOptions(%q) returned a layer it did not open: %v", s, l)
			}
			if !appearsIn(s, p) {
				t.Fatalf("ParseOptions(%q) opened %q, which is not in the input", s, p)
			}
		}
		if len(o.Lower)+len(o.DataOnly) > MaxLowerLayers {
			t.Fatalf("ParseOptions(%q) returned %d lower layers", s, len(o.Lower)+len(o.DataOnly))
		}
		_, rerr := o.resolve()
		verr := o.validateLayers()
		str := o.String()
		if rerr != nil || verr != nil {
			return
		}
		o2, err := ParseOptions(str)
		if err != nil {
			t.Fatalf("ParseOptions(%q).String() = %q, which fails: %v", s, str, err)
		}
		defer o2.closeLayers()
		if str2 := o2.String(); str2 != str {
			t.Fatalf("ParseOptions(%q): String %q parses back to %q", s, str, str2)
		}
	})
}

// TestParseOptionsKernel mounts the kernel's overlayfs with option strings
// and checks that ParseOptions, resolve and validateLayers accept exactly
// those the kernel accepts.
func TestParseOptionsKernel(t *testing.T) {
	fsys, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(fsys), "\toverlay\n") {
		testskip.Skip(t, "overlay is not in /proc/filesystems")
	}
	dir := parseFixture(t)
	target := filepath.Join(dir, "mnt")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("overlay", target, "overlay", 0, "lowerdir=l1:l2"); err != nil {
		testskip.Skip(t, "cannot mount overlay here: %v", err)
	}
	syscall.Unmount(target, 0)

	for _, s := range []string{
		"lowerdir=l1:l2",
		"lowerdir=l1",
		"lowerdir=l1,upperdir=u",
		"lowerdir=l1,upperdir=u,workdir=w",
		`lowerdir=l\:c:l\,c::d1::d2`,
		`lowerdir=l1\\b`,
		`lowerdir+=l\b,lowerdir+=l1`,
		`lowerdir+=l\,c,lowerdir+=l1`,
		"lowerdir+=l1,datadir+=d1",
		"datadir+=d1,lowerdir+=l1",
		"datadir+=d1,datadir+=d2",
		"lowerdir=l1::d1:l2",
		"lowerdir=l1:::d1", "lowerdir=l1:", `lowerdir=l1:\`, "lowerdir=:l1",
		"lowerdir=l1,lowerdir+=l2",
		"lowerdir=l1:l2,lowerdir=",
		"lowerdir+=l1,lowerdir+=l2,lowerdir=l3:l1",
		"lowerdir=l1:l2,,=x,",
		"lowerdir=l1:l2,index", "lowerdir=l1:l2,index=ON", "lowerdir=l1:l2,Index=on",
		"lowerdir=l1:l2,volatile=1", "lowerdir=l1:l2,userxattr=", "lowerdir=l1:l2,frob", "lowerdir=l1:l2,source=x",
		"lowerdir=l1:l2,rw,lazytime",
		"lowerdir=l1:l2,upperdir=",
		"lowerdir=l1:l2,workdir=nonexistent",
		"lowerdir=l1:l2,fsync=ordered",
		"lowerdir=l1,upperdir=u,workdir=w,metacopy=on",
		"lowerdir=l1,upperdir=u,workdir=w,metacopy=on,redirect_dir=off",
		"lowerdir=l1,upperdir=u,workdir=w,metacopy=on,redirect_dir=nofollow",
		"lowerdir=l1:l2,metacopy=on,redirect_dir=follow",
		"lowerdir=l1:l2,metacopy=on,redirect_dir=nofollow",
		"lowerdir=l1,upperdir=u,workdir=w,nfs_export=on",
		"lowerdir=l1,upperdir=u,workdir=w,nfs_export=on,index=off",
		"lowerdir=l1,upperdir=u,workdir=w,nfs_export=on,metacopy=on",
		"lowerdir=l1:l2,nfs_export=on,index=off",
		"lowerdir=l1:l2,nfs_export=on,index=off,redirect_dir=nofollow",
		"lowerdir=l1,upperdir=u,workdir=w,userxattr",
		"lowerdir=l1,upperdir=u,workdir=w,userxattr,redirect_dir=on",
		"lowerdir=l1,upperdir=u,workdir=w,userxattr,redirect_dir=off",
		"lowerdir=l1,upperdir=u,workdir=w,userxattr,redirect_dir=nofollow,metacopy=off",
		"lowerdir=l1,upperdir=u,workdir=w,userxattr,metacopy=on",
		"lowerdir=l1:l2,userxattr,redirect_dir=follow",
		"lowerdir=l1,upperdir=u,workdir=w,verity=require,nfs_export=on,xino=auto,uuid=off",
		"lowerdir=l1,upperdir=u,workdir=u/sub",
		"lowerdir=l1,upperdir=w/sub,workdir=w",
		"lowerdir=l1,upperdir=l1/sub,workdir=w",
		"lowerdir=l1:l1",
		"lowerdir=l1:l1/sub",
		"lowerdir=u/sub,upperdir=u,workdir=w",
		"lowerdir=w,upperdir=u,workdir=w",
		"lowerdir=l1,upperdir=l1,workdir=w",
		"lowerdir=l1,upperdir=u,workdir=w,volatile",
	} {
		kerr := syscall.Mount("overlay", target, "overlay", 0, s)
		if kerr == nil {
			if err := syscall.Unmount(target, 0); err != nil {
				t.Fatalf("unmount after %q: %v", s, err)
			}
		}
		// A volatile mount leaves work/incompat behind, which would make
		// the kernel refuse the next mount.
		os.RemoveAll(filepath.Join(dir, "w", "work"))

		o, err := ParseOptions(s)
		if err == nil {
			if _, err = o.resolve(); err == nil {
				err = o.validateLayers()
			}
			o.closeLayers()
		}
		if (err == nil) != (kerr == nil) {
			t.Errorf("%q: kernel: %v; library: %v", s, kerr, err)
		} else if kerr != nil && !errors.Is(err, kerr) && !(kerr == syscall.EINVAL && errors.Is(err, syscall.ENOTDIR)) {
			t.Logf("%q: kernel fails with %v, library with %v", s, kerr, err)
		}
	}
}
