package overlay

import (
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// statT renders a as the *syscall.Stat_t that os.Stat's FileInfo.Sys
// returns on Linux.
func statT(a *layer.Attr) any {
	st := &syscall.Stat_t{Uid: a.Uid, Gid: a.Gid, Size: a.Size, Blocks: a.Blocks}
	// The widths of these fields differ between Linux architectures.
	setInt(&st.Dev, int64(a.Dev))
	setInt(&st.Ino, int64(a.Ino))
	setInt(&st.Nlink, int64(a.Nlink))
	setInt(&st.Mode, int64(a.Mode))
	setInt(&st.Rdev, int64(a.Rdev))
	setInt(&st.Blksize, a.Blksize)
	st.Atim = syscall.NsecToTimespec(a.Atime.UnixNano())
	st.Mtim = syscall.NsecToTimespec(a.Mtime.UnixNano())
	st.Ctim = syscall.NsecToTimespec(a.Ctime.UnixNano())
	return st
}

// processUmask reads the process umask (which os applies to every
// creation). It is read once, at New: Go has no race-free way to read it.
func processUmask() uint32 {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint32(m)
}

func setInt[T ~int32 | ~int64 | ~uint32 | ~uint64](dst *T, v int64) { *dst = T(v) }
