package overlay_test

import (
	"os"
	"testing"

	"github.com/go-overlay/overlay"
)

// TestRemoveAllEmptyName: os.RemoveAll("") fails silently, and so does
// the overlay's (the kernel differential tests cannot name "").
func TestRemoveAllEmptyName(t *testing.T) {
	fsys, err := overlay.New(overlay.Options{Lower: []*overlay.Layer{overlay.MemLayer(overlay.NewMemFS())}, Upper: overlay.MemLayer(overlay.NewMemFS())})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if got, want := fsys.RemoveAll(""), os.RemoveAll(""); got != want {
		t.Errorf("RemoveAll(\"\") = %v, os.RemoveAll gives %v", got, want)
	}
}
