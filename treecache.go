package zk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// TreeEventType is the kind of a TreeEvent.
type TreeEventType int

// The TreeEvent types.
const (
	// TreeNodeAdded: a node entered the cache.
	TreeNodeAdded TreeEventType = iota + 1
	// TreeNodeUpdated: a cached node's data (and Stat) changed.
	TreeNodeUpdated
	// TreeNodeRemoved: a node left the cache.
	TreeNodeRemoved
	// TreeInitialized ends the events of the initial load, once.
	TreeInitialized
	// TreeResynced ends the events of a full re-read, made after the watch
	// lost events (EventWatchEventsLost) or was removed by RemoveWatches.
	TreeResynced
)

func (t TreeEventType) String() string {
	switch t {
	case TreeNodeAdded:
		return "TreeNodeAdded"
	case TreeNodeUpdated:
		return "TreeNodeUpdated"
	case TreeNodeRemoved:
		return "TreeNodeRemoved"
	case TreeInitialized:
		return "TreeInitialized"
	case TreeResynced:
		return "TreeResynced"
	}
	return fmt.Sprintf("TreeEventType(%d)", int(t))
}

// TreeEvent is one change of a TreeCache, as its Events channel reports
// it.
type TreeEvent struct {
	Type TreeEventType
	// Path is the node that changed; "" for TreeInitialized and
	// TreeResynced.
	Path string
	// Data and Stat are the node's state after the change; for
	// TreeNodeRemoved, the last state the cache had.
	Data []byte
	Stat *Stat
	// Zxid is the zxid of the change. For the events of a full read it is
	// the node's Mzxid, or 0 for a removal found by the read.
	Zxid int64
	// Load is set on the events of a full read — the initial load, or a
	// re-read — which report the differences it found in path order
	// rather than zxid order, and precede TreeInitialized or TreeResynced.
	Load bool
}

// CachedNode is a node as a TreeCache holds it.
type CachedNode struct {
	Data []byte
	Stat Stat
}

// TreeCacheOption configures NewTreeCache.
type TreeCacheOption func(*treeCacheOptions)

type treeCacheOptions struct {
	events bool
}

// WithTreeEvents makes the TreeCache report its changes on Events. The
// events wait in an unbounded queue for a slow reader, so a cache made
// with this option must be read from (or closed).
func WithTreeEvents() TreeCacheOption {
	return func(o *treeCacheOptions) { o.events = true }
}

// TreeCache keeps a local copy of a subtree — every node's data and Stat —
// current through a persistent recursive watch, as Curator's TreeCache.
// It uses only the exported API of Conn.
//
// What it guarantees:
//
//   - It converges: once the subtree stops changing, the cache soon holds
//     exactly the nodes, data and Stats a read after Sync returns (except
//     the child fields of Stat, below), whatever happened meanwhile —
//     including its Conn moving to another node (WithFailover), the watch
//     losing events on the way (EventWatchEventsLost) or being removed by
//     someone's RemoveWatches: then it re-reads the whole subtree.
//   - Each cached node only moves forward: the cache never replaces a
//     node's state by an older one.
//   - Changes are seen in zxid order: the change events on Events that
//     are not from a full read (Load unset) come in zxid order (several
//     share a zxid only when one transaction — a Multi, or a session
//     ending with its ephemeral nodes — made them all), and each carries
//     the exact data and Stat the node had right after that zxid. A change is
//     left out only when, by the time the cache reads the node, the same
//     node has changed again (or gone): the later change is reported
//     instead (or neither, for a node created and deleted in between).
//
// What it does not guarantee:
//
//   - It lags: a read of the cache may not show a write that has already
//     returned, on this Conn or another.
//   - The whole cache is not a snapshot of one instant: two nodes may be
//     cached as of different zxids.
//   - Stat's Cversion, NumChildren and Pzxid are as the node was last
//     read: a recursive watch reports no child changes. Use Children.
//   - Nodes the session may not read are not cached.
//
// The cache stops when its ctx ends, Close is called, its session ends
// (Err then says why) or a read fails unexpectedly; it then keeps the
// last state it had. Its methods are safe for concurrent use.
type TreeCache struct {
	conn   *Conn
	path   string
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.RWMutex
	nodes map[string]*CachedNode
	kids  map[string]map[string]struct{} // parent path → child names
	err   error

	done   chan struct{} // closed when the watch loop has ended
	closed atomic.Bool

	events  bool
	evMu    sync.Mutex
	evQueue []TreeEvent
	evWake  chan struct{}
	evOut   chan TreeEvent
	evDone  chan struct{}
}

// NewTreeCache starts a TreeCache of the subtree at path (which need not
// exist yet) on conn and returns once it has loaded the subtree. It sets
// its persistent recursive watch before it reads, so no change is missed.
// The cache runs until ctx ends or Close is called; ctx also bounds the
// initial load.
func NewTreeCache(ctx context.Context, conn *Conn, path string, opts ...TreeCacheOption) (*TreeCache, error) {
	var o treeCacheOptions
	for _, opt := range opts {
		opt(&o)
	}
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	cctx, cancel := context.WithCancel(ctx)
	tc := &TreeCache{
		conn: conn, path: path, ctx: cctx, cancel: cancel,
		nodes: map[string]*CachedNode{}, kids: map[string]map[string]struct{}{},
		done: make(chan struct{}), events: o.events,
	}
	if o.events {
		tc.evWake = make(chan struct{}, 1)
		tc.evOut = make(chan TreeEvent)
		tc.evDone = make(chan struct{})
	}
	ev, err := tc.addWatch()
	if err == nil {
		err = tc.resync(TreeInitialized)
	}
	if err != nil {
		cancel()
		if ev != nil {
			tc.dropWatch(ev)
		}
		return nil, fmt.Errorf("zk: tree cache %s: %w", path, err)
	}
	if o.events {
		go tc.pump()
	}
	go tc.run(ev)
	return tc, nil
}

// Path returns the root of the cached subtree.
func (tc *TreeCache) Path() string { return tc.path }

// Get returns the cached data and Stat of the node at path, and false if
// the cache has no such node. The results are copies.
func (tc *TreeCache) Get(path string) ([]byte, *Stat, bool) {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	n, ok := tc.nodes[path]
	if !ok {
		return nil, nil, false
	}
	st := n.Stat
	return slices.Clone(n.Data), &st, true
}

// Children returns the sorted names of the cached children of the node
// at path, and false if the cache has no such node.
func (tc *TreeCache) Children(path string) ([]string, bool) {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	if _, ok := tc.nodes[path]; !ok {
		return nil, false
	}
	names := make([]string, 0, len(tc.kids[path]))
	for name := range tc.kids[path] {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, true
}

// Snapshot returns a copy of the whole cache, path → node.
func (tc *TreeCache) Snapshot() map[string]CachedNode {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	out := make(map[string]CachedNode, len(tc.nodes))
	for p, n := range tc.nodes {
		out[p] = CachedNode{Data: slices.Clone(n.Data), Stat: n.Stat}
	}
	return out
}

// Events returns the channel of the cache's changes, for a cache made
// WithTreeEvents (nil otherwise): first a TreeNodeAdded for every node of
// the initial load, in path order, then TreeInitialized, then the changes
// as the cache applies them (see TreeCache for their order). After a full
// re-read come the differences it found, then TreeResynced. The channel
// closes when the cache has stopped: at once if it was closed or its ctx
// ended, else (the session ended) after the queued events.
func (tc *TreeCache) Events() <-chan TreeEvent { return tc.evOut }

// Done returns a channel that is closed when the cache has stopped
// following the tree.
func (tc *TreeCache) Done() <-chan struct{} { return tc.done }

// Err returns why the cache stopped: nil while it runs and after Close,
// the ctx's error if ctx ended, or the error (for example wrapping
// ErrSessionExpired) that ended it.
func (tc *TreeCache) Err() error {
	select {
	case <-tc.done:
	default:
		return nil
	}
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.err
}

// Close stops the cache and removes its watch. It waits for the cache's
// goroutines, at most about the session timeout if the Conn is moving
// between nodes. The cache keeps its last state for Get and Children.
//
// RemoveWatches cannot tell two watches of one Conn on one path apart, so
// closing a cache also removes the watch of any other TreeCache on the
// same Conn and path; that cache notices, sets its watch again and
// re-reads its subtree.
func (tc *TreeCache) Close() error {
	tc.closed.Store(true)
	tc.cancel()
	<-tc.done
	if tc.events {
		<-tc.evDone
	}
	return nil
}

func (tc *TreeCache) addWatch() (<-chan Event, error) {
	for {
		ev, err := tc.conn.AddWatch(tc.ctx, tc.path, AddWatchModePersistentRecursive)
		if !recipeRetry(tc.ctx, tc.conn, err) {
			return ev, err
		}
	}
}

// dropWatch removes the cache's watch and drains its channel, so that no
// event stays queued for it, bounded by the session timeout.
func (tc *TreeCache) dropWatch(ev <-chan Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tc.ctx), tc.conn.SessionTimeout())
	defer cancel()
	_ = tc.conn.RemoveWatches(ctx, tc.path, WatcherTypePersistentRecursive)
	for {
		select {
		case _, ok := <-ev:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (tc *TreeCache) run(ev <-chan Event) {
	var err error
	defer func() {
		if err == nil && !tc.closed.Load() {
			err = tc.ctx.Err()
		}
		if ev != nil {
			tc.dropWatch(ev)
		}
		tc.mu.Lock()
		tc.err = err
		tc.mu.Unlock()
		close(tc.done)
	}()
	for {
		var e Event
		var ok bool
		select {
		case <-tc.ctx.Done():
			return
		case e, ok = <-ev:
		}
		if !ok {
			// The watch ended without saying why: set it again.
			e = Event{Type: EventPersistentWatchRemoved}
		}
		switch e.Type {
		case EventNodeCreated, EventNodeDataChanged, EventNodeDeleted:
			err = tc.apply(e)
		case EventWatchEventsLost:
			err = tc.resync(TreeResynced)
		case EventPersistentWatchRemoved:
			// Someone's RemoveWatches took the watch away (the channel
			// closes after this event): set it again before reading, as
			// at the start.
			if ev, err = tc.addWatch(); err == nil {
				err = tc.resync(TreeResynced)
			}
		case EventNotWatching:
			reason := e.Err
			if reason == nil {
				reason = ErrClosing
			}
			err = fmt.Errorf("watch ended: %w", reason)
		}
		if err != nil {
			if tc.ctx.Err() != nil {
				err = nil // ended by ctx or Close, reported as such
			} else {
				err = fmt.Errorf("zk: tree cache %s: %w", tc.path, err)
			}
			return
		}
	}
}

// get reads a node, reporting a node that is gone or unreadable as a nil
// Stat.
func (tc *TreeCache) get(path string) ([]byte, *Stat, error) {
	data, st, err := tc.conn.Get(tc.ctx, path)
	for recipeRetry(tc.ctx, tc.conn, err) {
		data, st, err = tc.conn.Get(tc.ctx, path)
	}
	if errors.Is(err, ErrNoNode) || errors.Is(err, ErrNoAuth) {
		return nil, nil, nil
	}
	return data, st, err
}

// apply applies one watch event. The event says what changed at zxid z;
// the node is read again, and the change applied only if the read shows
// exactly the state after z. A read showing a later state means a later
// event for the node is queued behind this one, and that one is applied
// instead; so the cache moves in zxid order and never backwards.
func (tc *TreeCache) apply(e Event) error {
	p, z := e.Path, e.Zxid
	if !tc.inTree(p) {
		return nil
	}
	tc.mu.RLock()
	cur, had := tc.nodes[p]
	var curStat Stat
	if had {
		curStat = cur.Stat
	}
	tc.mu.RUnlock()
	switch e.Type {
	case EventNodeDeleted:
		if !had || curStat.Czxid >= z {
			return nil // not cached, or cached as created again after z
		}
		tc.mu.Lock()
		evs := tc.removeLocked(p, z)
		tc.mu.Unlock()
		tc.emit(evs...)
		return nil
	case EventNodeCreated:
		if had && curStat.Czxid >= z {
			return nil
		}
	case EventNodeDataChanged:
		if had && curStat.Mzxid >= z {
			return nil
		}
	}
	data, st, err := tc.get(p)
	if err != nil {
		return err
	}
	if st != nil && st.Mzxid < z {
		// The node answered from before the event: catch up and look again.
		err := tc.conn.Sync(tc.ctx, p)
		for recipeRetry(tc.ctx, tc.conn, err) {
			err = tc.conn.Sync(tc.ctx, p)
		}
		if err != nil {
			return err
		}
		if data, st, err = tc.get(p); err != nil {
			return err
		}
		if st != nil && st.Mzxid < z {
			return tc.resync(TreeResynced)
		}
	}
	if st == nil || st.Mzxid != z || (e.Type == EventNodeCreated && st.Czxid != z) {
		return nil // changed again or gone since z: a later event follows
	}
	tc.mu.Lock()
	ev := tc.putLocked(p, data, st)
	tc.mu.Unlock()
	ev.Zxid = z
	tc.emit(ev)
	return nil
}

// inTree reports whether p is the cache's root or below it.
func (tc *TreeCache) inTree(p string) bool {
	if tc.path == "/" || p == tc.path {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, tc.path+"/")
}

func treeCacheParent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func treeCacheJoin(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// putLocked stores a node and returns the event that reports it.
func (tc *TreeCache) putLocked(p string, data []byte, st *Stat) TreeEvent {
	typ := TreeNodeUpdated
	if old, ok := tc.nodes[p]; !ok || old.Stat.Czxid != st.Czxid {
		typ = TreeNodeAdded
	}
	tc.nodes[p] = &CachedNode{Data: data, Stat: *st}
	if p != "/" {
		parent := treeCacheParent(p)
		set := tc.kids[parent]
		if set == nil {
			set = map[string]struct{}{}
			tc.kids[parent] = set
		}
		set[p[strings.LastIndexByte(p, '/')+1:]] = struct{}{}
	}
	stc := *st
	return TreeEvent{Type: typ, Path: p, Data: slices.Clone(data), Stat: &stc, Zxid: st.Mzxid}
}

// removeLocked drops a node and anything cached below it, deepest first,
// and returns the events that report it.
func (tc *TreeCache) removeLocked(p string, z int64) []TreeEvent {
	var evs []TreeEvent
	for name := range tc.kids[p] {
		evs = append(evs, tc.removeLocked(treeCacheJoin(p, name), z)...)
	}
	delete(tc.kids, p)
	n, ok := tc.nodes[p]
	if !ok {
		return evs
	}
	delete(tc.nodes, p)
	if p != "/" {
		parent := treeCacheParent(p)
		delete(tc.kids[parent], p[strings.LastIndexByte(p, '/')+1:])
		if len(tc.kids[parent]) == 0 {
			delete(tc.kids, parent)
		}
	}
	st := n.Stat
	return append(evs, TreeEvent{Type: TreeNodeRemoved, Path: p, Data: slices.Clone(n.Data), Stat: &st, Zxid: z})
}

// resync reads the whole subtree and replaces the cache by what it read,
// reporting the differences and then marker.
func (tc *TreeCache) resync(marker TreeEventType) error {
	read := map[string]*CachedNode{}
	var walk func(p string) error
	walk = func(p string) error {
		data, st, err := tc.get(p)
		if err != nil || st == nil {
			return err
		}
		read[p] = &CachedNode{Data: data, Stat: *st}
		names, _, err := tc.conn.Children(tc.ctx, p)
		for recipeRetry(tc.ctx, tc.conn, err) {
			names, _, err = tc.conn.Children(tc.ctx, p)
		}
		if errors.Is(err, ErrNoNode) || errors.Is(err, ErrNoAuth) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := walk(treeCacheJoin(p, name)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(tc.path); err != nil {
		return err
	}
	paths := make([]string, 0, len(read))
	for p := range read {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	tc.mu.Lock()
	var evs []TreeEvent
	var gone []string
	for p := range tc.nodes {
		if _, ok := read[p]; !ok {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone)
	for _, p := range slices.Backward(gone) {
		if _, ok := tc.nodes[p]; ok {
			evs = append(evs, tc.removeLocked(p, 0)...)
		}
	}
	for _, p := range paths {
		n := read[p]
		if old, ok := tc.nodes[p]; ok && old.Stat.Czxid == n.Stat.Czxid && old.Stat.Mzxid >= n.Stat.Mzxid {
			// Unchanged; refresh the child fields of the Stat only.
			if old.Stat.Mzxid == n.Stat.Mzxid {
				old.Stat = n.Stat
			}
			continue
		}
		evs = append(evs, tc.putLocked(p, n.Data, &n.Stat))
	}
	tc.mu.Unlock()
	for i := range evs {
		evs[i].Load = true
	}
	tc.emit(evs...)
	tc.emit(TreeEvent{Type: marker})
	return nil
}

// emit queues events for Events; the cache never waits for the reader.
func (tc *TreeCache) emit(evs ...TreeEvent) {
	if !tc.events || len(evs) == 0 {
		return
	}
	tc.evMu.Lock()
	tc.evQueue = append(tc.evQueue, evs...)
	tc.evMu.Unlock()
	poke(tc.evWake)
}

// pump hands the queued events to the reader, one at a time.
func (tc *TreeCache) pump() {
	defer close(tc.evDone)
	defer close(tc.evOut)
	for {
		// Look at done before the queue: every emit happens before done
		// closes, so an empty queue after a closed done stays empty.
		var ended bool
		select {
		case <-tc.done:
			ended = true
		default:
		}
		tc.evMu.Lock()
		if len(tc.evQueue) == 0 {
			tc.evQueue = nil
			tc.evMu.Unlock()
			if ended {
				return
			}
			select {
			case <-tc.evWake:
			case <-tc.done:
			case <-tc.ctx.Done():
				return
			}
			continue
		}
		e := tc.evQueue[0]
		tc.evQueue[0] = TreeEvent{}
		tc.evQueue = tc.evQueue[1:]
		tc.evMu.Unlock()
		select {
		case tc.evOut <- e:
		case <-tc.ctx.Done():
			return
		}
	}
}
