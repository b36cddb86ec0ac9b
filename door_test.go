package overlay

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpperHasOneDoor: the package's code changes the upper layer only
// through upperDoor (upper.go). Outside upper.go no code reaches a door's
// writer, asserts a backend back to its write side, or calls a write
// method on a layer's backend (Layer.b is a full layer.Backend; a
// branch's is a layer.Reader, which the compiler already keeps read-only).
func TestUpperHasOneDoor(t *testing.T) {
	writes := map[string]bool{}
	for _, m := range []string{"Open", "Setxattr", "Removexattr", "Mkdir", "Symlink", "Link", "Mknod",
		"Rename", "Exchange", "Unlink", "Rmdir", "Chmod", "Lchown", "Lutimes", "Truncate",
		"RenameWhiteout", "RemoveTree", "ClearTree"} {
		writes[m] = true
	}
	writeSides := map[string]bool{"Backend": true, "Writer": true, "WhiteoutRenamer": true, "TreeRemover": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "upper.go" {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if n.Sel.Name == "writer" {
					t.Errorf("%s: reaches the upper's writer outside upper.go", fset.Position(n.Pos()))
				}
				// X.b.write(...): a layer's backend written directly.
				if inner, ok := n.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "b" && writes[n.Sel.Name] {
					t.Errorf("%s: writes a layer through its backend (.b.%s), not the upper's door", fset.Position(n.Pos()), n.Sel.Name)
				}
			case *ast.TypeAssertExpr:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && writeSides[sel.Sel.Name] {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "layer" {
						t.Errorf("%s: asserts a layer to its write side (layer.%s) outside upper.go", fset.Position(n.Pos()), sel.Sel.Name)
					}
				}
			}
			return true
		})
	}
	if checked < 20 {
		t.Fatalf("checked %d files: run from the package dir", checked)
	}
}
