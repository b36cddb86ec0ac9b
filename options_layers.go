package overlay

import (
	"strconv"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// validateLayers checks that the layers of o can be stacked, as the
// kernel's ovl_fill_super, ovl_get_workdir, ovl_get_layers and
// ovl_check_overlapping_layers do at mount:
//
//   - no nil layer (EINVAL); Work is ignored without an upper, as the
//     kernel ignores workdir=;
//   - at least one regular lower layer (EINVAL), at most MaxLowerLayers
//     lower and data-only layers together (EINVAL), and without an upper
//     at least two counting data-only ones (EINVAL);
//   - a native upper (one whose work area is a separate layer) needs a
//     native Work on the same filesystem, in neither's subtree (EINVAL);
//     an upper with its own work area takes no Work (EINVAL);
//   - no layer given twice, and no two native layers with the same root
//     directory (ELOOP, "conflicting lowerdir path");
//   - no native lower or data-only root inside another native layer's
//     root (ELOOP, "overlapping lowerdir path"). An upper or work
//     directory inside a lower one is accepted, as the kernel accepts it.
//
// Mounts are compared by their ids (statx STATX_MNT_ID) and nesting by
// the roots' positions in their filesystem (the mount table), so that a
// bind mount hides no overlap. Where the kernel does not report mount ids
// (before Linux 5.8), st_dev and paths stand for them; where the mount
// table cannot be read, a lower root on another mount of the same device
// as another layer's root is refused (ELOOP), as its nesting cannot be
// told.
func (o *Options) validateLayers() error {
	hasUpper := o.Upper != nil
	for i, l := range o.Lower {
		if l == nil || l.b == nil {
			return optionErr("lowerdir", syscall.EINVAL, "nil layer at Lower["+strconv.Itoa(i)+"]")
		}
	}
	for i, l := range o.DataOnly {
		if l == nil || l.b == nil {
			return optionErr("datadir+", syscall.EINVAL, "nil layer at DataOnly["+strconv.Itoa(i)+"]")
		}
	}
	if hasUpper && o.Upper.b == nil {
		return optionErr("upperdir", syscall.EINVAL, "nil layer")
	}
	if hasUpper && o.Work != nil && o.Work.b == nil {
		return optionErr("workdir", syscall.EINVAL, "nil layer")
	}

	total := len(o.Lower) + len(o.DataOnly)
	switch {
	case len(o.Lower) == 0:
		return optionErr("lowerdir", syscall.EINVAL, "no lower layers")
	case total > MaxLowerLayers:
		return optionErr("lowerdir", syscall.EINVAL, tooManyLowers)
	case !hasUpper && total < 2:
		return optionErr("lowerdir", syscall.EINVAL, "at least 2 lower layers are needed without an upper layer")
	}

	var work *Layer
	if hasUpper {
		work = o.Work
		_, native := o.Upper.b.(layer.WorkAttacher)
		if native && work == nil {
			return optionErr("workdir", syscall.EINVAL, "missing 'workdir'")
		}
		if !native && work != nil {
			return optionErr("workdir", syscall.EINVAL,
				"upper layer "+o.Upper.String()+" has its own work area and takes no workdir")
		}
	}

	// Each layer once. The roles are in the kernel's order of setting up
	// layer traps: upper, work, lowers.
	type role struct {
		l     *Layer
		name  string
		lower bool
	}
	var roles []role
	if hasUpper {
		roles = append(roles, role{o.Upper, "upperdir", false})
	}
	for _, l := range o.Lower {
		roles = append(roles, role{l, "lowerdir", true})
	}
	for _, l := range o.DataOnly {
		roles = append(roles, role{l, "datadir+", true})
	}
	if work != nil {
		if work == o.Upper {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must be separate subtrees")
		}
		roles = append(roles, role{work, "workdir", false})
	}
	seen := make(map[*Layer]bool, len(roles))
	for _, r := range roles {
		if seen[r.l] {
			return optionErr(r.name, syscall.ELOOP, "layer "+r.l.String()+" is given twice")
		}
		seen[r.l] = true
	}

	// ovl_get_workdir: upper and work on one filesystem, separate subtrees.
	if work != nil {
		ur, uok := o.Upper.b.(layer.Rooted)
		wr, wok := work.b.(layer.Rooted)
		if !uok || !wok {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must reside under the same mount")
		}
		up, udev, uino := ur.RootInfo()
		wp, wdev, wino := wr.RootInfo()
		if udev != wdev || !sameMount(o.Upper.b, work.b) {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must reside under the same mount")
		}
		if uino == wino || pathWithin(up, wp) || pathWithin(wp, up) {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must be separate subtrees")
		}
	}

	// Layer traps: equal roots (ovl_setup_trap), then lower roots nested
	// in another root (ovl_check_layer).
	type root struct {
		role
		path     string
		dev, ino uint64
	}
	var roots []root
	for _, r := range roles {
		if rr, ok := r.l.b.(layer.Rooted); ok {
			p, dev, ino := rr.RootInfo()
			roots = append(roots, root{r, p, dev, ino})
		}
	}
	for i, a := range roots {
		for _, b := range roots[:i] {
			if a.dev == b.dev && a.ino == b.ino {
				if a.name == "workdir" && b.name == "upperdir" {
					continue // checked above
				}
				return optionErr(a.name, syscall.ELOOP, "conflicting "+a.name+" path "+a.path+" (same directory as "+b.name+" "+b.path+")")
			}
		}
	}
	for _, a := range roots {
		if !a.lower {
			continue
		}
		for _, b := range roots {
			if a.l == b.l {
				continue
			}
			in, err := rootWithin(a.l.b, b.l.b, a.path, b.path, a.dev == b.dev)
			if err != nil {
				return optionErr(a.name, syscall.ELOOP, "cannot tell whether "+a.name+" path "+a.path+" lies inside "+b.name+" "+b.path+
					" (another mount of one filesystem, and the mount table cannot be read: "+err.Error()+")")
			}
			if in {
				return optionErr(a.name, syscall.ELOOP, "overlapping "+a.name+" path "+a.path+" (inside "+b.name+" "+b.path+")")
			}
		}
	}
	return nil
}

// sameMount reports whether the roots of two rooted backends were reached
// through one mount, as the kernel requires of upperdir= and workdir=
// (where the mount cannot be told, st_dev stands for it).
func sameMount(a, b layer.Backend) bool {
	pa, aok := a.(layer.Placed)
	pb, bok := b.(layer.Placed)
	if !aok || !bok || pa.MountID() == 0 || pb.MountID() == 0 {
		return true
	}
	return pa.MountID() == pb.MountID()
}

// rootWithin reports whether the root of a (at path ap) lies strictly
// inside the root of b (at bp) in their filesystem, as the kernel's
// ovl_check_layer finds it by walking the dentry ancestry. Through one
// mount the paths tell; through two mounts of one filesystem a bind mount
// can show a directory anywhere, so the positions in the filesystem are
// compared. When these cannot be read, roots on different devices are
// taken as disjoint and others fail (fail safe: New refuses).
func rootWithin(a, b layer.Backend, ap, bp string, sameDev bool) (bool, error) {
	pa, aok := a.(layer.Placed)
	pb, bok := b.(layer.Placed)
	if !aok || !bok || pa.MountID() == 0 || pb.MountID() == 0 || pa.MountID() == pb.MountID() {
		return pathWithin(ap, bp), nil
	}
	adev, apos, err := pa.FSPosition()
	if err == nil {
		var bdev uint64
		var bpos string
		if bdev, bpos, err = pb.FSPosition(); err == nil {
			return adev == bdev && pathWithin(apos, bpos), nil
		}
	}
	if !sameDev {
		return false, nil
	}
	return false, err
}

// pathWithin reports whether the absolute, clean path inner lies strictly
// inside dir (a path prefix ending on a component boundary).
func pathWithin(inner, dir string) bool {
	if inner == dir || !strings.HasPrefix(inner, dir) {
		return false
	}
	return strings.HasSuffix(dir, "/") || inner[len(dir)] == '/'
}
