package overlay

import (
	"io/fs"
	"os"
)

// pathErr shapes err as the os package does: a *fs.PathError with the
// overlay path as given by the caller and a bare syscall.Errno inside, so
// no backing path of a layer ever reaches the caller.
func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: errnoOf(err)}
}

// linkErr is pathErr for the two-name operations (rename, link, symlink).
func linkErr(op, oldname, newname string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: op, Old: oldname, New: newname, Err: errnoOf(err)}
}
