// Package testerrno holds the tests' checks of the errno an error
// carries: the overlay's errors, like the os package's, wrap a
// syscall.Errno.
package testerrno

import (
	"errors"
	"syscall"
	"testing"
)

// Of is the errno err carries, 0 when none (or err is nil).
func Of(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// Is reports whether err carries the errno want.
func Is(err error, want syscall.Errno) bool { return err != nil && Of(err) == want }

// Want fails t unless err carries want, or, for want 0, is nil.
func Want(t testing.TB, what string, err error, want syscall.Errno) {
	t.Helper()
	switch {
	case want == 0 && err != nil:
		t.Errorf("%s: %v, want success", what, err)
	case want != 0 && !Is(err, want):
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// Fataler is what Require needs of a test: testing.TB, or a rapid.T.
type Fataler interface {
	Fatalf(format string, args ...any)
}

// Require returns the errno err carries (0 for nil) and stops t when err
// carries none.
func Require(t Fataler, what string, err error) syscall.Errno {
	e := Of(err)
	if err != nil && e == 0 {
		t.Fatalf("%s: error without an errno: %#v", what, err)
	}
	return e
}
