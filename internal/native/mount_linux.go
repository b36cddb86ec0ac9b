//go:build linux

package native

import (
	"bytes"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Where a native layer's root lies, for the kernel's layer rules at mount:
// upperdir= and workdir= must be on one mount (ovl_get_workdir compares
// the vfsmounts), and no lower root may lie beneath another layer's root
// in the filesystem (ovl_check_layer walks the dentry ancestry, which no
// bind mount hides). The mount comes from statx(STATX_MNT_ID) on the root's
// path (not on the root descriptor, which may be in a clone of the mount),
// which needs no /proc; the position in the filesystem from the mount
// table, which does.

// rootMountID returns the id of the mount the absolute path is reached
// through, 0 when the kernel does not report it (before Linux 5.8).
func rootMountID(path string) uint64 {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0
	}
	return stx.Mnt_id
}

func (b *backend) MountID() uint64 { return b.mnt }

func (b *backend) FSPosition() (uint64, string, error) {
	b.posOnce.Do(func() { b.posDev, b.pos, b.posErr = b.readPosition() })
	return b.posDev, b.pos, b.posErr
}

// readPosition finds the root's mount in /proc/self/mountinfo and joins the
// mount's root in its filesystem (field 4) with the root's path below the
// mount point (field 5).
func (b *backend) readPosition() (uint64, string, error) {
	if b.mnt == 0 || !b.proc {
		return 0, "", unix.ENOSYS
	}
	b.mu.RLock()
	var cur string
	var err error
	if b.closed {
		err = unix.EBADF
	} else if b.cloned {
		cur = b.path // a clone's descriptor reads as its own root, "/"
	} else {
		cur, err = os.Readlink(procSelfFD + strconv.Itoa(b.rootfd))
	}
	b.mu.RUnlock()
	if err != nil {
		return 0, "", err
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, "", err
	}
	id := strconv.FormatUint(b.mnt, 10)
	for _, line := range bytes.Split(info, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 5 || f[0] != id {
			continue
		}
		var major, minor uint64
		mm := strings.SplitN(f[2], ":", 2)
		if len(mm) != 2 {
			return 0, "", unix.EINVAL
		}
		if major, err = strconv.ParseUint(mm[0], 10, 32); err != nil {
			return 0, "", unix.EINVAL
		}
		if minor, err = strconv.ParseUint(mm[1], 10, 32); err != nil {
			return 0, "", unix.EINVAL
		}
		root, point := UnescapeMountinfo(f[3]), UnescapeMountinfo(f[4])
		var rel string
		switch {
		case cur == point:
		case point == "/" && strings.HasPrefix(cur, "/"):
			rel = cur
		case strings.HasPrefix(cur, point+"/"):
			rel = cur[len(point):]
		default:
			// Not reachable from the mount point (deleted, or beyond
			// this process's root).
			return 0, "", unix.ENOENT
		}
		return unix.Mkdev(uint32(major), uint32(minor)), path.Join(root, rel), nil
	}
	return 0, "", unix.ENOENT
}

// renameWhiteoutOK reports whether the work area's filesystem supports
// renameat2's RENAME_WHITEOUT, probed as the kernel probes its upper at
// mount: a temporary file in W/work renamed with the flag (both names are
// removed after).
func (b *backend) RenameWhiteoutOK() bool {
	const src, dst = "/work/#rwprobe", "/work/#rwprobe.wh"
	f, err := b.Open(src, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0)
	if err != nil {
		return true // cannot tell: assume the common case
	}
	f.Close()
	defer b.Unlink(src)
	b.mu.RLock()
	if b.closed || b.workfd < 0 {
		b.mu.RUnlock()
		return true
	}
	err = unix.Renameat2(b.workfd, src[1:], b.workfd, dst[1:], unix.RENAME_WHITEOUT)
	b.mu.RUnlock()
	if err == nil {
		b.Unlink(dst)
	}
	return err != unix.EINVAL && err != unix.EOPNOTSUPP
}
