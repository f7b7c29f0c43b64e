package zk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

var gcACL = zk.WorldACL(zk.PermAll)

func gcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*zktest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func gcFollower(c *zktest.Cluster) int {
	l := c.LeaderIndex()
	for i := range c.Size() {
		if i != l && c.Node(i) != nil {
			return i
		}
	}
	return -1
}

// gcEventually polls cond until it holds, failing the test after
// zktest.WaitTimeout with the last explanation cond gave.
func gcEventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(zktest.WaitTimeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gcReadTree reads the subtree at root directly, after Sync, so that it is
// the tree as the ensemble has it.
func gcReadTree(ctx context.Context, conn *zk.Conn, root string) (map[string]zk.CachedNode, error) {
	if err := conn.Sync(ctx, root); err != nil {
		return nil, err
	}
	out := map[string]zk.CachedNode{}
	var walk func(p string) error
	walk = func(p string) error {
		data, st, err := conn.Get(ctx, p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		out[p] = zk.CachedNode{Data: data, Stat: *st}
		names, _, err := conn.Children(ctx, p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := walk(strings.TrimSuffix(p, "/") + "/" + n); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root)
}

// gcSameStat compares the Stat fields a TreeCache keeps current (all but
// the child fields).
func gcSameStat(a, b zk.Stat) bool {
	return a.Czxid == b.Czxid && a.Mzxid == b.Mzxid && a.Version == b.Version &&
		a.Ctime == b.Ctime && a.Mtime == b.Mtime && a.Aversion == b.Aversion &&
		a.EphemeralOwner == b.EphemeralOwner && a.DataLength == b.DataLength
}

// gcDiff describes how got differs from want, or returns "".
func gcDiff(want, got map[string]zk.CachedNode) string {
	var d []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			d = append(d, "missing "+p)
		case !bytes.Equal(g.Data, w.Data) || !gcSameStat(g.Stat, w.Stat):
			d = append(d, fmt.Sprintf("%s: %q mzxid %#x, want %q mzxid %#x", p, g.Data, g.Stat.Mzxid, w.Data, w.Stat.Mzxid))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			d = append(d, "extra "+p)
		}
	}
	sort.Strings(d)
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("... %d differences", len(d)))
	}
	return strings.Join(d, "; ")
}

// gcCacheDiff compares a cache with the tree read directly, Children
// included.
func gcCacheDiff(ctx context.Context, reader *zk.Conn, tc *zk.TreeCache) string {
	want, err := gcReadTree(ctx, reader, tc.Path())
	if err != nil {
		return err.Error()
	}
	if d := gcDiff(want, tc.Snapshot()); d != "" {
		return d
	}
	kids := map[string][]string{}
	for p := range want {
		if p != tc.Path() {
			i := strings.LastIndexByte(p, '/')
			parent := p[:max(i, 1)]
			kids[parent] = append(kids[parent], p[i+1:])
		}
	}
	for p := range want {
		got, ok := tc.Children(p)
		w := kids[p]
		slices.Sort(w)
		if !ok || !slices.Equal(got, w) && len(got)+len(w) > 0 {
			return fmt.Sprintf("Children(%s) = %v, %v; want %v", p, got, ok, w)
		}
	}
	return ""
}

// gcModel replays a cache's events into a map, checking their order.
type gcModel struct {
	mu       sync.Mutex
	nodes    map[string]zk.CachedNode
	markers  []zk.TreeEventType
	changes  int
	lastZxid int64
	err      error
	done     chan struct{}
}

func gcFollow(tc *zk.TreeCache) *gcModel {
	m := &gcModel{nodes: map[string]zk.CachedNode{}, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for e := range tc.Events() {
			m.mu.Lock()
			switch e.Type {
			case zk.TreeInitialized, zk.TreeResynced:
				m.markers = append(m.markers, e.Type)
			case zk.TreeNodeAdded, zk.TreeNodeUpdated, zk.TreeNodeRemoved:
				m.changes++
				m.check(e)
				if e.Type == zk.TreeNodeRemoved {
					delete(m.nodes, e.Path)
				} else {
					m.nodes[e.Path] = zk.CachedNode{Data: e.Data, Stat: *e.Stat}
				}
			}
			m.mu.Unlock()
		}
	}()
	return m
}

// check records the first event that breaks TreeCache's promises: watch
// events in strictly increasing zxid order, each with the Stat made by
// that zxid, and no node moving backwards.
func (m *gcModel) check(e zk.TreeEvent) {
	if m.err != nil {
		return
	}
	old, had := m.nodes[e.Path]
	if !e.Load {
		if e.Zxid < m.lastZxid {
			m.err = fmt.Errorf("%v %s zxid %#x after %#x", e.Type, e.Path, e.Zxid, m.lastZxid)
		}
		m.lastZxid = e.Zxid
		if e.Type != zk.TreeNodeRemoved && e.Stat.Mzxid != e.Zxid {
			m.err = fmt.Errorf("%v %s carries mzxid %#x, not its zxid %#x", e.Type, e.Path, e.Stat.Mzxid, e.Zxid)
		}
	}
	switch e.Type {
	case zk.TreeNodeRemoved:
		if !had {
			m.err = fmt.Errorf("removed %s, which was not there", e.Path)
		}
	case zk.TreeNodeUpdated:
		if !had || old.Stat.Mzxid >= e.Stat.Mzxid {
			m.err = fmt.Errorf("update of %s to mzxid %#x from %#x (had %v)", e.Path, e.Stat.Mzxid, old.Stat.Mzxid, had)
		}
	case zk.TreeNodeAdded:
		if had && old.Stat.Czxid >= e.Stat.Czxid {
			m.err = fmt.Errorf("added %s again", e.Path)
		}
	}
}

func (m *gcModel) snapshot() (map[string]zk.CachedNode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps2(m.nodes), m.err
}

func maps2(m map[string]zk.CachedNode) map[string]zk.CachedNode {
	out := make(map[string]zk.CachedNode, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestTreeCacheLoadAndEvents: the initial load is reported node by node
// in path order, then TreeInitialized; later changes made on other nodes
// come in zxid order, each with the data and Stat it made.
func TestTreeCacheLoadAndEvents(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := gcCtx(t)
	w := c.Connect(t, 0)
	for _, p := range []string{"/app", "/app/b", "/app/a", "/app/a/x"} {
		if _, err := w.Create(ctx, p, []byte("v:"+p), zk.FlagPersistent, gcACL); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := zk.NewTreeCache(ctx, c.Connect(t, 1), "/app", zk.WithTreeEvents())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	next := func() zk.TreeEvent {
		t.Helper()
		select {
		case e, ok := <-tc.Events():
			if !ok {
				t.Fatal("events closed")
			}
			return e
		case <-time.After(zktest.WaitTimeout):
			t.Fatal("no event")
		}
		return zk.TreeEvent{}
	}
	for _, p := range []string{"/app", "/app/a", "/app/a/x", "/app/b"} {
		e := next()
		if e.Type != zk.TreeNodeAdded || e.Path != p || string(e.Data) != "v:"+p {
			t.Fatalf("load: %v %s %q, want TreeNodeAdded %s", e.Type, e.Path, e.Data, p)
		}
	}
	if e := next(); e.Type != zk.TreeInitialized {
		t.Fatalf("after the load: %v", e.Type)
	}
	if data, st, ok := tc.Get("/app/a/x"); !ok || string(data) != "v:/app/a/x" || st.Version != 0 {
		t.Fatalf("Get: %q %v %v", data, st, ok)
	}
	if kids, ok := tc.Children("/app"); !ok || !slices.Equal(kids, []string{"a", "b"}) {
		t.Fatalf("Children: %v %v", kids, ok)
	}
	if _, _, ok := tc.Get("/other"); ok {
		t.Fatal("Get outside the subtree")
	}

	// Each change, made from a node other than the cache's, is awaited
	// before the next: the cache reports it exactly. (Changes made faster
	// than the cache reads may be reported as the later state only.)
	w2 := c.Connect(t, 2)
	var last int64
	expect := func(typ zk.TreeEventType, path, data string, zxid int64) {
		t.Helper()
		e := next()
		if e.Type != typ || e.Path != path || string(e.Data) != data || e.Zxid != zxid || e.Load {
			t.Fatalf("got %v %s %q zxid %#x load %v, want %v %s %q zxid %#x", e.Type, e.Path, e.Data, e.Zxid, e.Load, typ, path, data, zxid)
		}
		if typ != zk.TreeNodeRemoved && e.Stat.Mzxid != zxid {
			t.Fatalf("%v %s: Stat.Mzxid %#x, want %#x", typ, path, e.Stat.Mzxid, zxid)
		}
		if e.Zxid <= last {
			t.Fatalf("zxid %#x after %#x", e.Zxid, last)
		}
		last = e.Zxid
	}
	_, st, err := w2.CreateStat(ctx, "/app/c", []byte("1"), zk.FlagPersistent, gcACL)
	if err != nil {
		t.Fatal(err)
	}
	expect(zk.TreeNodeAdded, "/app/c", "1", st.Mzxid)
	if st, err = w.Set(ctx, "/app/c", []byte("2"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	expect(zk.TreeNodeUpdated, "/app/c", "2", st.Mzxid)
	if err := w2.Delete(ctx, "/app/a/x", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, st, err = w2.Exists(ctx, "/app/a"); err != nil {
		t.Fatal(err)
	}
	expect(zk.TreeNodeRemoved, "/app/a/x", "v:/app/a/x", st.Pzxid)
	if st, err = w.Set(ctx, "/app", []byte("root"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	expect(zk.TreeNodeUpdated, "/app", "root", st.Mzxid)
	if kids, _ := tc.Children("/app/a"); len(kids) != 0 {
		t.Fatalf("Children(/app/a) after delete: %v", kids)
	}
}

// TestTreeCacheAbsentRoot: a cache of a path that does not exist yet is
// empty, and fills as the path and its subtree are created.
func TestTreeCacheAbsentRoot(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := gcCtx(t)
	conn := c.Connect(t, 0)
	tc, err := zk.NewTreeCache(ctx, conn, "/later/")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if len(tc.Snapshot()) != 0 {
		t.Fatalf("cache of an absent path: %v", tc.Snapshot())
	}
	for _, p := range []string{"/later", "/later/a", "/later/a/b"} {
		if _, err := conn.Create(ctx, p, []byte(p), zk.FlagPersistent, gcACL); err != nil {
			t.Fatal(err)
		}
	}
	gcEventually(t, "cache of a created path", func() string { return gcCacheDiff(ctx, conn, tc) })
	if err := conn.Delete(ctx, "/later/a/b", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := conn.Delete(ctx, "/later/a", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	gcEventually(t, "cache after deletes", func() string { return gcCacheDiff(ctx, conn, tc) })
}

// gcRandomWriter makes n random creates, sets and deletes under root,
// three levels deep, ignoring the failures that races between writers
// cause. Leaves are ephemeral when eph is set.
func gcRandomWriter(ctx context.Context, conn *zk.Conn, root string, seed uint64, n int, eph bool, mid func()) error {
	r := rand.New(rand.NewPCG(seed, seed))
	pick := func() string {
		p := root + "/" + string(rune('a'+r.IntN(4)))
		if r.IntN(3) > 0 {
			p += "/" + string(rune('x'+r.IntN(3)))
			if r.IntN(2) > 0 {
				p += "/" + string(rune('1'+r.IntN(2)))
			}
		}
		return p
	}
	for i := range n {
		if i == n/2 && mid != nil {
			mid()
		}
		p := pick()
		data := []byte(fmt.Sprintf("%d-%d", seed, i))
		var err error
		switch r.IntN(10) {
		case 0, 1, 2, 3:
			mode := zk.FlagPersistent
			if eph && strings.Count(p, "/") == 4 {
				mode = zk.FlagEphemeral
			}
			_, err = conn.Create(ctx, p, data, mode, gcACL)
		case 4, 5, 6, 7:
			_, err = conn.Set(ctx, p, data, zk.AnyVersion)
		default:
			err = conn.Delete(ctx, p, zk.AnyVersion)
		}
		switch {
		case err == nil, errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrNodeExists),
			errors.Is(err, zk.ErrNotEmpty), errors.Is(err, zk.ErrNoChildrenForEphemerals):
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, zk.ErrConnectionLoss), errors.Is(err, zk.ErrClosing) && gcAlive(conn):
			// A write in flight when a node died may or may not have
			// happened: the cache must converge either way. (The core
			// reports ErrClosing for it though the Conn moves on.)
		default:
			return fmt.Errorf("writer %d op %d on %s: %w", seed, i, p, err)
		}
	}
	return nil
}

func gcAlive(conn *zk.Conn) bool {
	select {
	case <-conn.Done():
		return false
	default:
		return true
	}
}

// TestTreeCacheConvergesUnderFailover: three writers on three nodes make
// random creates, sets and deletes (with ephemeral leaves) while the
// cache's node is killed and its Conn moves to another node. The cache —
// and the model rebuilt from its events alone — end equal to a direct
// read after Sync, and the events come in zxid order.
func TestTreeCacheConvergesUnderFailover(t *testing.T) {
	for _, kill := range []string{"follower", "leader"} {
		t.Run(kill, func(t *testing.T) {
			c := zktest.NewCluster(t, 3)
			ctx := gcCtx(t)
			victim := gcFollower(c)
			if kill == "leader" {
				victim = c.LeaderIndex()
			}
			setup := c.Connect(t, c.LeaderIndex())
			if _, err := setup.Create(ctx, "/t", nil, zk.FlagPersistent, gcACL); err != nil {
				t.Fatal(err)
			}
			// Some tree before the cache starts, so the load has work.
			if err := gcRandomWriter(ctx, setup, "/t", 99, 60, false, nil); err != nil {
				t.Fatal(err)
			}
			c.WaitApplied(c.Leader().LastZxid())
			cacheConn := c.Connect(t, victim, zk.WithFailover(c.Nodes()...))
			tc, err := zk.NewTreeCache(ctx, cacheConn, "/t", zk.WithTreeEvents())
			if err != nil {
				t.Fatal(err)
			}
			model := gcFollow(tc)

			// At half way the cache's node is killed. A follower dies with
			// writes in flight; the leader is killed while the writers
			// pause, because Node.Close of a leader with a write of its own
			// in flight can hang in the core (see the report).
			var paused sync.WaitGroup
			paused.Add(3)
			resume := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			writers := make([]*zk.Conn, 3)
			for i := range 3 {
				writers[i] = c.Connect(t, i, zk.WithFailover(c.Nodes()...))
				mid := func() { paused.Done() }
				if kill == "leader" {
					mid = func() {
						paused.Done()
						select {
						case <-resume:
						case <-ctx.Done():
						}
					}
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- gcRandomWriter(ctx, writers[i], "/t", uint64(i+1), 200, i == 1, mid)
				}()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			allPaused := make(chan struct{})
			go func() { paused.Wait(); close(allPaused) }()
			select {
			case <-allPaused:
				c.Kill(victim)
			case <-finished: // a writer failed early; reported below
			case <-ctx.Done():
			}
			close(resume)
			<-finished
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// The ephemeral leaves go with their session.
			if err := writers[1].Close(); err != nil {
				t.Fatal(err)
			}
			reader := c.Connect(t, c.LeaderIndex())
			gcEventually(t, "cache converges", func() string { return gcCacheDiff(ctx, reader, tc) })
			gcEventually(t, "events converge", func() string {
				want, err := gcReadTree(ctx, reader, "/t")
				if err != nil {
					return err.Error()
				}
				got, err := model.snapshot()
				if err != nil {
					t.Fatal(err)
				}
				return gcDiff(want, got)
			})
			if tc.Err() != nil {
				t.Fatalf("cache stopped: %v", tc.Err())
			}
			snap := tc.Snapshot()
			if err := tc.Close(); err != nil || tc.Err() != nil {
				t.Fatalf("Close: %v, Err %v", err, tc.Err())
			}
			<-model.done
			model.mu.Lock()
			t.Logf("killed the %s; %d nodes cached, %d change events, markers %v", kill, len(snap), model.changes, model.markers)
			model.mu.Unlock()
		})
	}
}

// TestTreeCacheEventsLost: when the cache's Conn moves to a node whose log
// of recent changes no longer reaches back (EventWatchEventsLost), the
// cache re-reads the subtree, reports the differences and TreeResynced,
// and converges.
func TestTreeCacheEventsLost(t *testing.T) {
	c := zktest.NewCluster(t, 3, zktest.Configure(func(_ int, cfg *zk.Config) { cfg.ReplayLogSize = 5 }))
	ctx := gcCtx(t)
	f := gcFollower(c)
	writer := c.Connect(t, c.LeaderIndex())
	for _, p := range []string{"/lost", "/lost/gone", "/lost/kept"} {
		if _, err := writer.Create(ctx, p, []byte("0"), zk.FlagPersistent, gcACL); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitApplied(c.Leader().LastZxid())
	tc, err := zk.NewTreeCache(ctx, c.Connect(t, f, zk.WithFailover(c.Nodes()...)), "/lost", zk.WithTreeEvents())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	model := gcFollow(tc)
	var others []int
	for i := range c.Size() {
		if i != f {
			others = append(others, i)
		}
	}
	c.Partition([]int{f}, others)
	if err := writer.Delete(ctx, "/lost/gone", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := writer.Set(ctx, "/lost/kept", []byte(fmt.Sprint(i)), zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Create(ctx, fmt.Sprintf("/lost/n%02d", i), nil, zk.FlagPersistent, gcACL); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill(f)
	c.Heal()
	gcEventually(t, "cache converges", func() string { return gcCacheDiff(ctx, writer, tc) })
	gcEventually(t, "events converge and report the resync", func() string {
		want, err := gcReadTree(ctx, writer, "/lost")
		if err != nil {
			return err.Error()
		}
		got, err := model.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if d := gcDiff(want, got); d != "" {
			return d
		}
		model.mu.Lock()
		defer model.mu.Unlock()
		if !slices.Contains(model.markers, zk.TreeResynced) {
			return fmt.Sprintf("markers %v, no TreeResynced", model.markers)
		}
		return ""
	})
}

// TestTreeCacheWatchRemoved: RemoveWatches cannot tell two caches' watches
// on one Conn and path apart; when one cache closes, the other sets its
// watch again, re-reads, and keeps following the tree.
func TestTreeCacheWatchRemoved(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := gcCtx(t)
	conn := c.Connect(t, 0)
	if _, err := conn.Create(ctx, "/w", nil, zk.FlagPersistent, gcACL); err != nil {
		t.Fatal(err)
	}
	a, err := zk.NewTreeCache(ctx, conn, "/w")
	if err != nil {
		t.Fatal(err)
	}
	b, err := zk.NewTreeCache(ctx, conn, "/w", zk.WithTreeEvents())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	model := gcFollow(b)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := conn.Create(ctx, fmt.Sprintf("/w/%d", i), nil, zk.FlagPersistent, gcACL); err != nil {
			t.Fatal(err)
		}
	}
	gcEventually(t, "the other cache converges", func() string { return gcCacheDiff(ctx, conn, b) })
	gcEventually(t, "and says it re-read", func() string {
		model.mu.Lock()
		defer model.mu.Unlock()
		if !slices.Contains(model.markers, zk.TreeResynced) {
			return fmt.Sprintf("markers %v", model.markers)
		}
		return ""
	})
	if _, err := conn.Create(ctx, "/w/after", nil, zk.FlagPersistent, gcACL); err != nil {
		t.Fatal(err)
	}
	gcEventually(t, "the other cache goes on", func() string { return gcCacheDiff(ctx, conn, b) })
}

// TestTreeCacheStops: a cache stops with its ctx (Err is the ctx's error),
// with Close (Err nil), and with its session (Err wraps why), closing Done
// and Events every time, and keeps its last state.
func TestTreeCacheStops(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := gcCtx(t)
	conn := c.Connect(t, 0)
	if _, err := conn.Create(ctx, "/s", []byte("x"), zk.FlagPersistent, gcACL); err != nil {
		t.Fatal(err)
	}
	closed := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(zktest.WaitTimeout):
			t.Fatalf("%s: not done", what)
		}
	}
	drained := func(what string, tc *zk.TreeCache) {
		t.Helper()
		timeout := time.After(zktest.WaitTimeout)
		for {
			select {
			case _, ok := <-tc.Events():
				if !ok {
					return
				}
			case <-timeout:
				t.Fatalf("%s: events not closed", what)
			}
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	tc, err := zk.NewTreeCache(cctx, conn, "/s", zk.WithTreeEvents())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	closed("ctx", tc.Done())
	drained("ctx", tc)
	if !errors.Is(tc.Err(), context.Canceled) {
		t.Fatalf("Err after ctx: %v", tc.Err())
	}
	if data, _, ok := tc.Get("/s"); !ok || string(data) != "x" {
		t.Fatal("a stopped cache lost its state")
	}

	tc, err = zk.NewTreeCache(ctx, conn, "/s")
	if err != nil {
		t.Fatal(err)
	}
	tc.Close()
	closed("Close", tc.Done())
	if tc.Err() != nil {
		t.Fatalf("Err after Close: %v", tc.Err())
	}

	other := c.Connect(t, 0)
	tc, err = zk.NewTreeCache(ctx, other, "/s", zk.WithTreeEvents())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	other.Close()
	closed("session", tc.Done())
	drained("session", tc)
	if err := tc.Err(); !errors.Is(err, zk.ErrClosing) && !errors.Is(err, zk.ErrSessionExpired) {
		t.Fatalf("Err after the session ended: %v", err)
	}
	if _, err := zk.NewTreeCache(ctx, other, "/s"); !errors.Is(err, zk.ErrClosing) {
		t.Fatalf("NewTreeCache on a closed Conn: %v", err)
	}
}
