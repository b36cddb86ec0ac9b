package layertest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"

	"github.com/go-overlay/overlay"
)

// A DumpOption changes what a dump shows.
type DumpOption func(*dumpConfig)

type dumpConfig struct {
	ignoreXattr     map[string]bool
	noDirSize       bool
	noDirNlink      bool
	noWhiteoutNlink bool
	noXattrs        bool
	ino             bool
}

// IgnoreXattrs leaves the named xattrs out of a dump.
func IgnoreXattrs(names ...string) DumpOption {
	return func(c *dumpConfig) {
		for _, n := range names {
			c.ignoreXattr[n] = true
		}
	}
}

// IgnoreBookkeeping leaves out the private xattrs the kernel writes as a
// side effect (origin, impure, uuid; with both prefixes), the library's
// feature set (which the kernel does not write) and the link count
// of whiteouts (the kernel hard-links all whiteouts of a mount to one inode
// in its work dir). For comparing upper layers.
func IgnoreBookkeeping() DumpOption {
	return func(c *dumpConfig) {
		for _, p := range []string{"trusted.overlay.", "user.overlay."} {
			for _, s := range []string{"origin", "impure", "uuid", "feature"} {
				c.ignoreXattr[p+s] = true
			}
		}
		c.noWhiteoutNlink = true
	}
}

// Portable leaves out what differs between layer backends without being
// overlay semantics: directory sizes and directory link counts.
func Portable() DumpOption {
	return func(c *dumpConfig) { c.noDirSize, c.noDirNlink = true, true }
}

// WithIno adds every object's st_ino to a dump (only comparable between
// views of the same dirs).
func WithIno() DumpOption {
	return func(c *dumpConfig) { c.ino = true }
}

// NoXattrs leaves all xattrs out of a dump (for backends without them).
func NoXattrs() DumpOption {
	return func(c *dumpConfig) { c.noXattrs = true }
}

func newConfig(opts []DumpOption) *dumpConfig {
	c := &dumpConfig{ignoreXattr: map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// smallFile is the size up to which a dump shows file content verbatim;
// larger files are shown by hash.
const smallFile = 64

// record is what a dump says about one entry.
type record struct {
	path   string
	err    error // lstat failed (a name listed but not stat-able)
	mode   uint32
	size   int64
	nlink  uint64
	uid    uint32
	gid    uint32
	rdev   uint64
	ino    uint64
	target string
	data   []byte
	xattrs map[string][]byte
	xerr   error
	derr   error // reading data or target failed
}

func (r *record) line(c *dumpConfig) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(r.path))
	if r.err != nil {
		fmt.Fprintf(&b, " ? %s", ErrString(r.err))
		return b.String()
	}
	typ := r.mode & syscall.S_IFMT
	fmt.Fprintf(&b, " %s %04o", typeLetter(typ), r.mode&0o7777)
	isDir := typ == syscall.S_IFDIR
	isWh := typ == syscall.S_IFCHR && r.rdev == 0
	if !(isDir && c.noDirSize) {
		fmt.Fprintf(&b, " size=%d", r.size)
	}
	if !(isDir && c.noDirNlink) && !(isWh && c.noWhiteoutNlink) {
		fmt.Fprintf(&b, " nlink=%d", r.nlink)
	}
	fmt.Fprintf(&b, " uid=%d gid=%d", r.uid, r.gid)
	if c.ino {
		fmt.Fprintf(&b, " ino=%d", r.ino)
	}
	if typ == syscall.S_IFCHR || typ == syscall.S_IFBLK {
		fmt.Fprintf(&b, " rdev=%#x", r.rdev)
	}
	if typ == syscall.S_IFLNK {
		fmt.Fprintf(&b, " -> %q", r.target)
	}
	if typ == syscall.S_IFREG {
		fmt.Fprintf(&b, " %s", DataString(r.data))
	}
	if r.derr != nil {
		fmt.Fprintf(&b, " read:%s", ErrString(r.derr))
	}
	if c.noXattrs {
		return b.String()
	}
	if r.xerr != nil {
		fmt.Fprintf(&b, " listxattr:%s", ErrString(r.xerr))
	}
	var names []string
	for n := range r.xattrs {
		if !c.ignoreXattr[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, " x:%s=%s", n, hex.EncodeToString(r.xattrs[n]))
	}
	return b.String()
}

// DataString renders file content for dumps and op results: small content
// quoted, larger content by length and hash.
func DataString(data []byte) string {
	if len(data) <= smallFile {
		return strconv.Quote(string(data))
	}
	h := sha256.Sum256(data)
	return fmt.Sprintf("len=%d,sha256:%s", len(data), hex.EncodeToString(h[:8]))
}

func typeLetter(typ uint32) string {
	switch typ {
	case syscall.S_IFDIR:
		return "d"
	case syscall.S_IFREG:
		return "f"
	case syscall.S_IFLNK:
		return "l"
	case syscall.S_IFCHR:
		return "c"
	case syscall.S_IFBLK:
		return "b"
	case syscall.S_IFIFO:
		return "p"
	case syscall.S_IFSOCK:
		return "s"
	}
	return "?"
}

// ErrString renders an error by its errno name (ENOENT), "EOF" for io.EOF,
// or, for an error without an errno, its Go type and text.
func ErrString(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return ErrnoName(errno)
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	return fmt.Sprintf("non-errno(%T: %v)", err, err)
}

// finish renders records sorted by path.
func finish(recs []*record, c *dumpConfig) string {
	sort.Slice(recs, func(i, j int) bool { return recs[i].path < recs[j].path })
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.line(c))
		b.WriteByte('\n')
	}
	return b.String()
}

// DumpFS dumps the tree under root ("/" for all) of an overlay through the
// library's API, in the same format as DumpDir. Entries are named relative
// to root ("." is root itself).
func DumpFS(fsys *overlay.FS, root string, opts ...DumpOption) (string, error) {
	c := newConfig(opts)
	var recs []*record
	var walk func(rel string) error
	walk = func(rel string) error {
		name := path.Join(root, rel)
		r := &record{path: rel}
		recs = append(recs, r)
		fi, err := fsys.Lstat(name)
		if err != nil {
			r.err = err
			return nil
		}
		fillStat(r, fi)
		switch r.mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			r.target, r.derr = fsys.Readlink(name)
			return nil // xattrs of symlinks are not dumped
		case syscall.S_IFREG:
			r.data, r.derr = readAll(fsys, name)
		}
		names, err := fsys.Listxattr(name)
		if err != nil {
			r.xerr = err
		} else {
			r.xattrs = map[string][]byte{}
			for _, n := range names {
				v, err := fsys.Getxattr(name, n)
				if err != nil {
					v = []byte("getxattr:" + ErrString(err))
				}
				r.xattrs[n] = v
			}
		}
		if r.mode&syscall.S_IFMT != syscall.S_IFDIR {
			return nil
		}
		ents, err := fsys.ReadDir(name)
		if err != nil {
			r.derr = err
			return nil
		}
		for _, e := range ents {
			if err := walk(path.Join(rel, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("."); err != nil {
		return "", err
	}
	return finish(recs, c), nil
}

func readAll(fsys *overlay.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// fillStat copies the stat fields of fi into r.
func fillStat(r *record, fi fs.FileInfo) {
	if st, ok := statT(fi); ok {
		r.mode, r.nlink, r.uid, r.gid, r.rdev, r.ino = st.mode, st.nlink, st.uid, st.gid, st.rdev, st.ino
	} else {
		r.mode = RawMode(fi.Mode())
		r.nlink = 1
	}
	r.size = fi.Size()
}

// RawMode converts an fs.FileMode to a raw st_mode.
func RawMode(m fs.FileMode) uint32 {
	v := layer.RawPerm(m)
	switch {
	case m.IsDir():
		v |= syscall.S_IFDIR
	case m&fs.ModeSymlink != 0:
		v |= syscall.S_IFLNK
	case m&fs.ModeCharDevice != 0:
		v |= syscall.S_IFCHR
	case m&fs.ModeDevice != 0:
		v |= syscall.S_IFBLK
	case m&fs.ModeNamedPipe != 0:
		v |= syscall.S_IFIFO
	case m&fs.ModeSocket != 0:
		v |= syscall.S_IFSOCK
	default:
		v |= syscall.S_IFREG
	}
	return v
}

// StatInfo is the part of a FileInfo that tests compare.
type StatInfo struct {
	Mode  uint32 // raw st_mode
	Nlink uint64
	UID   uint32
	GID   uint32
	Rdev  uint64
	Size  int64
}

// Stat extracts StatInfo from fi (through its *syscall.Stat_t where the
// platform has one).
func Stat(fi fs.FileInfo) StatInfo {
	var r record
	fillStat(&r, fi)
	return StatInfo{Mode: r.mode, Nlink: r.nlink, UID: r.uid, GID: r.gid, Rdev: r.rdev, Size: r.size}
}

// TypeLetter names the file type of a raw st_mode: d f l c b p s.
func TypeLetter(mode uint32) string { return typeLetter(mode & syscall.S_IFMT) }
