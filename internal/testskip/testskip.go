// Package testskip is the one way the project's tests skip: only where a
// facility is truly absent (not root, no overlay in /proc/filesystems, a
// backend without symlinks). Each skip is logged with its reason to the
// file named by $OVERLAY_SKIP_LOG, so that CI can say how many ran.
package testskip

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var mu sync.Mutex

// Skip logs the reason and skips t.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if p := os.Getenv("OVERLAY_SKIP_LOG"); p != "" {
		mu.Lock()
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s\n", t.Name(), reason)
			f.Close()
		}
		mu.Unlock()
	}
	t.Skip(reason)
}
