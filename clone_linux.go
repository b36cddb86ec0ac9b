package overlay

// cloneData copies size bytes from in to out without passing them through
// user space when both are files of the host: FICLONE (reflink, shared
// extents on xfs and btrfs), else copy_file_range, keeping holes. It
// reports false when it cannot, and the caller copies through a buffer.
func cloneData(out, in bfile, size int64) (bool, error) {
	return false, nil
}
