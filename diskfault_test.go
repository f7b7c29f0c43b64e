package zk_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
)

// others returns 0..n-1 without i.
func others(n, i int) []int {
	var out []int
	for j := range n {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

// writeCtx bounds one write of these tests.
func writeCtx(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), faultWait)
}

// TestLeaderDiskStall: a leader whose log writes block is cut off from
// its peers by the watchdog, so the other two elect a leader and go on
// taking writes while its disk is stuck (hashicorp/raft#503); once its
// disk answers it rejoins as a follower and catches up, and no
// acknowledged write is lost.
func TestLeaderDiskStall(t *testing.T) {
	c := newFaultCluster(t, 3)
	lead := c.leader()
	conns := make([]*zk.Conn, 3)
	for i := range conns {
		conns[i] = c.connect(i)
	}
	w := newWriteLog()
	ctx, cancel := writeCtx(t)
	if _, err := conns[lead].Create(ctx, "/d", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	cancel()
	for k := range 3 {
		for i := range conns {
			ctx, cancel := writeCtx(t)
			if err := w.create(ctx, conns[i], fmt.Sprintf("/d/before-%d-%d", i, k), "b"); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
	}

	c.logs[lead].stall()
	stalled := time.Now()
	// A write through every node as the disk stalls: the leader's own
	// blocks in its log, those forwarded to it wait on it. None may be
	// acknowledged unless it survives.
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := writeCtx(t)
			defer cancel()
			w.create(ctx, conns[i], fmt.Sprintf("/d/stall-%d", i), "s")
		}()
	}
	rest := others(3, lead)
	newLead := c.leader(rest...)
	t.Logf("node %s stalled; node %s leads %v later", c.peers[lead].ID, c.peers[newLead].ID, time.Since(stalled).Round(time.Millisecond))
	if c.logs[lead].blocked.Load() == 0 {
		t.Fatal("no write reached the stalled log: the test did not stall the leader")
	}
	for k := range 10 {
		for _, i := range rest {
			ctx, cancel := writeCtx(t)
			if err := w.create(ctx, conns[i], fmt.Sprintf("/d/during-%d-%d", i, k), "d"); err != nil {
				t.Fatalf("write through node %s while node %s's disk is stuck: %v", c.peers[i].ID, c.peers[lead].ID, err)
			}
			cancel()
		}
	}
	if st := c.node(lead).Stats(); st.Role != zk.RoleLeader {
		// Raft's loop is blocked in the log write: it cannot have noticed.
		t.Logf("stalled node's role: %s", st.Role)
	}
	if out := c.out[lead].String(); !strings.Contains(out, "cutting this node off") {
		t.Fatalf("the stalled leader did not log that it cut itself off; its log:\n%s", out)
	}

	c.logs[lead].resume()
	resumed := time.Now()
	wg.Wait()
	deadline := time.Now().Add(faultWait)
	for {
		st := c.node(lead).Stats()
		if st.Role == zk.RoleFollower && st.Leader == c.peers[newLead].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not rejoin as a follower of %s within %v: %+v", c.peers[lead].ID, c.peers[newLead].ID, faultWait, st)
		}
		time.Sleep(5 * time.Millisecond) // polling for the step-down, bounded by the deadline
	}
	t.Logf("node %s follows again %v after its disk answered", c.peers[lead].ID, time.Since(resumed).Round(time.Millisecond))
	ctx, cancel = writeCtx(t)
	if err := w.create(ctx, conns[lead], "/d/after", "a"); err != nil {
		t.Fatalf("write through the recovered node: %v", err)
	}
	cancel()
	for i := range conns {
		c.checkNode(i, w)
	}
	c.checkAgree("/d")
	acked, unknown := w.counts()
	t.Logf("%d writes acknowledged and found on every node, %d of unknown outcome (%v)", acked, unknown, w.errs)
}

// errDiskFull is what the faulty stores answer: a full disk, as raft-wal
// or bbolt would report it.
var errDiskFull = fmt.Errorf("write /data/wal/00001.wal: %w", syscall.ENOSPC)

// writers runs one writer per node in conns, each creating
// /d/PREFIX-NODE-K with a bounded wait, until stop is closed.
func writers(t *testing.T, w *writeLog, conns []*zk.Conn, prefix string, perWrite time.Duration, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(t.Context(), perWrite)
				w.create(ctx, conn, fmt.Sprintf("/d/%s-%d-%d", prefix, i, k), fmt.Sprintf("v%d.%d", i, k))
				cancel()
			}
		}()
	}
	return &wg
}

// checkNoWrongData reads, without syncing, every path written so far
// through conn, a session of node i opened before its disk failed (a new
// one needs a write): a node may be behind, but what it serves must be
// what was written.
func (c *faultCluster) checkNoWrongData(i int, conn *zk.Conn, w *writeLog) int {
	c.t.Helper()
	ctx, cancel := writeCtx(c.t)
	defer cancel()
	w.mu.Lock()
	all := map[string]string{}
	for p, d := range w.acked {
		all[p] = d
	}
	for p, d := range w.unknown {
		all[p] = d
	}
	w.mu.Unlock()
	found := 0
	for p, want := range all {
		got, _, err := conn.Get(ctx, p)
		switch {
		case errors.Is(err, zk.ErrNoNode):
		case err != nil:
			c.t.Fatalf("node %d: get %s: %v", i, p, err)
		case string(got) != want:
			c.t.Fatalf("node %d serves %s = %q, written as %q", i, p, got, want)
		default:
			found++
		}
	}
	return found
}

// TestLogWriteFails: a node whose raft log refuses writes (a full disk)
// acknowledges none and serves no wrong data, leader or follower; the
// other two go on taking writes, and once its disk accepts writes again
// it catches up. On the leader, raft answers the batch with the error and
// steps down; a follower refuses the entries, and the leader counts it
// out of the quorum.
func TestLogWriteFails(t *testing.T) {
	for _, role := range []string{"leader", "follower"} {
		t.Run(role, func(t *testing.T) {
			c := newFaultCluster(t, 3)
			lead := c.leader()
			victim := lead
			if role == "follower" {
				victim = others(3, lead)[0]
			}
			conns := make([]*zk.Conn, 3)
			for i := range conns {
				conns[i] = c.connect(i)
			}
			ctx, cancel := writeCtx(t)
			if _, err := conns[lead].Create(ctx, "/d", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
			cancel()
			w := newWriteLog()
			stop := make(chan struct{})
			wg := writers(t, w, conns, "w", 2*time.Second, stop)
			waitAcked(t, w, 20)

			// The disk fills with writes in flight.
			c.logs[victim].failWith(errDiskFull)
			failed := time.Now()
			rest := others(3, victim)
			before, _ := w.counts()
			newLead := c.leader(rest...)
			// The others keep taking writes while the victim's disk is full.
			waitAcked(t, w, before+30)
			t.Logf("node %s's disk full; node %s leads, %d writes acknowledged since, in %v",
				c.peers[victim].ID, c.peers[newLead].ID, func() int { a, _ := w.counts(); return a - before }(), time.Since(failed).Round(time.Millisecond))
			close(stop)
			wg.Wait()
			// A session on the victim is opened through the leader and
			// ready once the victim applied it: it waits for the disk.
			short, cancel := context.WithTimeout(t.Context(), 3*faultElection)
			if conn, err := c.node(victim).Connect(short); err == nil {
				conn.Close()
				t.Fatalf("node %s opened a session with its disk full", c.peers[victim].ID)
			}
			cancel()
			if c.logs[victim].failed.Load() == 0 {
				t.Fatal("no write reached the full disk: the test injected nothing")
			}
			found := c.checkNoWrongData(victim, conns[victim], w)
			if out := c.out[victim].String(); !strings.Contains(out, "raft log write failed") || !strings.Contains(out, "no space left on device") {
				t.Fatalf("node %s did not log its failing disk; its log:\n%s", c.peers[victim].ID, out)
			}

			c.logs[victim].failWith(nil)
			healed, _ := w.counts()
			stop = make(chan struct{})
			wg = writers(t, w, conns, "healed", 2*time.Second, stop)
			waitAcked(t, w, healed+20)
			close(stop)
			wg.Wait()
			for i := range conns {
				c.checkNode(i, w)
			}
			c.checkAgree("/d")
			acked, unknown := w.counts()
			t.Logf("%d writes refused by the full disk; node %s served %d written paths unsynced, none wrong; %d writes acknowledged and found on every node after the disk healed, %d of unknown outcome (%v)",
				c.logs[victim].failed.Load(), c.peers[victim].ID, found, acked, unknown, w.errs)
		})
	}
}

// waitAcked waits until at least n writes were acknowledged.
func waitAcked(t *testing.T, w *writeLog, n int) {
	t.Helper()
	deadline := time.Now().Add(faultWait)
	for {
		if a, _ := w.counts(); a >= n {
			return
		}
		if time.Now().After(deadline) {
			a, u := w.counts()
			t.Fatalf("%d writes acknowledged within %v, want %d (%d unknown: %v)", a, faultWait, n, u, w.errs)
		}
		time.Sleep(5 * time.Millisecond) // polling the writers, bounded by the deadline
	}
}

// corruptDir opens a standalone node on a new dir with the given log
// store and trailing logs, writes /c/0.. /c/(writes-1), taking a snapshot
// after each third of them when snapshots is set, and closes it.
func corruptDir(t *testing.T, store zk.LogStore, trailing uint64, snapshots bool, writes int) string {
	t.Helper()
	dir := t.TempDir()
	n, err := zk.Open(t.Context(), zk.Config{Dir: dir, LogStore: store, TrailingLogs: trailing, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(t.Context(), "/c", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	for i := range writes {
		if _, err := conn.Create(t.Context(), fmt.Sprintf("/c/%d", i), []byte(fmt.Sprint("v", i)), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		if snapshots && (i+1)%(writes/3) == 0 && i+1 < writes {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func quietLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "zk", Level: hclog.Warn, Output: &tlogWriter{t}})
}

type tlogWriter struct{ t *testing.T }

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// openCorrupt opens a standalone node on dir and returns it or Open's
// error.
func openCorrupt(t *testing.T, dir string, trailing uint64, log *procBuffer) (*zk.Node, error) {
	ctx, cancel := context.WithTimeout(t.Context(), faultWait)
	defer cancel()
	return zk.Open(ctx, zk.Config{Dir: dir, TrailingLogs: trailing, Logger: hclog.New(&hclog.LoggerOptions{Name: "zk", Level: hclog.Warn, Output: log})})
}

// checkPrefix checks that node n holds /c/0../c/(k-1) for some k and
// none after, each with the data written, and returns k.
func checkPrefix(t *testing.T, n *zk.Node, writes int) int {
	t.Helper()
	conn, err := n.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	k := 0
	for i := range writes {
		data, _, err := conn.Get(t.Context(), fmt.Sprintf("/c/%d", i))
		switch {
		case err == nil && string(data) == fmt.Sprint("v", i) && k == i:
			k++
		case errors.Is(err, zk.ErrNoNode) && i >= k:
		default:
			t.Fatalf("/c/%d: %q, %v (the first %d are present): not a prefix of what was written", i, data, err, k)
		}
	}
	return k
}

// TestOpenRefusesCorruptState: Open refuses to start from a data dir it
// cannot trust, saying what is wrong and how to recover, and never starts
// serving a tree that lacks writes it acknowledged. Raft itself falls back
// silently from an unreadable newest snapshot to an older one, which is
// safe only when the log covers the gap, and panics in NewRaft when it
// does not; a raft-wal dir whose segment or index went missing started as
// an empty node.
func TestOpenRefusesCorruptState(t *testing.T) {
	const writes = 300
	wal := func(dir string) string {
		m, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
		if err != nil || len(m) != 1 {
			t.Fatalf("wal segments: %v %v", m, err)
		}
		return m[0]
	}
	// newest returns the newest snapshot's directory.
	newest := func(dir string) string {
		m, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
		if err != nil || len(m) < 2 {
			t.Fatalf("snapshots: %v %v", m, err)
		}
		slices.SortFunc(m, func(a, b string) int {
			var ta, ia, tb, ib uint64
			fmt.Sscanf(filepath.Base(filepath.Dir(a)), "%d-%d", &ta, &ia)
			fmt.Sscanf(filepath.Base(filepath.Dir(b)), "%d-%d", &tb, &ib)
			return cmp.Compare(ia, ib)
		})
		return filepath.Dir(m[len(m)-1])
	}
	flip := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		trailing  uint64 // the log kept behind each snapshot
		snapshots bool
		mangle    func(dir string)
		want      error  // nil: Open succeeds with every write
		says      string // in Open's error, or the node's log
	}{
		{"wal index removed", 10240, false, func(dir string) { os.Remove(filepath.Join(dir, "wal", "wal-meta.db")) },
			zk.ErrCorruptLog, "no wal-meta.db"},
		{"wal segment removed", 10240, false, func(dir string) { os.Remove(wal(dir)) },
			zk.ErrCorruptLog, "neither log entries nor snapshots"},
		{"newest snapshot flipped, log covers the gap", 10240, true, func(dir string) { flip(filepath.Join(newest(dir), "state.bin")) },
			nil, "starting from an older one and the log"},
		{"newest snapshot flipped, log compacted past the older one", 5, true, func(dir string) { flip(filepath.Join(newest(dir), "state.bin")) },
			zk.ErrCorruptSnapshot, "does not cover the gap"},
		{"newest snapshot's metadata unreadable, log covers the gap", 10240, true, func(dir string) {
			os.WriteFile(filepath.Join(newest(dir), "meta.json"), []byte("{garbage"), 0o600)
		}, nil, "starting from an older one and the log"},
		{"newest snapshot's metadata unreadable, log compacted past the older one", 5, true, func(dir string) {
			os.WriteFile(filepath.Join(newest(dir), "meta.json"), []byte("{garbage"), 0o600)
		}, zk.ErrCorruptSnapshot, "metadata unreadable"},
		{"every snapshot flipped", 5, true, func(dir string) {
			m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
			for _, p := range m {
				flip(p)
			}
		}, zk.ErrCorruptSnapshot, "no snapshot can be read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := corruptDir(t, zk.LogStoreWAL, tc.trailing, tc.snapshots, writes)
			tc.mangle(dir)
			log := &procBuffer{}
			n, err := openCorrupt(t, dir, tc.trailing, log)
			if tc.want != nil {
				if err == nil {
					n.Close()
					t.Fatalf("Open succeeded; want %v", tc.want)
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "move the node's data dir aside") {
					t.Fatalf("Open: %v\nwant %v saying %q and how to recover", err, tc.want, tc.says)
				}
				t.Logf("Open: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer n.Close()
			if k := checkPrefix(t, n, writes); k != writes {
				t.Fatalf("%d of %d writes after the fallback", k, writes)
			}
			if !strings.Contains(log.String(), tc.says) {
				t.Fatalf("the node did not log %q; its log:\n%s", tc.says, log)
			}
		})
	}
}

// TestWALTailDamage pins what happens to a damaged last wal segment.
// raft-wal cannot tell damage to its frames from a write torn by a crash,
// so it keeps the entries before the first bad frame and drops the rest:
// the node serves a prefix of its writes, never wrong data (in an
// ensemble the leader sends it what it lost; a single node loses them).
// Damage inside an entry fails summedLog's checksum, and Open refuses.
func TestWALTailDamage(t *testing.T) {
	const writes = 300
	for _, frac := range []float64{0.3, 0.9} {
		for _, how := range []string{"truncated", "flipped"} {
			t.Run(fmt.Sprintf("%s at %.0f%%", how, frac*100), func(t *testing.T) {
				dir := corruptDir(t, zk.LogStoreWAL, 10240, false, writes)
				m, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
				b, err := os.ReadFile(m[0])
				if err != nil {
					t.Fatal(err)
				}
				end := len(b) // raft-wal preallocates: the entries end before the zeros
				for end > 0 && b[end-1] == 0 {
					end--
				}
				at := int(float64(end) * frac)
				if how == "truncated" {
					b = b[:at]
				} else {
					for i := at; i < at+8; i++ {
						b[i] ^= 0x5a
					}
				}
				if err := os.WriteFile(m[0], b, 0o600); err != nil {
					t.Fatal(err)
				}
				n, err := openCorrupt(t, dir, 10240, &procBuffer{})
				if err != nil {
					// A flipped byte inside an entry fails its checksum.
					if !errors.Is(err, zk.ErrCorruptLog) || !strings.Contains(err.Error(), "move the node's data dir aside") {
						t.Fatalf("Open: %v, want ErrCorruptLog and how to recover", err)
					}
					t.Logf("Open: %v", err)
					return
				}
				defer n.Close()
				t.Logf("%d of %d writes left, a prefix", checkPrefix(t, n, writes), writes)
			})
		}
	}
}

// TestRestartAfterInstallSnapshot: a log store that is not monotonic (raft's
// in-memory one, as bbolt) keeps a gap below a snapshot installed from the
// leader, where raft compacts only the node's own old entries; Open's
// check of the log accepts it, where a gap after the snapshot is refused.
func TestRestartAfterInstallSnapshot(t *testing.T) {
	c := newFaultCluster(t, 3)
	lead := c.leader()
	victim := others(3, lead)[0]
	conn := c.connect(lead)
	w := newWriteLog()
	ctx, cancel := writeCtx(t)
	defer cancel()
	if _, err := conn.Create(ctx, "/d", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	c.close(victim)
	for k := range 50 {
		if err := w.create(ctx, conn, fmt.Sprintf("/d/%d", k), "x"); err != nil {
			t.Fatal(err)
		}
	}
	// The survivors snapshot and compact past everything the victim has:
	// it must catch up by InstallSnapshot.
	c.close(lead)
	c.trailing = 2
	if err := c.open(lead); err != nil {
		t.Fatal(err)
	}
	for _, i := range others(3, victim) {
		if err := c.node(i).Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := c.logs[lead].FirstIndex()
	if err := c.open(victim); err != nil {
		t.Fatalf("first restart of node %d: %v", victim, err)
	}
	c.caughtUp(victim)
	conn = c.connect(lead) // the first closed with its node
	for k := range 10 {
		if err := w.create(ctx, conn, fmt.Sprintf("/d/after-%d", k), "y"); err != nil {
			t.Fatal(err)
		}
	}
	c.caughtUp(victim)
	vfirst, _ := c.logs[victim].FirstIndex()
	vlast, _ := c.logs[victim].LastIndex()
	t.Logf("leader's log starts at %d; the victim's log spans %d..%d after the snapshot", first, vfirst, vlast)
	c.close(victim)
	if err := c.open(victim); err != nil {
		t.Fatalf("second restart of node %d: %v", victim, err)
	}
	c.checkNode(victim, w)
}

// TestStableWriteFails: a node whose disk refuses to keep raft's term
// (hashicorp/raft panics on that, in a goroutine of its own, which would
// take the whole program down) is cut off from its peers and waits; the
// others go on taking writes; when its disk accepts writes again it
// rejoins and catches up. Closed while the write still fails, it closes
// cleanly, and reopened on a healed disk catches up as well.
func TestStableWriteFails(t *testing.T) {
	for _, how := range []string{"disk heals", "closed while failing"} {
		t.Run(how, func(t *testing.T) {
			c := newFaultCluster(t, 3)
			victim := c.leader() // deposed, it must take the new term
			rest := others(3, victim)
			conns := []*zk.Conn{c.connect(rest[0]), c.connect(rest[1])}
			ctx, cancel := writeCtx(t)
			if _, err := conns[0].Create(ctx, "/d", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
			cancel()
			c.stable[victim].failWith(errDiskFull)
			c.net.Isolate(c.peers[victim].Addr)
			c.leader(rest...)
			w := newWriteLog()
			stop := make(chan struct{})
			wg := writers(t, w, conns, "w", 2*time.Second, stop)
			waitAcked(t, w, 20)
			// Reconnected, the victim hears of the new term and cannot
			// keep it.
			c.net.Heal()
			deadline := time.Now().Add(faultWait)
			for c.stable[victim].failed.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the victim never tried to write its new term: the test injected nothing")
				}
				time.Sleep(5 * time.Millisecond) // polling the fault store's counter, bounded by the deadline
			}
			before, _ := w.counts()
			waitAcked(t, w, before+30)
			close(stop)
			wg.Wait()
			if out := c.out[victim].String(); !strings.Contains(out, "raft stable store write failed") || !strings.Contains(out, "no space left on device") {
				t.Fatalf("node %s did not log its failing disk; its log:\n%s", c.peers[victim].ID, out)
			}
			if st := c.node(victim).Stats(); st.Role == zk.RoleLeader || st.LastZxid >= c.node(c.leader(rest...)).LastZxid() {
				t.Fatalf("the victim leads or kept up with its term unwritten: %+v", st)
			}

			if how == "disk heals" {
				c.stable[victim].failWith(nil)
			} else {
				c.close(victim)
				c.stable[victim].failWith(nil)
				if err := c.open(victim); err != nil {
					t.Fatalf("reopening the victim: %v", err)
				}
			}
			for i := range 3 {
				c.checkNode(i, w)
			}
			c.checkAgree("/d")
			acked, unknown := w.counts()
			t.Logf("%d term/vote writes refused; %d writes acknowledged without the victim and found on every node after, %d of unknown outcome",
				c.stable[victim].failed.Load(), acked, unknown)
		})
	}
}
