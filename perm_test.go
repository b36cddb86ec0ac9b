package overlay_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-overlay/overlay"
	"github.com/go-overlay/overlay/internal/layertest"
)

// permCaller is the caller of the permission tests: uid 1000, in groups
// 1000 and 2000 (the kernel side runs as this user).
var permCaller = overlay.Cred{Uid: 1000, Gid: 1000, Groups: []uint32{1000, 2000}}

// permFixture holds objects of several owners and modes: uid 1000 is the
// caller, 1001 another user, 0 root; group 2000 is one of the caller's,
// 3000 is not.
const permFixture = `
-- lower --
dir pub 0755 uid=1000 gid=1000
file pub/mine "m" 0644 uid=1000 gid=1000
file pub/other "o" 0644 uid=1001 gid=1001
file pub/grp "g" 0664 uid=1001 gid=2000
file pub/secret "s" 0600 uid=1001 gid=1001
file pub/suid "x" 04755 uid=1001 gid=1001
xattr pub/mine user.u "1"
xattr pub/mine trusted.t "2"
dir root 0755 uid=0 gid=0
file root/mine "m" 0644 uid=1000 gid=1000
file root/ro "r" 0644 uid=0 gid=0
file root/sg "s" 02755 uid=1000 gid=3000
dir root/sub 0755 uid=1000 gid=1000
dir priv 0700 uid=1001 gid=1001
file priv/f "p" 0644 uid=1001 gid=1001
dir grpdir 0750 uid=1001 gid=2000
file grpdir/f "x" 0640 uid=1001 gid=2000
dir grpro 0750 uid=1001 gid=3000
file grpro/f "x" 0644 uid=1001 gid=3000
dir noexec 0644 uid=1000 gid=1000
file noexec/f "n" 0644 uid=1000 gid=1000
dir tmp 01777 uid=0 gid=0
file tmp/mine "a" 0644 uid=1000 gid=1000
file tmp/other "b" 0666 uid=1001 gid=1001
dir tmp/odir 0777 uid=1001 gid=1001
dir stk 01777 uid=1000 gid=1000
file stk/other "c" 0644 uid=1001 gid=1001
dir sgid 02777 uid=1001 gid=2000
dir sgid3 02777 uid=1001 gid=3000
dir own 0755 uid=1000 gid=1000
dir own/sub 0755 uid=1000 gid=1000
dir own/rosub 0555 uid=1000 gid=1000
dir odir 0777 uid=1001 gid=1001
dir odir/sub 0755 uid=1001 gid=1001
`

func permStack() layertest.Stack {
	s := layertest.MustParse(permFixture)
	s.Upper = &layertest.Layer{Name: "upper"}
	return s
}

// permScript exercises each rule; the results stated are the kernel's
// for permCaller.
const permScript = `
stat / => ok
readfile pub/mine => ok
readfile pub/secret => EACCES
readfile priv/f => EACCES
stat priv/f => EACCES
stat priv => ok
readdir priv => EACCES
stat noexec/f => EACCES
readdir noexec => ok
readfile grpdir/f => ok
readdir grpro => EACCES
stat grpro/f => EACCES
readfile pub/suid => ok
open h1 pub/other r => ok
close h1
open h2 pub/other w => EACCES
open h3 pub/other rw => EACCES
open h4 pub/other r+trunc => EACCES
open h5 pub/grp rw => ok
write h5 G
close h5
writefile pub/other x => EACCES
appendfile root/mine +w => ok
writefile root/ro x => EACCES
truncate pub/other 0 => EACCES
truncate root/mine 1 => ok
chmod root/mine 0600 => ok
chmod root/ro 0600 => EPERM
chmod pub/grp 0666 => EPERM
chmod root/sg 02750 => ok
chtimes root/mine 100 200 => ok
chtimes pub/grp 100 200 => EPERM
chtimes root/ro 100 200 => EPERM
chown root/mine 1000 2000 => ok
chown root/mine 1000 3000 => EPERM
chown root/mine 1001 1000 => EPERM
chown root/mine -1 1000 => ok
chown pub/other -1 1000 => EPERM
chown pub/other 1001 -1 => EPERM
chown pub/other -1 -1 => ok
create root/new => EACCES
writefile root/mine w2 => ok
open h7 root/ro w+creat+excl => EEXIST
mkdir root/sub => EEXIST
remove root/mine/ => EACCES
link priv/f own/lp => EACCES
symlink ../pub/mine own/sl => ok
chmod own/sl 0640 => ok
lstat pub/mine => ok
rename root/sub/ own/x => EACCES
mkdir root/d => EACCES
symlink x root/l => EACCES
mknod root/p p => EACCES
mkdir own/d => ok
writefile own/f n => ok
writefile own/rosub/f n => EACCES
symlink f own/l => ok
mknod own/fifo p => ok
mknod own/c c 1 3 => EPERM
mkdir sgid/d => ok
writefile sgid/f n 02755 => ok
writefile sgid3/f n 02755 => ok
mkdir sgid3/d => ok
lstat own/d => ok
lstat own/f => ok
lstat own/l => ok
lstat own/fifo => ok
lstat sgid/d => ok
lstat sgid/f => ok
lstat sgid3/f => ok
lstat sgid3/d => ok
remove tmp/other => EPERM
remove tmp/odir => EPERM
rename tmp/other tmp/x => EPERM
rename own/f tmp/other => EPERM
remove tmp/mine => ok
remove stk/other => ok
remove root/mine => EACCES
remove root/sub => EACCES
rename own/f root/f => EACCES
rename root/ro own/ro => EACCES
rename own/sub pub/sub => EXDEV
rename odir/sub own/sub2 => EACCES
rename own/f pub/f => ok
rename pub/f own/f => ok
remove own/sub => ok
chmod own/f 06755 => ok
lstat own/f => ok
truncate own/f 0 => ok
lstat own/f => ok
writefile own/g g => ok
chmod own/g 04644 => ok
open h6 own/g w => ok
write h6 x => ok
close h6
lstat own/g => ok
link pub/other own/lo => EPERM
link pub/suid own/ls => EPERM
link pub/mine own/lm => ok
link pub/grp own/lg => ok
link pub/mine root/lm => EACCES
setxattr pub/mine user.a v => ok
setxattr pub/other user.a v => EACCES
setxattr pub/mine trusted.a v => EPERM
setxattr tmp user.a v => EPERM
setxattr stk user.a v => ok
setxattr own/fifo user.a v => EPERM
getxattr pub/mine user.u => ok
getxattr pub/secret user.u => EACCES
getxattr pub/mine trusted.t => ENODATA
getxattr own/fifo user.a => ENODATA
listxattr pub/mine => ok
removexattr pub/mine user.u => ok
removexattr pub/other user.u => EACCES
removexattr pub/mine trusted.t => EPERM
readdir own => ok
readdir / => ok
`

// TestPermMem runs the permission script on in-memory layers through a
// view bound to permCaller: every result the script states must hold,
// and new objects must belong to the caller.
func TestPermMem(t *testing.T) {
	s := permStack()
	ops := mustOps(permScript)
	lowers, upper, err := layertest.MemFSes(s)
	if err != nil {
		t.Fatal(err)
	}
	o := overlay.Options{Upper: overlay.MemLayer(upper)}
	for _, m := range lowers {
		o.Lower = append(o.Lower, overlay.MemLayer(m))
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	v := fsys.As(permCaller)
	res := runScript(v, ops, runConfig{})
	checkWants(t, "library", "", ops, res)
	owners := map[string][3]uint32{ // uid, gid, mode
		"own/d":   {1000, 1000, syscall.S_IFDIR | 0o755},
		"own/l":   {1000, 1000, syscall.S_IFLNK | 0o777},
		"sgid/d":  {1000, 2000, syscall.S_IFDIR | 0o2755},
		"sgid/f":  {1000, 2000, syscall.S_IFREG | 0o755}, // the write dropped setgid
		"own/f":   {1000, 1000, syscall.S_IFREG | 0o755},
		"own/g":   {1000, 1000, syscall.S_IFREG | 0o644},
		"sgid3/f": {1000, 3000, syscall.S_IFREG | 0o755},
		"sgid3/d": {1000, 3000, syscall.S_IFDIR | 0o2755},
		"root/sg": {1000, 3000, syscall.S_IFREG | 0o750},
	}
	for name, want := range owners {
		fi, err := fsys.Lstat(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		st := layertest.Stat(fi)
		if got := [3]uint32{st.UID, st.GID, st.Mode}; got != want {
			t.Errorf("%s: uid, gid, mode %o, want %o", name, got, want)
		}
	}
	// Chtimes with neither time only looks the name up (utimensat with
	// two UTIME_OMIT): no check, no copy-up.
	if err := v.Chtimes("pub/secret", time.Time{}, time.Time{}); err != nil {
		t.Errorf("Chtimes(zero, zero) of another's file: %v", err)
	}
	if _, err := upper.Lstat("pub/secret"); err == nil {
		t.Errorf("Chtimes(zero, zero) copied up")
	}
	// The view acts on the same overlay: the process sees its changes,
	// and closing the view changes nothing.
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("own/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Stat("own/d"); err != nil {
		t.Fatalf("view after its Close: %v", err)
	}
}

// TestPermRoot checks that a root view, like the FS of a root process,
// passes every check: owner-only operations on others' objects, reading
// unreadable files, writing in unwritable dirs; but executing needs an
// execute bit.
func TestPermRoot(t *testing.T) {
	s := permStack()
	fsys := memStackFS(t, s)
	ops := mustOps(strings.Join([]string{
		"readfile priv/f => ok",
		"readdir noexec => ok",
		"stat noexec/f => ok",
		"chmod pub/other 0600 => ok",
		"chown pub/other 7 7 => ok",
		"chtimes pub/grp 1 2 => ok",
		"remove tmp/other => ok",
		"setxattr pub/mine trusted.a v => ok",
		"mknod root/c c 1 3 => ok",
		"link pub/secret own/ls => ok",
		"writefile root/new n => ok",
	}, "\n"))
	v := fsys.As(overlay.Cred{})
	checkWants(t, "root view", "", ops, runScript(v, ops, runConfig{}))
	fi, err := fsys.Lstat("root/new")
	if err != nil {
		t.Fatal(err)
	}
	if st := layertest.Stat(fi); st.UID != 0 || st.GID != 0 {
		t.Errorf("root/new: uid %d gid %d, want 0 0", st.UID, st.GID)
	}
}

// TestPermReadOnly: on an overlay without upper every change is EROFS,
// checked before the caller's permission as the kernel checks the mount
// before the inode; reads are still checked.
func TestPermReadOnly(t *testing.T) {
	s := layertest.MustParse(permFixture + "-- lower2 --\ndir empty\n")
	fsys := memStackFS(t, s)
	ops := mustOps(strings.Join([]string{
		"chmod pub/other 0600 => EROFS",
		"chown pub/other 1000 1000 => EROFS",
		"chtimes pub/other 1 2 => EROFS",
		"truncate pub/other 0 => EROFS",
		"setxattr pub/other user.a v => EROFS",
		"removexattr pub/other user.u => EROFS",
		"open h1 pub/other w => EROFS",
		"mkdir root/d => EROFS",
		"mkdir root/sub => EEXIST",
		"remove root/ro => EROFS",
		"rename root/ro own/ro => EROFS",
		"readfile pub/secret => EACCES",
		"stat priv/f => EACCES",
		"readfile pub/mine => ok",
	}, "\n"))
	checkWants(t, "read-only view", "", ops, runScript(fsys.As(permCaller), ops, runConfig{}))
}

// memStackFS is an overlay over in-memory layers built from s, closed when
// the test ends.
func memStackFS(t *testing.T, s layertest.Stack) *overlay.FS {
	t.Helper()
	o, err := layertest.MemOptions(s)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := overlay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}
