package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestConfigDemo runs the whole demo and checks its story.
func TestConfigDemo(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "converged: false") || strings.Count(out.String(), "converged: true") != 3 {
		t.Errorf("not every watcher converged:\n%s", out.String())
	}
	for _, want := range []string{"converged: true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo never said %q:\n%s", want, out.String())
		}
	}
}
