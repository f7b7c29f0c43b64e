package main

import (
	"testing"

	"github.com/zkraft/zk/internal/demo"
)

// TestLockDemo runs the whole demo and checks its story.
func TestLockDemo(t *testing.T) {
	demo.Check(t, run, "summary: counter 24 after 24 holds", "tokens only grew: true")
}
