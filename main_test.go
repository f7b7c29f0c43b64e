package zk

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every Node
// and Conn a test opens must stop everything it started when closed. A test
// binary has one TestMain, so this also covers package zk_test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
