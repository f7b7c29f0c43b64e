package zk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Barrier is ZooKeeper's barrier recipe on one Conn: the barrier is up
// while its node exists. Set raises it, Remove lowers it, and Wait blocks
// until it is down, with a watch on the node (no polling).
//
// A Barrier holds nothing but its Conn and path: Barriers on any Conns and
// nodes of an ensemble may share a path. Barrier uses only the exported
// API of Conn, and its methods are safe for concurrent use.
//
// What it guarantees: Wait does not return while the barrier is up — it
// first syncs its node with the leader, so a Set that returned before Wait
// was called, on any node, holds Wait until a Remove — and returns once
// it sees the barrier down. What it does not: that the barrier is still
// down when the caller acts (someone may Set it again), nor that a Wait
// sees a barrier that was raised and lowered again while it was not
// looking. The barrier node is persistent: it outlives the session that
// set it, and a barrier whose owner crashed stays up until someone
// removes it.
type Barrier struct {
	conn *Conn
	path string
	acl  []ACL
}

// NewBarrier returns the Barrier at path for conn. Set creates the path's
// missing parents, as persistent nodes with an open ACL; the barrier node
// gets an open ACL (WorldACL(PermAll)).
func NewBarrier(conn *Conn, path string) *Barrier {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	return &Barrier{conn: conn, path: path, acl: WorldACL(PermAll)}
}

// Path returns the barrier's node.
func (b *Barrier) Path() string { return b.path }

// Set raises the barrier: it creates the barrier node. A barrier that is
// already up stays up, and Set returns nil. A create cut off by the
// Conn's node going away is tried again, bounded by ctx; if ctx ends
// first, the barrier may or may not be up.
func (b *Barrier) Set(ctx context.Context) error {
	if err := recipeEnsurePath(ctx, b.conn, b.path, b.acl); err != nil {
		return fmt.Errorf("zk: barrier %s: set: %w", b.path, err)
	}
	return nil
}

// Remove lowers the barrier: it deletes the barrier node, which releases
// every Wait. A barrier that is down stays down, and Remove returns nil.
// It fails (ErrNotEmpty) if someone made children under the barrier node.
// If ctx ends first, the barrier may or may not be down.
func (b *Barrier) Remove(ctx context.Context) error {
	err := b.conn.Delete(ctx, b.path, AnyVersion)
	for recipeRetry(ctx, b.conn, err) {
		err = b.conn.Delete(ctx, b.path, AnyVersion)
	}
	if err != nil && !errors.Is(err, ErrNoNode) {
		return fmt.Errorf("zk: barrier %s: remove: %w", b.path, err)
	}
	return nil
}

// Wait blocks until the barrier is down, as the Conn's node sees it after
// a Sync: it returns nil at once if it is down, else once the barrier node
// is deleted. It returns ctx's error if ctx ends first, and an error
// wrapping ErrClosing or ErrSessionExpired if the Conn ends.
func (b *Barrier) Wait(ctx context.Context) error {
	err := b.conn.Sync(ctx, b.path)
	for recipeRetry(ctx, b.conn, err) {
		err = b.conn.Sync(ctx, b.path)
	}
	if err != nil && !errors.Is(err, ErrNoNode) {
		return fmt.Errorf("zk: barrier %s: wait: %w", b.path, err)
	}
	for {
		ok, _, w, err := b.conn.ExistsW(ctx, b.path)
		if recipeRetry(ctx, b.conn, err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("zk: barrier %s: wait: %w", b.path, err)
		}
		if !ok {
			return nil // the watch fires at the next create, harmlessly
		}
		if err := barrierNext(ctx, w); err != nil {
			return fmt.Errorf("zk: barrier %s: wait: %w", b.path, err)
		}
	}
}

// DoubleBarrier is ZooKeeper's double barrier recipe for one participant:
// n participants, on any Conns and nodes, Enter together — nobody's Enter
// returns before all n have entered — work, and Leave together — nobody's
// Leave returns before all of them have left.
//
// Each participant is an ephemeral node under the barrier's path, named
// by a random token. Enter creates it and, the moment the participant
// finds n of them, creates the persistent node "ready" under the path,
// which releases every participant waiting on it. Leave deletes the
// participant nodes in an order that wakes one participant at a time,
// not all of them: the lowest waits for the highest, the others delete
// their node and wait for the lowest, and the lowest goes last, once it
// is alone, taking "ready" with it so that the path can be used again.
//
// What it guarantees: ready is created only when n participant nodes
// exist, so when any Enter returns, all n participants had entered (a
// participant whose session has ended since counts: its node was there).
// Leave returns only when no participant node is left, so when any Leave
// returns, every participant has left — or its session ended, which
// removes its node. What it does not: rounds must not overlap — the path
// may be used for a new round only once every Leave of the previous one
// has returned — and a round with more than n participants lets some of
// them in before the last ones entered.
//
// A DoubleBarrier is one participant: Enter and Leave it once each, in
// that order (it may then Enter again for a new round). It uses only the
// exported API of Conn and is safe for concurrent use.
type DoubleBarrier struct {
	conn  *Conn
	path  string
	ready string
	n     int
	acl   []ACL

	mu sync.Mutex
	me string // our participant node's name, while entered
}

// NewDoubleBarrier returns a participant of the double barrier at path for
// n participants. Enter creates the path and its missing parents, as
// persistent nodes with an open ACL.
func NewDoubleBarrier(conn *Conn, path string, n int) *DoubleBarrier {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	return &DoubleBarrier{conn: conn, path: path, ready: barrierJoin(path, barrierReadyName), n: n, acl: WorldACL(PermAll)}
}

// Path returns the barrier's path.
func (d *DoubleBarrier) Path() string { return d.path }

const (
	barrierReadyName  = "ready"
	barrierPartPrefix = "p-"
)

// Enter adds this participant and blocks until n participants have
// entered. If ctx ends first, or the Conn ends, Enter removes its node
// (bounded by the session timeout, at least 5s; else it goes with the
// session) and returns the error — but a create of the node still in
// flight when Enter gave up may land afterwards, and then the node counts
// until the session ends. A participant that has entered and not
// left gets an error.
func (d *DoubleBarrier) Enter(ctx context.Context) error {
	if d.n < 1 {
		return fmt.Errorf("zk: double barrier %s: %d participants: %w", d.path, d.n, ErrBadArguments)
	}
	d.mu.Lock()
	if d.me != "" {
		d.mu.Unlock()
		return fmt.Errorf("zk: double barrier %s: enter: already entered", d.path)
	}
	name := barrierPartPrefix + queueToken()
	d.me = name
	d.mu.Unlock()
	if err := d.enter(ctx, name); err != nil {
		d.abandon(ctx, name)
		return fmt.Errorf("zk: double barrier %s: enter: %w", d.path, err)
	}
	return nil
}

func (d *DoubleBarrier) enter(ctx context.Context, name string) error {
	if err := recipeEnsurePath(ctx, d.conn, d.path, d.acl); err != nil {
		return err
	}
	p := barrierJoin(d.path, name)
	// The name is ours alone, so a create tried again after its reply was
	// lost finds its own node (ErrNodeExists) at worst.
	_, err := d.conn.Create(ctx, p, nil, FlagEphemeral, d.acl)
	for recipeRetry(ctx, d.conn, err) {
		_, err = d.conn.Create(ctx, p, nil, FlagEphemeral, d.acl)
	}
	if err != nil && !errors.Is(err, ErrNodeExists) {
		return err
	}
	for {
		// The watch first, then the count: a ready node created after the
		// count is seen by the watch.
		ok, _, w, err := d.conn.ExistsW(ctx, d.ready)
		if recipeRetry(ctx, d.conn, err) {
			continue
		}
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		parts, err := d.participants(ctx)
		if err != nil {
			return err
		}
		if !slices.Contains(parts, name) {
			return fmt.Errorf("participant node %s is gone: %w", name, ErrNoNode)
		}
		if len(parts) >= d.n {
			_, err := d.conn.Create(ctx, d.ready, nil, FlagPersistent, d.acl)
			for recipeRetry(ctx, d.conn, err) {
				_, err = d.conn.Create(ctx, d.ready, nil, FlagPersistent, d.acl)
			}
			if err != nil && !errors.Is(err, ErrNodeExists) {
				return err
			}
			return nil
		}
		if err := barrierNext(ctx, w); err != nil {
			return err
		}
	}
}

// abandon removes the participant node of a failed Enter.
func (d *DoubleBarrier) abandon(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(d.conn.SessionTimeout(), 5*time.Second))
	defer cancel()
	p := barrierJoin(d.path, name)
	err := d.conn.Delete(ctx, p, AnyVersion)
	for recipeRetry(ctx, d.conn, err) {
		err = d.conn.Delete(ctx, p, AnyVersion)
	}
	d.mu.Lock()
	if d.me == name {
		d.me = ""
	}
	d.mu.Unlock()
}

// participants returns the names of the participant nodes, sorted.
func (d *DoubleBarrier) participants(ctx context.Context) ([]string, error) {
	for {
		names, _, err := d.conn.Children(ctx, d.path)
		if recipeRetry(ctx, d.conn, err) {
			continue
		}
		if errors.Is(err, ErrNoNode) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, barrierPartPrefix) })
		slices.Sort(names)
		return names, nil
	}
}

// Leave removes this participant and blocks until every participant has
// left. If ctx ends first, Leave returns ctx's error, and this
// participant's node may or may not be deleted yet: call Leave again to
// finish, or close the Conn. Leave after a Leave that returned nil, or
// without an Enter, returns nil once no participant is left.
func (d *DoubleBarrier) Leave(ctx context.Context) error {
	d.mu.Lock()
	me := d.me
	d.mu.Unlock()
	if err := d.leave(ctx, me); err != nil {
		return fmt.Errorf("zk: double barrier %s: leave: %w", d.path, err)
	}
	d.mu.Lock()
	if d.me == me {
		d.me = ""
	}
	d.mu.Unlock()
	return nil
}

func (d *DoubleBarrier) leave(ctx context.Context, me string) error {
	for {
		parts, err := d.participants(ctx)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return nil
		}
		mine := me != "" && slices.Contains(parts, me)
		var wait string
		switch {
		case mine && len(parts) == 1:
			// The last one: take ready along, so the path can serve
			// another round.
			if err := d.deleteLast(ctx, me); err != nil {
				return err
			}
			continue
		case mine && parts[0] == me:
			wait = parts[len(parts)-1] // the lowest waits for the highest
		default:
			if mine {
				if err := d.delete(ctx, barrierJoin(d.path, me)); err != nil {
					return err
				}
			}
			wait = parts[0] // the others wait for the lowest
		}
		ok, _, w, err := d.conn.ExistsW(ctx, barrierJoin(d.path, wait))
		if recipeRetry(ctx, d.conn, err) {
			continue
		}
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := barrierNext(ctx, w); err != nil {
			return err
		}
	}
}

// deleteLast deletes the last participant node, and ready with it.
func (d *DoubleBarrier) deleteLast(ctx context.Context, me string) error {
	for {
		_, err := d.conn.Multi(ctx, DeleteOp(barrierJoin(d.path, me), AnyVersion), DeleteOp(d.ready, AnyVersion))
		var me2 *MultiError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &me2) && me2.Index == 1 && errors.Is(err, ErrNoNode):
			// No ready node (Leave without every Enter returning):
			// delete ours alone.
			return d.delete(ctx, barrierJoin(d.path, me))
		case errors.As(err, &me2) && me2.Index == 0 && errors.Is(err, ErrNoNode):
			return nil // gone already (a lost reply of ours)
		case recipeRetry(ctx, d.conn, err):
			continue
		}
		return err
	}
}

func (d *DoubleBarrier) delete(ctx context.Context, p string) error {
	err := d.conn.Delete(ctx, p, AnyVersion)
	for recipeRetry(ctx, d.conn, err) {
		err = d.conn.Delete(ctx, p, AnyVersion)
	}
	if err != nil && !errors.Is(err, ErrNoNode) {
		return err
	}
	return nil
}

func barrierJoin(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// barrierNext waits for the next event of a one-shot watch. It returns an
// error if the watch ended with the session, or ctx ended.
func barrierNext(ctx context.Context, w <-chan Event) error {
	select {
	case ev := <-w:
		if ev.Type == EventNotWatching {
			if ev.Err != nil {
				return ev.Err
			}
			return ErrClosing
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
