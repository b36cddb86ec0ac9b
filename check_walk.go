package overlay

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// The check's walk reads each layer from its root, carrying for every dir
// the stack of dirs it merges with below (checkRef: a layer index into
// checker.layers and a path there), found as the overlay's lookup finds
// them: a whiteout or a non-dir below ends a stack, an opaque dir ends it
// after itself, a redirect sends the layers below to another name.

// checkRef is a dir of a layer below the one walked.
type checkRef struct {
	layer int
	path  string
}

// inUseBy reports whether an FS of this process uses l as its upper.
func inUseBy(l *Layer) bool {
	a, err := l.b.Lstat("")
	if err != nil {
		return false
	}
	inUse.Lock()
	defer inUse.Unlock()
	return inUse.m[[2]uint64{a.Dev, a.Ino}] > 0
}

// probe classifies p in layer i (bottom: the bottom-most regular lower).
// A marker the kernel would reject (a malformed redirect or metacopy
// value, which fail a lookup) is left out of the result: checkObject
// reports it.
//
// A path the layer cannot hold (a redirect's target with a NUL, or
// through a symlink, or too long) holds nothing, as for a lookup, which
// stops at a non-dir.
func (k *checker) probe(i int, p string) (ondisk.Object, error) {
	o, err := k.layers[i].br.probe(p, i == k.nRegular-1)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EIO) {
		var a layer.Attr
		if a, err = k.layers[i].br.b.Lstat(p); err == nil {
			return ondisk.Object{Kind: ondisk.Present, Attr: a}, nil
		}
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENAMETOOLONG) {
		return ondisk.Object{}, nil
	}
	return o, err
}

// roots is the stack of the lower roots from layer i down.
func (k *checker) roots(i int) []checkRef {
	var s []checkRef
	for ; i < k.nRegular; i++ {
		s = append(s, checkRef{layer: i})
	}
	return s
}

// lookupBelow finds name in the dirs of stack: the dirs it merges with
// (for a dir), whether anything that is not a whiteout is there (found),
// and the first object found.
func (k *checker) lookupBelow(stack []checkRef, name string) (dirs []checkRef, found bool, err error) {
	want, abs := name, false
	for i := 0; i < len(stack); i++ {
		r := stack[i]
		p := layer.Join(r.path, want)
		if abs {
			p = want
		}
		o, err := k.probe(r.layer, p)
		if err != nil {
			return nil, false, err
		}
		switch {
		case o.Kind == ondisk.Absent:
			continue
		case o.Kind == ondisk.Whiteout:
			return dirs, found, nil
		case !o.Attr.IsDir():
			return dirs, true, nil
		}
		found = true
		dirs = append(dirs, checkRef{layer: r.layer, path: p})
		if o.Opaque {
			return dirs, true, nil
		}
		if o.Redirect != "" && r.layer < k.nRegular-1 {
			if o.Redirect[0] == '/' {
				// The layers below search from their roots.
				want, abs = o.Redirect[1:], true
				stack = append(stack[:i+1:i+1], k.roots(r.layer+1)...)
			} else if abs {
				d, _ := layer.Split(want)
				want = layer.Join(d, o.Redirect)
			} else {
				want = o.Redirect
			}
		}
	}
	return dirs, found, nil
}

// stackAt is the stack of the dir at the absolute path p (no leading
// slash) in the layers from i down.
func (k *checker) stackAt(i int, p string) ([]checkRef, error) {
	s := k.roots(i)
	if p == "" {
		return s, nil
	}
	for _, name := range strings.Split(p, "/") {
		dirs, _, err := k.lookupBelow(s, name)
		if err != nil {
			return nil, err
		}
		s = dirs
	}
	return s, nil
}

// walk checks the dir p of layer i, which merges with below (the dirs of
// the layers under i), and everything under it.
func (k *checker) walk(i int, p string, below []checkRef) error {
	cl := k.layers[i]
	br := cl.br
	// Every xattr whiteout is listed as one, as a lookup reads it.
	ents, err := br.listDir(p, true)
	if err != nil {
		return err
	}
	impureNeeded := ""
	xdir := false // p is marked opaque "x": it may hold xattr whiteouts
	if br.caps.Xattr {
		v, err := br.b.Getxattr(p, k.prefix+ondisk.XOpaque)
		xdir = err == nil && string(v) == "x"
	}
	for _, e := range ents {
		cp := layer.Join(p, e.Name)
		if e.Whiteout {
			if br.format == formatKernel && e.Type == syscall.S_IFREG && !xdir {
				k.ghost(i, p, cp)
			}
			if err := k.checkWhiteout(i, cp, below, e.Name); err != nil {
				return err
			}
			continue
		}
		o, err := k.probe(i, cp)
		if err != nil {
			return err
		}
		switch o.Kind {
		case ondisk.Absent:
			continue // gone meanwhile
		case ondisk.Whiteout:
			// An xattr whiteout, as a lookup sees it.
			if err := k.checkWhiteout(i, cp, below, e.Name); err != nil {
				return err
			}
			continue
		}
		if br.caps.Xattr {
			if why, err := k.checkObject(i, cp, o, below); err != nil {
				return err
			} else if why != "" && impureNeeded == "" {
				impureNeeded = why
			}
		}
		if !o.Attr.IsDir() {
			continue
		}
		dirs, _, err := k.lookupBelow(below, e.Name)
		if err != nil {
			return err
		}
		if o.Opaque {
			dirs = nil
		}
		if o.Redirect != "" && i < k.nRegular-1 {
			if dirs, err = k.checkRedirect(i, cp, o.Redirect, below); err != nil {
				return err
			}
			if impureNeeded == "" {
				impureNeeded = "a redirected dir"
			}
		} else if len(dirs) > 0 && impureNeeded == "" {
			impureNeeded = "a merged dir"
		}
		if err := k.walk(i, cp, dirs); err != nil {
			return err
		}
	}
	if cl.upper && impureNeeded != "" && br.caps.Xattr && !br.hasXattr(p, ondisk.XImpure) {
		k.problem(cl, Problem{Kind: ProblemImpureMissing, Path: p, Detail: "holds " + impureNeeded,
			Repair: "set impure", Safe: true}, func() error {
			return cl.door.setxattr(p, k.prefix+ondisk.XImpure, []byte("y"))
		})
	}
	return nil
}

// checkWhiteout reports a whiteout at p of layer i that hides nothing.
func (k *checker) checkWhiteout(i int, p string, below []checkRef, name string) error {
	cl := k.layers[i]
	file := p // the whiteout's own name in the layer
	if cl.br.format == formatOCI {
		file = ondisk.OCIWhiteout(p)
	} else if a, err := cl.br.b.Lstat(p); err != nil {
		return err
	} else if !a.IsChr00() {
		cl.content.Incompat |= ondisk.IncompatXattrWhiteout
	}
	_, found, err := k.lookupBelow(below, name)
	if err != nil || found {
		return err
	}
	k.problem(cl, Problem{Kind: ProblemOrphanWhiteout, Path: file, Detail: "nothing below to hide",
		Repair: "remove it", Safe: true}, func() error { return cl.door.unlink(file) })
	return nil
}

// ghost reports the xattr whiteout p in the dir dir of layer i, which is
// not marked opaque "x": a lookup takes it for a whiteout, but the
// kernel's readdir lists it as an empty file. The repair makes it one
// whiteout for both: a char 0/0 in the upper; in a lower, which has no
// work dir to build one in, the mark on its dir.
func (k *checker) ghost(i int, dir, p string) {
	cl := k.layers[i]
	pr := Problem{Kind: ProblemWhiteoutGhost, Path: p, Safe: true,
		Detail: "an xattr whiteout in a dir not marked opaque \"x\": listed as a file, looked up as a whiteout"}
	if cl.upper {
		pr.Repair = "replace it by a char 0/0 whiteout"
		k.problem(cl, pr, func() error {
			// The whiteout is made in W/work, as a mount makes it; a
			// mount recreates W/work anyway.
			if _, err := cl.br.b.Lstat("/work"); layer.IsNotFound(err) {
				mode := uint32(0)
				if os.Geteuid() != 0 {
					mode = 0o700 // as New makes it for a caller that is not root
				}
				if err := cl.door.mkdir("/work", mode); err != nil {
					return err
				}
			}
			return cl.br.whiteout(p, syscall.S_IFREG)
		})
		return
	}
	pr.Repair = "mark its dir opaque \"x\""
	k.problem(cl, pr, func() error { return cl.door.setxattr(dir, k.prefix+ondisk.XOpaque, []byte("x")) })
}

// checkObject checks the private xattrs of the object o at p of layer i,
// whose parent merges with below, and notes the features they use; it
// reports why the object's parent must be impure ("" when it need not).
func (k *checker) checkObject(i int, p string, o ondisk.Object, below []checkRef) (impure string, err error) {
	cl := k.layers[i]
	br := cl.br
	get := func(suffix string) ([]byte, bool) {
		v, err := br.b.Getxattr(p, k.prefix+suffix)
		return v, err == nil
	}
	if v, ok := get(ondisk.XOrigin); ok {
		cl.content.Compat |= ondisk.CompatOrigin
		impure = "a copied-up object"
		// Empty is "origin unknown"; a handle the kernel cannot decode
		// makes its lookup fail, one of another version or byte order it
		// ignores.
		if _, err := ondisk.DecodeFB(v); len(v) > 0 && errors.Is(err, syscall.EINVAL) {
			k.problem(cl, Problem{Kind: ProblemOriginInvalid, Path: p, Detail: "a file handle the kernel cannot decode",
				Repair: "make it empty (origin unknown)", Safe: true}, func() error {
				return cl.door.setxattr(p, k.prefix+ondisk.XOrigin, []byte{})
			})
		}
	}
	if _, ok := get(ondisk.XImpure); ok {
		cl.content.Compat |= ondisk.CompatImpure
	}
	if o.Redirect != "" {
		cl.content.Incompat |= ondisk.IncompatRedirectDir
	}
	if o.Attr.IsDir() {
		if v, ok := get(ondisk.XOpaque); ok && !bytes.Equal(v, []byte("y")) && !bytes.Equal(v, []byte("x")) {
			k.problem(cl, Problem{Kind: ProblemOpaqueInvalid, Path: p, Detail: "value " + strconv.Quote(string(v)) + ", which the kernel ignores",
				Repair: "remove it"}, func() error { return cl.door.removexattr(p, k.prefix+ondisk.XOpaque) })
		}
		if v, ok := get(ondisk.XRedirect); ok {
			if _, err := ondisk.ParseRedirect(v); err != nil {
				k.problem(cl, Problem{Kind: ProblemRedirectInvalid, Path: p, Detail: "value " + strconv.Quote(string(v)) + ", which the kernel rejects",
					Repair: "remove it", Safe: true}, func() error { return cl.door.removexattr(p, k.prefix+ondisk.XRedirect) })
			}
		}
	}
	if o.Attr.IsReg() {
		v, ok := get(ondisk.XMetacopy)
		if ok {
			cl.content.Incompat |= ondisk.IncompatMetacopy
			if _, err := ondisk.ParseMetacopy(v); err != nil {
				pr := Problem{Kind: ProblemMetacopyInvalid, Path: p,
					Detail: "value " + strconv.Quote(string(v)) + ", which the kernel refuses with EIO"}
				var fix func() error
				if k.dataBelow(below, pathBase(p), o.Attr.Size) {
					// The data is there: the plain marker makes the file
					// the metacopy file its writer meant.
					pr.Repair, pr.Safe = "write the plain metacopy marker (the data below has the file's size)", true
					fix = func() error { return cl.door.setxattr(p, k.prefix+ondisk.XMetacopy, []byte{}) }
				}
				k.problem(cl, pr, fix)
			}
		}
	}
	return impure, nil
}

// checkRedirect checks the redirect r of the dir p of layer i (whose
// parent merges with below) and returns the stack the dir merges with.
// Two redirected dirs that merge the same dir below are duplicates: the
// one met first (layers are walked from the bottom) keeps its redirect.
func (k *checker) checkRedirect(i int, p, r string, below []checkRef) ([]checkRef, error) {
	cl := k.layers[i]
	// The overlay path the redirect names.
	target := r[1:]
	var dirs []checkRef
	var err error
	if r[0] == '/' {
		dirs, err = k.stackAt(i+1, target)
	} else {
		d, _ := layer.Split(p)
		target = layer.Join(d, r)
		dirs, _, err = k.lookupBelow(below, r)
	}
	if err != nil {
		return nil, err
	}
	removeRedirect := func() error { return cl.door.removexattr(p, k.prefix+ondisk.XRedirect) }
	if len(dirs) == 0 {
		k.problem(cl, Problem{Kind: ProblemRedirectInvalid, Path: p, Detail: "no dir at " + r + " below",
			Repair: "remove the redirect", Safe: true}, removeRedirect)
		same, _, err := k.lookupBelow(below, pathBase(p))
		return same, err
	}
	if prev, dup := k.claimed[dirs[0]]; dup {
		k.problem(cl, Problem{Kind: ProblemRedirectDuplicate, Path: p, Detail: "as " + prev + ", to " + r,
			Repair: "remove the redirect"}, removeRedirect)
		return dirs, nil
	}
	k.claimed[dirs[0]] = cl.name + " /" + p
	// The old name must not show in this layer's view: a whiteout, an
	// opaque dir or another redirected dir must cover it.
	if target != p {
		o, err := k.probe(i, target)
		if err != nil {
			return nil, err
		}
		covered := o.Kind == ondisk.Whiteout || o.Kind == ondisk.Present && (!o.Attr.IsDir() || o.Opaque || o.Redirect != "")
		if o.Kind == ondisk.Present && o.Attr.IsDir() && !covered {
			k.problem(cl, Problem{Kind: ProblemRedirectDuplicate, Path: p,
				Detail: "its origin " + r + " is merged by the dir /" + target + " of this layer",
				Repair: "remove the redirect"}, removeRedirect)
			return dirs, nil
		}
		if o.Kind == ondisk.Absent && k.parentIn(i, target) {
			k.problem(cl, Problem{Kind: ProblemRedirectMissingWhiteout, Path: p, Detail: "its origin /" + target + " still shows",
				Repair: "make a whiteout at /" + target, Safe: true}, func() error {
				return cl.door.mknod(target, syscall.S_IFCHR, 0)
			})
		}
	}
	return dirs, nil
}

// parentIn reports whether the parent dir of p exists in layer i (where a
// whiteout of p can be made).
func (k *checker) parentIn(i int, p string) bool {
	d, _ := layer.Split(p)
	a, err := k.layers[i].br.b.Lstat(d)
	return err == nil && a.IsDir()
}

func pathBase(p string) string {
	_, b := layer.Split(p)
	return b
}

// dataBelow reports whether the first object named name in the dirs of
// stack is a regular file of the given size holding its data (no
// metacopy file itself).
func (k *checker) dataBelow(stack []checkRef, name string, size int64) bool {
	for _, r := range stack {
		o, err := k.probe(r.layer, layer.Join(r.path, name))
		if err != nil || o.Kind == ondisk.Whiteout {
			return false
		}
		if o.Kind == ondisk.Present {
			return o.Attr.IsReg() && !o.Metacopy && o.Attr.Size == size
		}
	}
	return false
}
