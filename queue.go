package zk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrQueueEmpty is returned by Queue.TryTake and PriorityQueue.TryTake when
// the queue holds no item.
var ErrQueueEmpty = errors.New("zk: queue is empty")

// Queue is ZooKeeper's distributed FIFO queue recipe on one Conn: each item
// is a persistent sequential node under the queue's path, and items are
// taken in the order of their sequence numbers, which is the order in which
// the ensemble applied the Puts.
//
// A Queue holds nothing but its Conn and path: Queues on any Conns and
// nodes of an ensemble may share a path, as producers, consumers or both.
// Queue uses only the exported API of Conn, and its methods are safe for
// concurrent use.
//
// What it guarantees:
//
//   - Exactly once. A Put that returns nil added its item exactly once; a
//     Put that returns an error added nothing — unless the error says that
//     the outcome is unknown, which happens only when the Conn ended (or
//     could not reach the ensemble for the whole resolution, at least 5s)
//     while a write's reply was lost. An item is never returned by two
//     Takes, on any Conns; a Take that returns an item removed it, and a
//     Take that returns an error removed nothing, with the same exception.
//     This holds across ErrConnectionLoss (a WithFailover Conn whose node
//     dies) and a ctx that ends while a write is in flight: every write
//     whose reply was lost carries a unique receipt node, and the recipe
//     settles it by racing to create the receipt itself — the linearizable
//     log lets exactly one of the two creations happen, so the lost write
//     has either been applied or can never be.
//   - FIFO. Items are taken in the order their Puts were applied, so the
//     items of one producer that Puts one after the other are taken in the
//     order it put them. With several consumers, "taken in order" means
//     that each Take removes the oldest item it can get: consumers that
//     race for the head may finish in another order than they started.
//
// What it does not guarantee: that a taken item is processed — once Take
// returns, the item is the caller's alone, and it is lost if the caller
// crashes before acting on it. Take waits with a watch on the queue's
// children, so every Put wakes every waiting consumer (the herd effect of
// the recipe); they race for the head, and the losers move on.
//
// The queue's path holds, besides the items, a child "receipts" for the
// receipts of writes in flight. A write that succeeds deletes its receipt.
// A write whose reply was lost is settled with a tombstone of a few bytes
// in its receipt's place: that write may still reach the log later, and
// the tombstone is what makes it fail then. A tombstone is a TTL node
// that the ensemble deletes once it is older than any write could be in
// flight (WithTombstoneTTL, ten minutes unless set); on a ZooKeeper
// ensemble without TTL nodes (extendedTypesEnabled off) it is a
// persistent node, left for an operator to delete. So receipts holds one
// node per write cut off by ctx or by a node's failure in the last TTL
// (none in normal operation). Other children of the queue's path are
// ignored.
type Queue struct {
	q queueCore
}

// NewQueue returns the Queue at path for conn. The path, any missing
// parents and the receipts child are created, as persistent nodes with an
// open ACL, by the first Put or Take that needs them, and never deleted by
// the Queue. Item nodes get an open ACL (WorldACL(PermAll)).
func NewQueue(conn *Conn, path string, opts ...QueueOption) *Queue {
	return &Queue{q: newQueueCore(conn, path, queueFIFOPrefix, opts)}
}

// Path returns the queue's path.
func (q *Queue) Path() string { return q.q.path }

// Put appends an item holding data to the queue. It returns nil once the
// item is in the queue, exactly once; an error means it is not — or, if
// the error says the outcome is unknown, that the Conn ended before the
// outcome could be settled. A write cut off by the Conn's node going away
// (ErrConnectionLoss) is settled and, if it did not happen, tried again,
// bounded by ctx. If ctx ends while the write is in flight, Put settles it
// anyway (bounded by the session timeout, at least 5s) and returns nil if
// the item was added.
func (q *Queue) Put(ctx context.Context, data []byte) error {
	return q.q.put(ctx, queueFIFOPrefix, data)
}

// Take removes the oldest item of the queue and returns its data, waiting
// until there is one or ctx ends. The item is removed for this caller
// alone: no other Take, on any Conn, returns it. If ctx ends, or the Conn
// ends, while nothing was taken, Take returns the error and the queue keeps
// its items; if ctx ends while a removal is in flight, Take settles it and
// returns the item if the removal happened.
//
// Take sees the queue as the Conn's node knows it: an item whose Put
// returned on another node may become visible a moment later.
func (q *Queue) Take(ctx context.Context) ([]byte, error) {
	return q.q.take(ctx, true)
}

// TryTake is Take that does not wait: on a queue that is empty, as the
// Conn's node knows it, it returns an error wrapping ErrQueueEmpty.
func (q *Queue) TryTake(ctx context.Context) ([]byte, error) {
	return q.q.take(ctx, false)
}

// Len returns the number of items in the queue as the Conn's node knows
// them (call Conn.Sync on the path first to include every Put that
// returned before). An absent queue path is an empty queue.
func (q *Queue) Len(ctx context.Context) (int, error) {
	return q.q.len(ctx)
}

// PriorityQueue is a distributed priority queue on one Conn, built like
// Queue: each item is a persistent sequential node under the queue's path,
// whose name carries the item's priority before its sequence number, so
// that the sorted names give the order: the highest priority first, and
// within a priority the order in which the Puts were applied.
//
// It makes the guarantees of Queue — an item is added exactly once by a
// Put that returns nil and taken by exactly one Take, also across
// ErrConnectionLoss and a ctx that ends during a write — and orders
// items by priority: a Take returns an item of the highest priority its
// Conn's node knows of. A low-priority item can starve while higher ones
// keep coming. Its items have names of their own, so a PriorityQueue and a
// Queue must not share a path (each would ignore the other's items).
type PriorityQueue struct {
	q queueCore
}

// NewPriorityQueue returns the PriorityQueue at path for conn. The path,
// any missing parents and the receipts child are created, as persistent
// nodes with an open ACL, by the first Put or Take that needs them, and
// never deleted. Item nodes get an open ACL (WorldACL(PermAll)).
func NewPriorityQueue(conn *Conn, path string, opts ...QueueOption) *PriorityQueue {
	return &PriorityQueue{q: newQueueCore(conn, path, queuePrioPrefix, opts)}
}

// QueueOption configures a Queue or a PriorityQueue.
type QueueOption func(*queueCore)

// WithTombstoneTTL sets how long the tombstone that fences off a write
// whose reply was lost is kept (see Queue): longer than that write could
// take to reach the log, which in practice is a few election timeouts.
// The default is DefaultTombstoneTTL; zero or less keeps tombstones for
// ever, as persistent nodes.
func WithTombstoneTTL(ttl time.Duration) QueueOption {
	return func(q *queueCore) { q.tombstoneTTL = ttl }
}

// DefaultTombstoneTTL is how long a queue keeps a tombstone unless
// WithTombstoneTTL says otherwise.
const DefaultTombstoneTTL = 10 * time.Minute

// Path returns the queue's path.
func (q *PriorityQueue) Path() string { return q.q.path }

// Put adds an item holding data with the given priority: larger priorities
// are taken first, any int32 is allowed. It returns as Queue.Put does.
func (q *PriorityQueue) Put(ctx context.Context, priority int32, data []byte) error {
	// Map the priority onto an unsigned number that grows as the
	// priority falls, so that ascending names hold the highest first.
	key := ^(uint32(priority) ^ 1<<31)
	return q.q.put(ctx, fmt.Sprintf("%s%08x-", queuePrioPrefix, key), data)
}

// Take removes the item of the highest priority (the oldest among equals)
// and returns its data, waiting until there is one or ctx ends. It returns
// as Queue.Take does.
func (q *PriorityQueue) Take(ctx context.Context) ([]byte, error) {
	return q.q.take(ctx, true)
}

// TryTake is Take that does not wait: on a queue that is empty, as the
// Conn's node knows it, it returns an error wrapping ErrQueueEmpty.
func (q *PriorityQueue) TryTake(ctx context.Context) ([]byte, error) {
	return q.q.take(ctx, false)
}

// Len returns the number of items in the queue as the Conn's node knows
// them. An absent queue path is an empty queue.
func (q *PriorityQueue) Len(ctx context.Context) (int, error) {
	return q.q.len(ctx)
}

const (
	queueFIFOPrefix = "qn-"
	queuePrioPrefix = "pq-"
	// queueReceiptsName is the child of a queue's path that holds receipts.
	queueReceiptsName = "receipts"
	// queueTokenLen is the length of a token: 8 random bytes in hex.
	queueTokenLen = 16
	// queueSeqLen is the length of a sequence suffix.
	queueSeqLen = 10
)

var (
	// The data of a receipt made by the write it stands for, and of one
	// made by the recipe to fence a lost write off.
	queueApplied = []byte("applied")
	queueVoid    = []byte("void")
)

// queueCore is what Queue and PriorityQueue share: they differ in how an
// item's name is made, and both sort names by what precedes the token and
// then by the sequence number.
type queueCore struct {
	conn     *Conn
	path     string
	receipts string
	prefix   string
	acl      []ACL

	tombstoneTTL time.Duration
}

func newQueueCore(conn *Conn, path, prefix string, opts []QueueOption) queueCore {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	q := queueCore{
		conn: conn, path: path, receipts: queueJoin(path, queueReceiptsName),
		prefix: prefix, acl: WorldACL(PermAll), tombstoneTTL: DefaultTombstoneTTL,
	}
	for _, o := range opts {
		o(&q)
	}
	return q
}

func queueJoin(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// queueToken returns a fresh random token.
func queueToken() string {
	var b [queueTokenLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// queueItem is an item's name and the key it sorts by.
type queueItem struct {
	name string
	key  string
}

// items returns the children that are this queue's items, in the order
// they are to be taken. An item is named prefix + order + token + "-" +
// sequence, with order empty (Queue) or 8 hex digits and "-"
// (PriorityQueue); its key is order + sequence.
func (q *queueCore) items(names []string) []queueItem {
	var out []queueItem
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, q.prefix)
		if !ok || len(rest) < queueTokenLen+1+queueSeqLen {
			continue
		}
		order := rest[:len(rest)-queueTokenLen-1-queueSeqLen]
		token := rest[len(order) : len(order)+queueTokenLen]
		seq := rest[len(rest)-queueSeqLen:]
		if rest[len(rest)-queueSeqLen-1] != '-' || !queueHex(token) || !queueDigits(seq) {
			continue
		}
		if q.prefix == queuePrioPrefix && (len(order) != 9 || order[8] != '-' || !queueHex(order[:8])) {
			continue
		}
		if q.prefix == queueFIFOPrefix && order != "" {
			continue
		}
		out = append(out, queueItem{name: n, key: order + seq})
	}
	slices.SortFunc(out, func(a, b queueItem) int { return strings.Compare(a.key, b.key) })
	return out
}

func queueHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func queueDigits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// queueUnknown reports whether a write that failed with err may
// nevertheless have happened.
func queueUnknown(err error) bool {
	var me *MultiError
	if errors.As(err, &me) {
		return false // the ensemble applied the multi's failure
	}
	return errors.Is(err, ErrConnectionLoss) || errors.Is(err, ErrClosing) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// settleCtx bounds the settling of a lost write: it goes on after the
// caller's ctx ended, for the session timeout (at least 5s).
func (q *queueCore) settleCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), max(q.conn.SessionTimeout(), 5*time.Second))
}

// settle decides whether a write that carried CreateOp(receipt,
// queueApplied), and whose reply was lost, happened. It creates the
// receipt itself, as a tombstone: if that succeeds, the write can never
// happen (its create would fail, and the multi with it) for as long as
// the tombstone exists — so it lives for the tombstone TTL, for the write
// may still reach the log later. If the receipt exists, its data says who
// made it; a receipt the write made is deleted (the write cannot happen
// twice).
func (q *queueCore) settle(ctx context.Context, receipt string) (applied bool, err error) {
	ctx, cancel := q.settleCtx(ctx)
	defer cancel()
	ensured, ttl := false, q.tombstoneTTL > 0
	for {
		var err error
		if ttl {
			_, _, err = q.conn.CreateTTL(ctx, receipt, queueVoid, FlagTTL, q.acl, q.tombstoneTTL)
			if errors.Is(err, ErrUnimplemented) {
				ttl = false // an ensemble without TTL nodes
				continue
			}
		} else {
			_, err = q.conn.Create(ctx, receipt, queueVoid, FlagPersistent, q.acl)
		}
		if err == nil {
			// The tombstone stays: the lost write may still be on its
			// way to the log, and it must keep failing when it gets
			// there.
			return false, nil
		}
		if errors.Is(err, ErrNodeExists) {
			data, _, gerr := q.conn.Get(ctx, receipt)
			if gerr == nil {
				if !bytes.Equal(data, queueApplied) {
					return false, nil // our own tombstone, whose reply was lost
				}
				// The write happened, once: its receipt can go.
				q.dropReceipt(ctx, receipt)
				return true, nil
			}
			err = gerr
		}
		if errors.Is(err, ErrNoNode) && !ensured {
			// No receipts child yet: create it, and fence the write off
			// all the same, for it may still come.
			ensured = true
			if err := recipeEnsurePath(ctx, q.conn, q.receipts, q.acl); err != nil {
				return false, err
			}
			continue
		}
		if recipeRetry(ctx, q.conn, err) {
			continue
		}
		return false, err
	}
}

// dropReceipt deletes a settled receipt. A failure leaves it behind, which
// harms nothing: the token in its name is never used again.
func (q *queueCore) dropReceipt(ctx context.Context, receipt string) {
	ctx, cancel := q.settleCtx(ctx)
	defer cancel()
	err := q.conn.Delete(ctx, receipt, AnyVersion)
	for recipeRetry(ctx, q.conn, err) {
		err = q.conn.Delete(ctx, receipt, AnyVersion)
	}
}

// put adds one item whose name starts with name (prefix and order).
func (q *queueCore) put(ctx context.Context, name string, data []byte) error {
	ensured := false
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("zk: queue %s: put: %w", q.path, err)
		}
		token := queueToken()
		receipt := queueJoin(q.receipts, "put-"+token)
		_, err := q.conn.Multi(ctx,
			CreateOp(queueJoin(q.path, name+token+"-"), data, FlagSequence, q.acl),
			CreateOp(receipt, queueApplied, FlagPersistent, q.acl))
		if err == nil {
			q.dropReceipt(ctx, receipt)
			return nil
		}
		if !queueUnknown(err) {
			if errors.Is(err, ErrNoNode) && !ensured {
				ensured = true
				if err := recipeEnsurePath(ctx, q.conn, q.receipts, q.acl); err != nil {
					return fmt.Errorf("zk: queue %s: put: %w", q.path, err)
				}
				continue
			}
			return fmt.Errorf("zk: queue %s: put: %w", q.path, err)
		}
		applied, serr := q.settle(ctx, receipt)
		switch {
		case serr != nil:
			return fmt.Errorf("zk: queue %s: put: outcome unknown: %w", q.path, errors.Join(err, serr))
		case applied:
			return nil
		case ctx.Err() != nil || !recipeRetry(ctx, q.conn, err):
			return fmt.Errorf("zk: queue %s: put: not added: %w", q.path, err)
		}
	}
}

// take removes and returns the first item, waiting for one if block.
func (q *queueCore) take(ctx context.Context, block bool) ([]byte, error) {
	for {
		names, _, err := q.conn.Children(ctx, q.path)
		if recipeRetry(ctx, q.conn, err) {
			continue
		}
		if err != nil && !errors.Is(err, ErrNoNode) {
			return nil, fmt.Errorf("zk: queue %s: take: %w", q.path, err)
		}
		for _, it := range q.items(names) {
			data, ok, err := q.takeItem(ctx, it.name)
			if err != nil {
				return nil, fmt.Errorf("zk: queue %s: take %s: %w", q.path, it.name, err)
			}
			if ok {
				return data, nil
			}
		}
		if !block {
			return nil, fmt.Errorf("zk: queue %s: %w", q.path, ErrQueueEmpty)
		}
		if err := q.wait(ctx); err != nil {
			return nil, fmt.Errorf("zk: queue %s: take: %w", q.path, err)
		}
	}
}

// wait returns once the queue may have an item: at once if it has one
// now, else when its children (or, while it is absent, the path) change.
func (q *queueCore) wait(ctx context.Context) error {
	for {
		names, _, w, err := q.conn.ChildrenW(ctx, q.path)
		if errors.Is(err, ErrNoNode) {
			var ok bool
			ok, _, w, err = q.conn.ExistsW(ctx, q.path)
			if err == nil && ok {
				continue // created meanwhile: watch its children
			}
		}
		if recipeRetry(ctx, q.conn, err) {
			continue
		}
		if err != nil {
			return err
		}
		if len(q.items(names)) > 0 {
			return nil // the watch fires at the next change, harmlessly
		}
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
}

// takeItem tries to remove the item name for this caller: it reads the
// data, then deletes the item at the version read, in a multi with a
// receipt. It returns false if someone else took the item.
func (q *queueCore) takeItem(ctx context.Context, name string) ([]byte, bool, error) {
	p := queueJoin(q.path, name)
	ensured := false
	for {
		data, st, err := q.conn.Get(ctx, p)
		if errors.Is(err, ErrNoNode) {
			return nil, false, nil
		}
		if recipeRetry(ctx, q.conn, err) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		receipt := queueJoin(q.receipts, "take-"+queueToken())
		_, err = q.conn.Multi(ctx, DeleteOp(p, st.Version), CreateOp(receipt, queueApplied, FlagPersistent, q.acl))
		if err == nil {
			q.dropReceipt(ctx, receipt)
			return data, true, nil
		}
		if !queueUnknown(err) {
			var me *MultiError
			switch {
			case errors.As(err, &me) && me.Index == 0 && errors.Is(err, ErrNoNode):
				return nil, false, nil // another consumer took it
			case errors.As(err, &me) && me.Index == 0 && errors.Is(err, ErrBadVersion):
				continue // changed under us: read it again
			case errors.As(err, &me) && me.Index == 1 && errors.Is(err, ErrNoNode) && !ensured:
				ensured = true
				if err := recipeEnsurePath(ctx, q.conn, q.receipts, q.acl); err != nil {
					return nil, false, err
				}
				continue
			}
			return nil, false, err
		}
		applied, serr := q.settle(ctx, receipt)
		switch {
		case serr != nil:
			return nil, false, fmt.Errorf("outcome unknown: %w", errors.Join(err, serr))
		case applied:
			return data, true, nil
		case ctx.Err() != nil || !recipeRetry(ctx, q.conn, err):
			return nil, false, fmt.Errorf("not taken: %w", err)
		}
	}
}

// len counts the queue's items.
func (q *queueCore) len(ctx context.Context) (int, error) {
	for {
		names, _, err := q.conn.Children(ctx, q.path)
		if recipeRetry(ctx, q.conn, err) {
			continue
		}
		if errors.Is(err, ErrNoNode) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("zk: queue %s: len: %w", q.path, err)
		}
		return len(q.items(names)), nil
	}
}
