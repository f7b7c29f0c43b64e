package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestElectionDemo runs the whole demo and checks its story.
func TestElectionDemo(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"done: 3 leaders", "strictly growing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo never said %q:\n%s", want, out.String())
		}
	}
}
