package overlay

import (
	"errors"

	"github.com/go-overlay/overlay/internal/ondisk"

	"github.com/go-overlay/overlay/internal/layer"
)

// Read-ahead of lookups for a listing. Readdir with FileInfos, and a
// readdir that translates inode numbers, look up every entry of a dir;
// one by one, each lookup resolves its path from the layer root again and
// reads its xattrs through separate calls. A backend that implements
// dirProber instead opens the dir once and reads each entry relative to
// it; the results are kept in the lower layer's branch as hints that the
// entry's own probe then takes. Only lower layers get hints: they do not
// change while the FS is open, so a hint can never be stale.

// hintChunk is how many entries are read ahead at once, to bound the
// memory the hints take.
const hintChunk = 1024

// hint is a probe result read ahead, for the probe of the same path with
// the same bottom setting.
type hint struct {
	o      ondisk.Object
	bottom bool
}

// takeHint returns (and forgets) the hint for the probe of p.
func (br *branch) takeHint(p string, bottom bool) (ondisk.Object, bool) {
	br.hintMu.Lock()
	defer br.hintMu.Unlock()
	h, ok := br.hints[p]
	if !ok || h.bottom != bottom {
		return ondisk.Object{}, false
	}
	delete(br.hints, p)
	return h.o, true
}

// readAhead probes names in every lower layer of dir n that can be read
// in one go, leaving hints for the lookups that follow, and returns a
// func that drops the hints left unused. Callers hold FS.mu.
func (fsys *FS) readAhead(n *node, names []string) (drop func()) {
	var done []func()
	drop = func() {
		for _, f := range done {
			f()
		}
	}
	if !n.present || !n.isDir() || len(names) < 2 {
		return drop
	}
	for _, lr := range n.lowers {
		br := fsys.lowers[lr.layer]
		dp, ok := br.b.(layer.DirProber)
		if !ok || br.format != formatKernel {
			continue
		}
		r, err := dp.ProbeDir(lr.path)
		if err != nil {
			continue
		}
		bottom := lr.layer == fsys.bottom
		var keys []string
		hints := make(map[string]hint, len(names))
		for _, name := range names {
			n.mu.Lock()
			cached := n.children[name] != nil
			n.mu.Unlock()
			if cached {
				continue
			}
			o, err := br.kernel().Probe(r, name, bottom)
			if errors.Is(err, errors.ErrUnsupported) {
				break
			}
			if err != nil {
				continue // the entry's own probe reports it
			}
			p := layer.Join(lr.path, name)
			hints[p] = hint{o: o, bottom: bottom}
			keys = append(keys, p)
		}
		r.Close()
		if len(keys) == 0 {
			continue
		}
		br.hintMu.Lock()
		if br.hints == nil {
			br.hints = hints
		} else {
			for k, h := range hints {
				br.hints[k] = h
			}
		}
		br.hintMu.Unlock()
		done = append(done, func() {
			br.hintMu.Lock()
			for _, k := range keys {
				delete(br.hints, k)
			}
			if len(br.hints) == 0 {
				br.hints = nil
			}
			br.hintMu.Unlock()
		})
	}
	return drop
}

// readAheadNames is readAhead of the entries ents of dir n, for a caller
// that holds no FS lock.
func (fsys *FS) readAheadNames(n *node, ents []mergedEnt) (drop func()) {
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.name
	}
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	if n.stale() {
		return func() {}
	}
	return fsys.readAhead(n, names)
}
