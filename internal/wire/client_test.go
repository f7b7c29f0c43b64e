package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/zkraft/zk/internal/jute"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const longTimeout = 30 * time.Second // no pings get in the way of a script

// dialFake dials cfg (defaults filled in) while s grants session id.
func dialFake(t *testing.T, cfg ClientConfig, s *fakeServer, timeout time.Duration, id int64) (*Client, *fakeConn) {
	t.Helper()
	if cfg.Addrs == nil {
		cfg.Addrs = []string{s.addr()}
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = timeout
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	type dialed struct {
		c   *Client
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := Dial(context.Background(), cfg)
		ch <- dialed{c, err}
	}()
	fc := s.accept()
	fc.handshake(timeout, id)
	d := <-ch
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}
	t.Cleanup(func() { closeQuietly(d.c) })
	return d.c, fc
}

// closeQuietly stops c without waiting for a closeSession reply.
func closeQuietly(c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Close(ctx)
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: testWriter{t}})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func getData(path string) (*jute.PathWatchRequest, *jute.GetDataResponse) {
	return &jute.PathWatchRequest{Path: path}, &jute.GetDataResponse{}
}

func TestXidsIncreaseAndRepliesMatchInOrder(t *testing.T) {
	s := newFakeServer(t)
	c, fc := dialFake(t, ClientConfig{}, s, longTimeout, 0x42)
	if c.SessionID() != 0x42 || !bytes.Equal(c.Passwd(), testPasswd) || c.Timeout() != longTimeout || c.State() != Connected {
		t.Fatalf("session %x %q %v %v", c.SessionID(), c.Passwd(), c.Timeout(), c.State())
	}
	if c.Addr() != s.addr() {
		t.Fatalf("Addr = %q, want %q", c.Addr(), s.addr())
	}

	var results []<-chan doResult
	var resps []*jute.GetDataResponse
	var xids []int32
	for i := 0; i < 3; i++ {
		req, resp := getData(fmt.Sprintf("/n%d", i))
		resps = append(resps, resp)
		results = append(results, doAsync(c, jute.OpGetData, req, resp))
		r := fc.next() // each is on the wire before the next is queued
		if r.hdr.Type != jute.OpGetData {
			t.Fatalf("op %d, want getData", r.hdr.Type)
		}
		var got jute.PathWatchRequest
		decodeBody(t, r.body, &got)
		if got.Path != req.Path {
			t.Fatalf("path %q, want %q", got.Path, req.Path)
		}
		xids = append(xids, r.hdr.Xid)
	}
	if !(xids[0] > 0 && xids[0] < xids[1] && xids[1] < xids[2]) {
		t.Fatalf("xids %v do not increase", xids)
	}
	// A notification between replies goes to OnEvent, not to a request.
	for i, x := range xids {
		fc.reply(x, int64(10+i), 0, &jute.GetDataResponse{Data: []byte{byte('a' + i)}, Stat: jute.Stat{Version: int32(i)}})
	}
	for i, ch := range results {
		r := await(t, ch)
		if r.err != nil || r.zxid != int64(10+i) {
			t.Fatalf("reply %d: zxid %d err %v", i, r.zxid, r.err)
		}
		if string(resps[i].Data) != string(rune('a'+i)) || resps[i].Stat.Version != int32(i) {
			t.Fatalf("reply %d decoded as %+v", i, resps[i])
		}
	}
	if c.LastZxid() != 12 {
		t.Fatalf("LastZxid = %d, want 12", c.LastZxid())
	}

	// An error code comes back as a CodeError, with no body decoded.
	req, resp := getData("/missing")
	ch := doAsync(c, jute.OpGetData, req, resp)
	r := fc.next()
	fc.reply(r.hdr.Xid, 13, CodeNoNode, nil)
	res := await(t, ch)
	if !errors.Is(res.err, CodeError{Code: CodeNoNode}) || res.zxid != 13 {
		t.Fatalf("got zxid %d err %v, want NONODE", res.zxid, res.err)
	}
	if res.err.Error() != "zk: NONODE (-101)" {
		t.Fatalf("error text %q", res.err.Error())
	}
}

func TestReplyOutOfOrderDropsConnection(t *testing.T) {
	s := newFakeServer(t)
	c, fc := dialFake(t, ClientConfig{}, s, longTimeout, 0x42)
	a := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/a"}, nil)
	ra := fc.next()
	b := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/b"}, nil)
	rb := fc.next()
	_ = ra
	fc.reply(rb.hdr.Xid, 5, 0, &jute.PathResponse{Path: "/b"})
	for _, ch := range []<-chan doResult{a, b} {
		if r := await(t, ch); !errors.Is(r.err, ErrConnectionLoss) {
			t.Fatalf("got %v, want connection loss", r.err)
		}
	}
	fc.expectClosed()
	// The engine reconnects and resumes on its own.
	fc2 := s.accept()
	cr := fc2.handshake(longTimeout, 0x42)
	if cr.SessionID != 0x42 {
		t.Fatalf("resumed session %x", cr.SessionID)
	}
}

func TestNotificationsGoToOnEventInOrder(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c, fc := dialFake(t, ClientConfig{OnEvent: log.onEvent, OnState: log.onState}, s, longTimeout, 1)
	ch := doAsync(c, jute.OpExists, &jute.PathWatchRequest{Path: "/w", Watch: true}, nil)
	r := fc.next()
	fc.notify(-1, jute.WatcherEvent{Type: 1, State: 3, Path: "/w"})
	fc.notify(77, jute.WatcherEvent{Type: 3, State: 3, Path: "/w"})
	fc.reply(r.hdr.Xid, 78, CodeNoNode, nil)
	await(t, ch)
	// OnEvent runs on the reader before the reply is handed over.
	_, evs := log.snapshot()
	if len(evs) != 2 || evs[0].ev.Path != "/w" || evs[0].ev.Type != 1 || evs[0].zxid != -1 || evs[1].ev.Type != 3 || evs[1].zxid != 77 {
		t.Fatalf("events %+v", evs)
	}
	if c.LastZxid() != 78 {
		t.Fatalf("LastZxid %d after a reply of zxid 78", c.LastZxid())
	}
	// A notification that carries its change's zxid counts as seen: the
	// client must not resume on a server that has not applied it.
	fc.notify(90, jute.WatcherEvent{Type: 3, State: 3, Path: "/w"})
	deadline := time.Now().Add(longTimeout)
	for c.LastZxid() != 90 {
		if time.Now().After(deadline) {
			t.Fatalf("LastZxid %d after a notification of zxid 90", c.LastZxid())
		}
		time.Sleep(time.Millisecond) // polling the engine, which offers no wait
	}
}

func TestPingsWhileIdle(t *testing.T) {
	s := newFakeServer(t)
	const timeout = 1200 * time.Millisecond
	log := newStateLog()
	c, fc := dialFake(t, ClientConfig{OnState: log.onState}, s, timeout, 1)
	var gaps []time.Duration
	last := time.Now()
	for len(gaps) < 3 {
		r := fc.nextAny()
		if r.hdr.Xid != jute.XidPing || r.hdr.Type != jute.OpPing || len(r.body) != 0 {
			t.Fatalf("idle client sent xid %d op %d", r.hdr.Xid, r.hdr.Type)
		}
		now := time.Now()
		gaps = append(gaps, now.Sub(last))
		last = now
		fc.reply(jute.XidPing, 99, 0, nil)
	}
	for _, g := range gaps {
		// Pings come every third of the timeout; the bounds leave slack
		// for a loaded machine while proving they are neither bunched
		// nor later than the read timeout.
		if g < timeout/6 || g > timeout*2/3 {
			t.Fatalf("ping gaps %v, want about %v", gaps, timeout/3)
		}
	}
	if c.LastZxid() != 0 {
		t.Fatalf("a ping reply moved LastZxid to %d", c.LastZxid())
	}
	if st, _ := log.snapshot(); len(st) != 1 || st[0] != Connected {
		t.Fatalf("states %v: pings must keep the connection", st)
	}
}

func TestSilentServerCountsAsBroken(t *testing.T) {
	s := newFakeServer(t)
	const timeout = 300 * time.Millisecond
	log := newStateLog()
	_, fc := dialFake(t, ClientConfig{OnState: log.onState}, s, timeout, 1)
	start := time.Now()
	// Read pings but never answer: the client must give up after 2/3 of
	// the session timeout.
	for {
		b, err := fc.readFrame()
		if err != nil {
			break
		}
		_ = b
	}
	if d := time.Since(start); d < timeout/2 {
		t.Fatalf("connection dropped after %v, before the read timeout", d)
	}
	log.waitState(t, Disconnected)
	fc2 := s.accept()
	if cr := fc2.handshake(timeout, 1); cr.SessionID != 1 {
		t.Fatalf("resumed %x", cr.SessionID)
	}
	log.waitUntil(t, func(st []State, _ []eventAt) bool { return st[len(st)-1] == Connected }, "reconnect")
}

func TestReconnectToSecondAddressResumesSession(t *testing.T) {
	s1, s2 := newFakeServer(t), newFakeServer(t)
	log := newStateLog()
	cfg := ClientConfig{Addrs: []string{s1.addr(), s2.addr()}, SessionTimeout: longTimeout,
		OnState: log.onState, Logger: testLogger(t)}
	type dialed struct {
		c   *Client
		err error
	}
	ch := make(chan dialed, 1)
	go func() { c, err := Dial(context.Background(), cfg); ch <- dialed{c, err} }()
	first, firstSrv := acceptAny(t, s1, s2)
	second := s2
	if firstSrv == s2 {
		second = s1
	}
	cr := first.readConnect()
	if cr.SessionID != 0 || cr.LastZxidSeen != 0 || cr.TimeOut != int32(longTimeout/time.Millisecond) || len(cr.Passwd) != 16 {
		t.Fatalf("first connect request %+v", cr)
	}
	first.acceptSession(longTimeout, 0x1234, testPasswd)
	d := <-ch
	if d.err != nil {
		t.Fatal(d.err)
	}
	c := d.c
	t.Cleanup(func() { closeQuietly(c) })
	if c.Addr() != firstSrv.addr() {
		t.Fatalf("Addr %q, want %q", c.Addr(), firstSrv.addr())
	}

	// One completed request moves lastZxid.
	res := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, &jute.PathResponse{})
	r := first.next()
	first.reply(r.hdr.Xid, 0x500, 0, &jute.PathResponse{Path: "/"})
	if got := await(t, res); got.err != nil {
		t.Fatal(got.err)
	}

	// The first server dies with a request in flight.
	firstSrv.stopListening()
	res = doAsync(c, jute.OpSetData, &jute.SetDataRequest{Path: "/x", Data: []byte("v"), Version: -1}, &jute.StatResponse{})
	first.next()
	first.close()
	if got := await(t, res); !errors.Is(got.err, ErrConnectionLoss) {
		t.Fatalf("in-flight request got %v, want connection loss", got.err)
	}

	fc := second.accept()
	cr = fc.readConnect()
	if cr.SessionID != 0x1234 || !bytes.Equal(cr.Passwd, testPasswd) || cr.LastZxidSeen != 0x500 {
		t.Fatalf("resume request %+v", cr)
	}
	fc.acceptSession(longTimeout, 0x1234, testPasswd)
	log.waitUntil(t, func(st []State, _ []eventAt) bool {
		return len(st) >= 3 && st[len(st)-2] == Disconnected && st[len(st)-1] == Connected
	}, "Disconnected then Connected")
	if c.Addr() != second.addr() {
		t.Fatalf("Addr %q, want %q", c.Addr(), second.addr())
	}
	// The engine never retries the lost request.
	res = doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, nil)
	r = fc.next()
	if r.hdr.Type != jute.OpSync {
		t.Fatalf("first request on the new connection is op %d", r.hdr.Type)
	}
	fc.reply(r.hdr.Xid, 0x501, 0, &jute.PathResponse{Path: "/"})
	if got := await(t, res); got.err != nil {
		t.Fatal(got.err)
	}
}

func TestAuthThenWatchesBeforeQueuedRequests(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	var dialer countingDialer
	auth := []jute.AuthPacket{{Scheme: "digest", Auth: []byte("u:p")}, {Scheme: "digest", Auth: []byte("v:q")}}
	watches := jute.SetWatches2{
		DataWatches: []string{"/d"}, ExistWatches: []string{"/e"}, ChildWatches: []string{"/c"},
		PersistentWatches: []string{"/p"}, PersistentRecursiveWatches: []string{"/r"},
	}
	cfg := ClientConfig{
		OnState: log.onState, OnEvent: log.onEvent, Dialer: dialer.dial,
		Auth:    func() []jute.AuthPacket { return auth },
		Watches: func() (int64, jute.SetWatches2) { return 0x99, watches },
	}
	c, fc := dialFake(t, cfg, s, longTimeout, 7)
	// On the first connection too, credentials come first.
	expectPrime := func(fc *fakeConn) {
		t.Helper()
		for _, want := range auth {
			r := fc.next()
			var got jute.AuthPacket
			decodeBody(t, r.body, &got)
			if r.hdr.Xid != jute.XidAuth || r.hdr.Type != jute.OpAuth || got.Scheme != want.Scheme || string(got.Auth) != string(want.Auth) {
				t.Fatalf("expected auth %+v, got xid %d op %d %+v", want, r.hdr.Xid, r.hdr.Type, got)
			}
			fc.reply(jute.XidAuth, 0, 0, nil)
		}
		r := fc.next()
		if r.hdr.Xid != jute.XidSetWatches || r.hdr.Type != jute.OpSetWatches2 {
			t.Fatalf("expected setWatches2, got xid %d op %d", r.hdr.Xid, r.hdr.Type)
		}
		var got jute.SetWatches2
		decodeBody(t, r.body, &got)
		if got.RelativeZxid != 0x99 || fmt.Sprint(got) != fmt.Sprint(jute.SetWatches2{RelativeZxid: 0x99,
			DataWatches: watches.DataWatches, ExistWatches: watches.ExistWatches, ChildWatches: watches.ChildWatches,
			PersistentWatches: watches.PersistentWatches, PersistentRecursiveWatches: watches.PersistentRecursiveWatches}) {
			t.Fatalf("setWatches2 %+v", got)
		}
		// Catch-up notifications precede the reply (protocol.md §9.6).
		fc.notify(-1, jute.WatcherEvent{Type: 2, State: 3, Path: "/d"})
		fc.reply(jute.XidSetWatches, 0, 0, nil)
	}
	expectPrime(fc)
	log.waitUntil(t, func(_ []State, ev []eventAt) bool { return len(ev) == 1 }, "catch-up event")

	// Break the connection; queue requests while the client is away.
	dialer.setCut(true)
	log.waitState(t, Disconnected)
	var queued []<-chan doResult
	for i := 0; i < 3; i++ {
		queued = append(queued, doAsync(c, jute.OpSync, &jute.PathRequest{Path: fmt.Sprint("/q", i)}, nil))
		waitQueued(t, c, i+1)
	}
	writesBefore := dialer.writeCount()
	dialer.setCut(false)

	fc2 := s.accept()
	fc2.handshake(longTimeout, 7)
	expectPrime(fc2)
	for i := 0; i < 3; i++ {
		r := fc2.next()
		var p jute.PathRequest
		decodeBody(t, r.body, &p)
		if r.hdr.Type != jute.OpSync || p.Path != fmt.Sprint("/q", i) {
			t.Fatalf("queued request %d: op %d path %q", i, r.hdr.Type, p.Path)
		}
		fc2.reply(r.hdr.Xid, 0, 0, &jute.PathResponse{Path: p.Path})
	}
	for _, ch := range queued {
		if r := await(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	// The connect request, then one write for auth, watches and the
	// queued requests together.
	if n := dialer.writeCount() - writesBefore; n != 2 {
		t.Fatalf("%d writes on reconnect, want 2 (connect request, then one batch)", n)
	}
	_, evs := log.snapshot()
	if len(evs) != 2 || evs[0].ev.Path != "/d" || evs[1].ev.Path != "/d" {
		t.Fatalf("catch-up events %+v", evs)
	}
}

// waitQueued waits until n requests wait in c's queue.
func waitQueued(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSetWatchesWithoutPersistentUsesOldOpcode(t *testing.T) {
	s := newFakeServer(t)
	cfg := ClientConfig{Watches: func() (int64, jute.SetWatches2) {
		return 5, jute.SetWatches2{ChildWatches: []string{"/c"}}
	}}
	_, fc := dialFake(t, cfg, s, longTimeout, 7)
	r := fc.next()
	var got jute.SetWatches
	decodeBody(t, r.body, &got)
	if r.hdr.Xid != jute.XidSetWatches || r.hdr.Type != jute.OpSetWatches || got.RelativeZxid != 5 || len(got.ChildWatches) != 1 || len(r.body) != 8+4+4+4+4+2 {
		t.Fatalf("xid %d op %d %+v (%d bytes)", r.hdr.Xid, r.hdr.Type, got, len(r.body))
	}
	fc.reply(r.hdr.Xid, 0, 0, nil)
}

func TestSplitWatches(t *testing.T) {
	w := jute.SetWatches2{
		DataWatches:                []string{"/aaaa", "/bbbb", "/cccc"},
		ChildWatches:               []string{"/dddd"},
		PersistentRecursiveWatches: []string{"/eeee"},
	}
	got := splitWatches(w, 10)
	want := []jute.SetWatches2{
		{DataWatches: []string{"/aaaa", "/bbbb"}},
		{DataWatches: []string{"/cccc"}, ChildWatches: []string{"/dddd"}},
		{PersistentRecursiveWatches: []string{"/eeee"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if len(splitWatches(jute.SetWatches2{}, 10)) != 0 {
		t.Fatal("no watches must make no request")
	}
	if got := splitWatches(jute.SetWatches2{DataWatches: []string{"/a-very-long-path"}}, 4); len(got) != 1 {
		t.Fatalf("an oversize path must still go, alone: %+v", got)
	}
}

func TestExpiryOnReconnect(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c, fc := dialFake(t, ClientConfig{OnState: log.onState}, s, longTimeout, 9)
	fc.close()
	log.waitState(t, Disconnected)
	queued := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, nil)
	waitQueued(t, c, 1)
	fc2 := s.accept()
	fc2.readConnect()
	fc2.writeFrame(jute.Marshal(&jute.ConnectResponse{Passwd: make([]byte, 16), HasReadOnly: true}))
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("Done not closed after expiry")
	}
	if r := await(t, queued); !errors.Is(r.err, ErrSessionExpired) {
		t.Fatalf("queued request got %v", r.err)
	}
	if _, err := c.Do(context.Background(), jute.OpSync, &jute.PathRequest{Path: "/"}, nil); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("new request got %v", err)
	}
	if st, _ := log.snapshot(); fmt.Sprint(st) != fmt.Sprint([]State{Connected, Disconnected, Expired}) {
		t.Fatalf("states %v", st)
	}
	if c.State() != Expired || !errors.Is(c.Err(), ErrSessionExpired) {
		t.Fatalf("state %v err %v", c.State(), c.Err())
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close after expiry: %v", err)
	}
}

func TestDialExpiredSession(t *testing.T) {
	s := newFakeServer(t)
	ch := make(chan error, 1)
	go func() {
		_, err := Dial(context.Background(), ClientConfig{Addrs: []string{s.addr()}, SessionTimeout: time.Second,
			SessionID: 5, Passwd: testPasswd, Logger: testLogger(t)})
		ch <- err
	}()
	fc := s.accept()
	cr := fc.readConnect()
	if cr.SessionID != 5 || !bytes.Equal(cr.Passwd, testPasswd) {
		t.Fatalf("connect request %+v", cr)
	}
	fc.writeFrame(jute.Marshal(&jute.ConnectResponse{Passwd: make([]byte, 16)}))
	if err := <-ch; !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("Dial: %v", err)
	}
}

func TestOversizeReply(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c, fc := dialFake(t, ClientConfig{MaxPacket: 1024, OnState: log.onState}, s, longTimeout, 3)
	req, resp := getData("/big")
	big := doAsync(c, jute.OpGetData, req, resp)
	rb := fc.next()
	other := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, nil)
	fc.next()
	fc.reply(rb.hdr.Xid, 1, 0, &jute.GetDataResponse{Data: make([]byte, 2000)})
	r := await(t, big)
	if !errors.Is(r.err, ErrPacketTooLarge) || !errors.Is(r.err, ErrConnectionLoss) {
		t.Fatalf("oversize reply gave %v", r.err)
	}
	if r := await(t, other); !errors.Is(r.err, ErrConnectionLoss) || errors.Is(r.err, ErrPacketTooLarge) {
		t.Fatalf("other pending request got %v", r.err)
	}
	fc.expectClosed()
	// The client reconnects and goes on.
	fc2 := s.accept()
	fc2.handshake(longTimeout, 3)
	log.waitUntil(t, func(st []State, _ []eventAt) bool { return len(st) == 3 && st[2] == Connected }, "reconnect")
	req, resp = getData("/small")
	ok := doAsync(c, jute.OpGetData, req, resp)
	rs := fc2.next()
	fc2.reply(rs.hdr.Xid, 2, 0, &jute.GetDataResponse{Data: make([]byte, 900)})
	if r := await(t, ok); r.err != nil || len(resp.Data) != 900 {
		t.Fatalf("small reply: %v, %d bytes", r.err, len(resp.Data))
	}
}

func TestCloseSendsCloseSession(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c, fc := dialFake(t, ClientConfig{OnState: log.onState}, s, longTimeout, 3)
	closed := make(chan error, 1)
	go func() { closed <- c.Close(context.Background()) }()
	r := fc.next()
	if r.hdr.Type != jute.OpCloseSession || r.hdr.Xid <= 0 || len(r.body) != 0 {
		t.Fatalf("close sent xid %d op %d body %d", r.hdr.Xid, r.hdr.Type, len(r.body))
	}
	fc.reply(r.hdr.Xid, 4, 0, nil)
	fc.close()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close did not return")
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done open after Close")
	}
	if c.State() != Closed {
		t.Fatalf("state %v", c.State())
	}
	if _, err := c.Do(context.Background(), jute.OpSync, &jute.PathRequest{Path: "/"}, nil); !errors.Is(err, ErrClosing) {
		t.Fatalf("Do after Close: %v", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if st, _ := log.snapshot(); fmt.Sprint(st) != fmt.Sprint([]State{Connected, Closed}) {
		t.Fatalf("states %v: the server's close after closeSession is no disconnect", st)
	}
	// No reconnect was attempted.
	select {
	case <-s.conns:
		t.Fatal("client reconnected after closeSession")
	default:
	}
}

func TestCloseBoundedByContext(t *testing.T) {
	s := newFakeServer(t)
	c, fc := dialFake(t, ClientConfig{}, s, longTimeout, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Close(ctx) }()
	fc.next() // closeSession, never answered
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close ignored its context")
	}
	if c.State() != Closed {
		t.Fatalf("state %v", c.State())
	}
}

func TestDoContextCancel(t *testing.T) {
	s := newFakeServer(t)
	c, fc := dialFake(t, ClientConfig{}, s, longTimeout, 3)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, jute.OpSync, &jute.PathRequest{Path: "/slow"}, nil)
		errc <- err
	}()
	r1 := fc.next()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Do: %v", err)
	}
	// The late reply still matches its request, keeping the order intact.
	ch := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/next"}, &jute.PathResponse{})
	r2 := fc.next()
	fc.reply(r1.hdr.Xid, 1, 0, &jute.PathResponse{Path: "/slow"})
	fc.reply(r2.hdr.Xid, 2, 0, &jute.PathResponse{Path: "/next"})
	if r := await(t, ch); r.err != nil || r.zxid != 2 {
		t.Fatalf("next request: %+v", r)
	}
}

// TestAuthFailedReconnects: a caller's credentials refused get it
// ErrAuthFailed; the server closes the connection, and the Client resumes
// its session on the next one and goes on.
func TestAuthFailedReconnects(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c, fc := dialFake(t, ClientConfig{OnState: log.onState}, s, longTimeout, 3)
	queued := doAsync(c, jute.OpAuth, &jute.AuthPacket{Scheme: "bogus", Auth: []byte("x")}, nil)
	r := fc.next()
	if r.hdr.Xid != jute.XidAuth {
		t.Fatalf("auth sent with xid %d", r.hdr.Xid)
	}
	fc.reply(jute.XidAuth, 0, CodeAuthFailed, nil)
	fc.close()
	if r := await(t, queued); !errors.Is(r.err, ErrAuthFailed) {
		t.Fatalf("auth got %v", r.err)
	}
	next := s.accept()
	if cr := next.readConnect(); cr.SessionID != 3 {
		t.Fatalf("reconnected with session %#x, want 3", cr.SessionID)
	}
	next.acceptSession(longTimeout, 3, testPasswd)
	sync := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, &jute.PathResponse{})
	r = next.next()
	next.reply(r.hdr.Xid, 5, 0, &jute.PathResponse{Path: "/"})
	if res := await(t, sync); res.err != nil {
		t.Fatalf("sync after the refusal: %v", res.err)
	}
	if c.State() != Connected {
		t.Fatalf("state %v", c.State())
	}
}

func TestAuthReplyMayOvertake(t *testing.T) {
	s := newFakeServer(t)
	c, fc := dialFake(t, ClientConfig{}, s, longTimeout, 3)
	slow := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, nil)
	r1 := fc.next()
	auth := doAsync(c, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}, nil)
	fc.next()
	// ZooKeeper answers auth outside its pipeline, ahead of the sync.
	fc.reply(jute.XidAuth, 0, 0, nil)
	fc.reply(r1.hdr.Xid, 3, 0, &jute.PathResponse{Path: "/"})
	if r := await(t, auth); r.err != nil {
		t.Fatal(r.err)
	}
	if r := await(t, slow); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestUnreachableForSessionTimeout(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	const timeout = 300 * time.Millisecond
	c, fc := dialFake(t, ClientConfig{OnState: log.onState}, s, timeout, 3)
	s.stopListening()
	queued := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, nil)
	fc.next()
	fc.close()
	if r := await(t, queued); !errors.Is(r.err, ErrConnectionLoss) {
		t.Fatalf("in-flight: %v", r.err)
	}
	log.waitState(t, Disconnected)
	start := time.Now()
	waiting := doAsync(c, jute.OpSync, &jute.PathRequest{Path: "/"}, nil)
	r := await(t, waiting)
	if !errors.Is(r.err, ErrConnectionLoss) {
		t.Fatalf("queued while unreachable: %v", r.err)
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Fatalf("queued request failed only after %v", d)
	}
	// New requests now fail at once, and the client keeps trying.
	if _, err := c.Do(context.Background(), jute.OpSync, &jute.PathRequest{Path: "/"}, nil); !errors.Is(err, ErrConnectionLoss) {
		t.Fatalf("new request: %v", err)
	}
	if c.State() != Disconnected {
		t.Fatalf("state %v: only the server decides expiry", c.State())
	}
	select {
	case <-c.Done():
		t.Fatal("client ended on its own")
	default:
	}
	// Close does not hang when no server is there.
	if err := c.Close(context.Background()); !errors.Is(err, ErrConnectionLoss) {
		t.Fatalf("Close: %v", err)
	}
}

func TestDialContextEnds(t *testing.T) {
	s := newFakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// The server accepts but never answers the connect request.
	_, err := Dial(ctx, ClientConfig{Addrs: []string{s.addr()}, SessionTimeout: longTimeout, Logger: testLogger(t)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v", err)
	}
}

func TestStateValues(t *testing.T) {
	for s, want := range map[State]int32{Disconnected: 0, Connected: 3, AuthFailed: 4, ConnectedReadOnly: 5, Closed: 7, Expired: -112} {
		if int32(s) != want {
			t.Errorf("%v = %d, want %d", s, int32(s), want)
		}
	}
	if (CodeError{Code: -999}).Error() != "zk: UNKNOWN (-999)" {
		t.Error((CodeError{Code: -999}).Error())
	}
}

func TestReadOnlyServer(t *testing.T) {
	s := newFakeServer(t)
	ch := make(chan *Client, 1)
	go func() {
		c, err := Dial(context.Background(), ClientConfig{Addrs: []string{s.addr()}, SessionTimeout: longTimeout, CanBeReadOnly: true})
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	fc := s.accept()
	cr := fc.readConnect()
	if !cr.ReadOnly || !cr.HasReadOnly {
		t.Fatalf("connect request %+v", cr)
	}
	fc.writeFrame(jute.Marshal(&jute.ConnectResponse{TimeOut: 30000, SessionID: 4, Passwd: testPasswd, ReadOnly: true, HasReadOnly: true}))
	c := <-ch
	if c == nil {
		return
	}
	defer closeQuietly(c)
	if c.State() != ConnectedReadOnly {
		t.Fatalf("state %v", c.State())
	}
}
