// Package wire is the client side of ZooKeeper's wire protocol: a session
// engine that connects to one server of a list, keeps the session alive
// with pings, matches replies to requests, hands watch notifications on,
// and moves the session to another server when a connection breaks. It
// knows nothing of znodes beyond what the protocol needs; the zk package
// builds its API on top. See /work/shared/protocol.md §2–§4 and §9.6.
package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk/internal/jute"
)

// DefaultMaxPacket is ZooKeeper's default jute.maxbuffer: the Java client
// drops a connection whose reply is longer (protocol.md §2.1).
const DefaultMaxPacket = 0xfffff

// setWatchesBatch bounds the path text of one setWatches request, as the
// Java client does, so that a client holding many watches does not build a
// request the server rejects as longer than jute.maxbuffer.
const setWatchesBatch = 128 * 1024

// State is a Client's connection state. The values are ZooKeeper's
// KeeperState numbers where it has one (protocol.md §9.2).
type State int32

// The states of a Client.
const (
	// Disconnected: the connection broke; the engine is reconnecting and
	// the session may still be alive.
	Disconnected State = 0
	// Connecting: no session has been established yet.
	Connecting State = 1
	// Connected: a session is established on a read-write server.
	Connected State = 3
	// AuthFailed: the server refused credentials; the Client has ended.
	AuthFailed State = 4
	// ConnectedReadOnly: a session is established on a read-only server.
	ConnectedReadOnly State = 5
	// Closed: the Client was closed (and the session with it, if
	// closeSession got through).
	Closed State = 7
	// Expired: the server reported the session expired; the Client has
	// ended.
	Expired State = -112
)

// String returns ZooKeeper's name for s.
func (s State) String() string {
	switch s {
	case Disconnected:
		return "Disconnected"
	case Connecting:
		return "Connecting"
	case Connected:
		return "SyncConnected"
	case AuthFailed:
		return "AuthFailed"
	case ConnectedReadOnly:
		return "ConnectedReadOnly"
	case Closed:
		return "Closed"
	case Expired:
		return "Expired"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// ClientConfig configures Dial.
type ClientConfig struct {
	// Addrs are the servers' host:port addresses. They are tried in a
	// shuffled order, then round robin, so that clients spread over an
	// ensemble.
	Addrs []string
	// SessionTimeout is the timeout requested; the server clamps it.
	SessionTimeout time.Duration
	// SessionID and Passwd, when SessionID is non-zero, name a session to
	// resume instead of creating one.
	SessionID int64
	Passwd    []byte
	// CanBeReadOnly accepts a server in read-only mode.
	CanBeReadOnly bool
	// MaxPacket is the longest reply accepted; 0 means DefaultMaxPacket. A
	// longer one closes the connection.
	MaxPacket int
	// Dialer opens connections; nil means a net.Dialer over TCP.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// Logger receives the engine's logs; nil discards them.
	Logger hclog.Logger
	// OnEvent receives watch notifications with the zxid of their header,
	// in the order received, from the goroutine that reads replies: a
	// notification is handed over before any later reply is. It must not
	// block long, wait for a Do, or call Close, since the engine waits for
	// it (hand such work to another goroutine).
	OnEvent func(ev jute.WatcherEvent, zxid int64)
	// OnState receives state changes, the final one (Closed, Expired or
	// AuthFailed) included. It is never called concurrently with itself or
	// OnEvent, and has OnEvent's restrictions.
	OnState func(s State)
	// Watches returns what to re-register after each (re)connect: the
	// relative zxid and the watched paths. nil, or empty lists, register
	// nothing.
	Watches func() (relativeZxid int64, w jute.SetWatches2)
	// Auth returns the credentials to send on each (re)connect, before the
	// watches and any queued request.
	Auth func() []jute.AuthPacket
}

// Client is a ZooKeeper session over a sequence of connections. Its
// methods are safe for concurrent use.
type Client struct {
	cfg       ClientConfig
	log       hclog.Logger
	addrs     []string
	maxPacket int
	dial      func(ctx context.Context, addr string) (net.Conn, error)

	ctx    context.Context // ends when the Client stops; bounds dials
	cancel context.CancelFunc

	wake      chan struct{} // a request was queued (capacity 1)
	stop      chan struct{} // closed to stop the engine
	stopOnce  sync.Once
	ready     chan struct{} // closed once the first session is established
	readyOnce sync.Once
	done      chan struct{} // closed when the engine has ended

	mu            sync.Mutex
	state         State
	sessionID     int64
	passwd        []byte
	timeout       time.Duration // negotiated once connected, else requested
	lastZxid      int64
	xid           int32
	addr          string
	cur           *conn      // nil while not connected
	queue         []*request // not yet written, in send order
	closing       bool       // Close was called: no new requests
	sessionClosed bool       // a closeSession got its reply
	endErr        error      // why the Client ended; nil while it runs
	lostSince     time.Time  // when the last connection broke; zero when connected

	heard atomic.Int64 // unix ns of the last frame from a server
}

// LastHeard returns when a server last sent the Client anything (a reply,
// a ping's reply, a notification, a ConnectResponse): the session was
// alive on the ensemble then.
func (c *Client) LastHeard() time.Time { return time.Unix(0, c.heard.Load()) }

// request is one frame to send and, for callers' requests, where its reply
// goes.
type request struct {
	xid      int32
	op       int32
	frame    []byte      // length-prefixed, ready to write
	internal bool        // sent by the engine; nobody waits for it
	reply    chan result // capacity 1; nil when internal
	then     func(code int32)
}

type result struct {
	hdr  jute.ReplyHeader
	body []byte // what follows the header
	err  error  // set when no reply will come
}

// Dial connects to one of cfg.Addrs and establishes (or resumes) a session.
// It keeps trying the addresses until one gives a session or ctx ends; a
// resumed session that the server reports expired fails with
// ErrSessionExpired.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, fmt.Errorf("wire: no server addresses")
	}
	if cfg.SessionTimeout <= 0 {
		return nil, fmt.Errorf("wire: session timeout %v is not positive", cfg.SessionTimeout)
	}
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger,
		addrs:     slices.Clone(cfg.Addrs),
		maxPacket: cfg.MaxPacket,
		dial:      cfg.Dialer,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		state:     Connecting,
		sessionID: cfg.SessionID,
		passwd:    slices.Clone(cfg.Passwd),
		timeout:   cfg.SessionTimeout,
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if c.maxPacket <= 0 {
		c.maxPacket = DefaultMaxPacket
	}
	if c.dial == nil {
		var d net.Dialer
		c.dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	if len(c.passwd) == 0 {
		c.passwd = make([]byte, 16)
	}
	rand.Shuffle(len(c.addrs), func(i, j int) { c.addrs[i], c.addrs[j] = c.addrs[j], c.addrs[i] })
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	select {
	case <-c.ready:
		return c, nil
	case <-c.done:
		c.mu.Lock()
		err := c.endErr
		c.mu.Unlock()
		return nil, fmt.Errorf("wire: dial: %w", err)
	case <-ctx.Done():
		c.shutdown()
		return nil, fmt.Errorf("wire: dial %v: %w", cfg.Addrs, ctx.Err())
	}
}

// Do sends a request with opcode op and body req (nil for none), waits for
// its reply and decodes the reply body into resp (nil to ignore it). It
// returns the zxid of the reply header. A non-zero error code in the reply
// is returned as a CodeError. If ctx ends first Do returns at once; a
// request already written may still be applied.
//
// Requests are written in the order Do queued them. While the Client is
// reconnecting they wait to be sent on the next connection, unless it has
// been without one for the whole session timeout, in which case they fail
// with ErrConnectionLoss.
func (c *Client) Do(ctx context.Context, op int32, req, resp jute.Record) (int64, error) {
	return c.DoThen(ctx, op, req, resp, nil)
}

// DoThen is Do that also calls then with the reply's error code when the
// reply arrives, from the goroutine that reads replies, before any later
// frame is handed on: a caller registers a watch there so that no
// notification for it can come first, as the Java client does. then is
// not called when no reply comes; it has OnEvent's restrictions.
func (c *Client) DoThen(ctx context.Context, op int32, req, resp jute.Record, then func(code int32)) (int64, error) {
	frame := encodeFrame(0, op, req) // the xid is patched in below
	r := &request{op: op, frame: frame, reply: make(chan result, 1), then: then}
	c.mu.Lock()
	if err := c.refuseLocked(); err != nil {
		c.mu.Unlock()
		return 0, fmt.Errorf("wire: %s: %w", jute.OpName(op), err)
	}
	switch op {
	// ZooKeeper answers these outside its request pipeline with fixed
	// xids, so their replies can overtake others (protocol.md §4.3).
	case jute.OpAuth:
		r.xid = jute.XidAuth
	case jute.OpPing:
		r.xid = jute.XidPing
	default:
		r.xid = c.nextXidLocked()
	}
	binary.BigEndian.PutUint32(frame[4:], uint32(r.xid))
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	c.signal()

	select {
	case res := <-r.reply:
		if res.err != nil {
			return 0, fmt.Errorf("wire: %s: %w", jute.OpName(op), res.err)
		}
		if res.hdr.Err != 0 {
			return res.hdr.Zxid, CodeError{Code: res.hdr.Err}
		}
		if resp != nil {
			if err := jute.Unmarshal(res.body, resp); err != nil {
				return res.hdr.Zxid, fmt.Errorf("wire: decoding %s reply: %w", jute.OpName(op), err)
			}
		}
		return res.hdr.Zxid, nil
	case <-ctx.Done():
		c.mu.Lock()
		if i := slices.Index(c.queue, r); i >= 0 {
			c.queue = slices.Delete(c.queue, i, i+1)
		}
		c.mu.Unlock()
		return 0, fmt.Errorf("wire: %s: %w", jute.OpName(op), ctx.Err())
	}
}

// refuseLocked says why a new request cannot be queued, if it cannot.
func (c *Client) refuseLocked() error {
	switch {
	case c.endErr != nil:
		return c.endErr
	case c.closing:
		return ErrClosing
	case c.lostTooLongLocked(time.Now()):
		return fmt.Errorf("%w: no server reachable for the session timeout", ErrConnectionLoss)
	}
	return nil
}

// lostTooLongLocked reports whether the Client has been without a
// connection for the whole session timeout, after which the session has
// probably expired and waiting callers are better told so.
func (c *Client) lostTooLongLocked(now time.Time) bool {
	return c.cur == nil && !c.lostSince.IsZero() && now.Sub(c.lostSince) >= c.timeout
}

// nextXidLocked returns 1, 2, 3, …, wrapping to 1 after MaxInt32 like the
// Java client, so that xids stay positive and never collide with the
// special negative ones.
func (c *Client) nextXidLocked() int32 {
	if c.xid == 1<<31-1 {
		c.xid = 0
	}
	c.xid++
	return c.xid
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close closes the session: it sends closeSession, waits for the reply
// (bounded by ctx, and failing if there is no connection for the session
// timeout), then stops the engine. It is idempotent; once it returns every
// goroutine of the Client has ended. An error means closeSession may not
// have reached the server; the Client is closed all the same.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.endErr != nil {
		c.mu.Unlock()
		c.shutdown()
		return nil
	}
	if c.closing {
		// Another Close is sending closeSession: let it finish unless
		// this caller cannot wait.
		c.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			c.shutdown()
		}
		return nil
	}
	lost := c.lostTooLongLocked(time.Now())
	c.closing = true
	var r *request
	if !lost {
		xid := c.nextXidLocked()
		r = &request{xid: xid, op: jute.OpCloseSession, frame: encodeFrame(xid, jute.OpCloseSession, nil), reply: make(chan result, 1)}
		c.queue = append(c.queue, r)
	}
	c.mu.Unlock()
	defer c.shutdown()
	if r == nil {
		return fmt.Errorf("wire: closeSession: %w", ErrConnectionLoss)
	}
	c.signal()
	select {
	case res := <-r.reply:
		switch {
		case res.err != nil:
			return fmt.Errorf("wire: closeSession: %w", res.err)
		case res.hdr.Err == CodeSessionExpired:
			return nil
		case res.hdr.Err != 0:
			return fmt.Errorf("wire: closeSession: %w", CodeError{Code: res.hdr.Err})
		}
		return nil
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wire: closeSession: %w", ctx.Err())
	}
}

// shutdown stops the engine and waits for it to end.
func (c *Client) shutdown() {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.cancel()
	})
	<-c.done
}

// Done is closed when the Client has ended: closed, expired or refused
// authentication.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the Client ended (ErrClosing, ErrSessionExpired,
// ErrAuthFailed), or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

// SessionID returns the session's id (0 before one was established).
func (c *Client) SessionID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// Passwd returns a copy of the session's password.
func (c *Client) Passwd() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.passwd)
}

// Timeout returns the session timeout the server negotiated (the requested
// one until then).
func (c *Client) Timeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timeout
}

// LastZxid returns the highest zxid seen in a reply to a request or in a
// notification that carries one, the one sent when resuming the session
// and setting watches again.
func (c *Client) LastZxid() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastZxid
}

// State returns the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Addr returns the address of the server the Client is connected to, or ""
// while it is not.
func (c *Client) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.addr
}

// setState records s and tells OnState. Only the engine goroutine calls
// it, and never while a connection's reader runs, which keeps OnState and
// OnEvent from overlapping.
func (c *Client) setState(s State) {
	c.mu.Lock()
	changed := c.state != s
	c.state = s
	c.mu.Unlock()
	if changed && c.cfg.OnState != nil {
		c.cfg.OnState(s)
	}
}

// run is the engine: it connects, serves a connection until it breaks,
// and reconnects, until the Client stops or the session ends.
func (c *Client) run() {
	final, endErr := Closed, ErrClosing
	defer func() { c.end(final, endErr) }()
	c.setState(Connecting)
	next := 0
	fails := 0
	for {
		if c.stopped() {
			return
		}
		addr := c.addrs[next%len(c.addrs)]
		next++
		cn, err := c.connect(addr)
		switch {
		case errors.Is(err, ErrSessionExpired):
			final, endErr = Expired, ErrSessionExpired
			return
		case err != nil:
			fails++
			if c.stopped() {
				return
			}
			c.log.Debug("connect failed", "addr", addr, "error", err)
			c.failStaleRequests()
			if !c.sleep(backoff(fails, len(c.addrs))) {
				return
			}
			continue
		}
		fails = 0
		cause := c.serve(cn)
		switch {
		case errors.Is(cause, ErrAuthFailed):
			final, endErr = AuthFailed, ErrAuthFailed
			return
		case c.isSessionClosed() || c.stopped():
			return
		}
		c.log.Debug("connection lost", "addr", addr, "error", cause)
		c.setState(Disconnected)
		if !c.sleep(backoff(0, len(c.addrs))) {
			return
		}
	}
}

// backoff returns the pause before the next connection attempt after
// fails failed ones in a row: a short jitter while there are addresses
// left to try, so that clients of a failed server do not all arrive at
// once, then a growing pause once every address has failed.
func backoff(fails, servers int) time.Duration {
	const jitter = 50 * time.Millisecond
	if fails < servers {
		return rand.N(jitter)
	}
	base := 100 * time.Millisecond
	for rounds := fails/servers - 1; rounds > 0 && base < time.Second; rounds-- {
		base *= 2
	}
	base = min(base, time.Second)
	return base/2 + rand.N(base/2)
}

// sleep waits d unless the Client stops first; it reports whether to go on.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

func (c *Client) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *Client) isSessionClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionClosed
}

// failStaleRequests fails the queued requests once the Client has been
// without a connection for the session timeout: the session has most likely
// expired, and their callers should not wait for a server that may never
// come back.
func (c *Client) failStaleRequests() {
	c.mu.Lock()
	if !c.lostTooLongLocked(time.Now()) {
		c.mu.Unlock()
		return
	}
	q := c.queue
	c.queue = nil
	c.mu.Unlock()
	for _, r := range q {
		if !r.internal {
			r.reply <- result{err: fmt.Errorf("%w: no server reachable for the session timeout", ErrConnectionLoss)}
		}
	}
}

// end fails whatever is still queued with err, records the final state and
// closes done.
func (c *Client) end(final State, err error) {
	c.mu.Lock()
	c.endErr = err
	q := c.queue
	c.queue = nil
	c.cur = nil
	c.mu.Unlock()
	for _, r := range q {
		if !r.internal {
			r.reply <- result{err: err}
		}
	}
	c.log.Debug("client ended", "state", final)
	c.setState(final)
	c.cancel()
	close(c.done)
}

// connectTimeout returns how long one connection attempt (dial and
// handshake) may take: as in the Java client, the session timeout shared
// among the servers, so that a round over all of them fits in the session
// timeout; but at least a second (or the read timeout, if shorter), so that
// a large ensemble does not leave each attempt too little time.
func (c *Client) connectTimeout() time.Duration {
	c.mu.Lock()
	t := c.timeout
	c.mu.Unlock()
	return max(t/time.Duration(len(c.addrs)), min(t*2/3, time.Second))
}
