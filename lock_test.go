package zk_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

func lockCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*zktest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// lockWait polls cond until it holds or WaitTimeout passes.
func lockWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(zktest.WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func lockIsClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func lockClosedWithin(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(zktest.WaitTimeout):
		t.Fatalf("%s: not closed", what)
	}
}

// lockChildren returns the children of path as conn sees them after a Sync.
func lockChildren(t *testing.T, conn *zk.Conn, path string) []string {
	t.Helper()
	ctx := lockCtx(t)
	if err := conn.Sync(ctx, path); err != nil && !errors.Is(err, zk.ErrNoNode) {
		t.Fatal(err)
	}
	names, _, err := conn.Children(ctx, path)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		t.Fatal(err)
	}
	return names
}

// lockAsync runs f in a goroutine and returns a channel of its error.
func lockAsync(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func lockRecv(t *testing.T, what string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatalf("%s: did not return", what)
	}
}

func lockNone(t *testing.T, what string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned early: %v", what, err)
	default:
	}
}

// TestLockBasics: Lock on a missing path creates it; TryLock fails while
// the lock is held, from another node; Unlock by a non-holder errors with
// ErrNotLocked; a waiter gets the lock on Unlock, with a larger token;
// Lost closes on Unlock (ErrUnlocked) and when someone deletes the node
// (ErrNoNode); cancelled Locks, before and while waiting, leave no node.
func TestLockBasics(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := lockCtx(t)
	connA := c.Connect(t, 0)
	a := zk.NewMutex(connA, "/locks/basic")
	b := zk.NewMutex(c.Connect(t, 1), "/locks/basic")
	if err := a.Unlock(ctx); !errors.Is(err, zk.ErrNotLocked) {
		t.Fatalf("Unlock before Lock: %v", err)
	}
	if !lockIsClosed(a.Lost()) || a.Token() != 0 || !errors.Is(a.Err(), zk.ErrNotLocked) {
		t.Fatal("a Mutex that holds nothing should report so")
	}
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if lockIsClosed(a.Lost()) || a.Err() != nil || a.Token() == 0 {
		t.Fatalf("after Lock: Err %v, token %d", a.Err(), a.Token())
	}
	if ok, err := b.TryLock(ctx); ok || err != nil {
		t.Fatalf("TryLock while held: %v %v", ok, err)
	}
	if ok, err := a.TryLock(ctx); ok || err != nil {
		t.Fatalf("TryLock by the holder itself: %v %v", ok, err)
	}
	if err := b.Unlock(ctx); !errors.Is(err, zk.ErrNotLocked) {
		t.Fatalf("Unlock by a non-holder: %v", err)
	}
	if names := lockChildren(t, connA, "/locks/basic"); len(names) != 1 || "/locks/basic/"+names[0] != a.NodePath() {
		t.Fatalf("lock nodes %v, want only %s", names, a.NodePath())
	}

	// Cancelled Locks leave nothing behind.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Lock(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock on a cancelled ctx: %v", err)
	}
	for i := range 10 {
		cctx, cancel := context.WithCancel(ctx)
		res := lockAsync(func() error { return b.Lock(cctx) })
		if i%2 == 0 {
			lockWait(t, "b to wait", func() bool { _, w := zk.LockWakeups(b); return w == 1 })
		}
		cancel()
		select {
		case err := <-res:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: %v", i, err)
			}
		case <-time.After(zktest.WaitTimeout):
			t.Fatal("a cancelled Lock did not return")
		}
		if names := lockChildren(t, connA, "/locks/basic"); len(names) != 1 {
			t.Fatalf("round %d: lock nodes %v", i, names)
		}
	}
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer dcancel()
	if err := b.Lock(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock past its deadline: %v", err)
	}
	if lockIsClosed(a.Lost()) {
		t.Fatalf("the holder lost: %v", a.Err())
	}

	// Unlock hands over.
	res := lockAsync(func() error { return b.Lock(ctx) })
	lockWait(t, "b to wait", func() bool { _, w := zk.LockWakeups(b); return w == 1 })
	lockNone(t, "b.Lock", res)
	tokA := a.Token()
	lostA := a.Lost()
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if !lockIsClosed(lostA) {
		t.Fatal("Lost open after Unlock")
	}
	if err := a.Unlock(ctx); !errors.Is(err, zk.ErrNotLocked) {
		t.Fatalf("second Unlock: %v", err)
	}
	lockRecv(t, "b.Lock", res)
	if b.Token() <= tokA {
		t.Fatalf("token %d after %d", b.Token(), tokA)
	}
	if wk, _ := zk.LockWakeups(b); wk != 1 {
		t.Fatalf("%d wakeups", wk)
	}

	// Someone deletes the holder's node: Lost closes with ErrNoNode, and
	// the next contender gets the lock.
	res = lockAsync(func() error { return a.Lock(ctx) })
	lockWait(t, "a to wait", func() bool { _, w := zk.LockWakeups(a); return w == 1 })
	lostB := b.Lost()
	if err := connA.Delete(ctx, b.NodePath(), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	lockClosedWithin(t, "Lost after the node was deleted", lostB)
	if !errors.Is(b.Err(), zk.ErrNoNode) {
		t.Fatalf("Err: %v", b.Err())
	}
	lockRecv(t, "a.Lock", res)
	if err := b.Unlock(ctx); err != nil {
		t.Fatalf("Unlock after the node was deleted: %v", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if names := lockChildren(t, connA, "/locks/basic"); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
	// A bad path says so, and only that.
	if err := zk.NewMutex(connA, "no-slash").Lock(ctx); !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("Lock on a bad path: %v", err)
	}
}

// TestLockSharedMutex: goroutines sharing one Mutex exclude each other,
// as with sync.Mutex.
func TestLockSharedMutex(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := lockCtx(t)
	m := zk.NewMutex(c.Connect(t, 0), "/shared")
	var inside atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if err := m.Lock(ctx); err != nil {
					errs <- err
					return
				}
				if inside.Add(1) != 1 {
					errs <- errors.New("two goroutines inside")
				}
				inside.Add(-1)
				if err := m.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestLockNoHerd: 30 contenders on 30 sessions over 3 nodes. Each Unlock
// fires exactly one predecessor watch, and so does the cancellation of a
// contender in the middle of the line.
func TestLockNoHerd(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := lockCtx(t)
	const n = 30
	ms := make([]*zk.Mutex, n)
	cancels := make([]context.CancelFunc, n)
	type result struct {
		i   int
		err error
	}
	res := make(chan result, n)
	for i := range n {
		ms[i] = zk.NewMutex(c.Connect(t, i%3), "/herd")
		cctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		t.Cleanup(cancel)
		go func() { res <- result{i, ms[i].Lock(cctx)} }()
	}
	counts := func() (waiting, wakeups int64) {
		for _, m := range ms {
			wk, w := zk.LockWakeups(m)
			waiting += w
			wakeups += wk
		}
		return
	}
	next := func() int {
		t.Helper()
		select {
		case r := <-res:
			if r.err != nil {
				t.Fatalf("Lock %d: %v", r.i, r.err)
			}
			return r.i
		case <-time.After(zktest.WaitTimeout):
			t.Fatal("nobody got the lock")
		}
		return -1
	}
	settle := func(waiting, wakeups int64) {
		t.Helper()
		c.WaitApplied(c.Leader().LastZxid())
		lockWait(t, "the contenders to settle", func() bool { w, wk := counts(); return w == waiting && wk >= wakeups })
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if w, wk := counts(); wk != wakeups || w != waiting {
				t.Fatalf("%d watches fired, %d contenders wait; want %d and %d", wk, w, wakeups, waiting)
			}
		}
	}
	holder := next()
	settle(n-1, 0)
	last := ms[holder].Token()
	const unlocks = 5
	for k := range unlocks {
		if err := ms[holder].Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		holder = next()
		if tok := ms[holder].Token(); tok <= last {
			t.Fatalf("token %d after %d", tok, last)
		} else {
			last = tok
		}
		settle(int64(n-2-k), int64(k+1))
	}
	// Cancel a waiting contender: at most its successor wakes.
	victim := (holder + n/2) % n
	cancels[victim]()
	if r := <-res; r.i != victim || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Lock %d: %v", r.i, r.err)
	}
	c.WaitApplied(c.Leader().LastZxid())
	lockWait(t, "the line to settle", func() bool { w, _ := counts(); return w == int64(n-2-unlocks) })
	time.Sleep(50 * time.Millisecond)
	if w, wk := counts(); w != int64(n-2-unlocks) || wk > unlocks+1 {
		t.Fatalf("after a cancellation: %d watches fired, %d contenders wait", wk, w)
	}
	if names := lockChildren(t, c.Connect(t, 0), "/herd"); len(names) != n-unlocks-1 {
		t.Fatalf("%d lock nodes, want %d", len(names), n-unlocks-1)
	}
	t.Logf("%d contenders, %d unlocks and a cancellation: each woke one contender", n, unlocks)
}

// lockResource is the shared resource the holders of a lock use: it
// records who is inside and checks the recipe's promise.
type lockResource struct {
	mu        sync.Mutex
	limit     int           // most holders at once: 1, or a Semaphore's n
	inside    map[int]visit // contender → its visit
	maxAll    int64         // largest token of any holder that entered
	maxWriter int64         // largest token of an exclusive holder
	peak      int
	entries   int
	refused   int // holders that found their Lost closed on entering
	writers   []int64
	bad       []string
}

type visit struct {
	token int64
	kind  string // "write" (exclusive), "read" or "lease"
}

func newLockResource(limit int) *lockResource {
	return &lockResource{limit: limit, inside: map[int]visit{}}
}

// enter lets contender id in with its token, unless lost has closed
// (the holder's own check, made atomically with entering).
func (r *lockResource) enter(id int, token int64, kind string, lost <-chan struct{}) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lockIsClosed(lost) {
		r.refused++
		return false
	}
	for o, v := range r.inside {
		switch {
		case kind == "lease":
		case kind == "write":
			r.bad = append(r.bad, fmt.Sprintf("writer %d (token %d) entered while %d (%s, token %d) is inside", id, token, o, v.kind, v.token))
		case v.kind == "write":
			r.bad = append(r.bad, fmt.Sprintf("reader %d (token %d) entered while writer %d (token %d) is inside", id, token, o, v.token))
		}
	}
	switch kind {
	case "write":
		if token < r.maxAll {
			r.bad = append(r.bad, fmt.Sprintf("writer %d: token %d went back (seen %d)", id, token, r.maxAll))
		}
		if token != r.maxWriter {
			r.writers = append(r.writers, token)
		}
		r.maxWriter = max(r.maxWriter, token)
	case "read":
		if token < r.maxWriter {
			r.bad = append(r.bad, fmt.Sprintf("reader %d: token %d before writer %d", id, token, r.maxWriter))
		}
	}
	r.maxAll = max(r.maxAll, token)
	r.inside[id] = visit{token, kind}
	r.entries++
	if len(r.inside) > r.limit {
		r.bad = append(r.bad, fmt.Sprintf("%d holders inside, limit %d", len(r.inside), r.limit))
	}
	r.peak = max(r.peak, len(r.inside))
	return true
}

func (r *lockResource) exit(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inside, id)
}

// lockHold is a held lock as the stress harness sees it.
type lockHold struct {
	id      int
	node    int
	token   int64
	lost    <-chan struct{}
	stopped chan struct{} // closed once the holder no longer uses the resource
}

// lockLocker is one kind of lock for the harness.
type lockLocker struct {
	kind string // of the holds, for lockResource
	// acquire takes the lock on conn; release gives it back.
	acquire func(ctx context.Context, conn *zk.Conn, id int) (kind string, token int64, lost <-chan struct{}, release func(context.Context) error, err error)
}

// lockHarness runs contenders against a lock on a cluster while the test
// kills and partitions the nodes of holders.
type lockHarness struct {
	t        *testing.T
	c        *zktest.Cluster
	res      *lockResource
	locker   lockLocker
	faultsMu sync.Mutex // held while nodes are killed or restarted
	mu       sync.Mutex
	holds    map[int]*lockHold
	faulty   int // the node under a fault, or -1
	start    time.Time
	timeline []string // what happened, printed when the test fails
	conns    []*zk.Conn
	acquired atomic.Int64
	errs     []error
}

// connect opens a session, on node if it runs and can, else on the next
// running node that can.
func (h *lockHarness) connect(ctx context.Context, node int) (*zk.Conn, int) {
	for try := 0; ctx.Err() == nil; try++ {
		i := (node + try) % h.c.Size()
		h.faultsMu.Lock()
		n := h.c.Node(i)
		h.faultsMu.Unlock()
		if n == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, zktest.SessionTimeout)
		conn, err := n.Connect(cctx, zk.WithSessionTimeout(zktest.SessionTimeout))
		cancel()
		if err == nil {
			h.mu.Lock()
			h.conns = append(h.conns, conn)
			h.mu.Unlock()
			return conn, i
		}
	}
	return nil, -1
}

func (h *lockHarness) fail(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

// contend is contender id's loop: connect, lock, use the resource until
// Lost closes or its turn is over, unlock; again on a new Conn when its
// Conn ends.
func (h *lockHarness) contend(ctx context.Context, id int) {
	node := id % h.c.Size()
	for ctx.Err() == nil {
		conn, at := h.connect(ctx, node)
		if conn == nil {
			return
		}
		for ctx.Err() == nil {
			// A contender whose node is cut off gives up waiting and goes
			// elsewhere, as a ZooKeeper client whose server lost quorum
			// would: else all contenders may end up waiting on it.
			actx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-conn.OutOfTouch(actx, zktest.SessionTimeout/3):
					cancel()
				case <-actx.Done():
				}
			}()
			kind, token, lost, release, err := h.locker.acquire(actx, conn, id)
			cut := actx.Err() != nil && ctx.Err() == nil
			cancel()
			if err != nil {
				if ctx.Err() != nil || cut || lockIsClosed(conn.Done()) {
					break
				}
				if errors.Is(err, zk.ErrConnectionLoss) || errors.Is(err, zk.ErrNoNode) ||
					errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrSessionExpired) {
					// The partitioned node's writes timed out, or its
					// node went with the session: start over.
					break
				}
				h.fail(fmt.Errorf("contender %d: %w", id, err))
				break
			}
			h.acquired.Add(1)
			h.note("%d: %s lock on node %d, session %#x, token %#x", id, kind, at, conn.SessionID(), token)
			hold := &lockHold{id: id, node: at, token: token, lost: lost, stopped: make(chan struct{})}
			h.mu.Lock()
			late := at == h.faulty
			if !late {
				h.holds[id] = hold
			}
			h.mu.Unlock()
			if late {
				// It got the lock on the faulty node after the fault had
				// begun, so quiesce may not have counted it: Lost closes
				// asynchronously, and the fake clock can expire its
				// session a moment later. A holder acting in the gap is
				// a harness artefact, not a breach, so it gives up.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*zktest.SessionTimeout)
				release(rctx)
				cancel()
				break
			}
			end := time.Now().Add(time.Duration(2+rand.IntN(4)) * time.Millisecond)
			for time.Now().Before(end) && ctx.Err() == nil {
				if !h.res.enter(id, token, kind, lost) {
					break
				}
				time.Sleep(200 * time.Microsecond) // the work
				h.res.exit(id)
			}
			h.mu.Lock()
			delete(h.holds, id)
			h.mu.Unlock()
			close(hold.stopped)
			h.note("%d: stopped (lost %v)", id, lockIsClosed(lost))
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*zktest.SessionTimeout)
			err = release(rctx)
			cancel()
			if err != nil {
				break // a partitioned or dead node: drop the Conn
			}
		}
		conn.Close()
	}
}

// note records an event on the timeline.
func (h *lockHarness) note(format string, args ...any) {
	h.mu.Lock()
	h.timeline = append(h.timeline, fmt.Sprintf("%8.3fms ", float64(time.Since(h.start).Microseconds())/1000)+fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

func (h *lockHarness) setFaulty(node int) {
	h.mu.Lock()
	h.faulty = node
	h.mu.Unlock()
}

// holder returns a current holder, waiting for one.
func (h *lockHarness) holder() *lockHold {
	var got *lockHold
	lockWait(h.t, "a holder", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, hd := range h.holds {
			if !lockIsClosed(hd.lost) {
				got = hd
				return true
			}
		}
		return false
	})
	return got
}

// quiesce waits until every holder on node has stopped using the
// resource, as holders must once Lost has closed.
func (h *lockHarness) quiesce(node int) {
	lockWait(h.t, "the holders on the faulty node to stop", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, hd := range h.holds {
			if hd.node == node && !lockIsClosed(hd.stopped) {
				return false
			}
		}
		return true
	})
}

// dump logs the lock nodes under /stress with their owners, to tell
// why the lock does not pass on.
func (h *lockHarness) dump() {
	conn := h.c.Connect(h.t, h.c.LeaderIndex())
	ctx := context.Background()
	var walk func(string)
	walk = func(p string) {
		names, _, err := conn.Children(ctx, p)
		if err != nil {
			h.t.Logf("%s: %v", p, err)
			return
		}
		slices.Sort(names)
		for _, name := range names {
			c := strings.TrimSuffix(p, "/") + "/" + name
			if _, st, err := conn.Exists(ctx, c); err == nil && st != nil {
				h.t.Logf("%s czxid %#x owner %#x", c, st.Czxid, st.EphemeralOwner)
			}
			walk(c)
		}
	}
	walk("/stress")
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, conn := range h.conns {
		if !lockIsClosed(conn.Done()) {
			h.t.Logf("open Conn: session %#x, %v", conn.SessionID(), conn.State())
		}
	}
	for id, hd := range h.holds {
		h.t.Logf("contender %d holds on node %d, token %#x, lost %v", id, hd.node, hd.token, lockIsClosed(hd.lost))
	}
}

// progress waits until k more locks have been taken. While it waits the
// fake clock runs on as real time would, a tick every few milliseconds
// without progress: a contender that gave up its Conn during a fault may
// have closed it while no leader could commit the closeSession, and its
// session, with its nodes in the queue, then ends only by expiring.
func (h *lockHarness) progress(k int64) {
	from := h.acquired.Load()
	deadline := time.Now().Add(zktest.WaitTimeout)
	last, lastAt := h.acquired.Load(), time.Now()
	for h.acquired.Load() < from+k {
		if time.Now().After(deadline) {
			h.dump()
			h.mu.Lock()
			for _, e := range h.timeline {
				h.t.Log(e)
			}
			h.mu.Unlock()
			h.t.Fatalf("timed out waiting for the lock to pass on")
		}
		if now := h.acquired.Load(); now != last {
			last, lastAt = now, time.Now()
		} else if time.Since(lastAt) > 20*time.Millisecond {
			h.c.Advance(zktest.TickTime)
			lastAt = time.Now()
		}
		time.Sleep(time.Millisecond)
	}
}

// lockStress runs contenders contenders against locker on a 3-node
// cluster through kills and partitions of holders' nodes, faults rounds
// in all, and checks the resource saw nothing wrong.
func lockStress(t *testing.T, contenders, faults, limit int, locker lockLocker) *lockResource {
	c := zktest.NewCluster(t, 3)
	ctx, stop := context.WithCancel(lockCtx(t))
	h := &lockHarness{t: t, c: c, res: newLockResource(limit), locker: locker, holds: map[int]*lockHold{}, faulty: -1, start: time.Now()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		stop()
		wg.Wait()
		for _, conn := range h.conns {
			conn.Close()
		}
	})
	for id := range contenders {
		wg.Go(func() { h.contend(ctx, id) })
	}
	start := time.Now()
	h.progress(int64(contenders))
	third := time.Duration((zktest.SessionTimeout/3+zktest.TickTime-1)/zktest.TickTime) * zktest.TickTime
	for f := range faults {
		hd := h.holder()
		h.setFaulty(hd.node)
		h.note("fault %d on node %d, holder %d", f, hd.node, hd.id)
		if f%2 == 0 {
			h.faultsMu.Lock()
			c.Kill(hd.node)
			h.faultsMu.Unlock()
			lockClosedWithin(t, "the killed holder's Lost", hd.lost)
			h.quiesce(hd.node)
			c.LeaderIndex()
			c.Advance(zktest.SessionTimeout + 2*zktest.TickTime)
			h.progress(3)
			h.faultsMu.Lock()
			c.Restart(hd.node)
			h.faultsMu.Unlock()
		} else {
			var rest []int
			for i := range c.Size() {
				if i != hd.node {
					rest = append(rest, i)
				}
			}
			c.Partition([]int{hd.node}, rest)
			// Sessions get a fresh timeout from a new leader: let the
			// majority have one before the clock moves.
			lockWait(t, "a leader in the majority", func() bool {
				for _, i := range rest {
					if c.Node(i).Stats().Role == zk.RoleLeader {
						return true
					}
				}
				return false
			})
			c.Advance(third)
			lockClosedWithin(t, "the cut-off holder's Lost", hd.lost)
			h.quiesce(hd.node)
			c.Advance(zktest.SessionTimeout)
			h.progress(3)
			c.Heal()
		}
		h.setFaulty(-1)
		h.progress(int64(contenders))
		t.Logf("fault %d (%s of node %d, holder %d) after %d acquisitions", f, map[bool]string{true: "kill", false: "partition"}[f%2 == 0], hd.node, hd.id, h.acquired.Load())
	}
	h.progress(int64(contenders))
	stop()
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.errs {
		t.Error(err)
	}
	r := h.res
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		t.Error(b)
	}
	if t.Failed() {
		for _, e := range h.timeline {
			t.Log(e)
		}
	}
	for i := 1; i < len(r.writers); i++ {
		if r.writers[i] <= r.writers[i-1] {
			t.Errorf("exclusive token %d after %d", r.writers[i], r.writers[i-1])
		}
	}
	t.Logf("%d contenders, %d faults, %d acquisitions, %d entries, peak %d inside, %d refused after Lost, in %v",
		contenders, faults, h.acquired.Load(), r.entries, r.peak, r.refused, time.Since(start).Round(time.Millisecond))
	return r
}

// TestLockExclusionUnderFailures: 12 contenders, four per node, contend
// for one Mutex and use a shared resource while they hold it; holders'
// nodes are killed (their sessions then expire on the fake clock) and cut
// off by partitions (Lost closes after a third of the session timeout,
// before the session can expire). The resource never has two holders at
// once, and the tokens it sees only grow.
func TestLockExclusionUnderFailures(t *testing.T) {
	r := lockStress(t, 12, 6, 1, lockLocker{
		acquire: func(ctx context.Context, conn *zk.Conn, id int) (string, int64, <-chan struct{}, func(context.Context) error, error) {
			m := zk.NewMutex(conn, "/stress/mutex")
			if err := m.Lock(ctx); err != nil {
				return "", 0, nil, nil, err
			}
			return "write", m.Token(), m.Lost(), m.Unlock, nil
		},
	})
	if r.peak != 1 {
		t.Fatalf("peak %d", r.peak)
	}
}

// TestRWLockExclusionUnderFailures: as TestLockExclusionUnderFailures,
// with 10 contenders of which a third write, through 2 kills and 2 partitions and the rest read: a writer
// is never inside with anyone, readers are inside together, and tokens
// never go back.
func TestRWLockExclusionUnderFailures(t *testing.T) {
	r := lockStress(t, 10, 4, 10, lockLocker{
		acquire: func(ctx context.Context, conn *zk.Conn, id int) (string, int64, <-chan struct{}, func(context.Context) error, error) {
			rw := zk.NewRWMutex(conn, "/stress/rw")
			m := rw.Reader()
			kind := "read"
			if id%3 == 0 {
				m, kind = rw.Writer(), "write"
			}
			if err := m.Lock(ctx); err != nil {
				return "", 0, nil, nil, err
			}
			return kind, m.Token(), m.Lost(), m.Unlock, nil
		},
	})
	if r.peak < 2 {
		t.Fatalf("readers never shared the lock: peak %d", r.peak)
	}
}

// TestSemaphoreUnderFailures: 10 contenders for 3 leases, through a kill
// and a partition, twice: never more than 3 inside.
func TestSemaphoreUnderFailures(t *testing.T) {
	const n = 3
	r := lockStress(t, 10, 4, n, lockLocker{
		acquire: func(ctx context.Context, conn *zk.Conn, id int) (string, int64, <-chan struct{}, func(context.Context) error, error) {
			l, err := zk.NewSemaphore(conn, "/stress/sem", n).Acquire(ctx)
			if err != nil {
				return "", 0, nil, nil, err
			}
			return "lease", l.Token(), l.Lost(), l.Release, nil
		},
	})
	if r.peak != n {
		t.Fatalf("peak %d, want %d", r.peak, n)
	}
}

// TestLockLostBeforeExpiry: the holder's node, a follower, is cut off.
// Lost closes once the fake clock has passed a third of the session
// timeout, while the holder's node still exists on the majority and the
// waiter there has not got the lock; only after the session timeout does
// the waiter get it, with a larger token.
func TestLockLostBeforeExpiry(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := lockCtx(t)
	ld := c.LeaderIndex()
	var fs []int
	for i := range c.Size() {
		if i != ld {
			fs = append(fs, i)
		}
	}
	a := zk.NewMutex(c.Connect(t, fs[0]), "/l")
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	b := zk.NewMutex(c.Connect(t, ld), "/l")
	res := lockAsync(func() error { return b.Lock(ctx) })
	lockWait(t, "b to wait", func() bool { _, w := zk.LockWakeups(b); return w == 1 })
	majority := c.Connect(t, fs[1])

	c.Partition([]int{fs[0]}, []int{ld, fs[1]})
	third := int((zktest.SessionTimeout/3 + zktest.TickTime - 1) / zktest.TickTime)
	c.Advance(time.Duration(third) * zktest.TickTime)
	lockClosedWithin(t, "Lost after a third of the session timeout out of touch", a.Lost())
	if !errors.Is(a.Err(), zk.ErrConnectionLoss) {
		t.Fatalf("Err: %v", a.Err())
	}
	if err := majority.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := majority.Exists(ctx, a.NodePath()); err != nil || !ok {
		t.Fatalf("the holder's node was gone before Lost closed: %v", err)
	}
	lockNone(t, "b.Lock", res)
	c.Advance(zktest.SessionTimeout)
	lockRecv(t, "b.Lock", res)
	if b.Token() <= a.Token() {
		t.Fatalf("token %d after %d", b.Token(), a.Token())
	}
	c.Heal()
	uctx, cancel := context.WithTimeout(ctx, zktest.WaitTimeout)
	defer cancel()
	if err := a.Unlock(uctx); err != nil {
		t.Fatalf("Unlock after the session expired: %v", err)
	}
	t.Logf("Lost after %d ticks; b locked after %d more", third, zktest.SessionTimeout/zktest.TickTime)
}

// TestLockFailover: a holder on a Conn made WithFailover whose node is
// killed gets Lost (it can no longer be sure), but its session and node
// live on, so nobody else gets the lock until it unlocks, however long the
// fake clock runs.
func TestLockFailover(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := lockCtx(t)
	connA := c.Connect(t, 0, zk.WithFailover(c.Node(1)))
	a := zk.NewMutex(connA, "/f")
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	b := zk.NewMutex(c.Connect(t, 2, zk.WithFailover(c.Node(1))), "/f")
	res := lockAsync(func() error { return b.Lock(ctx) })
	lockWait(t, "b to wait", func() bool { _, w := zk.LockWakeups(b); return w == 1 })
	c.Kill(0)
	lockClosedWithin(t, "Lost after the holder's node was killed", a.Lost())
	if !errors.Is(a.Err(), zk.ErrConnectionLoss) {
		t.Fatalf("Err: %v", a.Err())
	}
	c.LeaderIndex()
	// The session moves to node 1; once there, it is kept alive.
	lockWait(t, "a's session to move", func() bool { return connA.State() == zk.StateConnected })
	c.Advance(2 * zktest.SessionTimeout)
	lockNone(t, "b.Lock", res)
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	lockRecv(t, "b.Lock", res)
	if b.Token() <= a.Token() || lockIsClosed(b.Lost()) {
		t.Fatalf("b: token %d after %d, Err %v", b.Token(), a.Token(), b.Err())
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRWLockOrder: readers share the lock; a writer waits for them; a
// reader that comes after a waiting writer waits for the writer (writers
// are not starved); TryLock and TryRLock fail accordingly.
func TestRWLockOrder(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := lockCtx(t)
	rw := make([]*zk.RWMutex, 4)
	for i := range rw {
		rw[i] = zk.NewRWMutex(c.Connect(t, i%3), "/rw")
	}
	if err := rw[0].RLock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rw[1].RLock(ctx); err != nil {
		t.Fatal(err) // readers share
	}
	if ok, err := rw[2].TryLock(ctx); ok || err != nil {
		t.Fatalf("TryLock while read-locked: %v %v", ok, err)
	}
	if ok, err := rw[2].TryRLock(ctx); !ok || err != nil {
		t.Fatalf("TryRLock while read-locked: %v %v", ok, err)
	}
	if err := rw[2].RUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	w := lockAsync(func() error { return rw[2].Lock(ctx) })
	lockWait(t, "the writer to wait", func() bool { _, n := zk.LockWakeups(rw[2].Writer()); return n == 1 })
	r := lockAsync(func() error { return rw[3].RLock(ctx) })
	lockWait(t, "the late reader to wait", func() bool { _, n := zk.LockWakeups(rw[3].Reader()); return n == 1 })
	if ok, err := rw[0].Writer().TryLock(ctx); ok || err != nil {
		t.Fatalf("TryLock with a writer waiting: %v %v", ok, err)
	}
	if err := rw[0].RUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	lockNone(t, "the writer", w)
	if err := rw[1].RUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	lockRecv(t, "the writer", w)
	lockNone(t, "the late reader", r)
	wtok := rw[2].Writer().Token()
	if err := rw[2].Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	lockRecv(t, "the late reader", r)
	if tok := rw[3].Reader().Token(); tok <= wtok {
		t.Fatalf("reader token %d after writer %d", tok, wtok)
	}
	if err := rw[3].Unlock(ctx); !errors.Is(err, zk.ErrNotLocked) {
		t.Fatalf("write Unlock by a reader: %v", err)
	}
	if err := rw[3].RUnlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSemaphoreBasics: n leases are granted at once, the next Acquire
// waits until one is released, and a cancelled Acquire leaves no node.
func TestSemaphoreBasics(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := lockCtx(t)
	conn := c.Connect(t, 0)
	const n = 2
	var leases []*zk.Lease
	for i := range n {
		l, err := zk.NewSemaphore(c.Connect(t, i), "/sem", n).Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	s := zk.NewSemaphore(c.Connect(t, 2), "/sem", n)
	cctx, cancel := context.WithCancel(ctx)
	res := lockAsync(func() error { _, err := s.Acquire(cctx); return err })
	lockWait(t, "the third to wait", func() bool { _, w := zk.SemaphoreWakeups(s); return w == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire: %v", err)
	}
	if names := lockChildren(t, conn, "/sem/leases"); len(names) != n {
		t.Fatalf("leases %v", names)
	}
	if names := lockChildren(t, conn, "/sem/lock"); len(names) != 0 {
		t.Fatalf("lock nodes %v", names)
	}
	var got *zk.Lease
	res = lockAsync(func() (err error) { got, err = s.Acquire(ctx); return err })
	lockWait(t, "the third to wait", func() bool { _, w := zk.SemaphoreWakeups(s); return w == 1 })
	if err := leases[0].Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !lockIsClosed(leases[0].Lost()) || !errors.Is(leases[0].Err(), zk.ErrUnlocked) {
		t.Fatal("Lost open after Release")
	}
	lockRecv(t, "Acquire", res)
	if lockIsClosed(got.Lost()) {
		t.Fatalf("new lease lost: %v", got.Err())
	}
	for _, l := range []*zk.Lease{leases[0], leases[1], got} {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if names := lockChildren(t, conn, "/sem/leases"); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
	if _, err := zk.NewSemaphore(conn, "/sem", 0).Acquire(ctx); !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("a semaphore of 0 leases: %v", err)
	}
}
