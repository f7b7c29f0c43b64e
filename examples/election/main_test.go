package main

import (
	"testing"

	"github.com/zkraft/zk/internal/demo"
)

// TestElectionDemo runs the whole demo and checks its story.
func TestElectionDemo(t *testing.T) {
	demo.Check(t, run, "done: 3 leaders", "strictly growing")
}
