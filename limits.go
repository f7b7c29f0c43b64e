package zk

import (
	"sync"
	"time"
)

// The limits on one client connection (Config.MaxOutstandingRequests,
// MaxQueuedBytes, MaxWatchesPerSession, MaxWatchBytesPerSession). Each
// bounds memory a client could otherwise make the node hold without end:
// requests it sends faster than they run, replies and notifications it
// does not read, watches it sets. A client over a limit waits (the node
// stops reading from it), is refused (ErrQuotaExceeded), or is
// disconnected; the node and the other sessions go on.

const (
	// DefaultMaxOutstandingRequests is the default of
	// Config.MaxOutstandingRequests, ZooKeeper's default
	// globalOutstandingLimit.
	DefaultMaxOutstandingRequests = 1000
	// DefaultMaxQueuedBytes is the default of Config.MaxQueuedBytes: room
	// for eight replies of the largest size a client accepts.
	DefaultMaxQueuedBytes = 8 << 20
	// DefaultMaxWatchesPerSession is the default of
	// Config.MaxWatchesPerSession: far more than any client of ZooKeeper
	// is known to need, and a bound on the memory of one that loops.
	DefaultMaxWatchesPerSession = 1_000_000
	// DefaultMaxWatchBytesPerSession is the default of
	// Config.MaxWatchBytesPerSession: a million watches on paths of 256
	// bytes.
	DefaultMaxWatchBytesPerSession = 256 << 20
)

// writeChunk is the most one socket write sends, so that a write deadline
// measures a client's progress rather than the size of a burst.
const writeChunk = 64 << 10

// byteGate counts the bytes held by one direction of a connection and
// makes its one waiter wait while they are over the limit.
type byteGate struct {
	max  int
	wake chan struct{} // a release happened; one waiter, so one slot

	mu   sync.Mutex
	used int // guarded by mu
}

func newByteGate(max int) *byteGate {
	return &byteGate{max: max, wake: make(chan struct{}, 1)}
}

// acquire waits until n more bytes fit, or nothing is held (so that one
// item larger than the limit still passes), and counts them. It returns
// false, counting nothing, once done is closed.
func (g *byteGate) acquire(n int, done <-chan struct{}) bool {
	for {
		g.mu.Lock()
		if g.used == 0 || g.used+n <= g.max {
			g.used += n
			g.mu.Unlock()
			return true
		}
		g.mu.Unlock()
		select {
		case <-g.wake:
		case <-done:
			return false
		}
	}
}

// add counts n bytes without waiting: for what cannot wait, such as the
// reply to a request that has already run.
func (g *byteGate) add(n int) {
	g.mu.Lock()
	g.used += n
	g.mu.Unlock()
}

// release uncounts n bytes and wakes the waiter.
func (g *byteGate) release(n int) {
	g.mu.Lock()
	g.used -= n
	g.mu.Unlock()
	poke(g.wake)
}

// poke wakes whoever waits on c, a channel of capacity one, or leaves the
// wake-up there for its next wait.
func poke(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// hasRoom reports whether the bytes held are under the limit.
func (g *byteGate) hasRoom() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.used < g.max
}

// waitRoom waits until the bytes held are under the limit. It returns
// false once done or gone is closed.
func (g *byteGate) waitRoom(done, gone <-chan struct{}) bool {
	for {
		g.mu.Lock()
		ok := g.used < g.max
		g.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-g.wake:
		case <-done:
			return false
		case <-gone:
			return false
		}
	}
}

// watchCost is what a watch on path counts against
// MaxWatchBytesPerSession.
func watchCost(path string) int { return len(path) }

// eventCost is what a pending notification counts against
// MaxQueuedBytes: its frame's size.
func eventCost(ev Event) int { return 32 + len(ev.Path) }

// watchRoom reports whether the connection may set k more watches on
// paths of size bytes in all: ErrQuotaExceeded if not. The watch
// manager's count is the truth, not the connection's record of its
// watches, which can hold watches consumed without an event (see
// sweepWatched).
func (w *wireConn) watchRoom(k, size int) error {
	maxN, maxB := w.n.cfg.MaxWatchesPerSession, w.n.cfg.MaxWatchBytesPerSession
	n, b := w.n.watches.usage(w.conn)
	if (maxN >= 0 && n+k > maxN) || (maxB >= 0 && b+size > maxB) {
		return ErrQuotaExceeded
	}
	return nil
}

// tidyWatched sweeps the connection's record of its watches once it holds
// many more than the watch manager does, which keeps it within a small
// multiple of the limit at an amortised constant cost.
func (w *wireConn) tidyWatched() {
	w.evMu.Lock()
	recorded := len(w.watched)
	w.evMu.Unlock()
	if n, _ := w.n.watches.usage(w.conn); recorded > 2*n+1024 {
		w.sweepWatched()
	}
}

// sweepWatched forgets the one-shot watches the connection records but
// the watch manager no longer holds: those a firing consumed without an
// event, because the client may not read the node. Without it they would
// pile up, and a later read would take such a watch for one still set.
// It runs on the processor, the only goroutine that sets watches, so a
// watch missing from the manager cannot be being set meanwhile.
func (w *wireConn) sweepWatched() {
	w.evMu.Lock()
	keys := make([]wireWatchKey, 0, len(w.watched))
	for k := range w.watched {
		if k.kind.oneShot() {
			keys = append(keys, k)
		}
	}
	w.evMu.Unlock()
	var stale []wireWatchKey
	for _, k := range keys {
		if !w.n.watches.has(w.conn, k.path, []watchKind{k.kind}) {
			stale = append(stale, k)
		}
	}
	w.evMu.Lock()
	for _, k := range stale {
		delete(w.watched, k)
	}
	w.evMu.Unlock()
}

// writeTimeoutFor is how long a connected client may take none of its
// output before it is disconnected: its session timeout, after which
// its own client would have given up on a server it cannot hear from,
// and at least a second, so that a loaded machine does not cut off a
// client that reads.
func writeTimeoutFor(session time.Duration) time.Duration {
	return max(session, time.Second)
}
