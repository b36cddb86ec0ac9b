package overlay

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// CheckMode says which repairs Check makes.
type CheckMode uint8

const (
	CheckNoChange CheckMode = iota // report only (fsck -n)
	CheckSafe                      // make the repairs that are safe by default (fsck -p)
	CheckAll                       // make every repair there is (fsck -y)
	CheckAsk                       // ask CheckOptions.Ask for each repair
)

// CheckOptions tunes Check.
type CheckOptions struct {
	Mode CheckMode
	// Ask decides, in CheckAsk mode, whether to make the repair of a
	// problem.
	Ask func(Problem) bool
	// NoLowerRepairs leaves lower layers as they are: their problems are
	// reported, never repaired. A lower layer may be shared by other
	// overlays, for which what looks wrong here may be right;
	// fsck.overlay repairs writable lower layers, and so does Check by
	// default.
	NoLowerRepairs bool
}

// ProblemKind is a kind of problem Check finds.
type ProblemKind uint8

const (
	ProblemFeatureCorrupt          ProblemKind = iota + 1 // a feature set that cannot be decoded
	ProblemFeatureUnknown                                 // an incompat or ro_compat bit this package does not know (Check stops)
	ProblemFeatureMissing                                 // content that uses a feature the record lacks
	ProblemIncompatEntry                                  // an unknown entry under W/work/incompat
	ProblemVolatileLeftover                               // the marker of a volatile mount never cleanly ended
	ProblemOrphanWhiteout                                 // a whiteout with nothing below it to hide
	ProblemRedirectInvalid                                // a redirect the kernel rejects or whose target is gone
	ProblemRedirectMissingWhiteout                        // a redirected dir whose old name still shows
	ProblemRedirectDuplicate                              // two dirs redirected to one origin
	ProblemOpaqueInvalid                                  // an opaque value the kernel ignores
	ProblemImpureMissing                                  // a dir holding copied-up or merged entries without impure
	ProblemMetacopyInvalid                                // a metacopy value the kernel rejects
	ProblemIndexInvalid                                   // an index entry the kernel refuses or misreads
	ProblemWhiteoutGhost                                  // an xattr whiteout the kernel lists as a file
	ProblemOriginInvalid                                  // an origin xattr that is no file handle
)

var problemNames = [...]string{
	ProblemFeatureCorrupt:          "feature set corrupt",
	ProblemFeatureUnknown:          "unknown feature",
	ProblemFeatureMissing:          "feature missing from the feature set",
	ProblemIncompatEntry:           "unknown incompat entry",
	ProblemVolatileLeftover:        "volatile mount left over",
	ProblemOrphanWhiteout:          "orphan whiteout",
	ProblemRedirectInvalid:         "invalid redirect",
	ProblemRedirectMissingWhiteout: "redirect missing whiteout",
	ProblemRedirectDuplicate:       "duplicate redirect",
	ProblemOpaqueInvalid:           "invalid opaque value",
	ProblemImpureMissing:           "missing impure",
	ProblemMetacopyInvalid:         "invalid metacopy value",
	ProblemIndexInvalid:            "invalid index entry",
	ProblemWhiteoutGhost:           "ghost whiteout",
	ProblemOriginInvalid:           "invalid origin",
}

func (k ProblemKind) String() string {
	if int(k) < len(problemNames) && problemNames[k] != "" {
		return problemNames[k]
	}
	return "ProblemKind(" + strconv.Itoa(int(k)) + ")"
}

// A Problem is one inconsistency of a layer.
type Problem struct {
	Kind   ProblemKind
	Layer  string // "upper", "lower 1" (the top-most lower), ..., "work"
	Path   string // in the layer, "/" for its root
	Detail string
	// Repair says what repairing the problem does; "" when Check cannot
	// repair it.
	Repair string
	// Safe repairs are made in CheckSafe mode: they restore what the
	// kernel would have written and change no object's identity.
	Safe bool
	// Repaired reports that the repair was made.
	Repaired bool
	// Err is the error of a repair that failed.
	Err error
}

func (p Problem) String() string {
	s := p.Layer + " " + p.Path + ": " + p.Kind.String()
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	switch {
	case p.Repaired:
		s += ": repaired, " + p.Repair
	case p.Err != nil:
		s += ": repair failed: " + p.Err.Error()
	}
	return s
}

// A CheckReport is what Check found and did.
type CheckReport struct {
	Problems []Problem
}

// The exit codes of fsck.overlay (and e2fsck), which ExitCode returns.
const (
	ExitClean       = 0  // no problem
	ExitCorrected   = 1  // problems found, all repaired
	ExitUncorrected = 4  // problems left
	ExitOperational = 8  // the check could not be done
	ExitUsage       = 16 // bad arguments
)

// ExitCode is the fsck exit code of the report: 0 when nothing was found,
// 1 when every problem was repaired, 4 when some are left.
func (r *CheckReport) ExitCode() int {
	code := ExitClean
	for _, p := range r.Problems {
		if !p.Repaired {
			return ExitUncorrected
		}
		code = ExitCorrected
	}
	return code
}

// Unrepaired is the number of problems left.
func (r *CheckReport) Unrepaired() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Repaired {
			n++
		}
	}
	return n
}

// Check checks the layers of o offline, as fsck.overlay does, and
// repairs what c.Mode allows. It must not run while an overlay (a kernel
// mount or an FS of this process) uses the layers; an FS of this process
// using the upper layer makes it fail with EBUSY. The options that change
// what a layer may hold are honoured (Userxattr for the private xattrs'
// namespace, RedirectDir, Metacopy, Index, data-only layers).
//
// The checks, in order: the work dir (a volatile mount's leftover marker,
// unknown incompat entries, and the index: entries whose name is no file
// handle or not their origin's, nlink values the kernel cannot read); each layer's feature set (corrupt, unknown
// bits); then every layer from the upper down: redirects (values the
// kernel rejects, targets that are gone, an old name still showing,
// duplicates), whiteouts with nothing below to hide, opaque values the
// kernel ignores, metacopy values the kernel rejects (rewritten where the
// data below fits), xattr whiteouts the kernel would list as files,
// origins that are no file handle, upper dirs missing their impure marker; and last each feature set against the content
// found. An error is returned when the check cannot be made: the layers
// cannot be stacked or read, or a layer's feature set has an incompat or
// ro_compat bit this package does not know (then nothing is changed, and
// the report says which); problems are in the report.
func Check(o Options, c CheckOptions) (*CheckReport, error) {
	if err := o.validateLayers(); err != nil {
		return nil, err
	}
	feat, err := o.resolve()
	if err != nil {
		return nil, err
	}
	k := &checker{opts: c, feat: feat, report: &CheckReport{}, claimed: map[checkRef]string{}}
	k.prefix = ondisk.TrustedPrefix
	if feat.userxattr {
		k.prefix = ondisk.UserPrefix
	}
	if o.Upper != nil {
		if wa, ok := o.Upper.b.(layer.WorkAttacher); ok {
			if err := wa.AttachWork(o.Work.b); err != nil {
				return nil, newOptErr("workdir", err, "cannot use as work dir of the upper layer")
			}
		}
		if inUseBy(o.Upper) {
			return nil, newOptErr("upperdir", syscall.EBUSY, "upper layer in use by an overlay of this process")
		}
		k.layers = append(k.layers, k.newLayer(o.Upper, "upper", true))
	}
	for i, l := range o.Lower {
		k.layers = append(k.layers, k.newLayer(l, "lower "+strconv.Itoa(i+1), !c.NoLowerRepairs))
	}
	k.nRegular = len(k.layers)
	for i, l := range o.DataOnly {
		k.layers = append(k.layers, k.newLayer(l, "data "+strconv.Itoa(i+1), false))
	}
	if err := k.run(); err != nil {
		return k.report, err
	}
	return k.report, nil
}

// errUnknownFeatures is the error of Check on a layer whose feature set
// has incompat or ro_compat bits this package does not know.
var errUnknownFeatures = errors.New("unknown features: this checker cannot check the layer")

// checker is the state of one Check.
type checker struct {
	opts     CheckOptions
	feat     resolved
	prefix   string
	layers   []*checkLayer // the upper (if any), the lowers top-most first, then the data-only ones
	nRegular int           // the layers that merge (upper and lowers)
	report   *CheckReport
	// claimed maps each dir below that a redirect merges to the dir that
	// redirects there.
	claimed map[checkRef]string
}

// checkLayer is one layer as Check reads and repairs it.
type checkLayer struct {
	l      *Layer
	name   string
	br     *branch
	door   *upperDoor // nil where repairs are not made
	upper  bool
	record ondisk.FeatureSet // the layer's feature set, if hasRec
	hasRec bool
	// content is the features the layer's content was found to use.
	content ondisk.FeatureSet
}

func (k *checker) newLayer(l *Layer, name string, repairable bool) *checkLayer {
	cl := &checkLayer{l: l, name: name, upper: name == "upper"}
	cl.br = &branch{l: l, b: l.b, format: l.format, prefix: k.prefix, caps: l.b.Caps(), tmp: new(atomic.Uint64)}
	if cl.br.caps.Xattr {
		// A filesystem without xattrs (ramfs) holds no markers: the
		// overlay falls back as the kernel does, and nothing is missing.
		if _, err := l.b.Getxattr("", k.prefix+ondisk.XOpaque); errors.Is(err, syscall.EOPNOTSUPP) {
			cl.br.caps.Xattr = false
		}
	}
	if repairable && k.opts.Mode != CheckNoChange {
		cl.door = newUpperDoor(l.b)
		cl.br.w = cl.door
	}
	return cl
}

// problem records p and, where the mode allows, makes its repair with fix.
func (k *checker) problem(cl *checkLayer, p Problem, fix func() error) {
	p.Layer = cl.name
	if p.Path == "" {
		p.Path = "/"
	} else if p.Path[0] != '/' {
		p.Path = "/" + p.Path
	}
	if fix != nil && cl.door != nil && p.Repair != "" {
		do := false
		switch k.opts.Mode {
		case CheckSafe:
			do = p.Safe
		case CheckAll:
			do = true
		case CheckAsk:
			do = k.opts.Ask != nil && k.opts.Ask(p)
		}
		if do {
			if p.Err = fix(); p.Err == nil {
				p.Repaired = true
			}
		}
	}
	k.report.Problems = append(k.report.Problems, p)
}

func (k *checker) run() error {
	for _, cl := range k.layers {
		if err := k.checkRecord(cl); err != nil {
			return err
		}
	}
	if len(k.layers) > 0 && k.layers[0].upper {
		if err := k.checkWork(k.layers[0]); err != nil {
			return err
		}
		if k.layers[0].br.xattrMarkers() {
			if err := k.checkIndex(k.layers[0]); err != nil {
				return err
			}
		}
	}
	// From the bottom up, so that of two redirects to one dir the lower
	// one keeps it, as fsck.overlay decides.
	for i := k.nRegular - 1; i >= 0; i-- {
		if err := k.walk(i, "", k.roots(i+1)); err != nil {
			return err
		}
	}
	for _, cl := range k.layers {
		k.checkContent(cl)
	}
	return nil
}

// checkRecord reads the layer's feature set.
func (k *checker) checkRecord(cl *checkLayer) error {
	if !cl.br.xattrMarkers() {
		return nil
	}
	f, ok, err := readFeatures(cl.l.b, k.prefix)
	switch {
	case errors.Is(err, syscall.EINVAL):
		k.problem(cl, Problem{Kind: ProblemFeatureCorrupt, Detail: err.Error(),
			Repair: "rewrite the feature set from the content found"}, nil)
		cl.hasRec = true // rebuilt in checkContent
		cl.record = ondisk.FeatureSet{}
		return nil
	case err != nil && !errors.Is(err, ondisk.ErrNewerFeatures):
		return err
	case !ok:
		return nil
	}
	cl.record, cl.hasRec = f, true
	if u := f.Unknown(); u.Incompat != 0 || u.ROCompat != 0 {
		// The layer uses features this checker does not know: what
		// looks wrong may be right. Nothing is checked or changed.
		k.problem(cl, Problem{Kind: ProblemFeatureUnknown, Detail: u.String()}, nil)
		return fmt.Errorf("%s: feature set %s: %w", cl.name, u, errUnknownFeatures)
	}
	return nil
}

// checkContent compares the layer's feature set with what its content
// uses, and rewrites a corrupt one.
func (k *checker) checkContent(cl *checkLayer) {
	if !cl.hasRec {
		return
	}
	want := cl.record.Or(cl.content)
	var corrupt *Problem
	for i := range k.report.Problems {
		if p := &k.report.Problems[i]; p.Layer == cl.name && p.Kind == ProblemFeatureCorrupt {
			corrupt = p
		}
	}
	write := func() error {
		return cl.door.setxattr("", k.prefix+ondisk.XFeature, ondisk.FormatFeatures(want))
	}
	if corrupt != nil {
		// Rebuilt from the content: a repair that may drop bits the
		// content does not show (features of the kernel's that leave no
		// trace until used), so never a safe one.
		if cl.door != nil && (k.opts.Mode == CheckAll || k.opts.Mode == CheckAsk && k.opts.Ask != nil && k.opts.Ask(*corrupt)) {
			if corrupt.Err = write(); corrupt.Err == nil {
				corrupt.Repaired = true
			}
		}
		return
	}
	if cl.record.Covers(cl.content) {
		return
	}
	missing := ondisk.FeatureSet{
		Compat:   cl.content.Compat &^ cl.record.Compat,
		ROCompat: cl.content.ROCompat &^ cl.record.ROCompat,
		Incompat: cl.content.Incompat &^ cl.record.Incompat,
	}
	k.problem(cl, Problem{Kind: ProblemFeatureMissing, Detail: missing.String(),
		Repair: "add the missing bits", Safe: true}, write)
}

// checkWork checks the upper's work dir.
func (k *checker) checkWork(cl *checkLayer) error {
	ents, err := cl.l.b.ReadDir("/work/incompat")
	if err != nil {
		if layer.IsNotFound(err) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		p := "/work/incompat/" + e.Name
		if e.Name == "volatile" {
			k.problem(cl, Problem{Kind: ProblemVolatileLeftover, Path: p,
				Detail: "a volatile mount was not cleanly ended: the upper may have lost writes",
				Repair: "remove the marker"}, func() error { return cl.br.removeAll(p, true) })
			continue
		}
		k.problem(cl, Problem{Kind: ProblemIncompatEntry, Path: p,
			Detail: fmt.Sprintf("overlay with incompat feature '%s' cannot be mounted", e.Name)}, nil)
	}
	return nil
}
