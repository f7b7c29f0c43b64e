package main

import (
	"testing"

	"github.com/zkraft/zk/internal/demo"
)

// TestRegistryDemo runs the whole demo and checks its story.
func TestRegistryDemo(t *testing.T) {
	demo.Check(t, run, "done; Members says")
}
