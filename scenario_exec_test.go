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
	"github.com/go-overlay/overlay/internal/layertest"
)

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
