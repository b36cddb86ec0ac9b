package overlay

import (
	"errors"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// walkResult is where a walk ended.
type walkResult struct {
	parent *node  // the directory holding the final component (nil only for the root)
	name   string // the final component as found in parent
	n      *node  // the final node; may be negative (!n.present)
	dirOK  bool   // the path ended in "/", "." or "..": the object must be a dir
	last   string // the final component as written ("." and ".." included)
}

// followMode says whether a walk follows a symlink in the final component.
type followMode uint8

const (
	followNo    followMode = iota // not followed, unless the path ends in "/" (lstat, open O_NOFOLLOW)
	followYes                     // followed (stat, open)
	followNever                   // never: the final component is the object (mkdir, unlink, rename)
	parentOnly                    // the final component is not looked up: res.n is nil (filename_parentat)
)

// walk resolves name, the one path walker every operation uses.
// Intermediate symlinks are always followed, inside the overlay: an
// absolute target starts again at the overlay root, and ".." at the root
// stays there, as in a chroot. The final component is followed when follow
// is set (or the path ends in "/"). Callers hold FS.mu.
func (fsys *FS) walk(name string, follow followMode) (walkResult, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return walkResult{}, syscall.EINVAL
	}
	if name == "" {
		return walkResult{}, syscall.ENOENT
	}
	comps := splitPath(name)
	trailing := strings.HasSuffix(name, "/")
	cur := fsys.root
	res := walkResult{n: fsys.root, name: "", dirOK: true}
	links := 0
	// Leading "." components name the root itself, as the mount point a
	// caller opens: no lookup, so no search permission, is involved.
	for len(comps) > 1 && comps[0] == "." {
		comps = comps[1:]
	}
	if len(comps) == 1 && comps[0] == "." {
		return walkResult{n: fsys.root, dirOK: true, last: "."}, nil
	}
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		last := len(comps) == 0
		if err := fsys.maySearch(cur); err != nil {
			return res, err // every dir a name is looked up in (may_lookup)
		}
		switch c {
		case ".", "..":
			if c == ".." && cur.parent != nil {
				cur = cur.parent
			}
			res = walkResult{parent: cur.parent, name: cur.name, n: cur, dirOK: true, last: c}
			continue
		}
		if !cur.present {
			return res, syscall.ENOENT
		}
		if !cur.isDir() {
			return res, syscall.ENOTDIR
		}
		if last && follow == parentOnly {
			return walkResult{parent: cur, name: c, last: c}, nil
		}
		ch, err := fsys.child(cur, c)
		if err != nil {
			return res, err
		}
		if ch.present && ch.typ == syscall.S_IFLNK && (!last || follow == followYes || trailing && follow == followNo) {
			links++
			if links > layer.MaxSymlinks {
				return res, syscall.ELOOP
			}
			target, err := fsys.readlinkNode(ch)
			if err != nil {
				return res, err
			}
			if target == "" {
				return res, syscall.ENOENT
			}
			tc := splitPath(target)
			if strings.HasSuffix(target, "/") && len(comps) == 0 {
				trailing = true
			}
			if strings.HasPrefix(target, "/") {
				cur = fsys.root
				res = walkResult{n: fsys.root, dirOK: true}
			}
			comps = append(tc, comps...)
			continue
		}
		res = walkResult{parent: cur, name: c, n: ch, last: c}
		if !last {
			// A component that must be a dir is checked here, before a
			// following "." or ".." can step back (link_path_walk).
			switch {
			case !ch.present:
				return res, syscall.ENOENT
			case !ch.isDir():
				return res, syscall.ENOTDIR
			}
			cur = ch
		}
	}
	if trailing {
		res.dirOK = true
	}
	return res, nil
}

// splitPath splits a slash-separated name into components, dropping empty
// ones (so "/a//b/" is a, b).
func splitPath(name string) []string {
	var out []string
	for len(name) > 0 {
		i := strings.IndexByte(name, '/')
		var c string
		if i < 0 {
			c, name = name, ""
		} else {
			c, name = name[:i], name[i+1:]
		}
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// readlinkNode reads the target of a symlink node from the layer holding
// it. Callers hold FS.mu.
func (fsys *FS) readlinkNode(n *node) (string, error) {
	if n.upper {
		return fsys.upper.b.Readlink(n.path())
	}
	if len(n.lowers) == 0 {
		return "", syscall.ENOENT
	}
	lr := n.lowers[0]
	return fsys.lowers[lr.layer].b.Readlink(lr.path)
}

// lookupFinal walks name and returns the final node, which must be
// present. Callers hold FS.mu.
func (fsys *FS) lookupFinal(name string, follow followMode) (*node, error) {
	r, err := fsys.walk(name, follow)
	if err != nil {
		return nil, err
	}
	if !r.n.present {
		return nil, syscall.ENOENT
	}
	if r.dirOK && !r.n.isDir() {
		return nil, syscall.ENOTDIR
	}
	return r.n, nil
}

// errnoOf extracts the errno inside err (EIO when there is none).
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
