package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/zkraft/zk/internal/jute"
)

// replyHeaderSize is the encoded size of a ReplyHeader (protocol.md §4.1).
const replyHeaderSize = 16

// errProtocol marks a frame that breaks the protocol; the connection is
// dropped, which its pending requests see as ErrConnectionLoss.
var errProtocol = errors.New("protocol error")

// conn is one established connection of a Client.
type conn struct {
	c           *Client
	nc          net.Conn
	br          *bufio.Reader
	addr        string
	readOnly    bool
	readTimeout time.Duration
	pingEvery   time.Duration

	pending []*request // written, awaiting a reply, in write order; guarded by c.mu

	failOnce sync.Once
	err      error         // why the connection ended; set before failed closes
	failed   chan struct{} // closed when the connection is done for
}

// fail ends the connection with err (the first cause wins) and unblocks
// its reader and writer.
func (cn *conn) fail(err error) {
	cn.failOnce.Do(func() {
		cn.err = err
		cn.nc.Close()
		close(cn.failed)
	})
}

// connect dials addr and performs the session handshake (protocol.md §3).
// It returns ErrSessionExpired when the server refuses the session.
func (c *Client) connect(addr string) (*conn, error) {
	connectTimeout := c.connectTimeout()
	ctx, cancel := context.WithTimeout(c.ctx, connectTimeout)
	defer cancel()
	nc, err := c.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	// The dialer honours ctx only while dialing; the handshake needs the
	// same bound, and must also end at once when the Client stops.
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	unwatch := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	cn, err := c.handshake(nc, addr)
	if !unwatch() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	c.mu.Lock()
	cn.readTimeout = c.timeout * 2 / 3
	c.mu.Unlock()
	// The Java client pings after half the read timeout of send silence,
	// i.e. a third of the session timeout, so a ping and its reply fit
	// twice into the silence the server tolerates.
	cn.pingEvery = cn.readTimeout / 2
	return cn, nil
}

func (c *Client) handshake(nc net.Conn, addr string) (*conn, error) {
	c.mu.Lock()
	req := jute.ConnectRequest{
		LastZxidSeen: c.lastZxid,
		TimeOut:      int32(c.cfg.SessionTimeout / time.Millisecond),
		SessionID:    c.sessionID,
		Passwd:       c.passwd,
		ReadOnly:     c.cfg.CanBeReadOnly,
		HasReadOnly:  true,
	}
	c.mu.Unlock()
	frame := jute.AppendRecord(make([]byte, 4, 64), &req)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := nc.Write(frame); err != nil {
		return nil, fmt.Errorf("writing connect request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 64*1024)
	n, err := readLength(br)
	if err != nil {
		// ZooKeeper closes without a reply when the client has seen a
		// newer zxid than the server (protocol.md §3.4): try another.
		return nil, fmt.Errorf("reading connect response: %w", err)
	}
	if n > c.maxPacket {
		return nil, fmt.Errorf("connect response of %d bytes: %w", n, ErrPacketTooLarge)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, fmt.Errorf("reading connect response: %w", err)
	}
	var resp jute.ConnectResponse
	if err := jute.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("%w: connect response: %w", errProtocol, err)
	}
	// The Java client and kazoo test the timeout, go-zk the session id;
	// ZooKeeper zeroes both (protocol.md §3.4).
	if resp.TimeOut <= 0 || resp.SessionID == 0 {
		c.log.Debug("session expired", "addr", addr)
		return nil, ErrSessionExpired
	}
	c.heard.Store(time.Now().UnixNano())
	c.mu.Lock()
	if c.sessionID != 0 && c.sessionID != resp.SessionID {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: asked to resume session 0x%x, got 0x%x", errProtocol, req.SessionID, resp.SessionID)
	}
	c.sessionID = resp.SessionID
	c.passwd = slices.Clone(resp.Passwd)
	c.timeout = time.Duration(resp.TimeOut) * time.Millisecond
	c.addr = addr
	c.mu.Unlock()
	c.log.Debug("connected", "addr", addr, "session", fmt.Sprintf("0x%x", resp.SessionID),
		"timeout", time.Duration(resp.TimeOut)*time.Millisecond, "readOnly", resp.ReadOnly)
	return &conn{c: c, nc: nc, br: br, addr: addr, readOnly: resp.ReadOnly, failed: make(chan struct{})}, nil
}

// readLength reads a frame's length prefix.
func readLength(r io.Reader) (int, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(b[:]))
	if n < 0 {
		return 0, fmt.Errorf("%w: frame length %d", errProtocol, n)
	}
	return int(n), nil
}

// serve runs cn until it breaks or the Client stops, then fails the
// requests that were written on it. It returns why the connection ended.
func (c *Client) serve(cn *conn) error {
	prime := c.primeRequests()
	c.mu.Lock()
	c.cur = cn
	c.lostSince = time.Time{}
	// Credentials and watches go before anything queued, so that queued
	// requests run with the connection's auth ids and no change slips
	// between a request and the watches it relies on (protocol.md §9.6).
	c.queue = append(prime, c.queue...)
	c.mu.Unlock()
	if cn.readOnly {
		c.setState(ConnectedReadOnly)
	} else {
		c.setState(Connected)
	}
	c.readyOnce.Do(func() { close(c.ready) })

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); cn.readLoop() }()
	go func() { defer wg.Done(); cn.writeLoop() }()
	select {
	case <-cn.failed:
	case <-c.stop:
		cn.fail(ErrClosing)
	}
	wg.Wait()

	c.mu.Lock()
	pending := cn.pending
	cn.pending = nil
	c.cur = nil
	c.lostSince = time.Now()
	// What the engine queued belonged to this connection; the next one
	// gets its own.
	c.queue = slices.DeleteFunc(c.queue, func(r *request) bool { return r.internal })
	closed := c.sessionClosed
	c.mu.Unlock()
	var lossErr error
	switch {
	case errors.Is(cn.err, ErrClosing) || closed:
		lossErr = ErrClosing
	case errors.Is(cn.err, ErrAuthFailed):
		lossErr = ErrAuthFailed
	default:
		lossErr = fmt.Errorf("%w: %v", ErrConnectionLoss, cn.err)
	}
	for _, r := range pending {
		if !r.internal {
			r.reply <- result{err: lossErr}
		}
	}
	return cn.err
}

// primeRequests builds what goes first on a new connection: the
// credentials (xid -4), then the watches (xid -8), as the Java client
// orders them.
func (c *Client) primeRequests() []*request {
	var out []*request
	if c.cfg.Auth != nil {
		for _, a := range c.cfg.Auth() {
			out = append(out, internalRequest(jute.XidAuth, jute.OpAuth, &a))
		}
	}
	if c.cfg.Watches != nil {
		rel, w := c.cfg.Watches()
		for _, b := range splitWatches(w, setWatchesBatch) {
			b.RelativeZxid = rel
			if len(b.PersistentWatches) == 0 && len(b.PersistentRecursiveWatches) == 0 {
				// setWatches2 exists from ZooKeeper 3.6 only; the older
				// request carries everything that is not persistent.
				old := jute.SetWatches{RelativeZxid: rel, DataWatches: b.DataWatches,
					ExistWatches: b.ExistWatches, ChildWatches: b.ChildWatches}
				out = append(out, internalRequest(jute.XidSetWatches, jute.OpSetWatches, &old))
			} else {
				out = append(out, internalRequest(jute.XidSetWatches, jute.OpSetWatches2, &b))
			}
		}
	}
	return out
}

func internalRequest(xid, op int32, body jute.Record) *request {
	return &request{xid: xid, op: op, frame: encodeFrame(xid, op, body), internal: true}
}

// encodeFrame returns a request frame: length, RequestHeader, body.
func encodeFrame(xid, op int32, body jute.Record) []byte {
	frame := make([]byte, 4, 64)
	frame = jute.AppendRecord(frame, &jute.RequestHeader{Xid: xid, Type: op})
	if body != nil {
		frame = jute.AppendRecord(frame, body)
	}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

// splitWatches cuts w into requests whose paths add up to at most limit
// bytes each (at least one path per request), keeping the lists' order.
func splitWatches(w jute.SetWatches2, limit int) []jute.SetWatches2 {
	var out []jute.SetWatches2
	var cur jute.SetWatches2
	size, count := 0, 0
	add := func(list func(*jute.SetWatches2) *[]string, paths []string) {
		for _, p := range paths {
			if count > 0 && size+len(p) > limit {
				out = append(out, cur)
				cur, size, count = jute.SetWatches2{}, 0, 0
			}
			l := list(&cur)
			*l = append(*l, p)
			size += len(p)
			count++
		}
	}
	add(func(s *jute.SetWatches2) *[]string { return &s.DataWatches }, w.DataWatches)
	add(func(s *jute.SetWatches2) *[]string { return &s.ExistWatches }, w.ExistWatches)
	add(func(s *jute.SetWatches2) *[]string { return &s.ChildWatches }, w.ChildWatches)
	add(func(s *jute.SetWatches2) *[]string { return &s.PersistentWatches }, w.PersistentWatches)
	add(func(s *jute.SetWatches2) *[]string { return &s.PersistentRecursiveWatches }, w.PersistentRecursiveWatches)
	if count > 0 {
		out = append(out, cur)
	}
	return out
}

// writeLoop writes everything queued in one write whenever there is
// something, and a ping after pingEvery of send silence.
func (cn *conn) writeLoop() {
	c := cn.c
	timer := time.NewTimer(cn.pingEvery)
	defer timer.Stop()
	lastSend := time.Now()
	var buf []byte
	for {
		c.mu.Lock()
		select {
		case <-cn.failed:
			c.mu.Unlock()
			return
		default:
		}
		batch := c.queue
		c.queue = nil
		now := time.Now()
		if len(batch) == 0 && now.Sub(lastSend) >= cn.pingEvery {
			batch = append(batch, internalRequest(jute.XidPing, jute.OpPing, nil))
		}
		// Pending before written: the reply can arrive before Write
		// returns.
		cn.pending = append(cn.pending, batch...)
		c.mu.Unlock()

		if len(batch) > 0 {
			buf = buf[:0]
			for _, r := range batch {
				buf = append(buf, r.frame...)
			}
			_ = cn.nc.SetWriteDeadline(now.Add(cn.readTimeout))
			if _, err := cn.nc.Write(buf); err != nil {
				cn.fail(fmt.Errorf("write: %w", err))
				return
			}
			lastSend = time.Now()
			if cap(buf) > 1<<20 {
				buf = nil // do not keep a large batch's buffer alive
			}
		}
		timer.Reset(cn.pingEvery - time.Since(lastSend))
		select {
		case <-cn.failed:
			return
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// readLoop reads frames until the connection fails. A silence longer than
// the read timeout counts as a failure: with pings every third of the
// session timeout, a live server always has something to say sooner.
func (cn *conn) readLoop() {
	for {
		_ = cn.nc.SetReadDeadline(time.Now().Add(cn.readTimeout))
		n, err := readLength(cn.br)
		if err != nil {
			cn.fail(readErr(err, cn.readTimeout))
			return
		}
		if n < replyHeaderSize {
			cn.fail(fmt.Errorf("%w: reply of %d bytes", errProtocol, n))
			return
		}
		if n > cn.c.maxPacket {
			cn.tooLarge(n)
			return
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(cn.br, frame); err != nil {
			cn.fail(readErr(err, cn.readTimeout))
			return
		}
		cn.c.heard.Store(time.Now().UnixNano())
		var hdr jute.ReplyHeader
		if err := jute.Unmarshal(frame[:replyHeaderSize], &hdr); err != nil {
			cn.fail(fmt.Errorf("%w: %w", errProtocol, err))
			return
		}
		if err := cn.handle(hdr, frame[replyHeaderSize:]); err != nil {
			cn.fail(err)
			return
		}
	}
}

func readErr(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no reply from the server within %v: %w", timeout, err)
	}
	return fmt.Errorf("read: %w", err)
}

// tooLarge handles a reply longer than MaxPacket: its request (found by
// the xid in the header) fails with ErrPacketTooLarge, and the connection
// is dropped, since skipping the frame would leave the reply unanswered.
func (cn *conn) tooLarge(n int) {
	c := cn.c
	err := fmt.Errorf("%w: %d bytes, limit %d (%w)", ErrPacketTooLarge, n, c.maxPacket, ErrConnectionLoss)
	var hdrBytes [replyHeaderSize]byte
	if _, rerr := io.ReadFull(cn.br, hdrBytes[:]); rerr == nil {
		xid := int32(binary.BigEndian.Uint32(hdrBytes[:4]))
		c.mu.Lock()
		var r *request
		if i := slices.IndexFunc(cn.pending, func(r *request) bool { return r.xid == xid }); i >= 0 {
			r = cn.pending[i]
			cn.pending = slices.Delete(cn.pending, i, i+1)
		}
		c.mu.Unlock()
		if r != nil && !r.internal {
			r.reply <- result{err: err}
		}
	}
	c.log.Warn("reply too large, dropping the connection", "addr", cn.addr, "bytes", n, "limit", c.maxPacket)
	cn.fail(err)
}

// handle dispatches one frame: a notification to OnEvent, a reply to the
// request it answers.
func (cn *conn) handle(hdr jute.ReplyHeader, body []byte) error {
	c := cn.c
	if hdr.Xid == jute.XidNotification {
		var ev jute.WatcherEvent
		if err := jute.Unmarshal(body, &ev); err != nil {
			return fmt.Errorf("%w: notification: %w", errProtocol, err)
		}
		// A notification carrying its change's zxid (zkraft, ZooKeeper
		// 3.9) is state this client has seen: resuming the session, or
		// setting watches again, on a server that has not applied it yet
		// would show the client the past again.
		c.mu.Lock()
		if hdr.Zxid > c.lastZxid {
			c.lastZxid = hdr.Zxid
		}
		c.mu.Unlock()
		if c.cfg.OnEvent != nil {
			c.cfg.OnEvent(ev, hdr.Zxid)
		}
		return nil
	}
	c.mu.Lock()
	r, err := cn.matchLocked(hdr.Xid)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if r == nil {
		c.mu.Unlock()
		c.log.Debug("ignoring unsolicited reply", "xid", hdr.Xid)
		return nil
	}
	// Like the Java client, only ordinary replies advance lastZxid: a
	// ping reply carries the server's zxid, not one this client saw the
	// effects of.
	if r.xid != jute.XidPing && r.xid != jute.XidAuth && hdr.Zxid > c.lastZxid {
		c.lastZxid = hdr.Zxid
	}
	if r.op == jute.OpCloseSession {
		c.sessionClosed = true
	}
	c.mu.Unlock()

	if r.internal {
		if hdr.Err != 0 {
			c.log.Warn("request sent on connect failed", "op", jute.OpName(r.op), "error", CodeError{Code: hdr.Err})
		}
	} else {
		if r.then != nil {
			r.then(hdr.Err)
		}
		if r.op == jute.OpAuth && hdr.Err == CodeAuthFailed {
			// The server closes this connection: what the caller sends
			// next must wait for the next one.
			cn.fail(errAuthRefused)
		}
		r.reply <- result{hdr: hdr, body: body}
	}
	if r.op == jute.OpAuth && hdr.Err == CodeAuthFailed {
		// ZooKeeper closes the connection after refusing credentials.
		// Credentials the engine re-sends were accepted once and are now
		// refused: sending them on every reconnect would only repeat
		// that, so the Client ends. A caller's new credential was never
		// kept: its caller has the error, and the session resumes on the
		// next connection, as go-zookeeper/zk and kazoo do.
		if r.internal {
			return ErrAuthFailed
		}
		return errAuthRefused
	}
	return nil
}

// errAuthRefused ends a connection whose server refused a caller's
// credentials; the engine reconnects.
var errAuthRefused = errors.New("the server refused credentials and closes the connection")

// matchLocked removes and returns the pending request a reply with xid
// answers. Replies come in request order (protocol.md §4.3), except that
// ZooKeeper answers auth outside its pipeline and pings with a fixed xid,
// so those are matched by xid; anything else must answer the oldest
// ordinary request.
func (cn *conn) matchLocked(xid int32) (*request, error) {
	special := func(x int32) bool { return x == jute.XidPing || x == jute.XidAuth }
	for i, r := range cn.pending {
		if special(xid) {
			if r.xid != xid {
				continue
			}
		} else {
			if special(r.xid) {
				continue
			}
			if r.xid != xid {
				return nil, fmt.Errorf("%w: reply xid %d out of order, expected %d", errProtocol, xid, r.xid)
			}
		}
		if i == 0 {
			cn.pending[0] = nil
			cn.pending = cn.pending[1:]
		} else {
			cn.pending = slices.Delete(cn.pending, i, i+1)
		}
		return r, nil
	}
	if special(xid) {
		return nil, nil
	}
	return nil, fmt.Errorf("%w: reply xid %d with no request pending", errProtocol, xid)
}
