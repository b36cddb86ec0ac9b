package model

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay/internal/layer"
	"pgregory.net/rapid"
)

func file(data string) *Node { return &Node{Kind: File, Mode: 0o644, Data: data} }
func dir() *Node             { return &Node{Kind: Dir, Mode: 0o755} }
func opaque() *Node          { return &Node{Kind: OpaqueDir, Mode: 0o755} }
func wh() *Node              { return &Node{Kind: Whiteout} }
func link(t string) *Node    { return &Node{Kind: Symlink, Mode: 0o777, Target: t} }

func lines(s ...string) string {
	if len(s) == 0 {
		return ""
	}
	return strings.Join(s, "\n") + "\n"
}

func check(t *testing.T, what string, got syscall.Errno, want syscall.Errno) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: errno %v, want %v", what, got, want)
	}
}

func checkDump(t *testing.T, m *Model, merged, upper string) {
	t.Helper()
	if got := m.Dump(); got != merged {
		t.Errorf("Dump:\n%s\nwant:\n%s", got, merged)
	}
	if got := m.DumpUpper(); got != upper {
		t.Errorf("DumpUpper:\n%s\nwant:\n%s", got, upper)
	}
}

func TestLookupRules(t *testing.T) {
	l1 := Layer{
		"d":   dir(),
		"d/x": file("1"),
		"d/w": wh(),
		"o":   opaque(),
		"o/n": file("new"),
		"f":   dir(), // a dir over a file: the file is not merged
		"f/y": file("y"),
	}
	l2 := Layer{
		"d":   dir(),
		"d/w": file("hidden"),
		"d/z": file("2"),
		"o":   dir(),
		"o/g": file("gone"),
		"f":   file("file"),
		"g":   file("g2"),
	}
	l3 := Layer{
		"d":   dir(),
		"d/x": file("3"),
		"d/z": dir(), // below a non-dir: not reached
		"g":   dir(), // below a non-dir: never merged
		"g/q": file("q"),
	}
	m := New([]Layer{l1, l2, l3}, false)
	checkDump(t, m, lines(
		`d dir 0755`,
		`d/x file 0644 data="1"`,
		`d/z file 0644 data="2"`,
		`f dir 0755`,
		`f/y file 0644 data="y"`,
		`g file 0644 data="g2"`,
		`o dir 0755`,
		`o/n file 0644 data="new"`,
	), "")
}

func TestUnlinkLeavesWhiteout(t *testing.T) {
	m := New([]Layer{{"a": dir(), "a/b": file("x"), "c": file("c")}}, true)
	check(t, "unlink a/b", m.Remove("a/b"), 0)
	check(t, "unlink a/b again", m.Remove("a/b"), syscall.ENOENT)
	check(t, "create c/x", m.OpenFile("c/x", os.O_CREATE|os.O_WRONLY, 0o644, nil), syscall.ENOTDIR)
	checkDump(t, m, lines(`a dir 0755`, `c file 0644 data="c"`),
		lines(`a dir 0755`, `a/b whiteout 0000`))
	// A pure upper file leaves no trace.
	check(t, "create a/n", m.OpenFile("a/n", os.O_CREATE|os.O_WRONLY, 0o600, []byte("hi")), 0)
	check(t, "remove a/n", m.Remove("a/n"), 0)
	checkDump(t, m, lines(`a dir 0755`, `c file 0644 data="c"`),
		lines(`a dir 0755`, `a/b whiteout 0000`))
}

func TestMkdirOverWhiteoutIsOpaque(t *testing.T) {
	m := New([]Layer{{"a": dir(), "a/b": file("x")}}, true)
	check(t, "rmdir a", m.Remove("a"), syscall.ENOTEMPTY)
	check(t, "rm a/b", m.Remove("a/b"), 0)
	check(t, "rmdir a", m.Remove("a"), 0)
	checkDump(t, m, "", lines(`a whiteout 0000`))
	check(t, "mkdir a", m.Mkdir("a", 0o700), 0)
	checkDump(t, m, lines(`a dir 0700`), lines(`a opaque-dir 0700`))
	check(t, "mkdir a", m.Mkdir("a", 0o700), syscall.EEXIST)
	// A pure upper dir is removed without trace; an opaque one over a
	// lower dir leaves a whiteout again.
	check(t, "mkdir a/x", m.Mkdir("a/x", 0o755), 0)
	check(t, "rmdir a/x", m.Remove("a/x"), 0)
	check(t, "rmdir a", m.Remove("a"), 0)
	checkDump(t, m, "", lines(`a whiteout 0000`))
}

func TestMkdirOverLowerWhiteoutIsPlain(t *testing.T) {
	m := New([]Layer{{"a": wh()}, {"a": dir(), "a/b": file("")}}, true)
	check(t, "mkdir a", m.Mkdir("a", 0o755), 0)
	checkDump(t, m, lines(`a dir 0755`), lines(`a dir 0755`))
}

func TestRmdirMerged(t *testing.T) {
	m := New([]Layer{{"d": dir(), "d/x": file("")}, {"d": dir(), "d/y": file("")}}, true)
	check(t, "rm d/x", m.Remove("d/x"), 0)
	check(t, "rmdir d", m.Rmdir("d"), syscall.ENOTEMPTY)
	check(t, "unlink d", m.Unlink("d"), syscall.EISDIR)
	check(t, "rmdir d/y", m.Rmdir("d/y"), syscall.ENOTDIR)
	check(t, "rm d/y", m.Remove("d/y"), 0)
	check(t, "rmdir d", m.Rmdir("d"), 0)
	checkDump(t, m, "", lines(`d whiteout 0000`))
}

func TestRename(t *testing.T) {
	lower := Layer{
		"ld":   dir(),
		"ld/f": file("lf"),
		"e":    dir(),
		"f":    file("f"),
	}
	m := New([]Layer{lower}, true)
	check(t, "rename lower dir", m.Rename("ld", "x"), syscall.EXDEV)
	check(t, "rename lower dir onto itself", m.Rename("ld", "ld"), 0)
	check(t, "rename into own subtree", m.Rename("ld", "ld/q"), syscall.EINVAL)
	check(t, "rename onto ancestor", m.Rename("ld/f", "ld"), syscall.ENOTEMPTY)
	check(t, "dir over file", m.Rename("e", "f"), syscall.ENOTDIR)
	check(t, "file over dir", m.Rename("f", "e"), syscall.EISDIR)
	check(t, "missing", m.Rename("nope", "x"), syscall.ENOENT)
	check(t, "file over merged non-empty dir", m.Rename("ld/f", "e"), syscall.EISDIR)
	checkDump(t, m, lines(`e dir 0755`, `f file 0644 data="f"`, `ld dir 0755`, `ld/f file 0644 data="lf"`), "")

	check(t, "move lower file", m.Rename("ld/f", "g"), 0)
	checkDump(t, m,
		lines(`e dir 0755`, `f file 0644 data="f"`, `g file 0644 data="lf"`, `ld dir 0755`),
		lines(`g file 0644 data="lf"`, `ld dir 0755`, `ld/f whiteout 0000`))

	check(t, "mkdir u", m.Mkdir("u", 0o755), 0)
	check(t, "mkdir u/v", m.Mkdir("u/v", 0o755), 0)
	check(t, "rename lower dir over non-empty pure dir", m.Rename("e", "u"), syscall.EXDEV)
	check(t, "rename pure dir over non-empty", m.Rename("u/v", "u"), syscall.ENOTEMPTY)
	check(t, "pure upper dir into merge parent", m.Rename("u", "ld/u"), 0)
	checkDump(t, m,
		lines(`e dir 0755`, `f file 0644 data="f"`, `g file 0644 data="lf"`, `ld dir 0755`, `ld/u dir 0755`, `ld/u/v dir 0755`),
		lines(`g file 0644 data="lf"`, `ld dir 0755`, `ld/f whiteout 0000`, `ld/u opaque-dir 0755`, `ld/u/v dir 0755`))
	// The moved dir is pure upper: it moves again, over an empty lower dir.
	check(t, "rm u/v", m.Remove("ld/u/v"), 0)
	check(t, "pure dir over empty lower dir", m.Rename("ld/u", "e"), 0)
	checkDump(t, m,
		lines(`e dir 0755`, `f file 0644 data="f"`, `g file 0644 data="lf"`, `ld dir 0755`),
		lines(`e opaque-dir 0755`, `g file 0644 data="lf"`, `ld dir 0755`, `ld/f whiteout 0000`))
	check(t, "file over file", m.Rename("g", "f"), 0)
	checkDump(t, m,
		lines(`e dir 0755`, `f file 0644 data="lf"`, `ld dir 0755`),
		lines(`e opaque-dir 0755`, `f file 0644 data="lf"`, `ld dir 0755`, `ld/f whiteout 0000`))
}

func TestRenamePureDirInPureParent(t *testing.T) {
	m := New([]Layer{{"a": file("")}}, true)
	check(t, "mkdir p", m.Mkdir("p", 0o755), 0)
	check(t, "mkdir p/q", m.Mkdir("p/q", 0o755), 0)
	check(t, "rename p/q p/r", m.Rename("p/q", "p/r"), 0)
	check(t, "rename p p2", m.Rename("p", "p2"), 0)
	checkDump(t, m, lines(`a file 0644 data=""`, `p2 dir 0755`, `p2/r dir 0755`),
		lines(`p2 opaque-dir 0755`, `p2/r dir 0755`))
}

func TestReadOnly(t *testing.T) {
	m := New([]Layer{{"a": file("x"), "d": dir()}, {}}, false)
	check(t, "open ro", m.OpenFile("a", os.O_RDONLY, 0, nil), 0)
	check(t, "open rw", m.OpenFile("a", os.O_RDWR, 0, nil), syscall.EROFS)
	check(t, "create", m.OpenFile("b", os.O_CREATE|os.O_WRONLY, 0o644, nil), syscall.EROFS)
	check(t, "create existing", m.OpenFile("a", os.O_CREATE|os.O_RDONLY, 0o644, nil), 0)
	check(t, "open missing", m.OpenFile("b", os.O_RDONLY, 0, nil), syscall.ENOENT)
	check(t, "mkdir existing", m.Mkdir("a", 0o755), syscall.EEXIST)
	check(t, "mkdir", m.Mkdir("b", 0o755), syscall.EROFS)
	check(t, "remove missing", m.Remove("b"), syscall.EROFS)
	check(t, "rename", m.Rename("a", "b"), syscall.EROFS)
	check(t, "truncate dir", m.Truncate("d", 0), syscall.EISDIR)
	check(t, "truncate", m.Truncate("a", 0), syscall.EROFS)
	check(t, "chmod", m.Chmod("a", 0o600), syscall.EROFS)
	check(t, "chmod missing", m.Chmod("b", 0o600), syscall.ENOENT)
	check(t, "setxattr", m.Setxattr("a", "user.x", nil, 0), syscall.EROFS)
	check(t, "symlink", m.Symlink("a", "s"), syscall.EROFS)
	checkDump(t, m, lines(`a file 0644 data="x"`, `d dir 0755`), "")
}

func TestSymlinks(t *testing.T) {
	lower := Layer{
		"d":     dir(),
		"d/f":   file("df"),
		"d/up":  link(".."),
		"d/s":   link("../x/y"),
		"l":     link("d"),
		"loop":  link("loop"),
		"dang":  link("nope"),
		"above": link("../../d/f"),
		"x":     dir(),
	}
	m := New([]Layer{lower}, true)
	check(t, "write through dir link", m.OpenFile("l/f", os.O_WRONLY, 0, []byte("ab")), 0)
	check(t, "loop", m.OpenFile("loop", os.O_RDONLY, 0, nil), syscall.ELOOP)
	check(t, "loop in dir", m.Mkdir("loop/x", 0o755), syscall.ELOOP)
	check(t, "mkdir on link", m.Mkdir("dang", 0o755), syscall.EEXIST)
	check(t, "excl on dangling", m.OpenFile("dang", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644, nil), syscall.EEXIST)
	check(t, "create through dangling", m.OpenFile("dang", os.O_CREATE|os.O_WRONLY, 0o600, []byte("n")), 0)
	check(t, "create through dangling in dir", m.OpenFile("d/s", os.O_CREATE|os.O_WRONLY, 0o600, []byte("y")), 0)
	check(t, "create through link to dir", m.OpenFile("d/up", os.O_CREATE|os.O_WRONLY, 0o600, nil), syscall.EISDIR)
	check(t, "open link to dir ro", m.OpenFile("d/up", os.O_RDONLY, 0, nil), 0)
	check(t, "append above root", m.OpenFile("above", os.O_WRONLY|os.O_APPEND, 0, []byte("!")), 0)
	check(t, "chmod through link", m.Chmod("l", 0o700), 0)
	check(t, "remove link", m.Remove("l"), 0)
	check(t, "file as dir", m.Mkdir("d/f/x", 0o755), syscall.ENOTDIR)
	check(t, "truncate extends", m.Truncate("d/up/nope", 3), 0)
	checkDump(t, m, lines(
		`above symlink 0777 -> "../../d/f"`,
		`d dir 0700`,
		`d/f file 0644 data="ab!"`,
		`d/s symlink 0777 -> "../x/y"`,
		`d/up symlink 0777 -> ".."`,
		`dang symlink 0777 -> "nope"`,
		`loop symlink 0777 -> "loop"`,
		`nope file 0600 data="n\x00\x00"`,
		`x dir 0755`,
		`x/y file 0600 data="y"`,
	), lines(
		`d dir 0700`,
		`d/f file 0644 data="ab!"`,
		`l whiteout 0000`,
		`nope file 0600 data="n\x00\x00"`,
		`x dir 0755`,
		`x/y file 0600 data="y"`,
	))
}

func TestSetxattrCopiesUpBeforeFlags(t *testing.T) {
	lower := Layer{"d": dir(), "d/f": {Kind: File, Mode: 0o640, Data: "z", Xattrs: map[string]string{"user.y": "1"}}}
	m := New([]Layer{lower}, true)
	check(t, "replace missing", m.Setxattr("d/f", "user.x", []byte("v"), 2), layer.ErrNoData)
	check(t, "create", m.Setxattr("d/f", "user.x", []byte("v"), 1), 0)
	check(t, "create again", m.Setxattr("d/f", "user.x", []byte("w"), 1), syscall.EEXIST)
	check(t, "replace", m.Setxattr("d", "user.x", []byte("w"), 0), 0)
	check(t, "missing", m.Setxattr("d/g", "user.x", nil, 0), syscall.ENOENT)
	want := lines(`d dir 0755 user.x="w"`, `d/f file 0640 data="z" user.x="v" user.y="1"`)
	checkDump(t, m, want, want)
}

func TestOpenWrite(t *testing.T) {
	m := New([]Layer{{"f": file("hello")}}, true)
	check(t, "read only open", m.OpenFile("f", os.O_RDONLY, 0, nil), 0)
	checkDump(t, m, lines(`f file 0644 data="hello"`), "")
	check(t, "overwrite", m.OpenFile("f", os.O_RDWR, 0, []byte("J")), 0)
	checkDump(t, m, lines(`f file 0644 data="Jello"`), lines(`f file 0644 data="Jello"`))
	check(t, "trunc", m.OpenFile("f", os.O_WRONLY|os.O_TRUNC, 0, []byte("ab")), 0)
	check(t, "dir for write", m.OpenFile("", os.O_WRONLY, 0, nil), syscall.EISDIR)
	check(t, "excl", m.OpenFile("f", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0, nil), syscall.EEXIST)
	check(t, "truncate", m.Truncate("f", 1), 0)
	checkDump(t, m, lines(`f file 0644 data="a"`), lines(`f file 0644 data="a"`))
}

func TestPruneGhostWhiteouts(t *testing.T) {
	l1 := Layer{"s": dir(), "s/w": wh(), "m": dir(), "m/w": wh(), "o": opaque(), "o/w": wh(), "w": wh()}
	l2 := Layer{"m": dir(), "m/w": file(""), "o": dir(), "o/w": file(""), "w": file("")}
	PruneGhostWhiteouts([]Layer{l1, l2})
	for _, p := range []string{"s/w", "o/w"} {
		if l1[p] != nil {
			t.Errorf("%s kept", p)
		}
	}
	for _, p := range []string{"m/w", "w"} {
		if l1[p] == nil {
			t.Errorf("%s pruned", p)
		}
	}
}

// TestInvariants runs random operations on the model alone and checks
// what the kernel guarantees of an upper layer it writes: it is a
// well-formed tree, every entry in it is visible at its own path, and
// every whiteout hides a lower entry.
func TestInvariants(t *testing.T) {
	names := []string{"a", "b", "c"}
	genName := func(t *rapid.T) string {
		n := rapid.IntRange(1, 3).Draw(t, "len")
		var parts []string
		for range n {
			parts = append(parts, rapid.SampledFrom(names).Draw(t, "name"))
		}
		return strings.Join(parts, "/")
	}
	rapid.Check(t, func(t *rapid.T) {
		var lowers []Layer
		for range rapid.IntRange(1, 3).Draw(t, "lowers") {
			l := Layer{}
			var fill func(parent string, depth int)
			fill = func(parent string, depth int) {
				for _, name := range names {
					p := join(parent, name)
					switch rapid.IntRange(0, 7).Draw(t, "kind") {
					case 3:
						l[p] = file("f")
					case 4:
						l[p] = link(rapid.SampledFrom([]string{"a", "../b", "c/a", ".."}).Draw(t, "target"))
					case 5:
						l[p] = wh()
					case 6, 7:
						l[p] = dir()
						if rapid.Bool().Draw(t, "opaque") {
							l[p] = opaque()
						}
						if depth < 3 {
							fill(p, depth+1)
						}
					}
				}
			}
			fill("", 1)
			lowers = append(lowers, l)
		}
		PruneGhostWhiteouts(lowers)
		m := New(lowers, true)
		t.Repeat(map[string]func(*rapid.T){
			"open": func(t *rapid.T) {
				m.OpenFile(genName(t), rapid.SampledFrom([]int{os.O_RDONLY, os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE | os.O_EXCL}).Draw(t, "flag"), 0o644, []byte("d"))
			},
			"mkdir":    func(t *rapid.T) { m.Mkdir(genName(t), 0o755) },
			"remove":   func(t *rapid.T) { m.Remove(genName(t)) },
			"rename":   func(t *rapid.T) { m.Rename(genName(t), genName(t)) },
			"symlink":  func(t *rapid.T) { m.Symlink("../a", genName(t)) },
			"chmod":    func(t *rapid.T) { m.Chmod(genName(t), 0o700) },
			"setxattr": func(t *rapid.T) { m.Setxattr(genName(t), "user.x", []byte("v"), 0) },
			"": func(t *rapid.T) {
				_ = m.Dump()
				for p, n := range m.Upper {
					if p == "" {
						continue
					}
					if par := m.Upper[parentOf(p)]; parentOf(p) != "" && (par == nil || !par.Kind.IsDir()) {
						t.Fatalf("upper %q has no parent dir:\n%s", p, m.DumpUpper())
					}
					if n.Kind == Whiteout {
						if m.lookup(p) != nil || !m.lowerPositive(p) {
							t.Fatalf("useless whiteout %q:\n%s", p, m.DumpUpper())
						}
						if !m.isMerge(parentOf(p)) {
							t.Fatalf("whiteout %q in a non-merge dir:\n%s", p, m.DumpUpper())
						}
						continue
					}
					if st := m.lookup(p); st == nil || st[0].node != n {
						t.Fatalf("upper %q not visible:\n%s", p, m.DumpUpper())
					}
				}
			},
		})
	})
}

// The upper filesystem's rename finds a pure upper target non-empty only
// after ovl_rename marked the source opaque: the marker stays.
func TestRenameOverPureUpperNonEmpty(t *testing.T) {
	m := New([]Layer{{"l": file("")}}, true)
	check(t, "mkdir p", m.Mkdir("p", 0o755), 0)
	check(t, "mkdir q", m.Mkdir("q", 0o755), 0)
	check(t, "mkdir q/x", m.Mkdir("q/x", 0o755), 0)
	check(t, "rename p q", m.Rename("p", "q"), syscall.ENOTEMPTY)
	checkDump(t, m, lines(`l file 0644 data=""`, `p dir 0755`, `q dir 0755`, `q/x dir 0755`),
		lines(`p opaque-dir 0755`, `q dir 0755`, `q/x dir 0755`))
}

func TestRedirectDir(t *testing.T) {
	lower := Layer{
		"a":     dir(),
		"a/b":   dir(),
		"a/b/f": file("f"),
		"x":     dir(),
	}
	m := New([]Layer{lower}, true)
	m.RedirectDir = true
	check(t, "rename within a", m.Rename("a/b", "a/b2"), 0)
	check(t, "rename again within a", m.Rename("a/b2", "a/b3"), 0)
	checkDump(t, m,
		lines(`a dir 0755`, `a/b3 dir 0755`, `a/b3/f file 0644 data="f"`, `x dir 0755`),
		lines(`a dir 0755`, `a/b whiteout 0000`, `a/b3 dir 0755 redirect="b"`))
	check(t, "move to x", m.Rename("a/b3", "x/y"), 0)
	check(t, "rename a", m.Rename("a", "c"), 0)
	check(t, "mkdir in merge dir", m.Mkdir("x/new", 0o755), 0)
	checkDump(t, m,
		lines(`c dir 0755`, `x dir 0755`, `x/new dir 0755`, `x/y dir 0755`, `x/y/f file 0644 data="f"`),
		lines(`a whiteout 0000`, `c dir 0755 redirect="a"`, `c/b whiteout 0000`,
			`x dir 0755`, `x/new opaque-dir 0755`, `x/y dir 0755 redirect="/a/b"`))
	// The whiteout c/b hides b below the redirected c.
	check(t, "rename x/y back under c", m.Rename("x/y", "c/b"), 0)
	checkDump(t, m,
		lines(`c dir 0755`, `c/b dir 0755`, `c/b/f file 0644 data="f"`, `x dir 0755`, `x/new dir 0755`),
		lines(`a whiteout 0000`, `c dir 0755 redirect="a"`, `c/b dir 0755 redirect="/a/b"`,
			`x dir 0755`, `x/new opaque-dir 0755`))
}

func TestRedirectAbsoluteWalk(t *testing.T) {
	l1 := Layer{"p": opaque(), "p/q": dir(), "p/q/one": file("1")}
	l2 := Layer{"p": dir(), "p/q": dir(), "p/q/two": file("2")}
	m := New([]Layer{l1, l2}, true)
	m.RedirectDir = true
	check(t, "move p/q", m.Rename("p/q", "r"), 0)
	// The opaque p of lower 1 ends the search, as in ovl_lookup_layer.
	checkDump(t, m,
		lines(`p dir 0755`, `r dir 0755`, `r/one file 0644 data="1"`),
		lines(`p dir 0755`, `p/q whiteout 0000`, `r dir 0755 redirect="/p/q"`))
}

func TestMetacopy(t *testing.T) {
	lower := Layer{"d": dir(), "d/f": file("data"), "g": file("gg")}
	m := New([]Layer{lower}, true)
	m.RedirectDir, m.Metacopy = true, true
	check(t, "chmod", m.Chmod("d/f", 0o600), 0)
	check(t, "rename in d", m.Rename("d/f", "d/f2"), 0)
	check(t, "rename g out", m.Rename("g", "d/g"), 0)
	checkDump(t, m,
		lines(`d dir 0755`, `d/f2 file 0600 data="data"`, `d/g file 0644 data="gg"`),
		lines(`d dir 0755`, `d/f whiteout 0000`, `d/f2 file 0600 data="" metacopy size=4 redirect="f"`,
			`d/g file 0644 data="" metacopy size=2 redirect="/g"`, `g whiteout 0000`))
	check(t, "open for writing", m.OpenFile("d/f2", os.O_WRONLY, 0, []byte("D")), 0)
	check(t, "truncate", m.Truncate("d/g", 1), 0)
	checkDump(t, m,
		lines(`d dir 0755`, `d/f2 file 0600 data="Data"`, `d/g file 0644 data="g"`),
		lines(`d dir 0755`, `d/f whiteout 0000`, `d/f2 file 0600 data="Data" redirect="f"`,
			`d/g file 0644 data="g" redirect="/g"`, `g whiteout 0000`))
}
