package overlay

import (
	"strconv"
	"strings"
	"syscall"
)

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
		return setFrom(&o.RedirectDir, v, map[string]RedirectMode{"on": RedirectOn, "follow": RedirectFollow,
			"nofollow": RedirectNoFollow, "off": RedirectOff})
	case "index":
		return setFrom(&o.Index, v, switchValues)
	case "nfs_export":
		return setFrom(&o.NFSExport, v, switchValues)
	case "metacopy":
		return setFrom(&o.Metacopy, v, switchValues)
	case "xino":
		return setFrom(&o.Xino, v, map[string]XinoMode{"off": XinoOff, "auto": XinoAuto, "on": XinoOn})
	case "uuid":
		return setFrom(&o.UUID, v, map[string]UUIDMode{"off": UUIDOff, "null": UUIDNull, "auto": UUIDAuto, "on": UUIDOn})
	case "fsync":
		return setFrom(&o.Fsync, v, map[string]FsyncMode{"volatile": FsyncVolatile, "auto": FsyncAuto, "strict": FsyncStrict})
	case "verity":
		return setFrom(&o.Verity, v, map[string]VerityMode{"off": VerityOff, "on": VerityOn, "require": VerityRequire})
	}
	return false
}

// switchValues are the values of an on/off option.
var switchValues = map[string]Switch{"on": SwitchOn, "off": SwitchOff}

// setFrom sets *dst to the mode the value v names in values, reporting
// whether it names one.
func setFrom[M any](dst *M, v string, values map[string]M) bool {
	m, ok := values[v]
	if ok {
		*dst = m
	}
	return ok
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
			l.b.Close()
		}
	}
}

// closeLayers closes every layer of o (after a failed ParseOptions).
func (o *Options) closeLayers() {
	closeLayers(o.Lower...)
	closeLayers(o.DataOnly...)
	closeLayers(o.Upper, o.Work)
}
