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
//
// Above the encodings, it reads a layer's markers through the read side
// of the layer contract (layer.StatReader): [Kernel] decodes the kernel's
// format (char 0/0 and xattr whiteouts, opaque dirs, redirects, metacopy
// files), and [ProbeOCI] and [ClassifyOCI] the OCI image-layer format
// (".wh." files). An [Object] is what one layer holds at one path, an
// [Entry] one marked entry of a dir. Writing the markers is the overlay's
// business, through the one door it has to its upper layer.
package ondisk
