package overlay

// ErrNoData is errNoData for the external tests ("no such attribute":
// ENODATA, or ENOATTR on the BSDs).
const ErrNoData = errNoData

// ActAsRoot makes fsys, just made by New, act for the process as though
// it were root: for tests whose oracle (the kernel's results, the model)
// is a root caller, when the tests do not run as root. Objects it creates
// still belong to the process, as the backends make them.
func ActAsRoot(fsys *FS) { fsys.proc = Cred{} }
