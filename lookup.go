package overlay

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// lowerRef names an object in one lower layer: the layer's index in
// FS.lowers and the path inside that layer. The path is kept per layer,
// not derived from the overlay path, so that redirects (which make a lower
// path differ from the overlay path) fit without changing callers.
type lowerRef struct {
	layer int
	path  string
}

// node is a cached lookup result, the overlay's dentry: one name in one
// parent, positive or negative. Nodes form a tree mirroring the overlay
// namespace. A node is created by lookupChild and published in its
// parent's children map; its resolution fields are then changed only with
// FS.mu held for writing. A node that a namespace change made stale is
// marked dead and unlinked from its parent, so the next walk resolves the
// name afresh from the layers.
type node struct {
	// parent and name: protected by FS.mu (nil parent = root).
	parent *node
	name   string

	// mu protects children (and nothing else); it is taken under FS.mu
	// held for reading or writing, never the other way round.
	mu       sync.Mutex
	children map[string]*node

	// Resolution. Protected by FS.mu.
	dead       bool          // dropped from the cache; must not be used for new work
	present    bool          // the name resolves to an object
	upper      bool          // the object exists in the upper layer at path(n)
	upperWh    bool          // the upper layer holds a whiteout at this name (only when !present)
	typ        uint32        // S_IFMT of the object, when present
	opaque     bool          // a dir whose merge stopped at an opaque dir (upper or lower)
	lowers     []lowerRef    // lower objects: a dir's merged stack, top first; at most one for a non-dir
	lattr      layer.Attr    // attr of lowers[0] (lowers are immutable while in use)
	ino        atomic.Uint64 // overlay-allocated inode number, allocated on first use
	upperGen   uint64        // bumped when the object is copied up, so open files re-target
	redirect   string        // the upper object's redirect xattr, as stored (for building new ones)
	metacopy   bool          // a regular file whose data is below, in data
	data       lowerRef      // where a metacopy file's data is
	dattr      layer.Attr    // attr of data
	digest     []byte        // a metacopy file's fs-verity digest (verity=)
	digestAlg  uint8         // its algorithm, 0 for none
	verified   atomic.Bool   // the data matched the digest
	idx        string        // the index entry of an indexed non-dir (index=on), "" if none
	dirIndexed bool          // a dir with an index entry (nfs_export)
	whiteouts  bool          // the upper dir may contain whiteouts (merge or formerly merged)
	moved      *node         // the object's node under its new name, set as a rename kills this one (for open files)
	gone       *layer.Attr   // a removed dir's attributes as open handles of it stat them
	// lowerBorn: copied up here from a lower object of one link whose
	// origin the upper could not hold (a symlink with userxattr); the
	// kernel's inode still counts it as from below (OVL_CONST_INO) while
	// cached, so moving it to another dir marks that dir impure.
	lowerBorn bool

	// cu serialises copy-up of this node (the kernel's ovl_inode_lock). It
	// is taken before FS.mu, never while holding it.
	cu sync.Mutex
}

func (n *node) isDir() bool { return n.typ == syscall.S_IFDIR }

// isMerge reports whether dir n lists more than one layer (the root
// always counts as merge).
func (n *node) isMerge() bool {
	return n.parent == nil || n.upper && len(n.lowers) > 0 || len(n.lowers) > 1
}

// path is the overlay path of n ("" for the root), which is also its path
// in the upper layer. Callers hold FS.mu.
func (n *node) path() string {
	if n.parent == nil {
		return ""
	}
	var parts []string
	for p := n; p.parent != nil; p = p.parent {
		parts = append(parts, p.name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString(parts[i])
		if i > 0 {
			b.WriteByte('/')
		}
	}
	return b.String()
}

// stale reports whether n or an ancestor was dropped from the cache.
// Callers hold FS.mu.
func (n *node) stale() bool {
	for p := n; p != nil; p = p.parent {
		if p.dead {
			return true
		}
	}
	return false
}

// child returns the cached child, or resolves it from the layers and
// caches it. Callers hold FS.mu (for reading or writing).
func (fsys *FS) child(parent *node, name string) (*node, error) {
	parent.mu.Lock()
	c := parent.children[name]
	parent.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := fsys.lookupChild(parent, name)
	if err != nil {
		return nil, err
	}
	parent.mu.Lock()
	defer parent.mu.Unlock()
	if old := parent.children[name]; old != nil {
		return old, nil // another reader resolved it first
	}
	if parent.children == nil {
		parent.children = make(map[string]*node)
	}
	parent.children[name] = c
	fsys.cached.Add(1)
	return c, nil
}

// cacheLimit bounds the lookup cache: once more nodes than this were
// cached since the last drop, the next operation drops the whole cache
// (a variable, so that tests can make it small).
var cacheLimit int64 = 1 << 17

// pruneIfNeeded drops the lookup cache when it has grown past cacheLimit:
// every cached node is marked dead, so operations holding one walk again
// (copy-ups see errStale), and open files keep what they have. Callers
// hold no FS lock.
func (fsys *FS) pruneIfNeeded() {
	if fsys.cached.Load() <= cacheLimit {
		return
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.cached.Load() <= cacheLimit {
		return
	}
	fsys.dropCacheLocked()
}

// dropCacheLocked marks every cached node dead and empties the cache.
// Callers hold FS.mu for writing.
func (fsys *FS) dropCacheLocked() {
	fsys.dropSubtree(fsys.root)
	fsys.cached.Store(0)
}

// forget drops the cached child name of parent, marking it dead, so the
// next walk resolves it afresh. Callers hold FS.mu for writing.
func (fsys *FS) forget(parent *node, name string) {
	parent.mu.Lock()
	if c := parent.children[name]; c != nil {
		c.dead = true
		delete(parent.children, name)
	}
	parent.mu.Unlock()
}

// lookupChild resolves name in parent across the layers with the kernel's
// stop rules (ovl_lookup). Callers hold FS.mu.
func (fsys *FS) lookupChild(parent *node, name string) (*node, error) {
	c, err := fsys.lookupLayers(parent, name)
	if err == nil && c != nil {
		if err := fsys.verifyDirIndex(c); err != nil {
			return nil, err
		}
	}
	return c, err
}

// verifyDirIndex is, with nfs_export, ovl_lookup_index's check of a dir c
// that merges lower dirs against the index entry of the first of them:
// none is fine; a whiteout (that dir was removed), a non-dir, an entry
// when c has no upper dir, or one naming another upper dir mean the lower
// dir is reached a second way (a hand-written redirect) and the lookup is
// EIO. Callers hold FS.mu.
func (fsys *FS) verifyDirIndex(c *node) error {
	if !fsys.feat.nfsExport || !c.present || !c.isDir() || len(c.lowers) == 0 {
		return nil
	}
	u := fsys.upper
	lr := c.lowers[0]
	idx := fsys.indexName(fsys.lowers[lr.layer], lr.path)
	a, err := u.b.Lstat(idx)
	switch {
	case err != nil:
		return nil // no entry
	case !a.IsDir() || !c.upper:
		return syscall.EIO
	}
	want, err := fsys.upperDirFB(c.path())
	if err != nil {
		return nil // no handle to compare with
	}
	if v, err := u.b.Getxattr(idx, fsys.prefix+ondisk.XUpper); err != nil || !bytes.Equal(v, want) {
		return syscall.EIO
	}
	return nil
}

// lookupLayers is lookupChild before the index check.
func (fsys *FS) lookupLayers(parent *node, name string) (*node, error) {
	if len(name) > layer.NameMax {
		return nil, syscall.ENAMETOOLONG
	}
	c := &node{parent: parent, name: name}
	if !parent.present || !parent.isDir() {
		return c, nil
	}
	// The lower search walks stack, looking up want under each entry's
	// path; a relative redirect changes want, an absolute one restarts
	// the search from the root's stack below the layer that holds it.
	stack, want, abs := parent.lowers, name, false
	follow := func(o ondisk.Object, layer int) (err error) {
		stack, want, abs, err = fsys.followIn(o, layer, stack, want, abs)
		return err
	}
	// verify is, with nfs_export, the origin xattr of an upper dir: the
	// first lower dir found must be the object it names, or nothing is
	// merged (ovl_verify_lower).
	var verify []byte
	if parent.upper {
		// Without redirect following, an upper with no lower stack below
		// is the last layer searched: its markers are not read (d.last).
		last := !fsys.feat.redirectFollow() && len(parent.lowers) == 0
		o, err := fsys.upper.probe(layer.Join(parent.path(), name), last)
		if err != nil {
			return nil, err
		}
		switch {
		case o.Kind == ondisk.Absent:
		case o.Kind == ondisk.Whiteout:
			c.upperWh = true
			return c, nil
		case o.Attr.IsDir():
			c.present, c.upper, c.typ, c.redirect = true, true, syscall.S_IFDIR, o.Redirect
			defer fsys.findDirIndex(c)
			if o.Opaque {
				c.opaque = true
				return c, nil
			}
			if fsys.feat.nfsExport {
				if v, err := fsys.upper.b.Getxattr(layer.Join(parent.path(), name), fsys.prefix+ondisk.XOrigin); err == nil {
					verify = append([]byte{}, v...)
				}
			}
			if err := follow(o, -1); err != nil {
				return nil, err
			}
			if fsys.upper.xattrMarkers() {
				defer fsys.fixOrigin(c)
			}
		default:
			c.present, c.upper, c.typ = true, true, o.Attr.Type()
			if !o.Metacopy {
				if err := fsys.findOrigin(c, parent.lowers); err != nil {
					return nil, err
				}
				if fsys.indexed(c) {
					c.idx = fsys.indexName(fsys.lowers[c.lowers[0].layer], c.lowers[0].path)
					if _, err := fsys.indexEntry(c.idx, c.typ); err != nil {
						return nil, err
					}
				}
				return c, nil
			}
			if !fsys.metacopyAllowed() {
				return nil, syscall.EPERM // "refusing to follow metacopy origin"
			}
			c.metacopy, c.redirect = true, o.Redirect
			c.digest, c.digestAlg = o.Digest, o.DigestAlg
			if err := follow(o, -1); err != nil {
				return nil, err
			}
			if err := fsys.findData(c, stack, 0, want, abs); err != nil {
				return c, err
			}
			if fsys.indexed(c) {
				// A metadata-only copy of a hard-linked lower file: its
				// upper inode is the index entry (metacopy=on,index=on).
				c.idx = fsys.indexName(fsys.lowers[c.lowers[0].layer], c.lowers[0].path)
			}
			return c, nil
		}
	}
	return fsys.lookupBelow(c, stack, want, abs, verify)
}

// followIn applies the redirect of o, met in layer, to a lower search (see
// followRedirect): EPERM where redirects are not followed.
func (fsys *FS) followIn(o ondisk.Object, layer int, stack []lowerRef, want string, abs bool) ([]lowerRef, string, bool, error) {
	if o.Redirect == "" {
		return stack, want, abs, nil
	}
	if !fsys.feat.redirectFollow() {
		return nil, "", false, syscall.EPERM // "refusing to follow redirect"
	}
	stack, want, abs = fsys.followRedirect(o.Redirect, layer, stack, want, abs)
	return stack, want, abs, nil
}

// lookupBelow is the lower part of lookupLayers: it searches stack for
// want (abs: an absolute path, see probeLower) and fills in c, which the
// upper layer may have begun (verify as there).
func (fsys *FS) lookupBelow(c *node, stack []lowerRef, want string, abs bool, verify []byte) (*node, error) {
	follow := func(o ondisk.Object, layer int) (err error) {
		stack, want, abs, err = fsys.followIn(o, layer, stack, want, abs)
		return err
	}
	for i := 0; i < len(stack); i++ {
		lr := stack[i]
		l := fsys.lowers[lr.layer]
		// Without redirect following, the last layer of the stack is the
		// last one searched, whose redirects are not read (d.last).
		last := lr.layer == fsys.bottom || !fsys.feat.redirectFollow() && i == len(stack)-1
		o, p, stopBelow, err := fsys.probeLower(lr, want, abs, last)
		if err != nil {
			return nil, err
		}
		if stopBelow && o.Kind != ondisk.Present {
			return c, nil
		}
		if stopBelow {
			stack = stack[:i+1] // this layer is the last one searched
		}
		switch {
		case o.Kind == ondisk.Absent:
			continue
		case o.Kind == ondisk.Whiteout:
			return c, nil
		case o.Attr.IsDir():
			if c.present && !c.isDir() {
				return c, nil // a dir below a non-dir is never merged
			}
			if verify != nil && len(c.lowers) == 0 && !bytes.Equal(verify, fsys.originOf(l, p)) {
				return c, nil // not the dir the upper was copied up from
			}
			if !c.present {
				c.present, c.typ = true, syscall.S_IFDIR
			}
			if len(c.lowers) == 0 {
				c.lattr = o.Attr
			}
			c.lowers = append(c.lowers, lowerRef{layer: lr.layer, path: p})
			if o.Opaque {
				c.opaque = true
				return c, nil
			}
			before := len(stack)
			if err := follow(o, lr.layer); err != nil {
				return nil, err
			}
			if len(stack) != before || o.Redirect != "" && o.Redirect[0] == '/' {
				// An absolute redirect: walk the new stack from its top.
				// (A relative one goes on below: restarting would meet
				// it again, for ever when it names the same path.)
				i = -1
			}
		default:
			// A non-dir ends the search: below an upper or lower dir it
			// ends the merge and is ignored; otherwise it is the object.
			if c.present {
				return c, nil
			}
			c.present, c.typ = true, o.Attr.Type()
			c.lowers = []lowerRef{{layer: lr.layer, path: p}}
			c.lattr = o.Attr
			if !o.Metacopy {
				if fsys.indexed(c) {
					// Another name of this inode may be copied up already:
					// then the index entry is its upper.
					idx := fsys.indexName(l, p)
					ok, err := fsys.indexEntry(idx, c.typ)
					if err != nil {
						return nil, err
					}
					if ok {
						c.idx = idx
					}
				}
				return c, nil
			}
			if !fsys.metacopyAllowed() {
				return nil, syscall.EPERM // "refusing to follow metacopy origin"
			}
			c.metacopy = true
			c.digest, c.digestAlg = o.Digest, o.DigestAlg
			before := len(stack)
			if err := follow(o, lr.layer); err != nil {
				return nil, err
			}
			if len(stack) != before || abs && o.Redirect != "" {
				return c, fsys.findData(c, stack, 0, want, abs)
			}
			return c, fsys.findData(c, stack, i+1, want, abs)
		}
	}
	return c, nil
}

// probeLower probes, as one step of a lookup below, the object want
// names in stack entry lr: under lr's path, or, after an absolute
// redirect (abs), at the absolute path want (stopBelow as probeAbs). It
// returns the object and its path in the layer; last is as for probe.
func (fsys *FS) probeLower(lr lowerRef, want string, abs, last bool) (o ondisk.Object, p string, stopBelow bool, err error) {
	l := fsys.lowers[lr.layer]
	switch {
	case abs:
		o, stopBelow, err = fsys.probeAbs(l, lr.layer, want, last)
		return o, want, stopBelow, err
	case dotName(want):
		return ondisk.Object{}, "", false, syscall.EACCES // a redirect to ".", ".." or "" (lookup_one_len)
	}
	p = layer.Join(lr.path, want)
	o, err = l.probe(p, last)
	return o, p, false, err
}

// followRedirect applies the redirect r met in layer li to a search below
// that looks for want in stack: a relative redirect replaces want (or,
// after an absolute one, its last component); an absolute one makes want
// that path, searched from the root's stack below li.
func (fsys *FS) followRedirect(r string, li int, stack []lowerRef, want string, abs bool) ([]lowerRef, string, bool) {
	if r[0] != '/' {
		if abs {
			d, _ := layer.Split(want)
			return stack, layer.Join(d, r), true
		}
		return stack, r, false
	}
	var below []lowerRef
	for _, lr := range fsys.root.lowers {
		if lr.layer > li {
			below = append(below, lr)
		}
	}
	return below, r[1:], true
}

// lowerPositive reports whether name exists (not whited out) in a lower
// layer below parent: the kernel's ovl_lower_positive, which decides
// whether removing or renaming away the name must leave a whiteout.
// Callers hold FS.mu.
func (fsys *FS) lowerPositive(parent *node, name string) (bool, error) {
	for _, lr := range parent.lowers {
		o, err := fsys.lowers[lr.layer].probe(layer.Join(lr.path, name), lr.layer == fsys.bottom)
		if err != nil {
			return false, err
		}
		switch o.Kind {
		case ondisk.Whiteout:
			return false, nil
		case ondisk.Absent:
			continue
		}
		return true, nil
	}
	return false, nil
}

// indexEntry reports whether the index entry idx exists, for a non-dir
// of type typ: a whiteout there, or an object of another type, is EIO
// ("bad index found", ovl_lookup_index). Callers hold FS.mu.
func (fsys *FS) indexEntry(idx string, typ uint32) (bool, error) {
	a, err := fsys.upper.b.Lstat(idx)
	switch {
	case err != nil:
		return false, nil
	case a.IsChr00() || a.Type() != typ:
		return false, syscall.EIO
	}
	return true, nil
}

// upperHas reports whether the upper layer has something at p.
func (fsys *FS) upperHas(p string) bool {
	if fsys.upper == nil {
		return false
	}
	_, err := fsys.upper.b.Lstat(p)
	return err == nil
}

// probeAbs looks up the absolute redirect path want in layer l one
// component at a time, as ovl_lookup_layer does: a missing component
// means nothing in this layer; a whiteout or a non-dir on the way ends
// the whole lookup (stop, nothing found); an opaque dir on the way lets
// the walk go on in this layer but no further down (stop). Callers hold
// FS.mu.
func (fsys *FS) probeAbs(l *branch, layer int, want string, bottom bool) (o ondisk.Object, stop bool, err error) {
	comps := strings.Split(want, "/")
	for i := range comps {
		if dotName(comps[i]) {
			return ondisk.Object{}, false, syscall.EACCES // lookup_one_len
		}
		p := strings.Join(comps[:i+1], "/")
		o, err = l.probe(p, bottom)
		if err != nil || i == len(comps)-1 {
			return o, stop, err
		}
		switch {
		case o.Kind == ondisk.Absent:
			return ondisk.Object{}, stop, nil
		case o.Kind == ondisk.Whiteout || !o.Attr.IsDir():
			return ondisk.Object{}, true, nil
		case o.Opaque:
			stop = true
		}
	}
	return o, stop, nil
}
