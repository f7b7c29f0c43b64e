package zk

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Raft keeps its term and its vote in the stable store and cannot go on
// without writing them: hashicorp/raft panics when the term does not
// persist — in its own goroutine, where no one can recover it, so in an
// embedded node a full disk would crash the whole program — and leaves a
// half-written vote when the vote does not.
//
// stableGuard takes those failures out of raft's hands. A write that
// fails cuts the node off from its peers at once, before raft can act on
// the term or vote it could not keep, and is retried until it succeeds:
// raft waits meanwhile, as on a stalled disk, the others go on without
// the node, and once the write succeeds the node rejoins as if it had
// been partitioned. A node closed while its write still fails abandons
// it: the write is reported done, and from then on every write to the
// raft log is refused and nothing the node says reaches a peer, so the
// term it never kept is seen by no one and on disk nothing moves past
// the last state it did keep, which is where it starts from next time.
type stableGuard struct {
	raft.StableStore
	log       hclog.Logger
	isolate   func(on bool)   // cuts the node off from its peers, or reconnects it
	closing   <-chan struct{} // closed when the node closes
	abandoned *atomic.Bool    // set once a write was abandoned; shared with the log's stallWatch
	// armed is set once Open has started raft: until then a failure is
	// returned, and Open fails with it.
	armed atomic.Bool
}

// errAbandoned refuses raft log writes after a stable store write was
// abandoned.
var errAbandoned = errors.New("zk: raft log write refused: this node is closing with its term unwritten")

func (g *stableGuard) Set(k, v []byte) error {
	return g.write(k, func() error { return g.StableStore.Set(k, v) })
}

func (g *stableGuard) SetUint64(k []byte, v uint64) error {
	return g.write(k, func() error { return g.StableStore.SetUint64(k, v) })
}

func (g *stableGuard) write(key []byte, do func() error) error {
	if g.abandoned.Load() {
		return nil
	}
	err := do()
	if err == nil || !g.armed.Load() {
		return err
	}
	g.isolate(true)
	g.log.Error("raft stable store write failed: this node is cut off from its peers and waits until its disk accepts writes again (free space if the disk is full)",
		"key", string(key), "error", err)
	began := time.Now()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		t := time.NewTimer(wait)
		select {
		case <-g.closing:
			t.Stop()
			g.abandoned.Store(true)
			g.log.Error("closing with a raft stable store write undone: the node's disk keeps its state from before the failure", "key", string(key))
			return nil
		case <-t.C:
		}
		if err = do(); err == nil {
			g.log.Warn("raft stable store writes succeed again: reconnecting to the peers", "failed for", time.Since(began).Round(time.Millisecond))
			g.isolate(false)
			return nil
		}
	}
}

// probeStable writes the current term the store holds (0 in a new one)
// back, as raft does first when it starts, so that Open reports a disk
// that refuses writes instead of raft panicking on it.
func probeStable(s raft.StableStore) error {
	term, err := s.GetUint64([]byte("CurrentTerm"))
	if err != nil && !errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return fmt.Errorf("zk: reading raft state: %w", err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), term); err != nil {
		return fmt.Errorf("zk: the raft stable store refuses writes: %w", err)
	}
	return nil
}

// holdIsolation counts the reasons to keep the node cut off from its
// peers (a stalled disk, a failing stable store): it is cut off while any
// holds.
func (n *Node) holdIsolation(on bool) {
	if n.peers == nil {
		return
	}
	n.isolationMu.Lock()
	defer n.isolationMu.Unlock()
	if on {
		n.isolationHolds++
		if n.isolationHolds == 1 {
			n.peers.Isolate(true)
		}
		return
	}
	n.isolationHolds--
	if n.isolationHolds == 0 {
		n.peers.Isolate(false)
	}
}
