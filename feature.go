package overlay

// Options configures an overlay. The zero value of every mode means "the
// kernel's default" (module parameters as shipped: redirect_dir=follow,
// index=off, xino=off, metacopy=off, nfs_export=off, uuid=auto, fsync=auto,
// verity=off), and the conflict rules of the kernel's option parser
// tell an explicit setting from a default one by
// that zero value.
type Options struct {
	// Lower layers, top-most first (the kernel's lowerdir= order). At least
	// one; at most MaxLowerLayers together with DataOnly.
	Lower []*Layer
	// Upper is the writable layer; nil makes the overlay read-only (every
	// write fails with EROFS) and then at least two lower layers are needed,
	// as the kernel requires.
	Upper *Layer
	// Work is the work directory of a [DirLayer] upper: a directory on the
	// same filesystem as the upper, in neither's subtree (the kernel's
	// workdir=). In-memory and afero uppers carry their own work area and
	// take nil here. Ignored without an upper, as the kernel ignores it.
	Work *Layer
	// DataOnly layers (the kernel's "::" / datadir+=) are not visible in the
	// merged tree and are reached only through metacopy redirects.
	DataOnly []*Layer

	RedirectDir RedirectMode
	Index       Switch
	NFSExport   Switch
	Metacopy    Switch
	Xino        XinoMode
	UUID        UUIDMode
	Fsync       FsyncMode
	Verity      VerityMode
	// Userxattr stores the overlay's private xattrs as user.overlay.*
	// instead of trusted.overlay.* (the kernel's userxattr flag).
	Userxattr bool
	// DefaultPermissions is parsed and kept, as the kernel does; it has no
	// effect (see doc.go).
	DefaultPermissions bool
	// OverrideCreds is the kernel's override_creds / nooverride_creds
	// flag; the library always acts with the calling process's credentials.
	OverrideCreds Switch

	// ownLayers is set by ParseOptions, which opened the layers: the FS
	// built from these Options closes them when it is closed.
	ownLayers bool
}

// MaxLowerLayers is the kernel's limit on lower layers (OVL_MAX_STACK in
// fs/overlayfs/params.h; "too many lower directories, limit is 500").
const MaxLowerLayers = 500

// Switch is an on/off option that may be left at its default.
type Switch uint8

const (
	SwitchDefault Switch = iota // the kernel's default
	SwitchOn
	SwitchOff
)

// RedirectMode is the redirect_dir= option.
type RedirectMode uint8

const (
	RedirectDefault  RedirectMode = iota // follow, as the kernel's module defaults
	RedirectOn                           // create and follow redirects
	RedirectFollow                       // follow, never create
	RedirectNoFollow                     // neither; following one is EPERM
	RedirectOff                          // follow when redirect_always_follow (the default), so like follow
)

// XinoMode is the xino= option.
type XinoMode uint8

const (
	XinoDefault XinoMode = iota // off, as the kernel's module defaults
	XinoOff
	XinoAuto
	XinoOn
)

// UUIDMode is the uuid= option.
type UUIDMode uint8

const (
	UUIDDefault UUIDMode = iota // auto
	UUIDOff
	UUIDNull
	UUIDAuto
	UUIDOn
)

// FsyncMode is the fsync= option (and the volatile flag, an alias of
// fsync=volatile).
type FsyncMode uint8

const (
	FsyncDefault  FsyncMode = iota // auto
	FsyncVolatile                  // no syncs; marks the work dir so the kernel refuses to remount
	FsyncAuto                      // fsync data copy-ups
	FsyncStrict                    // also fsync metadata of copy-ups
)

// VerityMode is the verity= option.
type VerityMode uint8

const (
	VerityDefault VerityMode = iota // off
	VerityOff
	VerityOn
	VerityRequire
)

// newOptErr is optionErr for an error from a layer.
func newOptErr(opt string, err error, msg string) error {
	return optionErr(opt, errnoOf(err), msg)
}
