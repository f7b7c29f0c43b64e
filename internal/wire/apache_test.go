package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkraft/zk/internal/apachezk"
	"github.com/zkraft/zk/internal/jute"
)

// Tests against Debian's Apache ZooKeeper 3.8, the reference the engine
// must interoperate with. They skip when it is not installed.

var openACL = []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

func startZK(t *testing.T, opts apachezk.Options) *apachezk.Ensemble {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Apache ZooKeeper")
	}
	if ok, why := apachezk.Available(); !ok {
		t.Skip(why)
	}
	return apachezk.Start(t, opts)
}

func dialZK(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial %v: %v", cfg.Addrs, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func do(t *testing.T, c *Client, op int32, req, resp jute.Record) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zxid, err := c.Do(ctx, op, req, resp)
	if err != nil {
		t.Fatalf("%s: %v", jute.OpName(op), err)
	}
	return zxid
}

func doErr(c *Client, op int32, req, resp jute.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, op, req, resp)
	return err
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestApacheStandalone(t *testing.T) {
	zk := startZK(t, apachezk.Options{})
	addrs := zk.Addrs()

	t.Run("CRUD", func(t *testing.T) {
		c := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 2 * time.Second})
		if c.SessionID() == 0 || len(c.Passwd()) != 16 || c.State() != Connected {
			t.Fatalf("session 0x%x passwd %d state %v", c.SessionID(), len(c.Passwd()), c.State())
		}
		if c.Timeout() != 2*time.Second {
			t.Fatalf("negotiated %v", c.Timeout())
		}
		var created jute.PathResponse
		z1 := do(t, c, jute.OpCreate, &jute.CreateRequest{Path: "/crud", Data: []byte("v1"), ACL: openACL}, &created)
		if created.Path != "/crud" || z1 <= 0 || c.LastZxid() != z1 {
			t.Fatalf("create: %q zxid %d last %d", created.Path, z1, c.LastZxid())
		}
		var got jute.GetDataResponse
		do(t, c, jute.OpGetData, &jute.PathWatchRequest{Path: "/crud"}, &got)
		if string(got.Data) != "v1" || got.Stat.Version != 0 || got.Stat.Czxid != z1 {
			t.Fatalf("getData %q %+v", got.Data, got.Stat)
		}
		var st jute.StatResponse
		z2 := do(t, c, jute.OpSetData, &jute.SetDataRequest{Path: "/crud", Data: []byte("v2"), Version: 0}, &st)
		if st.Stat.Version != 1 || st.Stat.Mzxid != z2 || z2 <= z1 {
			t.Fatalf("setData %+v zxid %d", st.Stat, z2)
		}
		err := doErr(c, jute.OpSetData, &jute.SetDataRequest{Path: "/crud", Data: []byte("x"), Version: 0}, &st)
		if !errors.Is(err, CodeError{Code: CodeBadVersion}) {
			t.Fatalf("stale setData: %v", err)
		}
		do(t, c, jute.OpDelete, &jute.DeleteRequest{Path: "/crud", Version: 1}, nil)
		err = doErr(c, jute.OpGetData, &jute.PathWatchRequest{Path: "/crud"}, &got)
		if !errors.Is(err, CodeError{Code: CodeNoNode}) {
			t.Fatalf("getData after delete: %v", err)
		}
		// Many requests in flight at once, to exercise batching and
		// in-order matching against the real server.
		errs := make(chan error, 50)
		for i := range 50 {
			go func() {
				var r jute.Create2Response
				_, err := c.Do(context.Background(), jute.OpCreate2, &jute.CreateRequest{Path: "/many-", ACL: openACL, Flags: 2 | 1}, &r)
				if err == nil && (len(r.Path) != len("/many-0000000000") || r.Stat.EphemeralOwner != c.SessionID()) {
					err = errors.New("bad create2 reply " + r.Path)
				}
				_ = i
				errs <- err
			}()
		}
		for range 50 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		var kids jute.ChildrenResponse
		do(t, c, jute.OpGetChildren, &jute.PathWatchRequest{Path: "/"}, &kids)
		if n := len(kids.Children); n != 51 { // 50 + zookeeper
			t.Fatalf("%d children of /", n)
		}
		// closeSession removes the ephemerals.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if c.State() != Closed {
			t.Fatalf("state %v", c.State())
		}
		c2 := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 2 * time.Second})
		do(t, c2, jute.OpGetChildren, &jute.PathWatchRequest{Path: "/"}, &kids)
		if len(kids.Children) != 1 {
			t.Fatalf("children after closeSession: %v", kids.Children)
		}
	})

	t.Run("Watch", func(t *testing.T) {
		log := newStateLog()
		c := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 2 * time.Second, OnEvent: log.onEvent})
		other := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 2 * time.Second})
		do(t, other, jute.OpCreate, &jute.CreateRequest{Path: "/watched", ACL: openACL}, &jute.PathResponse{})
		do(t, c, jute.OpGetData, &jute.PathWatchRequest{Path: "/watched", Watch: true}, &jute.GetDataResponse{})
		err := doErr(c, jute.OpExists, &jute.PathWatchRequest{Path: "/absent", Watch: true}, &jute.StatResponse{})
		if !errors.Is(err, CodeError{Code: CodeNoNode}) {
			t.Fatalf("exists on a missing node: %v", err)
		}
		do(t, other, jute.OpSetData, &jute.SetDataRequest{Path: "/watched", Data: []byte("x"), Version: -1}, &jute.StatResponse{})
		do(t, other, jute.OpCreate, &jute.CreateRequest{Path: "/absent", ACL: openACL}, &jute.PathResponse{})
		log.waitUntil(t, func(_ []State, ev []eventAt) bool { return len(ev) == 2 }, "two notifications")
		_, evs := log.snapshot()
		if evs[0].ev != (jute.WatcherEvent{Type: 3, State: 3, Path: "/watched"}) ||
			evs[1].ev != (jute.WatcherEvent{Type: 1, State: 3, Path: "/absent"}) {
			t.Fatalf("events %+v", evs)
		}
		t.Logf("notification zxids from ZooKeeper 3.8: %d, %d", evs[0].zxid, evs[1].zxid)
	})

	t.Run("ResumeFromSecondClient", func(t *testing.T) {
		var cut countingDialer
		log1 := newStateLog()
		c1 := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second, Dialer: cut.dial, OnState: log1.onState})
		do(t, c1, jute.OpCreate, &jute.CreateRequest{Path: "/resumed", ACL: openACL, Flags: 1}, &jute.PathResponse{})
		cut.setCut(true)
		log1.waitState(t, Disconnected)

		log2 := newStateLog()
		c2 := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second, SessionID: c1.SessionID(), Passwd: c1.Passwd(), OnState: log2.onState})
		if c2.SessionID() != c1.SessionID() {
			t.Fatalf("resumed 0x%x, want 0x%x", c2.SessionID(), c1.SessionID())
		}
		var st jute.StatResponse
		do(t, c2, jute.OpExists, &jute.PathWatchRequest{Path: "/resumed"}, &st)
		if st.Stat.EphemeralOwner != c1.SessionID() {
			t.Fatalf("ephemeral owner 0x%x", st.Stat.EphemeralOwner)
		}
		// A wrong password is refused as an expired session.
		bad := c1.Passwd()
		bad[0] ^= 0xff
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := Dial(ctx, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second, SessionID: c1.SessionID(), Passwd: bad}); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("resume with a bad password: %v", err)
		}
		// ZooKeeper drops the connection bound to the session before it
		// checks the password, so even the failed attempt moved c2, which
		// resumes on its own.
		log2.waitUntil(t, func(st []State, _ []eventAt) bool {
			return len(st) >= 3 && st[1] == Disconnected && st[len(st)-1] == Connected
		}, "c2 to be cut off and come back")
		if err := c2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// The first client comes back to a closed session.
		cut.setCut(false)
		log1.waitState(t, Expired)
		if err := doErr(c1, jute.OpSync, &jute.PathRequest{Path: "/"}, nil); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("Do on the expired client: %v", err)
		}
	})

	t.Run("ExpiryWhenClientIsGone", func(t *testing.T) {
		var cut countingDialer
		log := newStateLog()
		c := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 800 * time.Millisecond, Dialer: cut.dial, OnState: log.onState})
		do(t, c, jute.OpCreate, &jute.CreateRequest{Path: "/short-lived", ACL: openACL, Flags: 1}, &jute.PathResponse{})
		watcher := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second})
		cut.setCut(true)
		gone := time.Now()
		eventually(t, 15*time.Second, "the ephemeral to go", func() bool {
			err := doErr(watcher, jute.OpExists, &jute.PathWatchRequest{Path: "/short-lived"}, &jute.StatResponse{})
			return errors.Is(err, CodeError{Code: CodeNoNode})
		})
		if d := time.Since(gone); d < 800*time.Millisecond {
			t.Fatalf("session expired after %v, before its timeout", d)
		}
		if c.State() != Disconnected {
			t.Fatalf("state %v while unreachable", c.State())
		}
		cut.setCut(false)
		select {
		case <-c.Done():
		case <-time.After(15 * time.Second):
			t.Fatal("client did not learn of the expiry")
		}
		if st, _ := log.snapshot(); st[len(st)-1] != Expired {
			t.Fatalf("states %v", st)
		}
	})

	t.Run("AuthResentAfterReconnect", func(t *testing.T) {
		var cut countingDialer
		auth := []jute.AuthPacket{{Scheme: "digest", Auth: []byte("user:password")}}
		log := newStateLog()
		c := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second, Dialer: cut.dial, OnState: log.onState,
			Auth: func() []jute.AuthPacket { return auth }})
		creatorOnly := []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "auth", ID: ""}}}
		do(t, c, jute.OpCreate, &jute.CreateRequest{Path: "/secret", Data: []byte("s"), ACL: creatorOnly}, &jute.PathResponse{})
		var acl jute.GetACLResponse
		do(t, c, jute.OpGetACL, &jute.PathRequest{Path: "/secret"}, &acl)
		if len(acl.ACL) != 1 || acl.ACL[0].ID != (jute.ID{Scheme: "digest", ID: "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="}) {
			t.Fatalf("ACL %+v", acl.ACL)
		}
		stranger := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second})
		if err := doErr(stranger, jute.OpGetData, &jute.PathWatchRequest{Path: "/secret"}, &jute.GetDataResponse{}); !errors.Is(err, CodeError{Code: CodeNoAuth}) {
			t.Fatalf("stranger read: %v", err)
		}
		cut.setCut(true)
		log.waitState(t, Disconnected)
		cut.setCut(false)
		var got jute.GetDataResponse
		do(t, c, jute.OpGetData, &jute.PathWatchRequest{Path: "/secret"}, &got)
		if string(got.Data) != "s" {
			t.Fatalf("data %q", got.Data)
		}
		if st, _ := log.snapshot(); len(st) < 3 {
			t.Fatalf("states %v: expected a reconnect", st)
		}
	})

	t.Run("AuthFailed", func(t *testing.T) {
		log := newStateLog()
		c := dialZK(t, ClientConfig{Addrs: addrs, SessionTimeout: 4 * time.Second, OnState: log.onState})
		err := doErr(c, jute.OpAuth, &jute.AuthPacket{Scheme: "nosuchscheme", Auth: []byte("x")}, nil)
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("auth with an unknown scheme: %v", err)
		}
		// The session goes on over a new connection.
		if err := doErr(c, jute.OpSync, &jute.PathRequest{Path: "/"}, &jute.PathResponse{}); err != nil {
			t.Fatalf("sync after a refused credential: %v", err)
		}
	})
}

// TestApacheEnsembleFailover kills the server a client is connected to,
// once a follower and once the leader (which forces an election): the
// client must move to another server with its session, its ephemeral node
// and its watches intact.
func TestApacheEnsembleFailover(t *testing.T) {
	zk := startZK(t, apachezk.Options{Servers: 3, Config: []string{"maxSessionTimeout=20000"}})
	for _, role := range []string{"follower", "leader"} {
		t.Run(role, func(t *testing.T) {
			ctx := context.Background()
			victim := zk.Leader(ctx)
			if role == "follower" {
				victim = (victim + 1) % len(zk.Addrs())
			}
			if victim < 0 {
				t.Fatal("no leader")
			}
			failover(t, zk, victim)
		})
	}
}

func failover(t *testing.T, zk *apachezk.Ensemble, victim int) {
	var cl atomic.Pointer[Client]
	var watching, anyServer atomic.Bool
	log := newStateLog()
	eph, watched := fmt.Sprintf("/eph%d", victim), fmt.Sprintf("/watched%d", victim)
	c := dialZK(t, ClientConfig{
		Addrs: zk.Addrs(), SessionTimeout: 10 * time.Second, OnState: log.onState, OnEvent: log.onEvent,
		// Start on the victim, whatever the shuffle says.
		Dialer: func(ctx context.Context, addr string) (net.Conn, error) {
			if !anyServer.Load() && addr != zk.Addr(victim) {
				return nil, errors.New("not the victim")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		// What the zk layer will do: re-register what it watches.
		Watches: func() (int64, jute.SetWatches2) {
			c := cl.Load()
			if c == nil || !watching.Load() {
				return 0, jute.SetWatches2{}
			}
			return c.LastZxid(), jute.SetWatches2{DataWatches: []string{watched}}
		},
	})
	cl.Store(c)
	anyServer.Store(true)
	if c.Timeout() != 10*time.Second {
		t.Fatalf("negotiated %v", c.Timeout())
	}
	do(t, c, jute.OpCreate, &jute.CreateRequest{Path: eph, ACL: openACL, Flags: 1}, &jute.PathResponse{})
	do(t, c, jute.OpCreate, &jute.CreateRequest{Path: watched, ACL: openACL}, &jute.PathResponse{})
	do(t, c, jute.OpGetData, &jute.PathWatchRequest{Path: watched, Watch: true}, &jute.GetDataResponse{})
	watching.Store(true)

	if c.Addr() != zk.Addr(victim) {
		t.Fatalf("connected to %q, not the victim %q", c.Addr(), zk.Addr(victim))
	}
	mode, _ := zk.Mode(context.Background(), victim)
	t.Logf("killing server %d (%s), the client's, a %s", victim+1, c.Addr(), mode)
	start := time.Now()
	zk.Kill(victim)
	log.waitState(t, Disconnected)
	eventually(t, 20*time.Second, "a reconnect to another server", func() bool {
		return c.State() == Connected && c.Addr() != "" && c.Addr() != zk.Addr(victim)
	})
	t.Logf("moved to %s after %v", c.Addr(), time.Since(start))

	var st jute.StatResponse
	do(t, c, jute.OpExists, &jute.PathWatchRequest{Path: eph}, &st)
	if st.Stat.EphemeralOwner != c.SessionID() {
		t.Fatalf("ephemeral owner 0x%x, session 0x%x", st.Stat.EphemeralOwner, c.SessionID())
	}
	// The watch set before the failover was re-registered with setWatches
	// and fires on the new server.
	other := dialZK(t, ClientConfig{Addrs: zk.Addrs(), SessionTimeout: 4 * time.Second})
	do(t, other, jute.OpSetData, &jute.SetDataRequest{Path: watched, Data: []byte("x"), Version: -1}, &jute.StatResponse{})
	log.waitUntil(t, func(_ []State, ev []eventAt) bool { return len(ev) == 1 }, "the re-registered watch to fire")
	if _, evs := log.snapshot(); evs[0].ev != (jute.WatcherEvent{Type: 3, State: 3, Path: watched}) {
		t.Fatalf("event %+v", evs[0])
	}

	// The killed server comes back with the session's ephemeral.
	zk.Restart(victim)
	back := dialZK(t, ClientConfig{Addrs: []string{zk.Addr(victim)}, SessionTimeout: 10 * time.Second})
	do(t, back, jute.OpSync, &jute.PathRequest{Path: "/"}, &jute.PathResponse{})
	do(t, back, jute.OpExists, &jute.PathWatchRequest{Path: eph}, &st)
	if st.Stat.EphemeralOwner != c.SessionID() {
		t.Fatalf("after restart, ephemeral owner 0x%x", st.Stat.EphemeralOwner)
	}
}
