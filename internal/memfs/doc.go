// Package memfs is the in-memory filesystem behind the overlay's MemFS and
// MemLayer: a small POSIX tree (files, dirs, symlinks, hard links, device
// nodes, FIFOs, sockets, xattrs in any namespace) that behaves as Linux
// tmpfs does where the overlay can tell.
//
// It has two faces. [FS]'s exported methods populate it the way a user
// does, by names that follow intermediate symlinks; they return bare
// syscall.Errno values, which the root package's MemFS shapes into the os
// package's errors. [FS.Backend] is the same tree as a layer.Backend,
// addressed by the overlay's layer paths, which never follow a symlink
// and reach the work area by a leading "/".
//
// The files: memfs.go (the tree, path walks, the populating methods),
// backend.go (the layer contract), file.go (open files and tree-walk
// dirs), handle.go (file handles).
package memfs
