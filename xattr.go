package overlay

import (
	"errors"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// Flags of Setxattr, as setxattr(2)'s.
const (
	XattrCreate  = 0x1 // fail with EEXIST if the attribute exists
	XattrReplace = 0x2 // fail with ENODATA if it does not
)

// escPrefix is what the kernel inserts after P to escape an overlay
// xattr stored in a layer.
const escPrefix = "overlay."

// isPrivate reports the overlay's own xattrs (P.opaque, P.origin, ...),
// which are hidden and never copied up; escaped ones (P.overlay.*) are
// not private.
func (fsys *FS) isPrivate(name string) bool {
	return strings.HasPrefix(name, fsys.prefix) && !strings.HasPrefix(name, fsys.prefix+escPrefix)
}

// realXattr maps a name as the caller sees it to the name stored in the
// layer: P+X is stored escaped, as P+"overlay."+X.
func (fsys *FS) realXattr(name string) (string, error) {
	if name == "" {
		return "", syscall.ERANGE
	}
	if !strings.HasPrefix(name, fsys.prefix) {
		return name, nil
	}
	if len(name) == len(fsys.prefix) {
		return "", syscall.EINVAL
	}
	real := fsys.prefix + escPrefix + name[len(fsys.prefix):]
	if len(real) > 255 {
		return "", syscall.EOPNOTSUPP
	}
	return real, nil
}

// holder returns the layer and path whose xattrs n shows: the upper
// object (or index entry), else the top lower one. Callers hold FS.mu.
func (fsys *FS) holder(n *node) (*branch, string) {
	if n.upper {
		return fsys.upper, n.path()
	}
	if n.idx != "" {
		return fsys.upper, n.idx // an indexed inode's upper is its index entry
	}
	lr := n.lowers[0]
	return fsys.lowers[lr.layer], lr.path
}

func (fsys *FS) getxattr(name, attr string, follow followMode) ([]byte, error) {
	real, err := fsys.realXattr(attr)
	if err != nil {
		return nil, err
	}
	fsys.pruneIfNeeded()
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	n, err := fsys.lookupFinal(name, follow)
	if err == nil {
		err = fsys.mayXattr(n, attr, false)
	}
	if err != nil {
		return nil, err
	}
	br, p := fsys.holder(n)
	if !br.caps.Xattr {
		return nil, syscall.EOPNOTSUPP
	}
	return br.b.Getxattr(p, real)
}

// holderOf looks name up and returns where its xattrs are. Callers hold
// FS.mu.
func (fsys *FS) holderOf(name string, follow followMode) (*branch, string, error) {
	n, err := fsys.lookupFinal(name, follow)
	if err != nil {
		return nil, "", err
	}
	br, p := fsys.holder(n)
	return br, p, nil
}

func (fsys *FS) listxattr(name string, follow followMode) ([]string, error) {
	fsys.pruneIfNeeded()
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	br, p, err := fsys.holderOf(name, follow)
	if err != nil {
		return nil, err
	}
	if !br.caps.Xattr {
		return nil, nil
	}
	names, err := br.b.Listxattr(p)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for _, x := range names {
		if !fsys.listable(x) {
			continue
		}
		switch {
		case strings.HasPrefix(x, fsys.prefix+escPrefix):
			out = append(out, fsys.prefix+x[len(fsys.prefix)+len(escPrefix):])
		case fsys.isPrivate(x):
		default:
			out = append(out, x)
		}
	}
	return out, nil
}

func (fsys *FS) setxattr(name, attr string, value []byte, flags int) error {
	real, err := fsys.realXattr(attr)
	if err != nil {
		return err
	}
	if flags&^(XattrCreate|XattrReplace) != 0 {
		return syscall.EINVAL
	}
	return fsys.setattr(name, followYes, copyMeta, func(n *node) error {
		if fsys.upper == nil {
			return syscall.EROFS // before the flags' checks, as in path_setxattr
		}
		if err := fsys.mayXattr(n, attr, true); err != nil {
			return err
		}
		if !fsys.upper.caps.Xattr && fsys.upper.format == formatOCI {
			return syscall.EOPNOTSUPP
		}
		// A kernel-format upper without xattrs: the kernel copies up,
		// then the upper's filesystem refuses (EOPNOTSUPP).
		return nil
	}, func(p string, n *node) error {
		if !fsys.upper.caps.Xattr {
			return syscall.EOPNOTSUPP
		}
		// The kernel copies up first and lets the upper judge the flags
		// (ovl_setxattr), so a failed XATTR_REPLACE still copies up.
		_, gerr := fsys.upper.b.Getxattr(p, real)
		switch {
		case gerr == nil && flags&XattrCreate != 0:
			return syscall.EEXIST
		case errors.Is(gerr, layer.ErrNoData) && flags&XattrReplace != 0:
			return layer.ErrNoData
		}
		return fsys.upper.w.setxattr(p, real, value)
	})
}

// removexattr copies up only when the attribute exists.
func (fsys *FS) removexattr(name, attr string) error {
	real, err := fsys.realXattr(attr)
	if err != nil {
		return err
	}
	return fsys.setattr(name, followYes, copyMeta, func(n *node) error {
		if fsys.upper == nil {
			return syscall.EROFS
		}
		if err := fsys.mayXattr(n, attr, true); err != nil {
			return err
		}
		br, p := fsys.holder(n)
		if !br.caps.Xattr {
			return syscall.EOPNOTSUPP
		}
		_, err := br.b.Getxattr(p, real)
		return err
	}, func(p string, n *node) error {
		return fsys.upper.w.removexattr(p, real)
	})
}
