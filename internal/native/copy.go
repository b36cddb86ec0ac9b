package native

// CopyHow is what CopyData did.
type CopyHow uint8

const (
	NotCopied CopyHow = iota // nothing: copy through a buffer
	Copied                   // the data is in place (copy_file_range)
	Cloned                   // the whole file shares the source's extents
)
