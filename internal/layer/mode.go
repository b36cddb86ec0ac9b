package layer

import (
	"io/fs"
	"syscall"
)

// FileMode converts a raw st_mode into an fs.FileMode, as os does.
func FileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFREG:
	default:
		mode |= fs.ModeIrregular
	}
	if m&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// RawPerm converts the permission part of an fs.FileMode into st_mode
// bits, as os.Chmod does (setuid, setgid and sticky included).
func RawPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		p |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		p |= syscall.S_ISVTX
	}
	return p
}

// RawMode converts the permission, setuid, setgid and sticky bits of an
// fs.FileMode to raw st_mode bits, and its type to S_IFMT bits (S_IFREG
// for a plain file).
func RawMode(mode fs.FileMode) uint32 {
	r := RawPerm(mode)
	switch {
	case mode&fs.ModeDir != 0:
		r |= syscall.S_IFDIR
	case mode&fs.ModeSymlink != 0:
		r |= syscall.S_IFLNK
	case mode&fs.ModeNamedPipe != 0:
		r |= syscall.S_IFIFO
	case mode&fs.ModeSocket != 0:
		r |= syscall.S_IFSOCK
	case mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice != 0:
		r |= syscall.S_IFCHR
	case mode&fs.ModeDevice != 0:
		r |= syscall.S_IFBLK
	case mode&fs.ModeCharDevice != 0:
		r |= syscall.S_IFCHR
	default:
		r |= syscall.S_IFREG
	}
	return r
}
