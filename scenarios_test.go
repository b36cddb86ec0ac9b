package overlay_test

// One table of scenarios run on every backend (STYLE.md point 12): the
// kernel's overlayfs and the library over native layers
// (kernel_diff_test.go), and the library over MemFS and afero layers
// (this file). A scenario is a fixture in the layertest format plus a
// script of operations, one per line:
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
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
	"github.com/go-overlay/overlay/internal/testskip"
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
			f |= oDirectory
		case "nofollow":
			f |= oNoFollow
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

// runScript runs ops on tg and returns one result per op.
func runScript(tg target, ops []op, rc runConfig) []opResult {
	files := map[string]afero.File{}
	tried := map[string]bool{} // handles that an open op named
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	creds := false
	base := tg // the library's FS, whose views "as" switches between
	defer func() {
		if creds {
			restoreThreadCreds()
		}
	}()
	out := make([]opResult, len(ops))
	for i, o := range ops {
		var res string
		var err error
		a := o.args
		file := func() afero.File {
			f := files[a[0]]
			if f == nil {
				panic(fmt.Sprintf("%q: no open file %s", o.line, a[0]))
			}
			return f
		}
		if o.verb == "open" {
			tried[a[0]] = true
		}
		if handleVerbs[o.verb] && files[a[0]] == nil && tried[a[0]] {
			// The handle's open failed or it was closed (on both sides
			// alike, or an earlier result differs already).
			out[i] = opResult{res: "no file", errno: "ok"}
			continue
		}
		switch o.verb {
		case "open":
			p := os.FileMode(0o644)
			if len(a) == 4 {
				p = perm(a[3])
			}
			var f afero.File
			if f, err = tg.OpenFile(a[1], openFlags(a[2]), p); err == nil {
				if old := files[a[0]]; old != nil {
					old.Close()
				}
				files[a[0]] = f
			}
		case "read":
			buf := make([]byte, num(a[1]))
			var n int
			n, err = file().Read(buf)
			res = fmt.Sprintf("n=%d %s", n, layertest.DataString(buf[:n]))
		case "pread":
			buf := make([]byte, num(a[2]))
			var n int
			n, err = file().ReadAt(buf, num(a[1]))
			res = fmt.Sprintf("n=%d %s", n, layertest.DataString(buf[:n]))
		case "readall":
			var data []byte
			data, err = io.ReadAll(file())
			res = layertest.DataString(data)
		case "write":
			var n int
			n, err = file().Write([]byte(a[1]))
			res = fmt.Sprintf("n=%d", n)
		case "pwrite":
			var n int
			n, err = file().WriteAt([]byte(a[2]), num(a[1]))
			res = fmt.Sprintf("n=%d", n)
		case "seek":
			var off int64
			off, err = file().Seek(num(a[1]), int(num(a[2])))
			res = fmt.Sprintf("off=%d", off)
		case "fstat":
			var fi os.FileInfo
			if fi, err = file().Stat(); err == nil {
				res = infoString(fi, false, rc)
			}
		case "ftruncate":
			err = file().Truncate(num(a[1]))
		case "freaddir":
			var names []string
			names, err = file().Readdirnames(int(num(a[1])))
			res = namesString(names, rc)
		case "close":
			err = file().Close()
			delete(files, a[0])
		case "create":
			var f afero.File
			if f, err = tg.OpenFile(a[0], os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666); err == nil {
				err = f.Close()
			}
		case "writefile", "appendfile":
			p, flag := os.FileMode(0o644), os.O_WRONLY|os.O_CREATE|os.O_TRUNC
			if o.verb == "appendfile" {
				flag = os.O_WRONLY | os.O_APPEND
			}
			if len(a) == 3 {
				p = perm(a[2])
			}
			var f afero.File
			if f, err = tg.OpenFile(a[0], flag, p); err == nil {
				var n int
				n, err = f.Write([]byte(a[1]))
				res = fmt.Sprintf("n=%d", n)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		case "readfile":
			var f afero.File
			if f, err = tg.OpenFile(a[0], os.O_RDONLY, 0); err == nil {
				var data []byte
				data, err = io.ReadAll(f)
				res = layertest.DataString(data)
				f.Close()
			}
		case "mkdir", "mkdirall":
			p := os.FileMode(0o755)
			if len(a) == 2 {
				p = perm(a[1])
			}
			if o.verb == "mkdir" {
				err = tg.Mkdir(a[0], p)
			} else {
				err = tg.MkdirAll(a[0], p)
			}
		case "remove":
			err = tg.Remove(a[0])
		case "removeall":
			err = tg.RemoveAll(a[0])
		case "rename":
			err = tg.Rename(a[0], a[1])
		case "symlink":
			err = tg.Symlink(a[0], a[1])
		case "readlink":
			var s string
			s, err = tg.Readlink(a[0])
			res = strconv.Quote(s)
		case "link":
			err = tg.Link(a[0], a[1])
		case "truncate":
			err = tg.Truncate(a[0], num(a[1]))
		case "chmod":
			err = tg.Chmod(a[0], perm(a[1]))
		case "chown":
			err = tg.Chown(a[0], int(num(a[1])), int(num(a[2])))
		case "chtimes":
			t := func(s string) time.Time {
				if s == "-" {
					return time.Time{} // left as it is
				}
				return time.Unix(num(s), 0)
			}
			err = tg.Chtimes(a[0], t(a[1]), t(a[2]))
		case "as":
			// The ops that follow run with this effective uid and gid
			// ("as 0 0" returns to root): on the library through a view
			// for that caller (with the process's supplementary groups, as
			// the thread keeps them), elsewhere by switching the thread.
			uid, gid := uint32(num(a[0])), uint32(num(a[1]))
			if fsys, ok := base.(*overlay.FS); ok {
				tg = base
				if uid != 0 || gid != 0 {
					var groups []uint32
					gs, _ := os.Getgroups()
					for _, g := range gs {
						groups = append(groups, uint32(g))
					}
					tg = fsys.As(overlay.Cred{Uid: uid, Gid: gid, Groups: groups})
				}
				break
			}
			if creds {
				restoreThreadCreds()
			}
			err, creds = setThreadCreds(int(uid), int(gid)), true
		case "mtime":
			var fi os.FileInfo
			if fi, err = tg.Lstat(a[0]); err == nil {
				res = fmt.Sprintf("mtime=%d", fi.ModTime().UnixNano())
			}
		case "stat", "lstat":
			var fi os.FileInfo
			if o.verb == "stat" {
				fi, err = tg.Stat(a[0])
			} else {
				fi, err = tg.Lstat(a[0])
			}
			if err == nil {
				res = infoString(fi, !isRoot(a[0]), rc)
			}
		case "readdir", "readdirinfo":
			var f afero.File
			if f, err = tg.OpenFile(a[0], os.O_RDONLY, 0); err == nil {
				if o.verb == "readdir" {
					var names []string
					names, err = f.Readdirnames(-1)
					res = namesString(names, rc)
				} else {
					var fis []os.FileInfo
					fis, err = f.Readdir(-1)
					var parts []string
					for _, fi := range fis {
						parts = append(parts, infoString(fi, true, rc))
					}
					if rc.portable {
						sort.Strings(parts)
					}
					res = "[" + strings.Join(parts, "; ") + "]"
				}
				f.Close()
			}
		case "lsdir":
			var ents []fs.DirEntry
			ents, err = tg.ReadDir(a[0])
			var parts []string
			for _, e := range ents {
				parts = append(parts, fmt.Sprintf("%q:%s", e.Name(), layertest.TypeLetter(layertest.RawMode(e.Type()))))
			}
			res = strings.Join(parts, " ")
		case "setxattr":
			flags := 0
			if len(a) == 4 {
				switch a[3] {
				case "create":
					flags = 1 // XATTR_CREATE
				case "replace":
					flags = 2 // XATTR_REPLACE
				default:
					panic("bad setxattr flag " + a[3])
				}
			}
			err = tg.Setxattr(a[0], a[1], []byte(a[2]), flags)
		case "getxattr":
			var v []byte
			v, err = tg.Getxattr(a[0], a[1])
			res = strconv.Quote(string(v))
		case "listxattr":
			var names []string
			names, err = tg.Listxattr(a[0])
			names = slices.Clone(names)
			sort.Strings(names)
			res = fmt.Sprintf("%q", names)
		case "removexattr":
			err = tg.Removexattr(a[0], a[1])
		case "mknod":
			var mode uint32
			switch a[1] {
			case "c":
				mode = syscall.S_IFCHR | 0o644
			case "b":
				mode = syscall.S_IFBLK | 0o644
			case "p":
				mode = syscall.S_IFIFO | 0o644
			default:
				panic("bad mknod type " + a[1])
			}
			var dev uint64
			if len(a) == 4 {
				dev = uint64(num(a[2]))<<8 | uint64(num(a[3]))
			}
			err = tg.Mknod(a[0], mode, dev)
		default:
			panic("unhandled op " + o.verb)
		}
		r := opResult{errno: layertest.ErrString(err)}
		// os.RemoveAll names its internal steps (unlinkat, openfdat):
		// only its errno is part of the contract.
		if err != nil && !errors.Is(err, io.EOF) && o.verb != "removeall" {
			r.shape = errShape(err)
		}
		r.res = r.errno
		if res != "" {
			r.res += " " + res
		}
		out[i] = r
	}
	return out
}

func namesString(names []string, rc runConfig) string {
	if rc.portable {
		names = slices.Clone(names)
		sort.Strings(names)
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(n))
	}
	b.WriteByte(']')
	return b.String()
}

// checkWants reports results that differ from the errnos the script states
// for the option setting named setting ("" for the defaults).
func checkWants(t *testing.T, who, setting string, ops []op, res []opResult) {
	t.Helper()
	for i, o := range ops {
		if w := o.wantFor(setting); w != "" && i < len(res) && res[i].errno != w {
			t.Errorf("%s: op %d %q: got %s, want %s", who, i+1, o.line, res[i].res, w)
		}
	}
}

// compareResults reports ops whose results differ between two backends.
// Error shapes (Op and Path) are compared only when shapes is set.
func compareResults(t *testing.T, whoA, whoB string, ops []op, a, b []opResult, shapes bool) {
	t.Helper()
	for i, o := range ops {
		if a[i].res != b[i].res {
			t.Errorf("op %d %q:\n\t%s: %s\n\t%s: %s", i+1, o.line, whoA, a[i].res, whoB, b[i].res)
		} else if shapes && a[i].shape != b[i].shape {
			t.Errorf("op %d %q: error shape:\n\t%s: %s\n\t%s: %s", i+1, o.line, whoA, a[i].shape, whoB, b[i].shape)
		}
	}
}

// diffDumps reports two canonical dumps that differ, line by line.
func diffDumps(t *testing.T, what, whoA, whoB, a, b string) {
	t.Helper()
	if a == b {
		return
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	inA := map[string]bool{}
	for _, l := range al {
		inA[l] = true
	}
	inB := map[string]bool{}
	for _, l := range bl {
		inB[l] = true
	}
	var d strings.Builder
	for _, l := range al {
		if !inB[l] {
			fmt.Fprintf(&d, "\n\t- %s: %s", whoA, l)
		}
	}
	for _, l := range bl {
		if !inA[l] {
			fmt.Fprintf(&d, "\n\t+ %s: %s", whoB, l)
		}
	}
	t.Errorf("%s differs (%s vs %s):%s", what, whoA, whoB, d.String())
}

// needsRichBackend reports whether a scenario uses what the OCI encoding on
// an afero MemMapFs cannot hold or report: symlinks, hard links, xattrs,
// device nodes, owners (MemMapFs keeps them but its FileInfo does not show
// them), and xattr whiteouts outside a merge (the kernel lists those as
// "ghost" names, an OCI .wh. file never shows).
func needsRichBackend(s layertest.Stack, ops []op) bool {
	for _, k := range []layertest.Kind{layertest.Symlink, layertest.Hardlink, layertest.Xattr, layertest.XWhiteout} {
		if s.Uses(k) {
			return true
		}
	}
	layers := s.Lowers
	if s.Upper != nil {
		layers = append(slices.Clone(layers), *s.Upper)
	}
	for _, l := range layers {
		for _, e := range l.Entries {
			if e.UID >= 0 || e.GID >= 0 {
				return true
			}
		}
	}
	for _, o := range ops {
		switch o.verb {
		case "symlink", "readlink", "link", "setxattr", "getxattr", "listxattr", "removexattr", "mknod", "chown":
			return true
		}
	}
	return false
}

// libRun runs a scenario on the library over the given layers and returns
// the op results and the final merged-tree dump.
func libRun(t *testing.T, o overlay.Options, ops []op, rc runConfig, dopts ...layertest.DumpOption) ([]opResult, string, bool) {
	t.Helper()
	fsys, err := overlay.New(o)
	if err != nil {
		t.Errorf("overlay.New: %v", err)
		return nil, "", false
	}
	defer fsys.Close()
	// The scenarios state the kernel's results for a root caller: act as
	// root even when the tests do not run as root.
	overlay.ActAsRoot(fsys)
	res := runScript(fsys, ops, rc)
	layertest.DumpFS(fsys, "/", dopts...) // settles lookups' writes, as in runKernel
	dump, err := layertest.DumpFS(fsys, "/", dopts...)
	if err != nil {
		t.Errorf("DumpFS: %v", err)
	}
	return res, dump, true
}

// TestScenariosPortable runs the table on the library over MemFS layers and,
// where the fixture fits the OCI encoding, over afero layers, and compares
// the two and the errnos the scenarios state.
func TestScenariosPortable(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := sc.stack()
			ops := mustOps(sc.ops)
			if switchesUser(ops) && os.Geteuid() != 0 {
				testskip.Skip(t, "switching users (op as) needs root")
			}
			rc := runConfig{portable: true}
			mo, err := layertest.MemOptions(s)
			if err != nil {
				t.Fatalf("building MemFS layers: %v", err)
			}
			memRes, memDump, ok := libRun(t, mo, ops, rc, layertest.Portable(), layertest.NoXattrs())
			if !ok {
				return
			}
			checkWants(t, "memfs", "", ops, memRes)
			if sc.kernelFormat || needsRichBackend(s, ops) {
				return
			}
			ao, err := layertest.AferoOptions(s)
			if err != nil {
				t.Fatalf("building afero layers: %v", err)
			}
			afRes, afDump, ok := libRun(t, ao, ops, rc, layertest.Portable(), layertest.NoXattrs())
			if !ok {
				return
			}
			checkWants(t, "afero", "", ops, afRes)
			compareResults(t, "memfs", "afero", ops, memRes, afRes, true)
			diffDumps(t, "merged tree", "memfs", "afero", memDump, afDump)
		})
	}
}

// Fixtures shared by several scenarios.
const (
	// fixBase: a dir "a" merged from two lowers, lower-only dirs, symlinks.
	fixBase = `
-- lower1 --
dir a
file a/f "lower1 f"
file a/g "g"
link a/l -> f
file top "top"
-- lower2 --
dir a
file a/f "lower2 f"
file a/h "h2"
dir a/sub
file a/sub/deep "deep"
dir d2
file d2/x "x"
`
	// fixOpen: one of each kind of object for open flag checks: lower
	// and upper files and dirs, symlinks to each, a dangling symlink, a
	// whiteout.
	fixOpen = `
-- upper --
dir ud
file ud/y "uy"
file uf "upper file"
whiteout w
-- lower1 --
dir d
file d/x "x"
file f "file"
link lf -> f
link ld -> d
link dang -> nowhere
file w "whited out"
`
	// fixModes: setgid dirs of another group in the lower and the upper
	// layer, and objects to chmod.
	fixModes = `
-- upper --
dir usg 02775 gid=7
dir wsg 02775 gid=8
whiteout wsg/w1
whiteout wsg/w2
whiteout wsg/w3
whiteout wsg/w4
-- lower1 --
dir wsg
file wsg/w1 "1"
file wsg/w2 "2"
file wsg/w3 "3"
file wsg/w4 "4"
dir sg 02775 gid=5
dir sgnox 02707 gid=6
dir plain 0755 gid=4
file lowf "l" 0644
dir lowd 0755
`
	// fixOwned: objects of another user, in the lower and upper layers.
	fixOwned = `
-- upper --
file uown "u" 0644 uid=5 gid=5
-- lower1 --
file own "o" 0644 uid=5 gid=5
dir odir 0755 uid=5 gid=5
`
	// fixDeep: a chain of lower-only dirs.
	fixDeep = `
-- lower1 --
dir p 0750
dir p/q 0700
dir p/q/r
file p/q/r/s "nested" 0600
file p/q/r/t "t"
-- lower2 --
file other "o"
`
	// fixRO: three lowers for read-only overlays.
	fixRO = `
-- lower1 --
dir a
file a/f "f1"
whiteout a/gone
link a/l -> f
opaque o
file o/new "new"
-- lower2 --
dir a
file a/gone "should be hidden"
file a/two "two"
dir o
file o/old "hidden by opaque"
-- lower3 --
dir a
file a/three "three"
file a/f "f3"
`
	// fixXattr: files and dirs carrying user xattrs in the lower layer.
	fixXattr = `
-- lower1 --
dir a
file a/f "data" 0640
xattr a/f user.one "1"
xattr a/f user.two "two"
dir a/d
xattr a/d user.dir "d"
file plain "p"
-- lower2 --
dir a
file a/base "b"
`
	// fixWh: whiteouts and opaque dirs in the upper layer.
	fixWh = `
-- upper --
dir a
whiteout a/f
whiteout top
opaque d2
file d2/y "upper y"
-- lower1 --
dir a
file a/f "lower1 f"
file a/g "g"
file top "top"
-- lower2 --
dir a
file a/h "h2"
dir d2
file d2/x "x"
`
	// fixFour: four lowers merging one dir.
	fixFour = `
-- lower1 --
dir m
file m/l1 "1"
file m/same "from 1"
-- lower2 --
dir m
file m/l2 "2"
file m/same "from 2"
whiteout m/w4
-- lower3 --
dir m
file m/l3 "3"
dir m/sub3
file m/sub3/z "z"
-- lower4 --
dir m
file m/l4 "4"
file m/w4 "whited out by lower2"
file m/same "from 4"
file only4 "only in 4"
`
	// fixUnicode: names with spaces and non-ASCII characters.
	fixUnicode = `
-- lower1 --
dir "dir with space"
file "dir with space/fïlé ünï" "unicode"
file "dir with space/a b" "space"
file "日本語" "japanese"
-- lower2 --
dir "dir with space"
file "dir with space/lower two" "2"
`
)

// scenarios is the shared table.
// fixRedirect has merged and lower-only dirs to move, and hand-written
// redirects in the top lower layer (relative, absolute, invalid) and in the
// bottom one (never read).
const fixRedirect = `
-- lower1 --
dir "m"
dir "m/d"
file "m/d/top" "l1"
dir "hr"
xattr "hr" trusted.overlay.redirect "tgt"
file "hr/own" "own"
dir "ha"
xattr "ha" trusted.overlay.redirect "/m/d/sub"
dir "bad1"
xattr "bad1" trusted.overlay.redirect "a/b"
dir "bad2"
xattr "bad2" trusted.overlay.redirect "/m//d"
dir "bad3"
xattr "bad3" trusted.overlay.redirect ""
-- lower2 --
dir "m"
dir "m/d"
file "m/d/low" "l2"
dir "m/d/sub"
file "m/d/sub/deep" "deep"
dir "tgt"
file "tgt/from-target" "t"
dir "hr"
dir "ha"
file "ha/low" "ha"
dir "bot"
xattr "bot" trusted.overlay.redirect "m"
`

var scenarios = []scenario{
	// ---- lookup and reading ----
	{name: "read/lower-files", fix: fixBase, ops: `
readfile a/f
readfile a/h
readfile a/sub/deep
readfile top
readfile a/missing => ENOENT
stat a/f
lstat a/l
stat a/l
readlink a/l
readlink a/f => EINVAL`},
	{name: "read/readdir-merged-order", fix: fixBase, ops: `
readdir a
readdir .
readdir a/sub
readdir d2
readdirinfo a
lsdir a`},
	{name: "read/stat-dirs-nlink", fix: fixBase, ops: `
stat .
stat a
stat a/sub
stat d2`},
	{name: "read/merged-dir-with-upper-nlink", fix: fixBase + `
-- upper --
dir a
dir a/up1
dir a/up2
`, ops: `
stat a
lstat a/up1
readdir a`},
	{name: "read/path-through-file", fix: fixBase, ops: `
stat a/f/x => ENOTDIR
readfile top/x => ENOTDIR
lstat a/l/x => ENOTDIR`},
	{name: "read/readfile-dir", fix: fixBase, ops: `
open d a r
read d 10 => EISDIR
close d
readfile a => EISDIR`},
	{name: "read/fd-read-seek", fix: fixBase, ops: `
open f a/f r
read f 3
read f 100
read f 10 => EOF
seek f 1 0
read f 4
seek f -2 2
read f 10
seek f 0 1
pread f 2 3
pread f 6 10 => EOF
fstat f
close f`},
	{name: "read/file-over-dir", fix: `
-- lower1 --
file x "file wins"
dir y
file y/in1 "1"
-- lower2 --
dir x
file x/inside "hidden"
file y "file below dir"
`, ops: `
stat x
readfile x
stat x/inside => ENOTDIR
stat y
readdir y
readdir .`},
	{name: "read/upper-file-over-lower-dir", fix: fixBase + `
-- upper --
file d2 "upper file"
`, ops: `
stat d2
readfile d2
readdir .`},
	{name: "read/symlinks", fix: `
-- lower1 --
dir a
file a/t "target"
link a/l1 -> t
link a/l2 -> l1
link a/up -> ../top
link a/dirl -> ../b
link a/dangling -> nothere
link a/loop1 -> loop2
link a/loop2 -> loop1
link a/dotdot -> ../../../../top
file top "top"
dir b
file b/in "in b"
`, ops: `
readfile a/l2
stat a/l2
lstat a/l2
readfile a/up
readdir a/dirl
readfile a/dirl/in
stat a/dangling => ENOENT
lstat a/dangling
stat a/loop1 => ELOOP
readlink a/dotdot`},
	{name: "read/whiteout-in-upper", fix: fixWh, ops: `
stat a/f => ENOENT
stat top => ENOENT
readfile a/g
readdir a
readdir .
readdir d2
readfile d2/x => ENOENT
stat d2`},
	{name: "read/whiteout-in-lower", fix: `
-- lower1 --
dir a
whiteout a/f
whiteout gone
-- lower2 --
dir a
file a/f "hidden"
file a/k "k"
dir gone
file gone/x "x"
`, ops: `
stat a/f => ENOENT
stat gone => ENOENT
readdir a
readdir .`},
	{name: "read/opaque-in-lower", fix: `
-- lower1 --
opaque a
file a/top "t"
-- lower2 --
dir a
file a/below "hidden"
`, ops: `
readdir a
stat a/below => ENOENT
stat a`},
	{name: "read/opaque-upper-merges-nothing", fix: `
-- upper --
opaque a
file a/u "u"
-- lower1 --
dir a
file a/l "hidden"
`, ops: `
readdir a
stat a/l => ENOENT
stat a
listxattr a`},
	{name: "read/upper-over-opaque-lower", fix: `
-- upper --
dir a
file a/u "u"
-- lower1 --
opaque a
file a/l1 "l1"
-- lower2 --
dir a
file a/l2 "hidden"
`, ops: `
readdir a
stat a/l2 => ENOENT
readfile a/l1`},
	{name: "read/xwhiteout-lower-with-x", fix: `
-- lower1 --
dir a
xwhiteout a/f
file a/kept "k"
-- lower2 --
dir a
file a/f "hidden"
file a/other "o"
`, ops: `
stat a/f => ENOENT
readdir a
readfile a/f => ENOENT`},
	{name: "read/xwhiteout-in-nonmerged-dir", fix: `
-- lower1 --
dir solo
xwhiteout solo/ghost
file solo/real "r"
-- lower2 --
file other "o"
`, ops: `
stat solo/ghost => ENOENT
readdir solo`},
	{name: "read/readdirinfo-lower-kinds", fix: `
-- lower1 --
dir a
xwhiteout a/f
file a/kept "k"
file a/empty ""
dir a/sub
-- lower2 --
dir a
file a/f "hidden"
file a/other "o"
dir solo
xwhiteout solo/ghost
file solo/real "r"
file solo/zero ""
dir solo/d
`, ops: `
readdirinfo a
readdirinfo solo
stat a/f => ENOENT
lstat solo/ghost => ENOENT`},
	{name: "read/xwhiteout-in-upper", fix: `
-- upper --
dir a
xwhiteout a/f
-- lower1 --
dir a
file a/f "hidden"
file a/g "g"
`, ops: `
stat a/f => ENOENT
readdir a`},
	{name: "read/whiteout-in-nonmerged-upper-dir", kernelFormat: true, fix: `
-- upper --
dir solo
whiteout solo/w
file solo/f "f"
dir hid
whiteout hid/w
file hid/f "f"
-- lower1 --
whiteout hid
file other "o"
-- lower2 --
dir hid
file hid/w "w"
`, ops: `
# A non-merge dir is listed as stored: its whiteouts show as names
# that do not stat .
readdir solo
stat solo/w => ENOENT
readdir hid
stat hid/w => ENOENT
# ... and rmdir of such a dir is a plain rmdir of a non-empty dir.
remove solo/f
remove solo => ENOTEMPTY`},
	{name: "read/four-lowers", fix: fixFour, ops: `
readdir m
readdir .
readfile m/same
stat m/w4 => ENOENT
readfile m/l4
readdir m/sub3
stat m`},
	{name: "read/three-lowers-whiteout-middle", fix: `
-- lower1 --
dir a
file a/one "1"
-- lower2 --
dir a
whiteout a/x
file a/two "2"
-- lower3 --
dir a
file a/x "hidden"
file a/three "3"
`, ops: `
readdir a
stat a/x => ENOENT`},
	{name: "read/unicode-names", fix: fixUnicode, ops: `
readdir "dir with space"
readfile "dir with space/fïlé ünï"
readfile "日本語"
stat "dir with space/a b"
readdir .`},
	{name: "read/hardlinks-in-lower", fix: `
-- lower1 --
dir a
file a/f "shared"
hardlink a/h = a/f
file b "b"
-- lower2 --
file c "c"
`, ops: `
stat a/f
stat a/h
readfile a/h`},
	{name: "read/modes-and-owners", fix: `
-- lower1 --
dir a 0700 uid=1000 gid=1000
file a/f "f" 0600 uid=1000 gid=100
file a/x "x" 0755
dir s 01777
file suid "s" 04755
-- lower2 --
dir a 0755
`, ops: `
stat a
stat a/f
stat a/x
stat s
stat suid`},
	{name: "read/getxattr-lower", fix: fixXattr, ops: `
getxattr a/f user.one
getxattr a/f user.none => ENODATA
listxattr a/f
getxattr a/d user.dir
listxattr a
listxattr plain`},

	// ---- writing files, copy-up ----
	{name: "write/overwrite-lower-file", fix: fixBase, ops: `
writefile a/f "new content"
readfile a/f
stat a/f
readdir a`},
	{name: "write/append-lower-file", fix: fixBase, ops: `
appendfile a/f "+appended"
readfile a/f
appendfile a/h " more"
readfile a/h`},
	{name: "write/pwrite-lower-file", fix: fixBase, ops: `
open f a/f rw
pwrite f 2 "XY"
pread f 0 20 => EOF
read f 3
write f "Z"
seek f 0 0
readall f
fstat f
close f
readfile a/f`},
	{name: "write/open-rdonly-then-copyup", fix: fixBase, ops: `
open r a/f r
read r 3
writefile a/f "replaced!"
read r 20
seek r 0 0
readall r
close r`},
	{name: "write/open-rdonly-trunc", fix: fixBase, ops: `
open r a/f r+trunc
readall r
close r
readfile a/f
stat a/f`},
	{name: "write/excl-existing-lower", fix: fixBase, ops: `
open f a/f w+creat+excl => EEXIST
open f a/sub w+creat+excl => EEXIST
open f a/l w+creat+excl => EEXIST
readdir a`},
	{name: "write/excl-over-whiteout", fix: fixWh, ops: `
open f a/f w+creat+excl => ok
write f "back"
close f
readfile a/f
readdir a`},
	{name: "write/create-new-in-merged", fix: fixBase, ops: `
create a/new
writefile a/new2 "two" 0600
stat a/new
stat a/new2
readdir a`},
	{name: "write/create-in-lower-only-nested", fix: fixBase, ops: `
writefile a/sub/new "n"
readdir a/sub
readfile a/sub/deep
stat a/sub`},
	{name: "write/deep-copyup-parents-first", fix: fixDeep, ops: `
appendfile p/q/r/s "+more"
readfile p/q/r/s
stat p
stat p/q
stat p/q/r
stat p/q/r/s
readdir p/q/r`},
	{name: "write/create-deep-new", fix: fixDeep, ops: `
writefile p/q/r/new "x"
create p/q/new2
readdir p/q`},
	{name: "write/truncate-lower", fix: fixBase, ops: `
truncate a/f 3
readfile a/f
truncate a/h 10
readfile a/h
stat a/h
truncate a/missing 1 => ENOENT
truncate a 0 => EISDIR`},
	{name: "write/ftruncate", fix: fixBase, ops: `
open f a/f rw
ftruncate f 2
readall f
seek f 0 0
readall f
close f
open g a/g r
ftruncate g 0 => EINVAL
close g`},
	{name: "write/seek-and-extend", fix: fixBase, ops: `
open f a/g rw
seek f 0 2
write f "-end"
seek f 10 0
write f "far"
seek f 0 0
readall f
close f
stat a/g`},
	{name: "write/append-flag-ignores-seek", fix: fixBase, ops: `
open f a/g w+append
write f "1"
seek f 0 0
write f "2"
close f
readfile a/g`},
	{name: "write/badf", fix: fixBase, ops: `
open r a/f r
write r "x" => EBADF
close r
open w a/g w
read w 2 => EBADF
close w
readfile a/f`},
	{name: "write/trunc-lower-via-openfile", fix: fixBase, ops: `
open f a/h w+trunc
write f "short"
close f
readfile a/h`},
	{name: "write/creat-follows-dangling-symlink", fix: `
-- lower1 --
dir a
link a/dl -> made
-- lower2 --
file z "z"
`, ops: `
writefile a/dl "through link"
readfile a/made
lstat a/dl
readdir a`},
	{name: "write/excl-on-dangling-symlink", fix: `
-- lower1 --
dir a
link a/dl -> made
-- lower2 --
file z "z"
`, ops: `
open f a/dl w+creat+excl => EEXIST
stat a/made => ENOENT`},
	{name: "write/through-symlink", fix: fixBase, ops: `
appendfile a/l " via link"
readfile a/f
lstat a/l
readlink a/l`},
	{name: "write/copyup-preserves-metadata", fix: `
-- lower1 --
dir a 0711 uid=1000 gid=1000
file a/f "meta" 0604 uid=1000 gid=100
xattr a/f user.keep "kept"
-- lower2 --
file z "z"
`, ops: `
appendfile a/f "!"
stat a
stat a/f
getxattr a/f user.keep
listxattr a/f`},
	{name: "write/unicode", fix: fixUnicode, ops: `
appendfile "dir with space/fïlé ünï" " more"
writefile "dir with space/nëw fïlé" "new"
readdir "dir with space"
readfile "dir with space/fïlé ünï"`},
	{name: "write/copyup-breaks-lower-hardlink", fix: `
-- lower1 --
dir a
file a/f "shared"
hardlink a/h = a/f
-- lower2 --
file c "c"
`, ops: `
appendfile a/f "+1"
readfile a/f
readfile a/h
stat a/f
stat a/h`},
	{name: "write/large-file-copyup", fix: `
-- lower1 --
file big "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
-- lower2 --
file z "z"
`, ops: `
open f big rw
pwrite f 50 "XXXX"
close f
readfile big
stat big`},

	// ---- attributes ----
	{name: "attr/chmod-lower-file", fix: fixBase, ops: `
chmod a/f 0600
stat a/f
readfile a/f
chmod a/missing 0600 => ENOENT`},
	{name: "attr/chmod-merged-dir", fix: fixBase, ops: `
chmod a 0700
stat a
readdir a`},
	{name: "attr/chmod-lower-only-dir", fix: fixBase, ops: `
chmod a/sub 0750
stat a/sub
readdir a/sub`},
	{name: "attr/chmod-through-symlink", fix: fixBase, ops: `
chmod a/l 0640
stat a/f
lstat a/l`},
	{name: "attr/chmod-special-bits", fix: fixBase, ops: `
chmod a/f 04755
stat a/f
chmod a/sub 01777
stat a/sub`},
	{name: "attr/chown-lower-file", fix: fixBase, ops: `
chown a/f 1000 1000
stat a/f
chown a/sub 1001 1002
stat a/sub
chown a/l 7 8
stat a/f
lstat a/l`},
	{name: "attr/chown-merged-dir", fix: fixBase, ops: `
chown a 42 43
stat a`},
	{name: "attr/chtimes-lower-file", fix: fixBase, ops: `
chtimes a/f 1000000000 1200000000
mtime a/f
stat a/f
readfile a/f`},
	{name: "attr/chtimes-dir", fix: fixBase, ops: `
chtimes a/sub 1000000000 1300000000
mtime a/sub
chtimes a 1000000000 1400000000
mtime a`},
	{name: "attr/lower-mtime-kept-on-read", fix: `
-- lower1 --
file f "x"
-- lower2 --
file g "g"
`, ops: `
chtimes g 1000 1500000000
mtime g
readfile f
mtime g`},
	{name: "attr/copyup-keeps-mtime", fix: `
-- lower1 --
file f "x"
-- lower2 --
file g "g"
`, ops: `
chtimes f 1000 1500000000
chmod f 0600
mtime f`},

	// ---- xattrs ----
	{name: "xattr/set-on-lower-file", fix: fixXattr, ops: `
setxattr a/f user.new "v"
getxattr a/f user.new
getxattr a/f user.one
listxattr a/f
readfile a/f
stat a/f`},
	{name: "xattr/get-does-not-copy-up", fix: fixXattr, ops: `
getxattr a/f user.two
listxattr a/d
getxattr plain user.none => ENODATA`},
	{name: "xattr/remove-lower-xattr", fix: fixXattr, ops: `
removexattr a/f user.one
getxattr a/f user.one => ENODATA
listxattr a/f`},
	{name: "xattr/remove-absent", fix: fixXattr, ops: `
removexattr plain user.none => ENODATA
removexattr a/f user.none => ENODATA
listxattr plain`},
	{name: "xattr/create-replace-flags", fix: fixXattr, ops: `
setxattr a/f user.one "x" create => EEXIST
setxattr a/f user.absent "x" replace => ENODATA
setxattr a/f user.one "replaced" replace
getxattr a/f user.one
setxattr a/f user.fresh "f" create
listxattr a/f`},
	{name: "xattr/on-merged-dir", fix: fixXattr, ops: `
setxattr a user.m "merged"
getxattr a user.m
listxattr a
readdir a`},
	{name: "xattr/on-lower-dir", fix: fixXattr, ops: `
setxattr a/d user.more "m"
listxattr a/d
getxattr a/d user.dir`},
	{name: "xattr/opaque-hidden-from-list", fix: `
-- upper --
opaque a
xattr a user.visible "v"
file a/u "u"
-- lower1 --
dir a
file a/l "l"
`, ops: `
listxattr a
getxattr a trusted.overlay.opaque => ENODATA
getxattr a user.visible`},
	{name: "xattr/escaped-private-name", fix: fixXattr, ops: `
setxattr plain trusted.overlay.foo "bar"
getxattr plain trusted.overlay.foo
listxattr plain`},
	{name: "xattr/on-new-file", fix: fixXattr, ops: `
writefile a/n "n"
setxattr a/n user.a "1"
setxattr a/n user.b ""
listxattr a/n
getxattr a/n user.b
removexattr a/n user.a
listxattr a/n`},
	{name: "xattr/missing-file", fix: fixXattr, ops: `
getxattr nothere user.x => ENOENT
setxattr nothere user.x "v" => ENOENT
listxattr nothere => ENOENT`},

	// ---- mkdir ----
	{name: "mkdir/new", fix: fixBase, ops: `
mkdir n
mkdir a/n2 0700
stat n
stat a/n2
readdir .
readdir a`},
	{name: "mkdir/over-upper-whiteout", fix: fixWh, ops: `
mkdir top
readdir top
stat top
listxattr top
readdir .`},
	{name: "mkdir/over-whiteout-of-dir", fix: fixBase, ops: `
removeall a/sub
mkdir a/sub
readdir a/sub
stat a/sub/deep => ENOENT
readdir a`},
	{name: "mkdir/existing", fix: fixBase, ops: `
mkdir a => EEXIST
mkdir a/f => EEXIST
mkdir a/l => EEXIST
mkdir d2 => EEXIST
mkdir . => EEXIST`},
	{name: "mkdir/in-lower-only-dir", fix: fixDeep, ops: `
mkdir p/q/r/new
stat p/q/r/new
readdir p/q/r
stat p/q`},
	{name: "mkdir/missing-parent", fix: fixBase, ops: `
mkdir x/y => ENOENT
mkdir a/f/y => ENOTDIR
mkdir a/gone/y => ENOENT`},
	{name: "mkdir/mkdirall", fix: fixBase, ops: `
mkdirall a/sub/x/y/z
mkdirall a/sub
mkdirall top/x => ENOTDIR
readdir a/sub
stat a/sub/x/y`},
	{name: "mkdir/modes-and-umask", fix: fixBase, ops: `
mkdir m777 0777
mkdir m700 0700
mkdir m1777 01777
stat m777
stat m700
stat m1777
writefile f666 "x" 0666
stat f666`},
	{name: "mkdir/then-populate", fix: fixBase, ops: `
mkdir new
writefile new/a "a"
mkdir new/sub
writefile new/sub/b "b"
readdir new
readfile new/sub/b`},

	// ---- remove / rmdir ----
	{name: "remove/lower-file", fix: fixBase, ops: `
remove a/f
stat a/f => ENOENT
readfile a/f => ENOENT
readdir a`},
	{name: "remove/upper-only-file", fix: fixBase, ops: `
writefile a/tmp "t"
remove a/tmp
stat a/tmp => ENOENT
readdir a`},
	{name: "remove/copied-up-file", fix: fixBase, ops: `
appendfile a/g "x"
remove a/g
stat a/g => ENOENT
readdir a`},
	{name: "remove/lower-symlink", fix: fixBase, ops: `
remove a/l
lstat a/l => ENOENT
readfile a/f`},
	{name: "remove/lower-only-empty-dir", fix: `
-- lower1 --
dir e
dir keep
-- lower2 --
file z "z"
`, ops: `
remove e
stat e => ENOENT
readdir .`},
	{name: "remove/merged-nonempty", fix: fixBase, ops: `
remove a => ENOTEMPTY
remove a/sub => ENOTEMPTY
remove d2 => ENOTEMPTY
readdir a`},
	{name: "remove/merged-after-emptying", fix: fixBase, ops: `
remove a/f
remove a/g
remove a/l
remove a/h
remove a => ENOTEMPTY
remove a/sub/deep
remove a/sub
readdir a
remove a => ok
stat a => ENOENT
readdir .`},
	{name: "remove/dir-with-only-upper-whiteouts", fix: `
-- upper --
dir a
whiteout a/x
whiteout a/y
-- lower1 --
dir a
file a/x "x"
-- lower2 --
dir a
file a/y "y"
`, ops: `
readdir a
remove a
stat a => ENOENT
readdir .`},
	{name: "remove/removeall-merged-tree", fix: fixBase, ops: `
removeall a
stat a => ENOENT
readdir .
removeall a
removeall nothere => ok`},
	{name: "remove/missing", fix: fixBase, ops: `
remove nothere => ENOENT
remove a/nothere => ENOENT
remove nothere/x => ENOENT
remove a/f/x => ENOTDIR`},
	{name: "remove/whited-out-name", fix: fixWh, ops: `
remove a/f => ENOENT
remove top => ENOENT
readdir a`},
	{name: "remove/then-recreate-file", fix: fixBase, ops: `
remove a/f
writefile a/f "again"
readfile a/f
stat a/f
readdir a`},
	{name: "remove/file-then-mkdir", fix: fixBase, ops: `
remove top
mkdir top
readdir top
stat top
listxattr top`},
	{name: "remove/dir-then-mkdir-opaque", fix: fixBase, ops: `
removeall a
mkdir a
readdir a
stat a/f => ENOENT
writefile a/new "n"
readdir a`},
	{name: "remove/dir-then-create-file", fix: fixBase, ops: `
removeall d2
writefile d2 "now a file"
readfile d2
stat d2`},
	{name: "remove/in-upper-opaque-dir", fix: `
-- upper --
opaque a
file a/u "u"
-- lower1 --
dir a
file a/u "lower u hidden"
`, ops: `
remove a/u
stat a/u => ENOENT
readdir a`},
	{name: "remove/nested-lower-copies-parents", fix: fixDeep, ops: `
remove p/q/r/t
readdir p/q/r
stat p/q/r
stat p/q`},
	{name: "remove/removeall-mixed", fix: fixBase, ops: `
writefile a/sub/up "u"
mkdir a/sub/updir
writefile a/sub/updir/x "x"
removeall a/sub
stat a/sub => ENOENT
readdir a`},
	{name: "remove/upper-dir-with-whiteouts", fix: fixBase, ops: `
remove a/sub/deep
remove a/sub
stat a/sub => ENOENT
mkdir a/sub
readdir a/sub`},
	// RemoveAll of trees whose markers decide whether it may go at once:
	// copied-up files (origin), whiteouts in merged dirs, an opaque dir,
	// impure parents, redirects (relative and absolute, where dirs move);
	// a pure upper dir holding a whiteout (counted as an entry,
	// ENOTEMPTY) unless it carries an origin.
	{name: "remove/removeall-after-changes", fix: fixBase, ops: `
writefile a/f "copied up"
remove a/g
remove a/sub/deep
writefile a/sub/new "n"
remove d2/x
mkdir d2/x
writefile d2/x/in "in"
rename a/h a/h2
rename a/sub a/sub2 => EXDEV redirect:ok metacopy:ok
rename d2 a/d2 => EXDEV redirect:ok metacopy:ok
readdir a
removeall a
stat a => ENOENT
readdir .
removeall d2
readdir .`},
	{name: "remove/removeall-lower-markers", fix: `
-- lower1 --
dir a
whiteout a/gone
opaque a/o
file a/o/f "f"
file a/x "x"
dir b
whiteout b/w
file b/f "f"
dir c
whiteout c/w
-- lower2 --
dir a
file a/gone "hidden"
dir a/o
file a/o/old "hidden"
`, ops: `
removeall a
readdir .
removeall b
removeall c
readdir .`},
	{name: "remove/removeall-unmerged-whiteout", fix: `
-- upper --
dir t
dir t/s
whiteout t/s/w
file t/s/f "f"
dir t/o
xattr t/o trusted.overlay.origin "x"
whiteout t/o/w
dir u
dir u/o
xattr u/o trusted.overlay.origin "x"
whiteout u/o/w
file u/o/f "f"
opaque v
whiteout v/w
-- lower1 --
file other "o"
`, ops: `
removeall t
lstat t/s/w
lstat t/o
removeall u
lstat u
removeall v
lstat v`},
	{name: "remove/rmdir-root", fix: fixBase, ops: `
remove . => EBUSY`},

	// ---- rename ----
	{name: "rename/lower-file-same-dir", fix: fixBase, ops: `
rename a/f a/f2
stat a/f => ENOENT
readfile a/f2
readdir a`},
	{name: "rename/lower-file-to-lower-only-dir", fix: fixBase, ops: `
rename a/g d2/g
readdir d2
readdir a
readfile d2/g`},
	{name: "rename/upper-over-lower-file", fix: fixBase, ops: `
writefile a/new "new"
rename a/new a/f
readfile a/f
stat a/new => ENOENT
readdir a`},
	{name: "rename/lower-over-lower", fix: fixBase, ops: `
rename a/g a/h
readfile a/h
stat a/g => ENOENT
readdir a`},
	{name: "rename/file-over-dir", fix: fixBase, ops: `
rename a/f a/sub => EISDIR
rename a/f d2 => EISDIR`},
	{name: "rename/dir-over-file", fix: fixBase, ops: `
mkdir nd
rename nd top => ENOTDIR
rename a/sub a/f => ENOTDIR`},
	{name: "rename/merged-dir-exdev", fix: fixBase, ops: `
rename a b => EXDEV redirect:ok metacopy:ok
stat a => ok redirect:ENOENT metacopy:ENOENT
stat b => ENOENT redirect:ok metacopy:ok`},
	{name: "rename/lower-only-dir-exdev", fix: fixBase, ops: `
rename d2 d3 => EXDEV redirect:ok metacopy:ok
rename a/sub a/sub2 => EXDEV redirect:ok metacopy:ok
readdir a`},
	{name: "rename/upper-dir", fix: fixBase, ops: `
mkdir nd
writefile nd/x "x"
rename nd nd2
readdir nd2
stat nd => ENOENT`},
	{name: "rename/upper-dir-into-merged-parent", fix: fixBase, ops: `
mkdir nd
writefile nd/x "x"
rename nd a/nd
readdir a/nd
listxattr a/nd
readdir a`},
	{name: "rename/upper-dir-over-empty-upper-dir", fix: fixBase, ops: `
mkdir s1
writefile s1/x "x"
mkdir s2
rename s1 s2
readdir s2
stat s1 => ENOENT`},
	{name: "rename/upper-dir-over-nonempty-upper-dir", fix: fixBase, ops: `
mkdir s1
mkdir s2
writefile s2/x "x"
rename s1 s2 => ENOTEMPTY
readdir s2`},
	{name: "rename/upper-dir-over-merged-dir", fix: fixBase, ops: `
mkdir s1
rename s1 a => ENOTEMPTY
rename s1 d2 => ENOTEMPTY`},
	{name: "rename/upper-dir-over-empty-lower-dir", fix: `
-- lower1 --
dir e
dir e2
-- lower2 --
dir e2
file z "z"
`, ops: `
mkdir s1
writefile s1/x "x"
rename s1 e
readdir e
stat s1 => ENOENT
readdir .`},
	{name: "rename/dir-over-emptied-merged-dir", fix: `
-- lower1 --
dir a
file a/f "f"
-- lower2 --
dir a
file a/g "g"
`, ops: `
remove a/f
remove a/g
mkdir s
writefile s/new "n"
rename s a
readdir a
readfile a/new`},
	{name: "rename/into-own-subtree", fix: fixBase, ops: `
mkdir nd
mkdir nd/sub
rename nd nd/sub/x => EINVAL
rename nd nd/sub => EINVAL`},
	{name: "rename/over-upper-whiteout", fix: fixWh, ops: `
rename a/g a/f
readfile a/f
stat a/g => ENOENT
readdir a`},
	{name: "rename/upper-dir-over-whiteout", fix: fixWh, ops: `
mkdir nd
writefile nd/x "x"
rename nd top
readdir top
stat top
readdir .`},
	{name: "rename/to-itself", fix: fixBase, ops: `
rename a/f a/f
readfile a/f
rename a/l a/l
readdir a`},
	{name: "rename/missing", fix: fixBase, ops: `
rename nothere x => ENOENT
rename a/f nodir/x => ENOENT
rename a/f top/x => ENOTDIR`},
	{name: "rename/lower-symlink", fix: fixBase, ops: `
rename a/l a/l2
readlink a/l2
readfile a/l2
lstat a/l => ENOENT`},
	{name: "rename/file-over-symlink", fix: fixBase, ops: `
rename a/g a/l
lstat a/l
readfile a/l
readfile a/f`},
	{name: "rename/hardlinks-in-upper", fix: fixBase, ops: `
writefile u "u"
link u u2
rename u2 u3
stat u
stat u3
rename u u3
stat u3
stat u => ok`},
	{name: "rename/unicode", fix: fixUnicode, ops: `
rename "dir with space/fïlé ünï" "dir with space/ñéw nämé"
rename "日本語" "dir with space/日本"
readdir "dir with space"
readdir .
readfile "dir with space/日本"`},
	{name: "rename/across-merged-dirs", fix: fixFour + `
-- upper --
`, ops: `
rename m/l4 only4
readfile only4
readdir m
rename m/same m/sub3/same
readdir m/sub3
readfile m/sub3/same`},
	{name: "rename/readdir-order-after", fix: fixBase, ops: `
rename a/h a/zz
rename a/f a/aa
writefile a/mm "m"
readdir a`},
	{name: "rename/copied-up-dir-parent-exdev", fix: fixDeep, ops: `
writefile p/q/new "x"
rename p/q p/q2 => EXDEV redirect:ok metacopy:ok
rename p/q/new p/new
readdir p
readdir p/q`},

	// ---- symlink and link ----
	{name: "symlink/new", fix: fixBase, ops: `
symlink f a/s
readlink a/s
lstat a/s
readfile a/s
symlink ../top a/s2
readfile a/s2
symlink "with space" a/s3
readlink a/s3
readdir a`},
	{name: "symlink/over-existing", fix: fixBase, ops: `
symlink x a/f => EEXIST
symlink x a/l => EEXIST
symlink x a => EEXIST`},
	{name: "symlink/over-whiteout", fix: fixWh, ops: `
symlink g a/f
readlink a/f
readfile a/f
readdir a`},
	{name: "symlink/in-lower-only-dir", fix: fixDeep, ops: `
symlink s p/q/r/link
readfile p/q/r/link
readdir p/q/r`},
	{name: "link/lower-file", fix: fixBase, ops: `
link a/f a/f2
stat a/f
stat a/f2
readfile a/f2
appendfile a/f2 "+"
readfile a/f
readdir a`},
	{name: "link/upper-file", fix: fixBase, ops: `
writefile n "n"
link n d2/n
stat n
stat d2/n
remove n
stat d2/n
readfile d2/n`},
	{name: "link/dir", fix: fixBase, ops: `
link a a2 => EPERM
link d2 d3 => EPERM`},
	{name: "link/existing-target", fix: fixBase, ops: `
link a/f a/g => EEXIST
link a/f top => EEXIST
link nothere x => ENOENT`},
	{name: "link/over-whiteout", fix: fixWh, ops: `
link a/g a/f
stat a/f
readfile a/f`},
	{name: "link/lower-symlink", fix: fixBase, ops: `
link a/l a/l2
lstat a/l2
readlink a/l2`},

	// ---- mknod ----
	{name: "mknod/whiteout-device", fix: fixBase, ops: `
mknod a/w c 0 0 => EPERM
stat a/w => ENOENT`},
	{name: "mknod/fifo", fix: fixBase, ops: `
mknod a/p p
lstat a/p
readdir a`},
	{name: "mknod/chardev", fix: fixBase, ops: `
mknod a/null c 1 3
lstat a/null`},

	// ---- readdir details ----
	{name: "readdir/after-creates", fix: fixBase, ops: `
writefile a/zz "z"
writefile a/00 "0"
mkdir a/mid
readdir a
readdirinfo a
lsdir a`},
	{name: "readdir/after-remove-recreate", fix: fixBase, ops: `
remove a/h
writefile a/h "new h"
remove a/g
readdir a`},
	{name: "readdir/partial-reads", fix: fixFour, ops: `
open d m r
freaddir d 2
freaddir d 2
freaddir d 100
freaddir d 1 => EOF
close d`},
	{name: "readdir/open-dir-sees-snapshot", fix: fixBase, ops: `
open d a r
freaddir d 1
writefile a/late "l"
freaddir d 100
close d
readdir a`},
	{name: "readdir/whiteouts-not-listed", fix: fixWh, ops: `
readdirinfo a
readdirinfo .
lsdir .`},
	{name: "readdir/positions-count-whiteouts", fix: `
-- upper --
whiteout m/b
whiteout m/d
file m/u "u"
-- lower1 --
file m/a "a"
file m/b "b"
file m/c "c"
file m/d "d"
`, ops: `
open d m r
freaddir d 1
seek d 0 1
freaddir d 100
seek d 0 1
seek d 3 0
freaddir d 100
seek d 0 0
freaddir d 100
close d`},
	{name: "readdir/positions-one-layer", fix: fixBase, ops: `
open d a r
freaddir d 100
seek d 0 1
seek d 0 0
freaddir d 1
seek d 0 1
close d`},
	{name: "readdir/not-a-dir", fix: fixBase, ops: `
open f a/f r
freaddir f 1 => ENOTDIR
close f`},
	{name: "readdir/merged-root-many-layers", fix: `
-- upper --
file u1 "u"
file c3 "u"
-- lower1 --
file z1 "z"
file b3 "b"
file y1 "y"
-- lower2 --
file a3 "a"
file b3 "b"
file c3 "c"
`, ops: `
readdir .`},

	// ---- read-only overlays ----
	{name: "ro/reads", ro: true, fix: fixRO, ops: `
readdir a
readdir o
readfile a/f
readfile a/two
readfile a/three
stat a/gone => ENOENT
stat o/old => ENOENT
readlink a/l
readfile a/l
stat a
listxattr a/f`},
	{name: "ro/writes-erofs", ro: true, fix: fixRO, ops: `
writefile a/f "x" => EROFS
writefile a/new "x" => EROFS
appendfile a/f "x" => EROFS
open f a/f rw => EROFS
open f a/f w => EROFS
open f a/f r+trunc => EROFS
create a/c => EROFS
mkdir a/d => EROFS
mkdirall a/d/e => EROFS
remove a/f => EROFS
removeall a => EROFS
rename a/f a/g => EROFS
symlink f a/s => EROFS
link a/f a/h => EROFS
truncate a/f 0 => EROFS
chmod a/f 0600 => EROFS
chown a/f 1 1 => EROFS
chtimes a/f 1 1 => EROFS
setxattr a/f user.x "y" => EROFS
removexattr a/f user.x => EROFS
mknod a/p p => EROFS
readfile a/f`},
	{name: "ro/errno-precedence", ro: true, fix: fixRO, ops: `
mkdir a => EEXIST
remove nothere => EROFS
open f nothere/x w+creat => ENOENT
open f a/f r+creat => ok
close f
open f a/f w+creat+excl => EEXIST
rename nothere x => EROFS
stat a/gone => ENOENT`},
	{name: "ro/two-lowers-symlink-dir", ro: true, fix: `
-- lower1 --
link d -> real
dir real
file real/x "x"
-- lower2 --
dir real
file real/y "y"
`, ops: `
readdir d
readfile d/y
stat d`},
	{name: "ro/four-lowers", ro: true, fix: fixFour, ops: `
readdir m
readfile m/same
stat m/w4 => ENOENT
writefile m/l1 "x" => EROFS`},

	// ---- mixed sequences ----
	{name: "seq/create-rename-remove", fix: fixBase, ops: `
writefile a/x "x"
rename a/x a/y
rename a/y d2/y
remove d2/y
readdir a
readdir d2`},
	{name: "seq/copyup-then-chmod-then-rename", fix: fixBase, ops: `
chmod a/h 0600
rename a/h a/h2
stat a/h2
readfile a/h2
readdir a`},
	{name: "seq/whiteout-then-link-over", fix: fixBase, ops: `
remove a/g
link a/f a/g
stat a/g
readfile a/g`},
	{name: "seq/xwhiteout-name-recreate", fix: `
-- lower1 --
dir a
xwhiteout a/f
-- lower2 --
dir a
file a/f "hidden"
file a/o "o"
`, ops: `
writefile a/f "new"
readfile a/f
readdir a
remove a/f
stat a/f => ENOENT
readdir a`},
	{name: "seq/mkdir-over-whiteout-then-remove", fix: fixBase, ops: `
removeall a/sub
mkdir a/sub
writefile a/sub/n "n"
remove a/sub/n
remove a/sub
stat a/sub => ENOENT
readdir a`},
	{name: "seq/opaque-then-rename-in", fix: fixBase, ops: `
removeall d2
mkdir d2
rename a/g d2/g
readdir d2
stat d2/x => ENOENT`},
	{name: "seq/append-many", fix: fixBase, ops: `
appendfile a/f "1"
appendfile a/f "2"
open f a/f rw+append
write f "3"
pread f 0 4
close f
readfile a/f`},
	{name: "seq/remove-all-lowers-of-root", fix: `
-- lower1 --
file a "a"
dir d
-- lower2 --
file b "b"
dir d
file d/x "x"
`, ops: `
remove a
remove b
removeall d
readdir .
mkdir d
readdir d`},
	{name: "seq/symlink-dir-writes", fix: fixBase, ops: `
symlink sub a/sl
writefile a/sl/viasl "v"
readdir a/sub
readfile a/sub/viasl
lstat a/sl`},
	{name: "seq/truncate-then-grow", fix: fixBase, ops: `
truncate a/f 0
appendfile a/f "grown"
truncate a/f 8
readfile a/f`},
	// ---- more edge cases ----
	{name: "edge/fd-survives-rename", fix: fixBase, ops: `
open r a/f r
rename a/f a/moved
read r 100
fstat r
close r
readfile a/moved`},
	{name: "edge/write-after-remove", fix: fixBase, ops: `
open w a/g rw
remove a/g
write w "XY"
seek w 0 0
readall w
fstat w
close w
stat a/g => ENOENT`},
	{name: "edge/read-fd-after-remove", fix: fixBase, ops: `
open r a/h r
remove a/h
readall r
close r
readdir a`},
	{name: "edge/link-lower-twice", fix: fixBase, ops: `
link a/f x1
link a/f x2
stat a/f
stat x2
remove x1
stat a/f`},
	{name: "edge/remove-one-lower-hardlink", fix: `
-- lower1 --
dir a
file a/f "shared"
hardlink a/h = a/f
-- lower2 --
file c "c"
`, ops: `
remove a/h
stat a/f
readdir a`},
	{name: "edge/opaque-wrong-value-ignored", fix: `
-- lower1 --
dir a
xattr a trusted.overlay.opaque "yes"
file a/top "t"
-- lower2 --
dir a
file a/below "visible"
`, ops: `
readdir a
readfile a/below
listxattr a`},
	{name: "edge/escaped-xattr-in-lower", fix: `
-- lower1 --
file f "f"
xattr f trusted.overlay.overlay.foo "escaped"
xattr f trusted.overlay.metafoo "private"
xattr f user.plain "p"
-- lower2 --
file g "g"
`, ops: `
listxattr f
getxattr f trusted.overlay.foo
getxattr f trusted.overlay.metafoo => ENODATA userxattr:ok
appendfile f "+"
listxattr f`},
	{name: "edge/user-overlay-xattr", fix: fixXattr, ops: `
setxattr plain user.overlay.foo "v"
getxattr plain user.overlay.foo
listxattr plain`},
	{name: "edge/whiteout-in-bottom-layer", fix: `
-- lower1 --
dir a
file a/f "f"
-- lower2 --
dir a
whiteout a/w
whiteout top
`, ops: `
readdir a
readdir .
stat a/w => ENOENT
stat top => ENOENT`},
	{name: "edge/symlink-to-whiteout", fix: fixWh + `
-- lower3 --
link lnk -> top
`, ops: `
stat lnk => ENOENT
lstat lnk
readfile lnk => ENOENT
writefile lnk "recreated"
readfile top`},
	{name: "edge/rename-upper-file-over-whiteout", fix: fixWh, ops: `
writefile a/new "n"
rename a/new a/f
readfile a/f
readdir a`},
	{name: "edge/rename-into-lower-only-dir", fix: fixDeep, ops: `
writefile up "u"
rename up p/q/r/up
readdir p/q/r
stat p/q`},
	{name: "edge/rename-in-upper-opaque-dir", fix: fixWh, ops: `
writefile d2/n "n"
rename d2/n d2/x
readdir d2
readfile d2/x`},
	{name: "edge/chmod-whited-out", fix: fixWh, ops: `
chmod a/f 0600 => ENOENT
chown top 1 1 => ENOENT
truncate a/f 0 => ENOENT
setxattr top user.x "x" => ENOENT`},
	{name: "edge/root-attrs", fix: fixBase, ops: `
setxattr . user.root "r"
getxattr . user.root
chmod . 0750
stat .
listxattr .`},
	{name: "edge/mkdir-in-opaque-and-pure-upper", fix: fixWh, ops: `
mkdir d2/sub
mkdir nd
mkdir nd/sub
listxattr d2/sub
listxattr nd/sub
readdir d2`},
	{name: "edge/emptied-merged-dir-lists-nothing", fix: fixBase, ops: `
remove d2/x
readdir d2
open d d2 r
freaddir d 10
close d
stat d2`},
	{name: "edge/excl-create-in-lower-only-dir-race-free", fix: fixDeep, ops: `
open f p/q/r/s w+creat+excl => EEXIST
open f p/q/r/s2 w+creat+excl
write f "x"
close f
readdir p/q/r`},
	// Metacopy: under the metacopy variant, metadata changes copy
	// up metadata only and data follows on the first write.
	{name: "metacopy/chmod-then-read-then-write", fix: fixBase, ops: `
chmod a/f 0600
stat a/f
readfile a/f
listxattr a/f
open r a/f r
read r 4
appendfile a/f "+w"
read r 20
close r
readfile a/f`},
	{name: "metacopy/chown-chtimes-setxattr", fix: fixBase, ops: `
chown a/g 1 2
chtimes a/h 1000 2000
setxattr top user.k "v"
readfile a/g
readfile a/h
readfile top
getxattr top user.k`},
	{name: "metacopy/rename-and-link", fix: fixBase, ops: `
chmod a/f 0600
rename a/f a/f2
readfile a/f2
mkdir n
rename a/f2 n/f3
readfile n/f3
chmod a/g 0640
link a/g n/g2
readfile a/g
readfile n/g2
appendfile a/g "+x"
readfile n/g2`},
	{name: "metacopy/truncate-and-otrunc", fix: fixBase, ops: `
chmod a/f 0600
truncate a/f 3
readfile a/f
chmod a/g 0600
open w a/g w+trunc
write w "new"
close w
readfile a/g
chmod top 0600
open r top r
open w2 top w
pwrite w2 0 "TOP"
readall r
close r
close w2`},
	{name: "metacopy/rename-lower-file", fix: fixBase, ops: `
rename a/h a/h2
readfile a/h2
stat a/h => ENOENT
rename top a/top
readfile a/top`},
	// Redirects: renames of merged and lower dirs with
	// redirect_dir=on, and redirects found in lower layers.
	{name: "redirect/same-parent", fix: fixRedirect, ops: `
rename m/d m/d2 => EXDEV redirect:ok metacopy:ok
readdir m/d2 => ENOENT redirect:ok metacopy:ok
readfile m/d2/low => ENOENT redirect:ok metacopy:ok
rename m/d2 m/d3 => ENOENT redirect:ok metacopy:ok
readdir m
listxattr m/d3 => ENOENT redirect:ok metacopy:ok`},
	{name: "redirect/other-parent", fix: fixRedirect, ops: `
mkdir n
rename m/d n/moved => EXDEV redirect:ok metacopy:ok
readdir n/moved => ENOENT redirect:ok metacopy:ok
readfile n/moved/sub/deep => ENOENT redirect:ok metacopy:ok
writefile n/moved/new "new" => ENOENT redirect:ok metacopy:ok
rename n/moved m/back => ENOENT redirect:ok metacopy:ok
readdir m/back => ENOENT redirect:ok metacopy:ok
readdir m`},
	{name: "redirect/nested", fix: fixRedirect, ops: `
rename m/d m/e => EXDEV redirect:ok metacopy:ok
rename m/e/sub top2 => ENOENT redirect:ok metacopy:ok
readdir top2 => ENOENT redirect:ok metacopy:ok
readfile top2/deep => ENOENT redirect:ok metacopy:ok
readdir m/e => ENOENT redirect:ok metacopy:ok
remove m/e => ENOENT redirect:ENOTEMPTY metacopy:ENOTEMPTY
remove m/e/low => ENOENT redirect:ok metacopy:ok
remove m/e/top => ENOENT redirect:ok metacopy:ok
remove m/e => ENOENT redirect:ok metacopy:ok
readdir m`},
	{name: "redirect/absolute-through-opaque", fix: `
-- lower1 --
dir p
opaque p
dir p/q
file p/q/one "1"
-- lower2 --
dir p
dir p/q
file p/q/two "2"
`, ops: `
mkdir n
rename p/q n/r => EXDEV redirect:ok metacopy:ok
readdir n/r => ENOENT redirect:ok metacopy:ok
readdir p`},
	{name: "redirect/absolute-through-symlink", fix: `
-- lower1 --
dir d
dir d/d
file d/d/f "f"
-- lower2 --
link d -> a
dir a
`, ops: `
mkdir n
rename d/d n/x => EXDEV redirect:ok metacopy:ok
readdir n/x => ENOENT redirect:ok metacopy:ok
readfile n/x/f => ENOENT redirect:ok metacopy:ok`},
	{name: "redirect/mkdir-in-merge-dir", fix: fixRedirect, ops: `
mkdir m/fresh
listxattr m/fresh
readdir m/fresh`},
	{name: "redirect/hand-written-relative", fix: fixRedirect, ops: `
readdir hr => ok nofollow:EPERM
readfile hr/from-target => ok nofollow:EPERM
stat hr/own => ok nofollow:EPERM`},
	{name: "redirect/hand-written-absolute", fix: fixRedirect, ops: `
readdir ha => ok nofollow:EPERM
readfile ha/deep => ok nofollow:EPERM
readfile ha/low => ENOENT nofollow:EPERM`},
	{name: "redirect/hand-written-invalid", fix: fixRedirect, ops: `
readdir bad1 => EINVAL
readdir bad2 => EINVAL
readdir bad3 => EINVAL`},
	{name: "redirect/bottom-layer-ignored", fix: fixRedirect, ops: `
readdir bot`},
	// An impure upper dir of a merge dir: the kernel looks up each of its
	// upper entries for d_ino and skips those whose lookup fails (here
	// EPERM under nofollow) or finds nothing; a pure one lists them.
	{name: "redirect/impure-dir-skips-stale-entries", fix: `
-- upper --
dir imp
xattr imp trusted.overlay.impure "y"
dir imp/b
xattr imp/b trusted.overlay.redirect "y"
dir pure
dir pure/b
xattr pure/b trusted.overlay.redirect "y"
-- lower1 --
dir imp
whiteout imp/b
dir pure
whiteout pure/b
-- lower2 --
dir imp
file imp/f "f"
dir pure
file pure/f "f"
`, ops: `
readdir imp
readdir pure
stat imp/b => ok nofollow:EPERM
stat pure/b => ok nofollow:EPERM`},

	// ---- RemoveAll and trailing slashes ----
	{name: "remove/removeall-trailing-slash-symlink", fix: `
-- lower --
dir d
file d/keep "k"
link d/l -> "."
link d/m -> "keep"
-- upper --
dir u
file u/keep "k"
link u/l -> "."
`, ops: `
removeall "d/l/"
readdir d
removeall "u/l/"
readdir u
removeall "d/m/"
readdir d
removeall "d//"
readdir .`},

	// Open flags, trailing slashes, creation modes, ownership and
	// directory handles: divergences found against the kernel.
	{name: "opendiv/creat-directory", fix: fixOpen, ops: `
open c new r+creat+dir => EINVAL
lstat new => ENOENT
open c new rw+creat+excl+dir => EINVAL
lstat new => ENOENT
open c d r+creat+dir => EINVAL
open c f r+creat+dir => EINVAL
open c ud r+creat+dir => EINVAL
open c w r+creat+dir => EINVAL
lstat w => ENOENT`},
	{name: "opendiv/directory-nofollow-symlink", fix: fixOpen, ops: `
open a ld r+dir+nofollow => ENOTDIR
open a lf r+dir+nofollow => ENOTDIR
open a dang r+dir+nofollow => ENOTDIR
open a lf r+nofollow => ELOOP
open a ld r+nofollow => ELOOP
open a ld/ r+nofollow
freaddir a 10
open b ld/ r+dir+nofollow
freaddir b 10
open a ld r+dir
freaddir a 10
open a lf r+dir => ENOTDIR
open a dang r+dir => ENOENT
open a dang w+creat+dir => EINVAL
open a dang w+creat
lstat nowhere`},
	{name: "opendiv/dir-handle-io", fix: fixOpen, ops: `
open a d r
write a x => EBADF
pwrite a 0 x => EBADF
read a 1 => EISDIR
pread a 0 1 => EISDIR
ftruncate a 0 => EINVAL
fstat a
freaddir a 10
close a
open a d r+dir
write a x => EBADF
read a 1 => EISDIR
close a
open a d w => EISDIR
open a d rw => EISDIR
open a d r+trunc => EISDIR
open a d r+append
write a x => EBADF
open a ud r
write a x => EBADF
read a 1 => EISDIR
freaddir a 10`},
	{name: "opendiv/trailing-slash-links", fix: fixOpen, ops: `
readlink ld/ => EINVAL
readlink lf/ => ENOTDIR
readlink dang/ => ENOENT
readlink d/ => EINVAL
readlink ld
symlink foo new/ => ENOENT
lstat new => ENOENT
symlink foo d/ => EEXIST
symlink foo f/ => EEXIST
symlink foo w/ => ENOENT
link f new2/ => ENOENT
lstat new2 => ENOENT
link f/ new3 => ENOTDIR
link ld/ new4 => EPERM
link lf/ new5 => ENOTDIR
link f uf/ => EEXIST
lstat ld/
lstat lf/ => ENOTDIR
stat f/ => ENOTDIR
stat dang/ => ENOENT
lstat w/ => ENOENT`},
	{name: "opendiv/trailing-slash-dirops", fix: fixOpen, ops: `
mkdir nd/
stat nd
mkdir f/ => EEXIST
mkdir w/
remove w/
lstat w/ => ENOENT
remove w/ => ENOENT
remove f/ => ENOTDIR
remove lf/ => ENOTDIR
remove ld/ => ENOTDIR
remove dang/ => ENOTDIR
remove nd/
lstat nd => ENOENT
mknod p1/ p => ENOENT
lstat p1 => ENOENT
mknod f/ p => EEXIST
rename f/ g => ENOTDIR
rename f g/ => ENOTDIR
lstat g => ENOENT
rename lf/ g => ENOTDIR
rename ld/ g => ENOTDIR
rename ud/ ud2/
stat ud2
rename ud2 ud3/
rename ud3/ uf => ENOTDIR
rename uf ud3/ => ENOTDIR
rename uf uf2/ => ENOTDIR
lstat uf2 => ENOENT
rename w/ x => ENOENT`},
	{name: "opendiv/trailing-slash-attrs", fix: fixOpen, ops: `
chmod f/ 0600 => ENOTDIR
chmod lf/ 0600 => ENOTDIR
chmod ld/ 0700
stat d
chown f/ 1 1 => ENOTDIR
chown d/ 1 1
chtimes f/ 1 1 => ENOTDIR
chtimes ld/ 100 100
mtime d
truncate f/ 0 => ENOTDIR
truncate lf/ 0 => ENOTDIR
truncate d/ 0 => EISDIR
truncate w/ 0 => ENOENT
setxattr f/ user.a b => ENOTDIR
setxattr ld/ user.a b
getxattr d user.a
getxattr f/ user.a => ENOTDIR
listxattr lf/ => ENOTDIR
removexattr ld/ user.a
removexattr f/ user.a => ENOTDIR
readfile f/ => ENOTDIR
writefile f/ x => EISDIR
writefile nf/ x => EISDIR
lstat nf => ENOENT
readdir ld/
readdir f/ => ENOTDIR
lsdir ld/`},
	{name: "opendiv/trailing-slash-removeall", fix: fixOpen, ops: `
removeall ld/
lstat ld => ENOENT
stat d/x
removeall f/
lstat f => ENOENT
removeall lf/
lstat lf => ENOENT
removeall d/
lstat d => ENOENT
removeall dang/
removeall w/
removeall nothing/
removeall ud//
lstat ud => ENOENT
mkdirall m/n/
stat m/n
mkdirall uf/x/ => ENOTDIR
mkdirall uf/ => EEXIST`},
	{name: "opendiv/ro-remove-missing", ro: true, fix: fixRO, ops: `
remove a/missing => EROFS
remove missing => EROFS
remove a/gone => EROFS
remove nodir/x => ENOENT
remove a/f/x => ENOTDIR
removeall a/missing
removeall missing
removeall a/gone
removeall nodir/x
removeall a/f/x
removeall a/f/
removeall a/l/
removeall a/f => EROFS
removeall a => EROFS
removeall o/ => EROFS
stat a/f`},
	{name: "opendiv/create-mode-bits", fix: fixModes, ops: `
mkdir m1 02755
stat m1
mkdir m2 04755
stat m2
mkdir m3 01777
stat m3
mkdir m4 07777
stat m4
mkdir m5 0777
stat m5
mknod p1 p
stat p1
open f c1 w+creat 07777
fstat f
open f c2 w+creat 02755
fstat f
open f c3 w+creat 04644
fstat f
open f c4 w+creat 01666
fstat f
writefile c5 x 06755
stat c5
chmod c5 07777
stat c5
chmod m5 07777
stat m5
chmod lowf 06711
stat lowf
chmod lowd 03777
stat lowd`},
	{name: "opendiv/create-in-setgid-dir", fix: fixModes, ops: `
mkdir sg/d1 0755
stat sg/d1
mkdir sg/d2 0700
stat sg/d2
mkdir usg/d3 0755
stat usg/d3
mkdir sg/d1/d4
stat sg/d1/d4
writefile sg/f1 x 0755
stat sg/f1
writefile sg/f2 x 02755
stat sg/f2
writefile sg/f3 x 02745
stat sg/f3
mknod sg/p1 p
stat sg/p1
symlink f1 sg/l1
lstat sg/l1
mkdir sgnox/d5
stat sgnox/d5
writefile sgnox/f5 x 02775
stat sgnox/f5
mkdir plain/d6 02755
stat plain/d6
rename plain/d6 sg/d6
stat sg/d6
mkdir wsg/w1 0700
stat wsg/w1
writefile wsg/w2 x 02755
stat wsg/w2
symlink x wsg/w3
lstat wsg/w3
mknod wsg/w4 p
stat wsg/w4`},
	{name: "opendiv/ro-fd-sees-data-after-rename", fix: fixBase, ops: `
open r a/f r
read r 3
rename a/f a/moved
writefile a/moved "new data written"
read r 100
pread r 0 3
fstat r
open s a/g r
rename a/g a/g2
rename a/g2 g3
appendfile g3 "+more"
pread s 0 100
fstat s
open t top r
rename top top2
remove top2
pread t 0 100`},
	{name: "opendiv/not-owner-eperm", fix: fixOwned, ops: `
as 1000 1000
chmod own 0600 => EPERM
chown own 1000 1000 => EPERM
chown own -1 1000 => EPERM
chown own 5 -1 => EPERM
chtimes own 1 1 => EPERM
chtimes own - 1 => EPERM
chtimes own - -
chmod uown 0600 => EPERM
chtimes uown 1 1 => EPERM
chmod odir 0700 => EPERM
chtimes odir 5 5 => EPERM
chmod nothing 0600 => ENOENT
as 5 5
chown uown 7 -1 => EPERM
chown uown 5 5
chmod uown 0600
chtimes uown 100 100
as 0 0
stat own
stat uown
mtime uown
stat odir`},
	{name: "opendiv/chtimes-omit-both", fix: fixBase, ops: `
chtimes top - -
chtimes missing - -
chtimes a/f - 100
mtime a/f`},
	{name: "opendiv/dir-handle-after-changes", fix: fixBase, ops: `
open d a r
freaddir d 1
writefile a/new "n"
remove a/g
freaddir d 100
seek d 0 1
seek d 0 2 => EINVAL
seek d -100 1 => EINVAL
seek d 0 0
freaddir d 100
fstat d
chmod a 0700
fstat d
close d
open e a/sub r
writefile a/sub/x "x"
freaddir e 100
seek e 0 0
freaddir e 100
fstat e
open u d2 r
mkdir d2/nd
rename d2/x d2/y
seek u 0 0
freaddir u 100
read u 1 => EISDIR
write u x => EBADF
ftruncate u 0 => EINVAL
close u
close e`},
	// Positions in a dir: the kernel's are those of its merged listing,
	// whose "." and ".." (and whiteouts) sit where the lowest layer's
	// readdir puts them; the library's count "." and ".." first and no
	// whiteouts, so only a rewind and the position after a full read of a
	// dir without whiteouts compare.
	{name: "opendiv/dir-handle-seek-merged", fix: fixFour, ops: `
open d m r
freaddir d 2
freaddir d 100
freaddir d 100 => EOF
seek d 0 0
freaddir d 100
seek d 0 0
freaddir d 1
seek d 0 0
freaddir d 100`},
	{name: "opendiv/dir-handle-renamed", fix: fixBase, ops: `
mkdir e
writefile e/one "1"
open d e r
rename e e2
writefile e2/two "2"
seek d 0 0
freaddir d 10
fstat d
chmod e2 0700
fstat d
open f a/sub r
writefile a/sub/new "n"
seek f 0 0
freaddir f 10`},
	// (A removed dir's size is its filesystem's: ext4 empties it, tmpfs
	// keeps it; so it is not stat'ed here.)
	{name: "opendiv/dir-handle-removed", fix: fixBase, ops: `
mkdir e
open d e r
remove e
freaddir d 10
open f d2 r
removeall d2
seek f 0 0
freaddir f 10
mkdir d2
writefile d2/new "n"
seek f 0 0
freaddir f 10`},
	{name: "opendiv/ro-fd-after-dir-rename", fix: fixBase, ops: `
open r a/f r
open s a/sub/deep r
rename a b => EXDEV redirect:ok metacopy:ok
writefile b/f "new f" => ENOENT redirect:ok metacopy:ok
writefile b/sub/deep "new deep" => ENOENT redirect:ok metacopy:ok
pread r 0 100
pread s 0 100
fstat r`},
}
