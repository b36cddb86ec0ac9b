package overlay

import (
	"errors"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// The kernel's format: whiteouts are char 0/0 devices (or, in a dir
// marked opaque "x", zero-size files carrying the whiteout xattr),
// opaque dirs carry the opaque xattr "y", and every other marker is a
// private xattr (see internal/ondisk for their encodings).

// kernelFormat is the kernel's format.
type kernelFormat struct{}

func (kernelFormat) String() string { return "kernel" }

func (kernelFormat) probe(br *branch, p string, bottom bool) (ondisk.Object, error) {
	if o, ok := br.takeHint(p, bottom); ok {
		return o, nil
	}
	return br.probeFrom(br.b, p, bottom)
}

// probeFrom is probe of a kernel-format layer through r.
func (br *branch) probeFrom(r layer.StatReader, p string, bottom bool) (ondisk.Object, error) {
	a, err := r.Lstat(p)
	if err != nil {
		// A name too long for the layer's filesystem is not there
		// (ovl_lookup_single); only a redirect can ask for one.
		if isNotFound(err) || errors.Is(err, syscall.ENAMETOOLONG) {
			return ondisk.Object{}, nil
		}
		return ondisk.Object{}, err
	}
	switch {
	case a.IsChr00():
		return ondisk.Object{Kind: ondisk.Whiteout, Attr: a}, nil
	case a.IsReg() && br.caps.Xattr:
		if a.Size == 0 {
			if _, err := r.Getxattr(p, br.prefix+ondisk.XWhiteout); err == nil {
				return ondisk.Object{Kind: ondisk.Whiteout, Attr: a}, nil
			}
		}
		return br.probeMetacopyFrom(r, p, a, bottom)
	case a.IsDir() && !bottom && br.caps.Xattr:
		o := ondisk.Object{Kind: ondisk.Present, Attr: a}
		if v, err := r.Getxattr(p, br.prefix+ondisk.XOpaque); err == nil && len(v) == 1 {
			o.Opaque, o.XDir = v[0] == 'y', v[0] == 'x'
		}
		if o.Opaque {
			return o, nil // an opaque dir's redirect is not read
		}
		if v, err := r.Getxattr(p, br.prefix+ondisk.XRedirect); err == nil {
			if o.Redirect, err = ondisk.ParseRedirect(v); err != nil {
				return ondisk.Object{}, err
			}
		}
		return o, nil
	}
	return ondisk.Object{Kind: ondisk.Present, Attr: a}, nil
}

func (kernelFormat) classify(br *branch, p string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]ondisk.Entry, error) {
	out := make([]ondisk.Entry, 0, len(ents))
	raw := *at
	for r, e := range ents {
		for i := range raw {
			if raw[i] == r {
				at[i] = len(out)
			}
		}
		le := ondisk.Entry{Name: e.Name, Type: e.Type}
		if e.Type == syscall.S_IFCHR || e.Type == 0 || (xwh && e.Type == syscall.S_IFREG) {
			a, err := br.b.Lstat(joinPath(p, e.Name))
			if err != nil {
				if isNotFound(err) {
					continue
				}
				return nil, err
			}
			le.Type = a.Type()
			switch {
			case a.IsChr00():
				le.Whiteout = true
			case xwh && a.IsReg() && a.Size == 0 && br.caps.Xattr && br.hasXattr(joinPath(p, e.Name), ondisk.XWhiteout):
				le.Whiteout = true
			}
		}
		out = append(out, le)
	}
	for i := range raw {
		if raw[i] >= len(ents) {
			at[i] = len(out)
		}
	}
	return out, nil
}

// whiteout builds a char 0/0 in the work dir and renames it into place
// (a dir is exchanged with it, then removed from the work dir), as
// ovl_remove_and_whiteout.
func (kernelFormat) whiteout(br *branch, p string, existing uint32) error {
	if !br.caps.Mknod {
		return syscall.EPERM
	}
	t := br.temp()
	if err := br.w.mknod(t, syscall.S_IFCHR, 0); err != nil {
		return err
	}
	if existing == syscall.S_IFDIR {
		if err := br.w.exchange(t, p); err != nil {
			br.w.unlink(t)
			return err
		}
		return br.removeAll(t, true)
	}
	if err := br.w.rename(t, p); err != nil {
		br.w.unlink(t)
		return err
	}
	return nil
}

// renameWhiteout renames with RENAME_WHITEOUT where the layer can; else
// it puts a whiteout at dp first and then exchanges the two names, so
// that a crash shows the source in place and the target, if any, already
// removed.
func (kernelFormat) renameWhiteout(br *branch, sp, dp string, dpType uint32) error {
	// EPERM: RENAME_WHITEOUT may need CAP_MKNOD where a plain mknod of
	// a whiteout does not.
	err := br.w.renameWhiteout(sp, dp)
	if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	if !br.caps.Exchange {
		if err := br.w.rename(sp, dp); err != nil {
			return err
		}
		return br.whiteout(sp, 0)
	}
	if dpType == syscall.S_IFDIR {
		// rename(2) replaces an empty dir only; the whiteout would
		// replace any.
		ents, err := br.b.ReadDir(dp)
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			return syscall.ENOTEMPTY
		}
	}
	if err := br.whiteout(dp, dpType); err != nil {
		return err
	}
	return br.w.exchange(sp, dp)
}

func (kernelFormat) setOpaque(br *branch, p string) error {
	if !br.caps.Xattr {
		return syscall.EOPNOTSUPP
	}
	return br.w.setxattr(p, br.prefix+ondisk.XOpaque, []byte("y"))
}

func (kernelFormat) hidden(string) bool { return false }
