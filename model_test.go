package overlay_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/afero"
	"pgregory.net/rapid"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/model"
	"github.com/go-overlay/overlay/internal/ondisk"
	"github.com/go-overlay/overlay/internal/testerrno"
)

// The reference-model state machine: random lower layers, then random
// operations run both on the overlay and on internal/model; after every
// step the errno and the canonical dumps of the merged tree (and, for
// in-memory uppers, of the upper layer) must agree. On in-memory layers
// each run draws the options too: the defaults, redirect_dir=on,
// metacopy=on (with redirect_dir=on), userxattr (private xattrs as
// user.overlay.*, else the defaults' semantics), fsync=volatile (the
// defaults' semantics), metacopy=on with a data-only layer, whose
// blobs/* files hold the data of metacopy files in the lower layers,
// xino=on (each MemFS is its own filesystem, so xino is in effect), or
// index=on. Without metacopy, a lower MemFS layer may hold hard links
// (one model node at two paths): copy-up breaks them, unless index=on.

// modelNames is the name alphabet: small, so that operations collide.
var modelNames = []string{"a", "b", "c", "d"}

// modelPerms avoid group and other write bits, so that no umask matters.
var modelPerms = []fs.FileMode{0o755, 0o700, 0o644, 0o600, 0o500, 0o444}

var modelData = []string{"", "x", "hello", "0123456789"}

// modelXattrs are the user xattrs the machine uses.
var modelXattrs = []string{"user.x", "user.y"}

// Flags of setxattr(2) (include/uapi/linux/xattr.h).
const (
	xattrCreate  = 0x1
	xattrReplace = 0x2
)

var modelOpenFlags = []int{
	os.O_RDONLY,
	os.O_WRONLY,
	os.O_RDWR,
	os.O_RDONLY | os.O_CREATE,
	os.O_WRONLY | os.O_CREATE,
	os.O_RDWR | os.O_CREATE,
	os.O_WRONLY | os.O_CREATE | os.O_EXCL,
	os.O_RDWR | os.O_CREATE | os.O_EXCL,
	os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
	os.O_WRONLY | os.O_TRUNC,
	os.O_WRONLY | os.O_APPEND,
	os.O_RDWR | os.O_CREATE | os.O_APPEND,
}

// modelBackend says how the machine builds layers.
type modelBackend struct {
	name   string
	afero  bool // OCI-encoded afero MemMapFs layers: no symlinks, no xattrs
	dumpUp bool // compare the upper layer too
}

func TestModelMem(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runModel(t, modelBackend{name: "mem", dumpUp: true}) })
}

func TestModelAfero(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runModel(t, modelBackend{name: "afero", afero: true}) })
}

// genName draws an overlay path of 1-3 names.
func genName(t *rapid.T, label string) string {
	n := rapid.IntRange(1, 3).Draw(t, label+"-len")
	parts := make([]string, n)
	for i := range parts {
		parts[i] = rapid.SampledFrom(modelNames).Draw(t, label)
	}
	return strings.Join(parts, "/")
}

// genTarget draws a relative symlink target, possibly dangling, looping,
// or climbing above the root.
func genTarget(t *rapid.T) string {
	n := rapid.IntRange(1, 3).Draw(t, "target-len")
	parts := make([]string, n)
	for i := range parts {
		parts[i] = rapid.SampledFrom([]string{"a", "b", "c", "d", "z", "..", "."}).Draw(t, "target")
	}
	return strings.Join(parts, "/")
}

// genLayer draws a lower layer: files, dirs, symlinks (unless afero),
// whiteouts and opaque dirs, at most 3 deep. With a data-only layer
// (dataOnly not nil), some files are metacopy files whose data genLayer
// puts in dataOnly at blobs/<n>. With links, some files are hard links to
// a file drawn before in the same layer (the same *model.Node).
func genLayer(t *rapid.T, label string, b modelBackend, dataOnly model.Layer, links bool) model.Layer {
	l := model.Layer{}
	var files []*model.Node
	var fill func(dir string, depth int)
	fill = func(dir string, depth int) {
		for _, name := range modelNames {
			p := path.Join(dir, name)
			kind := rapid.IntRange(0, 11).Draw(t, label+" "+p)
			var n *model.Node
			switch kind {
			case 0, 1, 2, 3, 4:
				continue
			case 5, 6:
				if links && len(files) > 0 && rapid.IntRange(0, 2).Draw(t, "hard-link") == 0 {
					l[p] = rapid.SampledFrom(files).Draw(t, "link-to")
					continue
				}
				n = &model.Node{Kind: model.File, Data: rapid.SampledFrom(modelData).Draw(t, "data")}
				files = append(files, n)
				if dataOnly != nil && rapid.Bool().Draw(t, "metacopy") {
					blob := fmt.Sprintf("blobs/m%d", len(dataOnly))
					dataOnly["blobs"] = &model.Node{Kind: model.Dir, Mode: 0o755}
					dataOnly[blob] = &model.Node{Kind: model.File, Mode: 0o644, Data: n.Data}
					n.Metacopy, n.Size, n.Redirect, n.Data = true, len(n.Data), "/"+blob, ""
				}
			case 7, 8:
				n = &model.Node{Kind: model.Dir}
			case 9:
				if b.afero {
					continue
				}
				n = &model.Node{Kind: model.Symlink, Mode: 0o777, Target: genTarget(t)}
			case 10:
				n = &model.Node{Kind: model.Whiteout}
			case 11:
				n = &model.Node{Kind: model.OpaqueDir}
			}
			if n.Kind == model.File || n.Kind.IsDir() {
				n.Mode = rapid.SampledFrom(modelPerms).Draw(t, "mode")
				if !b.afero && rapid.IntRange(0, 3).Draw(t, "has-xattr") == 0 {
					n.Xattrs = map[string]string{
						rapid.SampledFrom(modelXattrs).Draw(t, "xattr"): rapid.SampledFrom(modelData).Draw(t, "xattr-value"),
					}
				}
			}
			l[p] = n
			if n.Kind.IsDir() && depth < 3 {
				fill(p, depth+1)
			}
		}
	}
	fill("", 1)
	return l
}

// layerEntries lists a model layer for logs.
func layerEntries(l model.Layer) string {
	var es []model.Entry
	for p, n := range l {
		es = append(es, model.Entry{Path: p, Kind: n.Kind, Mode: n.Mode, Data: n.Data, Target: n.Target, Xattrs: n.Xattrs,
			Redirect: n.Redirect, Metacopy: n.Metacopy, Size: n.Size})
	}
	return model.Format(es)
}

func sortedPaths(l model.Layer) []string {
	var ps []string
	for p := range l {
		ps = append(ps, p)
	}
	sort.Strings(ps) // parents before children
	return ps
}

// buildMem writes l into a MemFS in the kernel's format, with the private
// xattrs under prefix ("trusted.overlay." or, for userxattr,
// "user.overlay."). A metacopy file holds zeros of its data's size.
func buildMem(t *rapid.T, l model.Layer, prefix string) *overlay.MemFS {
	m := overlay.NewMemFS()
	made := map[*model.Node]string{} // files made, to hard-link the same node
	for _, p := range sortedPaths(l) {
		n := l[p]
		if first, ok := made[n]; ok {
			if err := m.Link(first, p); err != nil {
				t.Fatalf("building MemFS layer: %v", err)
			}
			continue
		}
		if n.Kind == model.File {
			made[n] = p
		}
		var err error
		switch n.Kind {
		case model.File:
			if !n.Metacopy {
				err = m.WriteFile(p, []byte(n.Data), n.Mode)
				break
			}
			err = m.WriteFile(p, make([]byte, n.Size), n.Mode)
			if err == nil {
				err = m.Setxattr(p, prefix+"metacopy", nil)
			}
			if err == nil {
				err = m.Setxattr(p, prefix+"redirect", []byte(n.Redirect))
			}
		case model.Dir, model.OpaqueDir:
			err = m.Mkdir(p, n.Mode)
			if err == nil && n.Kind == model.OpaqueDir {
				err = m.Setxattr(p, prefix+"opaque", []byte("y"))
			}
		case model.Symlink:
			err = m.Symlink(n.Target, p)
		case model.Whiteout:
			err = m.Mknod(p, syscall.S_IFCHR, 0)
		}
		if err == nil && (n.Kind == model.File || n.Kind.IsDir()) {
			err = m.Chmod(p, n.Mode)
		}
		for k, v := range n.Xattrs {
			if err == nil {
				err = m.Setxattr(p, k, []byte(v))
			}
		}
		if err != nil {
			t.Fatalf("building MemFS layer: %v", err)
		}
	}
	return m
}

// buildAfero writes l into an afero MemMapFs in the OCI encoding.
func buildAfero(t *rapid.T, l model.Layer) afero.Fs {
	a := afero.NewMemMapFs()
	for _, rel := range sortedPaths(l) {
		n := l[rel]
		p := "/" + rel // MemMapFs keeps "a" and "/a" apart; the layer uses "/a"
		var err error
		switch n.Kind {
		case model.File:
			if err = afero.WriteFile(a, p, []byte(n.Data), n.Mode); err == nil {
				err = a.Chmod(p, n.Mode)
			}
		case model.Dir, model.OpaqueDir:
			if err = a.Mkdir(p, n.Mode); err == nil {
				err = a.Chmod(p, n.Mode|fs.ModeDir)
			}
			if err == nil && n.Kind == model.OpaqueDir {
				err = afero.WriteFile(a, path.Join(p, ".wh..wh..opq"), nil, 0o644)
			}
		case model.Whiteout:
			err = afero.WriteFile(a, path.Join(path.Dir(p), ".wh."+path.Base(p)), nil, 0o644)
		default:
			t.Fatalf("afero layer with %v", n.Kind)
		}
		if err != nil {
			t.Fatalf("building afero layer: %v", err)
		}
	}
	return a
}

func runModel(t *rapid.T, b modelBackend) {
	opts := "default"
	if !b.afero {
		// The private xattrs these features write need xattr layers.
		opts = rapid.SampledFrom([]string{"default", "redirect_dir=on", "metacopy=on",
			"userxattr", "fsync=volatile", "metacopy=on,data-only", "xino=on", "index=on", "index=on,nfs_export=on"}).Draw(t, "options")
	}
	var dataOnly model.Layer
	if opts == "metacopy=on,data-only" {
		dataOnly = model.Layer{}
	}
	nl := rapid.IntRange(1, 3).Draw(t, "lowers")
	readOnly := nl >= 2 && rapid.IntRange(0, 4).Draw(t, "read-only") == 0
	lowers := make([]model.Layer, nl)
	for i := range lowers {
		lowers[i] = genLayer(t, fmt.Sprintf("L%d", i+1), b, dataOnly, !b.afero && !strings.HasPrefix(opts, "metacopy"))
	}
	model.PruneGhostWhiteouts(lowers)
	for i, l := range lowers {
		t.Logf("lower %d:\n%s", i+1, layerEntries(l))
	}
	if dataOnly != nil {
		t.Logf("data-only:\n%s", layerEntries(dataOnly))
	}
	t.Logf("options: %s, read-only: %v", opts, readOnly)
	m := model.New(lowers, !readOnly)

	var o overlay.Options
	prefix := ondisk.TrustedPrefix
	switch opts {
	case "redirect_dir=on":
		o.RedirectDir = overlay.RedirectOn
		m.RedirectDir = true
	case "metacopy=on", "metacopy=on,data-only":
		o.RedirectDir, o.Metacopy = overlay.RedirectOn, overlay.SwitchOn
		m.RedirectDir, m.Metacopy = true, true
	case "userxattr":
		// Implies redirect_dir=nofollow and metacopy off: for what the
		// machine does, the defaults' semantics.
		o.Userxattr = true
		prefix = ondisk.UserPrefix
	case "fsync=volatile":
		o.Fsync = overlay.FsyncVolatile
	case "xino=on":
		o.Xino = overlay.XinoOn
		m.Xino = true
	case "index=on":
		o.Index = overlay.SwitchOn
		m.Index = true
	case "index=on,nfs_export=on":
		// The merged tree is index's: nfs_export adds file handles and
		// index entries for every copy-up, which the dumps do not show.
		o.Index, o.NFSExport = overlay.SwitchOn, overlay.SwitchOn
		m.Index = true
	}
	if dataOnly != nil {
		o.DataOnly = []*overlay.Layer{overlay.MemLayer(buildMem(t, dataOnly, prefix))}
		m.DataOnly = dataOnly
	}
	var upperMem *overlay.MemFS
	for _, l := range lowers {
		if b.afero {
			o.Lower = append(o.Lower, overlay.AferoLayer(buildAfero(t, l)))
		} else {
			o.Lower = append(o.Lower, overlay.MemLayer(buildMem(t, l, prefix)))
		}
	}
	if !readOnly {
		if b.afero {
			o.Upper = overlay.AferoLayer(afero.NewMemMapFs())
		} else {
			upperMem = overlay.NewMemFS()
			o.Upper = overlay.MemLayer(upperMem)
		}
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer fsys.Close()
	overlay.ActAsRoot(fsys) // the model is root's view, whoever runs the tests

	// lowerPaths are the paths the lower layers hold (whiteouts
	// excluded), so that renames of lower dirs and metadata changes of
	// lower files (which make redirects and metacopy files) are frequent.
	var lowerPaths, lowerDirs, lowerFiles []string
	seen := map[string]bool{}
	for _, l := range lowers {
		for _, p := range sortedPaths(l) {
			if l[p].Kind != model.Whiteout && !seen[p] {
				seen[p] = true
				lowerPaths = append(lowerPaths, p)
				switch {
				case l[p].Kind.IsDir():
					lowerDirs = append(lowerDirs, p)
				case l[p].Kind == model.File:
					lowerFiles = append(lowerFiles, p)
				}
			}
		}
	}
	sort.Strings(lowerPaths)
	sort.Strings(lowerDirs)
	sort.Strings(lowerFiles)

	// name draws an overlay path: half the time one a lower layer has,
	// else any of the alphabet.
	name := func(t *rapid.T, label string) string {
		if len(lowerPaths) > 0 && rapid.Bool().Draw(t, label+"-lower") {
			return rapid.SampledFrom(lowerPaths).Draw(t, label)
		}
		return genName(t, label)
	}
	opath := func(t *rapid.T, p string) string {
		if rapid.Bool().Draw(t, "slash") {
			return "/" + p
		}
		return p
	}
	same := func(t *rapid.T, what string, want syscall.Errno, err error) {
		t.Helper()
		if got := testerrno.Require(t, what, err); got != want {
			t.Fatalf("%s: overlay errno %v (%v), model %v", what, got, err, want)
		}
	}

	actions := map[string]func(*rapid.T){
		"OpenFile": func(t *rapid.T) {
			p := name(t, "name")
			flag := rapid.SampledFrom(modelOpenFlags).Draw(t, "flag")
			perm := rapid.SampledFrom(modelPerms).Draw(t, "perm")
			data := []byte(rapid.SampledFrom(modelData).Draw(t, "data"))
			what := fmt.Sprintf("OpenFile(%q, %#o, %v) + write %q", p, flag, perm, data)
			f, err := fsys.OpenFile(opath(t, p), flag, perm)
			same(t, what, m.OpenFile(p, flag, perm, data), err)
			if err != nil {
				return
			}
			if flag&(os.O_WRONLY|os.O_RDWR) != 0 && len(data) > 0 {
				if n, err := f.Write(data); err != nil || n != len(data) {
					t.Fatalf("%s: Write: %d, %v", what, n, err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatalf("%s: Close: %v", what, err)
			}
		},
		"Mkdir": func(t *rapid.T) {
			p := name(t, "name")
			perm := rapid.SampledFrom(modelPerms).Draw(t, "perm")
			same(t, fmt.Sprintf("Mkdir(%q, %v)", p, perm), m.Mkdir(p, perm), fsys.Mkdir(opath(t, p), perm))
		},
		"Remove": func(t *rapid.T) {
			p := name(t, "name")
			same(t, fmt.Sprintf("Remove(%q)", p), m.Remove(p), fsys.Remove(opath(t, p)))
		},
		"Rename": func(t *rapid.T) {
			p, q := name(t, "old"), name(t, "new")
			if rapid.IntRange(0, 2).Draw(t, "same-dir") == 0 {
				// Within one dir: relative redirects.
				q = path.Join(path.Dir(p), rapid.SampledFrom(append(modelNames, "e")).Draw(t, "new-base"))
			}
			same(t, fmt.Sprintf("Rename(%q, %q)", p, q), m.Rename(p, q), fsys.Rename(opath(t, p), opath(t, q)))
		},
		// Renames of dirs that lower layers have (redirects, or EXDEV
		// without redirect_dir=on) and of lower files (metacopy files
		// with redirects, with metacopy=on).
		"RenameLower": func(t *rapid.T) {
			from := lowerDirs
			if len(lowerFiles) > 0 && (len(from) == 0 || rapid.Bool().Draw(t, "file")) {
				from = lowerFiles
			}
			if len(from) == 0 {
				return
			}
			p := rapid.SampledFrom(from).Draw(t, "old")
			q := genName(t, "new")
			if rapid.Bool().Draw(t, "same-dir") {
				q = path.Join(path.Dir(p), rapid.SampledFrom(append(modelNames, "e")).Draw(t, "new-base"))
			}
			same(t, fmt.Sprintf("Rename(%q, %q)", p, q), m.Rename(p, q), fsys.Rename(opath(t, p), opath(t, q)))
		},
		"Truncate": func(t *rapid.T) {
			p := name(t, "name")
			size := rapid.Int64Range(0, 12).Draw(t, "size")
			same(t, fmt.Sprintf("Truncate(%q, %d)", p, size), m.Truncate(p, size), fsys.Truncate(opath(t, p), size))
		},
		"Chmod": func(t *rapid.T) {
			p := name(t, "name")
			mode := rapid.SampledFrom(modelPerms).Draw(t, "mode")
			same(t, fmt.Sprintf("Chmod(%q, %v)", p, mode), m.Chmod(p, mode), fsys.Chmod(opath(t, p), mode))
		},
		"": func(t *rapid.T) {
			if d := cmp.Diff(m.Dump(), dumpOverlay(t, fsys)); d != "" {
				t.Fatalf("merged tree differs (-model +overlay):\n%s", d)
			}
			if upperMem != nil && b.dumpUp {
				if d := cmp.Diff(m.DumpUpper(), dumpMemUpper(t, upperMem, fsys, prefix)); d != "" {
					t.Fatalf("upper layer differs (-model +overlay):\n%s", d)
				}
			}
		},
	}
	if !b.afero {
		actions["Symlink"] = func(t *rapid.T) {
			target, p := genTarget(t), name(t, "name")
			same(t, fmt.Sprintf("Symlink(%q, %q)", target, p), m.Symlink(target, p), fsys.Symlink(target, opath(t, p)))
		}
	}
	if !b.afero {
		actions["Setxattr"] = func(t *rapid.T) {
			p := name(t, "name")
			value := rapid.SampledFrom(modelData).Draw(t, "value")
			flags := rapid.SampledFrom([]int{0, xattrCreate, xattrReplace}).Draw(t, "flags")
			same(t, fmt.Sprintf("Setxattr(%q, user.x, %q, %d)", p, value, flags),
				m.Setxattr(p, "user.x", []byte(value), flags),
				fsys.Setxattr(opath(t, p), "user.x", []byte(value), flags))
		}
	}
	t.Repeat(actions)
}

// dumpOverlay walks the merged tree through the overlay's public API into
// the model's canonical format.
func dumpOverlay(t *rapid.T, fsys *overlay.FS) string {
	var es []model.Entry
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := fsys.ReadDir("/" + dir)
		if err != nil {
			t.Fatalf("dump: ReadDir(%q): %v", dir, err)
		}
		for _, de := range ents {
			p := path.Join(dir, de.Name())
			fi, err := fsys.Lstat("/" + p)
			if err != nil {
				t.Fatalf("dump: Lstat(%q) of a listed name: %v", p, err)
			}
			e := model.Entry{Path: p, Mode: fi.Mode().Perm()}
			switch typ := fi.Mode().Type(); typ {
			case 0:
				e.Kind = model.File
				data, err := afero.ReadFile(fsys, "/"+p)
				if err != nil {
					t.Fatalf("dump: ReadFile(%q): %v", p, err)
				}
				e.Data = string(data)
			case fs.ModeDir:
				e.Kind = model.Dir
			case fs.ModeSymlink:
				e.Kind = model.Symlink
				if e.Target, err = fsys.Readlink("/" + p); err != nil {
					t.Fatalf("dump: Readlink(%q): %v", p, err)
				}
			default:
				t.Fatalf("dump: %q has type %v", p, typ)
			}
			if e.Kind != model.Symlink {
				e.Xattrs = userXattrs(t, fsys, p)
			}
			es = append(es, e)
			if e.Kind == model.Dir {
				walk(p)
			}
		}
	}
	walk("")
	return model.Format(es)
}

// userXattrs reads the user.* xattrs of p through the overlay.
func userXattrs(t *rapid.T, fsys *overlay.FS, p string) map[string]string {
	names, err := fsys.Listxattr("/" + p)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		return nil
	}
	if err != nil {
		t.Fatalf("dump: Listxattr(%q): %v", p, err)
	}
	var xs map[string]string
	for _, n := range names {
		if !strings.HasPrefix(n, "user.") {
			continue
		}
		v, err := fsys.Getxattr("/"+p, n)
		if err != nil {
			t.Fatalf("dump: Getxattr(%q, %q): %v", p, n, err)
		}
		if xs == nil {
			xs = map[string]string{}
		}
		xs[n] = string(v)
	}
	return xs
}

// dumpMemUpper walks an upper MemFS into the model's canonical format. The
// MemFS API has no directory listing, so the names of the alphabet, "e"
// and "z" are probed (every name the machine can create is one: "e" comes
// from same-dir renames, "z" from creating through a dangling symlink); it has no readlink either, so a
// symlink's target is read through the overlay, where every non-whiteout
// upper entry is visible at its own path. A whiteout is a character device
// (the MemFS FileInfo carries no rdev to check 0/0). The private xattrs
// are read under prefix ("trusted.overlay." or "user.overlay.").
func dumpMemUpper(t *rapid.T, up *overlay.MemFS, fsys *overlay.FS, prefix string) string {
	var es []model.Entry
	var walk func(dir string)
	walk = func(dir string) {
		for _, name := range append(modelNames, "e", "z") {
			p := path.Join(dir, name)
			fi, err := up.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatalf("upper dump: Lstat(%q): %v", p, err)
			}
			e := model.Entry{Path: p, Mode: fi.Mode().Perm()}
			if v, err := up.Getxattr(p, prefix+"redirect"); err == nil {
				e.Redirect = string(v)
			} else if !errors.Is(err, overlay.ErrNoData) {
				t.Fatalf("upper dump: Getxattr(%q, redirect): %v", p, err)
			}
			switch typ := fi.Mode().Type(); typ {
			case 0:
				e.Kind = model.File
				data, err := up.ReadFile(p)
				if err != nil {
					t.Fatalf("upper dump: ReadFile(%q): %v", p, err)
				}
				e.Data = string(data)
				v, err := up.Getxattr(p, prefix+"metacopy")
				switch {
				case err == nil:
					// A metacopy file: full size, no data (reads as zeros).
					if len(v) != 0 {
						t.Fatalf("upper dump: %q: metacopy xattr %q, want empty", p, v)
					}
					if strings.Trim(e.Data, "\x00") != "" {
						t.Fatalf("upper dump: metacopy file %q holds data %q", p, e.Data)
					}
					e.Metacopy, e.Size, e.Data = true, len(data), ""
				case !errors.Is(err, overlay.ErrNoData):
					t.Fatalf("upper dump: Getxattr(%q, metacopy): %v", p, err)
				}
			case fs.ModeDir:
				e.Kind = model.Dir
				v, err := up.Getxattr(p, prefix+"opaque")
				if err == nil && string(v) == "y" {
					e.Kind = model.OpaqueDir
				}
			case fs.ModeSymlink:
				e.Kind = model.Symlink
				if e.Target, err = fsys.Readlink("/" + p); err != nil {
					t.Fatalf("upper dump: Readlink(%q) through the overlay: %v", p, err)
				}
			case fs.ModeDevice | fs.ModeCharDevice:
				e.Kind = model.Whiteout
			default:
				t.Fatalf("upper dump: %q has type %v", p, typ)
			}
			if e.Kind == model.File || e.Kind.IsDir() {
				for _, x := range modelXattrs {
					v, err := up.Getxattr(p, x)
					if errors.Is(err, overlay.ErrNoData) {
						continue
					}
					if err != nil {
						t.Fatalf("upper dump: Getxattr(%q, %q): %v", p, x, err)
					}
					if e.Xattrs == nil {
						e.Xattrs = map[string]string{}
					}
					e.Xattrs[x] = string(v)
				}
			}
			es = append(es, e)
			if e.Kind.IsDir() {
				walk(p)
			}
		}
	}
	walk("")
	return model.Format(es)
}
