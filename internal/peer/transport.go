package peer

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The first byte of a connection says what it carries.
const (
	kindRaft byte = 'R'
	kindCall byte = 'C'
)

// maxFrame bounds one call's request or response: more than the largest
// txn (a multi of MaxDataSize-sized ops stays far below it).
const maxFrame = 256 << 20

// firstByteTimeout bounds how long an accepted connection may take to say
// what it carries.
const firstByteTimeout = 10 * time.Second

// handlerGrace is how much longer than its caller a handler may run.
const handlerGrace = 100 * time.Millisecond

// maxInFlight bounds the calls one connection may have outstanding at the
// server; further requests wait to be read.
const maxInFlight = 4096

// Handler serves the calls a Transport receives: method and request in,
// response out. ctx ends when the caller's deadline passes or the
// transport closes. An error reaches the caller as a *RemoteError.
type Handler func(ctx context.Context, method byte, req []byte) ([]byte, error)

// ErrNotSent means a call never reached the other node: it had no effect
// there and may be tried again.
var ErrNotSent = errors.New("peer: call not sent")

// ErrLost means the connection failed after the call was sent: it may or
// may not have taken effect.
var ErrLost = errors.New("peer: connection lost during call")

// ErrClosed is returned for calls on a closed Transport.
var ErrClosed = errors.New("peer: transport closed")

// RemoteError is an error the other node's Handler returned.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "peer: remote: " + e.Msg }

// Transport is a node's end of the peer network: it listens on one
// address, hands connections that carry raft to raft (StreamLayer), serves
// calls with its Handler, and makes calls to other nodes (Call).
type Transport struct {
	net     Network
	addr    string
	ln      net.Listener
	handler Handler
	log     hclog.Logger

	raftConns chan net.Conn
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	ctx       context.Context // ends at Close, for handlers
	cancel    context.CancelFunc

	mu      sync.Mutex
	clients map[string]*client // by address
	served  map[net.Conn]struct{}

	// isolated is set by Isolate: no connection in or out.
	isolated atomic.Bool
}

// ErrIsolated is returned for calls and dials made while the Transport is
// isolated (see Isolate): like ErrNotSent, the call had no effect.
var ErrIsolated = fmt.Errorf("%w: node isolated", ErrNotSent)

// Isolate cuts the node off from its peers, or reconnects it: while
// isolated, every open connection is closed, accepted ones are closed at
// once and dials fail with ErrIsolated. A node uses it when it must not be
// heard from, such as a raft leader whose disk has stalled: raft's
// heartbeats go on from other goroutines and would keep its followers
// from electing another leader.
func (t *Transport) Isolate(on bool) {
	if t.isolated.Swap(on) == on || !on {
		return
	}
	// Closed after the flag is set, so no connection made meanwhile
	// survives: dials and accepts check the flag after tracking.
	t.mu.Lock()
	for c := range t.served {
		c.Close()
	}
	for addr, cl := range t.clients {
		cl.conn.Close()
		delete(t.clients, addr) // before its reader notices: never reused
	}
	t.mu.Unlock()
}

// Isolated reports whether Isolate cut the node off.
func (t *Transport) Isolated() bool { return t.isolated.Load() }

// Listen starts a Transport listening at addr on netw, the address its
// peers dial. handler serves the calls other nodes make; it may be nil
// until SetHandler.
func Listen(netw Network, addr string, handler Handler, logger hclog.Logger) (*Transport, error) {
	return ListenAdvertised(netw, addr, addr, handler, logger)
}

// ListenAdvertised is Listen for a node whose peers dial it at addr but
// reach it at listen: behind a NAT, a port forward or a proxy.
func ListenAdvertised(netw Network, listen, addr string, handler Handler, logger hclog.Logger) (*Transport, error) {
	ln, err := netw.Listen(listen)
	if err != nil {
		return nil, fmt.Errorf("peer: listen %s: %w", listen, err)
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		net: netw, addr: addr, ln: ln, handler: handler, log: logger,
		raftConns: make(chan net.Conn),
		closing:   make(chan struct{}),
		ctx:       ctx, cancel: cancel,
		clients: make(map[string]*client),
		served:  make(map[net.Conn]struct{}),
	}
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// Addr returns the address the Transport listens at, as peers dial it.
func (t *Transport) Addr() string { return t.addr }

// Close stops listening and closes every connection; calls in flight fail.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.closing)
		t.cancel()
		t.ln.Close()
		t.mu.Lock()
		for c := range t.served {
			c.Close()
		}
		for _, c := range t.clients {
			c.conn.Close()
		}
		t.mu.Unlock()
		t.wg.Wait()
	})
	return nil
}

func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.closing:
		return false
	default:
	}
	t.served[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.served, c)
	t.mu.Unlock()
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("peer accept failed", "error", err)
			select {
			case <-time.After(10 * time.Millisecond):
			case <-t.closing:
				return
			}
			continue
		}
		if !t.track(c) {
			c.Close()
			return
		}
		if t.isolated.Load() {
			t.untrack(c)
			c.Close()
			continue
		}
		t.wg.Add(1)
		go t.route(c)
	}
}

// route reads a connection's first byte and hands it to raft or serves
// its calls.
func (t *Transport) route(c net.Conn) {
	defer t.wg.Done()
	var kind [1]byte
	c.SetReadDeadline(time.Now().Add(firstByteTimeout))
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		t.untrack(c)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	switch kind[0] {
	case kindRaft:
		// Raft owns the connection from here, but does not close the
		// connections it accepted when it shuts down: Close does.
		select {
		case t.raftConns <- &ownedConn{Conn: c, t: t}:
		case <-t.closing:
			c.Close()
		}
	case kindCall:
		t.serve(c)
		t.untrack(c)
	default:
		t.log.Warn("peer connection of unknown kind", "remote", c.RemoteAddr(), "kind", kind[0])
		t.untrack(c)
		c.Close()
	}
}

// A request frame is id:u64 method:u8 timeoutMs:u32 len:u32 payload; a
// response frame is id:u64 status:u8 len:u32 payload, status 0 for a
// result and 1 for an error message.
const (
	reqHeader  = 8 + 1 + 4 + 4
	respHeader = 8 + 1 + 4
)

// serve answers the calls on one connection, each in its own goroutine,
// writing responses as they are ready.
func (t *Transport) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := &frameWriter{w: bufio.NewWriterSize(c, 64<<10)}
	sem := make(chan struct{}, maxInFlight)
	var calls sync.WaitGroup
	defer calls.Wait()
	var hdr [reqHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		id := binary.BigEndian.Uint64(hdr[0:])
		method := hdr[8]
		timeout := time.Duration(binary.BigEndian.Uint32(hdr[9:])) * time.Millisecond
		size := binary.BigEndian.Uint32(hdr[13:])
		if size > maxFrame {
			t.log.Warn("peer call too large", "remote", c.RemoteAddr(), "bytes", size)
			return
		}
		req := make([]byte, size)
		if _, err := io.ReadFull(r, req); err != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-t.closing:
			return
		}
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer func() { <-sem }()
			ctx, cancel := t.ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, timeout)
			}
			var resp []byte
			var err error
			if t.handler == nil {
				err = errors.New("no handler")
			} else {
				resp, err = t.handler(ctx, method, req)
			}
			cancel()
			status := byte(0)
			if err != nil {
				status, resp = 1, []byte(err.Error())
			}
			if werr := w.writeResponse(id, status, resp); werr != nil {
				c.Close()
			}
		}()
	}
}

// frameWriter writes whole frames from many goroutines, coalescing them:
// a writer that knows another is queued behind it leaves the flush to
// that one, so a burst of frames costs one write syscall, and the last
// writer of every burst always flushes.
type frameWriter struct {
	queued atomic.Int32
	mu     sync.Mutex
	w      *bufio.Writer
}

// write writes one frame of header and body. A nil error means the frame
// was buffered and will be flushed by this or a later writer; if that
// flush fails, the connection is closed, so a caller waiting for an answer
// to this frame learns of it from the connection.
func (f *frameWriter) write(header, body []byte) error {
	f.queued.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.w.Write(header)
	f.w.Write(body)
	if f.queued.Add(-1) > 0 {
		return nil
	}
	return f.w.Flush()
}

func (f *frameWriter) writeResponse(id uint64, status byte, payload []byte) error {
	var hdr [respHeader]byte
	binary.BigEndian.PutUint64(hdr[0:], id)
	hdr[8] = status
	binary.BigEndian.PutUint32(hdr[9:], uint32(len(payload)))
	return f.write(hdr[:], payload)
}

// client is one multiplexed connection to another node's Transport.
type client struct {
	conn    net.Conn
	w       *frameWriter
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan callResult
	dead    chan struct{} // closed once the connection failed
}

type callResult struct {
	status  byte
	payload []byte
}

// Call sends a call to the node at addr and waits for its response.
// It fails with ErrNotSent when the call surely had no effect, ErrLost
// when it may have, a *RemoteError from the other node's handler, or
// ctx's error.
func (t *Transport) Call(ctx context.Context, addr string, method byte, req []byte) ([]byte, error) {
	cl, err := t.client(ctx, addr)
	if err != nil {
		return nil, err
	}
	ch := make(chan callResult, 1)
	cl.mu.Lock()
	select {
	case <-cl.dead:
		cl.mu.Unlock()
		return nil, ErrNotSent
	default:
	}
	cl.nextID++
	id := cl.nextID
	cl.pending[id] = ch
	cl.mu.Unlock()

	var timeoutMs uint32
	if dl, ok := ctx.Deadline(); ok {
		// The handler gets a little longer than the caller waits, so a
		// call past its deadline ends with the caller's own ctx error.
		timeoutMs = uint32(max(time.Until(dl).Milliseconds(), 0) + handlerGrace.Milliseconds())
	}
	var hdr [reqHeader]byte
	binary.BigEndian.PutUint64(hdr[0:], id)
	hdr[8] = method
	binary.BigEndian.PutUint32(hdr[9:], timeoutMs)
	binary.BigEndian.PutUint32(hdr[13:], uint32(len(req)))
	if werr := cl.w.write(hdr[:], req); werr != nil {
		// A frame cut short is never served. The connection is
		// forgotten at once, not when its reader notices it closed, so
		// the next call dials afresh instead of failing on it again.
		cl.conn.Close()
		t.mu.Lock()
		if t.clients[addr] == cl {
			delete(t.clients, addr)
		}
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrNotSent, werr)
	}
	select {
	case res := <-ch:
		if res.status != 0 {
			if err := ctx.Err(); err != nil {
				return nil, err // the handler gave up with the caller
			}
			return nil, &RemoteError{Msg: string(res.payload)}
		}
		return res.payload, nil
	case <-cl.dead:
		select {
		case res := <-ch: // arrived just before the failure
			if res.status != 0 {
				return nil, &RemoteError{Msg: string(res.payload)}
			}
			return res.payload, nil
		default:
		}
		return nil, ErrLost
	case <-ctx.Done():
		cl.mu.Lock()
		delete(cl.pending, id)
		cl.mu.Unlock()
		return nil, ctx.Err()
	}
}

// client returns the live connection to addr, dialing one if needed.
func (t *Transport) client(ctx context.Context, addr string) (*client, error) {
	t.mu.Lock()
	select {
	case <-t.closing:
		t.mu.Unlock()
		return nil, ErrClosed
	default:
	}
	if t.isolated.Load() {
		t.mu.Unlock()
		return nil, ErrIsolated
	}
	cl := t.clients[addr]
	if cl != nil {
		select {
		case <-cl.dead:
			delete(t.clients, addr)
			cl = nil
		default:
		}
	}
	t.mu.Unlock()
	if cl != nil {
		return cl, nil
	}
	conn, err := t.net.Dial(ctx, t.addr, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	conn.SetWriteDeadline(time.Now().Add(firstByteTimeout))
	if _, err := conn.Write([]byte{kindCall}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	conn.SetWriteDeadline(time.Time{})
	cl = &client{conn: conn, w: &frameWriter{w: bufio.NewWriterSize(conn, 64<<10)}, pending: make(map[uint64]chan callResult), dead: make(chan struct{})}
	t.mu.Lock()
	select {
	case <-t.closing:
		t.mu.Unlock()
		conn.Close()
		return nil, ErrClosed
	default:
	}
	if other := t.clients[addr]; other != nil {
		// Another call dialed at the same time; keep one connection.
		select {
		case <-other.dead:
		default:
			t.mu.Unlock()
			conn.Close()
			return other, nil
		}
	}
	if t.isolated.Load() {
		t.mu.Unlock()
		conn.Close()
		return nil, ErrIsolated
	}
	t.clients[addr] = cl
	t.wg.Add(1)
	t.mu.Unlock()
	go t.readResponses(cl)
	return cl, nil
}

func (t *Transport) readResponses(cl *client) {
	defer t.wg.Done()
	defer func() {
		cl.mu.Lock()
		close(cl.dead)
		cl.mu.Unlock()
		cl.conn.Close()
	}()
	r := bufio.NewReaderSize(cl.conn, 64<<10)
	var hdr [respHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		id := binary.BigEndian.Uint64(hdr[0:])
		size := binary.BigEndian.Uint32(hdr[9:])
		if size > maxFrame {
			return
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		cl.mu.Lock()
		ch := cl.pending[id]
		delete(cl.pending, id)
		cl.mu.Unlock()
		if ch != nil {
			ch <- callResult{hdr[8], payload}
		}
	}
}

// StreamLayer returns the raft.StreamLayer for raft.NewNetworkTransport:
// raft's connections on this Transport's address.
func (t *Transport) StreamLayer() raft.StreamLayer { return (*streamLayer)(t) }

type streamLayer Transport

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.closing:
		return nil, net.ErrClosed
	}
}

// Close does nothing: the Transport owns the listener and closes it.
func (s *streamLayer) Close() error { return nil }

func (s *streamLayer) Addr() net.Addr { return streamAddr(s.addr) }

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.isolated.Load() {
		return nil, ErrIsolated
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.net.Dial(ctx, s.addr, string(address))
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{kindRaft}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	t := (*Transport)(s)
	if !t.track(c) {
		c.Close()
		return nil, ErrClosed
	}
	if t.isolated.Load() {
		t.untrack(c)
		c.Close()
		return nil, ErrIsolated
	}
	return &ownedConn{Conn: c, t: t}, nil
}

// ownedConn is a connection handed to raft: closing it also forgets it.
type ownedConn struct {
	net.Conn
	t *Transport
}

// Read reports a connection closed under raft as its end, which raft
// expects when a peer goes away, rather than as a decoding failure.
func (c *ownedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)) {
		err = io.EOF
	}
	return n, err
}

func (c *ownedConn) Close() error {
	c.t.untrack(c.Conn)
	return c.Conn.Close()
}

type streamAddr string

func (a streamAddr) Network() string { return "zkraft-peer" }
func (a streamAddr) String() string  { return string(a) }
