package ondisk

import (
	"errors"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// Kernel reads a layer in the kernel's format: whiteouts are char 0/0
// devices (or, in a dir marked opaque "x", zero-size files carrying the
// whiteout xattr), opaque dirs carry the opaque xattr "y", and every
// other marker is a private xattr under Prefix. A layer that holds no
// xattrs (Xattr false) has whiteouts only.
type Kernel struct {
	Prefix string
	Xattr  bool
}

// Probe reads the object at p through r and decodes its markers, as
// ovl_lookup_single does. In the bottom-most lower layer a dir's opaque
// and redirect xattrs are not read (the kernel's "last layer"
// optimisation). A name too long for the layer's filesystem is not there
// (only a redirect can ask for one).
func (k Kernel) Probe(r layer.StatReader, p string, bottom bool) (Object, error) {
	a, err := r.Lstat(p)
	if err != nil {
		if layer.IsNotFound(err) || errors.Is(err, syscall.ENAMETOOLONG) {
			return Object{}, nil
		}
		return Object{}, err
	}
	switch {
	case a.IsChr00():
		return Object{Kind: Whiteout, Attr: a}, nil
	case a.IsReg() && k.Xattr:
		if a.Size == 0 {
			if _, err := r.Getxattr(p, k.Prefix+XWhiteout); err == nil {
				return Object{Kind: Whiteout, Attr: a}, nil
			}
		}
		return k.ProbeMetacopy(r, p, a)
	case a.IsDir() && !bottom && k.Xattr:
		o := Object{Kind: Present, Attr: a}
		if v, err := r.Getxattr(p, k.Prefix+XOpaque); err == nil && len(v) == 1 {
			o.Opaque, o.XDir = v[0] == 'y', v[0] == 'x'
		}
		if o.Opaque {
			return o, nil // an opaque dir's redirect is not read
		}
		if v, err := r.Getxattr(p, k.Prefix+XRedirect); err == nil {
			if o.Redirect, err = ParseRedirect(v); err != nil {
				return Object{}, err
			}
		}
		return o, nil
	}
	return Object{Kind: Present, Attr: a}, nil
}

// ProbeMetacopy decodes the metacopy xattr of the regular file p, whose
// attributes are a, and on a metacopy file its redirect. Lookup only
// checks the value's size, as ovl_check_metacopy_xattr does without a
// buffer: 1 to 3 bytes is EIO; any other value, whatever its version,
// length byte or flags, makes a metacopy file (see ParseMetacopy).
func (k Kernel) ProbeMetacopy(r layer.StatReader, p string, a layer.Attr) (Object, error) {
	o := Object{Kind: Present, Attr: a}
	v, err := r.Getxattr(p, k.Prefix+XMetacopy)
	switch {
	case errors.Is(err, layer.ErrNoData) || errors.Is(err, syscall.EOPNOTSUPP):
		return o, nil
	case err != nil:
		return Object{}, err
	}
	m, err := ParseMetacopy(v)
	if err != nil {
		return Object{}, err
	}
	o.Metacopy, o.DigestAlg, o.Digest = true, m.DigestAlg, m.Digest
	if rv, err := r.Getxattr(p, k.Prefix+XRedirect); err == nil {
		if o.Redirect, err = ParseRedirect(rv); err != nil {
			return Object{}, err
		}
	}
	return o, nil
}

// Classify marks the entries ents of the dir dir, listed by r in the
// layer's order: char 0/0 devices are whiteouts, and with xwh (a dir
// marked opaque "x" in a merge) so are zero-size files carrying the
// whiteout xattr. Entries that vanish meanwhile are left out. at holds
// the positions of "." and ".." in ents (as numbers of entries before
// them) and is updated to their positions in the result.
func (k Kernel) Classify(r layer.StatReader, dir string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]Entry, error) {
	out := make([]Entry, 0, len(ents))
	raw := *at
	for i, e := range ents {
		for j := range raw {
			if raw[j] == i {
				at[j] = len(out)
			}
		}
		le := Entry{Name: e.Name, Type: e.Type}
		if e.Type == syscall.S_IFCHR || e.Type == 0 || (xwh && e.Type == syscall.S_IFREG) {
			p := layer.Join(dir, e.Name)
			a, err := r.Lstat(p)
			if err != nil {
				if layer.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			le.Type = a.Type()
			switch {
			case a.IsChr00():
				le.Whiteout = true
			case xwh && a.IsReg() && a.Size == 0 && k.Xattr:
				if _, err := r.Getxattr(p, k.Prefix+XWhiteout); err == nil {
					le.Whiteout = true
				}
			}
		}
		out = append(out, le)
	}
	for j := range raw {
		if raw[j] >= len(ents) {
			at[j] = len(out)
		}
	}
	return out, nil
}
