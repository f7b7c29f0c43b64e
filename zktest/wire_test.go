package zktest_test

import (
	"net"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

// TestWireClientsDroppedOutOfTouch: a node cut off from the leader drops
// its ZooKeeper clients, as a ZooKeeper follower that loses its leader
// does, so that a client's own sense of being out of touch (which the
// recipes rely on) starts before the ensemble could expire its session;
// a node in touch keeps its clients.
func TestWireClientsDroppedOutOfTouch(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	serve := func(i int) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go c.Node(i).Serve(ln)
		return ln.Addr().String()
	}
	f, l := follower(c), c.LeaderIndex()
	cut, err := zk.Dial(ctx, []string{serve(f)}, zk.WithSessionTimeout(zktest.SessionTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	fine, err := zk.Dial(ctx, []string{serve(l)}, zk.WithSessionTimeout(zktest.SessionTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer fine.Close()

	c.Isolate(f)
	c.Advance(zktest.SessionTimeout/3 + zktest.TickTime)
	deadline := time.Now().Add(zktest.WaitTimeout)
	for polls := 1; cut.State() == zk.StateConnected; polls++ {
		if time.Now().After(deadline) {
			t.Fatal("the client of a node cut off from the leader was not dropped")
		}
		if polls%40 == 0 {
			// Time goes on: a tick that raced the partition (its report
			// answered just before the cut) must not stop the clock.
			// Slower than the clients' real-time pings, so the leader's
			// client keeps its session.
			c.Advance(zktest.TickTime)
		}
		time.Sleep(5 * time.Millisecond) // polling the client's state, which has no wait
	}
	if fine.State() != zk.StateConnected {
		t.Fatalf("the leader's client is %v", fine.State())
	}
	if _, _, err := fine.Exists(ctx, "/"); err != nil {
		t.Fatalf("the leader's client: %v", err)
	}
}
