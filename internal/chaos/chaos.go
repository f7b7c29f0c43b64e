package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config is one chaos run.
type Config struct {
	Nodes    int
	Schedule Schedule
	// Quiet is how long the workloads go on after every fault has healed,
	// before the final checks.
	Quiet time.Duration
	// Tick is the nodes' tickTime; the clients' session timeout is the
	// longest the nodes grant, 20 ticks.
	Tick time.Duration
	// Clients per workload: register clients, lock contenders, producers
	// and consumers (each), watchers.
	Register, Lockers, Queuers, Watchers int
	// Reproduce is the command line that runs this schedule again,
	// printed with every failure.
	Reproduce string
}

// Report is what a run did and found.
type Report struct {
	Seed     uint64
	Wall     time.Duration
	Register RegisterResult
	Lock     LockResult
	Queue    QueueResult
	Watch    WatchResult
	Injected map[StepKind]int
	Proxy    struct{ Accepted, Dropped int }
	Failures []string
}

// Summary is the report in a few lines.
func (r *Report) Summary() string {
	var kinds []string
	total := 0
	for k, n := range r.Injected {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		total += n
	}
	sort.Strings(kinds)
	return fmt.Sprintf("seed %d: %v wall; faults %d (%s); peer connections %d, %d dropped by the proxy\n"+
		"  register: %d ops checked by porcupine (%d unknown outcome), %d plain Gets checked for session order\n"+
		"  lock: %d holds (%d ended by Lost), %d Lock calls failed\n"+
		"  queue: %d items put (%d unknown, %d failed), %d taken (%d Takes unknown)\n"+
		"  watch: %d session windows (%d ended by the final marker), %d events checked, %d gaps for %d reconnections",
		r.Seed, r.Wall.Round(time.Second), total, strings.Join(kinds, " "), r.Proxy.Accepted, r.Proxy.Dropped,
		r.Register.Ops, r.Register.Unknown, r.Register.PlainGets,
		r.Lock.Holds, r.Lock.Lost, r.Lock.Failed,
		r.Queue.Put, r.Queue.UnknownPuts, r.Queue.FailedPuts, r.Queue.Taken, r.Queue.UnknownTakes,
		r.Watch.Watchers, r.Watch.Checked, r.Watch.Events, r.Watch.Gaps, r.Watch.Disconnects)
}

// Run starts a cluster of the binary bin, runs every workload while the
// nemesis carries out cfg.Schedule, heals, lets the cluster settle, and
// checks: the final state agrees on every node, and each workload's
// checker is satisfied. It fails tb with the seed, the schedule and how
// to reproduce it if anything is wrong.
func Run(tb testing.TB, bin string, cfg Config) *Report {
	tb.Helper()
	began := time.Now()
	rep := &Report{Seed: cfg.Schedule.Seed}
	fail := func(format string, args ...any) {
		rep.Failures = append(rep.Failures, fmt.Sprintf(format, args...))
	}
	c := NewCluster(tb, bin, cfg.Nodes, ClusterOptions{Tick: cfg.Tick})
	env := &Env{Cluster: c, Start: time.Now(), SessionTimeout: c.MaxSessionTimeout(), OpTimeout: 3 * time.Second, Logf: tb.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Schedule.Length+10*time.Minute)
	defer cancel()

	reg := NewRegisterWorkload(env, cfg.Register)
	lock := NewLockWorkload(env, cfg.Lockers)
	queue := NewQueueWorkload(env, cfg.Queuers, cfg.Queuers)
	watch := NewWatchWorkload(env, cfg.Watchers)
	setup, err := env.Dial(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	err = reg.Setup(ctx, setup)
	setup.Close()
	if err != nil {
		tb.Fatal(err)
	}
	if err := watch.Start(ctx); err != nil {
		tb.Fatal(err)
	}

	nem := NewNemesis(c, cfg.Schedule, tb.Logf)
	tb.Cleanup(nem.HealAll) // so that a failing test still stops its faults
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { reg.Run(load) })
	wg.Go(func() { lock.Run(load) })
	wg.Go(func() { queue.Run(load) })
	wg.Go(func() { watch.Run(load) })
	nem.Run(ctx)
	// The quiet period: faults healed, load still on.
	select {
	case <-time.After(cfg.Quiet):
	case <-ctx.Done():
	}
	stopLoad()
	wg.Wait()

	for _, nd := range c.Nodes {
		if nd.Exited() {
			fail("node %d exited by itself (a crash): see its log %s", nd.ID, nd.LogPath)
		}
	}
	hctx, hcancel := context.WithTimeout(ctx, 2*time.Minute)
	if err := c.WaitHealthy(hctx); err != nil {
		fail("after the heal and %v of quiet: %v", cfg.Quiet, err)
	}
	if err := reg.FinalReads(hctx); err != nil {
		fail("%v", err)
	}
	if err := queue.Drain(hctx); err != nil {
		fail("queue drain: %v", err)
	}
	watch.Stop(hctx)
	hcancel()

	var fs []string
	rep.Register, fs = reg.Check(filepath.Join(os.TempDir(), fmt.Sprintf("zkraft-chaos-%d", cfg.Schedule.Seed)), 2*time.Minute)
	rep.Failures = append(rep.Failures, fs...)
	rep.Lock, fs = lock.Check()
	rep.Failures = append(rep.Failures, fs...)
	rep.Queue, fs = queue.Check()
	rep.Failures = append(rep.Failures, fs...)
	known, attempts := reg.Known()
	rep.Watch, fs = watch.Check(known, attempts)
	rep.Failures = append(rep.Failures, fs...)
	rep.Injected = nem.Injected()
	rep.Proxy.Accepted, rep.Proxy.Dropped = c.Proxy.Stats()
	rep.Wall = time.Since(began)

	if len(rep.Failures) > 0 {
		tb.Errorf("chaos run failed:\n%s\n\n%s\nnemesis log:\n  %s\n\nreproduce with: %s\n\n%s",
			strings.Join(rep.Failures, "\n"), cfg.Schedule, strings.Join(nem.Log(), "\n  "), cfg.Reproduce, rep.Summary())
	}
	return rep
}
