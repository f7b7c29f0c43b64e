package zk_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/jute"
	"github.com/zkraft/zk/zktest"
)

// rawConn is a client connection speaking frames by hand, for what no
// well-behaved client sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func rawDial(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, h2Wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(h2Wait))
	return &rawConn{t: t, nc: nc}
}

func (r *rawConn) send(payload []byte) {
	r.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	if _, err := r.nc.Write(append(b, payload...)); err != nil {
		r.t.Fatal(err)
	}
}

// recv reads one frame, or returns io.EOF once the server has closed.
func (r *rawConn) recv() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.nc, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(r.nc, b)
	return b, err
}

func (r *rawConn) connect(req jute.ConnectRequest) jute.ConnectResponse {
	r.t.Helper()
	if req.Passwd == nil {
		req.Passwd = make([]byte, 16)
	}
	if req.TimeOut == 0 {
		req.TimeOut = 10000
	}
	r.send(jute.Marshal(&req))
	b, err := r.recv()
	if err != nil {
		r.t.Fatalf("connect: %v", err)
	}
	var resp jute.ConnectResponse
	if err := jute.Unmarshal(b, &resp); err != nil {
		r.t.Fatal(err)
	}
	return resp
}

// call sends a request and returns the reply header and body.
func (r *rawConn) call(xid, op int32, body jute.Record) (jute.ReplyHeader, []byte) {
	r.t.Helper()
	p := jute.Marshal(&jute.RequestHeader{Xid: xid, Type: op})
	if body != nil {
		p = jute.AppendRecord(p, body)
	}
	r.send(p)
	b, err := r.recv()
	if err != nil {
		r.t.Fatalf("%s: %v", jute.OpName(op), err)
	}
	var h jute.ReplyHeader
	if err := jute.Unmarshal(b[:16], &h); err != nil {
		r.t.Fatal(err)
	}
	return h, b[16:]
}

// closed checks that the server closes the connection without sending
// anything more.
func (r *rawConn) closed() {
	r.t.Helper()
	if b, err := r.recv(); err == nil {
		r.t.Fatalf("a frame of %d bytes, want the connection closed", len(b))
	} else if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		r.t.Fatalf("want the connection closed, got %v", err)
	}
}

func wireNode(t *testing.T, cfg zk.Config) *zk.Node {
	t.Helper()
	cfg.ClientAddr = "127.0.0.1:0"
	return h2Node(t, cfg)
}

// TestServerHostileFrames: a frame over the packet limit, a negative
// length, an unknown opcode and garbage before the connect each close
// that connection alone, touching no data; other sessions go on.
func TestServerHostileFrames(t *testing.T) {
	n := wireNode(t, zk.Config{MaxPacket: 4096})
	ctx := h2Ctx(t)
	other, err := zk.Dial(ctx, []string{n.ClientAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	h2Create(t, other, "/keep", []byte("x"), zk.FlagPersistent, h2Open)

	t.Run("oversize frame", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		r.connect(jute.ConnectRequest{})
		big := jute.Marshal(&jute.RequestHeader{Xid: 1, Type: jute.OpSetData})
		big = jute.AppendRecord(big, &jute.SetDataRequest{Path: "/keep", Data: make([]byte, 5000), Version: -1})
		r.send(big)
		r.closed()
	})
	t.Run("negative length", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		r.connect(jute.ConnectRequest{})
		r.nc.Write([]byte{0xff, 0xff, 0xff, 0xfe})
		r.closed()
	})
	t.Run("unknown opcode", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		r.connect(jute.ConnectRequest{})
		h, _ := r.call(7, 999, nil)
		if h.Xid != 7 || zk.Code(h.Err) != zk.CodeUnimplemented {
			t.Fatalf("reply %+v, want UNIMPLEMENTED for xid 7", h)
		}
		r.closed()
	})
	t.Run("malformed body", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		r.connect(jute.ConnectRequest{})
		r.send(append(jute.Marshal(&jute.RequestHeader{Xid: 3, Type: jute.OpGetData}), 0, 0, 0x10))
		b, err := r.recv()
		if err != nil {
			t.Fatal(err)
		}
		var h jute.ReplyHeader
		jute.Unmarshal(b, &h)
		if zk.Code(h.Err) != zk.CodeMarshallingError {
			t.Fatalf("reply %+v, want MARSHALLINGERROR", h)
		}
		// The connection stays open, as ZooKeeper's does.
		if h, _ := r.call(4, jute.OpExists, &jute.PathWatchRequest{Path: "/keep"}); h.Err != 0 {
			t.Fatalf("exists after a bad body: %+v", h)
		}
	})
	t.Run("garbage instead of a connect", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		r.send([]byte("not a connect request"))
		r.closed()
	})
	data, _, err := other.Get(ctx, "/keep")
	if err != nil || string(data) != "x" {
		t.Fatalf("the other session after all that: %q, %v", data, err)
	}
}

// TestServerConnectLimitPerIP: the connections one IP may hold are
// limited (maxClientCnxns); a connection past the limit is closed, and
// one closing makes room.
func TestServerConnectLimitPerIP(t *testing.T) {
	n := wireNode(t, zk.Config{MaxClientConns: 2})
	a, b := rawDial(t, n.ClientAddr()), rawDial(t, n.ClientAddr())
	a.connect(jute.ConnectRequest{})
	b.connect(jute.ConnectRequest{})
	c := rawDial(t, n.ClientAddr())
	c.send(jute.Marshal(&jute.ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16)}))
	c.closed()
	a.nc.Close()
	deadline := time.Now().Add(h2Wait)
	for {
		d := rawDial(t, n.ClientAddr())
		d.send(jute.Marshal(&jute.ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16)}))
		if _, err := d.recv(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no room after a connection closed")
		}
		time.Sleep(10 * time.Millisecond) // polling for the server to see the close, bounded by the deadline
	}
}

// TestServerSessionHandshake: an old client (no readOnly byte) gets a
// 36-byte reply; a resume with a wrong password or an unknown session
// gets ZooKeeper's expired reply (timeout 0, id 0, 16 zero bytes) and a
// close; a client that has seen a later zxid than the node is refused.
func TestServerSessionHandshake(t *testing.T) {
	n := wireNode(t, zk.Config{})
	r := rawDial(t, n.ClientAddr())
	r.send(jute.Marshal(&jute.ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16)})[:44])
	b, err := r.recv()
	if err != nil || len(b) != 36 {
		t.Fatalf("reply to an old client: %d bytes, %v; want 36", len(b), err)
	}
	var first jute.ConnectResponse
	jute.Unmarshal(b, &first)

	for name, req := range map[string]jute.ConnectRequest{
		"wrong password":  {SessionID: first.SessionID, Passwd: []byte("0123456789abcdef"), HasReadOnly: true},
		"unknown session": {SessionID: 12345, HasReadOnly: true},
	} {
		t.Run(name, func(t *testing.T) {
			r := rawDial(t, n.ClientAddr())
			resp := r.connect(req)
			if resp.TimeOut != 0 || resp.SessionID != 0 || string(resp.Passwd) != string(make([]byte, 16)) {
				t.Fatalf("reply %+v, want the expired form", resp)
			}
			r.closed()
		})
	}
	t.Run("later zxid", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		r.send(jute.Marshal(&jute.ConnectRequest{TimeOut: 3000, LastZxidSeen: n.LastZxid() + 1000, Passwd: make([]byte, 16), HasReadOnly: true}))
		r.closed()
	})
	t.Run("resume", func(t *testing.T) {
		r := rawDial(t, n.ClientAddr())
		resp := r.connect(jute.ConnectRequest{SessionID: first.SessionID, Passwd: first.Passwd, HasReadOnly: true})
		if resp.SessionID != first.SessionID || resp.TimeOut != first.TimeOut {
			t.Fatalf("resumed %+v, want session %#x", resp, first.SessionID)
		}
	})
}

// TestServerFourLetterWords: ruok answers imok when allowed, a word
// outside the whitelist gets ZooKeeper's refusal, and srvr always
// answers.
func TestServerFourLetterWords(t *testing.T) {
	n := wireNode(t, zk.Config{FourLetterWords: []string{"ruok"}})
	ask := func(word string) string {
		r := rawDial(t, n.ClientAddr())
		r.nc.Write([]byte(word))
		b, _ := io.ReadAll(r.nc)
		return string(b)
	}
	if got := ask("ruok"); got != "imok" {
		t.Fatalf("ruok: %q", got)
	}
	if got := ask("mntr"); got != "mntr is not executed because it is not in the whitelist.\n" {
		t.Fatalf("mntr: %q", got)
	}
	if got := ask("srvr"); !strings.Contains(got, "Zookeeper version: ") || !strings.Contains(got, "Mode: standalone") {
		t.Fatalf("srvr: %q", got)
	}
}

// TestServerLesserOpcodes: the opcodes no test client of this suite
// sends — multiRead, checkWatches, whoAmI, deleteContainer and the old
// getChildren — answer as ZooKeeper's do.
func TestServerLesserOpcodes(t *testing.T) {
	n := wireNode(t, zk.Config{})
	c := h2Conn(t, n)
	h2Create(t, c, "/r", []byte("data"), zk.FlagPersistent, h2Open)
	h2Create(t, c, "/r/a", nil, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/box", nil, zk.FlagContainer, h2Open)
	r := rawDial(t, n.ClientAddr())
	r.connect(jute.ConnectRequest{HasReadOnly: true})

	h, body := r.call(1, jute.OpMultiRead, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: "/r"}},
		{Type: jute.OpGetChildren, Req: &jute.PathWatchRequest{Path: "/r"}},
		{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: "/missing"}},
	}})
	var mr jute.MultiResponse
	if err := jute.Unmarshal(body, &mr); h.Err != 0 || err != nil || len(mr.Results) != 3 {
		t.Fatalf("multiRead: %+v, %v, %+v", h, err, mr)
	}
	if got := mr.Results; string(got[0].Data) != "data" || !slices.Equal(got[1].Children, []string{"a"}) ||
		got[2].Type != jute.OpError || zk.Code(got[2].Err) != zk.CodeNoNode {
		t.Fatalf("multiRead results %+v", got)
	}

	// A multi whose op the wire rules refuse (flags out of range) fails
	// as a whole, with ZooKeeper's result codes, and changes nothing.
	open := []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	h, body = r.call(11, jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: "/m1", ACL: open}},
		{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: "/m2", ACL: open, Flags: 9}},
		{Type: jute.OpDelete, Req: &jute.DeleteRequest{Path: "/r/a", Version: -1}},
	}})
	mr = jute.MultiResponse{}
	if err := jute.Unmarshal(body, &mr); h.Err != 0 || err != nil || len(mr.Results) != 3 {
		t.Fatalf("multi: %+v, %v, %+v", h, err, mr)
	}
	for i, want := range []zk.Code{zk.CodeOK, zk.CodeBadArguments, zk.CodeRuntimeInconsistency} {
		if got := mr.Results[i]; got.Type != jute.OpError || zk.Code(got.Err) != want {
			t.Fatalf("multi result %d: %+v, want error %d", i, got, want)
		}
	}
	if h2Exists(t, c, "/m1") || !h2Exists(t, c, "/r/a") {
		t.Fatal("a refused multi changed the tree")
	}

	if h, _ := r.call(2, jute.OpCheckWatches, &jute.WatchesRequest{Path: "/r", Type: int32(zk.WatcherTypeData)}); zk.Code(h.Err) != zk.CodeNoWatcher {
		t.Fatalf("checkWatches without a watch: %+v", h)
	}
	if h, _ := r.call(3, jute.OpGetData, &jute.PathWatchRequest{Path: "/r", Watch: true}); h.Err != 0 {
		t.Fatalf("getData: %+v", h)
	}
	if h, _ := r.call(4, jute.OpCheckWatches, &jute.WatchesRequest{Path: "/r", Type: int32(zk.WatcherTypeData)}); h.Err != 0 {
		t.Fatalf("checkWatches with a data watch: %+v", h)
	}
	if h, _ := r.call(5, jute.OpCheckWatches, &jute.WatchesRequest{Path: "/r", Type: int32(zk.WatcherTypeChildren)}); zk.Code(h.Err) != zk.CodeNoWatcher {
		t.Fatalf("checkWatches for a child watch: %+v", h)
	}

	h, body = r.call(6, jute.OpGetChildren, &jute.PathWatchRequest{Path: "/r"})
	var kids jute.ChildrenResponse
	if err := jute.Unmarshal(body, &kids); h.Err != 0 || err != nil || !slices.Equal(kids.Children, []string{"a"}) {
		t.Fatalf("getChildren: %+v %v %+v", h, err, kids)
	}

	if h, _ := r.call(7, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("alice:pw")}); h.Err != 0 || h.Zxid != 0 {
		t.Fatalf("auth: %+v", h)
	}
	h, body = r.call(8, jute.OpWhoAmI, nil)
	var who jute.WhoAmIResponse
	if err := jute.Unmarshal(body, &who); h.Err != 0 || err != nil {
		t.Fatalf("whoAmI: %+v %v", h, err)
	}
	want := []jute.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "alice"}}
	if !slices.Equal(who.ClientInfo, want) {
		t.Fatalf("whoAmI %+v, want %+v", who.ClientInfo, want)
	}

	if h, _ := r.call(9, jute.OpDeleteContainer, &jute.DeleteContainerRequest{Path: []byte("/r")}); zk.Code(h.Err) != zk.CodeBadArguments {
		t.Fatalf("deleteContainer of a plain node: %+v", h)
	}
	if h, _ := r.call(10, jute.OpDeleteContainer, &jute.DeleteContainerRequest{Path: []byte("/box")}); h.Err != 0 {
		t.Fatalf("deleteContainer: %+v", h)
	}
	if h2Exists(t, c, "/box") {
		t.Fatal("the container is still there")
	}
}

// TestServerSilentClientExpires: a client whose connection stays open but
// that sends nothing — hung, or stopped — loses its session after the
// session timeout, as with ZooKeeper, while one that pings keeps it.
// The fake clock runs the expiry; real time stays well inside the
// connections' read deadlines.
func TestServerSilentClientExpires(t *testing.T) {
	c := zktest.NewCluster(t, 1, zktest.Configure(func(_ int, cfg *zk.Config) { cfg.ClientAddr = "127.0.0.1:0" }))
	addr := c.Node(0).ClientAddr()
	timeout := int32(zktest.SessionTimeout / time.Millisecond)
	silent, pinging := rawDial(t, addr), rawDial(t, addr)
	for _, r := range []*rawConn{silent, pinging} {
		r.nc.SetDeadline(time.Now().Add(zktest.WaitTimeout))
		r.connect(jute.ConnectRequest{TimeOut: timeout, HasReadOnly: true})
	}
	for i, r := range []*rawConn{silent, pinging} {
		h, _ := r.call(1, jute.OpCreate, &jute.CreateRequest{Path: fmt.Sprintf("/e%d", i), ACL: []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}, Flags: 1})
		if h.Err != 0 {
			t.Fatalf("create /e%d: %+v", i, h)
		}
	}
	watcher := c.Connect(t, 0)
	ctx := h2Ctx(t)
	for step := time.Duration(0); step < 2*zktest.SessionTimeout; step += zktest.TickTime {
		if h, _ := pinging.call(-2, jute.OpPing, nil); h.Err != 0 {
			t.Fatalf("ping: %+v", h)
		}
		c.Advance(zktest.TickTime)
	}
	c.WaitApplied(c.Leader().LastZxid())
	if ok, _, err := watcher.Exists(ctx, "/e0"); err != nil || ok {
		t.Fatalf("the silent client's ephemeral after twice its timeout: exists %v, %v", ok, err)
	}
	if ok, _, err := watcher.Exists(ctx, "/e1"); err != nil || !ok {
		t.Fatalf("the pinging client's ephemeral: exists %v, %v", ok, err)
	}
}

// TestServerFrameOrder: on one connection, replies and notifications come
// in zxid order: a notification never overtakes the reply to a read that
// was answered before its change, whichever goroutine answered the read
// (the reader runs reads itself when nothing is queued). A raw connection
// pipelines reads of a node under a recursive watch while another session
// changes it.
func TestServerFrameOrder(t *testing.T) {
	n := wireNode(t, zk.Config{})
	ctx := h2Ctx(t)
	writer, err := zk.Dial(ctx, []string{n.ClientAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if _, err := writer.Create(ctx, "/o", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	h := hostileDial(t, n.ClientAddr())
	h.connect(jute.ConnectRequest{})
	if c := h.call(1, jute.OpAddWatch, &jute.AddWatchRequest{Path: "/o", Mode: 1}); c != 0 {
		t.Fatalf("addWatch: %d", c)
	}
	const sets, reads = 300, 3000
	done := make(chan error, 1)
	go func() {
		for i := range sets {
			if _, err := writer.Set(ctx, "/o", []byte{byte(i)}, zk.AnyVersion); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for i := range reads {
			h.request(int32(i+2), jute.OpGetData, &jute.PathWatchRequest{Path: "/o"})
			if i%16 == 0 {
				time.Sleep(50 * time.Microsecond) // let some reads find the queue empty
			}
		}
	}()
	var last int64
	events, replies := 0, 0
	for replies < reads {
		b, err := h.recv()
		if err != nil {
			t.Fatalf("after %d replies and %d events: %v", replies, events, err)
		}
		var rh jute.ReplyHeader
		if err := jute.Unmarshal(b, &rh); err != nil {
			t.Fatal(err)
		}
		if rh.Xid == jute.XidNotification {
			events++
		} else {
			replies++
		}
		if rh.Zxid < last {
			t.Fatalf("frame %d (xid %d) has zxid %#x after %#x", events+replies, rh.Xid, rh.Zxid, last)
		}
		last = rh.Zxid
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if events == 0 {
		t.Fatal("no notification came while the reads ran: the test checked no interleaving")
	}
	t.Logf("%d replies and %d notifications in zxid order", replies, events)
}
