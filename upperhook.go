package overlay

import (
	"syscall"
	"time"
)

// upperHook, when set (by tests only, before New), is called before every
// change an FS makes to its upper layer, with the operation's name and
// paths: the one choke point where a test injects a crash (the hook exits
// the process) at each step of a multi-step operation. It is read once,
// in New; production code never sets it.
var upperHook func(op string, paths ...string)

// hookNoRenameWhiteout, set by tests only, makes the hooked upper of an
// FS built afterwards act as a filesystem without RENAME_WHITEOUT
// (EINVAL), to reach the fallback.
var hookNoRenameWhiteout bool

// hookUpper wraps an upper backend so that each change first calls hook.
// A backend that encodes file handles stays a handler.
func hookUpper(b backend, hook func(op string, paths ...string)) backend {
	hb := hookBackend{backend: b, hook: hook, noRenameWhiteout: hookNoRenameWhiteout}
	if h, ok := b.(handler); ok {
		return hookHandlerBackend{hb, h}
	}
	return hb
}

type hookBackend struct {
	backend
	hook             func(op string, paths ...string)
	noRenameWhiteout bool
}

type hookHandlerBackend struct {
	hookBackend
	handler
}

func (b hookBackend) open(p string, flag int, perm uint32) (bfile, error) {
	if flag&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC) != 0 {
		b.hook("open", p)
	}
	return b.backend.open(p, flag, perm)
}

func (b hookBackend) setxattr(p, name string, value []byte) error {
	b.hook("setxattr", p, name)
	return b.backend.setxattr(p, name, value)
}

func (b hookBackend) removexattr(p, name string) error {
	b.hook("removexattr", p, name)
	return b.backend.removexattr(p, name)
}

func (b hookBackend) mkdir(p string, perm uint32) error {
	b.hook("mkdir", p)
	return b.backend.mkdir(p, perm)
}

func (b hookBackend) symlink(target, p string) error {
	b.hook("symlink", p)
	return b.backend.symlink(target, p)
}

func (b hookBackend) link(oldp, newp string) error {
	b.hook("link", oldp, newp)
	return b.backend.link(oldp, newp)
}

func (b hookBackend) mknod(p string, mode uint32, dev uint64) error {
	b.hook("mknod", p)
	return b.backend.mknod(p, mode, dev)
}

func (b hookBackend) rename(oldp, newp string) error {
	b.hook("rename", oldp, newp)
	return b.backend.rename(oldp, newp)
}

func (b hookBackend) exchange(p1, p2 string) error {
	b.hook("exchange", p1, p2)
	return b.backend.exchange(p1, p2)
}

func (b hookBackend) unlink(p string) error {
	b.hook("unlink", p)
	return b.backend.unlink(p)
}

func (b hookBackend) rmdir(p string) error {
	b.hook("rmdir", p)
	return b.backend.rmdir(p)
}

func (b hookBackend) chmod(p string, perm uint32) error {
	b.hook("chmod", p)
	return b.backend.chmod(p, perm)
}

func (b hookBackend) lchown(p string, uid, gid int) error {
	b.hook("lchown", p)
	return b.backend.lchown(p, uid, gid)
}

func (b hookBackend) lutimes(p string, atime, mtime time.Time) error {
	b.hook("lutimes", p)
	return b.backend.lutimes(p, atime, mtime)
}

func (b hookBackend) truncate(p string, size int64) error {
	b.hook("truncate", p)
	return b.backend.truncate(p, size)
}

func (b hookBackend) renameWhiteout(oldp, newp string) error {
	wr, ok := b.backend.(whiteoutRenamer)
	if b.noRenameWhiteout {
		return syscall.EINVAL
	}
	if !ok {
		return syscall.EOPNOTSUPP
	}
	b.hook("renameWhiteout", oldp, newp)
	return wr.renameWhiteout(oldp, newp)
}
