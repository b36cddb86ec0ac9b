package overlay

import "github.com/go-overlay/overlay/internal/layer"

// ErrNoData is layer.ErrNoData for the external tests ("no such attribute":
// ENODATA, or ENOATTR on the BSDs).
const ErrNoData = layer.ErrNoData

// SetUpperHook makes every FS built afterwards call hook before each
// change to its upper layer (the crash tests' fault injection).
func SetUpperHook(hook func(op string, paths ...string)) { upperHook = hook }

// SetNoRenameWhiteout makes the upper of an FS built afterwards with an
// upper hook refuse RENAME_WHITEOUT, as some filesystems do.
func SetNoRenameWhiteout(no bool) { hookNoRenameWhiteout = no }

// ActAsRoot makes fsys, just made by New, act for the process as though
// it were root: for tests whose oracle (the kernel's results, the model)
// is a root caller, when the tests do not run as root. Objects it creates
// still belong to the process, as the backends make them.
func ActAsRoot(fsys *FS) { fsys.proc = Cred{} }
