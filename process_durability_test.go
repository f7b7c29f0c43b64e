package zk_test

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// procWriters runs one writer per running node, each creating
// /proc/PREFIX-ID-K through its node one at a time, recording every
// outcome in w, until stop is closed or its child dies (the write it had
// in flight is then of unknown outcome). wait waits for them all.
func procWriters(pc *procCluster, w *procWrites, prefix string, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	for _, c := range pc.live {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("%s-%s-%d", prefix, c.id, k)
				_, err := c.do("create /proc/" + name + " d-" + name)
				w.add(err, name, "d-"+name)
				var re *procReplyError
				if err != nil && !errors.As(err, &re) {
					return // the child is gone
				}
			}
		}()
	}
	return wg.Wait
}

// procAcked returns how many writes were acknowledged so far.
func procAcked(w *procWrites) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitProcAcked waits until n writes are acknowledged.
func (pc *procCluster) waitProcAcked(w *procWrites, n int) {
	pc.t.Helper()
	deadline := time.Now().Add(procWait)
	for procAcked(w) < n {
		if time.Now().After(deadline) {
			w.mu.Lock()
			errs := w.errs
			w.mu.Unlock()
			pc.fatalf("%d writes acknowledged within %v, want %d; errors: %v", procAcked(w), procWait, n, errs)
		}
		time.Sleep(10 * time.Millisecond) // polling the writers, bounded by the deadline
	}
}

// checkDurable checks that every node has every acknowledged write after
// a sync, that every write it has was written (an unknown one with its
// data, never a torn one), and that all nodes hold the same /proc.
func (pc *procCluster) checkDurable(w *procWrites) {
	pc.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var first map[string]string
	for i := range pc.live {
		pc.checkHas(i, w.acked, "acknowledged writes")
		got := procParseChildren(pc.must(i, "children /proc"))
		for name, data := range got {
			want, ok := w.acked[name]
			if !ok {
				want, ok = w.unknown[name]
			}
			if !ok || data != want {
				pc.fatalf("node %s has /proc/%s = %q; the test wrote %q (written: %v)", pc.peers[i].ID, name, data, want, ok)
			}
		}
		if first == nil {
			first = got
		} else if !maps.Equal(first, got) {
			pc.fatalf("node %s's /proc (%d) differs from node %s's (%d)", pc.peers[i].ID, len(got), pc.peers[0].ID, len(first))
		}
	}
}

// TestProcessDurability SIGKILLs nodes of a three-process ensemble on
// loopback TCP while a writer per node creates znodes, and checks after
// each restart that no acknowledged write was lost, on any node: a
// follower (a minority), the leader with concurrent writes in flight
// through every node (so in the middle of raft's batches), and all three
// at once. A write whose reply did not come back may be present or
// absent, but the same on every node.
func TestProcessDurability(t *testing.T) {
	start := time.Now()
	pc := startedProcCluster(t, 3)
	pc.must(pc.waitLeader(""), "create /proc root")
	w := &procWrites{acked: map[string]string{}, unknown: map[string]string{}}
	kills := 0
	const rounds = 3
	for round := range rounds {
		for _, scenario := range []string{"follower", "leader", "all"} {
			lead := pc.waitLeader("")
			var victims []int
			switch scenario {
			case "follower":
				victims = pc.others(lead)[:1]
			case "leader":
				victims = []int{lead}
			default:
				victims = []int{0, 1, 2}
			}
			prefix := fmt.Sprintf("r%d%s", round, scenario[:1])
			stop := make(chan struct{})
			wait := procWriters(pc, w, prefix, stop)
			pc.waitProcAcked(w, procAcked(w)+30)
			// SIGKILL with writes in flight through every node, all victims
			// at once, then reap them.
			for _, v := range victims {
				c := pc.live[v]
				c.killed = true
				if err := c.cmd.Process.Kill(); err != nil {
					pc.fatalf("kill node %s: %v", c.id, err)
				}
			}
			for _, v := range victims {
				select {
				case <-pc.live[v].done:
				case <-time.After(procWait):
					pc.fatalf("node %s not reaped within %v of SIGKILL", pc.peers[v].ID, procWait)
				}
				pc.live[v] = nil
			}
			kills += len(victims)
			if len(victims) < 3 {
				// The survivors keep a quorum: writes go on through them.
				old := ""
				if scenario == "leader" {
					old = pc.peers[lead].ID
				}
				pc.waitLeader(old)
				pc.waitProcAcked(w, procAcked(w)+30)
			}
			close(stop)
			wait()
			for _, v := range victims {
				pc.start(v)
			}
			for _, v := range victims {
				pc.ready(v)
			}
			pc.waitLeader("")
			pc.checkDurable(w)
			w.mu.Lock()
			t.Logf("%v: round %d, killed %s (%d): %d acknowledged writes so far, all on every node; %d of unknown outcome",
				time.Since(start).Round(time.Millisecond), round, scenario, len(victims), len(w.acked), len(w.unknown))
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	present := 0
	got := procParseChildren(pc.must(0, "children /proc"))
	for name := range w.unknown {
		if _, ok := got[name]; ok {
			present++
		}
	}
	t.Logf("%v: %d SIGKILLs; %d writes acknowledged, none lost; %d of unknown outcome (%d present, the same on every node): %s",
		time.Since(start).Round(time.Millisecond), kills, len(w.acked), len(w.unknown), present, strings.Join(uniq(w.errs), "; "))
	w.mu.Unlock()
}

var procNames = regexp.MustCompile(`(/proc/|d-)\S+|node \d \(run \d+\)`)

// uniq returns the distinct strings of s with their counts.
func uniq(s []string) []string {
	counts := map[string]int{}
	var order []string
	for _, x := range s {
		x = procNames.ReplaceAllString(x, "NAME")
		if counts[x] == 0 {
			order = append(order, x)
		}
		counts[x]++
	}
	out := make([]string, len(order))
	for i, x := range order {
		out[i] = fmt.Sprintf("%dx %s", counts[x], x)
	}
	return out
}
