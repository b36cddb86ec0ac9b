package overlay

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

var _ handler = (*nativeBackend)(nil)

func (b *nativeBackend) fileHandle(p string) (fileHandle, error) {
	var fh fileHandle
	err := b.onObj(p, func(fd int) error {
		h, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
		if err != nil {
			return err
		}
		fh = fileHandle{typ: uint8(h.Type()), fid: h.Bytes()}
		return nil
	})
	return fh, err
}

// fsGetUUID is FS_IOC_GETFSUUID, _IOR(0x15, 0, struct fsuuid2).
const fsGetUUID = 0x80111500

// fsUUID asks the filesystem for its UUID (FS_IOC_GETFSUUID); zero when
// it has none or cannot tell, as the kernel's s_uuid would be.
func (b *nativeBackend) fsUUID() [16]byte {
	b.uuidOnce.Do(func() { b.uuid = b.readUUID() })
	return b.uuid
}

func (b *nativeBackend) readUUID() [16]byte {
	var u [16]byte
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return u
	}
	fd, err := unix.Openat(b.rootfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return u
	}
	defer unix.Close(fd)
	var buf struct {
		n    uint8
		uuid [16]byte
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsGetUUID, uintptr(unsafe.Pointer(&buf))); e == 0 && buf.n == 16 {
		u = buf.uuid
	}
	return u
}
