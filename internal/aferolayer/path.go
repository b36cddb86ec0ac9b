package aferolayer

import (
	"errors"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/spf13/afero"
	"github.com/spf13/afero/mem"
)

// aferoPath maps a backend path to fsys's: "" is "/", "a/b" is "/a/b" and
// work-area paths "/x" are "/.wh..wh.work/x".
func aferoPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return strings.TrimSuffix("/"+workDir+p, "/")
	}
	return "/" + p
}

// aferoErrno translates an afero error to a syscall.Errno. afero backends
// mostly return sentinel errors (os.ErrNotExist, mem.ErrFileClosed, ...)
// or plain strings; an error it cannot place is EIO.
func aferoErrno(err error) error {
	var errno syscall.Errno
	switch {
	case err == nil:
		return nil
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrPermission):
		return syscall.EPERM
	case errors.Is(err, fs.ErrClosed), errors.Is(err, afero.ErrFileClosed), errors.Is(err, mem.ErrFileClosed):
		return syscall.EBADF
	case errors.Is(err, afero.ErrNoSymlink):
		return syscall.EPERM
	case errors.Is(err, afero.ErrNoReadlink):
		return syscall.EINVAL
	case errors.Is(err, afero.ErrOutOfRange), errors.Is(err, mem.ErrOutOfRange), errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, afero.ErrTooLarge), errors.Is(err, mem.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, errors.ErrUnsupported):
		return syscall.EOPNOTSUPP
	}
	// Errors without a sentinel, as afero's mem package words them.
	switch msg := err.Error(); {
	case strings.HasSuffix(msg, "file handle is read only"):
		return syscall.EBADF
	case strings.HasSuffix(msg, "not a dir"):
		return syscall.ENOTDIR
	}
	return syscall.EIO
}

// pathIno is the synthesized inode number of the object at layer path p:
// 64-bit FNV-1a of the path, never 0.
func pathIno(p string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, p)
	if ino := h.Sum64(); ino != 0 {
		return ino
	}
	return 1
}

// statFields reads the fields of a *syscall.Stat_t (or *unix.Stat_t) by
// name, as their types and time field names differ between platforms; ok
// is false when sys is no stat.
func statFields(sys any, a *layer.Attr) (ok bool) {
	v := reflect.ValueOf(sys)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct || v.Elem().Type().Name() != "Stat_t" {
		return false
	}
	v = v.Elem()
	num := func(name string) uint64 {
		switch f := v.FieldByName(name); f.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return f.Uint()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return uint64(f.Int())
		}
		return 0
	}
	ts := func(names ...string) time.Time {
		for _, name := range names {
			f := v.FieldByName(name)
			if !f.IsValid() || f.Kind() != reflect.Struct {
				continue
			}
			sec, nsec := f.FieldByName("Sec"), f.FieldByName("Nsec")
			if sec.IsValid() && nsec.IsValid() {
				return time.Unix(sec.Int(), nsec.Int())
			}
		}
		return time.Time{}
	}
	a.Mode = uint32(num("Mode"))
	a.Nlink = num("Nlink")
	a.Uid = uint32(num("Uid"))
	a.Gid = uint32(num("Gid"))
	a.Rdev = num("Rdev")
	a.Blksize = int64(num("Blksize"))
	a.Blocks = int64(num("Blocks"))
	a.Ino = num("Ino")
	a.Dev = num("Dev")
	a.Atime = ts("Atim", "Atimespec")
	a.Ctime = ts("Ctim", "Ctimespec")
	return true
}

// attrOf builds the attr of the object at layer path p from its FileInfo.
func (b *backend) attrOf(p string, fi fs.FileInfo) layer.Attr {
	var a layer.Attr
	if !statFields(fi.Sys(), &a) {
		a = layer.Attr{
			Mode:    layer.RawMode(fi.Mode()),
			Nlink:   1,
			Uid:     uint32(os.Geteuid()),
			Gid:     uint32(os.Getegid()),
			Blksize: 4096,
			Ino:     pathIno(p),
			Dev:     b.dev,
			Atime:   fi.ModTime(),
			Ctime:   fi.ModTime(),
		}
		if fi.IsDir() {
			a.Nlink = 2
		}
		b.ownMu.Lock()
		if o, ok := b.owners[aferoPath(p)]; ok {
			a.Uid, a.Gid = o[0], o[1]
		}
		b.ownMu.Unlock()
		if fi.Mode().IsRegular() {
			a.Blocks = (fi.Size() + 511) / 512
		}
	}
	a.Size = fi.Size()
	a.Mtime = fi.ModTime()
	return a
}

// lstatAfero stats fsys path ap without following a final symlink when
// fsys can.
func (b *backend) lstatAfero(ap string) (fs.FileInfo, error) {
	var fi fs.FileInfo
	var err error
	if b.lstater != nil {
		fi, _, err = b.lstater.LstatIfPossible(ap)
	} else {
		fi, err = b.fsys.Stat(ap)
	}
	return fi, aferoErrno(err)
}

// ensureWork creates the work area directory if p is in it and it is
// missing.
func (b *backend) ensureWork(p string) error {
	if !strings.HasPrefix(p, "/") || b.readOnly {
		return nil
	}
	if _, err := b.lstatAfero("/" + workDir); err != syscall.ENOENT {
		return err
	}
	return aferoErrno(b.fsys.MkdirAll("/"+workDir, 0o700))
}

// resolve checks every component of p before the last: each must be a
// directory, not a symlink (ELOOP). It returns the fsys path of p and the
// FileInfo of p itself (nil when p does not exist).
func (b *backend) resolve(p string) (ap string, fi fs.FileInfo, err error) {
	if err := b.ensureWork(p); err != nil {
		return "", nil, err
	}
	rest := strings.TrimPrefix(p, "/")
	dir := "/"
	if strings.HasPrefix(p, "/") {
		dir = "/" + workDir
	}
	ap = aferoPath(p)
	if rest == "" {
		fi, err := b.lstatAfero(ap)
		return ap, fi, err
	}
	for {
		c, more, found := strings.Cut(rest, "/")
		if err := layer.CheckName(c); err != nil {
			return "", nil, err
		}
		dir = path.Join(dir, c)
		fi, err := b.lstatAfero(dir)
		if !found {
			if err == syscall.ENOENT {
				return ap, nil, nil
			}
			return ap, fi, err
		}
		switch {
		case err != nil:
			return "", nil, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", nil, syscall.ELOOP
		case !fi.IsDir():
			return "", nil, syscall.ENOTDIR
		}
		rest = more
	}
}

// isRoot reports whether p is the layer root or the work area root.
func isRoot(p string) bool { return p == "" || p == "/" }
