package native

import (
	"unsafe"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

var _ layer.Handler = (*backend)(nil)

func (b *backend) FileHandle(p string) (layer.FileHandle, error) {
	var fh layer.FileHandle
	err := b.onObj(p, func(fd int) error {
		h, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
		if err != nil {
			return err
		}
		fh = toFileHandle(h)
		return nil
	})
	return fh, err
}

// toFileHandle is a handle from name_to_handle_at(2) as the layers give it.
func toFileHandle(h unix.FileHandle) layer.FileHandle {
	return layer.FileHandle{Type: uint8(h.Type()), FID: h.Bytes()}
}

var _ layer.TreeDirOpener = (*backend)(nil)

func (b *backend) OpenTreeDir(p string) (layer.TreeDir, error) {
	fd, err := b.openObj(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &treeDir{fd: fd, buf: make([]byte, 32<<10)}, nil
}

// treeDir is a dir open for a tree walk: every call is relative to
// its descriptor, so a walk's cost does not grow with depth. The dirs of
// one walk share buf, each listing done before the next begins.
type treeDir struct {
	fd  int
	buf []byte
}

func (d *treeDir) List() ([]layer.DirEnt, error) {
	ents, err := readDirents(d.fd, d.buf)
	if err != nil {
		return nil, err
	}
	for i, e := range ents {
		if e.Type == 0 { // the file system gives no type in its listing
			a, err := d.Lstat(e.Name)
			if err != nil {
				return nil, err
			}
			ents[i].Type = a.Type()
		}
	}
	return ents, nil
}

func (d *treeDir) Lstat(name string) (layer.Attr, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return layer.Attr{}, err
	}
	return statToAttr(&st), nil
}

func (d *treeDir) Listxattr(name string) ([]string, error) {
	// The walk lists a dir whole before it asks of its entries, so the
	// listing's buffer is free.
	return xattrObj{dirfd: d.fd, name: name}.namesIn(d.buf)
}

func (d *treeDir) Getxattr(name, x string) ([]byte, error) {
	return xattrObj{dirfd: d.fd, name: name}.value(x)
}

func (d *treeDir) Handle(name string) (layer.FileHandle, error) {
	h, _, err := unix.NameToHandleAt(d.fd, name, 0)
	if err != nil {
		return layer.FileHandle{}, err
	}
	return toFileHandle(h), nil
}

func (d *treeDir) Sub(name string) (layer.TreeDir, error) {
	fd, err := openSubdir(d.fd, name)
	if err != nil {
		return nil, err
	}
	return &treeDir{fd: fd, buf: d.buf}, nil
}

func (d *treeDir) Close() { unix.Close(d.fd) }

// fsGetUUID is FS_IOC_GETFSUUID, _IOR(0x15, 0, struct fsuuid2).
const fsGetUUID = 0x80111500

// FSUUID asks the filesystem for its UUID (FS_IOC_GETFSUUID); zero when
// it has none or cannot tell, as the kernel's s_uuid would be.
func (b *backend) FSUUID() [16]byte {
	b.uuidOnce.Do(func() { b.uuid = b.readUUID() })
	return b.uuid
}

func (b *backend) readUUID() [16]byte {
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

var _ layer.HandleChecker = (*backend)(nil)

// HandleLive decodes fh with open_by_handle_at(2) into an O_PATH
// descriptor, which it closes at once: the object may lie outside the
// layer, so nothing is done with it. Decoding needs CAP_DAC_READ_SEARCH;
// without it the answer is unknown.
func (b *backend) HandleLive(fh layer.FileHandle) (live, known bool) {
	if len(fh.FID) == 0 {
		return false, true
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false, false
	}
	// open_by_handle_at needs a descriptor that is not O_PATH to name the
	// mount.
	mfd, err := unix.Openat(b.rootfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, false
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(int32(fh.Type), fh.FID), unix.O_PATH|unix.O_CLOEXEC)
	switch err {
	case nil:
		unix.Close(fd)
		return true, true
	case unix.ESTALE, unix.EINVAL:
		return false, true
	}
	return false, false
}
