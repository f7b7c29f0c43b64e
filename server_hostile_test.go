package zk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/apachezk"
	"github.com/zkraft/zk/internal/jute"
)

// Hostile input on the client port: each case must get ZooKeeper's error
// or a close of that connection alone, while the server stays up, a
// bystander session goes on (its watch still fires), and memory stays
// bounded. The table runs against zkraft and, where Debian's ZooKeeper
// 3.8 is installed, against it too, and compares what each answered.

// hostileWait bounds every wait of these tests; nothing here should take
// more than a fraction of it.
const hostileWait = 30 * time.Second

// hostileConn is a client connection that speaks frames by hand and
// tolerates the server closing at any point.
type hostileConn struct {
	t  *testing.T
	nc net.Conn
}

func hostileDial(t *testing.T, addr string) *hostileConn {
	t.Helper()
	return hostileDialFrom(t, nil, addr)
}

// hostileDialFrom dials addr from the local address from (nil: any), so
// that a test can be a client IP of its own on loopback.
func hostileDialFrom(t *testing.T, from net.Addr, addr string) *hostileConn {
	t.Helper()
	d := net.Dialer{Timeout: hostileWait, LocalAddr: from}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(hostileWait))
	return &hostileConn{t: t, nc: nc}
}

// write sends b, ignoring a failure: the server may close first, which
// the case's outcome then shows.
func (h *hostileConn) write(b []byte) { h.nc.Write(b) }

func (h *hostileConn) frame(payload []byte) {
	h.write(binary.BigEndian.AppendUint32(nil, uint32(len(payload))))
	h.write(payload)
}

func hostileRequest(xid, op int32, body jute.Record) []byte {
	p := jute.Marshal(&jute.RequestHeader{Xid: xid, Type: op})
	if body != nil {
		p = jute.AppendRecord(p, body)
	}
	return p
}

func (h *hostileConn) request(xid, op int32, body jute.Record) {
	h.frame(hostileRequest(xid, op, body))
}

// recv reads one frame.
func (h *hostileConn) recv() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(h.nc, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(h.nc, b)
	return b, err
}

// reply reads frames up to the next reply that is not a notification.
func (h *hostileConn) reply() (jute.ReplyHeader, []byte, error) {
	for {
		b, err := h.recv()
		if err != nil {
			return jute.ReplyHeader{}, nil, err
		}
		var rh jute.ReplyHeader
		if err := jute.Unmarshal(b, &rh); err != nil {
			h.t.Fatalf("a reply too short for its header: %x", b)
		}
		if rh.Xid != jute.XidNotification {
			return rh, b[16:], nil
		}
	}
}

// call sends a request and returns its reply's error code; the
// connection must answer.
func (h *hostileConn) call(xid, op int32, body jute.Record) zk.Code {
	h.t.Helper()
	h.request(xid, op, body)
	rh, _, err := h.reply()
	if err != nil {
		h.t.Fatalf("%s: %v", jute.OpName(op), err)
	}
	return zk.Code(rh.Err)
}

func (h *hostileConn) connect(req jute.ConnectRequest) jute.ConnectResponse {
	h.t.Helper()
	if req.Passwd == nil {
		req.Passwd = make([]byte, 16)
	}
	if req.TimeOut == 0 {
		req.TimeOut = 10000
	}
	req.HasReadOnly = true
	h.frame(jute.Marshal(&req))
	b, err := h.recv()
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	var resp jute.ConnectResponse
	if err := jute.Unmarshal(b, &resp); err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// isClosed tells a connection the server closed from one that failed
// otherwise (a timeout means the server neither answered nor closed).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// outcome reads what the server does next — a reply, or a close — and,
// after a reply, whether the connection stays open (a ping answered) or
// closes. It is what the table compares.
// zkSecondConnect is what ZooKeeper does with a second ConnectRequest:
// it answers -6 and closes the connection from another thread, so a ping
// sent at once is sometimes answered first.
const zkSecondConnect = "error -6, then closed | error -6, stays open"

func (h *hostileConn) outcome() string {
	h.t.Helper()
	rh, b, err := h.reply()
	if err != nil {
		if isClosed(err) {
			return "closed"
		}
		h.t.Fatalf("neither a reply nor a close: %v", err)
	}
	first := "ok"
	switch body := b; {
	case rh.Xid == 0 && 16+len(body) >= 36:
		// What ZooKeeper sends for a createSession: the 36 or 37 bytes of a
		// ConnectResponse, whose protocol version reads as xid 0.
		first = "a ConnectResponse"
	case rh.Err != 0:
		first = fmt.Sprintf("error %d", rh.Err)
	}
	return first + ", " + h.probe()
}

// probe says whether the connection still answers a ping.
func (h *hostileConn) probe() string {
	h.t.Helper()
	h.request(jute.XidPing, jute.OpPing, nil)
	if _, _, err := h.reply(); err != nil {
		if isClosed(err) {
			return "then closed"
		}
		h.t.Fatalf("neither a ping reply nor a close: %v", err)
	}
	return "stays open"
}

// connectOutcome describes a ConnectResponse, then whether the
// connection stays open.
func (h *hostileConn) connectOutcome(req jute.ConnectRequest) string {
	h.t.Helper()
	req.HasReadOnly = true
	if req.TimeOut == 0 {
		req.TimeOut = 10000
	}
	h.frame(jute.Marshal(&req))
	b, err := h.recv()
	if err != nil {
		if isClosed(err) {
			return "closed"
		}
		h.t.Fatalf("neither a reply nor a close: %v", err)
	}
	var resp jute.ConnectResponse
	if err := jute.Unmarshal(b, &resp); err != nil {
		return fmt.Sprintf("a %d-byte reply that is no ConnectResponse", len(b))
	}
	if resp.SessionID == 0 && resp.TimeOut == 0 && bytes.Equal(resp.Passwd, make([]byte, 16)) {
		return "expired (session 0, timeout 0, zero password), " + h.probe()
	}
	return "session, " + h.probe()
}

// hostileTarget is a server the table runs against.
type hostileTarget struct {
	name    string
	addr    string
	session jute.ConnectResponse // a live session, for resumption cases
}

// hostileEnv is what a case may use.
type hostileEnv struct {
	t      *testing.T
	target hostileTarget
}

func (e *hostileEnv) dial() *hostileConn { return hostileDial(e.t, e.target.addr) }

// connected dials and establishes a new session.
func (e *hostileEnv) connected() *hostileConn {
	h := e.dial()
	h.connect(jute.ConnectRequest{})
	return h
}

// The packet limit both servers run with: ZooKeeper's default
// jute.maxbuffer.
const hostileMaxPacket = 0xfffff

// hostileFloodIP is the client address of the connection flood, so that
// the per-IP limit it meets is its own.
var hostileFloodIP = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}

// hostileConnLimit is the per-IP connection limit both servers run with.
const hostileConnLimit = 20

var hostileOpen = []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

type hostileCase struct {
	name string
	// want is zkraft's outcome; where ZooKeeper runs, its outcome must be
	// the same, unless zookeeper says what Debian's ZooKeeper 3.8.0 does
	// instead, on purpose (the comment at the case says why).
	want, zookeeper string
	run             func(e *hostileEnv) string
}

// deepPath is a path of depth n: /d/d/…/d.
func deepPath(n int) string { return strings.Repeat("/d", n) }

func hostileCases() []hostileCase {
	afterConnect := func(raw []byte) func(e *hostileEnv) string {
		return func(e *hostileEnv) string {
			h := e.connected()
			h.write(raw)
			return h.outcome()
		}
	}
	frameAfterConnect := func(payload []byte) func(e *hostileEnv) string {
		return func(e *hostileEnv) string {
			h := e.connected()
			h.frame(payload)
			return h.outcome()
		}
	}
	hugePath := "/" + strings.Repeat("p", hostileMaxPacket-64)
	return []hostileCase{
		{"negative length", "closed", "", afterConnect([]byte{0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0})},
		{"length -1", "closed", "", afterConnect([]byte{0xff, 0xff, 0xff, 0xff})},
		{"huge length", "closed", "", afterConnect([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1})},
		{"length one over jute.maxbuffer", "closed", "", afterConnect(append(binary.BigEndian.AppendUint32(nil, hostileMaxPacket+1), make([]byte, 1024)...))},
		{"data filling a frame of exactly jute.maxbuffer", "ok, stays open", "", func(e *hostileEnv) string {
			h := e.connected()
			body := &jute.SetDataRequest{Path: "/hostile", Version: -1}
			body.Data = make([]byte, hostileMaxPacket-len(hostileRequest(1, jute.OpSetData, body)))
			p := hostileRequest(1, jute.OpSetData, body)
			if len(p) != hostileMaxPacket {
				e.t.Fatalf("frame of %d bytes", len(p))
			}
			h.frame(p)
			out := h.outcome()
			h.request(2, jute.OpSetData, &jute.SetDataRequest{Path: "/hostile", Data: []byte("x"), Version: -1})
			h.reply()
			return out
		}},
		{"oversize data in an oversize frame", "closed", "", func(e *hostileEnv) string {
			h := e.connected()
			h.request(1, jute.OpSetData, &jute.SetDataRequest{Path: "/hostile", Data: make([]byte, 2<<20), Version: -1})
			return h.outcome()
		}},
		{"truncated frame, then EOF", "closed", "", func(e *hostileEnv) string {
			h := e.connected()
			h.write([]byte{0, 0, 0, 100, 0, 0, 0, 1, 0, 0})
			h.nc.(*net.TCPConn).CloseWrite()
			return h.outcome()
		}},
		{"frame shorter than a request header", "closed", "", frameAfterConnect([]byte{0, 0, 1})},
		{"empty frame", "closed", "", frameAfterConnect(nil)},
		{"truncated body", "error -5, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpGetData, &jute.PathWatchRequest{Path: "/hostile"})[:12])},
		{"string length -5", "error -5, stays open", "", frameAfterConnect(append(hostileRequest(1, jute.OpGetData, nil), 0xff, 0xff, 0xff, 0xfb, 0))},
		{"string length 2^31-1", "error -5, stays open", "", frameAfterConnect(append(hostileRequest(1, jute.OpGetData, nil), 0x7f, 0xff, 0xff, 0xff, 0))},
		{"vector count 2^31-1", "error -5, stays open", "", frameAfterConnect(append(hostileRequest(1, jute.OpSetWatches, nil), 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff))},
		{"multi header claiming an op that is not there", "error -5, stays open", "", frameAfterConnect(append(hostileRequest(1, jute.OpMulti, nil), 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff))},
		{"trailing bytes after the body", "ok, stays open", "", frameAfterConnect(append(hostileRequest(1, jute.OpExists, &jute.PathWatchRequest{Path: "/hostile"}), make([]byte, 100)...))},
		{"unknown opcode 999", "error -6, then closed", "", frameAfterConnect(hostileRequest(1, 999, nil))},
		{"opcode 0 (notification)", "error -6, then closed", "", frameAfterConnect(hostileRequest(1, 0, nil))},
		// ZooKeeper up to 3.8.4 runs a check outside a multi and then
		// fails on its missing reply (a NullPointerException that closes
		// the connection); ZOOKEEPER-2623 (3.8.5, 3.9.3) refuses it as
		// zkraft does.
		{"opcode 13 (check) outside a multi", "error -6, then closed", "closed", frameAfterConnect(hostileRequest(1, jute.OpCheck, &jute.CheckVersionRequest{Path: "/hostile", Version: -1}))},
		// ZooKeeper takes createSession, an internal transaction, from a
		// client too: it re-tracks the connection's session with the
		// body's timeout and answers with a ConnectResponse in place of a
		// reply, which no client can parse (MARSHALLINGERROR without a
		// body). zkraft refuses it as any opcode clients do not send.
		{"opcode -10 (createSession)", "error -6, then closed", "error -5, stays open", frameAfterConnect(hostileRequest(1, jute.OpCreateSession, nil))},
		{"opcode -10 (createSession) with a timeout", "error -6, then closed", "a ConnectResponse, stays open", frameAfterConnect(append(hostileRequest(1, jute.OpCreateSession, nil), 0, 0, 0x27, 0x10))},
		{"opcode 13 (check) without a body", "error -6, then closed", "error -5, stays open", frameAfterConnect(hostileRequest(1, jute.OpCheck, nil))},
		{"auth with an unknown scheme", "error -115, then closed", "", frameAfterConnect(hostileRequest(-4, jute.OpAuth, &jute.AuthPacket{Scheme: "nosuch", Auth: []byte("x")}))},
		{"a second ConnectRequest", "error -6, then closed", zkSecondConnect, func(e *hostileEnv) string {
			h := e.connected()
			h.frame(jute.Marshal(&jute.ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16), HasReadOnly: true}))
			return h.outcome()
		}},
		{"a second ConnectRequest that resumes the session", "error -6, then closed", zkSecondConnect, func(e *hostileEnv) string {
			h := e.dial()
			resp := h.connect(jute.ConnectRequest{})
			h.frame(jute.Marshal(&jute.ConnectRequest{LastZxidSeen: 1, TimeOut: 10000, SessionID: resp.SessionID, Passwd: resp.Passwd, HasReadOnly: true}))
			return h.outcome()
		}},
		{"ping before connecting", "closed", "", func(e *hostileEnv) string {
			h := e.dial()
			h.request(jute.XidPing, jute.OpPing, nil)
			return h.outcome()
		}},
		{"getData before connecting", "closed", "", func(e *hostileEnv) string {
			h := e.dial()
			h.request(1, jute.OpGetData, &jute.PathWatchRequest{Path: "/hostile"})
			return h.outcome()
		}},
		{"resume with the wrong password", "expired (session 0, timeout 0, zero password), then closed", "", func(e *hostileEnv) string {
			return e.dial().connectOutcome(jute.ConnectRequest{SessionID: e.target.session.SessionID, Passwd: []byte("0123456789abcdef")})
		}},
		{"resume with a short password", "expired (session 0, timeout 0, zero password), then closed", "", func(e *hostileEnv) string {
			return e.dial().connectOutcome(jute.ConnectRequest{SessionID: e.target.session.SessionID, Passwd: []byte{1}})
		}},
		{"resume an unknown session", "expired (session 0, timeout 0, zero password), then closed", "", func(e *hostileEnv) string {
			return e.dial().connectOutcome(jute.ConnectRequest{SessionID: 0x7eadbeef, Passwd: make([]byte, 16)})
		}},
		{"a 1 MiB path, getData", "error -101, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpGetData, &jute.PathWatchRequest{Path: hugePath}))},
		{"a 1 MiB path, exists with a watch", "error -101, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpExists, &jute.PathWatchRequest{Path: hugePath, Watch: true}))},
		{"a 1 MiB path, create under a missing parent", "error -101, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpCreate, &jute.CreateRequest{Path: "/missing" + hugePath[:len(hugePath)-100], ACL: hostileOpen}))},
		{"depth 10,000, getData", "error -101, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpGetData, &jute.PathWatchRequest{Path: deepPath(10000)}))},
		{"depth 10,000, create", "error -101, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpCreate, &jute.CreateRequest{Path: deepPath(10000), ACL: hostileOpen}))},
		{"depth 10,000, persistent recursive watch", "ok, stays open", "", frameAfterConnect(hostileRequest(1, jute.OpAddWatch, &jute.AddWatchRequest{Path: deepPath(10000), Mode: 1}))},
		{"a tree 2,000 deep: built, counted, watched, torn down", "ok", "", hostileDeepTree},
		{"5,000 pipelined requests, read afterwards", "5000 replies in order", "", func(e *hostileEnv) string {
			h := e.connected()
			var batch []byte
			for i := range 5000 {
				p := hostileRequest(int32(i+1), jute.OpExists, &jute.PathWatchRequest{Path: "/hostile"})
				batch = binary.BigEndian.AppendUint32(batch, uint32(len(p)))
				batch = append(batch, p...)
			}
			go h.write(batch) // the server may stop reading until we read
			for i := range 5000 {
				rh, _, err := h.reply()
				if err != nil {
					return fmt.Sprintf("reply %d: %v", i, err)
				}
				if rh.Xid != int32(i+1) || rh.Err != 0 {
					return fmt.Sprintf("reply %d: %+v", i, rh)
				}
			}
			return "5000 replies in order"
		}},
		{fmt.Sprintf("a flood of %d connections from one IP", hostileConnLimit+10), fmt.Sprintf("%d sessions, %d closed", hostileConnLimit, 10), "", func(e *hostileEnv) string {
			hostileCanDialFrom(e.t, hostileFloodIP)
			var sessions, closed int
			for range hostileConnLimit + 10 {
				d := net.Dialer{Timeout: hostileWait, LocalAddr: hostileFloodIP}
				nc, err := d.Dial("tcp", e.target.addr)
				if err != nil {
					// A server that closes at once can fail the dial
					// itself (EPIPE, ECONNRESET).
					closed++
					continue
				}
				e.t.Cleanup(func() { nc.Close() })
				nc.SetDeadline(time.Now().Add(hostileWait))
				h := &hostileConn{t: e.t, nc: nc}
				h.frame(jute.Marshal(&jute.ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16), HasReadOnly: true}))
				if _, err := h.recv(); err == nil {
					sessions++
				} else if isClosed(err) {
					closed++
				} else {
					e.t.Fatalf("connection %d: %v", sessions+closed, err)
				}
			}
			return fmt.Sprintf("%d sessions, %d closed", sessions, closed)
		}},
	}
}

// hostileDeepTree builds a chain of nodes 2,000 deep with multis, counts
// it, fires a recursive watch from its bottom, and deletes it again.
func hostileDeepTree(e *hostileEnv) string {
	const depth = 2000
	h := e.connected()
	if c := h.call(1, jute.OpAddWatch, &jute.AddWatchRequest{Path: "/d", Mode: 1}); c != 0 {
		return fmt.Sprintf("addWatch: %d", c)
	}
	batch := func(xid int32, ops []jute.MultiOp) string {
		h.request(xid, jute.OpMulti, &jute.MultiRequest{Ops: ops})
		rh, body, err := h.reply()
		if err != nil || rh.Err != 0 {
			return fmt.Sprintf("multi: %+v %v", rh, err)
		}
		var mr jute.MultiResponse
		if err := jute.Unmarshal(body, &mr); err != nil {
			return fmt.Sprintf("multi: %v", err)
		}
		for _, r := range mr.Results {
			if r.Type == jute.OpError {
				return fmt.Sprintf("multi op failed: %d", r.Err)
			}
		}
		return ""
	}
	var ops []jute.MultiOp
	size := 0
	for d := 1; d <= depth; d++ {
		p := deepPath(d)
		ops = append(ops, jute.MultiOp{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: p, ACL: hostileOpen}})
		if size += len(p) + 64; size > 512<<10 || d == depth {
			if bad := batch(int32(d), ops); bad != "" {
				return bad
			}
			ops, size = nil, 0
		}
	}
	h.request(5000, jute.OpGetAllChildrenNumber, &jute.PathRequest{Path: "/d"})
	rh, body, err := h.reply()
	var n jute.IntResponse
	if err != nil || rh.Err != 0 || jute.Unmarshal(body, &n) != nil || n.Value != depth-1 {
		return fmt.Sprintf("getAllChildrenNumber: %+v %v %d", rh, err, n.Value)
	}
	h.request(5001, jute.OpSetData, &jute.SetDataRequest{Path: deepPath(depth), Data: []byte("bottom"), Version: -1})
	// The notification for the bottom node comes before the reply.
	b, err := h.recv()
	var ev jute.WatcherEvent
	if err != nil || jute.Unmarshal(b[16:], &ev) != nil || ev.Path != deepPath(depth) || ev.Type != int32(zk.EventNodeDataChanged) {
		return fmt.Sprintf("no notification from the bottom: %v %+v", err, ev)
	}
	if rh, _, err := h.reply(); err != nil || rh.Err != 0 {
		return fmt.Sprintf("setData: %+v %v", rh, err)
	}
	for d := depth; d >= 1; d-- {
		p := deepPath(d)
		ops = append(ops, jute.MultiOp{Type: jute.OpDelete, Req: &jute.DeleteRequest{Path: p, Version: -1}})
		if size += len(p) + 64; size > 512<<10 || d == 1 {
			if bad := batch(int32(6000+d), ops); bad != "" {
				return bad
			}
			ops, size = nil, 0
		}
	}
	return "ok"
}

// bystander is a session of its own that must be unaffected by what the
// hostile connections do: its watch fires and it reads and writes.
type bystander struct {
	t    *testing.T
	conn *zk.Conn
	ev   <-chan zk.Event
	n    int
}

func newBystander(t *testing.T, addr string) *bystander {
	t.Helper()
	ctx := h2Ctx(t)
	c, err := zk.Dial(ctx, []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Create(ctx, "/bystander", nil, zk.FlagPersistent, h2Open); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		t.Fatal(err)
	}
	b := &bystander{t: t, conn: c}
	b.watch()
	return b
}

func (b *bystander) watch() {
	b.t.Helper()
	_, _, ev, err := b.conn.GetW(h2Ctx(b.t), "/bystander")
	if err != nil {
		b.t.Fatalf("bystander: %v", err)
	}
	b.ev = ev
}

// check changes the bystander's node and waits for its watch to fire,
// then sets it again.
func (b *bystander) check() {
	b.t.Helper()
	b.n++
	ctx := h2Ctx(b.t)
	if _, err := b.conn.Set(ctx, "/bystander", []byte(strconv.Itoa(b.n)), zk.AnyVersion); err != nil {
		b.t.Fatalf("bystander set: %v", err)
	}
	select {
	case ev := <-b.ev:
		if ev.Type != zk.EventNodeDataChanged {
			b.t.Fatalf("bystander's watch: %+v", ev)
		}
	case <-time.After(hostileWait):
		b.t.Fatal("the bystander's watch did not fire")
	}
	data, _, err := b.conn.Get(ctx, "/bystander")
	if err != nil || string(data) != strconv.Itoa(b.n) {
		b.t.Fatalf("bystander get: %q %v", data, err)
	}
	b.watch()
}

// heapAfterGC returns the live heap.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// hostileCanDialFrom skips t if the machine cannot use ip as a source on
// loopback.
func hostileCanDialFrom(t *testing.T, ip *net.TCPAddr) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := net.Dialer{LocalAddr: ip, Timeout: time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Skipf("cannot dial from %v on loopback, so no client IP of its own for the flood: %v", ip, err)
	}
	c.Close()
}

// TestServerHostileInput runs the table against zkraft and against Apache
// ZooKeeper 3.8 when it is installed, and requires the same outcome.
func TestServerHostileInput(t *testing.T) {
	n := wireNode(t, zk.Config{MaxPacket: hostileMaxPacket, MaxClientConns: hostileConnLimit, Logger: hclog.NewNullLogger()})
	targets := []hostileTarget{{name: "zkraft", addr: n.ClientAddr()}}
	var e *apachezk.Ensemble
	if ok, why := apachezk.Available(); ok {
		// Sessions may last 10s, as zkraft's: the table's connections do
		// not ping.
		e = apachezk.Start(t, apachezk.Options{Config: []string{fmt.Sprintf("maxClientCnxns=%d", hostileConnLimit), "maxSessionTimeout=60000"}})
		targets = append(targets, hostileTarget{name: "zookeeper", addr: e.Addr(0)})
	} else {
		t.Logf("Apache ZooKeeper is not installed, so zkraft's answers are checked against the table only: %s", why)
	}
	cases := hostileCases()
	got := make([]map[string]string, len(targets))
	// failed names the cases that failed, repeated at the end where a
	// long log of ZooKeeper's complaints cannot hide them.
	var failed []string
	for i := range targets {
		tg := &targets[i]
		got[i] = map[string]string{}
		b := newBystander(t, tg.addr)
		// The bystander's session is live throughout (its client pings):
		// the resumption cases name it.
		tg.session = jute.ConnectResponse{SessionID: b.conn.SessionID(), Passwd: b.conn.SessionPassword()}
		setup := hostileDial(t, tg.addr)
		setup.connect(jute.ConnectRequest{})
		if c := setup.call(1, jute.OpCreate, &jute.CreateRequest{Path: "/hostile", Data: []byte("x"), ACL: hostileOpen}); c != 0 && c != zk.CodeNodeExists {
			t.Fatalf("%s: create /hostile: %d", tg.name, c)
		}
		before := heapAfterGC()
		for _, c := range cases {
			start := time.Now()
			ok := t.Run(tg.name+"/"+c.name, func(t *testing.T) {
				got[i][c.name] = c.run(&hostileEnv{t: t, target: *tg})
				if tg.name == "zkraft" && got[i][c.name] != c.want {
					t.Errorf("zkraft: %s; want %s", got[i][c.name], c.want)
				}
			})
			if !ok {
				failed = append(failed, fmt.Sprintf("%s/%s (%q after %v)", tg.name, c.name, got[i][c.name], time.Since(start).Round(time.Millisecond)))
			}
		}
		// The server and the other sessions are unaffected.
		b.check()
		setup.nc.Close()
		after := hostileDial(t, tg.addr)
		after.connect(jute.ConnectRequest{})
		if c := after.call(1, jute.OpExists, &jute.PathWatchRequest{Path: "/hostile"}); c != 0 {
			t.Fatalf("%s: a new session after the table: %d", tg.name, c)
		}
		if tg.name == "zkraft" {
			// The table's connections are gone; what they sent must not
			// have stayed behind (frames of up to 1 MiB went by).
			if after := heapAfterGC(); after > before+64<<20 {
				t.Errorf("heap grew by %d MiB over the table", (after-before)>>20)
			}
		}
	}
	for _, c := range cases {
		if got[0][c.name] == "" {
			continue // skipped
		}
		var line []string
		for i, tg := range targets {
			line = append(line, fmt.Sprintf("%s: %s", tg.name, got[i][c.name]))
		}
		t.Logf("%-55s %s", c.name, strings.Join(line, " | "))
		wantZK := c.want
		if c.zookeeper != "" {
			wantZK = c.zookeeper
		}
		if len(targets) > 1 && !slices.Contains(strings.Split(wantZK, " | "), got[1][c.name]) {
			t.Errorf("%s: ZooKeeper's outcome is not the expected %q: %s", c.name, wantZK, strings.Join(line, " | "))
			failed = append(failed, "zookeeper/"+c.name+" (outcome)")
		}
	}
	if e != nil && t.Failed() {
		logZooKeeperWarnings(t, e.LogPath(0))
	}
	if len(failed) > 0 {
		t.Errorf("failed cases:\n\t%s", strings.Join(failed, "\n\t"))
	}
}

// logZooKeeperWarnings logs what ZooKeeper complained of, but the
// clients that closed their sockets, which the table does all the time.
func logZooKeeperWarnings(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Log(err)
		return
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if (strings.Contains(l, "WARN") || strings.Contains(l, "ERROR")) && !strings.Contains(l, "Unexpected exception") {
			t.Logf("zookeeper: %s", l)
			for _, next := range lines[i+1 : min(i+4, len(lines))] {
				t.Logf("zookeeper:   %s", next)
			}
		}
	}
}

// hostileNode opens a zkraft node serving clients with cfg, four-letter
// words all allowed.
func hostileNode(t *testing.T, cfg zk.Config) *zk.Node {
	t.Helper()
	cfg.FourLetterWords = []string{"*"}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return wireNode(t, cfg)
}

// flw asks n a four-letter word.
func flw(t *testing.T, n *zk.Node, word string) string {
	t.Helper()
	h := hostileDial(t, n.ClientAddr())
	h.write([]byte(word))
	b, err := io.ReadAll(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	h.nc.Close()
	return string(b)
}

// flwNumber reads "prefix<number>" from a four-letter word's answer.
func flwNumber(t *testing.T, n *zk.Node, word, prefix string) int {
	t.Helper()
	out := flw(t, n, word)
	_, rest, ok := strings.Cut(out, prefix)
	if !ok {
		t.Fatalf("%s has no %q: %q", word, prefix, out)
	}
	v, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
	if err != nil {
		t.Fatalf("%s: %q: %v", word, out, err)
	}
	return v
}

// waitConnections polls srvr until n serves want connections with a
// session (zkraft does not count the srvr connection itself).
func waitConnections(t *testing.T, n *zk.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(hostileWait)
	for {
		got := flwNumber(t, n, "srvr", "Connections: ")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d client connections, want %d", got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the server's count, bounded by the deadline
	}
}

// TestServerHostileWatchLimit: a session's watches are limited in number
// and in path bytes, whichever way they are set — reads, addWatch,
// setWatches, setWatches2 — and a request past the limit fails with
// QUOTAEXCEEDED, setting nothing; watches that fire or are removed make
// room again; one watch per path and kind counts once however often it
// is set; other sessions are not affected.
func TestServerHostileWatchLimit(t *testing.T) {
	const limit = 100
	n := hostileNode(t, zk.Config{MaxWatchesPerSession: limit, MaxWatchBytesPerSession: 4096})
	b := newBystander(t, n.ClientAddr())
	h := hostileDial(t, n.ClientAddr())
	h.connect(jute.ConnectRequest{})
	paths := func(prefix string, k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = fmt.Sprintf("/%s%d", prefix, i)
		}
		return out
	}
	xid := int32(0)
	call := func(op int32, body jute.Record) zk.Code {
		xid++
		return h.call(xid, op, body)
	}
	watches := func() int { return flwNumber(t, n, "mntr", "zk_watch_count\t") }
	base := watches() // the bystander's

	// Over the limit in one request: nothing is set.
	if c := call(jute.OpSetWatches2, &jute.SetWatches2{ExistWatches: paths("a", limit+1)}); c != zk.CodeQuotaExceeded {
		t.Fatalf("setWatches2 of %d: %d, want QUOTAEXCEEDED", limit+1, c)
	}
	// (exist watches register on missing nodes; data and child watches
	// on missing nodes fire at once instead.)
	if c := call(jute.OpSetWatches, &jute.SetWatches{ExistWatches: paths("b", limit+1)}); c != zk.CodeQuotaExceeded {
		t.Fatalf("setWatches of %d: %d, want QUOTAEXCEEDED", limit+1, c)
	}
	if got := watches(); got != base {
		t.Fatalf("%d watches after refused setWatches, want %d", got, base)
	}
	// Up to the limit, with duplicates counting once.
	if c := call(jute.OpSetWatches, &jute.SetWatches{ExistWatches: append(paths("a", limit-1), "/a0", "/a1")}); c != 0 {
		t.Fatalf("setWatches of %d: %d", limit-1, c)
	}
	if c := call(jute.OpExists, &jute.PathWatchRequest{Path: "/a0", Watch: true}); c != zk.CodeNoNode {
		t.Fatalf("exists with a watch already set: %d, want NONODE", c)
	}
	if c := call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/p", Mode: 0}); c != 0 {
		t.Fatalf("addWatch of the last watch: %d", c)
	}
	if c := call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/p", Mode: 0}); c != 0 {
		t.Fatalf("addWatch of the same watch again: %d", c)
	}
	if got := watches(); got != base+limit {
		t.Fatalf("%d watches, want %d", got, base+limit)
	}
	// Full: every way of setting one more is refused, reads without a
	// watch are not.
	for name, r := range map[string]struct {
		op   int32
		body jute.Record
	}{
		"exists":          {jute.OpExists, &jute.PathWatchRequest{Path: "/new", Watch: true}},
		"getData":         {jute.OpGetData, &jute.PathWatchRequest{Path: "/bystander", Watch: true}},
		"getChildren":     {jute.OpGetChildren, &jute.PathWatchRequest{Path: "/", Watch: true}},
		"getChildren2":    {jute.OpGetChildren2, &jute.PathWatchRequest{Path: "/", Watch: true}},
		"addWatch":        {jute.OpAddWatch, &jute.AddWatchRequest{Path: "/new", Mode: 1}},
		"setWatches":      {jute.OpSetWatches, &jute.SetWatches{RelativeZxid: 1 << 62, DataWatches: []string{"/bystander"}}},
		"setWatches2":     {jute.OpSetWatches2, &jute.SetWatches2{PersistentRecursiveWatches: []string{"/new"}}},
		"persistent mode": {jute.OpAddWatch, &jute.AddWatchRequest{Path: "/p", Mode: 1}},
	} {
		if c := call(r.op, r.body); c != zk.CodeQuotaExceeded {
			t.Errorf("%s past the limit: %d, want QUOTAEXCEEDED", name, c)
		}
	}
	if c := call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bystander"}); c != 0 {
		t.Fatalf("getData without a watch: %d", c)
	}
	// Another session has a limit of its own.
	other := hostileDial(t, n.ClientAddr())
	other.connect(jute.ConnectRequest{})
	if c := other.call(1, jute.OpExists, &jute.PathWatchRequest{Path: "/a0", Watch: true}); c != zk.CodeNoNode {
		t.Fatalf("another session's watch: %d", c)
	}
	// A watch that fires makes room.
	ctx := h2Ctx(t)
	if _, err := b.conn.Create(ctx, "/a0", nil, zk.FlagPersistent, h2Open); err != nil {
		t.Fatal(err)
	}
	if c := call(jute.OpExists, &jute.PathWatchRequest{Path: "/new", Watch: true}); c != zk.CodeNoNode {
		t.Fatalf("exists with a watch after one fired: %d", c)
	}
	// So does one removed.
	if c := call(jute.OpRemoveWatches, &jute.WatchesRequest{Path: "/p", Type: int32(zk.WatcherTypeAny)}); c != 0 {
		t.Fatalf("removeWatches: %d", c)
	}
	if c := call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/new", Mode: 1}); c != 0 {
		t.Fatalf("addWatch after a removal: %d", c)
	}
	// The bytes limit: a long path fits the count but not the bytes.
	long := hostileDial(t, n.ClientAddr())
	long.connect(jute.ConnectRequest{})
	if c := long.call(1, jute.OpExists, &jute.PathWatchRequest{Path: "/" + strings.Repeat("x", 5000), Watch: true}); c != zk.CodeQuotaExceeded {
		t.Fatalf("a watch on a path over the bytes limit: %d, want QUOTAEXCEEDED", c)
	}
	if c := long.call(2, jute.OpExists, &jute.PathWatchRequest{Path: "/" + strings.Repeat("x", 3000), Watch: true}); c != zk.CodeNoNode {
		t.Fatalf("a watch on a long path within the bytes limit: %d", c)
	}
	b.check()
}

// TestServerHostileManyWatches: one session trying to set a million
// watches (setWatches frames of up to 1 MiB, as a client resuming with
// that many would send) gets the first ones up to its limit and
// QUOTAEXCEEDED for the rest; the node's memory grows with the watches
// it holds, not with those asked for, and comes back when the
// connection goes.
func TestServerHostileManyWatches(t *testing.T) {
	const limit, asked = 20_000, 1_000_000
	n := hostileNode(t, zk.Config{MaxWatchesPerSession: limit})
	b := newBystander(t, n.ClientAddr())
	base := flwNumber(t, n, "mntr", "zk_watch_count\t")
	before := heapAfterGC()
	h := hostileDial(t, n.ClientAddr())
	h.connect(jute.ConnectRequest{})
	var accepted, refused int
	for i, xid := 0, int32(1); i < asked; xid++ {
		var ps []string
		size := 0
		for ; i < asked && size < 900<<10; i++ {
			p := fmt.Sprintf("/watch/%07d", i)
			ps = append(ps, p)
			size += 4 + len(p)
		}
		if len(ps) > limit-accepted && accepted < limit {
			// Fill the session up to its limit first.
			i -= len(ps) - (limit - accepted)
			ps = ps[:limit-accepted]
		}
		switch c := h.call(xid, jute.OpSetWatches, &jute.SetWatches{ExistWatches: ps}); c {
		case 0:
			accepted += len(ps)
		case zk.CodeQuotaExceeded:
			refused += len(ps)
		default:
			t.Fatalf("setWatches: %d", c)
		}
	}
	if accepted != limit || refused != asked-limit {
		t.Fatalf("%d watches accepted and %d refused, want %d and %d", accepted, refused, limit, asked-limit)
	}
	if got := flwNumber(t, n, "mntr", "zk_watch_count\t"); got != base+limit {
		t.Fatalf("wchs: %d watches, want %d", got, base+limit)
	}
	held := heapAfterGC()
	perWatch := (int64(held) - int64(before)) / limit
	t.Logf("%d watches held: heap %+d KiB, about %d bytes a watch", limit, (int64(held)-int64(before))>>10, perWatch)
	if perWatch > 4096 {
		t.Errorf("%d bytes of heap a watch", perWatch)
	}
	b.check()
	h.nc.Close()
	waitConnections(t, n, 1)
	deadline := time.Now().Add(hostileWait)
	for flwNumber(t, n, "mntr", "zk_watch_count\t") != base {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection's watches are still there")
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
	}
	if after := heapAfterGC(); after > before+(held-before)/2+4<<20 {
		t.Errorf("heap %d KiB over the start after the watches went, %d KiB while held", (int64(after)-int64(before))>>10, (int64(held)-int64(before))>>10)
	}
}

// TestServerHostileNonReader: a client that sends big requests and never
// reads its (big) replies. The node stops running its requests once its
// output queue is full and stops reading once its input queue is, so its
// heap stays bounded however much the client sends; and when the client
// has taken nothing for its session timeout the node disconnects it. A
// bystander goes on throughout.
func TestServerHostileNonReader(t *testing.T) {
	const queued = 256 << 10
	n := hostileNode(t, zk.Config{MaxQueuedBytes: queued, MaxOutstandingRequests: 64, TickTime: 500 * time.Millisecond})
	b := newBystander(t, n.ClientAddr())
	ctx := h2Ctx(t)
	if _, err := b.conn.Create(ctx, "/big", make([]byte, 512<<10), zk.FlagPersistent, h2Open); err != nil {
		t.Fatal(err)
	}
	before := heapAfterGC()

	h := hostileDial(t, n.ClientAddr())
	// A session timeout of 5s: the heap is measured while the node still
	// holds the connection, before it gives up on the client.
	h.connect(jute.ConnectRequest{TimeOut: 5000})
	// Each request carries 64 KiB the server ignores, so that queued
	// requests weigh too.
	req := hostileRequest(1, jute.OpGetData, &jute.PathWatchRequest{Path: "/big"})
	req = append(req, make([]byte, 64<<10)...)
	frame := append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)
	sent := 0
	for {
		h.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := h.nc.Write(frame); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %d requests: %v, want the write to block", sent, err)
			}
			t.Logf("after %d requests (%d MiB) the server stopped reading", sent, sent*len(frame)>>20)
			break
		}
		if sent++; sent > 100_000 {
			t.Fatal("the server never stopped reading")
		}
	}
	grown := int64(heapAfterGC()) - int64(before)
	t.Logf("the node's heap grew by %d KiB", grown>>10)
	if grown > 16<<20 {
		t.Errorf("heap grew by %d MiB while the client did not read", grown>>20)
	}
	// The client reads nothing: after its session timeout the node
	// disconnects it.
	waitConnections(t, n, 1)
	b.check()
}

// TestServerHostileNotificationFlood: a client that holds a recursive
// watch and never reads while changes keep coming. Its pending
// notifications are bounded; past the bound the node disconnects it at
// once rather than wait for its write timeout (here 20s), and the
// bystander, whose own watch fires meanwhile, goes on.
func TestServerHostileNotificationFlood(t *testing.T) {
	const queued = 64 << 10
	var logs procBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
	n := hostileNode(t, zk.Config{MaxQueuedBytes: queued, TickTime: time.Second, Logger: logger})
	b := newBystander(t, n.ClientAddr())
	ctx := h2Ctx(t)
	if _, err := b.conn.Create(ctx, "/flood", nil, zk.FlagPersistent, h2Open); err != nil {
		t.Fatal(err)
	}
	// Rounds of 50 changes, each about 50 KiB of notifications: one
	// round fits the bound, so only a client that does not read goes
	// over it.
	name := strings.Repeat("n", 900)
	var creates []zk.Op
	for i := range 50 {
		creates = append(creates, zk.CreateOp(fmt.Sprintf("/flood/%s%03d", name, i), nil, zk.FlagPersistent, h2Open))
	}
	if _, err := b.conn.Multi(ctx, creates...); err != nil {
		t.Fatal(err)
	}
	before := heapAfterGC()

	h := hostileDial(t, n.ClientAddr())
	h.connect(jute.ConnectRequest{TimeOut: 20000})
	if c := h.call(1, jute.OpAddWatch, &jute.AddWatchRequest{Path: "/flood", Mode: 1}); c != 0 {
		t.Fatalf("addWatch: %d", c)
	}
	// From here on the client reads nothing.
	var sets []zk.Op
	for i := range 50 {
		sets = append(sets, zk.SetOp(fmt.Sprintf("/flood/%s%03d", name, i), []byte("x"), zk.AnyVersion))
	}
	deadline := time.Now().Add(hostileWait)
	rounds := 0
	for flwNumber(t, n, "srvr", "Connections: ") > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the client that does not read is still connected after %d rounds", rounds)
		}
		if _, err := b.conn.Multi(ctx, sets...); err != nil {
			t.Fatal(err)
		}
		rounds++
	}
	t.Logf("disconnected after %d rounds of 50 notifications of about 1 KiB", rounds)
	if !strings.Contains(logs.String(), "does not read its notifications") {
		t.Errorf("disconnected, but not for its notifications: %s", logs.String())
	}
	if grown := int64(heapAfterGC()) - int64(before); grown > 16<<20 {
		t.Errorf("heap grew by %d MiB", grown>>20)
	}
	b.check()
}
