package native

import (
	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

// fdUser is an open file backed by a host file descriptor: a native
// layer's file. Use runs fn with the descriptor, which stays valid (not
// closed) until fn returns.
type fdUser interface {
	Use(fn func(fd int) error) error
}

// cloneMax bounds one copy_file_range call; the kernel caps a call at
// MAX_RW_COUNT (just under 2 GiB) anyway.
const cloneMax = 1 << 30

// CopyData copies size bytes from in to out without passing them through
// user space when both are files of native layers: FICLONE (reflink, shared
// extents on xfs and btrfs), else copy_file_range, keeping holes. It
// reports NotCopied when it cannot, and the caller copies through a buffer.
//
// out is a new, empty file. The result is what a buffered copy that skips
// zeros would leave:
// exactly size bytes (a source that ends early leaves a hole up to size),
// with the source's holes kept as holes.
func CopyData(out, in layer.File, size int64) (CopyHow, error) {
	o, ok := out.(fdUser)
	if !ok {
		return NotCopied, nil
	}
	i, ok := in.(fdUser)
	if !ok {
		return NotCopied, nil
	}
	var how CopyHow
	err := o.Use(func(ofd int) error {
		return i.Use(func(ifd int) error {
			var err error
			how, err = cloneFds(ofd, ifd, size)
			return err
		})
	})
	return how, err
}

// cloneFds is CopyData on descriptors. It moves the offset of ifd (the
// SEEK_DATA walk); the native file does only positioned I/O, and copyData
// opens the source for this copy alone.
func cloneFds(ofd, ifd int, size int64) (CopyHow, error) {
	// 1. Reflink: the whole source, in constant time. The overlay copies
	// the size it looked up, so the clone is cut or extended to it.
	err := retryEINTR(func() error { return unix.IoctlFileClone(ofd, ifd) })
	switch {
	case err == nil:
		var st unix.Stat_t
		if err := unix.Fstat(ofd, &st); err != nil {
			return NotCopied, err
		}
		if st.Size != size {
			if err := ftruncate(ofd, size); err != nil {
				return NotCopied, err
			}
		}
		return Cloned, nil
	case !isNoClone(err):
		return NotCopied, err
	}

	// 2. copy_file_range over the source's data segments only; the holes
	// between them are never written, and the final ftruncate makes a
	// trailing hole.
	wrote := false
	for off := int64(0); off < size; {
		start, end, err := nextData(ifd, off, size)
		if err != nil {
			return NotCopied, err
		}
		if start >= size {
			break
		}
		for start < end {
			roff, woff := start, start
			n, err := unix.CopyFileRange(ifd, &roff, ofd, &woff, int(min(end-start, cloneMax)), 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				if !wrote && isNoCopyRange(err) {
					return NotCopied, nil // nothing written: the buffered copy starts afresh
				}
				return NotCopied, err
			}
			if n == 0 {
				// The source ended before size (it shrank): the rest is a
				// hole, as in the buffered copy.
				end = size
				break
			}
			wrote = true
			start += int64(n)
		}
		off = end
	}
	if err := ftruncate(ofd, size); err != nil {
		return NotCopied, err
	}
	return Copied, nil
}

// nextData returns the next data segment [start, end) of fd at or after
// off, end at most size; start is size or more when no data is left. A
// filesystem without SEEK_DATA has all of [off, size) as data.
func nextData(fd int, off, size int64) (start, end int64, err error) {
	start, err = unix.Seek(fd, off, unix.SEEK_DATA)
	switch {
	case err == unix.ENXIO:
		return size, size, nil // no data after off
	case err == unix.EINVAL || err == unix.EOPNOTSUPP:
		return off, size, nil
	case err != nil:
		return 0, 0, err
	}
	if start >= size {
		return start, start, nil
	}
	end, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	switch {
	case err == unix.ENXIO: // truncated meanwhile
		end = size
	case err != nil:
		return 0, 0, err
	}
	return start, min(end, size), nil
}

// isNoClone tells the errors of FICLONE that mean "not possible here"
// rather than failure: another filesystem, a filesystem without reflink
// (or built without it), or descriptors it will not clone.
func isNoClone(err error) bool {
	switch err {
	case unix.EXDEV, unix.EOPNOTSUPP, unix.EINVAL, unix.ENOTTY, unix.ENOSYS:
		return true
	}
	return false
}

// isNoCopyRange tells the errors of a first copy_file_range that mean the
// kernel or the filesystems cannot do it, so the caller copies itself.
func isNoCopyRange(err error) bool {
	switch err {
	case unix.EXDEV, unix.EOPNOTSUPP, unix.ENOSYS, unix.EINVAL:
		return true
	}
	return false
}

func retryEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
