package overlay_test

import (
	"fmt"
	"log"

	"github.com/go-overlay/overlay"
)

// A new upper layer records the on-disk features the overlay uses, the
// first time it uses each: renaming a merged dir copies it up (an origin,
// in an impure parent) and writes a redirect.
func ExampleReadFeatures() {
	base := overlay.NewMemFS()
	base.MkdirAll("src/pkg", 0o755)
	upper := overlay.MemLayer(nil)
	ofs, err := overlay.New(overlay.Options{
		Lower:       []*overlay.Layer{overlay.MemLayer(base)},
		Upper:       upper,
		RedirectDir: overlay.RedirectOn,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ofs.Close()
	f, _, _ := overlay.ReadFeatures(upper)
	fmt.Println(f)
	if err := ofs.Rename("src", "lib"); err != nil {
		log.Fatal(err)
	}
	f, _, _ = overlay.ReadFeatures(upper)
	fmt.Println(f)
	// Output:
	// compat=feature_set,uuid
	// compat=feature_set,origin,impure,uuid incompat=redirect_dir
}
