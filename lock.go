package zk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotLocked is returned by Mutex.Unlock (and RWMutex.Unlock and
// RUnlock) when the Mutex does not hold the lock: it never locked it, or
// has already unlocked it.
var ErrNotLocked = errors.New("zk: lock not held")

// ErrUnlocked is what Mutex.Err and Lease.Err report once the lock or the
// lease was given up by Unlock or Release.
var ErrUnlocked = errors.New("zk: lock released")

// The names of lock nodes: lockNodePrefix, a random id unique to one
// Lock, TryLock or Acquire, a dash, the kind, a dash, and the ten-digit
// sequence suffix: "_c_0123abcd...-write-0000000007". The id lets a call
// whose create had an unknown outcome (ErrConnectionLoss) find its node
// again, as Curator's protected mode does.
const (
	lockNodePrefix = "_c_"
	lockKindMutex  = "lock"
	lockKindRead   = "read"
	lockKindWrite  = "write"
	lockKindLease  = "lease"
	// lockMinCleanup bounds, at least, how long a cancelled Lock keeps
	// trying to remove its node.
	lockMinCleanup = 5 * time.Second
)

// lockCandidate is a parsed lock node name.
type lockCandidate struct {
	name string
	kind string
	seq  int64
}

// lockCandidates returns the lock nodes among names, lowest sequence
// number first. Names not made by this file are ignored.
func lockCandidates(names []string) []lockCandidate {
	var cs []lockCandidate
	for _, n := range names {
		if !strings.HasPrefix(n, lockNodePrefix) || len(n) < len(lockNodePrefix)+12 {
			continue
		}
		seq, err := strconv.ParseInt(n[len(n)-10:], 10, 64)
		if err != nil || n[len(n)-11] != '-' {
			continue
		}
		rest := n[len(lockNodePrefix) : len(n)-11] // id-kind
		dash := strings.IndexByte(rest, '-')
		if dash < 0 {
			continue
		}
		cs = append(cs, lockCandidate{name: n, kind: rest[dash+1:], seq: seq})
	}
	slices.SortFunc(cs, func(a, b lockCandidate) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return cs
}

// lockRule decides, for the lock nodes cs in sequence order and the index
// i of the caller's own node, whether the caller holds the lock, and if
// not, which node it waits on: the name of one node whose deletion may
// let it in, or "" for any change of the lock's children.
type lockRule func(cs []lockCandidate, i int) (held bool, wait string)

// lockExclusive: held by the lowest node alone; a waiter waits on the node
// just before it.
func lockExclusive(cs []lockCandidate, i int) (bool, string) {
	if i == 0 {
		return true, ""
	}
	return false, cs[i-1].name
}

// lockShared: held by a reader when no writer (any node that is not a
// reader) comes before it; it waits on the nearest earlier writer.
func lockShared(cs []lockCandidate, i int) (bool, string) {
	for j := i - 1; j >= 0; j-- {
		if cs[j].kind != lockKindRead {
			return false, cs[j].name
		}
	}
	return true, ""
}

// lockAmong: held by the n lowest nodes; a waiter waits on any change.
func lockAmong(n int) lockRule {
	return func(cs []lockCandidate, i int) (bool, string) {
		return i < n, ""
	}
}

// lockConnEnded returns the error that matches how conn ended.
func lockConnEnded(conn *Conn) error {
	if conn.State() == StateExpired {
		return ErrSessionExpired
	}
	return ErrClosing
}

// lockQueue is the line of ephemeral sequential nodes under one path that
// every lock recipe here is made of.
type lockQueue struct {
	conn *Conn
	path string
	acl  []ACL

	// wakeups counts the watches that fired while an acquire waited;
	// waiting counts the acquires waiting on one now. Tests read them.
	wakeups atomic.Int64
	waiting atomic.Int64
}

func newLockQueue(conn *Conn, path string) *lockQueue {
	return &lockQueue{conn: conn, path: strings.TrimSuffix(path, "/"), acl: WorldACL(PermAll)}
}

func (q *lockQueue) errorf(err error) error {
	return fmt.Errorf("zk: lock %s: %w", q.path, err)
}

// acquire enters a node of kind in the line and waits until rule says it
// holds the lock, then returns the hold. With try it does not wait: if the
// lock is not free it removes its node and returns a nil hold and a nil
// error.
func (q *lockQueue) acquire(ctx context.Context, kind string, rule lockRule, try bool) (*lockHold, error) {
	if err := ctx.Err(); err != nil {
		return nil, q.errorf(err)
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, q.errorf(err)
	}
	prefix := lockNodePrefix + hex.EncodeToString(rnd[:]) + "-" + kind + "-"
	id := prefix[:len(prefix)-len(kind)-1] // the names of this call's nodes start with id
	me, stat, uncertain, err := recipeCreate(ctx, q.conn, q.path, prefix, id, nil, q.acl)
	if err != nil {
		if !uncertain && ctx.Err() == nil {
			// Every create failed for sure: there is nothing to remove.
			return nil, q.errorf(err)
		}
		return nil, q.abandon(ctx, id, err)
	}
	for {
		names, _, err := q.conn.Children(ctx, q.path)
		if err != nil {
			if recipeUnknown(ctx, err) {
				continue
			}
			return nil, q.abandon(ctx, id, err)
		}
		cs := lockCandidates(names)
		if dup := slices.IndexFunc(cs, func(c lockCandidate) bool {
			return c.name != me && strings.HasPrefix(c.name, id)
		}); dup >= 0 {
			// A create of ours whose outcome seemed unknown happened after
			// all, late: it must not stand in line with us.
			err := q.conn.Delete(ctx, q.path+"/"+cs[dup].name, AnyVersion)
			if err != nil && !errors.Is(err, ErrNoNode) && !recipeUnknown(ctx, err) {
				return nil, q.abandon(ctx, id, err)
			}
			continue
		}
		i := slices.IndexFunc(cs, func(c lockCandidate) bool { return c.name == me })
		if i < 0 {
			return nil, q.errorf(fmt.Errorf("node %s was deleted: %w", me, ErrNoNode))
		}
		held, wait := rule(cs, i)
		if held {
			if err := ctx.Err(); err != nil {
				return nil, q.abandon(ctx, id, err)
			}
			return q.hold(ctx, me, stat, id)
		}
		if try {
			if err := q.removeWithin(ctx, id); err != nil {
				return nil, q.errorf(fmt.Errorf("could not remove node %s: %w", me, err))
			}
			return nil, nil
		}
		var w <-chan Event
		if wait == "" {
			var names []string
			names, _, w, err = q.conn.ChildrenW(ctx, q.path)
			if err == nil {
				cs := lockCandidates(names)
				i := slices.IndexFunc(cs, func(c lockCandidate) bool { return c.name == me })
				if i < 0 {
					continue // deleted meanwhile: look again to say so
				}
				if held, _ := rule(cs, i); held {
					continue
				}
			}
		} else {
			_, _, w, err = q.conn.GetW(ctx, q.path+"/"+wait)
			if errors.Is(err, ErrNoNode) {
				continue // it left meanwhile: look again
			}
		}
		if err != nil {
			if recipeUnknown(ctx, err) {
				continue
			}
			return nil, q.abandon(ctx, id, err)
		}
		q.waiting.Add(1)
		select {
		case ev := <-w:
			q.waiting.Add(-1)
			if ev.Type != EventNotWatching {
				q.wakeups.Add(1)
			}
		case <-ctx.Done():
			q.waiting.Add(-1)
			return nil, q.abandon(ctx, id, ctx.Err())
		}
	}
}

// removeWithin deletes the nodes whose names start with id, retrying
// while the outcome is unknown, for at least the session timeout even if
// ctx has ended. A session that has ended took its nodes with it.
func (q *lockQueue) removeWithin(ctx context.Context, id string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(q.conn.SessionTimeout(), lockMinCleanup))
	defer cancel()
	for {
		err := recipeRemoveOwned(cctx, q.conn, q.path, id)
		if err == nil || errors.Is(err, ErrClosing) || errors.Is(err, ErrSessionExpired) {
			return nil
		}
		if !recipeUnknown(cctx, err) || recipePause(cctx) != nil {
			return err
		}
	}
}

// abandon removes the nodes named with id after an acquire failed with
// cause, and returns the error the acquire returns.
func (q *lockQueue) abandon(ctx context.Context, id string, cause error) error {
	if errors.Is(cause, ErrClosing) || errors.Is(cause, ErrSessionExpired) {
		return q.errorf(cause)
	}
	if ctx.Err() != nil {
		cause = ctx.Err()
	}
	if err := q.removeWithin(ctx, id); err != nil {
		return errors.Join(q.errorf(cause), q.errorf(fmt.Errorf("could not remove node %s*: %w", id, err)))
	}
	return q.errorf(cause)
}

// hold starts the hold of the node me, which rule has let in.
func (q *lockQueue) hold(ctx context.Context, me string, stat *Stat, id string) (*lockHold, error) {
	h := &lockHold{
		token:    stat.Czxid,
		path:     q.path + "/" + me,
		q:        q,
		id:       id,
		lost:     make(chan struct{}),
		released: make(chan struct{}),
		done:     make(chan struct{}),
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	// Register before the check of the node below, so that an out of
	// touch spell that began before the lock was taken is not missed: the
	// channel closes on the node's last contact, not on registration.
	touch := q.conn.OutOfTouch(mctx, q.conn.SessionTimeout()/3)
	_, _, w, err := q.conn.GetW(ctx, h.path)
	if err != nil {
		stop()
		if errors.Is(err, ErrNoNode) {
			return nil, q.errorf(fmt.Errorf("node %s was deleted: %w", me, err))
		}
		return nil, q.abandon(ctx, id, err)
	}
	go h.monitor(mctx, stop, w, touch)
	return h, nil
}

// lockHold is one held lock node, with the goroutine that watches it.
type lockHold struct {
	token int64
	path  string

	q           *lockQueue
	id          string // the names of this acquire's nodes start with it
	lost        chan struct{}
	released    chan struct{}
	done        chan struct{} // closed when monitor has returned
	once        sync.Once
	releaseOnce sync.Once
	err         atomic.Pointer[error]
}

func (h *lockHold) Err() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}

// lose ends the hold with err, once.
func (h *lockHold) lose(err error) {
	h.once.Do(func() {
		h.err.Store(&err)
		close(h.lost)
	})
}

// monitor closes lost when the hold may be lost; it returns then.
func (h *lockHold) monitor(ctx context.Context, stop context.CancelFunc, w <-chan Event, touch <-chan struct{}) {
	defer close(h.done)
	defer stop()
	conn := h.q.conn
	for {
		select {
		case ev := <-w:
			switch ev.Type {
			case EventNodeDataChanged:
				// Someone changed the node's data: watch it again.
				var err error
				if _, _, w, err = conn.GetW(ctx, h.path); err == nil {
					continue
				}
				h.lose(fmt.Errorf("zk: lock %s: %w", h.path, err))
			case EventNotWatching:
				h.lose(fmt.Errorf("zk: lock %s: %w", h.path, lockConnEnded(conn)))
			default:
				h.lose(fmt.Errorf("zk: lock %s: node deleted: %w", h.path, ErrNoNode))
			}
			return
		case <-touch:
			select {
			case <-conn.Done():
				h.lose(fmt.Errorf("zk: lock %s: %w", h.path, lockConnEnded(conn)))
			default:
				h.lose(fmt.Errorf("zk: lock %s: out of touch with the ensemble: %w", h.path, ErrConnectionLoss))
			}
			return
		case <-conn.Done():
			h.lose(fmt.Errorf("zk: lock %s: %w", h.path, lockConnEnded(conn)))
			return
		case <-h.released:
			return
		}
	}
}

// release closes lost, then deletes the node, retrying while the outcome
// is unknown, bounded by ctx.
func (h *lockHold) release(ctx context.Context) error {
	h.lose(ErrUnlocked)
	h.releaseOnce.Do(func() { close(h.released) })
	<-h.done
	conn := h.q.conn
	for {
		err := conn.Delete(ctx, h.path, AnyVersion)
		switch {
		case err == nil, errors.Is(err, ErrNoNode):
			// A create of this acquire that seemed lost may yet have
			// happened, late, behind this node: it must go too.
			if err := recipeRemoveOwned(ctx, h.q.conn, h.q.path, h.id); err != nil &&
				!errors.Is(err, ErrSessionExpired) && !errors.Is(err, ErrClosing) {
				return fmt.Errorf("zk: unlock %s: %w", h.path, err)
			}
			return nil
		case errors.Is(err, ErrSessionExpired):
			return nil // the session's end deleted the node
		case recipeUnknown(ctx, err):
			if err := recipePause(ctx); err != nil {
				return fmt.Errorf("zk: unlock %s: %w", h.path, err)
			}
		case errors.Is(err, ErrClosing) && conn.State() == StateClosed:
			return nil // Close deleted the session's ephemeral nodes
		default:
			return fmt.Errorf("zk: unlock %s: %w", h.path, err)
		}
	}
}

// lockClosed returns a closed channel.
func lockClosed() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Mutex is ZooKeeper's lock recipe on one Conn: a lock is a path, each
// contender adds an ephemeral sequential node under it, the lowest node
// holds the lock, and every other contender watches only the node just
// before its own, so that an Unlock wakes one contender, not all of them
// (no herd effect). It uses only the exported API of Conn.
//
// A Mutex is one contender: it holds the lock at most once at a time.
// Goroutines that share a Mutex also exclude each other, as with
// sync.Mutex: Lock waits first for the Mutex itself to be free. Any number
// of Mutexes, on any Conns and nodes of an ensemble, may contend for the
// same path. The methods are safe for concurrent use.
//
// What it guarantees: at any point of the ensemble's history at most one
// contender's node is the lowest, so Lock returns to contenders in the
// order their nodes were created, each only once every earlier holder's
// node has been deleted, and the fencing token (Token: the czxid of the
// holder's node) strictly grows from one holder to the next.
//
// What it cannot guarantee: that two holders never act at the same
// moment. The lock is held while the holder's node exists, and the node
// is ephemeral, so the ensemble hands the lock on when the holder's
// session ends — by Close, or by expiry when its Conn has been out of
// touch for the session timeout, whatever its process believes. Lost
// closes before that could happen (see Lost), but a process may stall
// after checking it. A resource shared by holders should refuse a token
// smaller than one it has seen, or writes should be made conditional on
// the lock with CheckOp(NodePath(), AnyVersion) in a Multi.
type Mutex struct {
	q    *lockQueue
	kind string
	rule lockRule

	sem chan struct{} // holds a value while a Lock or TryLock runs or holds
	mu  sync.Mutex
	h   *lockHold
}

// NewMutex returns a Mutex on path for conn. The path and any missing
// parents are created, as persistent nodes with an open ACL, by the first
// Lock that needs them; they are never deleted. Lock nodes get an open ACL
// (WorldACL(PermAll)). Children of path whose names were not made by these
// recipes are ignored.
func NewMutex(conn *Conn, path string) *Mutex {
	return newMutex(newLockQueue(conn, path), lockKindMutex, lockExclusive)
}

func newMutex(q *lockQueue, kind string, rule lockRule) *Mutex {
	return &Mutex{q: q, kind: kind, rule: rule, sem: make(chan struct{}, 1)}
}

// Path returns the lock's path.
func (m *Mutex) Path() string { return m.q.path }

// Lock blocks until the Mutex holds the lock. Contenders get the lock in
// the order their nodes were created; each waits on its predecessor alone.
//
// When Lock returns nil, the Mutex's node was, at that moment, the lowest
// in this Conn's node's view, which (every lower node having been created
// before it, and so being visible there) means every earlier holder's node
// had been deleted. It does not guarantee that the lock still holds by the
// time the caller acts: watch Lost and fence with Token.
//
// If ctx ends first, Lock removes its node (also one whose creation was in
// flight) and returns an error wrapping ctx's; if the node cannot be
// removed within the session timeout (at least 5s), the error says so as
// well, and the node goes when the session ends. A create whose outcome
// is unknown (ErrConnectionLoss) is resolved by finding the node again by
// its unique per-call prefix. If the Conn ends, or the node is deleted by
// someone else while it waits, Lock returns an error (wrapping ErrClosing,
// ErrSessionExpired or ErrNoNode). ctx bounds the wait only: the lock, once
// held, outlives it.
func (m *Mutex) Lock(ctx context.Context) error {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return m.q.errorf(ctx.Err())
	}
	h, err := m.q.acquire(ctx, m.kind, m.rule, false)
	if err != nil {
		<-m.sem
		return err
	}
	m.mu.Lock()
	m.h = h
	m.mu.Unlock()
	return nil
}

// TryLock takes the lock if it is free and returns true, or returns false
// at once if it is not: held by another contender, or waited for by an
// earlier one (or by this Mutex itself). It enters a node and, unless that
// node is the lowest, removes it again; it does not wait on anyone, only
// for its own reads and writes. It guarantees what Lock does when it
// returns true. On an error the lock is not held and TryLock's node has
// been removed (or, as for Lock, the error says it could not be).
func (m *Mutex) TryLock(ctx context.Context) (bool, error) {
	select {
	case m.sem <- struct{}{}:
	default:
		return false, nil
	}
	h, err := m.q.acquire(ctx, m.kind, m.rule, true)
	if err != nil || h == nil {
		<-m.sem
		return false, err
	}
	m.mu.Lock()
	m.h = h
	m.mu.Unlock()
	return true, nil
}

// Unlock releases the lock: it closes Lost first, then deletes the lock
// node, which lets the next contender in. It returns once the node is
// deleted (or was already gone, or the session has ended, which deleted
// it); while the outcome of the delete is unknown it retries, bounded by
// ctx. If it returns another error the node may still exist: the Mutex
// still counts as holding it, and Unlock may be called again (or the Conn
// closed). Unlock on a Mutex that does not hold the lock returns an error
// wrapping ErrNotLocked. Unlock is needed after Lost has closed too, to
// give up the node if it is still there and to free the Mutex.
func (m *Mutex) Unlock(ctx context.Context) error {
	m.mu.Lock()
	h := m.h
	m.mu.Unlock()
	if h == nil {
		return m.q.errorf(ErrNotLocked)
	}
	if err := h.release(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	if m.h == h {
		m.h = nil
		<-m.sem
	}
	m.mu.Unlock()
	return nil
}

func (m *Mutex) held() *lockHold {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.h
}

// Token returns the fencing token of the current hold: the czxid of the
// lock node. Every later holder of the lock has a larger token, so a
// resource that remembers the largest token it has seen can refuse a
// holder that has been superseded. It returns 0 when the Mutex does not
// hold the lock.
func (m *Mutex) Token() int64 {
	if h := m.held(); h != nil {
		return h.token
	}
	return 0
}

// NodePath returns the lock node of the current hold, or "" when the
// Mutex does not hold the lock. While that node exists this session holds
// the lock: CheckOp(NodePath(), AnyVersion) in a Multi makes writes
// conditional on it.
func (m *Mutex) NodePath() string {
	if h := m.held(); h != nil {
		return h.path
	}
	return ""
}

// Lost returns a channel that is closed as soon as the holder can no
// longer be sure it holds the lock: its node was deleted (by Unlock, by
// someone else, or by the end of the session), or the Conn may have been
// out of touch with the ensemble for a third of the session timeout (see
// Conn.OutOfTouch: that is before the ensemble could expire the session
// and hand the lock on, as long as the clocks of the Conn's node and the
// ensemble's leader run at the same rate), or the Conn ended or lost its
// node. It may close while the node still exists (a false alarm: Unlock,
// and Lock again). A deletion by someone else it reports once the Conn's
// node has applied it. The channel is the current hold's: when the Mutex
// does not hold the lock, Lost returns a closed channel.
func (m *Mutex) Lost() <-chan struct{} {
	if h := m.held(); h != nil {
		return h.lost
	}
	return lockClosed()
}

// Err returns nil while the Mutex holds the lock and Lost is open; then
// why the hold ended: ErrUnlocked, or an error wrapping ErrNoNode (the node
// was deleted), ErrConnectionLoss (out of touch, or the Conn's node went
// away), ErrSessionExpired or ErrClosing (the Conn ended). It returns
// ErrNotLocked when the Mutex does not hold the lock.
func (m *Mutex) Err() error {
	if h := m.held(); h != nil {
		return h.Err()
	}
	return ErrNotLocked
}

// RWMutex is ZooKeeper's shared lock recipe: readers share the lock, a
// writer excludes everyone. Readers and writers enter ephemeral sequential
// nodes under one path. A writer holds the lock when its node is the
// lowest, and waits on the node just before its own; a reader holds it
// when no writer's node comes before its own, and waits on the nearest
// earlier writer's node only. So writers are not starved: a reader that
// comes after a waiting writer waits for it; and an Unlock wakes only the
// contenders it lets in, or the one that must wait on someone else next.
//
// An RWMutex is one reader and one writer (Reader and Writer, each a
// Mutex, with its own token and Lost channel); use an RWMutex per
// contender. Do not take the write lock while the same RWMutex holds the
// read lock or the other way round: the second waits for the first. A
// Mutex (NewMutex) on the same path counts as a writer.
//
// What it guarantees, at any point of the ensemble's history: while a
// writer's node is the lowest, it is the only holder; a reader holds only
// with no writer's node before its own. A writer's token is larger than
// that of every reader and writer that held the lock before it, and a
// reader's larger than that of every writer before it. It cannot
// guarantee, any more than Mutex, that a holder has not been superseded
// by the time it acts: watch Lost, fence with the token.
type RWMutex struct {
	r, w *Mutex
}

// NewRWMutex returns an RWMutex on path for conn. The path is created as
// for NewMutex.
func NewRWMutex(conn *Conn, path string) *RWMutex {
	q := newLockQueue(conn, path)
	return &RWMutex{r: newMutex(q, lockKindRead, lockShared), w: newMutex(q, lockKindWrite, lockExclusive)}
}

// Path returns the lock's path.
func (rw *RWMutex) Path() string { return rw.w.Path() }

// Reader returns the read side: its Lock and Unlock are RLock and
// RUnlock, and its Token, Lost and Err describe the read hold.
func (rw *RWMutex) Reader() *Mutex { return rw.r }

// Writer returns the write side: its Lock and Unlock are Lock and Unlock,
// and its Token, Lost and Err describe the write hold.
func (rw *RWMutex) Writer() *Mutex { return rw.w }

// Lock takes the write lock, as Mutex.Lock.
func (rw *RWMutex) Lock(ctx context.Context) error { return rw.w.Lock(ctx) }

// TryLock takes the write lock if no one holds or waits for the lock
// before it, as Mutex.TryLock.
func (rw *RWMutex) TryLock(ctx context.Context) (bool, error) { return rw.w.TryLock(ctx) }

// Unlock releases the write lock, as Mutex.Unlock.
func (rw *RWMutex) Unlock(ctx context.Context) error { return rw.w.Unlock(ctx) }

// RLock takes a read lock: it waits until no writer's node comes before
// its own, as Mutex.Lock does for the lowest node.
func (rw *RWMutex) RLock(ctx context.Context) error { return rw.r.Lock(ctx) }

// TryRLock takes a read lock if no writer holds or waits before it, as
// Mutex.TryLock.
func (rw *RWMutex) TryRLock(ctx context.Context) (bool, error) { return rw.r.TryLock(ctx) }

// RUnlock releases the read lock, as Mutex.Unlock.
func (rw *RWMutex) RUnlock(ctx context.Context) error { return rw.r.Unlock(ctx) }

// Semaphore is a counting semaphore of n leases, as Curator's
// InterProcessSemaphoreV2: a lease is an ephemeral sequential node under
// path+"/leases", and the n lowest lease nodes hold. Contenders queue for
// a Mutex on path+"/lock" first, so that only the one at the head of the
// queue watches the leases and a Release wakes one contender, not all of
// them; it lets go of that Mutex as soon as it holds a lease. It uses only
// the exported API of Conn. Every Semaphore on a path must use the same n.
//
// What it guarantees: at any point of the ensemble's history at most n
// lease nodes are held — a lease is granted only when fewer than n lease
// nodes come before its own, and every node before it was created first —
// whichever Mutex holder is in the way, even one that has lost it. What it
// cannot guarantee, as for Mutex, is that a holder whose lease has been
// handed on has stopped acting: watch Lease.Lost.
//
// One Semaphore may be used by many goroutines; its Acquires queue for
// its Mutex one after another.
type Semaphore struct {
	n      int
	guard  *Mutex
	leases *lockQueue
}

// NewSemaphore returns a Semaphore of n leases on path for conn. The
// paths are created as for NewMutex.
func NewSemaphore(conn *Conn, path string, n int) *Semaphore {
	path = strings.TrimSuffix(path, "/")
	return &Semaphore{
		n:      n,
		guard:  NewMutex(conn, path+"/lock"),
		leases: newLockQueue(conn, path+"/leases"),
	}
}

// Acquire blocks until it holds one of the n leases, and returns it.
//
// If ctx ends first, or the Conn ends, Acquire removes its nodes and
// returns an error, as Mutex.Lock does. The lease, once returned, outlives
// ctx.
func (s *Semaphore) Acquire(ctx context.Context) (*Lease, error) {
	if s.n < 1 {
		return nil, s.leases.errorf(fmt.Errorf("semaphore of %d leases: %w", s.n, ErrBadArguments))
	}
	if err := s.guard.Lock(ctx); err != nil {
		return nil, err
	}
	h, err := s.leases.acquire(ctx, lockKindLease, lockAmong(s.n), false)
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(s.leases.conn.SessionTimeout(), lockMinCleanup))
	defer cancel()
	if uerr := s.guard.Unlock(uctx); uerr != nil && !errors.Is(uerr, ErrClosing) && !errors.Is(uerr, ErrSessionExpired) {
		// The Mutex node stays and blocks every other Acquire: the caller
		// must learn of it. Give the lease back rather than hide this.
		if h != nil {
			err = h.release(uctx)
		}
		return nil, errors.Join(err, uerr)
	}
	if err != nil {
		return nil, err
	}
	return &Lease{h: h}, nil
}

// Lease is one of a Semaphore's leases, held from Acquire until Release
// or until the lease node goes (see Lost).
type Lease struct {
	h *lockHold
}

// Token returns the czxid of the lease node. Tokens of leases only grow
// with the order of Acquire, but unlike a Mutex's they do not fence: up to
// n holders hold at once.
func (l *Lease) Token() int64 { return l.h.token }

// Path returns the lease node.
func (l *Lease) Path() string { return l.h.path }

// Lost returns a channel that is closed as soon as the holder can no
// longer be sure it holds the lease, for the reasons given at Mutex.Lost.
func (l *Lease) Lost() <-chan struct{} { return l.h.lost }

// Err returns nil while Lost is open, then why the lease ended, as
// Mutex.Err.
func (l *Lease) Err() error { return l.h.Err() }

// Release gives the lease back: it closes Lost, then deletes the lease
// node, as Mutex.Unlock. It is safe to call more than once, and after
// Lost has closed.
func (l *Lease) Release(ctx context.Context) error { return l.h.release(ctx) }
