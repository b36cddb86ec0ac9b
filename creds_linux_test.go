//go:build linux

package overlay_test

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// setThreadCreds makes the calling goroutine act with effective uid and
// gid (its thread locked to it; the real and saved ids stay, so it can
// switch back). Only this thread changes: the kernel checks a caller's
// ids per thread, as does the library, through os.Geteuid.
func setThreadCreds(uid, gid int) error {
	runtime.LockOSThread()
	const keep = ^uintptr(0)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, 0, keep); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, keep, uintptr(gid), keep); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
		return e
	}
	return nil
}

// restoreThreadCreds undoes setThreadCreds; the thread stays locked (and
// is thrown away with its goroutine) if that fails.
func restoreThreadCreds() {
	if setThreadCreds(0, 0) == nil {
		runtime.UnlockOSThread()
		runtime.UnlockOSThread()
	}
}
