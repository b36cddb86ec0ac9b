package overlay_test

import (
	"fmt"
	"testing"

	"github.com/go-overlay/overlay"
)

// checkProblems runs overlay.Check without changes on the layers of o and
// returns its problems as strings (kind, layer and path).
func checkProblems(t *testing.T, o overlay.Options) map[string]bool {
	t.Helper()
	r, err := overlay.Check(o, overlay.CheckOptions{Mode: overlay.CheckNoChange})
	if err != nil {
		t.Errorf("Check: %v", err)
		return nil
	}
	out := map[string]bool{}
	for _, p := range r.Problems {
		out[fmt.Sprintf("%s %s: %s", p.Layer, p.Path, p.Kind)] = true
	}
	return out
}

// noNewProblems fails when, from layers in which Check found nothing,
// a change of the overlay (the library's or the kernel's) left a state
// the checker calls broken: a checker that "repairs" valid state is worse
// than none. From a fixture that is broken already (some are, on
// purpose), what the overlay does may break more, and nothing is asked.
func noNewProblems(t *testing.T, who string, before, after map[string]bool) {
	t.Helper()
	if len(before) > 0 {
		return
	}
	for p := range after {
		t.Errorf("%s left a state Check reports: %s", who, p)
	}
}
