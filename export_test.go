package overlay

// ErrNoData is errNoData for the external tests ("no such attribute":
// ENODATA, or ENOATTR on the BSDs).
const ErrNoData = errNoData

// SetUpperHook makes every FS built afterwards call hook before each
// change to its upper layer (the crash tests' fault injection).
func SetUpperHook(hook func(op string, paths ...string)) { upperHook = hook }

// SetNoRenameWhiteout makes the upper of an FS built afterwards with an
// upper hook refuse RENAME_WHITEOUT, as some filesystems do.
func SetNoRenameWhiteout(no bool) { hookNoRenameWhiteout = no }
