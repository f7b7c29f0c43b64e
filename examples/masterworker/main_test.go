package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMasterWorker runs the whole demo and checks its story: a backup
// master took over, the dead worker's tasks were reassigned, and all
// tasks were done.
func TestMasterWorker(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "is the active master"); n != 2 {
		t.Errorf("%d masters led, want the first and its backup:\n%s", n, out.String())
	}
	for _, want := range []string{"reassigned", "all 200 tasks done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo never said %q:\n%s", want, out.String())
		}
	}
}
