// Package native is the layer backend on a directory of the host, in the
// kernel's on-disk format, so that the overlay and a kernel mount can use
// the same layers. It needs Linux; elsewhere [Open] fails with
// errors.ErrUnsupported. It also copies file data between two of its
// files without passing it through user space ([CopyData]: reflink, else
// copy_file_range).
//
// Confinement is a property of one walker, backend.openObj and
// backend.openParent: every object is reached with openat2(2) from an
// O_PATH descriptor of the layer root, with
//
//	RESOLVE_BENEATH       nothing outside the root ("..", absolute paths)
//	RESOLVE_NO_SYMLINKS   no symlink in any component: the overlay resolves
//	                      symlinks itself, a backend never follows one
//	RESOLVE_NO_MAGICLINKS no /proc-style magic links
//	RESOLVE_NO_XDEV       no mount crossing: the kernel's overlayfs looks
//	                      names up on the layer's own filesystem and never
//	                      crosses into a mount beneath a layer
//
// and the syscall then works on the returned descriptor (fstat,
// fchownat/utimensat/fchmodat2 with AT_EMPTY_PATH, readlinkat with ""), or
// on the parent descriptor and a single validated name (mkdirat, unlinkat,
// renameat2, linkat, symlinkat, mknodat, and xattrs: see
// xattr_linux.go), which cannot leave the parent. No path string
// given by the overlay ever reaches a syscall that resolves it from
// anywhere but a root descriptor.
//
// Paths are validated before use: components must be non-empty and not
// "." or "..", and contain no NUL; otherwise EINVAL. An intermediate or
// final symlink where a directory or file is needed fails ELOOP (from
// RESOLVE_NO_SYMLINKS / O_NOFOLLOW).
//
// A mount point inside a layer shows the directory it covers, as on the
// kernel: the root descriptor is a detached, non-recursive clone of the
// layer's mount (open_tree(2) OPEN_TREE_CLONE), which holds the layer's
// filesystem without anything mounted on it. Cloning needs CAP_SYS_ADMIN;
// without it the root is the directory itself and a path through a mount
// point fails EXDEV (a deviation). An upper and its work dir share one
// clone, so that renames between them stay within one mount.
//
// Created objects get their permission bits from the process umask as the
// *at syscalls apply it (deviation from an in-memory layer, which stores the
// bits given; the kernel overlay chmods after copy-up anyway).
//
// The files: backend_linux.go (opening a root, the layer contract),
// path_linux.go (the confined walker), dir_linux.go (listing, dir
// streams), file_linux.go (open files), xattr_linux.go (how xattrs are
// reached), handle_linux.go (file handles, tree-walk dirs),
// probe_linux.go (reading many entries of a dir at once), tree_linux.go
// (removing a tree, holding an inode), mount_linux.go (the mount a root is
// on, RENAME_WHITEOUT), clone_linux.go (CopyData).
package native
