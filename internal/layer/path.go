package layer

import (
	"errors"
	"strings"
	"syscall"
)

// Join joins a dir path and a name ("" is the root).
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// IsNotFound reports an error that means "nothing at this path in this
// layer": ENOENT, or ENOTDIR when a path component is not a directory.
func IsNotFound(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR)
}

// Split splits a path into its dir and its last name.
func Split(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}
