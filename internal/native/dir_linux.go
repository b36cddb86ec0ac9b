//go:build linux

package native

import (
	"bytes"
	"encoding/binary"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

// direntTypes maps getdents' d_type to S_IFMT bits; DT_UNKNOWN and
// DT_WHT (never reported by Linux filesystems) map to 0.
var direntTypes = [16]uint32{
	unix.DT_FIFO: unix.S_IFIFO,
	unix.DT_CHR:  unix.S_IFCHR,
	unix.DT_DIR:  unix.S_IFDIR,
	unix.DT_BLK:  unix.S_IFBLK,
	unix.DT_REG:  unix.S_IFREG,
	unix.DT_LNK:  unix.S_IFLNK,
	unix.DT_SOCK: unix.S_IFSOCK,
}

// ReadDir lists p in raw getdents64 order: the kernel overlay's merged
// order is built from it (ovl_dir_read), so it is kept as is.
func (b *backend) ReadDir(p string) ([]layer.DirEnt, error) {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readDirents(fd, make([]byte, 32<<10))
}

var _ layer.DotsReader = (*backend)(nil)

func (b *backend) ReadDirDots(p string) ([]layer.DirEnt, [2]int, error) {
	var dots [2]int
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, dots, err
	}
	defer unix.Close(fd)
	ents, err := readDirentsDots(fd, make([]byte, 32<<10), &dots)
	return ents, dots, err
}

// readDirents reads the entries of the dir open at fd from its offset to
// its end, with getdents through buf.
func readDirents(fd int, buf []byte) ([]layer.DirEnt, error) {
	return readDirentsDots(fd, buf, nil)
}

// readDirentsDots is readDirents that also notes where "." and ".." come
// (see parseDirentsDots).
func readDirentsDots(fd int, buf []byte, dots *[2]int) ([]layer.DirEnt, error) {
	var ents []layer.DirEnt
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return ents, nil
		}
		ents, _ = parseDirentsDots(buf[:n], ents, dots)
	}
}

// parseDirents appends the entries of a getdents64 buffer (struct
// linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name NUL-terminated)
// to ents, skipping "." and "..". last is the position after the last
// record ("." and ".." included), where the next getdents goes on.
func parseDirents(buf []byte, ents []layer.DirEnt) (_ []layer.DirEnt, last int64) {
	return parseDirentsDots(buf, ents, nil)
}

// parseDirentsDots is parseDirents that also notes, in dots when not nil,
// how many entries came before "." and before "..".
func parseDirentsDots(buf []byte, ents []layer.DirEnt, dots *[2]int) (_ []layer.DirEnt, last int64) {
	const nameOff = 19
	for len(buf) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < nameOff || reclen > len(buf) {
			break
		}
		rec := buf[:reclen]
		buf = buf[reclen:]
		last = int64(binary.NativeEndian.Uint64(rec[8:16]))
		name := rec[nameOff:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s == "." || s == ".." {
			if dots != nil {
				dots[len(s)-1] = len(ents)
			}
			continue
		}
		ents = append(ents, layer.DirEnt{
			Name: string(name),
			Type: direntTypes[rec[18]&0xf],
			Ino:  binary.NativeEndian.Uint64(rec[0:8]),
		})
	}
	return ents, last
}

var _ layer.DirStreamer = (*backend)(nil)

func (b *backend) OpenDirStream(p string) (layer.DirStream, error) {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &dirStream{fd: fd}, nil
}

// dirStream reads a dir through its own descriptor, in buffers of
// os.File's size, so that positions move as on a kernel file read by os.
type dirStream struct {
	fd  int
	buf []byte
}

func (s *dirStream) ReadEntries() ([]layer.DirEnt, int64, bool, error) {
	if s.buf == nil {
		s.buf = make([]byte, 8192)
	}
	for {
		n, err := unix.Getdents(s.fd, s.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, false, err
		}
		if n <= 0 {
			return nil, 0, true, nil
		}
		ents, last := parseDirents(s.buf[:n], nil)
		return ents, last, false, nil
	}
}

func (s *dirStream) Seek(off int64, whence int) (int64, error) {
	return unix.Seek(s.fd, off, whence)
}

func (s *dirStream) Close() error { return unix.Close(s.fd) }
