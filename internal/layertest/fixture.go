// Package layertest builds overlay layer stacks for tests from a small text
// format, writes them in each layer encoding the overlay package reads
// (kernel on-disk format in host directories, kernel format in MemFS values,
// OCI in-band format on afero filesystems), dumps trees canonically, and
// mounts the kernel's overlayfs for differential tests.
//
// # Fixture format
//
// A fixture is a list of sections, one per layer, each introduced by a
// header line "-- NAME --" where NAME is "upper", "lower" (the same as
// "lower1") or "lowerN". lower1 is the top-most lower layer, as in the
// kernel's lowerdir= list. Inside a section every line is one entry:
//
//	dir       PATH [MODE] [uid=N] [gid=N]
//	file      PATH ["CONTENT"] [MODE] [uid=N] [gid=N]
//	link      PATH -> TARGET           symbolic link
//	hardlink  PATH = EXISTING          hard link to an earlier entry of the layer
//	whiteout  PATH                     char 0/0 (OCI: .wh.NAME)
//	opaque    PATH                     dir marked opaque "y" (OCI: .wh..wh..opq)
//	xwhiteout PATH                     zero-size file with the whiteout xattr;
//	                                   its parent gets opaque "x" (OCI: .wh.NAME)
//	xattr     PATH NAME ["VALUE"]      extended attribute on an earlier entry
//
// MODE is octal with a leading 0 (0644). CONTENT, VALUE, PATH and TARGET may
// be Go-quoted strings, which allows spaces and escapes; other tokens end at
// white space. Missing parent directories are created with mode 0755. Blank
// lines and lines starting with "#" are ignored.
package layertest

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Kind is the kind of a fixture entry.
type Kind uint8

const (
	Dir Kind = iota + 1
	File
	Symlink
	Hardlink
	Whiteout
	Opaque
	XWhiteout
	Xattr
)

var kindNames = map[string]Kind{
	"dir": Dir, "file": File, "link": Symlink, "hardlink": Hardlink,
	"whiteout": Whiteout, "opaque": Opaque, "xwhiteout": XWhiteout, "xattr": Xattr,
}

func (k Kind) String() string {
	for n, v := range kindNames {
		if v == k {
			return n
		}
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Entry is one line of a layer section.
type Entry struct {
	Kind Kind
	Path string      // clean, slash-separated, relative to the layer root
	Mode fs.FileMode // permission bits (Dir, File); 0 means the default
	// Data is the content (File), the target (Symlink), the existing path
	// (Hardlink) or the value (Xattr).
	Data     string
	Attr     string // xattr name (Xattr)
	UID, GID int    // owner (Dir, File); -1 when not given
}

// Layer is one section of a fixture.
type Layer struct {
	Name    string
	Entries []Entry
}

// Stack is a parsed fixture: the lower layers, top-most first, and the
// upper layer (nil for a read-only stack).
type Stack struct {
	Lowers []Layer
	Upper  *Layer
}

// MustParse is like Parse but panics on error; for fixtures in test tables.
func MustParse(text string) Stack {
	s, err := Parse(text)
	if err != nil {
		panic(err)
	}
	return s
}

// Parse reads a fixture.
func Parse(text string) (Stack, error) {
	var s Stack
	lowers := map[int]*Layer{}
	var cur *Layer
	for i, line := range strings.Split(text, "\n") {
		lineno := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			name := strings.TrimSpace(line[3 : len(line)-3])
			l := &Layer{Name: name}
			switch {
			case name == "upper":
				if s.Upper != nil {
					return s, fmt.Errorf("line %d: duplicate upper section", lineno)
				}
				s.Upper = l
			case strings.HasPrefix(name, "lower"):
				n := 1
				if name != "lower" {
					var err error
					n, err = strconv.Atoi(name[len("lower"):])
					if err != nil || n < 1 {
						return s, fmt.Errorf("line %d: bad section name %q", lineno, name)
					}
				}
				if lowers[n] != nil {
					return s, fmt.Errorf("line %d: duplicate section %q", lineno, name)
				}
				lowers[n] = l
			default:
				return s, fmt.Errorf("line %d: bad section name %q", lineno, name)
			}
			cur = l
			continue
		}
		if cur == nil {
			return s, fmt.Errorf("line %d: entry before the first section", lineno)
		}
		e, err := parseEntry(line)
		if err != nil {
			return s, fmt.Errorf("line %d: %v", lineno, err)
		}
		cur.Entries = append(cur.Entries, e)
	}
	var ns []int
	for n := range lowers {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		s.Lowers = append(s.Lowers, *lowers[n])
	}
	if len(s.Lowers) == 0 {
		return s, fmt.Errorf("no lower layer")
	}
	return s, nil
}

// Tokens splits a line into white-space separated tokens; a token starting
// with a double quote is a Go-quoted string and is unquoted. Test op
// scripts use the same lexical rules as fixtures.
func Tokens(line string) ([]string, error) {
	toks, _, err := rawTokens(line)
	return toks, err
}

// rawTokens is like Tokens but reports which tokens were quoted.
func rawTokens(line string) (toks []string, quoted []bool, err error) {
	for {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			return toks, quoted, nil
		}
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, nil, fmt.Errorf("bad quoted string in %q", line)
			}
			u, _ := strconv.Unquote(q)
			toks, quoted = append(toks, u), append(quoted, true)
			line = line[len(q):]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		toks, quoted = append(toks, line[:end]), append(quoted, false)
		line = line[end:]
	}
}

func cleanPath(p string) (string, error) {
	c := path.Clean("/" + p)[1:]
	if c == "" {
		return "", fmt.Errorf("path %q names the layer root", p)
	}
	return c, nil
}

// isMode reports whether an unquoted token is an octal mode like 0644.
func isMode(tok string) (fs.FileMode, bool) {
	if len(tok) < 2 || tok[0] != '0' {
		return 0, false
	}
	v, err := strconv.ParseUint(tok, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, false
	}
	return unixPerm(uint32(v)), true
}

// unixPerm converts raw permission bits (with setuid, setgid, sticky) to an
// fs.FileMode.
func unixPerm(v uint32) fs.FileMode {
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func parseEntry(line string) (Entry, error) {
	toks, quoted, err := rawTokens(line)
	if err != nil {
		return Entry{}, err
	}
	if len(toks) < 2 {
		return Entry{}, fmt.Errorf("want KIND PATH ...: %q", line)
	}
	k, ok := kindNames[toks[0]]
	if !ok || quoted[0] {
		return Entry{}, fmt.Errorf("unknown kind %q", toks[0])
	}
	e := Entry{Kind: k, UID: -1, GID: -1}
	if e.Path, err = cleanPath(toks[1]); err != nil {
		return e, err
	}
	rest, restq := toks[2:], quoted[2:]
	switch k {
	case Dir, File:
		for i, t := range rest {
			switch {
			case restq[i] && k == File:
				e.Data = t
			case !restq[i] && strings.HasPrefix(t, "uid="):
				e.UID, err = strconv.Atoi(t[4:])
			case !restq[i] && strings.HasPrefix(t, "gid="):
				e.GID, err = strconv.Atoi(t[4:])
			default:
				m, ok := isMode(t)
				if !ok || restq[i] {
					return e, fmt.Errorf("unexpected %q in %s entry", t, k)
				}
				e.Mode = m
			}
			if err != nil {
				return e, fmt.Errorf("bad owner %q", t)
			}
		}
	case Symlink:
		if len(rest) != 2 || rest[0] != "->" || restq[0] {
			return e, fmt.Errorf("want: link PATH -> TARGET")
		}
		e.Data = rest[1]
	case Hardlink:
		if len(rest) != 2 || rest[0] != "=" || restq[0] {
			return e, fmt.Errorf("want: hardlink PATH = EXISTING")
		}
		if e.Data, err = cleanPath(rest[1]); err != nil {
			return e, err
		}
	case Whiteout, Opaque, XWhiteout:
		if len(rest) != 0 {
			return e, fmt.Errorf("%s takes only a path", k)
		}
	case Xattr:
		if len(rest) < 1 || len(rest) > 2 {
			return e, fmt.Errorf("want: xattr PATH NAME [VALUE]")
		}
		e.Attr = rest[0]
		if len(rest) == 2 {
			e.Data = rest[1]
		}
	}
	return e, nil
}

// parents lists the ancestors of p (not p itself), outermost first.
func parents(p string) []string {
	var ps []string
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		ps = append([]string{d}, ps...)
	}
	return ps
}

func dirMode(e Entry) fs.FileMode {
	if e.Mode == 0 {
		return 0o755
	}
	return e.Mode
}

func fileMode(e Entry) fs.FileMode {
	if e.Mode == 0 {
		return 0o644
	}
	return e.Mode
}

// writer is what the builders share: a layer under construction in one
// encoding. Every method gets a clean relative path whose parent exists.
type writer interface {
	exists(p string) bool
	mkdir(p string, perm fs.FileMode) error
	writeFile(p, data string, perm fs.FileMode) error
	symlink(target, p string) error
	link(oldp, newp string) error
	whiteout(p string) error
	opaque(dir string) error
	xwhiteout(p string) error
	setxattr(p, name, value string) error
	chown(p string, uid, gid int) error
}

// build writes one layer through w, creating missing parents.
func build(l Layer, w writer) error {
	mkparents := func(p string) error {
		for _, d := range parents(p) {
			if !w.exists(d) {
				if err := w.mkdir(d, 0o755); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, e := range l.Entries {
		if err := mkparents(e.Path); err != nil {
			return fmt.Errorf("%s: %s %s: %w", l.Name, e.Kind, e.Path, err)
		}
		var err error
		switch e.Kind {
		case Dir:
			if w.exists(e.Path) {
				err = fmt.Errorf("exists")
			} else {
				err = w.mkdir(e.Path, dirMode(e))
			}
		case File:
			err = w.writeFile(e.Path, e.Data, fileMode(e))
		case Symlink:
			err = w.symlink(e.Data, e.Path)
		case Hardlink:
			err = w.link(e.Data, e.Path)
		case Whiteout:
			err = w.whiteout(e.Path)
		case Opaque:
			if !w.exists(e.Path) {
				err = w.mkdir(e.Path, 0o755)
			}
			if err == nil {
				err = w.opaque(e.Path)
			}
		case XWhiteout:
			err = w.xwhiteout(e.Path)
		case Xattr:
			err = w.setxattr(e.Path, e.Attr, e.Data)
		}
		if err == nil && (e.Kind == Dir || e.Kind == File) && (e.UID >= 0 || e.GID >= 0) {
			err = w.chown(e.Path, e.UID, e.GID) // -1: as made
		}
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", l.Name, e.Kind, e.Path, err)
		}
	}
	return nil
}

// Uses reports whether any layer of s has an entry of kind k.
func (s Stack) Uses(k Kind) bool {
	layers := s.Lowers
	if s.Upper != nil {
		layers = append(append([]Layer(nil), layers...), *s.Upper)
	}
	for _, l := range layers {
		for _, e := range l.Entries {
			if e.Kind == k {
				return true
			}
		}
	}
	return false
}
