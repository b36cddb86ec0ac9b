package overlay

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// ckBuilders are the layer kinds the fsck cases run on: in memory, and as
// root on host dirs (native layers), where trusted.* xattrs can be set.
func ckBuilders() map[string]ckBuilder {
	b := map[string]ckBuilder{"mem": memBuilder}
	if os.Geteuid() == 0 {
		b["native"] = dirBuilder
	}
	return b
}

// hostDir is a host dir as a ckFS.
type hostDir string

func (h hostDir) p(name string) string { return filepath.Join(string(h), name) }

func (h hostDir) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(h.p(name), perm) }
func (h hostDir) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return os.WriteFile(h.p(name), data, perm)
}
func (h hostDir) Mknod(name string, mode uint32, dev uint64) error {
	return unix.Mknod(h.p(name), mode, int(dev))
}
func (h hostDir) Setxattr(name, attr string, value []byte) error {
	return unix.Lsetxattr(h.p(name), attr, value, 0)
}
func (h hostDir) Getxattr(name, attr string) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(h.p(name), attr, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
func (h hostDir) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(h.p(name)) }

func dirBuilder(t *testing.T, n int) ([]ckFS, ckFS, []*Layer, *Layer, *Layer) {
	dir := t.TempDir()
	open := func(name string) (hostDir, *Layer) {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := DirLayer(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return hostDir(p), l
	}
	var lowers []ckFS
	var lo []*Layer
	for i := range n {
		h, l := open("lower" + strconv.Itoa(i+1))
		lowers, lo = append(lowers, h), append(lo, l)
	}
	u, up := open("upper")
	_, work := open("work")
	return lowers, u, lo, up, work
}
