package main

import (
	"strings"
	"testing"

	"github.com/zkraft/zk/internal/demo"
)

// TestMasterWorker runs the whole demo and checks its story: a backup
// master took over, the dead worker's tasks were reassigned, and all
// tasks were done.
func TestMasterWorker(t *testing.T) {
	out := demo.Check(t, run, "reassigned", "all 200 tasks done")
	if n := strings.Count(out, "is the active master"); n != 2 {
		t.Errorf("%d masters led, want the first and its backup:\n%s", n, out)
	}
}
