//go:build linux

package native

import (
	"errors"
	"slices"
	"sync/atomic"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

// Reading many entries of one native dir (probe_batch.go): the dir is
// opened once (beneath the root, as every lookup), each entry is a single
// name read relative to it with fstatat(AT_SYMLINK_NOFOLLOW) and
// getxattrat(2) (Linux 6.13), so no path is resolved from the root again
// and no xattr goes through /proc. An entry that is a mount point (another
// st_dev) fails EXDEV as a lookup of it would.

var _ layer.DirProber = (*backend)(nil)

// noGetxattrat is set once getxattrat(2) turned out to be missing.
var noGetxattrat atomic.Bool

func (b *backend) ProbeDir(p string) (layer.ProbeDirReader, error) {
	if noGetxattrat.Load() || !xattratLayout {
		return nil, errors.ErrUnsupported
	}
	fd, err := b.openObj(p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &probeDir{fd: fd, dev: st.Dev}, nil
}

// probeDir is an O_PATH descriptor of a dir whose entries are read
// by name. The xattr names of the entry last asked about are listed once
// (listxattrat), so that absent xattrs, the usual case, cost no call each.
type probeDir struct {
	fd  int
	dev uint64

	listed string   // the entry whose names are in xnames
	xnames []string // its xattr names; nil when not listed
}

func (d *probeDir) Close() { unix.Close(d.fd) }

func (d *probeDir) Lstat(name string) (layer.Attr, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT); err != nil {
		return layer.Attr{}, err
	}
	if st.Dev != d.dev {
		return layer.Attr{}, unix.EXDEV
	}
	return statToAttr(&st), nil
}

func (d *probeDir) Getxattr(name, xname string) ([]byte, error) {
	o := xattrObj{dirfd: d.fd, name: name}
	if d.listed != name || d.xnames == nil {
		d.listed, d.xnames = name, nil
		if names, err := o.names(); err == nil {
			d.xnames = names
		} else if err == unix.ENOSYS || err == unix.EPERM {
			// Missing, or refused by a seccomp filter.
			noGetxattrat.Store(true)
			return nil, errors.ErrUnsupported
		}
	}
	if d.xnames != nil && !slices.Contains(d.xnames, xname) {
		return nil, unix.ENODATA
	}
	v, err := o.value(xname)
	if err == unix.ENOSYS {
		noGetxattrat.Store(true)
		return nil, errors.ErrUnsupported
	}
	return v, err
}
