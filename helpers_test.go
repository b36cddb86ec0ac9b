package overlay_test

import (
	"errors"
	"io/fs"
	"syscall"
)

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func errnoIs(err error, want syscall.Errno) bool {
	var e syscall.Errno
	return errors.As(err, &e) && e == want
}
