package overlay

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
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

// openDirLayer opens the layers named by option strings; a variable so
// that tests can watch which paths ParseOptions opens.
var openDirLayer = DirLayer

// ParseOptions parses an overlay mount option string in the syntax of the
// kernel's mount(2) data (fs/overlayfs/params.c, ovl_parse_monolithic and
// ovl_parse_param), so that a string that works for
//
//	mount -t overlay overlay -o STRING /mnt
//
// gives the same overlay here. Options are separated by unescaped commas
// ("\," is a comma inside a value); later options override earlier ones.
// Every path becomes a [DirLayer], resolved relative to the current
// directory as the kernel resolves it: lowerdir= and datadir+= paths go to
// Lower and DataOnly, upperdir= to Upper, workdir= to Work.
//
//   - lowerdir=L1:L2::D1::D2 replaces all lower layers: "\:" is a colon and
//     "\\" a backslash inside a path, "::" starts the data-only layers; an
//     empty value clears the lower layers.
//   - lowerdir+=PATH and datadir+=PATH add one lower or data-only layer;
//     the path is taken as is (a "\," keeps its backslash, as in the kernel).
//   - upperdir=, workdir= (with "\" escapes, like lowerdir=).
//   - redirect_dir=on|follow|nofollow|off, index=on|off, nfs_export=on|off,
//     xino=off|auto|on, metacopy=on|off, verity=off|on|require,
//     uuid=off|null|auto|on, fsync=volatile|auto|strict.
//   - flags volatile (fsync=volatile), userxattr, default_permissions,
//     override_creds, nooverride_creds.
//
// The generic superblock flags the kernel also takes from the data string
// are accepted and have no effect (rw, async, lazytime, nolazytime, mand,
// nomand), except ro, sync and dirsync, which the library cannot honour:
// they fail with EINVAL (a deviation).
//
// Errors are *[OptionError]. Syntax and value errors wrap syscall.EINVAL;
// a path that cannot be opened gives [DirLayer]'s error. On error no layer
// stays open. Conflicts between options and
// layer placement are checked by [New], as the kernel checks them at
// mount, not while parsing.
func ParseOptions(s string) (Options, error) {
	var p optParser
	if strings.IndexByte(s, 0) >= 0 {
		return Options{}, optionErr("", syscall.EINVAL, "option string contains a NUL byte")
	}
	for _, opt := range splitOptions(s) {
		if err := p.option(opt); err != nil {
			p.o.closeLayers()
			return Options{}, err
		}
	}
	p.o.ownLayers = true
	return p.o, nil
}

// optParser is the state of one ParseOptions call (the kernel's
// ovl_fs_context).
type optParser struct {
	o Options
	// lowerdirSet is set while a non-empty lowerdir= is in effect (the
	// kernel's ctx->lowerdir_all): lowerdir+= and datadir+= may not follow.
	lowerdirSet bool
}

// splitOptions splits s at unescaped commas, keeping the escapes, as the
// kernel's ovl_next_opt does: a backslash escapes the next byte, whatever
// it is.
func splitOptions(s string) []string {
	var opts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ',':
			opts = append(opts, s[start:i])
			start = i + 1
		}
	}
	return append(opts, s[start:])
}

// unescape drops each backslash and keeps the byte after it (the kernel's
// ovl_unescape), for lowerdir=, upperdir= and workdir= paths.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// option applies one option, "key" or "key=value" (vfs_parse_monolithic_sep,
// then fs_parse against ovl_parameter_spec).
func (p *optParser) option(opt string) error {
	if opt == "" {
		return nil // the kernel skips empty options
	}
	key, value, hasValue := strings.Cut(opt, "=")
	if hasValue && key == "" {
		return nil // and options with an empty key ("=x")
	}
	switch key {
	case "lowerdir":
		if !hasValue {
			return optionErr(key, syscall.EINVAL, "missing value")
		}
		return p.lowerdir(value)
	case "lowerdir+", "datadir+", "upperdir", "workdir":
		if !hasValue {
			return optionErr(key, syscall.EINVAL, "missing value")
		}
		if value == "" {
			return optionErr(key, syscall.EINVAL, "bad value \"\"")
		}
		if key == "upperdir" || key == "workdir" {
			return p.upperOrWork(key, value)
		}
		return p.addLower(key, value)

	case "default_permissions", "userxattr", "volatile", "override_creds", "nooverride_creds":
		if hasValue {
			return optionErr(key, syscall.EINVAL, "unexpected value "+strconv.Quote(value))
		}
		switch key {
		case "default_permissions":
			p.o.DefaultPermissions = true
		case "userxattr":
			p.o.Userxattr = true
		case "volatile":
			p.o.Fsync = FsyncVolatile
		case "override_creds":
			p.o.OverrideCreds = SwitchOn
		case "nooverride_creds":
			p.o.OverrideCreds = SwitchOff
		}
		return nil

	case "redirect_dir", "index", "nfs_export", "metacopy", "xino", "uuid", "fsync", "verity":
		if !hasValue {
			return optionErr(key, syscall.EINVAL, "missing value")
		}
		if !p.setMode(key, value) {
			return optionErr(key, syscall.EINVAL, "bad value "+strconv.Quote(value))
		}
		return nil

	// Generic superblock flags (vfs_parse_sb_flag), taken by name whatever
	// their value, as the kernel does.
	case "rw", "async", "lazytime", "nolazytime", "mand", "nomand":
		return nil
	case "ro", "sync", "dirsync":
		return optionErr(key, syscall.EINVAL, "generic mount flag not supported")
	}
	// "source" is unknown too: mount(2) has already set the source.
	return optionErr(key, syscall.EINVAL, "unknown parameter")
}

// setMode sets an enumerated option; it reports false for a value the
// kernel does not take (values are case-sensitive).
func (p *optParser) setMode(key, v string) bool {
	o := &p.o
	switch key {
	case "redirect_dir":
		m, ok := map[string]RedirectMode{"on": RedirectOn, "follow": RedirectFollow,
			"nofollow": RedirectNoFollow, "off": RedirectOff}[v]
		if ok {
			o.RedirectDir = m
		}
		return ok
	case "index", "nfs_export", "metacopy":
		s, ok := map[string]Switch{"on": SwitchOn, "off": SwitchOff}[v]
		if ok {
			switch key {
			case "index":
				o.Index = s
			case "nfs_export":
				o.NFSExport = s
			case "metacopy":
				o.Metacopy = s
			}
		}
		return ok
	case "xino":
		m, ok := map[string]XinoMode{"off": XinoOff, "auto": XinoAuto, "on": XinoOn}[v]
		if ok {
			o.Xino = m
		}
		return ok
	case "uuid":
		m, ok := map[string]UUIDMode{"off": UUIDOff, "null": UUIDNull, "auto": UUIDAuto, "on": UUIDOn}[v]
		if ok {
			o.UUID = m
		}
		return ok
	case "fsync":
		m, ok := map[string]FsyncMode{"volatile": FsyncVolatile, "auto": FsyncAuto, "strict": FsyncStrict}[v]
		if ok {
			o.Fsync = m
		}
		return ok
	case "verity":
		m, ok := map[string]VerityMode{"off": VerityOff, "on": VerityOn, "require": VerityRequire}[v]
		if ok {
			o.Verity = m
		}
		return ok
	}
	return false
}

// open opens path as a DirLayer for option.
func (p *optParser) open(option, path string) (*Layer, error) {
	if path == "" {
		return nil, optionErr(option, syscall.EINVAL, "empty path")
	}
	l, err := openDirLayer(path)
	if err != nil {
		return nil, &OptionError{Option: option, Err: err}
	}
	return l, nil
}

// resetLower closes and forgets all lower and data-only layers
// (ovl_reset_lowerdirs).
func (p *optParser) resetLower() {
	closeLayers(p.o.Lower...)
	closeLayers(p.o.DataOnly...)
	p.o.Lower, p.o.DataOnly = nil, nil
	p.lowerdirSet = false
}

// lowerdirComp is one path of a lowerdir= list, escapes kept.
type lowerdirComp struct {
	path string
	data bool // after a "::": a data-only layer
}

// splitLowerdirs splits a lowerdir= value (non-empty, not starting with a
// colon) at unescaped colons, as ovl_parse_param_split_lowerdirs does:
// ":" separates layers, "::" starts a data-only layer, ":::" and a
// trailing colon are errors. Escapes stay in the paths.
func splitLowerdirs(v string) ([]lowerdirComp, error) {
	var comps []lowerdirComp
	data := false
	start, colons := 0, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			// A backslash at the very end leaves the colon count alone, so
			// "a:\" is a trailing colon, as in the kernel.
			if i+1 < len(v) {
				i++
				colons = 0
			}
		case ':':
			colons++
			next := i+1 < len(v) && v[i+1] == ':'
			if colons == 2 && next {
				return nil, optionErr("lowerdir", syscall.EINVAL,
					"only single ':' or double '::' sequences of unescaped colons allowed")
			}
			if colons == 1 {
				comps = append(comps, lowerdirComp{v[start:i], data})
			}
			if !next {
				data = colons == 2
				start = i + 1
			}
		default:
			colons = 0
		}
	}
	if colons > 0 {
		return nil, optionErr("lowerdir", syscall.EINVAL, "unescaped trailing colons")
	}
	return append(comps, lowerdirComp{v[start:], data}), nil
}

// lowerdir applies lowerdir=v (ovl_parse_param_lowerdir).
func (p *optParser) lowerdir(v string) error {
	p.resetLower()
	if v == "" {
		return nil
	}
	if v[0] == ':' {
		return optionErr("lowerdir", syscall.EINVAL, "cannot append lower layer")
	}
	comps, err := splitLowerdirs(v)
	if err != nil {
		return err
	}
	if len(comps) > MaxLowerLayers {
		return optionErr("lowerdir", syscall.EINVAL, tooManyLowers)
	}
	p.lowerdirSet = true
	for i, c := range comps {
		l, err := p.open("lowerdir", unescape(c.path))
		if err != nil {
			return err
		}
		if c.data {
			p.o.DataOnly = append(p.o.DataOnly, l)
		} else {
			p.o.Lower = append(p.o.Lower, l)
		}
		if i+1 < len(comps) && !comps[i+1].data && len(p.o.DataOnly) > 0 {
			return optionErr("lowerdir", syscall.EINVAL,
				"regular lower layers cannot follow data lower layers")
		}
	}
	return nil
}

// addLower applies lowerdir+= or datadir+= (ovl_parse_layer and
// ovl_mount_dir_check): the path is opened first, then placed.
func (p *optParser) addLower(key, path string) error {
	l, err := p.open(key, path)
	if err != nil {
		return err
	}
	msg := ""
	switch {
	case p.lowerdirSet:
		msg = "lowerdir+ and datadir+ cannot follow lowerdir"
	case key == "lowerdir+" && len(p.o.DataOnly) > 0:
		msg = "regular lower layers cannot follow data layers"
	case len(p.o.Lower)+len(p.o.DataOnly) >= MaxLowerLayers:
		msg = tooManyLowers
	}
	if msg != "" {
		closeLayers(l)
		return optionErr(key, syscall.EINVAL, msg)
	}
	if key == "datadir+" {
		p.o.DataOnly = append(p.o.DataOnly, l)
	} else {
		p.o.Lower = append(p.o.Lower, l)
	}
	return nil
}

// upperOrWork applies upperdir= or workdir=, replacing an earlier one.
func (p *optParser) upperOrWork(key, v string) error {
	l, err := p.open(key, unescape(v))
	if err != nil {
		return err
	}
	dst := &p.o.Upper
	if key == "workdir" {
		dst = &p.o.Work
	}
	closeLayers(*dst)
	*dst = l
	return nil
}

const tooManyLowers = "too many lower directories, limit is 500"

// closeLayers closes the backends of ls, skipping nil ones.
func closeLayers(ls ...*Layer) {
	for _, l := range ls {
		if l != nil && l.b != nil {
			l.b.close()
		}
	}
}

// closeLayers closes every layer of o (after a failed ParseOptions).
func (o *Options) closeLayers() {
	closeLayers(o.Lower...)
	closeLayers(o.DataOnly...)
	closeLayers(o.Upper, o.Work)
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

// validateLayers checks that the layers of o can be stacked, as the
// kernel's ovl_fill_super, ovl_get_workdir, ovl_get_layers and
// ovl_check_overlapping_layers do at mount:
//
//   - no nil layer (EINVAL); Work is ignored without an upper, as the
//     kernel ignores workdir=;
//   - at least one regular lower layer (EINVAL), at most MaxLowerLayers
//     lower and data-only layers together (EINVAL), and without an upper
//     at least two counting data-only ones (EINVAL);
//   - a native upper (one whose work area is a separate layer) needs a
//     native Work on the same filesystem, in neither's subtree (EINVAL);
//     an upper with its own work area takes no Work (EINVAL);
//   - no layer given twice, and no two native layers with the same root
//     directory (ELOOP, "conflicting lowerdir path");
//   - no native lower or data-only root inside another native layer's
//     root (ELOOP, "overlapping lowerdir path"). An upper or work
//     directory inside a lower one is accepted, as the kernel accepts it.
//
// Mounts are compared by their ids (statx STATX_MNT_ID) and nesting by
// the roots' positions in their filesystem (the mount table), so that a
// bind mount hides no overlap. Where the kernel does not report mount ids
// (before Linux 5.8), st_dev and paths stand for them; where the mount
// table cannot be read, a lower root on another mount of the same device
// as another layer's root is refused (ELOOP), as its nesting cannot be
// told.
func (o *Options) validateLayers() error {
	hasUpper := o.Upper != nil
	for i, l := range o.Lower {
		if l == nil || l.b == nil {
			return optionErr("lowerdir", syscall.EINVAL, "nil layer at Lower["+strconv.Itoa(i)+"]")
		}
	}
	for i, l := range o.DataOnly {
		if l == nil || l.b == nil {
			return optionErr("datadir+", syscall.EINVAL, "nil layer at DataOnly["+strconv.Itoa(i)+"]")
		}
	}
	if hasUpper && o.Upper.b == nil {
		return optionErr("upperdir", syscall.EINVAL, "nil layer")
	}
	if hasUpper && o.Work != nil && o.Work.b == nil {
		return optionErr("workdir", syscall.EINVAL, "nil layer")
	}

	total := len(o.Lower) + len(o.DataOnly)
	switch {
	case len(o.Lower) == 0:
		return optionErr("lowerdir", syscall.EINVAL, "no lower layers")
	case total > MaxLowerLayers:
		return optionErr("lowerdir", syscall.EINVAL, tooManyLowers)
	case !hasUpper && total < 2:
		return optionErr("lowerdir", syscall.EINVAL, "at least 2 lower layers are needed without an upper layer")
	}

	var work *Layer
	if hasUpper {
		work = o.Work
		_, native := o.Upper.b.(workAttacher)
		if native && work == nil {
			return optionErr("workdir", syscall.EINVAL, "missing 'workdir'")
		}
		if !native && work != nil {
			return optionErr("workdir", syscall.EINVAL,
				"upper layer "+o.Upper.String()+" has its own work area and takes no workdir")
		}
	}

	// Each layer once. The roles are in the kernel's order of setting up
	// layer traps: upper, work, lowers.
	type role struct {
		l     *Layer
		name  string
		lower bool
	}
	var roles []role
	if hasUpper {
		roles = append(roles, role{o.Upper, "upperdir", false})
	}
	for _, l := range o.Lower {
		roles = append(roles, role{l, "lowerdir", true})
	}
	for _, l := range o.DataOnly {
		roles = append(roles, role{l, "datadir+", true})
	}
	if work != nil {
		if work == o.Upper {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must be separate subtrees")
		}
		roles = append(roles, role{work, "workdir", false})
	}
	seen := make(map[*Layer]bool, len(roles))
	for _, r := range roles {
		if seen[r.l] {
			return optionErr(r.name, syscall.ELOOP, "layer "+r.l.String()+" is given twice")
		}
		seen[r.l] = true
	}

	// ovl_get_workdir: upper and work on one filesystem, separate subtrees.
	if work != nil {
		ur, uok := o.Upper.b.(rooted)
		wr, wok := work.b.(rooted)
		if !uok || !wok {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must reside under the same mount")
		}
		up, udev, uino := ur.rootInfo()
		wp, wdev, wino := wr.rootInfo()
		if udev != wdev || !sameMount(o.Upper.b, work.b) {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must reside under the same mount")
		}
		if uino == wino || pathWithin(up, wp) || pathWithin(wp, up) {
			return optionErr("", syscall.EINVAL, "workdir and upperdir must be separate subtrees")
		}
	}

	// Layer traps: equal roots (ovl_setup_trap), then lower roots nested
	// in another root (ovl_check_layer).
	type root struct {
		role
		path     string
		dev, ino uint64
	}
	var roots []root
	for _, r := range roles {
		if rr, ok := r.l.b.(rooted); ok {
			p, dev, ino := rr.rootInfo()
			roots = append(roots, root{r, p, dev, ino})
		}
	}
	for i, a := range roots {
		for _, b := range roots[:i] {
			if a.dev == b.dev && a.ino == b.ino {
				if a.name == "workdir" && b.name == "upperdir" {
					continue // checked above
				}
				return optionErr(a.name, syscall.ELOOP, "conflicting "+a.name+" path "+a.path+" (same directory as "+b.name+" "+b.path+")")
			}
		}
	}
	for _, a := range roots {
		if !a.lower {
			continue
		}
		for _, b := range roots {
			if a.l == b.l {
				continue
			}
			in, err := rootWithin(a.l.b, b.l.b, a.path, b.path, a.dev == b.dev)
			if err != nil {
				return optionErr(a.name, syscall.ELOOP, "cannot tell whether "+a.name+" path "+a.path+" lies inside "+b.name+" "+b.path+
					" (another mount of one filesystem, and the mount table cannot be read: "+err.Error()+")")
			}
			if in {
				return optionErr(a.name, syscall.ELOOP, "overlapping "+a.name+" path "+a.path+" (inside "+b.name+" "+b.path+")")
			}
		}
	}
	return nil
}

// sameMount reports whether the roots of two rooted backends were reached
// through one mount, as the kernel requires of upperdir= and workdir=
// (where the mount cannot be told, st_dev stands for it).
func sameMount(a, b backend) bool {
	pa, aok := a.(placed)
	pb, bok := b.(placed)
	if !aok || !bok || pa.mountID() == 0 || pb.mountID() == 0 {
		return true
	}
	return pa.mountID() == pb.mountID()
}

// rootWithin reports whether the root of a (at path ap) lies strictly
// inside the root of b (at bp) in their filesystem, as the kernel's
// ovl_check_layer finds it by walking the dentry ancestry. Through one
// mount the paths tell; through two mounts of one filesystem a bind mount
// can show a directory anywhere, so the positions in the filesystem are
// compared. When these cannot be read, roots on different devices are
// taken as disjoint and others fail (fail safe: New refuses).
func rootWithin(a, b backend, ap, bp string, sameDev bool) (bool, error) {
	pa, aok := a.(placed)
	pb, bok := b.(placed)
	if !aok || !bok || pa.mountID() == 0 || pb.mountID() == 0 || pa.mountID() == pb.mountID() {
		return pathWithin(ap, bp), nil
	}
	adev, apos, err := pa.fsPosition()
	if err == nil {
		var bdev uint64
		var bpos string
		if bdev, bpos, err = pb.fsPosition(); err == nil {
			return adev == bdev && pathWithin(apos, bpos), nil
		}
	}
	if !sameDev {
		return false, nil
	}
	return false, err
}

// pathWithin reports whether the absolute, clean path inner lies strictly
// inside dir (a path prefix ending on a component boundary).
func pathWithin(inner, dir string) bool {
	if inner == dir || !strings.HasPrefix(inner, dir) {
		return false
	}
	return strings.HasSuffix(dir, "/") || inner[len(dir)] == '/'
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
	if r, ok := l.b.(rooted); ok {
		p, _, _ := r.rootInfo()
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
