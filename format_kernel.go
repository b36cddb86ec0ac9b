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
	return br.kernel().Probe(br.b, p, bottom)
}

func (kernelFormat) classify(br *branch, p string, xwh bool, ents []layer.DirEnt, at *[2]int) ([]ondisk.Entry, error) {
	return br.kernel().Classify(br.b, p, xwh, ents, at)
}

// kernel is the codec of br in the kernel's format.
func (br *branch) kernel() ondisk.Kernel {
	return ondisk.Kernel{Prefix: br.prefix, Xattr: br.caps.Xattr}
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
