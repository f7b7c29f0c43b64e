package zktest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

func next(t *testing.T, ch <-chan zk.Event) zk.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("no event")
	}
	return zk.Event{}
}

// TestFailoverKeepsSessionAndWatches: a Conn whose node dies moves to
// another node with its session, ephemerals and watches; one-shot watches
// fire for what changed while it moved, and a persistent recursive watch
// gets every event it missed, in order, exactly once.
func TestFailoverKeepsSessionAndWatches(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	writer := c.Connect(t, c.LeaderIndex())
	for _, p := range []string{"/d", "/p", "/r"} {
		if _, err := writer.Create(ctx, p, nil, zk.FlagPersistent, open); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitApplied(c.Leader().LastZxid())
	conn := c.Connect(t, f, zk.WithFailover(c.Nodes()...))
	if ev := next(t, conn.Events()); ev.State != zk.StateConnected {
		t.Fatalf("first session event %v", ev.State)
	}
	if _, err := conn.Create(ctx, "/eph", nil, zk.FlagEphemeral, open); err != nil {
		t.Fatal(err)
	}
	_, _, dataW, err := conn.GetW(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	_, _, childW, err := conn.ChildrenW(ctx, "/p")
	if err != nil {
		t.Fatal(err)
	}
	_, _, missW, err := conn.ExistsW(ctx, "/absent")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := conn.AddWatch(ctx, "/r", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}

	// Cut the follower off so the writes pass it by, then kill it: the
	// Conn must learn of them from the node it moves to.
	c.Isolate(f)
	if _, err := writer.Set(ctx, "/d", []byte("x"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Create(ctx, "/p/c", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		p := fmt.Sprintf("/r/%d", i)
		if _, err := writer.Create(ctx, p, nil, zk.FlagPersistent, open); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Set(ctx, p, []byte("v"), zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
		want = append(want, "EventNodeCreated "+p, "EventNodeDataChanged "+p)
	}
	c.Kill(f)
	c.Heal()

	if ev := next(t, conn.Events()); ev.State != zk.StateDisconnected {
		t.Fatalf("session event %v, want StateDisconnected", ev.State)
	}
	if ev := next(t, conn.Events()); ev.State != zk.StateConnected {
		t.Fatalf("session event %v, want StateConnected", ev.State)
	}
	if ev := next(t, dataW); ev.Type != zk.EventNodeDataChanged {
		t.Fatalf("data watch: %v", ev.Type)
	}
	if ev := next(t, childW); ev.Type != zk.EventNodeChildrenChanged {
		t.Fatalf("child watch: %v", ev.Type)
	}
	for i, w := range want {
		ev := next(t, rec)
		if got := ev.Type.String() + " " + ev.Path; got != w {
			t.Fatalf("replayed event %d: %s, want %s", i, got, w)
		}
	}
	// Nothing twice, and the watches go on from the new node.
	if _, err := writer.Create(ctx, "/absent", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, missW); ev.Type != zk.EventNodeCreated {
		t.Fatalf("exist watch: %v", ev.Type)
	}
	if err := writer.Delete(ctx, "/r/0", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, rec); ev.Type != zk.EventNodeDeleted || ev.Path != "/r/0" {
		t.Fatalf("after the move: %v %s", ev.Type, ev.Path)
	}
	if ok, _, err := conn.Exists(ctx, "/eph"); err != nil || !ok {
		t.Fatalf("ephemeral lost in the move: %v", err)
	}
	if _, err := conn.Create(ctx, "/after", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
}

// TestFailoverReportsLostEvents: when the new node's log of recent
// changes no longer reaches back, a persistent watch says so.
func TestFailoverReportsLostEvents(t *testing.T) {
	c := zktest.NewCluster(t, 3, zktest.Configure(func(_ int, cfg *zk.Config) { cfg.ReplayLogSize = 2 }))
	ctx := ctxT(t)
	f := follower(c)
	writer := c.Connect(t, c.LeaderIndex())
	conn := c.Connect(t, f, zk.WithFailover(c.Nodes()...))
	w, err := conn.AddWatch(ctx, "/", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	c.Isolate(f)
	for i := range 5 {
		if _, err := writer.Create(ctx, fmt.Sprintf("/n%d", i), nil, zk.FlagPersistent, open); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill(f)
	c.Heal()
	if ev := next(t, w); ev.Type != zk.EventWatchEventsLost {
		t.Fatalf("first event after the move: %v %s", ev.Type, ev.Path)
	}
	if _, err := writer.Create(ctx, "/later", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, w); ev.Type != zk.EventNodeCreated || ev.Path != "/later" {
		t.Fatalf("watch after the loss: %v %s", ev.Type, ev.Path)
	}
}
