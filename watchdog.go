package zk

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// A leader whose disk stops answering holds its ensemble hostage
// (hashicorp/raft#503): raft appends to the leader's log in its main
// loop, which blocks in StoreLogs, while heartbeats go on from the
// replication goroutines, so the followers never time out and elect,
// and the leader's own lease check, in the blocked loop, never runs.
//
// The watchdog times every write to the raft log. When one has been
// blocked for longer than Config.DiskStallTimeout on a leader, it cuts
// the node off from its peers (peer.Transport.Isolate): the heartbeats
// stop, the followers elect a new leader among themselves within an
// election timeout, and nothing the stalled node says can reach them.
// Cutting off is safe whatever the stalled node does next: to the others
// it is a crashed node. When its disk answers again, raft's lease check
// finds it has heard from no follower and it steps down, or, once the
// watchdog reconnects it, it learns of the newer term from the first
// answer it gets; it rejoins as a follower whose unreplicated entries
// the new leader overwrites. Its writes in flight fail with
// ErrConnectionLoss, their outcome unknown to the caller, and none of
// them was acknowledged.
//
// A follower's stalled disk is only logged: raft answers heartbeats
// without the disk, and the leader goes on with the other followers.
//
// A write that fails (a full disk, an I/O error) needs no watchdog: raft
// answers the proposals of a leader whose log write failed with the error
// (ErrConnectionLoss to the caller: nothing was acknowledged) and steps
// down, and a follower refuses the entries it could not store, so the
// leader counts it out of the quorum until it can. stallWatch logs the
// first failure of a run, and the first success after it, so that the
// operator learns what to fix.

// stallWatch is a raft.LogStore that records how long its current write
// has been running. Raft appends from its main loop and compacts from its
// snapshot goroutine; the oldest write in flight is the one that matters.
type stallWatch struct {
	raft.LogStore
	log     hclog.Logger
	failing atomic.Bool // the last write failed
	// abandoned, once set, refuses every write (see stableGuard).
	abandoned *atomic.Bool
	mu        sync.Mutex
	inflight  int       // writes in flight; guarded by mu
	since     time.Time // start of the oldest write in flight; guarded by mu
}

func (s *stallWatch) begin() {
	s.mu.Lock()
	if s.inflight == 0 {
		s.since = time.Now()
	}
	s.inflight++
	s.mu.Unlock()
}

func (s *stallWatch) end(err error) error {
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
	switch {
	case err != nil && !s.failing.Swap(true):
		s.log.Error("raft log write failed: this node acknowledges no write and steps down if it leads, until its disk accepts writes again (free space if the disk is full)", "error", err)
	case err == nil && s.failing.Swap(false):
		s.log.Warn("raft log writes succeed again")
	}
	return err
}

// stalledFor returns how long the oldest write in flight has run, or 0.
func (s *stallWatch) stalledFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == 0 {
		return 0
	}
	return time.Since(s.since)
}

// IsMonotonic passes on the store's (see monotonic).
func (s *stallWatch) IsMonotonic() bool { return monotonic(s.LogStore) }

func (s *stallWatch) StoreLog(l *raft.Log) error {
	return s.write(func() error { return s.LogStore.StoreLog(l) })
}

func (s *stallWatch) StoreLogs(ls []*raft.Log) error {
	return s.write(func() error { return s.LogStore.StoreLogs(ls) })
}

func (s *stallWatch) DeleteRange(lo, hi uint64) error {
	return s.write(func() error { return s.LogStore.DeleteRange(lo, hi) })
}

// write times one write, or refuses it once a stable store write was
// abandoned.
func (s *stallWatch) write(do func() error) error {
	if s.abandoned.Load() {
		return errAbandoned
	}
	s.begin()
	return s.end(do())
}

// watchDisk is the watchdog's loop: it runs on networked nodes only, as
// a node alone has nobody to hand leadership to. It measures real time,
// not the node's Clock: a disk stalls in real time, and raft's timeouts
// run on it.
func (n *Node) watchDisk(w *stallWatch, bound time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(max(bound/4, time.Millisecond))
	defer t.Stop()
	var (
		isolated bool          // this loop cut the node off
		logged   bool          // the current stall was logged
		began    time.Time     // when the node was cut off
		stalled  time.Duration // the longest the current stall was seen to last
	)
	for {
		select {
		case <-n.closing:
			if isolated {
				n.holdIsolation(false)
			}
			return
		case <-t.C:
		}
		d := w.stalledFor()
		if d > bound {
			stalled = max(stalled, d)
			lead := n.r().State() == raft.Leader
			switch {
			case lead && !isolated:
				n.log.Error("raft log write blocked while leading: cutting this node off from its peers so that they elect another leader; it rejoins as a follower once its disk answers",
					"blocked", d.Round(time.Millisecond), "bound", bound)
				n.holdIsolation(true)
				isolated, logged, began = true, true, time.Now()
			case !logged:
				n.log.Warn("raft log write blocked: this node is behind until its disk answers", "blocked", d.Round(time.Millisecond), "bound", bound, "leader", lead)
				logged = true
			}
			continue
		}
		if d == 0 && logged && !isolated {
			n.log.Warn("raft log writes complete again", "stalled", stalled.Round(time.Millisecond))
			logged, stalled = false, 0
		}
		// Reconnecting as soon as the disk answers is safe whatever raft
		// thinks it is: if the others elected meanwhile, the first answer
		// it gets carries the newer term and it steps down; if they did
		// not, it goes on leading.
		if isolated {
			n.log.Warn("disk answering again: reconnecting to the peers",
				"stalled", stalled.Round(time.Millisecond), "cut off for", time.Since(began).Round(time.Millisecond), "role", n.r().State().String())
			n.holdIsolation(false)
			isolated, logged, stalled = false, false, 0
		}
	}
}
