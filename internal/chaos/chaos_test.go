package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestChaos runs the workloads against a cluster of zkraft processes under
// a random fault schedule and checks them. By default it runs one
// schedule on 3 nodes in about a minute and a half; -chaos.long runs 5
// nodes with longer, more numerous schedules; -chaos.seed replays one.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of zkraft processes under faults for a minute or more")
	}
	bin := zkraftBinary(t)
	nodes, runs, length := 3, 1, 35*time.Second
	if *flagLong {
		nodes, runs, length = 5, 10, 3*time.Minute
	}
	if *flagNodes > 0 {
		nodes = *flagNodes
	}
	if *flagRuns > 0 {
		runs = *flagRuns
	}
	if *flagFor > 0 {
		length = *flagFor
	}
	seeds := make([]uint64, runs)
	for i := range seeds {
		seeds[i] = rand.Uint64()>>16 | 1
	}
	if *flagSeed != 0 {
		seeds = []uint64{*flagSeed}
	}
	const tick = 200 * time.Millisecond
	var summaries []string
	for _, seed := range seeds {
		sched := NewSchedule(seed, nodes, length, 20*tick+time.Second)
		repro := fmt.Sprintf("go test ./internal/chaos -run 'TestChaos$' -v -timeout 30m -chaos.seed=%d -chaos.nodes=%d -chaos.for=%v", seed, nodes, length)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("%s\nreproduce with: %s", sched, repro)
			cfg := Config{Nodes: nodes, Schedule: sched, Quiet: 5 * time.Second, Tick: tick,
				Register: 4, Lockers: 3, Queuers: 2, Watchers: 2, Reproduce: repro}
			if nodes >= 5 {
				cfg.Register, cfg.Lockers, cfg.Queuers, cfg.Watchers = 6, 4, 3, 3
			}
			rep := Run(t, bin, cfg)
			t.Log(rep.Summary())
			summaries = append(summaries, rep.Summary())
		})
	}
	if len(seeds) > 1 {
		t.Logf("%d schedules:\n%s", len(seeds), strings.Join(summaries, "\n"))
	}
}

// TestScheduleDeterministic checks that a seed gives the same schedule,
// the promise -chaos.seed rests on, and that every kind of fault comes up.
func TestScheduleDeterministic(t *testing.T) {
	a := NewSchedule(42, 3, 35*time.Second, 5*time.Second)
	b := NewSchedule(42, 3, 35*time.Second, 5*time.Second)
	if a.String() != b.String() {
		t.Fatalf("one seed, two schedules:\n%s\n%s", a, b)
	}
	if c := NewSchedule(43, 3, 35*time.Second, 5*time.Second); c.String() == a.String() {
		t.Fatal("two seeds, one schedule")
	}
	kinds := map[StepKind]bool{}
	for _, st := range append(a.Net, a.Proc...) {
		kinds[st.Kind] = true
	}
	for _, k := range append(netKinds, procKinds...) {
		if !kinds[k] {
			t.Errorf("no %s in\n%s", k, a)
		}
	}
}
