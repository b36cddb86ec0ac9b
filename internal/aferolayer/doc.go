// Package aferolayer is the layer backend over any afero filesystem: the
// overlay's layer paths become absolute afero paths, the work area is the
// dir ".wh..wh.work" at its root, and what afero cannot report (owners,
// link counts, inode and device numbers when FileInfo.Sys carries no
// stat) is synthesized. Afero holds neither device nodes nor xattrs, so
// such a layer is in the OCI format (".wh." whiteouts); the format itself
// is the overlay's business, not this package's.
//
// The files: backend.go (the layer contract), path.go (path mapping,
// errno and stat translation, the checks made before each change),
// file.go (open files).
package aferolayer
