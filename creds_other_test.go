//go:build !linux

package overlay_test

import "errors"

func setThreadCreds(uid, gid int) error { return errors.ErrUnsupported }

func restoreThreadCreds() {}
