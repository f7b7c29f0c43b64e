package main

import (
	"testing"

	"github.com/zkraft/zk/internal/demo"
)

// TestQueueDemo runs the whole demo and checks its story.
func TestQueueDemo(t *testing.T) {
	demo.Check(t, run, "killing node", "every job consumed exactly once", "FIFO order per producer held")
}
