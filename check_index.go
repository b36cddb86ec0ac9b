package overlay

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
	"github.com/go-overlay/overlay/internal/ondisk"
)

// checkIndex checks the upper's index dir (W/index), where index=on keeps
// one entry per copied-up inode with several names, named by the hex of
// its origin's file handle. What the kernel and New clean up by
// themselves at mount (temporaries, which a kernel mount leaves behind,
// and orphan entries whose names are all gone) is left to them; what
// makes the kernel refuse the mount or misread an entry is reported here.
func (k *checker) checkIndex(cl *checkLayer) error {
	ents, err := cl.l.b.ReadDir(indexDir)
	if err != nil {
		if layer.IsNotFound(err) {
			return nil
		}
		return err
	}
	cl.content.ROCompat |= ondisk.ROCompatIndex
	for _, e := range ents {
		p := indexDir + "/" + e.Name
		a, err := cl.l.b.Lstat(p)
		if err != nil {
			if layer.IsNotFound(err) {
				continue
			}
			return err
		}
		remove := func() error { return cl.br.removeAll(p, a.IsDir()) }
		if strings.HasPrefix(e.Name, "#") {
			continue // a temporary (the kernel leaves its whiteout there): removed at mount
		}
		fb, err := ondisk.ParseIndexName(e.Name)
		if err != nil {
			k.problem(cl, Problem{Kind: ProblemIndexInvalid, Path: p, Detail: "a name that is no file handle: the kernel refuses the mount",
				Repair: "remove it"}, remove)
			continue
		}
		if a.IsChr00() || a.IsDir() {
			cl.content.ROCompat |= ondisk.ROCompatNFSExport
			continue
		}
		if v, err := cl.l.b.Getxattr(p, k.prefix+ondisk.XOrigin); err == nil && len(v) > 0 {
			if _, err := ondisk.DecodeFB(v); err == nil && !bytes.Equal(v[:v[2]], fb[:fb[2]]) {
				k.problem(cl, Problem{Kind: ProblemIndexInvalid, Path: p, Detail: "its origin is not the handle it is named by: the kernel drops it as stale",
					Repair: "remove it"}, remove)
				continue
			}
		}
		v, err := cl.l.b.Getxattr(p, k.prefix+ondisk.XNlink)
		switch {
		case err == nil:
			if _, _, ok := ondisk.ParseNlink(v); !ok {
				k.problem(cl, Problem{Kind: ProblemIndexInvalid, Path: p,
					Detail: "nlink value " + strconv.Quote(string(v)) + ", which the kernel cannot read"}, nil)
			}
		case !errors.Is(err, layer.ErrNoData) && !errors.Is(err, syscall.EOPNOTSUPP) && !layer.IsNotFound(err):
			return err
		}
	}
	return nil
}
