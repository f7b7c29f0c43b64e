package zktest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var open = zk.WorldACL(zk.PermAll)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), zktest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func follower(c *zktest.Cluster) int {
	l := c.LeaderIndex()
	for i := range c.Size() {
		if i != l && c.Node(i) != nil {
			return i
		}
	}
	return -1
}

// TestWritesThroughAFollower shows a write on a follower acts exactly as
// on the leader, and that the follower has applied it when it returns.
func TestWritesThroughAFollower(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	conn := c.Connect(t, f)
	watcher := c.Connect(t, f)
	_, _, w, err := watcher.ExistsW(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	p, st, err := conn.CreateStat(ctx, "/a", []byte("x"), zk.FlagPersistent, open)
	if err != nil || p != "/a" {
		t.Fatalf("create on a follower: %q %v", p, err)
	}
	select {
	case ev := <-w:
		if ev.Type != zk.EventNodeCreated {
			t.Fatalf("event %v", ev)
		}
	default:
		t.Fatal("the watch had not fired when the write returned")
	}
	data, st2, err := conn.Get(ctx, "/a")
	if err != nil || string(data) != "x" || *st2 != *st {
		t.Fatalf("read after write on the follower: %q %+v %v (want %+v)", data, st2, err, st)
	}
	if _, err := conn.Create(ctx, "/a", nil, zk.FlagPersistent, open); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := conn.Multi(ctx, zk.CreateOp("/b", nil, zk.FlagPersistent, open), zk.DeleteOp("/nope", -1)); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("failing multi on a follower: %v", err)
	}
	var me *zk.MultiError
	if _, err := conn.Multi(ctx, zk.CreateOp("/b", nil, zk.FlagPersistent, open), zk.DeleteOp("/nope", -1)); !errors.As(err, &me) || me.Index != 1 {
		t.Fatalf("multi error: %v", err)
	}
	c.WaitApplied(st.Mzxid)
	for i := range c.Size() {
		ok, _, err := c.Connect(t, i).Exists(ctx, "/a")
		if err != nil || !ok {
			t.Fatalf("node %d: /a missing: %v", i, err)
		}
	}
}

// TestSyncOnAFollower: after Sync, a follower's read sees every write
// committed before Sync was called.
func TestSyncOnAFollower(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	lead := c.Connect(t, c.LeaderIndex())
	fc := c.Connect(t, follower(c))
	for i := range 50 {
		if _, err := lead.Set(ctx, "/", []byte{byte(i)}, zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
		if err := fc.Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		data, _, err := fc.Get(ctx, "/")
		if err != nil || len(data) != 1 || data[0] != byte(i) {
			t.Fatalf("after sync %d the follower read %v, %v", i, data, err)
		}
	}
}

// TestLeaderFailover: killing the leader elects another, writes go on
// from every survivor, and the old leader catches up on restart.
func TestLeaderFailover(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	conn := c.Connect(t, f)
	eph, err := conn.Create(ctx, "/eph", nil, zk.FlagEphemeral, open)
	if err != nil {
		t.Fatal(err)
	}
	old := c.LeaderIndex()
	c.Kill(old)
	for i := range 20 {
		if _, err := conn.Create(ctx, "/n", nil, zk.FlagSequence, open); err != nil {
			t.Fatalf("write %d after the leader died: %v", i, err)
		}
	}
	if c.LeaderIndex() == old {
		t.Fatal("a dead node leads")
	}
	// The session lives on: the new leader gave it a fresh timeout, and
	// its node reports it every tick.
	c.Advance(3 * zktest.SessionTimeout)
	if ok, _, err := conn.Exists(ctx, eph); err != nil || !ok {
		t.Fatalf("ephemeral of a live session gone after a leader change: %v", err)
	}
	c.Restart(old)
	z := c.Node(f).LastZxid()
	c.WaitApplied(z)
	kids, _, err := c.Connect(t, old).Children(ctx, "/")
	if err != nil || len(kids) != 22 { // /eph, 20 × /n…, /zookeeper
		t.Fatalf("restarted node sees %d children: %v", len(kids), err)
	}
}

// TestSessionExpiresAfterItsNodeDies: the ephemeral of a session whose
// node died goes once the session timeout passes.
func TestSessionExpiresAfterItsNodeDies(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	conn := c.Connect(t, f)
	if _, err := conn.Create(ctx, "/eph", nil, zk.FlagEphemeral, open); err != nil {
		t.Fatal(err)
	}
	other := c.Connect(t, c.LeaderIndex())
	c.Kill(f)
	if ok, _, _ := other.Exists(ctx, "/eph"); !ok {
		t.Fatal("ephemeral gone at once; it must wait for the timeout")
	}
	c.Advance(zktest.SessionTimeout + 2*zktest.TickTime)
	if ok, _, err := other.Exists(ctx, "/eph"); err != nil || ok {
		t.Fatalf("ephemeral of a dead session still there after its timeout: %v", err)
	}
}

// TestMinorityCannotWrite: a node cut off from the majority cannot
// commit; its write waits for ctx, and goes through after the heal.
func TestMinorityCannotWrite(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	conn := c.Connect(t, f)
	c.Isolate(f)
	short, cancel := context.WithTimeout(ctx, 3*zktest.ElectionTimeout)
	defer cancel()
	if _, err := conn.Create(short, "/cut", nil, zk.FlagPersistent, open); err == nil {
		t.Fatal("a partitioned follower committed a write")
	}
	c.Heal()
	if _, err := conn.Create(ctx, "/healed", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
}

// TestObserver: an observer serves reads and watches, forwards writes,
// and its loss leaves the quorum intact.
func TestObserver(t *testing.T) {
	c := zktest.NewCluster(t, 4, zktest.Observers(1))
	ctx := ctxT(t)
	obs := 3
	if r := c.Node(obs).Stats().Role; r != zk.RoleObserver {
		t.Fatalf("node 3 is a %s", r)
	}
	conn := c.Connect(t, obs)
	_, _, w, err := conn.ExistsW(ctx, "/o")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(ctx, "/o", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
	default:
		t.Fatal("no event on the observer")
	}
	c.Kill(obs)
	// Two of three voters down would stop writes; one voter and the
	// observer down do not.
	c.Kill(follower(c))
	lead := c.Connect(t, c.LeaderIndex())
	if _, err := lead.Create(ctx, "/still", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
}

// TestMembership grows a cluster by a voter and shrinks it again.
func TestMembership(t *testing.T) {
	net := zk.NewMemNetwork()
	ctx := ctxT(t)
	base := zk.Config{Network: net, TickTime: zktest.TickTime, ElectionTimeout: zktest.ElectionTimeout}
	cfg1 := base
	cfg1.ID, cfg1.PeerAddr = "a", "a"
	n1, err := zk.Open(ctx, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	cfg2 := base
	cfg2.ID, cfg2.PeerAddr, cfg2.Peers = "b", "b", []zk.Peer{{ID: "a", Addr: "a"}}
	n2, err := zk.Open(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	conn, err := n1.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create(ctx, "/before", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
	if err := n1.AddVoter(ctx, "b", "b"); err != nil {
		t.Fatal(err)
	}
	c2, err := n2.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c2.Exists(ctx, "/before"); !ok || err != nil {
		t.Fatalf("new voter lacks earlier data: %v", err)
	}
	if got := len(n1.Stats().Servers); got != 2 {
		t.Fatalf("%d servers after AddVoter", got)
	}
	if err := n2.RemoveServer(ctx, "b"); err != nil && !errors.Is(err, zk.ErrClosing) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(zktest.WaitTimeout)
	for len(n1.Stats().Servers) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("b was not removed")
		}
		time.Sleep(time.Millisecond)
	}
	if err := n1.RemoveServer(ctx, "zz"); !errors.Is(err, zk.ErrUnknownServer) {
		t.Fatalf("removing a stranger: %v", err)
	}
}

// TestStalledFollowerDisk: a follower whose disk stops answering does not
// stop the ensemble, and catches up once its disk comes back.
func TestStalledFollowerDisk(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	c.StallDisk(f)
	conn := c.Connect(t, c.LeaderIndex())
	var last int64
	for i := range 20 {
		_, st, err := conn.CreateStat(ctx, "/n", nil, zk.FlagSequence, open)
		if err != nil {
			t.Fatalf("write %d with a follower's disk stalled: %v", i, err)
		}
		last = st.Czxid
	}
	if got := c.Node(f).LastZxid(); got >= last {
		t.Fatalf("the stalled follower applied zxid %#x", got)
	}
	c.ResumeDisk(f)
	c.WaitApplied(last)
}

// TestOutOfTouch: a Conn on a node cut off from the leader learns it is
// out of touch before its session could expire, while a Conn on a node in
// touch does not.
func TestOutOfTouch(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := ctxT(t)
	f := follower(c)
	cut := c.Connect(t, f)
	fine := c.Connect(t, c.LeaderIndex())
	lost := cut.OutOfTouch(ctx, zktest.SessionTimeout/2)
	kept := fine.OutOfTouch(ctx, zktest.SessionTimeout/2)
	c.Advance(2 * zktest.SessionTimeout)
	select {
	case <-lost:
		t.Fatal("out of touch while in touch")
	default:
	}
	c.Isolate(f)
	c.Advance(zktest.SessionTimeout/2 + zktest.TickTime)
	select {
	case <-lost:
	default:
		t.Fatal("a Conn cut off for half its timeout was not told")
	}
	select {
	case <-kept:
		t.Fatal("the leader's Conn was told it is out of touch")
	default:
	}
	// Ending the Conn closes the channel too.
	ended := fine.OutOfTouch(ctx, time.Hour)
	fine.Close()
	select {
	case <-ended:
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("ending the Conn did not close OutOfTouch")
	}
}

// TestCatchUpFromSnapshot: a node that comes back after the others have
// compacted their logs catches up from a snapshot, and is open as soon as
// it has installed it, with no later write needed to wake it.
func TestCatchUpFromSnapshot(t *testing.T) {
	c := zktest.NewCluster(t, 3, zktest.Configure(func(_ int, cfg *zk.Config) { cfg.TrailingLogs = 1 }))
	ctx := ctxT(t)
	f := follower(c)
	c.Kill(f)
	conn := c.Connect(t, c.LeaderIndex())
	for range 5 {
		if _, err := conn.Create(ctx, "/s", nil, zk.FlagSequence, open); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Size() {
		if n := c.Node(i); n != nil {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Restart(f) // fails after WaitTimeout if Open sleeps through the snapshot
	kids, _, err := c.Connect(t, f).Children(ctx, "/")
	if err != nil || len(kids) != 6 {
		t.Fatalf("restarted node sees %v, %v", kids, err)
	}
}

// TestWatchesFireOnSnapshotInstall: a follower cut off while the others
// move on and compact their logs catches up by installing a snapshot; the
// watches its sessions hold fire for every change the snapshot brought,
// as if it had applied the entries one by one.
func TestWatchesFireOnSnapshotInstall(t *testing.T) {
	c := zktest.NewCluster(t, 3, zktest.Configure(func(_ int, cfg *zk.Config) { cfg.TrailingLogs = 1 }))
	ctx := ctxT(t)
	lead := c.Connect(t, c.LeaderIndex())
	for _, p := range []string{"/a", "/c", "/d", "/r"} {
		if _, err := lead.Create(ctx, p, []byte("v0"), zk.FlagPersistent, open); err != nil {
			t.Fatal(err)
		}
	}
	f := follower(c)
	conn := c.Connect(t, f)
	if err := conn.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	_, _, dataW, err := conn.GetW(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	_, _, existW, err := conn.ExistsW(ctx, "/b")
	if err != nil {
		t.Fatal(err)
	}
	_, _, childW, err := conn.ChildrenW(ctx, "/c")
	if err != nil {
		t.Fatal(err)
	}
	_, _, goneW, err := conn.GetW(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	recW, err := conn.AddWatch(ctx, "/r", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}

	c.Isolate(f)
	lead = c.Connect(t, c.LeaderIndex())
	steps := []func() error{
		func() error { _, err := lead.Set(ctx, "/a", []byte("v1"), -1); return err },
		func() error { _, err := lead.Create(ctx, "/b", nil, zk.FlagPersistent, open); return err },
		func() error { _, err := lead.Create(ctx, "/c/x", nil, zk.FlagPersistent, open); return err },
		func() error { return lead.Delete(ctx, "/d", -1) },
		func() error { _, err := lead.Create(ctx, "/r/x", nil, zk.FlagPersistent, open); return err },
		func() error { _, err := lead.Create(ctx, "/r/x/y", nil, zk.FlagPersistent, open); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// With TrailingLogs 1 the leader keeps none of the entries the
	// follower missed: it can only catch up from the snapshot.
	if err := c.Leader().Snapshot(); err != nil {
		t.Fatal(err)
	}
	c.Heal()

	want := func(ch <-chan zk.Event, typ zk.EventType, path string) {
		t.Helper()
		select {
		case ev := <-ch:
			if ev.Type != typ || ev.Path != path {
				t.Fatalf("got %v on %s, want %v on %s", ev.Type, ev.Path, typ, path)
			}
		case <-ctx.Done():
			t.Fatalf("no %v on %s after the snapshot was installed", typ, path)
		}
	}
	want(dataW, zk.EventNodeDataChanged, "/a")
	want(existW, zk.EventNodeCreated, "/b")
	want(childW, zk.EventNodeChildrenChanged, "/c")
	want(goneW, zk.EventNodeDeleted, "/d")
	want(recW, zk.EventNodeCreated, "/r/x")
	want(recW, zk.EventNodeCreated, "/r/x/y")
	if got, _, err := conn.Get(ctx, "/a"); err != nil || string(got) != "v1" {
		t.Fatalf("follower reads /a = %q, %v after the events", got, err)
	}
}
