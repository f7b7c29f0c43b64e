package main

import (
	"strings"
	"testing"

	"github.com/zkraft/zk/internal/demo"
)

// TestConfigDemo runs the whole demo and checks its story.
func TestConfigDemo(t *testing.T) {
	out := demo.Check(t, run, "converged: true")
	if strings.Contains(out, "converged: false") || strings.Count(out, "converged: true") != 3 {
		t.Errorf("not every watcher converged:\n%s", out)
	}
}
