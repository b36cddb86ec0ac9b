package model

import (
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// The layers are numbered as the kernel does: 0 is the upper layer, 1..n
// the lowers.
// The data-only layer, when there is one, is numbered len(Lowers)+1.
func (m *Model) layer(i int) Layer {
	switch i {
	case 0:
		return m.Upper
	case len(m.Lowers) + 1:
		return m.DataOnly
	}
	return m.Lowers[i-1]
}

// dataEnt is the data-only layer's entry for a metacopy node with the
// absolute redirect "/"+p when it is a regular file there, else nothing.
func (m *Model) dataEnt(redirect string) []ent {
	if !strings.HasPrefix(redirect, "/") {
		return nil
	}
	p := redirect[1:]
	if n := m.DataOnly[p]; n != nil && n.Kind == File {
		return []ent{{len(m.Lowers) + 1, p, n}}
	}
	return nil
}

// ent is one layer's entry for a path: the layer, the path inside that
// layer (which differs from the overlay path below a redirect), the entry.
type ent struct {
	layer int
	path  string
	node  *Node
}

var rootNode = &Node{Kind: Dir, Mode: 0o755}

func (m *Model) get(layer int, p string) *Node {
	n := m.layer(layer)[p]
	if n == nil && p == "" {
		return rootNode
	}
	return n
}

// rootStack is the root's stack: the root is always a merge dir of every
// layer.
func (m *Model) rootStack() []ent {
	var s []ent
	for i := 0; i <= len(m.Lowers); i++ {
		if i == 0 && m.Upper == nil {
			continue
		}
		s = append(s, ent{i, "", m.get(i, "")})
	}
	return s
}

// lookup returns the stack of layer entries that make up the merged object
// at the clean path p (symlinks are not followed in any component), top-most
// first, or nil when p does not exist. For a directory the stack holds every
// directory merged into it; for a non-directory it has one entry, or two
// for a metacopy upper file: the upper file and the lower file holding its
// data.
func (m *Model) lookup(p string) []ent {
	stack := m.rootStack()
	if p == "" {
		return stack
	}
	q := ""
	for _, name := range strings.Split(p, "/") {
		if !stack[0].node.Kind.IsDir() {
			return nil
		}
		q = path.Join(q, name)
		stack = m.child(stack, q, name)
		if stack == nil {
			return nil
		}
	}
	return stack
}

// child looks up name (at overlay path q) in the layers of its parent's
// stack, top-most first, with the stop rules of ovl_lookup: a whiteout ends
// the search (and hides everything below); a non-directory is the result
// when nothing was found above it, and otherwise ends the merge without
// taking part; a directory is merged, and an opaque one ends the search.
// An upper dir or metacopy file with a redirect is searched for below
// under the redirected name: a relative redirect replaces name, an
// absolute one is looked up from the root (lowerAbs). A metacopy upper
// file takes the first lower entry found as its data.
func (m *Model) child(parent []ent, q, name string) []ent {
	var out []ent
	lowers := parent
	if hasUpper(parent) {
		lowers = parent[1:]
		n := m.Upper[q]
		switch {
		case n == nil:
		case n.Kind == Whiteout:
			return nil
		case n.Kind == OpaqueDir:
			return []ent{{0, q, n}}
		case n.Kind == Dir || n.Metacopy:
			out = []ent{{0, q, n}}
			if strings.HasPrefix(n.Redirect, "/") {
				return append(out, m.lowerAbs(n.Redirect[1:], n.Kind == Dir)...)
			}
			if n.Redirect != "" {
				name = n.Redirect
			}
		default:
			return []ent{{0, q, n}}
		}
	}
	for _, e := range lowers {
		lp := join(e.path, name)
		n := m.layer(e.layer)[lp]
		switch {
		case n == nil:
			continue
		case n.Kind == Whiteout:
			return out
		case !n.Kind.IsDir():
			if len(out) == 0 || out[0].node.Metacopy {
				if c := m.index[n]; m.Index && c != nil {
					// An indexed lower hard link: the overlay shows the
					// index entry, the upper copy of another name.
					n = c
				}
				out = append(out, ent{e.layer, lp, n})
				if n.Metacopy {
					out = append(out, m.dataEnt(n.Redirect)...)
				}
			}
			return out
		}
		if len(out) > 0 && out[0].node.Metacopy {
			return out // a dir where the data should be: none found
		}
		out = append(out, ent{e.layer, lp, n})
		if n.Kind == OpaqueDir {
			return out
		}
	}
	return out
}

// lowerAbs is the lower search of ovl_lookup below an upper object with
// the absolute redirect "/"+p: in each lower layer, top-most first, p is
// walked component by component from the layer's root. In one layer, a
// missing component gives nothing there; a whiteout, or a non-dir where a
// dir is needed, gives nothing and ends the search; an opaque dir on the
// way ends the search after this layer. A dir at p (when dir) is merged
// and a file at p (when !dir) is the data, which ends the search.
func (m *Model) lowerAbs(p string, dir bool) []ent {
	var out []ent
	comps := strings.Split(p, "/")
	for i := 1; i <= len(m.Lowers); i++ {
		l := m.layer(i)
		stop := false
		q := ""
		for j, c := range comps {
			q = join(q, c)
			last := j == len(comps)-1
			n := l[q]
			if n == nil {
				break
			}
			if n.Kind == Whiteout {
				stop = true
				break
			}
			if !n.Kind.IsDir() {
				stop = true
				if last && !dir {
					out = append(out, ent{i, q, n})
					if n.Metacopy {
						out = append(out, m.dataEnt(n.Redirect)...)
					}
				}
				break
			}
			if n.Kind == OpaqueDir {
				stop = true
			}
			if last {
				if !dir {
					return out // a dir where the data should be: none found
				}
				out = append(out, ent{i, q, n})
			}
		}
		if stop {
			break
		}
	}
	if !dir && len(out) == 0 {
		// Nothing in the regular lower layers: the data-only layer.
		return m.dataEnt("/" + p)
	}
	return out
}

// hasUpper reports whether stack's top entry is in the upper layer.
func hasUpper(stack []ent) bool { return len(stack) > 0 && stack[0].layer == 0 }

// hasLower reports whether any entry of stack is in a lower layer.
func hasLower(stack []ent) bool { return len(stack) > 0 && stack[len(stack)-1].layer > 0 }

// children returns the names visible in the merged directory p (whose
// stack is given), sorted.
func (m *Model) children(p string, stack []ent) []string {
	seen := map[string]bool{}
	var names []string
	for _, e := range stack {
		for k := range m.layer(e.layer) {
			if k == "" || parentOf(k) != e.path {
				continue
			}
			name := path.Base(k)
			if seen[name] {
				continue
			}
			seen[name] = true
			if m.lookup(join(p, name)) != nil {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// resolve walks name from the overlay root as the VFS does: symlinks in
// intermediate components are followed (an absolute target restarts at the
// overlay root, ".." stops at it), and a final symlink only when
// followLast. It returns the clean path of the object, which need not
// exist, but whose parent then is an existing directory.
func (m *Model) resolve(name string, followLast bool) (string, syscall.Errno) {
	todo := strings.Split(name, "/")
	cur := ""
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		last := len(todo) == 0
		switch c {
		case "", ".":
			continue
		case "..":
			cur = parentOf(cur)
			continue
		}
		p := join(cur, c)
		if last && !followLast {
			return p, 0
		}
		st := m.lookup(p)
		if st == nil {
			if last {
				return p, 0
			}
			return "", syscall.ENOENT
		}
		n := st[0].node
		if n.Kind == Symlink {
			links++
			if links > layer.MaxSymlinks {
				return "", syscall.ELOOP
			}
			if strings.HasPrefix(n.Target, "/") {
				cur = ""
			}
			todo = append(strings.Split(n.Target, "/"), todo...)
			continue
		}
		if last {
			return p, 0
		}
		if !n.Kind.IsDir() {
			return "", syscall.ENOTDIR
		}
		cur = p
	}
	return cur, 0
}

// stat returns the merged object at the clean path p, or nil.
func (m *Model) stat(p string) *Node {
	if st := m.lookup(p); st != nil {
		return st[0].node
	}
	return nil
}
