// Quickstart builds an in-memory overlay of two lower layers and one
// upper layer, changes it, and prints the merged tree and what landed in
// the upper layer.
package main

import (
	"fmt"
	"io/fs"
	"log"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/spf13/afero"

	"github.com/go-overlay/overlay"
)

func main() {
	// The base layer: a small project tree.
	base := overlay.NewMemFS()
	must(base.MkdirAll("etc", 0o755))
	must(base.WriteFile("etc/app.conf", []byte("level=info\n"), 0o644))
	must(base.MkdirAll("src/lib", 0o755))
	must(base.WriteFile("src/main.go", []byte("package main\n"), 0o644))
	must(base.WriteFile("src/lib/util.go", []byte("package lib\n"), 0o644))
	must(base.WriteFile("README", []byte("old readme\n"), 0o644))

	// A layer on top of it that deletes README (a whiteout: char 0/0)
	// and adds a file.
	patch := overlay.NewMemFS()
	must(patch.Mknod("README", syscall.S_IFCHR, 0))
	must(patch.MkdirAll("src", 0o755))
	must(patch.WriteFile("src/version.go", []byte("package main\nconst v = 2\n"), 0o644))

	upper := overlay.NewMemFS()
	ofs, err := overlay.New(overlay.Options{
		Lower: []*overlay.Layer{overlay.MemLayer(patch), overlay.MemLayer(base)}, // top-most first
		Upper: overlay.MemLayer(upper),
	})
	must(err)
	defer ofs.Close()

	// Change the merged tree: edit a lower file (copy-up), delete a lower
	// dir (whiteout), make a new dir.
	must(afero.WriteFile(ofs, "etc/app.conf", []byte("level=debug\n"), 0o644))
	must(ofs.RemoveAll("src/lib"))
	must(ofs.MkdirAll("build/out", 0o755))
	must(afero.WriteFile(ofs, "build/out/app", []byte("binary"), 0o755))

	fmt.Println("merged tree:")
	printTree(ofs.IOFS())
	fmt.Println("\nupper layer (the kernel's on-disk format: c--------- is a whiteout):")
	printUpper(upper, "")
}

// printUpper lists a MemFS as it is, whiteouts and opaque markers included.
func printUpper(m *overlay.MemFS, dir string) {
	ents, err := m.ReadDir(dir)
	must(err)
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		info, err := e.Info()
		must(err)
		line := fmt.Sprintf("  %-22s %v", p, info.Mode())
		if v, err := m.Getxattr(p, "trusted.overlay.opaque"); err == nil {
			line += fmt.Sprintf("  trusted.overlay.opaque=%q", v)
		}
		if info.Mode().IsRegular() {
			data, err := m.ReadFile(p)
			must(err)
			line += fmt.Sprintf("  %q", strings.TrimSpace(string(data)))
		}
		fmt.Println(line)
		if e.IsDir() {
			printUpper(m, p)
		}
	}
}

func printTree(fsys fs.FS) {
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("  %-22s %v", p, info.Mode())
		if info.Mode().IsRegular() {
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf("  %q", strings.TrimSpace(string(data)))
		}
		fmt.Println(line)
		return nil
	})
	must(err)
}

func must(err error) {
	if err != nil {
		log.Output(2, err.Error())
		os.Exit(1)
	}
}
