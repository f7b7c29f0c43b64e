package zk_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkraft/zk"
)

// TestDialFailover: a Dial'ed Conn whose server closes moves to another
// with its session: its ephemeral node stays, and its one-shot, child and
// persistent recursive watches, set again there, fire for changes made
// after the move.
func TestDialFailover(t *testing.T) {
	cl := startInteropCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), interopWait)
	defer cancel()
	addrs := strings.Split(cl.Servers(), ",")
	c, err := zk.Dial(ctx, addrs, zk.WithSessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sid := c.SessionID()
	h2Create(t, c, "/w", nil, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/e", nil, zk.FlagEphemeral, h2Open)
	_, _, dataW, err := c.GetW(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	_, _, childW, err := c.ChildrenW(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	recW, err := c.AddWatch(ctx, "/w", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	at := slices.Index(addrs, zk.DialedServer(c))
	if at < 0 {
		t.Fatalf("connected to %q, not one of %v", zk.DialedServer(c), addrs)
	}
	if err := cl.nodes[at].Close(); err != nil {
		t.Fatal(err)
	}
	cl.nodes[at] = nil
	deadline := time.Now().Add(interopWait)
	for zk.DialedServer(c) == "" || zk.DialedServer(c) == addrs[at] || c.State() != zk.StateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("no move: on %q, %v", zk.DialedServer(c), c.State())
		}
		time.Sleep(5 * time.Millisecond) // polling for the reconnect, bounded by the deadline
	}
	if c.SessionID() != sid {
		t.Fatalf("session %#x became %#x", sid, c.SessionID())
	}
	if !h2Exists(t, c, "/e") {
		t.Fatal("the ephemeral node went with the server")
	}
	other, err := zk.Dial(ctx, []string{addrs[(at+1)%3]})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Set(ctx, "/w", []byte("x"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Recv(t, dataW, zk.EventNodeDataChanged, "/w")
	h2Recv(t, recW, zk.EventNodeDataChanged, "/w")
	h2Create(t, other, "/w/k", nil, zk.FlagPersistent, h2Open)
	h2Recv(t, childW, zk.EventNodeChildrenChanged, "/w")
	h2Recv(t, recW, zk.EventNodeCreated, "/w/k")
}

// TestDialFails: a Dial that reaches no server fails with its context's
// end, as often as it is tried, and leaves nothing running (it used to
// panic closing a channel twice when the engine had reported Closed).
func TestDialFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		c, err := zk.Dial(ctx, []string{addr})
		cancel()
		if err == nil || c != nil {
			t.Fatalf("Dial to a closed port: %v, %v", c, err)
		}
	}
}
