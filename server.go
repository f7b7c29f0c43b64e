package zk

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkraft/zk/internal/flw"
	"github.com/zkraft/zk/internal/jute"
)

// The wire server: every node can answer ZooKeeper clients over TCP
// (Config.ClientAddr, or Node.Serve on a listener of the caller's). A
// client connection is served by an in-process Conn of its own, so the
// wire protocol adds framing, ordering and ZooKeeper's reply shapes to
// the same sessions, watches and ACLs the Go API has.
//
// Three goroutines serve a connection: the reader decodes frames and
// queues them; the processor runs them one at a time, in order, as
// ZooKeeper runs a session's requests; the writer sends replies and
// notifications, many per socket write. Watch events reach the processor
// through the Conn's sink and are written before any reply that shows
// their change, and after the reply that set their watch.

const (
	// DefaultMaxPacket is the longest frame a client may send, as
	// ZooKeeper's jute.maxbuffer: a longer one closes the connection.
	DefaultMaxPacket = 0xfffff
	// DefaultMaxClientConns is how many connections one client IP may
	// hold, as ZooKeeper's maxClientCnxns.
	DefaultMaxClientConns = 60
	// sessionlessTimeout is how long a connection may take to send its
	// ConnectRequest, as zookeeper.nio.sessionlessCnxnTimeout.
	sessionlessTimeout = 10 * time.Second
)

// wireServer is a node's set of client listeners and connections.
type wireServer struct {
	n      *Node
	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]struct{}
	conns  map[*wireConn]struct{}
	perIP  map[string]int
	wg     sync.WaitGroup
	stats  wireStats
}

// wireStats are the counters the four-letter words report.
type wireStats struct {
	received atomic.Int64
	sent     atomic.Int64
	lat      latencies
}

// latencies summarise request latencies for the four-letter words. They
// are updated on every request, by every connection, without a lock.
type latencies struct {
	n, sum, min, max, last atomic.Int64 // ns; min 0 means none yet
}

func (l *latencies) observe(d time.Duration) {
	ns := max(int64(d), 1)
	l.n.Add(1)
	l.sum.Add(ns)
	l.last.Store(ns)
	for m := l.max.Load(); ns > m && !l.max.CompareAndSwap(m, ns); m = l.max.Load() {
	}
	for m := l.min.Load(); (m == 0 || ns < m) && !l.min.CompareAndSwap(m, ns); m = l.min.Load() {
	}
}

// summary returns the latencies in ms, as ZooKeeper reports them.
func (l *latencies) summary() flw.Summary {
	ms := func(ns int64) int64 { return time.Duration(ns).Milliseconds() }
	return flw.Summary{Count: l.n.Load(), Sum: ms(l.sum.Load()), Min: ms(l.min.Load()), Max: ms(l.max.Load())}
}

func newWireServer(n *Node) *wireServer {
	return &wireServer{n: n, lns: map[net.Listener]struct{}{}, conns: map[*wireConn]struct{}{}, perIP: map[string]int{}}
}

// Serve answers ZooKeeper clients on l until the node closes, when it
// returns nil, or until l fails. The node closes l when it closes.
func (n *Node) Serve(l net.Listener) error {
	s := n.wire
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosing
	}
	s.lns[l] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.lns, l)
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				s.mu.Lock()
				s.lns[l] = struct{}{}
				s.mu.Unlock()
				continue
			}
			return err
		}
		backoff = 0
		s.admit(nc)
	}
}

// admit starts serving nc unless its IP holds too many connections or
// the node is closing.
func (s *wireServer) admit(nc net.Conn) {
	ip := remoteIP(nc.RemoteAddr())
	s.mu.Lock()
	limit := s.n.cfg.MaxClientConns
	if s.closed || (limit > 0 && s.perIP[ip] >= limit) {
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			s.n.log.Warn("too many connections from one client; closing", "ip", ip, "limit", limit)
		}
		nc.Close()
		return
	}
	w := newWireConn(s, nc, ip)
	s.conns[w] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		w.serve()
		s.mu.Lock()
		delete(s.conns, w)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}()
}

// close stops the listeners and every connection, and waits for them.
func (s *wireServer) close() {
	s.mu.Lock()
	s.closed = true
	for l := range s.lns {
		l.Close()
	}
	for w := range s.conns {
		w.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// wireConn is one client connection.
type wireConn struct {
	s    *wireServer
	n    *Node
	nc   net.Conn
	ip   string
	br   *bufio.Reader
	conn *Conn // once the session is established

	ctx    context.Context // ends when the connection does
	cancel context.CancelFunc

	// reqs carries requests from the reader to the processor, at most
	// Config.MaxOutstandingRequests of them, and inGate bounds their
	// bytes, so that the reader stops reading from a client that sends
	// faster than its requests run, rather than holding more.
	reqs *requestQueue
	// queued counts the requests handed to the processor and not yet
	// answered; at 0 the reader may run a read itself (see readInline).
	queued atomic.Int64
	inGate *byteGate

	// out is what the writer sends next; outWake tells it there is some.
	// outGate counts the bytes queued and not yet written: the processor
	// runs no request while they are over Config.MaxQueuedBytes.
	outMu     sync.Mutex
	out       []byte
	outClosed bool // no more frames: close after sending out
	// outBusy is set while someone writes to the socket: the writer, or
	// the reader sending the reply to a read it ran (see sendDirect).
	outBusy      bool
	outWake      chan struct{}
	outGate      *byteGate
	writeTimeout atomic.Int64 // ns a client may take none of its output

	// evs are watch events not yet written, in zxid order; evWake tells
	// the processor there are some.
	evMu     sync.Mutex
	evs      []Event
	evBytes  int  // eventCost of evs, bounded by Config.MaxQueuedBytes
	overflow bool // evs went over its bound: the connection is closing
	// busy counts the requests being run (by the processor, or a read by
	// the reader): the processor flushes events between requests only
	// while none runs (see flushIdle). Raised before a request reads any
	// state, lowered under evMu as its reply is queued.
	busy     atomic.Int32
	evWake   chan struct{}
	evChange uint64                    // the change of the last event queued
	evSent   map[wireEventKey]struct{} // the events of evChange queued so far
	// watched holds the connection's watches, one per path and kind as
	// ZooKeeper keeps them however often they are set.
	watched map[wireWatchKey]struct{}

	info wireConnInfo
}

type wireRequest struct {
	frame []byte
	at    time.Time
}

// wireEventKey identifies a notification: one change sends a connection
// one notification per path and type, however many of its watches it
// matched (each op of a multi is a change of its own).
type wireEventKey struct {
	typ  EventType
	path string
}

// wireWatchKey is a watch of the connection: ZooKeeper keeps one per path
// and kind however often it is set.
type wireWatchKey struct {
	kind watchKind
	path string
}

// wireConnInfo is what cons reports of a connection.
type wireConnInfo struct {
	mu          sync.Mutex
	established time.Time
	received    int64
	sent        int64
	lastOp      string
	lastXid     int32
	lastZxid    int64
	lastAt      time.Time
	lat         latencies
}

func newWireConn(s *wireServer, nc net.Conn, ip string) *wireConn {
	ctx, cancel := context.WithCancel(context.Background())
	w := &wireConn{
		s: s, n: s.n, nc: nc, ip: ip, br: bufio.NewReaderSize(nc, 4<<10),
		ctx: ctx, cancel: cancel,
		reqs:    newRequestQueue(s.n.cfg.MaxOutstandingRequests),
		inGate:  newByteGate(s.n.cfg.MaxQueuedBytes),
		outWake: make(chan struct{}, 1),
		outGate: newByteGate(s.n.cfg.MaxQueuedBytes),
		evWake:  make(chan struct{}, 1),
		evSent:  map[wireEventKey]struct{}{},
		watched: map[wireWatchKey]struct{}{},
	}
	w.writeTimeout.Store(int64(sessionlessTimeout))
	return w
}

// errWireClose ends a connection after the frames queued so far.
var errWireClose = errors.New("zk: close the client connection")

// serve runs the connection to its end.
func (w *wireConn) serve() {
	defer w.cancel()
	defer w.nc.Close()
	var writer sync.WaitGroup
	writer.Go(w.writeLoop)
	defer writer.Wait()
	defer w.closeOut()
	if !w.handshake() {
		return
	}
	w.writeTimeout.Store(int64(writeTimeoutFor(w.conn.SessionTimeout())))
	defer w.detach()
	var proc sync.WaitGroup
	proc.Go(w.processLoop)

	w.readLoop()
	w.cancel()
	w.reqs.close()
	proc.Wait()
}

// readFrame reads one length-prefixed frame; a length out of range is
// an error that closes the connection.
func (w *wireConn) readFrame(first []byte) ([]byte, error) {
	var hdr [4]byte
	if first != nil {
		copy(hdr[:], first)
	} else if _, err := io.ReadFull(w.br, hdr[:]); err != nil {
		return nil, err
	}
	l := int32(binary.BigEndian.Uint32(hdr[:]))
	if l < 0 || int(l) > w.n.cfg.MaxPacket {
		return nil, fmt.Errorf("frame of %d bytes, limit %d", l, w.n.cfg.MaxPacket)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(w.br, b); err != nil {
		return nil, err
	}
	return b, nil
}

// handshake reads the first frame: a four-letter word, answered and
// closed, or a ConnectRequest, which opens or resumes the session.
func (w *wireConn) handshake() bool {
	// One deadline covers a TLS handshake and the first frame: a client
	// that dribbles bytes cannot hold the connection longer.
	w.nc.SetReadDeadline(time.Now().Add(sessionlessTimeout))
	certIDs, ok := w.tlsHandshake()
	if !ok {
		return false
	}
	var first [4]byte
	if _, err := io.ReadFull(w.br, first[:]); err != nil {
		return false
	}
	if word := string(first[:]); isFourLetterWord(first[:]) {
		w.queue([]byte(w.n.answerFourLetterWord(word, w)))
		return false
	}
	frame, err := w.readFrame(first[:])
	if err != nil {
		w.n.log.Debug("client connection refused", "remote", w.nc.RemoteAddr(), "error", err)
		return false
	}
	var req jute.ConnectRequest
	if err := jute.Unmarshal(frame, &req); err != nil {
		w.n.log.Debug("bad connect request", "remote", w.nc.RemoteAddr(), "error", err)
		return false
	}
	if req.LastZxidSeen > w.n.LastZxid() {
		// The client has seen more than this node has applied. A
		// follower just behind catches up in a moment; a node cut off
		// does not, and the client must try another.
		ctx, cancel := context.WithTimeout(w.ctx, max(time.Duration(req.TimeOut)*time.Millisecond/3, w.n.cfg.TickTime))
		err := w.n.waitApplied(ctx, req.LastZxidSeen)
		cancel()
		if err != nil {
			w.n.log.Info("refusing a client that has seen a later zxid", "remote", w.nc.RemoteAddr(),
				"client_zxid", fmt.Sprintf("%#x", req.LastZxidSeen), "zxid", fmt.Sprintf("%#x", w.n.LastZxid()))
			return false
		}
	}
	opts := []ConnectOption{withEventSink(w.onEvent), WithSessionTimeout(time.Duration(req.TimeOut) * time.Millisecond)}
	if req.SessionID != 0 {
		opts = append(opts, WithSession(req.SessionID, req.Passwd))
	}
	ctx, cancel := context.WithTimeout(w.ctx, max(time.Duration(req.TimeOut)*time.Millisecond, w.n.cfg.MaxSessionTimeout))
	conn, err := w.n.Connect(ctx, opts...)
	cancel()
	resp := jute.ConnectResponse{ReadOnly: false}
	switch {
	case err == nil:
		w.conn = conn
		conn.heard.Store(w.n.clock.Now().UnixNano())
		conn.setIP(w.ip)
		conn.addIdentities(certIDs)
		resp.TimeOut = int32(conn.SessionTimeout() / time.Millisecond)
		resp.SessionID = conn.SessionID()
		resp.Passwd = conn.password
	case errors.Is(err, ErrSessionExpired):
		resp.Passwd = make([]byte, 16)
	default:
		// No leader, or the node is closing: the client tries again,
		// perhaps elsewhere.
		w.n.log.Debug("could not open a session for a client", "remote", w.nc.RemoteAddr(), "error", err)
		return false
	}
	var e jute.Encoder
	e.Buf = make([]byte, 4, 64)
	resp.HasReadOnly = req.HasReadOnly // an old client gets no readOnly byte
	resp.Encode(&e)
	binary.BigEndian.PutUint32(e.Buf, uint32(len(e.Buf)-4))
	w.queue(e.Buf)
	if w.conn == nil {
		return false
	}
	w.info.mu.Lock()
	w.info.established = time.Now()
	w.info.mu.Unlock()
	return true
}

// readLoop queues request frames for the processor until the connection
// breaks, the client falls silent for the session timeout, or a frame is
// bad.
func (w *wireConn) readLoop() {
	for {
		w.nc.SetReadDeadline(time.Now().Add(w.conn.SessionTimeout()))
		frame, err := w.readFrame(nil)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				w.n.log.Debug("client connection ends", "session", sessionString(w.conn.SessionID()), "error", err)
			}
			return
		}
		w.s.stats.received.Add(1)
		w.conn.heard.Store(w.n.clock.Now().UnixNano())
		if w.queued.Load() == 0 && readInline(frame) && w.outGate.hasRoom() {
			// Nothing queued or running before it, so answering here keeps
			// the order, and spares a read two goroutine hand-offs:
			// most of what it costs a closed-loop client.
			if err := w.process(wireRequest{frame: frame, at: time.Now()}, true); err != nil {
				w.closeOut()
				return
			}
			continue
		}
		if !w.inGate.acquire(len(frame), w.ctx.Done()) {
			return
		}
		w.queued.Add(1)
		if !w.reqs.push(wireRequest{frame: frame, at: time.Now()}, w.ctx.Done()) {
			return
		}
	}
}

// processLoop runs requests in order and moves watch events to the
// writer between them.
func (w *wireConn) processLoop() {
	// A node cut off from the leader drops its clients, as a ZooKeeper
	// follower does when it loses its leader: they move to a node that can
	// keep their sessions alive, and a client that finds none knows it is
	// out of touch, early enough for a lock or leadership it holds to be
	// given up (the recipes allow a third of the timeout) before the
	// ensemble can expire its session.
	outOfTouch := w.conn.OutOfTouch(w.ctx, w.conn.SessionTimeout()/3)
	for {
		// A client that does not read its replies stops here: its
		// requests wait in reqs, then the reader stops reading, and the
		// notifications for it pile up in evs until onEvent closes the
		// connection or the writer gives up on it.
		if !w.outGate.waitRoom(w.ctx.Done(), w.conn.Done()) {
			w.closeOut()
			w.drain()
			return
		}
		select {
		case <-w.reqs.ready:
			r, ok, closed := w.reqs.pop()
			if closed {
				return
			}
			if !ok {
				continue
			}
			err := w.process(r, false)
			w.inGate.release(len(r.frame))
			w.queued.Add(-1)
			if err != nil {
				w.closeOut() // the writer closes the socket, which stops the reader
				w.drain()
				return
			}
		case <-w.evWake:
			w.flushIdle()
		case <-outOfTouch:
			w.n.log.Info("dropping a client: this node is out of touch with the leader", "session", sessionString(w.conn.SessionID()))
			w.flushEvents(1<<63 - 1)
			w.closeOut()
			w.drain()
			return
		case <-w.conn.Done():
			// The session ended elsewhere (expired, closed, or resumed on
			// another connection): ZooKeeper closes the connection. Its
			// own closeSession ends it too, after the reply is queued.
			w.flushEvents(1<<63 - 1)
			w.closeOut()
			w.drain()
			return
		}
	}
}

// readInline reports whether a request is one the reader may answer
// itself: a read or a ping, which never waits.
func readInline(frame []byte) bool {
	if len(frame) < 8 {
		return false
	}
	switch int32(binary.BigEndian.Uint32(frame[4:8])) {
	case jute.OpGetData, jute.OpExists, jute.OpGetChildren, jute.OpGetChildren2, jute.OpPing:
		return true
	}
	return false
}

// drain discards the requests still queued, until the reader stops,
// releasing their bytes so that the reader is never left waiting.
func (w *wireConn) drain() {
	for {
		r, ok, closed := w.reqs.pop()
		switch {
		case closed:
			return
		case ok:
			w.inGate.release(len(r.frame))
		default:
			<-w.reqs.ready
		}
	}
}

// process runs one request and queues its reply after the events it
// must follow. A non-nil error closes the connection.
func (w *wireConn) process(r wireRequest, direct bool) error {
	d := jute.NewDecoder(r.frame)
	var h jute.RequestHeader
	h.Decode(d)
	if d.Err() != nil {
		return d.Err()
	}
	w.busy.Add(1)
	w.conn.seen.Store(0)
	res := w.dispatch(h, d)
	z := res.zxid
	if z == 0 {
		z = w.conn.seen.Load()
	}
	if z == 0 {
		z = w.n.LastZxid()
	}
	hdrZxid := z
	if res.authReply {
		hdrZxid = 0
	}
	w.evMu.Lock()
	w.busy.Add(-1)
	w.flushEventsLocked(max(z, res.flushTo))
	for _, ev := range res.before {
		w.queueEvent(ev)
	}
	if len(w.evs) > 0 {
		poke(w.evWake) // for the events after the reply
	}
	var e jute.Encoder
	e.Buf = make([]byte, 4, 64)
	(&jute.ReplyHeader{Xid: h.Xid, Zxid: hdrZxid, Err: int32(res.code)}).Encode(&e)
	if res.code == CodeOK && res.body != nil {
		res.body.Encode(&e)
	}
	binary.BigEndian.PutUint32(e.Buf, uint32(len(e.Buf)-4))
	var err error
	if !direct || !w.claimSocket() {
		w.queue(e.Buf)
		w.evMu.Unlock()
	} else {
		// Nothing is queued before the reply, and the writer keeps off
		// the socket until it is sent: whatever is queued from now on
		// follows it.
		w.evMu.Unlock()
		err = w.sendDirect(e.Buf)
	}

	lat := time.Since(r.at)
	w.s.stats.lat.observe(lat)
	w.info.lat.observe(lat)
	w.s.stats.sent.Add(1)
	w.info.mu.Lock()
	w.info.received++
	w.info.sent++
	w.info.lastOp = flw.OpName(h.Type)
	w.info.lastXid = h.Xid
	w.info.lastZxid = hdrZxid
	w.info.lastAt = time.Now()
	w.info.mu.Unlock()
	if err != nil {
		return err
	}
	return res.close
}

// claimSocket takes the socket for a reply the reader sends itself, when
// nothing is queued for the writer and it is not writing.
func (w *wireConn) claimSocket() bool {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	if w.outClosed || w.outBusy || len(w.out) > 0 {
		return false
	}
	w.outBusy = true
	return true
}

// sendDirect writes a reply on a socket claimed with claimSocket, sparing
// the writer's wake-up, and then hands the socket back to the writer.
func (w *wireConn) sendDirect(frame []byte) error {
	err := w.write(frame)
	w.outMu.Lock()
	w.outBusy = false
	w.outMu.Unlock()
	poke(w.outWake) // for whatever was queued meanwhile
	if err != nil {
		w.nc.Close()
	}
	return err
}

// onEvent is the Conn's sink: it queues a watch event for the processor.
// It runs with the FSM's lock held, so it only queues.
func (w *wireConn) onEvent(kind watchKind, ev Event) {
	if ev.Type < EventNodeCreated || ev.Type > EventNodeChildrenChanged {
		return // removals and session ends are the client's own business
	}
	w.evMu.Lock()
	if kind.oneShot() {
		delete(w.watched, wireWatchKey{kind, ev.Path})
	}
	if w.overflow {
		w.evMu.Unlock()
		return
	}
	key := wireEventKey{ev.Type, ev.Path}
	if ev.change != w.evChange {
		w.evChange = ev.change
		clear(w.evSent)
	}
	if _, dup := w.evSent[key]; dup {
		w.evMu.Unlock()
		return
	}
	w.evSent[key] = struct{}{}
	w.evs = append(w.evs, ev)
	w.evBytes += eventCost(ev)
	if w.evBytes > w.n.cfg.MaxQueuedBytes {
		// The client reads neither its replies nor its notifications,
		// and this runs under the FSM's lock, which must not wait for
		// it: drop them and disconnect it. Its session lives on; a
		// client that resumes it sets its watches again and hears of
		// what changed meanwhile, as after any reconnect.
		w.overflow = true
		w.evs, w.evBytes = nil, 0
		w.evMu.Unlock()
		w.n.log.Warn("client does not read its notifications; disconnecting", "session", sessionString(w.conn.SessionID()), "limit", w.n.cfg.MaxQueuedBytes)
		w.cancel()
		go w.nc.Close() // a TLS close may write, and must not hold the FSM
		return
	}
	w.evMu.Unlock()
	poke(w.evWake)
}

// flushIdle queues every waiting event for the writer unless a request
// is running (the reader may be running a read): that one queues the
// events its reply must follow, and wakes the processor for the rest.
func (w *wireConn) flushIdle() {
	w.evMu.Lock()
	// Events in evs fired before this check; a request that starts after
	// it reads a state that includes them, so they may go first.
	if w.busy.Load() == 0 {
		w.flushEventsLocked(1<<63 - 1)
	}
	w.evMu.Unlock()
}

// flushEvents queues the events of changes up to zxid for the writer.
func (w *wireConn) flushEvents(zxid int64) {
	w.evMu.Lock()
	w.flushEventsLocked(zxid)
	w.evMu.Unlock()
}

func (w *wireConn) flushEventsLocked(zxid int64) {
	i := 0
	for ; i < len(w.evs) && w.evs[i].Zxid <= zxid; i++ {
		w.queueEvent(w.evs[i])
		w.evBytes -= eventCost(w.evs[i])
	}
	if i > 0 {
		w.evs = append(w.evs[:0], w.evs[i:]...)
	}
}

// queueEvent queues a notification frame. Its header carries the zxid of
// the change, as ZooKeeper 3.9 does (3.8 sent -1, which clients ignore);
// catch-up events of setWatches, which stand for no one change, carry -1.
func (w *wireConn) queueEvent(ev Event) {
	var e jute.Encoder
	e.Buf = make([]byte, 4, 32+len(ev.Path))
	z := ev.Zxid
	if z == 0 {
		z = -1
	}
	(&jute.ReplyHeader{Xid: jute.XidNotification, Zxid: z}).Encode(&e)
	(&jute.WatcherEvent{Type: int32(ev.Type), State: int32(StateConnected), Path: ev.Path}).Encode(&e)
	binary.BigEndian.PutUint32(e.Buf, uint32(len(e.Buf)-4))
	w.queue(e.Buf)
}

// queue hands a frame to the writer.
func (w *wireConn) queue(frame []byte) {
	w.outMu.Lock()
	if !w.outClosed {
		w.out = append(w.out, frame...)
		w.outGate.add(len(frame))
	}
	w.outMu.Unlock()
	poke(w.outWake)
}

// closeOut lets the writer send what is queued and then close.
func (w *wireConn) closeOut() {
	w.outMu.Lock()
	w.outClosed = true
	w.outMu.Unlock()
	poke(w.outWake)
}

// writeLoop sends queued frames, as many as are queued per write.
func (w *wireConn) writeLoop() {
	var buf []byte
	for {
		<-w.outWake
		w.outMu.Lock()
		if w.outBusy {
			// The reader is sending a reply; it wakes us when done.
			w.outMu.Unlock()
			continue
		}
		buf, w.out = w.out, buf[:0]
		closed := w.outClosed
		w.outBusy = len(buf) > 0
		w.outMu.Unlock()
		if len(buf) > 0 {
			err := w.write(buf)
			w.outMu.Lock()
			w.outBusy = false
			w.outMu.Unlock()
			w.outGate.release(len(buf))
			if cap(buf) > writeChunk<<4 {
				buf = nil // a burst's buffer is not kept for the connection's life
			}
			if err != nil {
				w.nc.Close()
				w.cancel()
				return
			}
		}
		if closed {
			w.outMu.Lock()
			rest := len(w.out)
			w.outMu.Unlock()
			if rest == 0 {
				w.nc.Close()
				return
			}
			poke(w.outWake)
		}
	}
}

// write sends b in chunks, each with a fresh deadline: a client that
// takes none of a chunk within the write timeout is gone or hostile, and
// is disconnected rather than left to hold its output (a deadline over
// the whole of b would measure the burst, not the client).
func (w *wireConn) write(b []byte) error {
	for len(b) > 0 {
		k := min(len(b), writeChunk)
		w.nc.SetWriteDeadline(time.Now().Add(time.Duration(w.writeTimeout.Load())))
		if _, err := w.nc.Write(b[:k]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				w.n.log.Warn("client takes none of its output; disconnecting", "remote", w.nc.RemoteAddr(), "timeout", time.Duration(w.writeTimeout.Load()))
			}
			return err
		}
		b = b[k:]
	}
	return nil
}

// detach lets go of the session without closing it: it lives on until
// the client resumes it, here or elsewhere, or it expires.
func (w *wireConn) detach() {
	c := w.conn
	n := c.node()
	n.connsMu.Lock()
	if n.conns[c.id] == c {
		delete(n.conns, c.id)
	}
	n.connsMu.Unlock()
	c.end(StateDisconnected, ErrConnectionLoss)
}

// withEventSink makes a Conn hand every watch event to sink instead of
// per-watch channels.
func withEventSink(sink func(watchKind, Event)) ConnectOption {
	return func(o *connectOptions) { o.sink = sink }
}

// setIP gives the Conn the ip identity of its client's address, in place
// of the loopback one an in-process Conn has.
func (c *Conn) setIP(ip string) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	next := []ID{{Scheme: "ip", ID: ip}}
	for _, id := range c.authIDs() {
		if id.Scheme != "ip" {
			next = append(next, id)
		}
	}
	c.auth.Store(&next)
}
