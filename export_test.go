package overlay

// ErrNoData is errNoData for the external tests ("no such attribute":
// ENODATA, or ENOATTR on the BSDs).
const ErrNoData = errNoData
