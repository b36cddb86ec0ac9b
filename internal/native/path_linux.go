//go:build linux

package native

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/go-overlay/overlay/internal/layer"
	"golang.org/x/sys/unix"
)

// splitNative validates p and splits it into the tree it addresses (the
// work area for a leading "/") and the path relative to that tree's root,
// "" for the root itself.
func splitNative(p string) (work bool, rel string, err error) {
	if strings.HasPrefix(p, "/") {
		work, p = true, p[1:]
	}
	if p == "" {
		return work, "", nil
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0 {
			return false, "", unix.EINVAL
		}
	}
	return work, p, nil
}

// openAt runs openat2 from the root of the tree named by work, holding mu so
// that the root descriptor stays valid.
func (b *backend) openAt(work bool, rel string, how *unix.OpenHow) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return -1, unix.EBADF
	}
	dirfd := b.rootfd
	if work {
		if b.workfd < 0 {
			return -1, unix.EINVAL
		}
		dirfd = b.workfd
	}
	if rel == "" {
		rel = "."
	}
	how.Flags |= unix.O_CLOEXEC
	how.Resolve = resolveFlags
	RootWalks.Add(1)
	RootWalkNames.Add(int64(strings.Count(rel, "/") + 1))
	if len(rel) < layer.PathMax {
		return openRetry(dirfd, rel, how)
	}
	return openDeep(dirfd, rel, how)
}

// RootWalks counts the paths resolved from a layer root (by every
// native layer), for the tests that check that a cost does not grow with
// a tree's size or depth.
var RootWalks atomic.Int64

// RootWalkNames counts the names those walks resolved, for the tests
// that check that a cost grows no faster than a tree.
var RootWalkNames atomic.Int64

// openDeep is openRetry for a path of PATH_MAX bytes or more, which one
// syscall cannot take: objects that deep are reachable in the kernel's
// overlay (it walks one component at a time), so the path is resolved in
// pieces shorter than PATH_MAX, each from the descriptor of the directory
// the previous piece reached, with the same resolve flags: RESOLVE_BENEATH
// of a directory beneath the root keeps the walk beneath the root.
func openDeep(dirfd int, rel string, how *unix.OpenHow) (int, error) {
	cur := dirfd
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	for len(rel) >= layer.PathMax {
		i := strings.LastIndexByte(rel[:layer.PathMax], '/')
		if i <= 0 {
			return -1, unix.ENAMETOOLONG
		}
		// An intermediate piece must end at a dir; a symlink there fails
		// ELOOP (RESOLVE_NO_SYMLINKS), as in a one-piece walk.
		fd, err := openRetry(cur, rel[:i], &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: how.Resolve,
		})
		if err != nil {
			return -1, err
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		cur, rel = fd, rel[i+1:]
	}
	return openRetry(cur, rel, how)
}

// openRetry is openat2 retried on EINTR and on EAGAIN (which
// RESOLVE_BENEATH returns when a concurrent rename may have raced a lookup).
func openRetry(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, how)
		if err == unix.EINTR || (err == unix.EAGAIN && i < 16) {
			continue
		}
		return fd, err
	}
}

// openObj opens the object p itself, never following it, with extra open
// flags (0 for an O_PATH descriptor).
func (b *backend) openObj(p string, flags int) (int, error) {
	work, rel, err := splitNative(p)
	if err != nil {
		return -1, err
	}
	if flags == 0 {
		flags = unix.O_PATH
	}
	return b.openAt(work, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW)})
}

// errIsRoot is what openParent reports for the root of a tree, which has no
// parent; callers map it to the errno Linux gives for the operation.
var errIsRoot = errors.New("overlay: root has no parent")

// openParent opens the parent directory of p (O_PATH) and returns it with
// the final name, which contains no "/".
func (b *backend) openParent(p string) (int, string, error) {
	work, rel, err := splitNative(p)
	if err != nil {
		return -1, "", err
	}
	if rel == "" {
		return -1, "", errIsRoot
	}
	dir, base := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir, base = rel[:i], rel[i+1:]
	}
	fd, err := b.openAt(work, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW})
	return fd, base, err
}

// onParent runs fn on the parent descriptor and final name of p; rootErr
// is returned for the root.
func (b *backend) onParent(p string, rootErr error, fn func(dirfd int, name string) error) error {
	fd, name, err := b.openParent(p)
	if err == errIsRoot {
		return rootErr
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd, name)
}

// onObj runs fn on an O_PATH descriptor of p.
func (b *backend) onObj(p string, fn func(fd int) error) error {
	fd, err := b.openObj(p, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}
