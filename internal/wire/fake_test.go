package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/zkraft/zk/internal/jute"
)

// waitFor bounds every wait of the scripted server, so that a broken
// client fails the test instead of hanging it.
const waitFor = 10 * time.Second

// fakeServer is a loopback listener whose connections the test script
// drives one frame at a time.
type fakeServer struct {
	t     testing.TB
	ln    net.Listener
	conns chan *fakeConn
	wg    sync.WaitGroup

	mu   sync.Mutex
	all  []net.Conn
	shut bool
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, conns: make(chan *fakeConn, 16)}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.shut {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.all = append(s.all, nc)
		s.mu.Unlock()
		select {
		case s.conns <- &fakeConn{t: s.t, nc: nc}:
		default:
			nc.Close()
		}
	}
}

// stopListening refuses further connections; the accepted ones stay.
func (s *fakeServer) stopListening() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *fakeServer) close() {
	s.mu.Lock()
	s.shut = true
	for _, c := range s.all {
		c.Close()
	}
	s.mu.Unlock()
	s.stopListening()
}

// accept returns the next connection the client made.
func (s *fakeServer) accept() *fakeConn {
	s.t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(waitFor):
		s.t.Fatalf("no connection to %s", s.addr())
		return nil
	}
}

// acceptAny returns the next connection made to any of servers.
func acceptAny(t testing.TB, servers ...*fakeServer) (*fakeConn, *fakeServer) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		for _, s := range servers {
			select {
			case c := <-s.conns:
				return c, s
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatal("no connection to any fake server")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// fakeConn is the server end of one client connection.
type fakeConn struct {
	t  testing.TB
	nc net.Conn
}

func (c *fakeConn) readFrame() ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	var l [4]byte
	if _, err := io.ReadFull(c.nc, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(l[:]))
	_, err := io.ReadFull(c.nc, b)
	return b, err
}

func (c *fakeConn) writeFrame(payload []byte) {
	c.t.Helper()
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	frame = append(frame, payload...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatalf("fake server write: %v", err)
	}
}

func (c *fakeConn) readConnect() jute.ConnectRequest {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading connect request: %v", err)
	}
	var r jute.ConnectRequest
	if err := jute.Unmarshal(b, &r); err != nil {
		c.t.Fatalf("decoding connect request: %v", err)
	}
	return r
}

func (c *fakeConn) acceptSession(timeout time.Duration, id int64, passwd []byte) {
	c.t.Helper()
	c.writeFrame(jute.Marshal(&jute.ConnectResponse{
		TimeOut: int32(timeout / time.Millisecond), SessionID: id, Passwd: passwd, HasReadOnly: true,
	}))
}

// handshake reads the connect request and grants session id.
func (c *fakeConn) handshake(timeout time.Duration, id int64) jute.ConnectRequest {
	c.t.Helper()
	r := c.readConnect()
	c.acceptSession(timeout, id, testPasswd)
	return r
}

var testPasswd = []byte("0123456789abcdef")

type fakeRequest struct {
	hdr  jute.RequestHeader
	body []byte
}

// next reads the next request, answering pings on the way unless
// wantPings is set.
func (c *fakeConn) next() fakeRequest {
	c.t.Helper()
	for {
		r := c.nextAny()
		if r.hdr.Xid == jute.XidPing {
			c.reply(jute.XidPing, 0, 0, nil)
			continue
		}
		return r
	}
}

func (c *fakeConn) nextAny() fakeRequest {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading request: %v", err)
	}
	var h jute.RequestHeader
	d := jute.NewDecoder(b)
	h.Decode(d)
	if d.Err() != nil {
		c.t.Fatalf("decoding request header: %v", d.Err())
	}
	return fakeRequest{hdr: h, body: d.Rest()}
}

func (c *fakeConn) reply(xid int32, zxid int64, code int32, body jute.Record) {
	c.t.Helper()
	b := jute.Marshal(&jute.ReplyHeader{Xid: xid, Zxid: zxid, Err: code})
	if body != nil {
		b = jute.AppendRecord(b, body)
	}
	c.writeFrame(b)
}

func (c *fakeConn) notify(zxid int64, ev jute.WatcherEvent) {
	c.t.Helper()
	c.reply(jute.XidNotification, zxid, 0, &ev)
}

// expectClosed waits for the client to drop the connection, answering
// pings meanwhile.
func (c *fakeConn) expectClosed() {
	c.t.Helper()
	for {
		b, err := c.readFrame()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return
			}
			c.t.Fatalf("waiting for close: %v", err)
		}
		if len(b) >= 8 && int32(binary.BigEndian.Uint32(b)) == jute.XidPing {
			continue
		}
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func (c *fakeConn) close() { c.nc.Close() }

func decodeBody(t testing.TB, body []byte, r jute.Record) {
	t.Helper()
	if err := jute.Unmarshal(body, r); err != nil {
		t.Fatalf("decoding request body: %v", err)
	}
}

type doResult struct {
	zxid int64
	err  error
}

// doAsync runs Do in a goroutine; the result arrives on the channel.
func doAsync(c *Client, op int32, req, resp jute.Record) <-chan doResult {
	ch := make(chan doResult, 1)
	go func() {
		z, err := c.Do(context.Background(), op, req, resp)
		ch <- doResult{z, err}
	}()
	return ch
}

func await(t testing.TB, ch <-chan doResult) doResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitFor):
		t.Fatal("Do did not return")
		return doResult{}
	}
}

// stateLog records OnState calls for a test to wait on.
type stateLog struct {
	mu     sync.Mutex
	states []State
	events []eventAt
	ch     chan struct{}
}

type eventAt struct {
	ev   jute.WatcherEvent
	zxid int64
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan struct{}, 1)} }

func (l *stateLog) onState(s State) {
	l.mu.Lock()
	l.states = append(l.states, s)
	l.mu.Unlock()
	l.poke()
}

func (l *stateLog) onEvent(ev jute.WatcherEvent, zxid int64) {
	l.mu.Lock()
	l.events = append(l.events, eventAt{ev, zxid})
	l.mu.Unlock()
	l.poke()
}

func (l *stateLog) poke() {
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

func (l *stateLog) snapshot() ([]State, []eventAt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]State(nil), l.states...), append([]eventAt(nil), l.events...)
}

// waitState waits until s has been reported.
func (l *stateLog) waitState(t testing.TB, s State) {
	t.Helper()
	l.waitUntil(t, func(states []State, _ []eventAt) bool {
		for _, x := range states {
			if x == s {
				return true
			}
		}
		return false
	}, "state "+s.String())
}

func (l *stateLog) waitUntil(t testing.TB, cond func([]State, []eventAt) bool, what string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		st, ev := l.snapshot()
		if cond(st, ev) {
			return
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; states %v, events %v", what, st, ev)
		}
	}
}

// countingDialer counts the Write calls on the connections it made, so a
// test can tell whether queued frames went out in one write.
type countingDialer struct {
	mu     sync.Mutex
	writes []int // bytes per Write, over all connections
	cut    bool
	conns  []net.Conn
}

func (d *countingDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	d.mu.Lock()
	cut := d.cut
	d.mu.Unlock()
	if cut {
		return nil, errors.New("network cut")
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, nc)
	d.mu.Unlock()
	return &countingConn{Conn: nc, d: d}, nil
}

// setCut makes dials fail and, when cutting, drops every open connection,
// as a network partition would.
func (d *countingDialer) setCut(cut bool) {
	d.mu.Lock()
	d.cut = cut
	conns := d.conns
	if cut {
		d.conns = nil
	}
	d.mu.Unlock()
	if cut {
		for _, c := range conns {
			c.Close()
		}
	}
}

func (d *countingDialer) writeCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.writes)
}

type countingConn struct {
	net.Conn
	d *countingDialer
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.d.mu.Lock()
	c.d.writes = append(c.d.writes, len(b))
	c.d.mu.Unlock()
	return c.Conn.Write(b)
}
