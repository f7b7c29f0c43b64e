package zk

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkraft/zk/internal/txn"
)

// ConnectOption configures Node.Connect.
type ConnectOption func(*connectOptions)

type connectOptions struct {
	sink     func(watchKind, Event) // the wire server's: receives every watch event
	dialer   func(ctx context.Context, addr string) (net.Conn, error)
	failover []*Node
	timeout  time.Duration
	resumeID int64
	password []byte
	auth     []authCred
}

type authCred struct {
	scheme string
	auth   []byte
}

// WithSessionTimeout asks for a session timeout; the node clamps it into
// [MinSessionTimeout, MaxSessionTimeout]. Default 10s.
func WithSessionTimeout(d time.Duration) ConnectOption {
	return func(o *connectOptions) { o.timeout = d }
}

// WithSession resumes an existing session instead of creating one, as a
// ZooKeeper client does when it reconnects: the session keeps its
// ephemeral nodes. A wrong password or a session that has ended gives
// ErrSessionExpired.
func WithSession(id int64, password []byte) ConnectOption {
	return func(o *connectOptions) { o.resumeID, o.password = id, bytes.Clone(password) }
}

// WithFailover lets the Conn move its session to one of nodes when its
// node goes away, as a ZooKeeper client moves between the servers of its
// connect string. The session keeps its ephemeral nodes and its watches:
// they are registered again on the new node, whose missed changes fire
// them at once, and persistent watches are replayed every event they
// missed (see AddWatch). Meanwhile the Conn reports StateDisconnected and
// then StateConnected on Events, and operations wait for it, bounded by
// their ctx. It gives up, ending with StateDisconnected, when no node
// takes the session within the session timeout.
func WithFailover(nodes ...*Node) ConnectOption {
	return func(o *connectOptions) { o.failover = append(o.failover, nodes...) }
}

// WithAuth adds credentials to the new Conn before it is returned, as
// AddAuth would.
func WithAuth(scheme string, auth []byte) ConnectOption {
	return func(o *connectOptions) { o.auth = append(o.auth, authCred{scheme, bytes.Clone(auth)}) }
}

// Conn is a session's handle on a node: every ZooKeeper operation, run
// in-process. It is safe for concurrent use. Operations of one goroutine
// take effect in the order they are called, and a read sees every write
// that returned before it.
type Conn struct {
	nodePtr  atomic.Pointer[Node] // the node the session is attached to
	failover []*Node              // nodes it may move to (WithFailover)
	done     chan struct{}        // closed when the Conn ends for good
	pumpStop <-chan struct{}      // ends the delivery of events a reader left unread
	id       int64
	password []byte
	timeout  time.Duration

	touchState
	state     atomic.Int32
	ended     atomic.Bool
	stateMu   sync.Mutex
	stateWake chan struct{}         // closed at the next state change
	reason    atomic.Pointer[error] // why the Conn ended
	auth      atomic.Pointer[[]ID]  // replaced, never changed in place
	authMu    sync.Mutex            // serialises AddAuth
	events    *mailbox

	// sink, when set, takes the events of every watch of the Conn instead
	// of per-watch channels: the wire server's, which must interleave
	// them with replies in zxid order. It is called with the FSM's lock
	// held, in zxid order, and must not block.
	sink func(watchKind, Event)
	// seen is the zxid of the state the Conn's last read or write saw.
	// The wire server, the only user, calls one operation at a time.
	seen atomic.Int64
	// heard is when (node clock, ns) the wire server last had a frame
	// from the Conn's client; only the liveness of wire Conns uses it.
	heard atomic.Int64
	// remote is set for a Conn made by Dial: its operations go over the
	// wire, and nodePtr is nil.
	remote *remote
}

// Connect opens a session on this node, or resumes one with WithSession.
// It returns once the session exists in the replicated state.
func (n *Node) Connect(ctx context.Context, opts ...ConnectOption) (*Conn, error) {
	o := connectOptions{timeout: defaultSessionTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Conn{failover: o.failover, done: make(chan struct{}), sink: o.sink}
	c.nodePtr.Store(n)
	c.pumpStop = n.closing
	if len(o.failover) > 0 {
		// Events queued for a slow reader outlive any one node: they are
		// dropped only once every node the Conn could be on has closed.
		stop := make(chan struct{})
		c.pumpStop = stop
		nodes := append([]*Node{n}, o.failover...)
		go func() {
			for _, m := range nodes {
				<-m.closing
			}
			close(stop)
		}()
	}
	c.events = newMailbox(16, c.pumpStop)
	ids := []ID{{Scheme: "ip", ID: "127.0.0.1"}}
	c.auth.Store(&ids)
	for _, a := range o.auth {
		if err := c.addAuth(a.scheme, a.auth); err != nil {
			return nil, opErr("connect", "", err)
		}
	}
	if o.resumeID != 0 {
		si, ok := n.fsm.session(o.resumeID)
		if !ok || subtle.ConstantTimeCompare(si.password, o.password) != 1 {
			return nil, opErr("connect", "", ErrSessionExpired)
		}
		c.id, c.password = o.resumeID, si.password
		c.timeout = time.Duration(si.timeout) * time.Millisecond
	} else {
		c.timeout = n.cfg.negotiateTimeout(o.timeout)
		c.password = newSessionPassword()
		for {
			c.id = newSessionID()
			res, err := n.propose(ctx, &txn.Txn{
				Type: txn.TypeCreateSession, Time: n.clock.Now().UnixMilli(), Session: c.id,
				Timeout: int32(c.timeout / time.Millisecond), Password: c.password,
			})
			if err != nil {
				return nil, opErr("connect", "", err)
			}
			if errors.Is(res.err, errSessionIDTaken) {
				continue
			}
			if res.err != nil {
				return nil, opErr("connect", "", res.err)
			}
			break
		}
	}
	c.setState(StateConnected)
	n.connsMu.Lock()
	old := n.conns[c.id]
	n.conns[c.id] = c
	n.connsMu.Unlock()
	if old != nil {
		old.end(StateDisconnected, ErrSessionMoved)
	}
	n.tracker.touch(c.id, n.clock.Now())
	if _, ok := n.fsm.session(c.id); !ok {
		// Expired between the check and the attach.
		n.connsMu.Lock()
		if n.conns[c.id] == c {
			delete(n.conns, c.id)
		}
		n.connsMu.Unlock()
		return nil, opErr("connect", "", ErrSessionExpired)
	}
	c.events.push(Event{Type: EventSession, State: StateConnected}, false)
	return c, nil
}

// SessionID returns the session's id.
func (c *Conn) SessionID() int64 { return c.id }

// SessionPassword returns the session's password, for WithSession.
func (c *Conn) SessionPassword() []byte { return bytes.Clone(c.password) }

// SessionTimeout returns the negotiated session timeout.
func (c *Conn) SessionTimeout() time.Duration { return c.timeout }

// State returns the session's state as this Conn knows it.
func (c *Conn) State() State { return State(c.state.Load()) }

// Events returns the channel of session state changes (Type
// EventSession): StateConnected first, then StateExpired, StateClosed or
// StateDisconnected when the Conn ends, after which the channel closes.
func (c *Conn) Events() <-chan Event { return c.events.ch }

func (c *Conn) authIDs() []ID { return *c.auth.Load() }

func (c *Conn) alive() bool { return State(c.state.Load()) == StateConnected }

// node returns the node the Conn is attached to.
func (c *Conn) node() *Node { return c.nodePtr.Load() }

// watch registers a new watch of kind on path for c, or returns why c
// can no longer have watches.
func (c *Conn) watch(kind watchKind, path string) (*chanWatch, error) {
	w := c.newWatch(!(kind == watchPersistent || kind == watchRecursive))
	w.kind = kind
	if !c.node().watches.add(kind, path, w) {
		if err := c.check(context.Background()); err != nil {
			return nil, err
		}
		return nil, ErrConnectionLoss // the Conn moved to another node meanwhile
	}
	return w, nil
}

// check returns why the Conn can no longer be used, or nil. While the
// Conn moves to another node it waits, bounded by ctx.
func (c *Conn) check(ctx context.Context) error {
	for {
		wake := c.stateChanged()
		if c.ended.Load() {
			if p := c.reason.Load(); p != nil {
				return *p
			}
			return ErrClosing
		}
		if State(c.state.Load()) == StateConnected {
			return ctx.Err()
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ErrConnectionLoss
		}
	}
}

// end ends the Conn once: its watches stop with EventNotWatching and its
// events channel reports state and closes, after the events queued before.
// It does not block.
func (c *Conn) end(state State, reason error) {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	c.reason.Store(&reason)
	c.setState(state)
	for _, r := range c.node().watches.removeOwner(c) {
		if w, ok := r.w.(*chanWatch); ok {
			w.send(Event{Type: EventNotWatching, State: state, Path: r.path, Err: reason}, true)
		}
	}
	c.events.push(Event{Type: EventSession, State: state}, true)
	close(c.done)
	c.lostTouch(-1)
}

// setState records the Conn's state and wakes whoever waits for it.
func (c *Conn) setState(s State) {
	c.stateMu.Lock()
	c.state.Store(int32(s))
	if c.stateWake != nil {
		close(c.stateWake)
		c.stateWake = nil
	}
	c.stateMu.Unlock()
}

// stateChanged returns a channel closed at the next setState.
func (c *Conn) stateChanged() <-chan struct{} {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.stateWake == nil {
		c.stateWake = make(chan struct{})
	}
	return c.stateWake
}

// Close closes the session: its ephemeral nodes are deleted at once, in
// one transaction, and its watches end. Closing an ended Conn returns nil.
func (c *Conn) Close() error {
	if c.remote != nil {
		return c.remote.close()
	}
	if c.ended.Load() {
		return nil
	}
	n := c.node()
	if State(c.state.Load()) != StateConnected {
		// Moving between nodes: close the session through any live one.
		for _, m := range c.failover {
			if !m.isClosing() {
				n = m
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	_, err := n.propose(ctx, &txn.Txn{Type: txn.TypeCloseSession, Session: c.id, Time: n.clock.Now().UnixMilli(), Reason: txn.CloseByClient})
	// The FSM's listener ends the Conn when the close is applied; make sure
	// it ends even if the close could not be proposed.
	n.connsMu.Lock()
	if n.conns[c.id] == c {
		delete(n.conns, c.id)
	}
	n.connsMu.Unlock()
	c.end(StateClosed, ErrClosing)
	if err != nil && !errors.Is(err, ErrClosing) {
		return opErr("close", "", err)
	}
	return nil
}

// chanWatch is one watch registered through the Go API: its own channel.
type chanWatch struct {
	mb      *mailbox
	conn    *Conn
	oneShot bool
	kind    watchKind
	exist   bool // a data watch set on a missing node by ExistsW
}

func (w *chanWatch) deliver(ev Event)  { w.send(ev, w.oneShot) }
func (w *chanWatch) owner() watchOwner { return w.conn }

// send passes ev on: to the Conn's sink if it has one, else to the
// watch's channel, which closes after it if last.
func (w *chanWatch) send(ev Event, last bool) {
	if w.mb == nil {
		w.conn.sink(w.kind, ev)
		return
	}
	w.mb.push(ev, last)
}

// ch is the watch's channel; nil for a Conn with a sink.
func (w *chanWatch) ch() <-chan Event {
	if w.mb == nil {
		return nil
	}
	return w.mb.ch
}

func (c *Conn) newWatch(oneShot bool) *chanWatch {
	if c.sink != nil {
		return &chanWatch{conn: c, oneShot: oneShot}
	}
	size := 1
	if !oneShot {
		size = 64
	}
	return &chanWatch{mb: newMailbox(size, c.pumpStop), conn: c, oneShot: oneShot}
}

// read runs f with the tree locked for reading.
func (c *Conn) read(f func(t *tree)) {
	n := c.node()
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	c.seen.Store(n.fsm.LastZxid())
	f(n.fsm.tree)
}

func cloneData(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Get returns a node's data and Stat.
func (c *Conn) Get(ctx context.Context, path string) ([]byte, *Stat, error) {
	data, st, _, err := c.get(ctx, path, false)
	return data, st, err
}

// GetW is Get that also sets a one-shot data watch: the channel receives
// one event (EventNodeDataChanged or EventNodeDeleted) and closes, or
// receives EventNotWatching when the session ends first.
func (c *Conn) GetW(ctx context.Context, path string) ([]byte, *Stat, <-chan Event, error) {
	return c.get(ctx, path, true)
}

func (c *Conn) get(ctx context.Context, path string, watch bool) ([]byte, *Stat, <-chan Event, error) {
	if c.remote != nil {
		return c.remote.get(ctx, path, watch)
	}
	if err := c.check(ctx); err != nil {
		return nil, nil, nil, opErr("get", path, err)
	}
	if err := validatePath(path); err != nil {
		return nil, nil, nil, opErr("get", path, err)
	}
	var (
		data []byte
		st   Stat
		err  error
		w    *chanWatch
	)
	c.read(func(t *tree) {
		data, st, err = t.get(path, c.authIDs())
		data = cloneData(data)
		if err == nil && watch {
			w, err = c.watch(watchData, path)
		}
	})
	if err != nil {
		return nil, nil, nil, opErr("get", path, err)
	}
	if w != nil {
		return data, &st, w.ch(), nil
	}
	return data, &st, nil, nil
}

// Exists reports whether a node exists, with its Stat if it does.
func (c *Conn) Exists(ctx context.Context, path string) (bool, *Stat, error) {
	ok, st, _, err := c.exists(ctx, path, false)
	return ok, st, err
}

// ExistsW is Exists that also sets a one-shot watch, whether or not the
// node exists: it fires EventNodeCreated, EventNodeDataChanged or
// EventNodeDeleted.
func (c *Conn) ExistsW(ctx context.Context, path string) (bool, *Stat, <-chan Event, error) {
	return c.exists(ctx, path, true)
}

func (c *Conn) exists(ctx context.Context, path string, watch bool) (bool, *Stat, <-chan Event, error) {
	if c.remote != nil {
		return c.remote.exists(ctx, path, watch)
	}
	if err := c.check(ctx); err != nil {
		return false, nil, nil, opErr("exists", path, err)
	}
	if err := validatePath(path); err != nil {
		return false, nil, nil, opErr("exists", path, err)
	}
	var (
		st  Stat
		ok  bool
		err error
		w   *chanWatch
	)
	c.read(func(t *tree) {
		st, ok, err = t.exists(path, c.authIDs())
		if err == nil && watch {
			w, err = c.watch(watchData, path)
			if w != nil {
				w.exist = !ok
			}
		}
	})
	if err != nil {
		return false, nil, nil, opErr("exists", path, err)
	}
	var ch <-chan Event
	if w != nil {
		ch = w.ch()
	}
	if !ok {
		return false, nil, ch, nil
	}
	return true, &st, ch, nil
}

// Children returns the names of a node's children, sorted, and its Stat.
func (c *Conn) Children(ctx context.Context, path string) ([]string, *Stat, error) {
	ch, st, _, err := c.children(ctx, path, false)
	return ch, st, err
}

// ChildrenW is Children that also sets a one-shot child watch: it fires
// EventNodeChildrenChanged or EventNodeDeleted.
func (c *Conn) ChildrenW(ctx context.Context, path string) ([]string, *Stat, <-chan Event, error) {
	return c.children(ctx, path, true)
}

func (c *Conn) children(ctx context.Context, path string, watch bool) ([]string, *Stat, <-chan Event, error) {
	if c.remote != nil {
		return c.remote.children(ctx, path, watch)
	}
	if err := c.check(ctx); err != nil {
		return nil, nil, nil, opErr("children", path, err)
	}
	if err := validatePath(path); err != nil {
		return nil, nil, nil, opErr("children", path, err)
	}
	var (
		names []string
		st    Stat
		err   error
		w     *chanWatch
	)
	c.read(func(t *tree) {
		names, st, err = t.children(path, c.authIDs())
		names = slices.Clone(names)
		if err == nil && watch {
			w, err = c.watch(watchChild, path)
		}
	})
	if err != nil {
		return nil, nil, nil, opErr("children", path, err)
	}
	if names == nil {
		names = []string{}
	}
	if w != nil {
		return names, &st, w.ch(), nil
	}
	return names, &st, nil, nil
}

// GetACL returns a node's ACL and Stat. Without ADMIN permission, digest
// identities are masked as ZooKeeper masks them.
func (c *Conn) GetACL(ctx context.Context, path string) ([]ACL, *Stat, error) {
	if c.remote != nil {
		return c.remote.getACL(ctx, path)
	}
	if err := c.check(ctx); err != nil {
		return nil, nil, opErr("getACL", path, err)
	}
	if err := validatePath(path); err != nil {
		return nil, nil, opErr("getACL", path, err)
	}
	var (
		acl []ACL
		st  Stat
		err error
	)
	c.read(func(t *tree) { acl, st, err = t.getACL(path, c.authIDs()) })
	if err != nil {
		return nil, nil, opErr("getACL", path, err)
	}
	return acl, &st, nil
}

// Ephemerals returns the paths of this session's ephemeral nodes that
// start with prefix ("" or "/" for all of them), sorted.
func (c *Conn) Ephemerals(ctx context.Context, prefix string) ([]string, error) {
	if c.remote != nil {
		return c.remote.ephemerals(ctx, prefix)
	}
	if err := c.check(ctx); err != nil {
		return nil, opErr("getEphemerals", prefix, err)
	}
	var out []string
	c.read(func(t *tree) { out = t.ephemeralPaths(c.id, prefix) })
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// AllChildrenNumber returns the number of nodes below path, at any depth.
func (c *Conn) AllChildrenNumber(ctx context.Context, path string) (int, error) {
	if c.remote != nil {
		return c.remote.allChildrenNumber(ctx, path)
	}
	if err := c.check(ctx); err != nil {
		return 0, opErr("getAllChildrenNumber", path, err)
	}
	if err := validatePath(path); err != nil {
		return 0, opErr("getAllChildrenNumber", path, err)
	}
	var (
		n   int
		err error
	)
	c.read(func(t *tree) { n, err = t.descendants(path, c.authIDs()) })
	if err != nil {
		return 0, opErr("getAllChildrenNumber", path, err)
	}
	return n, nil
}

// AddWatch sets a persistent watch (AddWatchModePersistent) or a persistent
// recursive watch (AddWatchModePersistentRecursive) on path, which need
// not exist. The channel receives every matching event in zxid order
// until RemoveWatches removes the watch (EventPersistentWatchRemoved) or
// the session ends (EventNotWatching); then it closes. Events wait in an
// unbounded queue when the reader is slow; the node never blocks on it.
func (c *Conn) AddWatch(ctx context.Context, path string, mode AddWatchMode) (<-chan Event, error) {
	if c.remote != nil {
		return c.remote.addWatch(ctx, path, mode)
	}
	if err := c.check(ctx); err != nil {
		return nil, opErr("addWatch", path, err)
	}
	if err := validatePath(path); err != nil {
		return nil, opErr("addWatch", path, err)
	}
	kind := watchPersistent
	switch mode {
	case AddWatchModePersistent:
	case AddWatchModePersistentRecursive:
		kind = watchRecursive
	default:
		return nil, opErr("addWatch", path, ErrBadArguments)
	}
	var (
		w   *chanWatch
		err error
	)
	c.read(func(*tree) { w, err = c.watch(kind, path) })
	if err != nil {
		return nil, opErr("addWatch", path, err)
	}
	return w.ch(), nil
}

// RemoveWatches removes this Conn's watches of type typ on path. Each
// removed watch's channel receives EventDataWatchRemoved,
// EventChildWatchRemoved or EventPersistentWatchRemoved and closes. If
// there is no such watch it returns ErrNoWatcher.
func (c *Conn) RemoveWatches(ctx context.Context, path string, typ WatcherType) error {
	if c.remote != nil {
		return c.remote.removeWatches(ctx, path, typ)
	}
	if err := c.check(ctx); err != nil {
		return opErr("removeWatches", path, err)
	}
	kinds := typ.kinds()
	if kinds == nil {
		return opErr("removeWatches", path, ErrBadArguments)
	}
	regs, err := c.node().watches.remove(c, path, kinds)
	if err != nil {
		return opErr("removeWatches", path, err)
	}
	for _, r := range regs {
		et := EventPersistentWatchRemoved
		switch r.kind {
		case watchData:
			et = EventDataWatchRemoved
		case watchChild:
			et = EventChildWatchRemoved
		}
		if w, ok := r.w.(*chanWatch); ok {
			w.send(Event{Type: et, State: StateConnected, Path: path}, true)
		}
	}
	return nil
}

// AddAuth adds an identity to this Conn: scheme "digest" with
// "user:password" gives digest:user:base64(sha1(user:password)), and the
// super user's digest grants every permission. Scheme "x509" succeeds only
// on a wire connection that presented a verified client certificate. An
// unknown scheme is ErrAuthFailed.
func (c *Conn) AddAuth(ctx context.Context, scheme string, auth []byte) error {
	if c.remote != nil {
		return c.remote.addAuth(ctx, scheme, auth)
	}
	if err := c.check(ctx); err != nil {
		return opErr("addAuth", scheme, err)
	}
	if err := c.addAuth(scheme, auth); err != nil {
		return opErr("addAuth", scheme, err)
	}
	return nil
}

func (c *Conn) addAuth(scheme string, auth []byte) error {
	if scheme == "x509" {
		// As X509AuthenticationProvider: the credentials are ignored, and
		// only a connection with a verified client certificate (which
		// already holds its x509 identity) succeeds.
		if !c.hasScheme("x509") {
			return ErrAuthFailed
		}
		return nil
	}
	ids, err := authenticate(scheme, auth, c.node().cfg.SuperDigest)
	if err != nil {
		return err
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	cur := c.authIDs()
	next := slices.Clone(cur)
	for _, id := range ids {
		if !slices.Contains(next, id) {
			next = append(next, id)
		}
	}
	c.auth.Store(&next)
	return nil
}

// Sync waits until this node has applied every write the leader had
// committed when Sync was called, after the leader confirmed with a
// quorum that it still leads. A read after Sync is linearizable.
func (c *Conn) Sync(ctx context.Context, path string) error {
	if c.remote != nil {
		return c.remote.sync(ctx, path)
	}
	if err := c.check(ctx); err != nil {
		return opErr("sync", path, err)
	}
	if err := validatePath(path); err != nil {
		return opErr("sync", path, err)
	}
	n := c.node()
	z, err := n.readIndex(ctx)
	if err != nil {
		return opErr("sync", path, c.lost(err))
	}
	if err := n.waitApplied(ctx, z); err != nil {
		return opErr("sync", path, c.lost(err))
	}
	return nil
}
