// Package overlay gives Go programs the Linux overlay filesystem without
// a kernel mount: read-only lower layers and one writable upper layer
// merged into one tree, read through io/fs and written through an
// afero.Fs-shaped API, with the kernel's semantics and, on Linux, the
// kernel's on-disk format.
//
// # Layers
//
// A [Layer] is one branch of the overlay. Four kinds:
//
//   - [MemLayer]: an in-memory filesystem ([MemFS]) in the kernel's
//     format: char 0/0 whiteouts, trusted.overlay.* xattrs, hard links,
//     symlinks, modes, owners, times, stable inode numbers. Every overlay
//     feature works on it. Populate a lower with the MemFS methods.
//   - [AferoLayer]: any afero.Fs (OsFs, BasePathFs, MemMapFs, read-only
//     archives). Such backends hold neither device nodes nor xattrs, so
//     whiteouts and opaque dirs are written in-band with the OCI image
//     conventions: ".wh.NAME" deletes NAME from the layers below,
//     ".wh..wh..opq" makes its dir opaque, and no ".wh." name is ever
//     shown. As an upper, its work area is the dir ".wh..wh.work" at its
//     root (hidden by the same rule). On such an upper: Setxattr and
//     Removexattr fail with EOPNOTSUPP, Link and Mknod with EPERM,
//     Symlink with EPERM unless the backend implements afero.Linker, and
//     names beginning ".wh." cannot be created (EINVAL). Every feature of
//     the kernel that stores private xattrs (redirect_dir=on, index,
//     metacopy, nfs_export, origin-based inode numbers) needs a layer that
//     holds xattrs: a MemLayer or a DirLayer. New refuses redirect_dir=on,
//     metacopy=on, index=on and nfs_export=on over an afero upper (an
//     *OptionError wrapping EINVAL); with the default redirect_dir, the
//     rename of a dir a lower layer has is EXDEV, as on the kernel.
//   - [DirLayer] (Linux): a directory on disk in the kernel's exact
//     format, so an upper written here mounts with mount -t overlay and
//     an upper the kernel wrote opens here. Every access is confined
//     beneath the layer's root with openat2(RESOLVE_BENEATH |
//     RESOLVE_NO_SYMLINKS): no symlink, ".." or crafted name in a layer
//     makes the library touch anything outside it. A DirLayer upper needs
//     a DirLayer work dir (Options.Work) on the same filesystem, as the
//     kernel's workdir=. Elsewhere DirLayer returns errors.ErrUnsupported.
//   - [OverlayLayer]: another overlay's merged tree, as a read-only lower
//     layer, as the kernel stacks an overlay on an overlay mount (two
//     levels at most). The inner overlay shows its escaped
//     trusted.overlay.overlay.* xattrs unescaped, so xattr whiteouts and
//     opaque markers written through it for an outer overlay take effect
//     there.
//
// # Semantics
//
// Lookup, whiteouts, opaque dirs, copy-up, readdir and the directory
// operations follow the kernel (Linux 6.18) with default module
// parameters, and the tests compare the library with a real kernel mount
// (see the README's test section).
//
//   - Lookup: the upper first, then each lower, top-most first; a whiteout
//     (char 0/0, or a zero-size file with the whiteout xattr) hides the
//     name below it; a non-dir ends the search; dirs merge until an opaque
//     one (opaque xattr exactly "y"); opaque markers are not read in the
//     bottom-most lower layer.
//   - Readdir of a merge dir: the lowest layer's names first in that
//     layer's order, then the remaining names top-down, each layer in its
//     own order; whiteouts never listed. [FS.ReadDir] sorts, like
//     os.ReadDir; [File.ReadDir] and [File.Readdir] keep the kernel's
//     order. Seeking a dir to 0 re-reads it; SEEK_END on a merge dir is
//     EINVAL.
//   - Copy-up, on open for writing or O_TRUNC, Truncate, Chmod, Chown,
//     Chtimes, Setxattr, Removexattr (when the attribute exists), Link,
//     Rename and any creation or removal in a lower dir: ancestors first;
//     the copy (data, xattrs but the overlay's private ones, mode, owner,
//     atime and mtime) is built in the work dir and renamed into place, so
//     a crash never shows a partial object; the parent's times are
//     restored; the copy records its origin (the lower object's file
//     handle, the kernel's struct ovl_fb bytes; empty where a layer has no
//     handles) and marks its parent impure. O_TRUNC copies no data.
//     Between native layers the data is cloned (FICLONE) where the
//     filesystem shares extents (xfs, btrfs), else copied with
//     copy_file_range over the source's data segments, so holes stay
//     holes; elsewhere it is copied through a buffer and 1 MiB runs of
//     zeros become holes.
//   - Removing a name a lower layer has leaves a whiteout; mkdir over a
//     whiteout makes an opaque dir; rmdir of a dir that shows entries is
//     ENOTEMPTY, lower entries included.
//   - Rename has rename(2)'s rules (a dir may replace an empty dir,
//     unlike os.Rename on some platforms; ENOTDIR, EISDIR, EINVAL into its
//     own subtree). Renaming a dir that a lower layer has fails with EXDEV,
//     as on the kernel, unless redirect_dir=on: then the dir is copied up
//     alone and given a redirect xattr (relative within one parent, else
//     absolute, at most 256 bytes), and every new dir in a merge dir is
//     opaque. A pure upper dir moved into a merge dir is made opaque.
//   - Redirects found in layers (written by the library, by a kernel
//     with redirect_dir=on, or by hand) are followed as the kernel does
//     (redirect_dir=follow, the default); with nofollow meeting one is
//     EPERM. A value is read up to its first NUL; a malformed one ("a/b",
//     "/a//b", "/", "") is EINVAL, and one naming ".", ".." or an empty
//     name is EACCES when a layer is searched under it, so none can point
//     outside a layer. The bottom layer's are not read, nor an opaque
//     dir's, nor (with nofollow) those of the last layer searched.
//   - An open file keeps its backing file: a file opened read-only before
//     a copy-up reads the upper copy after it, at the same offset.
//   - A write on an O_APPEND file lands at the end of the file as one step
//     with every other writer of the object (other open files, other
//     names of the inode), as write(2) on an O_APPEND descriptor does:
//     natively it is that write(2); in memory and on afero layers the
//     backend finds the end and writes under one lock.
//   - An overlay without upper is read-only: every change is EROFS.
//   - Errors are *fs.PathError or *os.LinkError with the overlay path and
//     the errno the kernel returns for the same operation.
//   - Stat's Sys() is a *syscall.Stat_t. With all layers on one
//     filesystem st_dev is the overlay's own and st_ino the real inode's;
//     otherwise dirs get the overlay's st_dev and an overlay-allocated
//     st_ino, and non-dirs keep the st_dev and st_ino of their layer (the
//     kernel's rules for xino=off). With xino=on (or auto, when the
//     layers allow it) every object shows the overlay's st_dev and its
//     real inode number with the filesystem's slot in the high bits (32
//     bits for ext4-like filesystems, else ilog2(filesystems-1)+2); as on
//     the kernel, readdir of a merge dir then looks every entry up, so an
//     entry whose lookup finds nothing is left out and one whose lookup
//     fails (a malformed redirect) fails the readdir. A
//     copied-up dir, or file whose lower had one link, keeps the numbers
//     of its origin. A merge dir has st_nlink 1.
//   - New checks the layers as a mount does: upperdir and workdir on one
//     mount (EINVAL otherwise, a bind mount being another mount), and no
//     lower root beneath another layer's root in the filesystem (ELOOP),
//     however bind mounts show them. It prepares the work dir as a mount
//     does (W/work, whatever it is, is removed and recreated; an upper
//     marked incompat, such as by a volatile mount, is refused with
//     EINVAL) and stores the overlay UUID on a new upper (uuid=auto). It
//     does not scan the lower layers. Every check comes before the first
//     change to the upper or work dir.
//   - On an upper whose filesystem holds no xattrs (ramfs) New falls back
//     as the kernel: redirect_dir=nofollow, uuid=null, metacopy, index and
//     nfs_export off, xino=auto off; a dir over a whiteout, or the removal
//     or replacement of a dir holding whiteouts, fails with EIO, and where
//     the filesystem lacks RENAME_WHITEOUT, a rename that leaves a
//     whiteout fails with EINVAL, before any change. [FS.Options] shows
//     every fallback, as /proc/mounts does.
//
// # Options
//
// [ParseOptions] takes the kernel's mount option string; [Options] can
// also be built in Go. Every option is validated with the kernel's rules
// and conflicts. redirect_dir=on|follow|nofollow|off work as on the
// kernel, and so do xino=off|auto|on, index=on, nfs_export=on,
// metacopy=on, verity=on|require and data-only layers.
//
// # File handles (nfs_export)
//
// [FS.Handle] gives the bytes the kernel's name_to_handle_at gives for an
// overlay object (type [HandleType], 0xf8): three zero bytes and the
// struct ovl_fb of the object's upper inode (pure upper objects, the
// root) or of its origin in a lower layer (lower and copied-up objects),
// so that a handle outlives copy-up and rename. With nfs_export=on (which
// needs index, as on the kernel) every copy-up is indexed, dirs included,
// and a removed indexed object leaves a whiteout in the index;
// [FS.OpenByHandle] opens the object a handle names, wherever it is now,
// and gives ESTALE for a removed object or a forged handle.
//
// # Index
//
// With index=on a lower file with several hard links keeps them through
// copy-up: the first name copied up becomes the index entry W/index/<hex
// of its origin handle>, every other name links to it when it is copied
// up (no data copied) or is read from it before, and the entry's nlink
// xattr ("U+N") keeps the overlay's link count, so that all names show the
// same data, st_nlink and st_ino. The entry goes when its last name does.
// New checks the upper root's origin against the top lower root (ESTALE
// for another lower set), records the upper root on the index dir,
// verifies the entries as a mount does (a malformed entry refuses New;
// leftover temporaries, stale entries and orphans are dropped), and
// refuses an upper another FS of the process uses (EBUSY; also when the
// work dir is in use), before it changes anything. With metacopy=on an
// entry may hold metadata only, as the kernel's do. As on the kernel,
// index falls back to off where a layer has no file handles, the upper
// has no xattrs, or two lower filesystems share a UUID; a filesystem
// without a UUID (ext4 created without one, for instance) keeps index
// on, as it does on the kernel.
//
// # Metacopy and data-only layers
//
// With metacopy=on (which needs redirect_dir=on, as on the kernel) Chmod,
// Chown, Chtimes, Setxattr, Removexattr, Rename and Link of a lower
// regular file copy up its metadata only: an upper file of the full size
// with no data, marked with the metacopy xattr, whose data is read from
// below until an open for writing, O_TRUNC or Truncate copies it in
// place and drops the marker (a crash in between leaves the marker, and
// the data below). A renamed or linked metacopy file gets a redirect to
// keep its data. Its st_blocks are its data's. Meeting a metacopy file
// with metacopy off is EPERM; one whose data cannot be found is EIO.
//
// Data-only layers (Options.DataOnly, "lowerdir=a::data", datadir+=) are
// not part of the merged tree: a metacopy file in a regular lower layer
// with an absolute redirect takes its data from the first data-only layer
// holding a regular file at that path, looked up at the first open
// (ENOENT there if none; a relative redirect is EPERM). They work without
// metacopy=on; a metadata change of such a file then copies it up whole.
//
// verity=on stores, at a metadata-only copy-up, the fs-verity digest of
// the data (SHA-256, 4096-byte blocks, no salt) in the metacopy xattr, and
// checks a stored digest against the data before it is first read or
// copied (EIO on a mismatch); verity=require also refuses metacopy files
// without one. The kernel asks the data file's filesystem for its
// fs-verity digest; the library computes it, so verity works on every
// layer kind and on filesystems without fs-verity (a deviation: the kernel
// would refuse such data with verity=require). fsync=auto|strict sync copied-up data before it is
// renamed into place; fsync=volatile (or volatile) skips that and marks the
// work dir as the kernel does. userxattr stores private xattrs as
// user.overlay.*. default_permissions and override_creds are accepted and
// change nothing (the caller's permission is always checked, and the
// layers are always written as the process).
//
// # Feature sets
//
// A layer may record which on-disk features its content uses, in the
// P.feature xattr of its root ([FeatureSet]: compat, ro-compat and
// incompat bits, as ext4 has them), so that a reader that would misread
// it refuses it instead. New reads the record of every layer that keeps
// private xattrs: an unknown incompat bit refuses the layer (EINVAL), an
// unknown ro-compat bit refuses it as the upper (EROFS; it may still be a
// lower), a record that cannot be decoded refuses it (EINVAL); unknown
// compat bits are ignored and kept. A new (empty) upper gets a record, and
// the upper's door adds a feature's bit before the first change that uses
// it (origin, impure, uuid, redirect, metacopy, the index), so that no
// crash leaves a feature used and not recorded; [FS.Features] reports it.
// An upper that was not new when first opened here and has no record (one
// the kernel wrote) gets none, since it would not list what the layer
// already holds; overlay fsck can build one from the content. Lower layers
// are never written. [FormatLayer] gives a fresh layer a record, as
// mkfs.overlay does.
//
// The kernel ignores the record, and does not update it when it changes a
// layer: a record lists at least the features the library used, and the
// checker adds the bits of what it finds.
//
// # Checking layers
//
// [Check] reads the layers of an overlay offline, as fsck.overlay does,
// through the same codec the FS reads them with, and reports each
// inconsistency as a [Problem] with its repair; [CheckMode] says which
// repairs are made (none, the safe ones, all, or those a callback
// approves). Layers are walked from the bottom up, each dir with the stack
// of dirs it merges with below, found as a lookup finds them, so that a
// whiteout's "nothing below" and a redirect's target mean what they mean
// to the kernel. A repair goes through a door as an FS's changes do, one
// change at a time in an order that a stopped run leaves repairable by
// the next. Every scenario of the kernel-differential suite, run by the
// kernel or by the library from a clean fixture, leaves layers in which
// Check finds nothing. cmd/overlay is the command (fsck, features).
//
// # Permissions and callers
//
// The kernel checks every access twice: the caller's permission on the
// overlay's inode (mode and owner of the upper object, else of the top
// lower one), then the mounter's on the layers. The library does the same
// with the process as the mounter: the backends are used with the
// process's privileges, and the caller's permission is checked first, as
// generic_permission does. The caller is the process (its effective uid,
// gid and groups at New; for root no check fails), or the [Cred] of a
// view made by [FS.As]:
//
//	v := fsys.As(overlay.Cred{Uid: 1000, Gid: 1000, Groups: []uint32{1000, 2000}})
//	f, err := v.OpenFile("srv/data", os.O_RDWR, 0) // EACCES unless uid 1000 may write it
//
// A view shares everything with its FS (cache, locks, upper layer); its
// Close does nothing. This is how a file server on the library (9P, NFS,
// FUSE, WebDAV) serves each client as itself: copy-up, whiteouts and
// private xattrs are written as the process, so a client may write,
// chmod or set the times of a lower file it owns in a dir only root may
// write, as on the kernel. (A view rather than a credential argument on
// every method keeps the afero.Fs method set, so a view serves wherever
// an FS does.) The checks, as the kernel's on the overlay inode:
//
//   - Search (x) on every dir a walk looks a name up in (EACCES).
//   - Open: read and/or write by the access mode, write for O_TRUNC; a
//     dir (ReadDir) needs read.
//   - Create, mkdir, mknod, symlink, link, unlink, rmdir, rename: write
//     and search on the parent(s); in a sticky dir only the owner of the
//     object or of the dir removes or renames it away (EPERM); moving a dir
//     to another parent needs write on it. Link follows protected
//     hardlinks (the usual distribution setting of fs.protected_hardlinks):
//     only the owner, or one who may read and write a regular file that is
//     neither setuid nor setgid-executable, may link it (EPERM). Char and
//     block devices only for root (EPERM).
//   - Chmod, and Chtimes (which always sets explicit times): the owner
//     only (EPERM); chmod drops setgid when the caller is not in the
//     file's group. Chown: only root changes the owner; the owner may set
//     the group to one of its groups (EPERM).
//   - Truncate needs write. A write or truncation by a caller other than
//     root drops setuid, and setgid when group-execute is set (or the
//     caller is not in the group), as file_remove_privs does.
//   - Xattrs: user.* need read or write permission and exist only on
//     regular files and dirs (EPERM to set, ENODATA to get elsewhere); in a
//     sticky dir only its owner sets them; trusted.* are root's (EPERM,
//     ENODATA), and Listxattr shows them to root only. security.* and
//     system.* are not checked.
//   - OpenByHandle is root's (CAP_DAC_READ_SEARCH; EPERM).
//   - Uid 0 reads and writes anything, searches any dir, executes what
//     has an execute bit, and passes every owner check.
//
// Objects a view creates are owned by its uid, and by its gid or, in a
// setgid dir, the dir's (a new dir there is setgid too; a setgid,
// group-executable file made there by a caller outside the dir's group
// loses setgid), as the kernel creates them with the caller's fsuid and
// fsgid.
//
// # Caching
//
// Lookups are cached (the kernel's dentry cache): lower layers do not
// change while in use, and every change to the upper goes through the FS,
// so a warm Stat makes no system call at all. The cache is bounded: past
// 131072 nodes it is dropped whole and refilled as names are used again.
//
// # Architecture
//
// The package holds FS and the kernel's semantics, cut as the kernel's
// fs/overlayfs is: walk.go and lookup.go (path walks, ovl_lookup, the
// node cache), readdir.go (merged listings), copyup.go, dir.go (create
// and remove), rename.go, setattr.go, xattr.go, index.go and origin.go
// (the index and origin handles), metacopy.go, handle.go (file handles).
// A call comes in through the API (methods.go, open.go, file.go,
// iofs.go), walks the path, looking each name up in the layers into a
// cached node, and, for a change, takes the namespace lock
// (lockForChange), copies up what must move to the upper and changes the
// upper through its door (upper.go): the only code that writes a layer.
//
// The packages below it:
//
//   - internal/layer, the layer contract: the backend a layer provides,
//     split in a read side (layer.Reader: all an FS holds of a lower
//     layer, which it therefore cannot write) and a write side
//     (layer.Writer, held by the upper's door alone), the optional
//     interfaces some storage can offer (file handles, tree walks by
//     descriptor, RENAME_WHITEOUT), and what every backend shares (name
//     limits, per-OS errno and open-flag values, mode conversions).
//   - internal/ondisk, the codec of the on-disk format: the kernel's
//     private xattrs (file handles, index names, nlink, redirect,
//     metacopy) and the reading of a layer's markers in the kernel's
//     format or the OCI one, over the read side of the contract, so that
//     code without an FS (an offline checker, an exporter) reads a layer as
//     the FS does.
//   - the backends: internal/memfs (the in-memory filesystem behind MemFS
//     and MemLayer), internal/aferolayer (any afero.Fs, in the OCI
//     format), internal/native (a host directory in the kernel's format,
//     confined by openat2, with reflink and copy_file_range for copy-up).
//     The root's layer.go and dirlayer.go build a Layer on each; stack.go,
//     the one backend left in the root, reads another FS as a layer and
//     needs its internals.
//
// Within one FS a layer is a branch (its format, capabilities and xattr
// prefix); one layer's copy of a dir in a listing is a dirLayer.
// format_kernel.go and format_oci.go adapt the codec to a branch and write
// the markers (whiteouts, opaque dirs) through the door; treewalk.go walks
// trees by directory descriptors, merged across layers.
//
// # Concurrency and lock order
//
// An FS is safe for concurrent use. Locks, outermost first (a lock is
// only taken while holding those above it, never the other way):
//
//  1. File.mu: one open file's offset, backing file and listing;
//  2. node.cu, one per cached name: serialises the copy-up of that object
//     (a parent's copy-up completes before its child's starts);
//  3. FS.mu, the namespace lock: read-held by lookups, stat and reads of
//     the cache, write-held by every change of the namespace and by the
//     final rename of a copy-up (never while data is copied);
//  4. node.mu: a node's children map;
//  5. each backend's own locks.
//
// # Deviations from the kernel
//
//   - A new upper layer gets the P.feature xattr on its root (see Feature
//     sets), which the kernel neither writes nor reads.
//   - Symlinks resolve inside the overlay: the overlay root is "/" for
//     absolute targets and ".." stops at it, as in a chroot; the kernel
//     resolves absolute targets against the process's root.
//   - Permission checks use the mode bits only: POSIX ACLs in the layers
//     are not consulted, nor are security modules, immutable or append-only
//     flags. Protected hardlinks are always on and protected symlinks,
//     FIFOs and regular files off, whatever the host's fs.protected_*
//     settings. The in-memory and afero layers enforce no permission bits
//     of their own: the checks of the caller are the only ones there.
//   - The caller's permission is checked on every dir of a walk with an
//     lstat of its upper object, which a root caller is spared: walks by
//     other callers make system calls even when the cache is warm.
//   - Chtimes cannot ask for the current time (UTIME_NOW), which the
//     kernel grants to anyone with write permission: its times are always
//     explicit, for the owner only.
//   - Modes given to creations are masked with the process umask read
//     once, at New.
//   - When not run as root, New makes W/work mode 0700 rather than the
//     kernel's 0000, which only root can enter.
//   - The kernel decodes an upper object's origin xattr (a file handle)
//     in the lower filesystem to find the object whose inode number it
//     shows; the library looks under the same name first and otherwise in
//     a map of the lower layers' objects by handle, built on first need by
//     walking the layers, so that it never reaches outside a layer (the
//     first such lookup costs a walk of the lower layers). As on the
//     kernel, a merge dir found without an origin is given one on lookup
//     and its parent marked impure.
//   - With index=on New verifies the index entries as a mount does
//     (malformed names, missing origins: refused; stale and orphan
//     entries: dropped), but finds an entry's origin by walking the
//     lower layers rather than decoding its handle, and of a dir entry
//     (nfs_export) checks only that it names an upper dir, not that the
//     dir is still there. Where an entry's link count
//     contradicts the upper (an upper name removed behind the overlay's
//     back), removing the last name the count knows of drops the entry;
//     the kernel keeps it linked, with a count that then reads as
//     invalid. EBUSY guards an upper against a second FS
//     of the same process, not against a kernel mount or another process.
//     Copy-up temporaries are made in W/work (the kernel uses W/index
//     then), and whiteouts do not share one inode.
//   - Renaming away from a name a lower layer has moves the object and
//     leaves the whiteout in one step (RENAME_WHITEOUT) on native and
//     in-memory layers, as the kernel. On a filesystem without
//     RENAME_WHITEOUT (where the kernel's rename fails EINVAL) the target
//     is first replaced by a whiteout and the two names then exchanged:
//     a crash in between shows the target removed and the source still
//     in place. OCI layers write the source's ".wh." file first, then
//     rename, then drop the target's; a layer without exchange renames
//     and then whites out, and a crash in between shows the lower object
//     again at the old name.
//   - The rmdir of a merge dir with whiteouts inside exchanges it with a
//     whiteout and then deletes the whiteouts, as the kernel; a rename
//     over such a dir first swaps it for an empty opaque copy built in the
//     work dir (ovl_clear_empty); in OCI layers the target is whited out
//     first (a crash in between shows it removed), and in layers without
//     exchange it is emptied in place.
//   - With index=on, unlinking a lower name of a hard-linked file whose
//     index entry exists links it up first and then whites it out, so the
//     union link count is right after a crash at any point; the kernel
//     leaves the name unlinked and only writes the whiteout and the new
//     count (the result on disk is the same).
//   - A buffered copy (from or to a non-native layer) leaves holes for
//     1 MiB runs of zero bytes, where the kernel skips only the holes the
//     lower file has.
//   - A mount point inside a native layer shows the dir it covers, as on
//     the kernel, only where the process may clone mounts (CAP_SYS_ADMIN,
//     for open_tree(2)); otherwise a path through it fails EXDEV.
//   - Device nodes, FIFOs and sockets in native layers are never opened
//     (EACCES, as on a nodev mount): a layer's device node must not reach
//     a host driver, and opening a FIFO could block forever.
//   - On non-dirs spread over several filesystems (xino off), st_dev is
//     the real device of the layer, not an anonymous pseudo device.
//   - Whether a filesystem encodes file handles with the kernel's generic
//     encoder (which decides xino's bits) is judged from its handles:
//     type 1 with 8 bytes.
//   - In-memory layers name their objects with handles of their own
//     (fid type 0x4d: the inode number), and have a random UUID each.
//   - OpenByHandle finds the object by looking through the overlay (the
//     handles an FS gave out are remembered; a lower object's is found in
//     the map of the lower layers by handle, then under its name), never
//     by opening what the handle names in a layer's filesystem as the
//     kernel does, so a handle cannot reach anything outside the layers.
//     A handle is first checked against the layers' UUIDs and, on a
//     native layer where the process may decode handles
//     (CAP_DAC_READ_SEARCH), decoded only to see that it names a live
//     object: a forged one is ESTALE at once. Costs that grow with the
//     tree remain for real objects only: the first lower handle builds
//     the map (a walk of the lower layers, once per FS; without the
//     privilege a forged lower handle pays it too), a copied-up lower
//     object no longer under its lower name is searched for in the merged
//     tree, and a pure upper object whose handle this FS did not give out
//     in the upper layer.
//   - With nfs_export the kernel shows, for a copied-up file whose lower
//     had one link, the lower's link count (moved by later links and
//     unlinks) while its inode stays cached, and the upper inode's
//     afterwards. The library shows the first for files copied up while
//     the FS is open and the second for those found copied up at New,
//     as the kernel after a remount; it does not mimic the kernel's
//     eviction of unused inodes.
//   - New checks everything it can before it changes anything: an upper
//     marked incompat, a lower root nested in another layer's root, an
//     index that belongs to other layers (ESTALE) or an upper in use
//     (EBUSY) are refused with the upper and work dir untouched, where
//     the kernel may first have emptied W/work.
//   - Where /proc/self/mountinfo cannot be read, a lower root on another
//     mount of the same device as another layer's root is refused (ELOOP),
//     as whether it is nested cannot be told; before Linux 5.8 (no mount
//     id from statx) mounts are told apart by st_dev and nesting by path.
//   - The kernel probes the upper's xattr support by setting an xattr on
//     W/work; New reads one from W, so a filesystem that reads but cannot
//     write xattrs is not detected. RENAME_WHITEOUT is probed on native
//     upper layers only.
//   - A lower object whose xattr names exceed 64 KiB in total cannot be
//     copied up: the kernel lists them inside the kernel and copies them
//     all, but no system call lets a process list more than 64 KiB of
//     names (listxattr fails E2BIG), so the copy-up fails with E2BIG and
//     leaves nothing behind rather than copy some of them. Listxattr of
//     such an object fails E2BIG on both.
//   - A path given to the library may be PATH_MAX (4096) bytes long or
//     longer; the kernel refuses such a string with ENAMETOOLONG, and a
//     process reaches deeper objects of its mount by walking relative to
//     open dirs, which this API has no form of. Native layers reach
//     objects at any depth (resolving long paths in pieces), and
//     RemoveAll removes trees of any depth, as os.RemoveAll on a mount.
//     RemoveAll checks a tree and, where removing it at once ends as
//     removing it entry by entry would, removes it in one walk by
//     directory descriptors, its cost linear in the tree however deep.
//     That covers the trees a mount leaves: files copied up (origin,
//     impure dirs), names removed from merged dirs (whiteouts), opaque
//     dirs, dirs moved (redirects, each absolute one costing a lookup
//     from the root), and lower layers' whiteouts and opaque dirs. A tree
//     holding what makes some lookup or rmdir fail (a metacopy file, a
//     redirect where they are not followed, a malformed or unknown
//     marker, a whiteout in a dir that cannot hold one), with index=on a
//     hard-linked file or an indexed copy, with nfs_export an upper dir
//     with an origin, or one removed by a caller other than root goes
//     entry by entry, as the kernel removes it, each step resolving its
//     path from the layer root: there the cost grows with depth times
//     size.
//   - Two overlay dirs that merge the same lower dir (a hand-written
//     redirect to a lower dir still visible under its own name) are both
//     shown; the kernel fails the lookup of whichever is looked up second
//     with ESTALE while the first is in its inode cache, which depends on
//     cache state no caller can see. (What the index records is followed
//     as the kernel does: with nfs_export a dir whose lower dir's index
//     entry names another upper dir, or was whited out, fails with EIO.)
//   - Stat's Sys() is nil outside Linux.
//   - Directory positions (File.Seek) are the kernel's on native layers:
//     a dir of one layer is read through the layer's own descriptor, with
//     that file system's positions; in a merged listing a position is an
//     index that counts whiteouts, and "." and ".." where the lowest
//     layer lists them. On afero and MemFS layers "." and ".." count
//     first.
//   - An open dir that is removed stats, on an afero or MemFS upper, as
//     empty (size 0) and unlinked, as ext4 shows it; a native upper holds
//     the dir across the removal and shows what its file system left.
//   - An open file follows renames of its name and of dirs above it (the
//     kernel's file keeps its inode), but not the lookup cache being
//     dropped: a read-only file opened on a lower layer then keeps
//     reading the lower copy.
package overlay
