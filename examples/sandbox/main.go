// Sandbox shows the unit-test use: a writable overlay over a read-only
// testdata dir. The code under test may create, change and delete files;
// everything it writes lands in an in-memory upper layer, and testdata on
// disk stays untouched.
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
)

func main() {
	_, here, _, _ := runtime.Caller(0)
	testdata := filepath.Join(filepath.Dir(here), "testdata")

	// Any afero.Fs can be a lower layer; a read-only one guarantees that
	// nothing reaches the disk even through a bug.
	lower := afero.NewReadOnlyFs(afero.NewBasePathFs(afero.NewOsFs(), testdata))
	sandbox, err := overlay.New(overlay.Options{
		Lower: []*overlay.Layer{overlay.AferoLayer(lower)},
		Upper: overlay.MemLayer(nil), // a fresh in-memory upper
		// Renaming a dir that the lower layer has works only with
		// redirect_dir=on (the kernel's default fails it with EXDEV);
		// the redirects it writes need an upper with xattrs: a MemLayer.
		RedirectDir: overlay.RedirectOn,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sandbox.Close()

	// The "code under test" rewrites a config, renames its dir, deletes a
	// file, adds one.
	if err := codeUnderTest(sandbox); err != nil {
		log.Fatal(err)
	}

	cfg, _ := afero.ReadFile(sandbox, "settings/app.toml")
	fmt.Printf("in the sandbox, settings/app.toml:\n%s", cfg)
	_, err = sandbox.Stat("greeting.txt")
	fmt.Println("in the sandbox, greeting.txt:", err)
	names, _ := afero.ReadDir(sandbox, "settings")
	fmt.Println("in the sandbox, config/ was renamed settings/, holding", len(names), "file")

	onDisk, _ := os.ReadFile(filepath.Join(testdata, "config/app.toml"))
	fmt.Printf("on disk, config/app.toml is unchanged:\n%s", onDisk)
}

func codeUnderTest(fsys afero.Fs) error {
	if err := afero.WriteFile(fsys, "config/app.toml", []byte("name = \"demo\"\nretries = 5\n"), 0o644); err != nil {
		return err
	}
	if err := fsys.Remove("greeting.txt"); err != nil {
		return err
	}
	if err := fsys.Rename("config", "settings"); err != nil {
		return err // EXDEV without redirect_dir=on
	}
	if err := fsys.MkdirAll("out", 0o755); err != nil {
		return err
	}
	return afero.WriteFile(fsys, "out/report.txt", nil, 0o644)
}
