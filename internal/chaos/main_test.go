package chaos

import (
	"context"
	"flag"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	flagSeed  = flag.Uint64("chaos.seed", 0, "run only the TestChaos schedule with this seed (0: random seeds)")
	flagLong  = flag.Bool("chaos.long", os.Getenv("ZKRAFT_CHAOS_LONG") == "1", "long chaos runs: 5-node clusters, many schedules (also ZKRAFT_CHAOS_LONG=1)")
	flagRuns  = flag.Int("chaos.runs", 0, "number of schedules TestChaos runs (0: 1, or 10 with -chaos.long)")
	flagNodes = flag.Int("chaos.nodes", 0, "nodes per cluster (0: 3, or 5 with -chaos.long)")
	flagFor   = flag.Duration("chaos.for", 0, "how long each schedule injects faults (0: 35s, or 3m with -chaos.long)")
)

// binDir holds the zkraft binary, built once per test run.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := goleakMain(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goleakMain runs the tests and then checks that they left no goroutine
// behind, as goleak.VerifyTestMain does, but returns so that TestMain can
// clean up.
func goleakMain(m *testing.M) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	// A closed Dial'ed Conn lets its last goroutines go up to a session
	// timeout later: try for a while.
	var err error
	for range 30 {
		if err = goleak.Find(); err == nil {
			return 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	os.Stderr.WriteString("goleak: " + err.Error() + "\n")
	return 1
}

// zkraftBinary builds the zkraft binary the first time a test needs it.
func zkraftBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "zkraft-chaos-bin-")
		if binError != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		binPath, binError = Build(ctx, binDir)
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}
