package zk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

func gcSame(a, b map[string][]byte) bool { return maps.EqualFunc(a, b, bytes.Equal) }

func gcShow(m map[string][]byte) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s ", k, m[k])
	}
	return "{" + string(bytes.TrimSpace(b.Bytes())) + "}"
}

// gcSnaps reads a Watch channel, checking that consecutive snapshots
// differ.
type gcSnaps struct {
	t    *testing.T
	ch   <-chan map[string][]byte
	last map[string][]byte
	n    int
}

func (s *gcSnaps) take(m map[string][]byte) {
	if s.n > 0 && gcSame(m, s.last) {
		s.t.Fatalf("snapshot %d repeats the one before: %s", s.n, gcShow(m))
	}
	s.last, s.n = m, s.n+1
}

// until reads snapshots until one equals want; tick, if set, runs while
// nothing arrives (to move the fake clock).
func (s *gcSnaps) until(want map[string][]byte, tick func()) {
	s.t.Helper()
	deadline := time.After(zktest.WaitTimeout)
	for {
		var poll <-chan time.Time
		if tick != nil {
			poll = time.After(10 * time.Millisecond)
		}
		select {
		case m, ok := <-s.ch:
			if !ok {
				s.t.Fatalf("watch closed waiting for %s", gcShow(want))
			}
			s.take(m)
			if gcSame(m, want) {
				return
			}
		case <-poll:
			tick()
		case <-deadline:
			s.t.Fatalf("no snapshot %s; last %s", gcShow(want), gcShow(s.last))
		}
	}
}

// TestGroupMembershipAcrossNodes: members join from three nodes; a
// watcher on one of them sees the full list change as one member leaves
// by Leave, as another's node dies (it stays a member until its session
// expires, on the fake clock) and as a member updates its data; Members
// agrees after Sync; the watch closes with its ctx.
func TestGroupMembershipAcrossNodes(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := gcCtx(t)
	l := c.LeaderIndex()
	f := gcFollower(c)
	other := 3 - l - f
	watcher := c.Connect(t, other)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	ch, err := zk.NewGroup(watcher, "/services/api").Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	snaps := &gcSnaps{t: t, ch: ch}
	snaps.until(map[string][]byte{}, nil) // the group does not exist yet

	join := func(i int, name string) (*zk.Conn, *zk.Membership) {
		conn := c.Connect(t, i)
		m, err := zk.NewGroup(conn, "/services/api").Join(ctx, name, []byte(fmt.Sprintf("node%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		return conn, m
	}
	_, a := join(l, "a")
	bConn, _ := join(f, "b")
	_, cm := join(other, "c")
	snaps.until(map[string][]byte{"a": []byte(fmt.Sprint("node", l)), "b": []byte(fmt.Sprint("node", f)), "c": []byte(fmt.Sprint("node", other))}, nil)

	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"b": []byte(fmt.Sprint("node", f)), "c": []byte(fmt.Sprint("node", other))}
	snaps.until(want, nil)

	// b's node dies: b stays a member while its session may live...
	bSession := bConn.SessionID()
	c.Kill(f)
	g := zk.NewGroup(watcher, "/services/api")
	if err := watcher.Sync(ctx, "/services/api"); err != nil {
		t.Fatal(err)
	}
	if m, err := g.Members(ctx); err != nil || !gcSame(m, want) {
		t.Fatalf("members right after b's node died: %s, %v", gcShow(m), err)
	}
	// ...and leaves when the leader expires it, past the session timeout.
	start := c.Clock().Now()
	delete(want, "b")
	snaps.until(want, func() { c.Advance(zktest.TickTime) })
	if waited := c.Clock().Now().Sub(start); waited < zktest.SessionTimeout {
		t.Fatalf("session %#x expired after %v, under its timeout", bSession, waited)
	}
	if err := watcher.Sync(ctx, "/services/api"); err != nil {
		t.Fatal(err)
	}
	if m, err := g.Members(ctx); err != nil || !gcSame(m, want) {
		t.Fatalf("members after expiry: %s, %v", gcShow(m), err)
	}

	if err := cm.Update(ctx, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	snaps.until(map[string][]byte{"c": []byte("v2")}, nil)

	stopWatch()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("watch did not close with its ctx")
	}
	t.Logf("%d snapshots", snaps.n)
}

// TestGroupJoinLeaveUpdate: names are unique in a group; Leave is
// idempotent; a Membership never touches a member of the same name that
// another session added after it left.
func TestGroupJoinLeaveUpdate(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := gcCtx(t)
	c1, c2 := c.Connect(t, 0), c.Connect(t, 0)
	g1, g2 := zk.NewGroup(c1, "/g/"), zk.NewGroup(c2, "/g")
	if m, err := g1.Members(ctx); err != nil || len(m) != 0 {
		t.Fatalf("members of an absent group: %v %v", m, err)
	}
	for _, bad := range []string{"", "a/b"} {
		if _, err := g1.Join(ctx, bad, nil); !errors.Is(err, zk.ErrBadArguments) {
			t.Fatalf("join %q: %v", bad, err)
		}
	}
	m1, err := g1.Join(ctx, "x", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if m1.Path() != "/g/x" || m1.Name() != "x" {
		t.Fatalf("membership %s %s", m1.Path(), m1.Name())
	}
	if _, err := g2.Join(ctx, "x", nil); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("second join of x: %v", err)
	}
	if _, err := g1.Join(ctx, "x", nil); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("same session joining x again: %v", err)
	}
	if err := m1.Update(ctx, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if m, err := g2.Members(ctx); err != nil || !gcSame(m, map[string][]byte{"x": []byte("2")}) {
		t.Fatalf("members: %s %v", gcShow(m), err)
	}
	if err := m1.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m1.Leave(ctx); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if _, err := g2.Join(ctx, "x", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	if err := m1.Update(ctx, []byte("mine")); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("Update after Leave: %v", err)
	}
	if err := m1.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := g1.Members(ctx); err != nil || !gcSame(m, map[string][]byte{"x": []byte("theirs")}) {
		t.Fatalf("another session's x was touched: %s %v", gcShow(m), err)
	}
	if _, err := g1.Join(ctx, "y", nil); err != nil {
		t.Fatal(err)
	}
	c1.Close() // y goes with the session
	if m, err := g2.Members(ctx); err != nil || !gcSame(m, map[string][]byte{"x": []byte("theirs")}) {
		t.Fatalf("after the session closed: %s %v", gcShow(m), err)
	}
}

// TestGroupWatchEndsWithSession: the Watch channel closes when the
// watching Conn's session ends.
func TestGroupWatchEndsWithSession(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := gcCtx(t)
	conn := c.Connect(t, 0)
	ch, err := zk.NewGroup(conn, "/g").Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := <-ch; len(m) != 0 {
		t.Fatalf("first snapshot %s", gcShow(m))
	}
	conn.Close()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("watch did not close with its session")
	}
}
