// Package layer is the contract between the overlay and the storage of one
// of its layers: what a backend (an in-memory tree, an afero filesystem, a
// directory of the host) must provide so that the overlay can merge it
// with others.
//
// A backend is a small filesystem addressed by clean slash-separated paths
// relative to its root, that never follows a symlink and never resolves
// anything outside its root. It is split in two: a [Reader], all that the
// overlay may do to a lower layer, and a [Writer], which only the upper
// layer's one door in the overlay holds. Errors are syscall.Errno values,
// possibly wrapped; the overlay turns them into *fs.PathError with its own
// path.
//
// Beyond [Backend], a backend may implement optional interfaces
// (optional.go) for what only some storage can do: file handles, reading a
// dir through one open descriptor, removing a tree at once, renaming with
// a whiteout in one step. The overlay checks for them and falls back to
// the plain contract where they are missing.
//
// The package also holds what every backend shares: the per-OS errno and
// open-flag values, the kernel's name and path limits, and st_dev
// encoding.
package layer
