package overlay_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/go-overlay/overlay"
)

// A file server acts for each client through a view: the client's
// permissions are checked, and copy-up is done as the process.
func ExampleFS_As() {
	lower := overlay.NewMemFS()
	lower.Mkdir("srv", 0o755)
	lower.Chown("srv", 0, 0)
	lower.WriteFile("srv/data", []byte("v1"), 0o644)
	lower.Chown("srv/data", 1000, 1000)

	fsys, err := overlay.New(overlay.Options{
		Lower: []*overlay.Layer{overlay.MemLayer(lower)},
		Upper: overlay.MemLayer(nil),
	})
	if err != nil {
		panic(err)
	}
	defer fsys.Close()

	alice := fsys.As(overlay.Cred{Uid: 1000, Gid: 1000})
	bob := fsys.As(overlay.Cred{Uid: 1001, Gid: 1001})

	// Alice owns the file: she may write it and chmod it, though only root
	// may write srv; the copy-up of srv is done as the process.
	f, err := alice.OpenFile("srv/data", os.O_WRONLY|os.O_TRUNC, 0)
	fmt.Println("alice opens for writing:", err)
	if err == nil {
		f.Write([]byte("v2"))
		f.Close()
	}
	fmt.Println("alice chmods:", alice.Chmod("srv/data", 0o600))
	_, err = bob.Open("srv/data")
	fmt.Println("bob reads:", errors.Is(err, syscall.EACCES))
	fmt.Println("bob creates in srv:", errors.Is(bob.Mkdir("srv/new", 0o755), syscall.EACCES))
	// Output:
	// alice opens for writing: <nil>
	// alice chmods: <nil>
	// bob reads: true
	// bob creates in srv: true
}

// TestPermOpenByHandle: opening by handle skips the search permission of
// the dirs above the object, so only root may (CAP_DAC_READ_SEARCH).
func TestPermOpenByHandle(t *testing.T) {
	lower := overlay.NewMemFS()
	lower.WriteFile("f", []byte("x"), 0o644)
	fsys, err := overlay.New(overlay.Options{
		Lower:     []*overlay.Layer{overlay.MemLayer(lower)},
		Upper:     overlay.MemLayer(nil),
		Index:     overlay.SwitchOn,
		NFSExport: overlay.SwitchOn,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	h, err := fsys.Handle("f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.As(overlay.Cred{Uid: 1000, Gid: 1000}).OpenByHandle(h, os.O_RDONLY); !errors.Is(err, syscall.EPERM) {
		t.Errorf("OpenByHandle as uid 1000: %v, want EPERM", err)
	}
	f, err := fsys.As(overlay.Cred{}).OpenByHandle(h, os.O_RDONLY)
	if err != nil {
		t.Fatalf("OpenByHandle as root: %v", err)
	}
	f.Close()
}
