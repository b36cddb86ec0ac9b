package overlay_test

// One table of scenarios run on every backend: the kernel's overlayfs and
// the library over native layers (kernel_diff_test.go), and the library
// over MemFS and afero layers (this file). The table is in
// testdata/scenarios (scenario_load_test.go reads it). A scenario is a
// fixture in the layertest format plus a script of operations, one per
// line:
//
//	open F PATH FLAGS [PERM]   FLAGS: r|w|rw, plus +append +creat +excl +trunc +dir +nofollow
//	read F N | pread F OFF N | readall F | write F DATA | pwrite F OFF DATA
//	seek F OFF WHENCE | fstat F | ftruncate F SIZE | freaddir F N | close F
//	create PATH | writefile PATH DATA [PERM] | appendfile PATH DATA | readfile PATH
//	mkdir PATH [PERM] | mkdirall PATH [PERM] | remove PATH | removeall PATH
//	rename OLD NEW | symlink TARGET NEW | readlink PATH | link OLD NEW
//	truncate PATH SIZE | chmod PATH PERM | chown PATH UID GID
//	chtimes PATH ATIME MTIME (unix seconds, "-" for unchanged) | mtime PATH
//	as UID GID (the ops that follow run with these effective ids)
//	stat PATH | lstat PATH | readdir PATH | readdirinfo PATH | lsdir PATH
//	setxattr PATH NAME VALUE [create|replace] | getxattr PATH NAME
//	listxattr PATH | removexattr PATH NAME | mknod PATH TYPE [MAJOR MINOR]
//
// A line may end in "=> ERRNO" or "=> ok": the result every backend must
// give, optionally followed by SETTING:ERRNO for an option setting where it
// differs ("=> ENODATA userxattr:ok"). Every op records its result (data read, stat essentials, names,
// errno) and the kernel differential test compares them all.
//
// Symlink targets in scenarios are relative and never climb above the
// overlay root: the kernel resolves an absolute or escaping target on the
// host, the library against the overlay root.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/layertest"
)

// target is what a script runs against: *overlay.FS, or the kernel's
// mount point through the os package.
type target interface {
	OpenFile(name string, flag int, perm os.FileMode) (afero.File, error)
	Mkdir(name string, perm os.FileMode) error
	MkdirAll(name string, perm os.FileMode) error
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldname, newname string) error
	Symlink(oldname, newname string) error
	Readlink(name string) (string, error)
	Link(oldname, newname string) error
	Truncate(name string, size int64) error
	Chmod(name string, mode os.FileMode) error
	Chown(name string, uid, gid int) error
	Chtimes(name string, atime, mtime time.Time) error
	Stat(name string) (os.FileInfo, error)
	Lstat(name string) (os.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	Getxattr(name, attr string) ([]byte, error)
	Setxattr(name, attr string, data []byte, flags int) error
	Listxattr(name string) ([]string, error)
	Removexattr(name, attr string) error
	Mknod(name string, mode uint32, dev uint64) error
}

var _ target = (*overlay.FS)(nil)

// scenario is one row of the shared table.
type scenario struct {
	name string
	ro   bool // no upper layer: every write must fail with EROFS
	// kernelFormat marks scenarios about quirks of the kernel's encoding
	// that the OCI encoding cannot express (not run on afero layers).
	kernelFormat bool
	fix          string // layertest fixture
	ops          string // script
}

// stack parses the fixture, adding an empty upper unless the scenario is
// read-only.
func (sc scenario) stack() layertest.Stack {
	s := layertest.MustParse(sc.fix)
	switch {
	case sc.ro && s.Upper != nil:
		panic(sc.name + ": read-only scenario with an upper section")
	case !sc.ro && s.Upper == nil:
		s.Upper = &layertest.Layer{Name: "upper"}
	}
	return s
}

// op is one parsed script line.
type op struct {
	line string
	verb string
	args []string
	want string // "" when the script states nothing; else "ok" or an errno name
	// wantBy overrides want under a named option setting (variant.name):
	// "=> ENODATA userxattr:ok".
	wantBy map[string]string
}

// wantFor is the stated result under the option setting named v.
func (o op) wantFor(v string) string {
	if w, ok := o.wantBy[v]; ok {
		return w
	}
	return o.want
}

// opArity is the number of arguments of each verb: min and max.
var opArity = map[string][2]int{
	"open": {3, 4}, "read": {2, 2}, "pread": {3, 3}, "readall": {1, 1}, "write": {2, 2},
	"pwrite": {3, 3}, "seek": {3, 3}, "fstat": {1, 1}, "ftruncate": {2, 2},
	"freaddir": {2, 2}, "close": {1, 1}, "create": {1, 1}, "writefile": {2, 3},
	"appendfile": {2, 2}, "readfile": {1, 1}, "mkdir": {1, 2}, "mkdirall": {1, 2},
	"remove": {1, 1}, "removeall": {1, 1}, "rename": {2, 2}, "symlink": {2, 2},
	"readlink": {1, 1}, "link": {2, 2}, "truncate": {2, 2}, "chmod": {2, 2},
	"chown": {3, 3}, "chtimes": {3, 3}, "mtime": {1, 1}, "stat": {1, 1}, "lstat": {1, 1},
	"readdir": {1, 1}, "readdirinfo": {1, 1}, "lsdir": {1, 1}, "setxattr": {3, 4},
	"getxattr": {2, 2}, "listxattr": {1, 1}, "removexattr": {2, 2}, "mknod": {2, 4},
	"as": {2, 2},
}

// handleVerbs are the ops on an open file: their first argument names it.
var handleVerbs = map[string]bool{
	"read": true, "pread": true, "readall": true, "write": true, "pwrite": true, "seek": true,
	"fstat": true, "ftruncate": true, "freaddir": true, "close": true,
}

func parseOps(script string) ([]op, error) {
	var ops []op
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		o := op{line: line}
		body := line
		if i := strings.LastIndex(line, "=>"); i >= 0 && !strings.Contains(line[i:], `"`) {
			body = strings.TrimSpace(line[:i])
			for j, w := range strings.Fields(line[i+2:]) {
				v, errno, ok := strings.Cut(w, ":")
				if !ok {
					v, errno = "", w
				}
				if _, known := layertest.ParseErrno(errno); !known && errno != "ok" && errno != "EOF" {
					return nil, fmt.Errorf("%q: unknown errno %q", line, errno)
				}
				switch {
				case j == 0 && v == "":
					o.want = errno
				case j > 0 && v != "":
					if o.wantBy == nil {
						o.wantBy = map[string]string{}
					}
					o.wantBy[v] = errno
				default:
					return nil, fmt.Errorf("%q: want \"=> ERRNO [SETTING:ERRNO...]\"", line)
				}
			}
		}
		toks, err := layertest.Tokens(body)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", line, err)
		}
		o.verb, o.args = toks[0], toks[1:]
		ar, ok := opArity[o.verb]
		if !ok {
			return nil, fmt.Errorf("%q: unknown op %q", line, o.verb)
		}
		if len(o.args) < ar[0] || len(o.args) > ar[1] {
			return nil, fmt.Errorf("%q: %s takes %d..%d arguments", line, o.verb, ar[0], ar[1])
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// switchesUser reports whether a script runs ops as another user.
func switchesUser(ops []op) bool {
	return slices.ContainsFunc(ops, func(o op) bool { return o.verb == "as" })
}

func mustOps(script string) []op {
	ops, err := parseOps(script)
	if err != nil {
		panic(err)
	}
	return ops
}

// opResult is what one op did.
type opResult struct {
	res   string // result, including the errno
	errno string // "ok" or the errno name (the first error of the op)
	shape string // Op and Path of a failing op's error, for the error-shape check
}

// runConfig tunes how results are rendered.
type runConfig struct {
	// portable drops what legitimately differs between layer backends
	// (directory sizes and link counts) and sorts File.Readdir output
	// (the merged order follows each layer's own listing order).
	portable bool
}

func num(s string) int64 {
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		panic(fmt.Sprintf("bad number %q", s))
	}
	return v
}

func perm(s string) os.FileMode {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		panic(fmt.Sprintf("bad mode %q", s))
	}
	m := os.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func openFlags(s string) int {
	parts := strings.Split(s, "+")
	var f int
	switch parts[0] {
	case "r":
		f = os.O_RDONLY
	case "w":
		f = os.O_WRONLY
	case "rw":
		f = os.O_RDWR
	default:
		panic("bad open mode " + s)
	}
	for _, p := range parts[1:] {
		switch p {
		case "append":
			f |= os.O_APPEND
		case "creat":
			f |= os.O_CREATE
		case "excl":
			f |= os.O_EXCL
		case "trunc":
			f |= os.O_TRUNC
		case "dir":
			f |= layer.ODirectory
		case "nofollow":
			f |= layer.ONoFollow
		default:
			panic("bad open flag " + p)
		}
	}
	return f
}

// errShape renders the Op and Path of an error, which must be a
// *fs.PathError or *os.LinkError naming the overlay path.
func errShape(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	rel := func(p string) string {
		if p = strings.TrimPrefix(p, "/"); p == "" {
			return "."
		}
		return p
	}
	switch {
	case errors.As(err, &le):
		return fmt.Sprintf("LinkError{%s %s %s}", le.Op, rel(le.Old), rel(le.New))
	case errors.As(err, &pe):
		return fmt.Sprintf("PathError{%s %s}", pe.Op, rel(pe.Path))
	}
	return fmt.Sprintf("%T", err)
}

func infoString(fi fs.FileInfo, withName bool, rc runConfig) string {
	st := layertest.Stat(fi)
	var b strings.Builder
	if withName {
		fmt.Fprintf(&b, "name=%q ", fi.Name())
	}
	typ := layertest.TypeLetter(st.Mode)
	fmt.Fprintf(&b, "%s %04o", typ, st.Mode&0o7777)
	if typ != "d" || !rc.portable {
		fmt.Fprintf(&b, " size=%d nlink=%d", st.Size, st.Nlink)
	}
	fmt.Fprintf(&b, " uid=%d gid=%d", st.UID, st.GID)
	if typ == "c" || typ == "b" {
		fmt.Fprintf(&b, " rdev=%#x", st.Rdev)
	}
	// Cross-check the portable fields against the raw ones.
	if fi.IsDir() != (typ == "d") {
		b.WriteString(" IsDir-mismatch")
	}
	if layertest.RawMode(fi.Mode()) != st.Mode {
		fmt.Fprintf(&b, " Mode()=%v", fi.Mode())
	}
	return b.String()
}

// isRoot reports whether a script path names the overlay root.
func isRoot(p string) bool { return strings.Trim(p, "/") == "" || p == "." }
