// Package ondisk is the overlay's on-disk codec: the encodings the
// kernel's overlayfs writes into a layer, as pure functions over bytes, so
// that code without a live overlay (an offline checker, an exporter, a
// test reading an upper the kernel wrote) decodes them as the overlay
// does.
//
// It covers the file handle stored in the origin and upper xattrs (struct
// ovl_fb), the names of index entries (the handle in hex), the nlink
// xattr of an indexed inode ("U+N" or "L-N": the union link count
// relative to the upper or the lower inode's), the redirect xattr and the
// metacopy xattr (the marker of a metadata-only copy, with the fs-verity
// digest of its data).
package ondisk
