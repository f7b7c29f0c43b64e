package demo

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Check runs a demo's run function in a test, leaving no goroutine
// behind, fails the test if it fails or never says one of wants, and
// returns what it printed.
func Check(t *testing.T, run func(ctx context.Context, out io.Writer) error, wants ...string) string {
	t.Helper()
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo never said %q:\n%s", want, out.String())
		}
	}
	return out.String()
}
