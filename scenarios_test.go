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
	"github.com/go-overlay/overlay/internal/layer"
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
