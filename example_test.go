package overlay_test

import (
	"fmt"
	"io/fs"
	"log"
	"syscall"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
)

// An in-memory overlay: changes to lower files land in the upper layer,
// removals leave whiteouts.
func ExampleNew() {
	base := overlay.NewMemFS()
	base.MkdirAll("etc", 0o755)
	base.WriteFile("etc/app.conf", []byte("level=info\n"), 0o644)
	base.WriteFile("etc/old.conf", []byte("x\n"), 0o644)

	upper := overlay.NewMemFS()
	ofs, err := overlay.New(overlay.Options{
		Lower: []*overlay.Layer{overlay.MemLayer(base)},
		Upper: overlay.MemLayer(upper),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ofs.Close()

	afero.WriteFile(ofs, "etc/app.conf", []byte("level=debug\n"), 0o644) // copy-up
	ofs.Remove("etc/old.conf")                                           // whiteout

	merged, _ := fs.ReadDir(ofs.IOFS(), "etc")
	for _, e := range merged {
		fmt.Println("merged:", e.Name())
	}
	data, _ := upper.ReadFile("etc/app.conf")
	fmt.Printf("upper etc/app.conf: %q\n", data)
	fi, _ := upper.Lstat("etc/old.conf")
	fmt.Println("upper etc/old.conf is a whiteout:", fi.Mode()&fs.ModeCharDevice != 0)
	orig, _ := base.ReadFile("etc/app.conf")
	fmt.Printf("lower etc/app.conf: %q\n", orig)
	// Output:
	// merged: app.conf
	// upper etc/app.conf: "level=debug\n"
	// upper etc/old.conf is a whiteout: true
	// lower etc/app.conf: "level=info\n"
}

// A writable sandbox over read-only data on any afero backend.
func ExampleAferoLayer() {
	data := afero.NewMemMapFs()
	afero.WriteFile(data, "/config.toml", []byte("retries = 3\n"), 0o644)

	afero.WriteFile(data, "/logs/today.log", []byte("x"), 0o644)

	sandbox, err := overlay.New(overlay.Options{
		Lower: []*overlay.Layer{overlay.AferoLayer(afero.NewReadOnlyFs(data))},
		Upper: overlay.MemLayer(nil),
		// Dirs of the lower layer can be renamed (else EXDEV, as on the
		// kernel); the redirects this writes need a MemLayer upper.
		RedirectDir: overlay.RedirectOn,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sandbox.Close()

	afero.WriteFile(sandbox, "config.toml", []byte("retries = 5\n"), 0o644)
	inSandbox, _ := afero.ReadFile(sandbox, "config.toml")
	onData, _ := afero.ReadFile(data, "/config.toml")
	fmt.Printf("sandbox: %q, data: %q\n", inSandbox, onData)
	fmt.Println("rename logs:", sandbox.Rename("logs", "old-logs"))
	// Output:
	// sandbox: "retries = 5\n", data: "retries = 3\n"
	// rename logs: <nil>
}

// An overlay without an upper layer is read-only.
func ExampleOptions_readOnly() {
	a, b := overlay.NewMemFS(), overlay.NewMemFS()
	a.WriteFile("a.txt", []byte("a"), 0o644)
	b.WriteFile("b.txt", []byte("b"), 0o644)
	ofs, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.MemLayer(a), overlay.MemLayer(b)}})
	if err != nil {
		log.Fatal(err)
	}
	err = ofs.Mkdir("new", 0o755)
	fmt.Println(err, err.(*fs.PathError).Err == syscall.EROFS)
	// Output: mkdir new: read-only file system true
}
