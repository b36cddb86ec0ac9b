package overlay

import (
	"errors"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// An OptionError reports overlay options that cannot be used: a malformed,
// unknown or repeated-in-conflict option in [ParseOptions], a combination
// the kernel refuses, a path that cannot be opened as a layer, or a set of
// layers [New] cannot stack.
//
// Err is what the kernel's mount(2) fails with: syscall.EINVAL for syntax,
// value and conflict errors and for a missing or misplaced layer (and for
// an option whose xattrs an afero upper cannot hold),
// syscall.ELOOP for layers that are the same directory or nest in one
// another; for a path that cannot be opened it is the error of [DirLayer];
// for a layer that cannot be prepared (the work dir, the overlay uuid) it
// is the errno of the failed call.
//
// Error gives Msg followed by the text of Err, which says the cause
// ("operation not permitted"); for EINVAL and ELOOP, which only classify
// the mistake Msg describes, Msg alone.
type OptionError struct {
	Option string // the option at fault ("index", "lowerdir"); "" for a combination
	Msg    string // what is wrong; "" when Err says it all
	Err    error
}

func (e *OptionError) Error() string {
	msg := e.Msg
	switch {
	case e.Err == nil:
	case msg == "":
		msg = e.Err.Error()
	case !errors.Is(e.Err, syscall.EINVAL) && !errors.Is(e.Err, syscall.ELOOP):
		msg += ": " + e.Err.Error()
	}
	if e.Option == "" {
		return "overlay: " + msg
	}
	return "overlay: option " + strconv.Quote(e.Option) + ": " + msg
}

func (e *OptionError) Unwrap() error { return e.Err }

func optionErr(option string, errno syscall.Errno, msg string) *OptionError {
	return &OptionError{Option: option, Msg: msg, Err: errno}
}

// resolved is the effective configuration of an overlay after the
// kernel's option dependency rules: ofs->config as ovl_fs_params_verify
// leaves it. Every mode is concrete: no Default values, no RedirectOff.
type resolved struct {
	upper bool // an upper layer is present: the overlay is writable

	redirect           RedirectMode // RedirectOn, RedirectFollow or RedirectNoFollow
	index              bool
	nfsExport          bool
	metacopy           bool
	xino               XinoMode   // XinoOff, XinoAuto or XinoOn
	uuid               UUIDMode   // UUIDOff, UUIDNull, UUIDAuto or UUIDOn
	fsync              FsyncMode  // FsyncVolatile, FsyncAuto or FsyncStrict
	verity             VerityMode // VerityOff, VerityOn or VerityRequire
	userxattr          bool
	defaultPermissions bool
	overrideCreds      Switch // as given; the library always uses the caller's credentials

	// explicit records which of the options the rules look at were given
	// (the kernel's ctx->set), as the rules leave it: an explicit index=on
	// on an overlay without upper no longer counts.
	explicit struct{ redirect, index, nfsExport, metacopy bool }
}

// redirectCreate reports whether renames of merged directories create
// redirects (redirect_dir=on); otherwise they fail with EXDEV.
func (r *resolved) redirectCreate() bool { return r.redirect == RedirectOn }

// redirectFollow reports whether lookup follows redirects; otherwise a
// redirect found in a layer makes the lookup fail with EPERM.
func (r *resolved) redirectFollow() bool { return r.redirect != RedirectNoFollow }

// redirectName is the name of an effective redirect mode in the kernel's
// messages (ovl_redirect_mode).
func redirectName(m RedirectMode) string {
	switch m {
	case RedirectOn:
		return "on"
	case RedirectNoFollow:
		return "nofollow"
	}
	return "follow"
}

// resolve applies the kernel's option dependency rules, in the kernel's
// order (ovl_fs_params_verify in fs/overlayfs/params.c). It does no I/O
// and looks at the layers only to see whether there is an upper. A
// conflict between two explicit options fails with EINVAL naming both, as
// the kernel logs it.
//
// Not applied: the capability rule (EPERM for trusted-xattr features
// without CAP_SYS_ADMIN; the library acts with the caller's credentials)
// and the fallbacks that depend on what the layers can do, which
// New applies after probing.
func (o *Options) resolve() (resolved, error) {
	r := resolved{
		upper:              o.Upper != nil,
		userxattr:          o.Userxattr,
		defaultPermissions: o.DefaultPermissions,
		overrideCreds:      o.OverrideCreds,
	}
	set := &r.explicit
	bad := func(option, v string) (resolved, error) {
		return resolved{}, optionErr(option, syscall.EINVAL, "bad value "+v)
	}

	// The module defaults and the values as parsed; redirect_dir=off
	// is follow, as with redirect_always_follow=Y.
	switch o.RedirectDir {
	case RedirectDefault, RedirectFollow, RedirectOff:
		r.redirect = RedirectFollow
	case RedirectOn, RedirectNoFollow:
		r.redirect = o.RedirectDir
	default:
		return bad("redirect_dir", o.RedirectDir.String())
	}
	set.redirect = o.RedirectDir != RedirectDefault
	var ok bool
	if r.index, set.index, ok = switchValue(o.Index); !ok {
		return bad("index", o.Index.String())
	}
	if r.nfsExport, set.nfsExport, ok = switchValue(o.NFSExport); !ok {
		return bad("nfs_export", o.NFSExport.String())
	}
	if r.metacopy, set.metacopy, ok = switchValue(o.Metacopy); !ok {
		return bad("metacopy", o.Metacopy.String())
	}
	if o.OverrideCreds > SwitchOff {
		return bad("override_creds", o.OverrideCreds.String())
	}
	switch o.Xino {
	case XinoDefault:
		r.xino = XinoOff
	case XinoOff, XinoAuto, XinoOn:
		r.xino = o.Xino
	default:
		return bad("xino", o.Xino.String())
	}
	switch o.UUID {
	case UUIDDefault:
		r.uuid = UUIDAuto
	case UUIDOff, UUIDNull, UUIDAuto, UUIDOn:
		r.uuid = o.UUID
	default:
		return bad("uuid", o.UUID.String())
	}
	switch o.Fsync {
	case FsyncDefault:
		r.fsync = FsyncAuto
	case FsyncVolatile, FsyncAuto, FsyncStrict:
		r.fsync = o.Fsync
	default:
		return bad("fsync", o.Fsync.String())
	}
	switch o.Verity {
	case VerityDefault:
		r.verity = VerityOff
	case VerityOff, VerityOn, VerityRequire:
		r.verity = o.Verity
	default:
		return bad("verity", o.Verity.String())
	}

	// 1. Without an upper: index off (an explicit index=on stops counting),
	// volatile ignored, uuid=on falls back to null, and follow is on, which
	// makes no difference without an upper but simplifies the rules below.
	if !r.upper {
		if r.index && set.index {
			set.index = false
		}
		r.index = false
		if r.fsync == FsyncVolatile {
			r.fsync = FsyncAuto
		}
		if r.uuid == UUIDOn {
			r.uuid = UUIDNull
		}
		if r.redirect == RedirectFollow {
			r.redirect = RedirectOn
		}
	}

	// 2. metacopy needs redirect_dir=on.
	if r.metacopy && r.redirect != RedirectOn {
		switch {
		case set.metacopy && set.redirect:
			return resolved{}, conflict("metacopy=on", "redirect_dir="+redirectName(r.redirect))
		case set.redirect:
			r.metacopy = false
		default:
			r.redirect = RedirectOn
		}
	}

	// 3. nfs_export needs index.
	if r.nfsExport && !r.index {
		switch {
		case !r.upper && r.redirect != RedirectNoFollow:
			r.nfsExport = false
		case set.nfsExport && set.index:
			return resolved{}, conflict("nfs_export=on", "index=off")
		case set.index:
			r.nfsExport = false
		default:
			r.index = true
		}
	}

	// 4. nfs_export excludes metacopy (and verity, which needs metacopy).
	if r.nfsExport && r.metacopy {
		switch {
		case set.nfsExport && set.metacopy:
			return resolved{}, conflict("nfs_export=on", "metacopy=on")
		case set.metacopy, r.verity != VerityOff:
			r.nfsExport = false
		default:
			r.metacopy = false
		}
	}

	// 5. userxattr excludes redirects and metacopy: explicit ones are
	// refused, default ones silently turned off.
	if r.userxattr {
		if set.redirect && r.redirect != RedirectNoFollow {
			return resolved{}, conflict("userxattr", "redirect_dir="+redirectName(r.redirect))
		}
		if r.metacopy && set.metacopy {
			return resolved{}, conflict("userxattr", "metacopy=on")
		}
		r.redirect = RedirectNoFollow
		r.metacopy = false
	}

	// Without an upper there is no index directory, so ovl_fill_super
	// shows (and uses) index=off whatever rule 3 decided.
	if !r.upper {
		r.index = false
	}
	return r, nil
}

// switchValue returns the effective value of an on/off option whose
// kernel default is off, whether it was given, and false for an invalid
// Switch.
func switchValue(s Switch) (on, explicit, ok bool) {
	switch s {
	case SwitchDefault:
		return false, false, true
	case SwitchOn:
		return true, true, true
	case SwitchOff:
		return false, true, true
	}
	return false, false, false
}

func conflict(a, b string) *OptionError {
	return optionErr("", syscall.EINVAL, "conflicting options: "+a+","+b)
}

// String renders o as a mount option string, listing the options the
// kernel shows in /proc/mounts (ovl_show_options): the layers, then only
// the options whose effective value (after the dependency rules between
// options) differs from the default, in the kernel's order. When the
// options conflict, the given values are shown instead.
//
// The string is in mount(2) data syntax, so that ParseOptions(o.String())
// gives back the same overlay for native layers: paths are escaped as
// lowerdir=, upperdir= and workdir= need ("\:", "\\", "\,"), where
// /proc/mounts shows octal escapes. A native layer shows its root's
// absolute, symlink-free path (the path given to [DirLayer] is not kept);
// another layer shows its String. Two further deviations: xino= is shown
// whenever it is not off (the kernel hides it when all layers share one
// filesystem), and override_creds / nooverride_creds are shown when set
// (the kernel never shows them), so that they survive a round trip.
// The fallbacks New applies from what the layers support are not known
// here: the String of [FS.Options] shows them.
func (o Options) String() string {
	var parts []string
	if len(o.Lower) > 0 || len(o.DataOnly) > 0 {
		var b strings.Builder
		b.WriteString("lowerdir=")
		for i, l := range o.Lower {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(escapePath(layerPath(l), true))
		}
		for _, l := range o.DataOnly {
			b.WriteString("::")
			b.WriteString(escapePath(layerPath(l), true))
		}
		parts = append(parts, b.String())
	}
	if o.Upper != nil {
		parts = append(parts, "upperdir="+escapePath(layerPath(o.Upper), false))
		if o.Work != nil {
			parts = append(parts, "workdir="+escapePath(layerPath(o.Work), false))
		}
	}
	if o.DefaultPermissions {
		parts = append(parts, "default_permissions")
	}
	add := func(show bool, opt string) {
		if show {
			parts = append(parts, opt)
		}
	}
	r, err := o.resolve()
	if err == nil {
		add(r.redirect != RedirectFollow, "redirect_dir="+redirectName(r.redirect))
		add(r.index, "index=on")
		add(r.uuid != UUIDAuto, "uuid="+r.uuid.String())
		add(r.nfsExport, "nfs_export=on")
		add(r.xino != XinoOff, "xino="+r.xino.String())
		add(r.metacopy, "metacopy=on")
		add(r.fsync != FsyncAuto, "fsync="+r.fsync.String())
		add(r.userxattr, "userxattr")
		add(r.verity != VerityOff, "verity="+r.verity.String())
	} else {
		add(o.RedirectDir != RedirectDefault, "redirect_dir="+o.RedirectDir.String())
		add(o.Index != SwitchDefault, "index="+o.Index.String())
		add(o.UUID != UUIDDefault, "uuid="+o.UUID.String())
		add(o.NFSExport != SwitchDefault, "nfs_export="+o.NFSExport.String())
		add(o.Xino != XinoDefault, "xino="+o.Xino.String())
		add(o.Metacopy != SwitchDefault, "metacopy="+o.Metacopy.String())
		add(o.Fsync != FsyncDefault, "fsync="+o.Fsync.String())
		add(o.Userxattr, "userxattr")
		add(o.Verity != VerityDefault, "verity="+o.Verity.String())
	}
	add(o.OverrideCreds == SwitchOn, "override_creds")
	add(o.OverrideCreds == SwitchOff, "nooverride_creds")
	return strings.Join(parts, ",")
}

// Options returns the options the overlay runs with: those given to New,
// with every setting made explicit as the kernel's rules and New's
// fallbacks left it. A fallback shows here, as on the kernel in
// /proc/mounts: on an upper without xattr support, for instance,
// RedirectDir is RedirectNoFollow, Index SwitchOff and UUID UUIDNull, and
// a first use of a new upper with uuid=auto shows UUIDOn. Its String is
// the option string /proc/mounts shows for the same mount (with the
// deviations String lists).
func (fsys *FS) Options() Options {
	o := fsys.opts
	o.ownLayers = false
	f := fsys.feat
	sw := func(on bool) Switch {
		if on {
			return SwitchOn
		}
		return SwitchOff
	}
	o.RedirectDir = f.redirect
	o.Index, o.NFSExport, o.Metacopy = sw(f.index), sw(f.nfsExport), sw(f.metacopy)
	o.Xino, o.UUID, o.Fsync, o.Verity = f.xino, f.uuid, f.fsync, f.verity
	return o
}

// layerPath is how String names a layer.
func layerPath(l *Layer) string {
	if l == nil {
		return "<nil>"
	}
	if r, ok := l.b.(layer.Rooted); ok {
		p, _, _ := r.RootInfo()
		return p
	}
	return l.String()
}

// escapePath escapes p for a lowerdir= list (colon too) or for upperdir=
// and workdir=.
func escapePath(p string, colon bool) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' || c == ',' || (colon && c == ':') {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
