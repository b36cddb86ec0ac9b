package overlay

import (
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/go-overlay/overlay/internal/layer"
)

// File is an open file or directory of an overlay. It implements
// afero.File and fs.ReadDirFile. A File is safe for concurrent use.
//
// A file opened read-only on a lower layer reads the upper copy once the
// object has been copied up (by a writer through another File, a chmod,
// ...), keeping its offset: the kernel's behaviour since 4.19.
type File struct {
	fsys  *FS
	name  string // as given to Open
	n     *node  // immutable
	isDir bool   // immutable
	read  bool   // opened for reading; immutable
	write bool   // opened for writing; immutable
	app   bool   // O_APPEND; immutable

	mu      sync.Mutex // protects the fields below
	bf      layer.File // nil for dirs and after Close
	onUpper bool       // bf is the upper object
	closed  bool
	off     int64
	list    []mergedEnt // a dir's listing, built on the first read
	listed  bool
	buf     []mergedEnt // a dir's entries read from list and not yet returned
	// real reads a dir of one layer through the layer's own descriptor
	// (its positions are the layer's), until a rewind finds it merged.
	real layer.DirStream
}

func (f *File) pathErr(op string, err error) error {
	if err == fs.ErrClosed {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	return pathErr(op, f.name, err)
}

// Name returns the name as given to Open.
func (f *File) Name() string { return f.name }

// current returns the backing file to read from, switching a read-only
// lower file to the upper copy once there is one. Callers hold f.mu.
func (f *File) current() (layer.File, error) {
	if f.closed {
		return nil, fs.ErrClosed
	}
	if f.isDir {
		return nil, syscall.EISDIR
	}
	if f.onUpper {
		return f.bf, nil
	}
	f.fsys.mu.RLock()
	n := f.node()
	up, stale := n.upper && !n.metacopy, n.stale()
	var p string
	if up && !stale {
		p = n.path()
	}
	nf, err := layer.File(nil), error(nil)
	if up && !stale {
		nf, err = f.fsys.upper.b.OpenRead(p, syscall.O_RDONLY)
	}
	f.fsys.mu.RUnlock()
	if nf != nil && err == nil {
		f.bf.Close()
		f.bf, f.onUpper = nf, true
	}
	return f.bf, nil
}

// node returns the node of f's object: f.n, or where renames of it or
// of a dir above it took it (the kernel's file keeps its inode). Callers
// hold FS.mu.
func (f *File) node() *node { return f.fsys.follow(f.n) }

// follow returns the live node of n's object after renames of n or of
// its ancestors; n itself when there is none (it was removed, or the
// cache dropped). Callers hold FS.mu.
func (fsys *FS) follow(n *node) *node {
	switch {
	case !n.stale():
		return n
	case n.dead && n.moved != nil:
		return fsys.follow(n.moved)
	case n.dead || n.parent == nil:
		return n
	}
	p := fsys.follow(n.parent)
	if p == n.parent || p.stale() {
		return n
	}
	c, err := fsys.child(p, n.name)
	if err != nil || !c.present {
		return n
	}
	return c
}

// Read is like os.File.Read.
func (f *File) Read(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.readAt(b, f.off)
	f.off += int64(n)
	switch {
	case n > 0 && err == io.EOF:
		err = nil // as os.File.Read: EOF only when nothing was read
	case n == 0 && len(b) > 0 && err == nil:
		err = io.EOF
	case err != nil && err != io.EOF:
		return n, f.pathErr("read", err)
	}
	return n, err
}

// ReadAt is like os.File.ReadAt.
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.pathErr("readat", syscall.EINVAL)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.readAt(b, off)
	if err != nil && err != io.EOF {
		return n, f.pathErr("read", err) // as os: pread(2)'s errors are "read"
	}
	return n, err
}

func (f *File) readAt(b []byte, off int64) (int, error) {
	if f.isDir && !f.closed && off+int64(len(b)) < 0 {
		// The position checks come before the dir's EISDIR
		// (rw_verify_area): a dir read to its end on a file system with
		// hashed positions (ext4) sits at the largest one.
		return 0, syscall.EINVAL
	}
	bf, err := f.current()
	if err != nil {
		return 0, err
	}
	if !f.read {
		return 0, syscall.EBADF
	}
	if len(b) == 0 {
		return 0, nil
	}
	return bf.ReadAt(b, off)
}

// Write is like os.File.Write; with O_APPEND every write goes to the end.
func (f *File) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bf, err := f.writable()
	if err != nil {
		return 0, f.pathErr("write", err)
	}
	var n int
	if f.app {
		// The end is found and written in one step of the backend, so
		// that no other writer of the object can slip in between.
		var end int64
		n, end, err = bf.Append(b)
		if n > 0 {
			f.off = end
		}
	} else {
		n, err = bf.WriteAt(b, f.off)
		f.off += int64(n)
	}
	if err != nil {
		return n, f.pathErr("write", err)
	}
	return n, nil
}

// WriteAt is like os.File.WriteAt (which refuses O_APPEND files).
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// As os: its own checks are "writeat" errors, pwrite(2)'s "write".
	bf, err := f.writable()
	if err != nil {
		return 0, f.pathErr("write", err)
	}
	if f.app || off < 0 {
		return 0, f.pathErr("writeat", syscall.EINVAL)
	}
	n, err := bf.WriteAt(b, off)
	if err != nil {
		return n, f.pathErr("write", err)
	}
	return n, nil
}

// WriteString is like os.File.WriteString.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

func (f *File) writable() (layer.File, error) {
	if f.closed {
		return nil, fs.ErrClosed
	}
	if !f.write {
		return nil, syscall.EBADF // a dir, too: it is never open for writing
	}
	if f.isDir {
		return nil, syscall.EISDIR
	}
	if !f.write {
		return nil, syscall.EBADF
	}
	return f.bf, f.fsys.dropPrivs(f.n)
}

// Seek is like os.File.Seek. On a directory only io.SeekStart and
// io.SeekCurrent work (SEEK_END is EINVAL, as on the kernel's overlay),
// and seeking to 0 re-reads the directory. A directory position is an
// index into its listing with "." and ".." counted first; the kernel's
// positions in a merge dir also count whiteouts and put "." and ".." where
// the lowest layer lists them, so only 0 means the same on both.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, f.pathErr("seek", fs.ErrClosed)
	}
	if f.real != nil && f.stillReal() {
		pos, err := f.real.Seek(offset, whence)
		if err != nil {
			return 0, f.pathErr("seek", err)
		}
		f.off, f.buf = pos, nil
		return pos, nil
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		if f.isDir {
			return 0, f.pathErr("seek", syscall.EINVAL)
		}
		bf, err := f.current()
		if err != nil {
			return 0, f.pathErr("seek", err)
		}
		a, err := bf.Stat()
		if err != nil {
			return 0, f.pathErr("seek", err)
		}
		base = a.Size
	default:
		return 0, f.pathErr("seek", syscall.EINVAL)
	}
	if base+offset < 0 {
		return 0, f.pathErr("seek", syscall.EINVAL)
	}
	f.off = base + offset
	if f.isDir {
		f.buf = nil
		if f.off == 0 {
			f.listed = false
		}
	}
	return f.off, nil
}

// Stat is like os.File.Stat.
func (f *File) Stat() (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, f.pathErr("stat", fs.ErrClosed)
	}
	var a layer.Attr
	var err error
	if !f.isDir {
		_, err = f.current() // may switch to the upper copy
	}
	f.fsys.mu.RLock()
	n := f.node()
	fromNode := f.isDir || !f.onUpper && n.metacopy && !n.stale()
	f.fsys.mu.RUnlock()
	switch {
	case err != nil:
	case fromNode:
		// A dir, or a metacopy file read from its data file below: the
		// node has its attributes (the upper's, not the data file's).
		f.fsys.mu.RLock()
		if n.gone != nil {
			a = *n.gone
		} else {
			a, err = f.fsys.nodeAttr(n)
		}
		f.fsys.mu.RUnlock()
	default:
		// The open file's own: it may be renamed or unlinked.
		if a, err = f.bf.Stat(); err == nil {
			f.fsys.mu.RLock()
			if !f.onUpper && f.n.idx != "" {
				// Still reading the lower file of an indexed inode: the
				// union count starts from the upper inode's, which its
				// index entry has once the inode is copied up. With
				// every name gone, the entry is gone too (index=on) or a
				// whiteout (nfs_export), and so is every link.
				ia, err := f.fsys.upper.b.Lstat(f.n.idx)
				switch {
				case err != nil || ia.IsChr00():
					a.Nlink = 0
				default:
					a.Nlink = ia.Nlink
				}
			}
			f.fsys.fixNlink(f.n, &a)
			f.fsys.inoDev(f.n, &a)
			f.fsys.mu.RUnlock()
		}
	}
	if err != nil {
		return nil, f.pathErr("stat", err)
	}
	return &fileInfo{name: baseName(f.name), a: a}, nil
}

// Sync is like os.File.Sync.
func (f *File) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.pathErr("sync", fs.ErrClosed)
	}
	if f.bf == nil {
		return nil
	}
	return f.pathErr("sync", f.bf.Sync())
}

// Truncate is like os.File.Truncate: the file must be open for writing.
func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	bf, err := f.writable()
	if err == syscall.EBADF || err == syscall.EISDIR || err == nil && size < 0 {
		err = syscall.EINVAL
	}
	if err != nil {
		return f.pathErr("truncate", err)
	}
	return f.pathErr("truncate", bf.Truncate(size))
}

// Close is like os.File.Close.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.pathErr("close", fs.ErrClosed)
	}
	f.closed = true
	if f.real != nil {
		f.real.Close()
		f.real = nil
	}
	if f.bf != nil {
		err := f.bf.Close()
		f.bf = nil
		return f.pathErr("close", err)
	}
	return nil
}

// entries returns up to n entries from the directory position (all when
// n <= 0), building the merged listing on the first read.
func (f *File) entries(op string, n int) ([]mergedEnt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, f.pathErr(op, fs.ErrClosed)
	}
	if !f.isDir {
		return nil, f.pathErr(op, syscall.ENOTDIR)
	}
	if f.real != nil && !f.stillReal() {
		f.real.Close()
		f.real = nil
	}
	if !f.listed && f.real == nil {
		f.fsys.mu.RLock()
		n := f.node()
		var list []mergedEnt
		var err error
		if n.gone != nil {
			err = syscall.ENOENT // a removed dir lists nothing (IS_DEADDIR)
		} else {
			list, err = f.fsys.listEntries(n, false, true)
		}
		switch {
		case err != nil || !n.isMerge():
		case f.fsys.xinoBits > 0:
			list, err = f.fsys.translatedList(n, list)
		case n.upper:
			list, err = f.fsys.impureList(n, list)
		}
		f.fsys.mu.RUnlock()
		if err != nil {
			return nil, f.pathErr(op, err)
		}
		f.list, f.listed = list, true
	}
	// Like os.File, a read goes on through getdents calls until it has n
	// entries (all for n <= 0) or an error; then it returns what it has
	// with the error.
	var out []mergedEnt
	for n <= 0 || len(out) < n {
		if len(f.buf) == 0 {
			var buf []mergedEnt
			var eof bool
			var err error
			if f.real != nil {
				buf, eof, err = f.realGetdents()
			} else {
				buf, eof, err = f.getdents()
			}
			if err != nil {
				return out, f.pathErr(op, err)
			}
			if eof {
				break
			}
			f.buf = buf
		}
		k := len(f.buf)
		if n > 0 {
			k = min(k, n-len(out))
		}
		out = append(out, f.buf[:k]...)
		f.buf = f.buf[k:]
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// stillReal reports whether f may keep reading its dir through f.real:
// past the start, or while the dir is still of one layer. At position 0
// the kernel looks again, and a dir copied up or merged since then is
// read merged from there on (ovl_dir_reset). Callers hold f.mu.
func (f *File) stillReal() bool {
	if f.off != 0 {
		return true
	}
	f.fsys.mu.RLock()
	defer f.fsys.mu.RUnlock()
	n := f.node()
	return n.gone == nil && f.fsys.isRealDir(n) != nil
}

// realGetdents is getdents for a dir read through f.real. Callers hold
// f.mu.
func (f *File) realGetdents() ([]mergedEnt, bool, error) {
	f.fsys.mu.RLock()
	n := f.node()
	var err error
	if n.gone != nil {
		err = syscall.ENOENT // a removed dir lists nothing (IS_DEADDIR)
	} else {
		err = f.fsys.impureLookups(n)
	}
	f.fsys.mu.RUnlock()
	if err != nil {
		return nil, false, err
	}
	ents, pos, eof, err := f.real.ReadEntries()
	if err != nil || eof {
		return nil, eof, err
	}
	f.off = pos
	buf := make([]mergedEnt, len(ents))
	for i, e := range ents {
		buf[i] = mergedEnt{name: e.Name, typ: e.Type}
	}
	return buf, false, nil
}

// getdents is one getdents(2) call on the kernel's merged listing, whose
// buffer holds every entry: it returns the entries from the directory
// position to the end. A position is an index into the listing, where
// "." and ".." and whiteouts (hidden entries, never returned) take their
// places too. An entry whose lookup failed (mergedEnt.err) ends the call
// before it and is then skipped as stale; when the call has returned
// nothing yet, not even "." or "..", the call fails with the lookup's
// error instead (ovl_iterate_merged, and getdents(2) keeping the entries
// it has over an error). eof reports that the position was at the end.
// Callers hold f.mu.
func (f *File) getdents() (buf []mergedEnt, eof bool, err error) {
	start := int(min(max(f.off, 0), int64(len(f.list))))
	if start == len(f.list) {
		return nil, true, nil
	}
	emitted := false
	for j := start; j < len(f.list); j++ {
		switch e := f.list[j]; {
		case e.err != nil:
			f.off = int64(j) + 1 // past the stale entry
			if !emitted {
				return nil, false, e.err
			}
			return buf, false, nil
		case e.dot:
			emitted = true
		case !e.hidden:
			buf = append(buf, e)
			emitted = true
		}
	}
	f.off = int64(len(f.list))
	return buf, false, nil
}

// ReadDir is like os.File.ReadDir, but the entries come in the kernel's
// merged order rather than sorted.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	ents, err := f.entries("readdirent", n)
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		out = append(out, &fsDirEntry{f: f, e: e})
	}
	return out, err
}

// Readdir is like os.File.Readdir (entries in the kernel's merged order).
func (f *File) Readdir(count int) ([]os.FileInfo, error) {
	ents, err := f.entries("readdirent", count)
	out := make([]os.FileInfo, 0, len(ents))
	for len(ents) > 0 {
		chunk := ents[:min(len(ents), hintChunk)]
		ents = ents[len(chunk):]
		drop := f.fsys.readAheadNames(f.n, chunk)
		for _, e := range chunk {
			fi, lerr := f.fsys.lstatIn(f.n, e.name)
			if lerr != nil {
				continue // gone since the listing, as os skips it
			}
			out = append(out, fi)
		}
		drop()
	}
	return out, err
}

// Readdirnames is like os.File.Readdirnames.
func (f *File) Readdirnames(n int) ([]string, error) {
	ents, err := f.entries("readdirent", n)
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.name)
	}
	return out, err
}

// fsDirEntry is an fs.DirEntry of an open overlay directory.
type fsDirEntry struct {
	f *File
	e mergedEnt
}

func (d *fsDirEntry) Name() string { return d.e.name }
func (d *fsDirEntry) IsDir() bool  { return d.Type().IsDir() }
func (d *fsDirEntry) Type() fs.FileMode {
	if d.e.typ != 0 {
		return layer.FileMode(d.e.typ).Type()
	}
	fi, err := d.Info()
	if err != nil {
		return 0
	}
	return fi.Mode().Type()
}
func (d *fsDirEntry) Info() (fs.FileInfo, error) { return d.f.fsys.lstatIn(d.f.n, d.e.name) }
func (d *fsDirEntry) String() string             { return fs.FormatDirEntry(d) }

// lstatIn is Lstat of the name in dir, as the overlay shows it.
func (fsys *FS) lstatIn(dir *node, name string) (fs.FileInfo, error) {
	fsys.mu.RLock()
	defer fsys.mu.RUnlock()
	c, err := fsys.child(dir, name)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	if !c.present {
		return nil, pathErr("lstat", name, syscall.ENOENT)
	}
	a, err := fsys.nodeAttr(c)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return &fileInfo{name: name, a: a}, nil
}
