package zk_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkraft/zk"
)

// h2Recv waits for one event on ch and checks its type and path.
func h2Recv(t *testing.T, ch <-chan zk.Event, typ zk.EventType, path string) zk.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed, want %v %s", typ, path)
		}
		if ev.Type != typ || ev.Path != path {
			t.Fatalf("event %v %s, want %v %s", ev.Type, ev.Path, typ, path)
		}
		return ev
	case <-time.After(h2Wait):
		t.Fatalf("no event, want %v %s", typ, path)
	}
	return zk.Event{}
}

// h2Closed checks that ch is closed with nothing left in it.
func h2Closed(t *testing.T, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("event %+v, want the channel closed", ev)
		}
	case <-time.After(h2Wait):
		t.Fatal("channel not closed")
	}
}

// h2None checks that ch has no event ready now. Events are delivered when
// the write is applied, before the write returns, so this needs no wait.
func h2None(t *testing.T, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %v %s", ev.Type, ev.Path)
		}
		t.Fatal("channel closed unexpectedly")
	default:
	}
}

// h2Events receives want's events from ch, in order, then checks nothing
// else is ready.
func h2Events(t *testing.T, ch <-chan zk.Event, want ...h2Ev) {
	t.Helper()
	for _, w := range want {
		h2Recv(t, ch, w.typ, w.path)
	}
	h2None(t, ch)
}

type h2Ev struct {
	typ  zk.EventType
	path string
}

func TestWatchTriggerTable(t *testing.T) {
	n, writer := newTestConn(t)
	watcher := h2Conn(t, n)
	ctx := h2Ctx(t)
	const (
		none     = zk.EventType(0)
		created  = zk.EventNodeCreated
		deleted  = zk.EventNodeDeleted
		changed  = zk.EventNodeDataChanged
		children = zk.EventNodeChildrenChanged
	)
	create := func(p string) func() error {
		return func() error { _, err := writer.Create(ctx, p, nil, zk.FlagPersistent, h2Open); return err }
	}
	set := func(p string) func() error {
		return func() error { _, err := writer.Set(ctx, p, []byte("x"), zk.AnyVersion); return err }
	}
	del := func(p string) func() error { return func() error { return writer.Delete(ctx, p, zk.AnyVersion) } }
	setACL := func(p string) func() error {
		return func() error { _, err := writer.SetACL(ctx, p, zk.WorldACL(zk.PermAll), zk.AnyVersion); return err }
	}
	multi := func(ops ...zk.Op) func() error {
		return func() error { _, err := writer.Multi(ctx, ops...); return err }
	}
	tests := []struct {
		name   string
		setup  []string // nodes to create first, relative to the row's dir
		watch  string   // "get", "exists", "children"
		on     string   // relative path of the watch
		action func(dir string) func() error
		want   zk.EventType // none: no event, and the watch stays armed
		at     string       // relative path of the event
		// rearm fires a still-armed watch, with event rearmWant at at.
		rearm     func(dir string) func() error
		rearmWant zk.EventType
	}{
		{"get/set", []string{"x"}, "get", "x", func(d string) func() error { return set(d + "/x") }, changed, "x", nil, 0},
		{"get/delete", []string{"x"}, "get", "x", func(d string) func() error { return del(d + "/x") }, deleted, "x", nil, 0},
		{"get/create child", []string{"x"}, "get", "x", func(d string) func() error { return create(d + "/x/c") }, none, "x", func(d string) func() error { return set(d + "/x") }, changed},
		{"get/delete child", []string{"x", "x/c"}, "get", "x", func(d string) func() error { return del(d + "/x/c") }, none, "x", func(d string) func() error { return del(d + "/x") }, deleted},
		{"get/setACL", []string{"x"}, "get", "x", func(d string) func() error { return setACL(d + "/x") }, none, "x", func(d string) func() error { return set(d + "/x") }, changed},
		{"exists/create", nil, "exists", "x", func(d string) func() error { return create(d + "/x") }, created, "x", nil, 0},
		{"exists/set", []string{"x"}, "exists", "x", func(d string) func() error { return set(d + "/x") }, changed, "x", nil, 0},
		{"exists/delete", []string{"x"}, "exists", "x", func(d string) func() error { return del(d + "/x") }, deleted, "x", nil, 0},
		{"exists/create child", []string{"x"}, "exists", "x", func(d string) func() error { return create(d + "/x/c") }, none, "x", func(d string) func() error { return set(d + "/x") }, changed},
		{"exists/create sibling", nil, "exists", "x", func(d string) func() error { return create(d + "/y") }, none, "x", func(d string) func() error { return create(d + "/x") }, created},
		{"exists missing/failed create", nil, "exists", "x/y", func(d string) func() error {
			return func() error {
				if err := create(d + "/x/y")(); err == nil {
					return errors.New("create without parent succeeded")
				}
				return nil
			}
		}, none, "x/y", func(d string) func() error {
			return multi(zk.CreateOp(d+"/x", nil, zk.FlagPersistent, h2Open), zk.CreateOp(d+"/x/y", nil, zk.FlagPersistent, h2Open))
		}, created},
		{"children/create child", []string{"x"}, "children", "x", func(d string) func() error { return create(d + "/x/c") }, children, "x", nil, 0},
		{"children/create sequential child", []string{"x"}, "children", "x", func(d string) func() error {
			return func() error {
				_, err := writer.Create(ctx, d+"/x/s-", nil, zk.FlagEphemeralSequential, h2Open)
				return err
			}
		}, children, "x", nil, 0},
		{"children/delete child", []string{"x", "x/c"}, "children", "x", func(d string) func() error { return del(d + "/x/c") }, children, "x", nil, 0},
		{"children/delete node", []string{"x"}, "children", "x", func(d string) func() error { return del(d + "/x") }, deleted, "x", nil, 0},
		{"children/set node", []string{"x"}, "children", "x", func(d string) func() error { return set(d + "/x") }, none, "x", func(d string) func() error { return create(d + "/x/c") }, children},
		{"children/set child", []string{"x", "x/c"}, "children", "x", func(d string) func() error { return set(d + "/x/c") }, none, "x", func(d string) func() error { return del(d + "/x/c") }, children},
		{"children/grandchild", []string{"x", "x/c"}, "children", "x", func(d string) func() error { return create(d + "/x/c/g") }, none, "x", func(d string) func() error { return create(d + "/x/c2") }, children},
		{"children/multi create+delete", []string{"x"}, "children", "x", func(d string) func() error {
			return multi(zk.CreateOp(d+"/x/a", nil, zk.FlagPersistent, h2Open), zk.CreateOp(d+"/x/b", nil, zk.FlagPersistent, h2Open), zk.DeleteOp(d+"/x/a", 0))
		}, children, "x", nil, 0},
		{"children of root/create", nil, "children", "", func(d string) func() error { return create(d + "/x") }, children, "", nil, 0},
		{"get/failed set", []string{"x"}, "get", "x", func(d string) func() error {
			return func() error {
				if _, err := writer.Set(ctx, d+"/x", nil, 42); !errors.Is(err, zk.ErrBadVersion) {
					return fmt.Errorf("set with a bad version: %v", err)
				}
				return nil
			}
		}, none, "x", func(d string) func() error { return set(d + "/x") }, changed},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := fmt.Sprintf("/trig%d", i)
			h2Create(t, writer, dir, nil, zk.FlagPersistent, h2Open)
			for _, p := range tc.setup {
				h2Create(t, writer, dir+"/"+p, nil, zk.FlagPersistent, h2Open)
			}
			on := dir
			if tc.on != "" {
				on = dir + "/" + tc.on
			}
			var (
				ch  <-chan zk.Event
				err error
			)
			switch tc.watch {
			case "get":
				_, _, ch, err = watcher.GetW(ctx, on)
			case "exists":
				_, _, ch, err = watcher.ExistsW(ctx, on)
			case "children":
				_, _, ch, err = watcher.ChildrenW(ctx, on)
			}
			if err != nil || ch == nil {
				t.Fatalf("%sW %s: %v", tc.watch, on, err)
			}
			if err := tc.action(dir)(); err != nil {
				t.Fatalf("action: %v", err)
			}
			want := tc.want
			if want == none {
				h2None(t, ch)
				want = tc.rearmWant
				if err := tc.rearm(dir)(); err != nil {
					t.Fatalf("rearm: %v", err)
				}
			}
			ev := h2Recv(t, ch, want, on)
			if ev.State != zk.StateConnected || ev.Err != nil {
				t.Errorf("event %+v", ev)
			}
			if ev.Zxid != n.LastZxid() {
				t.Errorf("event zxid %d, last zxid %d", ev.Zxid, n.LastZxid())
			}
			// One-shot: the channel closes after its event, and further
			// changes do not reach it.
			h2Closed(t, ch)
			if err := create(dir + "/after")(); err != nil {
				t.Fatal(err)
			}
			if ok, _, _ := writer.Exists(ctx, on); ok {
				_ = set(on)()
			}
			if err := watcher.RemoveWatches(ctx, on, zk.WatcherTypeAny); !errors.Is(err, zk.ErrNoWatcher) {
				t.Errorf("a fired one-shot watch is still registered: %v", err)
			}
		})
	}
}

func TestWatchSameSessionAndDuplicates(t *testing.T) {
	_, c := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, c, "/d", nil, zk.FlagPersistent, h2Open)
	_, _, g1, _ := c.GetW(ctx, "/d")
	_, _, g2, _ := c.GetW(ctx, "/d")
	_, _, e1, _ := c.ExistsW(ctx, "/d")
	_, _, k1, _ := c.ChildrenW(ctx, "/d")
	// The writer's own session gets its events too.
	if _, err := c.Set(ctx, "/d", []byte("1"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan zk.Event{g1, g2, e1} {
		h2Recv(t, ch, zk.EventNodeDataChanged, "/d")
		h2Closed(t, ch)
	}
	h2None(t, k1)
	if err := c.Delete(ctx, "/d", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Recv(t, k1, zk.EventNodeDeleted, "/d")
	h2Closed(t, k1)
}

func TestWatchPersistent(t *testing.T) {
	h2ZkraftOnly(t, "ZooKeeper 3.8 removes a persistent watch with WatcherType Data; the Persistent types are 3.9's")
	n, w := newTestConn(t)
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	ch, err := w.AddWatch(ctx, "/p", zk.AddWatchModePersistent)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		do   func() error
		want []h2Ev
	}{
		{func() error { _, err := c.Create(ctx, "/p", nil, zk.FlagPersistent, h2Open); return err }, []h2Ev{{zk.EventNodeCreated, "/p"}}},
		{func() error { _, err := c.Set(ctx, "/p", []byte("a"), zk.AnyVersion); return err }, []h2Ev{{zk.EventNodeDataChanged, "/p"}}},
		{func() error { _, err := c.Set(ctx, "/p", []byte("b"), zk.AnyVersion); return err }, []h2Ev{{zk.EventNodeDataChanged, "/p"}}},
		{func() error { _, err := c.Create(ctx, "/p/c", nil, zk.FlagPersistent, h2Open); return err }, []h2Ev{{zk.EventNodeChildrenChanged, "/p"}}},
		{func() error { _, err := c.Set(ctx, "/p/c", []byte("a"), zk.AnyVersion); return err }, nil},
		{func() error { _, err := c.Create(ctx, "/p/c/g", nil, zk.FlagPersistent, h2Open); return err }, nil},
		{func() error { return c.Delete(ctx, "/p/c/g", zk.AnyVersion) }, nil},
		{func() error { _, err := c.Create(ctx, "/pp", nil, zk.FlagPersistent, h2Open); return err }, nil},
		{func() error { _, err := c.SetACL(ctx, "/p", h2Open, zk.AnyVersion); return err }, nil},
		{func() error { return c.Delete(ctx, "/p/c", zk.AnyVersion) }, []h2Ev{{zk.EventNodeChildrenChanged, "/p"}}},
		{func() error { return c.Delete(ctx, "/p", zk.AnyVersion) }, []h2Ev{{zk.EventNodeDeleted, "/p"}}},
		{func() error { _, err := c.Create(ctx, "/p", nil, zk.FlagPersistent, h2Open); return err }, []h2Ev{{zk.EventNodeCreated, "/p"}}},
		// One multi: the node's and its children's events, in op order.
		{func() error {
			_, err := c.Multi(ctx, zk.CreateOp("/p/x", nil, zk.FlagPersistent, h2Open), zk.SetOp("/p", nil, zk.AnyVersion), zk.DeleteOp("/p/x", zk.AnyVersion))
			return err
		}, []h2Ev{{zk.EventNodeChildrenChanged, "/p"}, {zk.EventNodeDataChanged, "/p"}, {zk.EventNodeChildrenChanged, "/p"}}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		h2Events(t, ch, s.want...)
	}
	// It survives RemoveWatches of other types.
	if err := w.RemoveWatches(ctx, "/p", zk.WatcherTypeData); !errors.Is(err, zk.ErrNoWatcher) {
		t.Fatalf("RemoveWatches data: %v", err)
	}
	if _, err := c.Set(ctx, "/p", nil, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Events(t, ch, h2Ev{zk.EventNodeDataChanged, "/p"})
}

func TestWatchPersistentRecursive(t *testing.T) {
	n, w := newTestConn(t)
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	ch, err := w.AddWatch(ctx, "/r", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	root, err := w.AddWatch(ctx, "/", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	create := func(p string) { h2Create(t, c, p, nil, zk.FlagPersistent, h2Open) }
	set := func(p string) {
		if _, err := c.Set(ctx, p, []byte("x"), zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	del := func(p string) {
		if err := c.Delete(ctx, p, zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	create("/r")
	create("/r/a")
	create("/r/a/b")
	set("/r/a/b")
	set("/r")
	create("/rr")   // a sibling sharing the prefix: not below /r
	create("/rr/a") // nor is its child
	set("/rr")
	del("/r/a/b")
	del("/r/a")
	_, err = c.Multi(ctx, zk.CreateOp("/r/m", nil, zk.FlagPersistent, h2Open), zk.CreateOp("/r/m/n", nil, zk.FlagPersistent, h2Open), zk.DeleteOp("/r/m/n", 0))
	if err != nil {
		t.Fatal(err)
	}
	del("/r/m")
	del("/r")
	want := []h2Ev{
		{zk.EventNodeCreated, "/r"}, {zk.EventNodeCreated, "/r/a"}, {zk.EventNodeCreated, "/r/a/b"},
		{zk.EventNodeDataChanged, "/r/a/b"}, {zk.EventNodeDataChanged, "/r"},
		{zk.EventNodeDeleted, "/r/a/b"}, {zk.EventNodeDeleted, "/r/a"},
		{zk.EventNodeCreated, "/r/m"}, {zk.EventNodeCreated, "/r/m/n"}, {zk.EventNodeDeleted, "/r/m/n"},
		{zk.EventNodeDeleted, "/r/m"}, {zk.EventNodeDeleted, "/r"},
	}
	h2Events(t, ch, want...)
	// The root's recursive watch sees the same plus /rr's, never children
	// events.
	wantRoot := append(slices.Clone(want[:5]), h2Ev{zk.EventNodeCreated, "/rr"}, h2Ev{zk.EventNodeCreated, "/rr/a"}, h2Ev{zk.EventNodeDataChanged, "/rr"})
	wantRoot = append(wantRoot, want[5:]...)
	h2Events(t, root, wantRoot...)
}

func TestWatchRemoveWatches(t *testing.T) {
	h2ZkraftOnly(t, "WatcherType Persistent and PersistentRecursive are ZooKeeper 3.9's")
	n, w := newTestConn(t)
	other := h2Conn(t, n)
	ctx := h2Ctx(t)
	h2Create(t, w, "/x", nil, zk.FlagPersistent, h2Open)
	type watches struct{ get, exists, kids, pers, rec <-chan zk.Event }
	arm := func() watches {
		t.Helper()
		var ws watches
		var err error
		if _, _, ws.get, err = w.GetW(ctx, "/x"); err != nil {
			t.Fatal(err)
		}
		if _, _, ws.exists, err = w.ExistsW(ctx, "/x"); err != nil {
			t.Fatal(err)
		}
		if _, _, ws.kids, err = w.ChildrenW(ctx, "/x"); err != nil {
			t.Fatal(err)
		}
		if ws.pers, err = w.AddWatch(ctx, "/x", zk.AddWatchModePersistent); err != nil {
			t.Fatal(err)
		}
		if ws.rec, err = w.AddWatch(ctx, "/x", zk.AddWatchModePersistentRecursive); err != nil {
			t.Fatal(err)
		}
		return ws
	}
	removed := func(ch <-chan zk.Event, typ zk.EventType) {
		t.Helper()
		ev := h2Recv(t, ch, typ, "/x")
		if ev.State != zk.StateConnected {
			t.Errorf("removal event %+v", ev)
		}
		h2Closed(t, ch)
	}
	remove := func(typ zk.WatcherType) {
		t.Helper()
		if err := w.RemoveWatches(ctx, "/x", typ); err != nil {
			t.Fatalf("RemoveWatches(%d): %v", typ, err)
		}
	}
	noWatcher := func(c *zk.Conn, path string, typ zk.WatcherType) {
		t.Helper()
		err := c.RemoveWatches(ctx, path, typ)
		h2CheckErr(t, err, zk.ErrNoWatcher, "removeWatches", path)
	}

	ws := arm()
	// Other sessions and other paths have none of these watches.
	for _, typ := range []zk.WatcherType{zk.WatcherTypeChildren, zk.WatcherTypeData, zk.WatcherTypeAny, zk.WatcherTypePersistent, zk.WatcherTypePersistentRecursive} {
		noWatcher(other, "/x", typ)
		noWatcher(w, "/y", typ)
		noWatcher(w, "/", typ)
	}
	remove(zk.WatcherTypeChildren)
	removed(ws.kids, zk.EventChildWatchRemoved)
	for _, ch := range []<-chan zk.Event{ws.get, ws.exists, ws.pers, ws.rec} {
		h2None(t, ch)
	}
	noWatcher(w, "/x", zk.WatcherTypeChildren)
	remove(zk.WatcherTypeData)
	removed(ws.get, zk.EventDataWatchRemoved)
	removed(ws.exists, zk.EventDataWatchRemoved)
	noWatcher(w, "/x", zk.WatcherTypeData)
	remove(zk.WatcherTypePersistent)
	removed(ws.pers, zk.EventPersistentWatchRemoved)
	h2None(t, ws.rec)
	noWatcher(w, "/x", zk.WatcherTypePersistent)
	// The recursive watch still works, then goes.
	if _, err := other.Set(ctx, "/x", nil, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Events(t, ws.rec, h2Ev{zk.EventNodeDataChanged, "/x"})
	remove(zk.WatcherTypePersistentRecursive)
	removed(ws.rec, zk.EventPersistentWatchRemoved)
	noWatcher(w, "/x", zk.WatcherTypeAny)

	// Any removes all five, each with its own event type.
	ws = arm()
	remove(zk.WatcherTypeAny)
	removed(ws.get, zk.EventDataWatchRemoved)
	removed(ws.exists, zk.EventDataWatchRemoved)
	removed(ws.kids, zk.EventChildWatchRemoved)
	removed(ws.pers, zk.EventPersistentWatchRemoved)
	removed(ws.rec, zk.EventPersistentWatchRemoved)
	noWatcher(w, "/x", zk.WatcherTypeAny)
	// Nothing fires after removal.
	if _, err := other.Set(ctx, "/x", nil, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}

	// An exist watch on a missing node is a data watch.
	_, _, ch, err := w.ExistsW(ctx, "/missing")
	if err != nil {
		t.Fatal(err)
	}
	noWatcher(w, "/missing", zk.WatcherTypeChildren)
	if err := w.RemoveWatches(ctx, "/missing", zk.WatcherTypeData); err != nil {
		t.Fatal(err)
	}
	h2Recv(t, ch, zk.EventDataWatchRemoved, "/missing")
	h2Closed(t, ch)
	h2Create(t, other, "/missing", nil, zk.FlagPersistent, h2Open)

	// Removing one session's watch leaves another's.
	_, _, mine, _ := w.GetW(ctx, "/x")
	_, _, theirs, _ := other.GetW(ctx, "/x")
	remove(zk.WatcherTypeData)
	h2Recv(t, mine, zk.EventDataWatchRemoved, "/x")
	h2None(t, theirs)
	if _, err := w.Set(ctx, "/x", nil, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Recv(t, theirs, zk.EventNodeDataChanged, "/x")
}

// TestWatchEventBeforeRead checks the delivery guarantee: once the
// watcher's own read reflects a change, the change's event is already in
// the watch channel.
func TestWatchEventBeforeRead(t *testing.T) {
	n, w := newTestConn(t)
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	h2Create(t, c, "/o", []byte("0"), zk.FlagPersistent, h2Open)
	pers, err := w.AddWatch(ctx, "/o", zk.AddWatchModePersistent)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		_, _, ch, err := w.GetW(ctx, "/o")
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint(i)
		done := make(chan error, 1)
		go func() {
			_, err := c.Set(ctx, "/o", []byte(want), zk.AnyVersion)
			done <- err
		}()
		deadline := time.Now().Add(h2Wait)
		for {
			d, _, err := w.Get(ctx, "/o")
			if err != nil {
				t.Fatal(err)
			}
			if string(d) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("write %d never became visible", i)
			}
		}
		for _, c := range []<-chan zk.Event{ch, pers} {
			select {
			case ev := <-c:
				if ev.Type != zk.EventNodeDataChanged {
					t.Fatalf("event %+v", ev)
				}
			default:
				t.Fatalf("write %d: read saw the change before its event was in the channel", i)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchZxidOrder checks that a recursive watch receives a subtree's
// events in exactly the order of the writes.
func TestWatchZxidOrder(t *testing.T) {
	h2ZkraftOnly(t, "ZooKeeper 3.8's notifications carry no zxid (3.9's do, as zkraft's)")
	n, w := newTestConn(t)
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	ch, err := w.AddWatch(ctx, "/z", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	h2Create(t, c, "/z", nil, zk.FlagPersistent, h2Open)
	const writes = 1000
	want := make([]h2Ev, 0, writes)
	got := make(chan []zk.Event, 1)
	go func() {
		var evs []zk.Event
		timeout := time.After(60 * time.Second)
		for len(evs) < writes+1 {
			select {
			case ev := <-ch:
				evs = append(evs, ev)
			case <-timeout:
				got <- evs
				return
			}
		}
		got <- evs
	}()
	want = append(want, h2Ev{zk.EventNodeCreated, "/z"})
	for i := range writes {
		p := fmt.Sprintf("/z/%d", i%10)
		ok, _, err := c.Exists(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !ok:
			h2Create(t, c, p, nil, zk.FlagPersistent, h2Open)
			want = append(want, h2Ev{zk.EventNodeCreated, p})
		case i%3 == 0:
			if err := c.Delete(ctx, p, zk.AnyVersion); err != nil {
				t.Fatal(err)
			}
			want = append(want, h2Ev{zk.EventNodeDeleted, p})
		default:
			if _, err := c.Set(ctx, p, []byte{byte(i)}, zk.AnyVersion); err != nil {
				t.Fatal(err)
			}
			want = append(want, h2Ev{zk.EventNodeDataChanged, p})
		}
	}
	evs := <-got
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	var last int64
	for i, ev := range evs {
		if ev.Type != want[i].typ || ev.Path != want[i].path {
			t.Fatalf("event %d: %v %s, want %v %s", i, ev.Type, ev.Path, want[i].typ, want[i].path)
		}
		if ev.Zxid <= last {
			t.Fatalf("event %d: zxid %d after %d", i, ev.Zxid, last)
		}
		last = ev.Zxid
	}
	h2None(t, ch)
}

// TestWatchACLFilter checks that watches deliver no events about nodes the
// watcher may not read: recursive and one-shot alike, and that the
// children event of a readable parent still arrives.
func TestWatchACLFilter(t *testing.T) {
	h2ZkraftOnly(t, "ZooKeeper 3.8.0 notifies watches without READ (CVE-2024-23944, fixed in 3.8.4)")
	n, anon := newTestConn(t)
	alice := h2Conn(t, n, zk.WithAuth("digest", []byte("alice:pw")))
	ctx := h2Ctx(t)
	secret := zk.DigestACL(zk.PermAll, "alice", "pw")
	h2Create(t, alice, "/acl", nil, zk.FlagPersistent, h2Open)
	rec, err := anon.AddWatch(ctx, "/acl", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	pers, err := anon.AddWatch(ctx, "/acl", zk.AddWatchModePersistent)
	if err != nil {
		t.Fatal(err)
	}
	aliceRec, err := alice.AddWatch(ctx, "/acl", zk.AddWatchModePersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	_, _, later, err := anon.ExistsW(ctx, "/acl/later")
	if err != nil {
		t.Fatal(err)
	}
	h2Create(t, alice, "/acl/secret", nil, zk.FlagPersistent, secret)
	if _, err := alice.Set(ctx, "/acl/secret", []byte("x"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Create(t, alice, "/acl/open", nil, zk.FlagPersistent, h2Open)
	h2Create(t, alice, "/acl/later", nil, zk.FlagPersistent, secret)
	if err := alice.Delete(ctx, "/acl/secret", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Events(t, rec, h2Ev{zk.EventNodeCreated, "/acl/open"})
	h2Events(t, pers,
		h2Ev{zk.EventNodeChildrenChanged, "/acl"}, h2Ev{zk.EventNodeChildrenChanged, "/acl"},
		h2Ev{zk.EventNodeChildrenChanged, "/acl"}, h2Ev{zk.EventNodeChildrenChanged, "/acl"})
	h2Events(t, aliceRec,
		h2Ev{zk.EventNodeCreated, "/acl/secret"}, h2Ev{zk.EventNodeDataChanged, "/acl/secret"},
		h2Ev{zk.EventNodeCreated, "/acl/open"}, h2Ev{zk.EventNodeCreated, "/acl/later"},
		h2Ev{zk.EventNodeDeleted, "/acl/secret"})
	// The one-shot exist watch on a node created unreadable lost its event
	// and is gone.
	h2None(t, later)
	if err := anon.RemoveWatches(ctx, "/acl/later", zk.WatcherTypeData); !errors.Is(err, zk.ErrNoWatcher) {
		t.Errorf("exist watch on an unreadable node still registered: %v", err)
	}
	// A node that becomes readable delivers again.
	if _, err := alice.SetACL(ctx, "/acl/later", h2Open, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Set(ctx, "/acl/later", nil, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Events(t, rec, h2Ev{zk.EventNodeDataChanged, "/acl/later"})
}

// TestWatchSlowReaderNeverBlocks checks that a persistent watch nobody
// reads does not hold up writes, and loses nothing.
func TestWatchSlowReaderNeverBlocks(t *testing.T) {
	h2ZkraftOnly(t, "ZooKeeper 3.8's notifications carry no zxid (3.9's do, as zkraft's)")
	n, w := newTestConn(t)
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	h2Create(t, c, "/big", nil, zk.FlagPersistent, h2Open)
	ch, err := w.AddWatch(ctx, "/big", zk.AddWatchModePersistent)
	if err != nil {
		t.Fatal(err)
	}
	_, _, oneShot, err := w.GetW(ctx, "/big")
	if err != nil {
		t.Fatal(err)
	}
	const sets = 10000
	done := make(chan error, 1)
	go func() {
		for i := range sets {
			if _, err := c.Set(ctx, "/big", []byte(fmt.Sprint(i)), zk.AnyVersion); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("writes blocked behind an unread watch")
	}
	// The unread one-shot holds its single event.
	h2Recv(t, oneShot, zk.EventNodeDataChanged, "/big")
	h2Closed(t, oneShot)
	var last int64
	for i := range sets {
		ev := h2Recv(t, ch, zk.EventNodeDataChanged, "/big")
		if ev.Zxid <= last {
			t.Fatalf("event %d: zxid %d after %d", i, ev.Zxid, last)
		}
		last = ev.Zxid
	}
	if last != n.LastZxid() {
		t.Fatalf("last event zxid %d, node at %d", last, n.LastZxid())
	}
	h2None(t, ch)
}

// TestWatchSlowReaderClose checks what a Conn's Close does to a watch with
// a backlog. Conn.end documents that events still queued beyond the
// channel's buffer are dropped; what does arrive is a prefix of the events
// in order, at least the buffered ones, then the channel closes (with
// EventNotWatching last if it got through).
func TestWatchSlowReaderClose(t *testing.T) {
	h2ZkraftOnly(t, "it also uses an in-process Conn on the node")
	n, c := newTestConn(t)
	w, err := n.Connect(h2Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := h2Ctx(t)
	h2Create(t, c, "/b", nil, zk.FlagPersistent, h2Open)
	ch, err := w.AddWatch(ctx, "/b", zk.AddWatchModePersistent)
	if err != nil {
		t.Fatal(err)
	}
	const sets = 500
	for i := range sets {
		if _, err := c.Set(ctx, "/b", []byte{byte(i)}, zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var (
		last       int64
		got        int
		notWatched bool
	)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				// Every event queued before the Close arrives, then
				// EventNotWatching, then the channel closes.
				if got != sets || !notWatched {
					t.Fatalf("%d of %d events before the channel closed (EventNotWatching delivered: %v)", got, sets, notWatched)
				}
				return
			}
			if notWatched {
				t.Fatalf("event after EventNotWatching: %+v", ev)
			}
			if ev.Type == zk.EventNotWatching {
				notWatched = true
				continue
			}
			if ev.Type != zk.EventNodeDataChanged || ev.Zxid <= last {
				t.Fatalf("event %d: %+v after zxid %d", got, ev, last)
			}
			last = ev.Zxid
			got++
		case <-time.After(h2Wait):
			t.Fatalf("channel not closed after %d events", got)
		}
	}
}

// TestWatchConnClose checks that closing a Conn ends its watches with
// EventNotWatching and its Events channel with StateClosed.
func TestWatchConnClose(t *testing.T) {
	h2ZkraftOnly(t, "it also uses an in-process Conn on the node")
	n, other := newTestConn(t)
	ctx := h2Ctx(t)
	w, err := n.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h2Create(t, other, "/n", nil, zk.FlagPersistent, h2Open)
	_, _, get, _ := w.GetW(ctx, "/n")
	_, _, ex, _ := w.ExistsW(ctx, "/missing")
	_, _, kids, _ := w.ChildrenW(ctx, "/n")
	pers, _ := w.AddWatch(ctx, "/n", zk.AddWatchModePersistent)
	rec, _ := w.AddWatch(ctx, "/", zk.AddWatchModePersistentRecursive)
	_, _, theirs, _ := other.GetW(ctx, "/n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for path, ch := range map[string]<-chan zk.Event{"/n": get, "/missing": ex, "/n ": kids, "/n  ": pers, "/": rec} {
		path = strings.TrimSpace(path)
		ev := h2Recv(t, ch, zk.EventNotWatching, path)
		if ev.State != zk.StateClosed || !errors.Is(ev.Err, zk.ErrClosing) {
			t.Errorf("%s: %+v", path, ev)
		}
		h2Closed(t, ch)
	}
	h2SessionEvents(t, w, zk.StateConnected, zk.StateClosed)
	// The other session's watch is untouched.
	h2None(t, theirs)
	if _, err := other.Set(ctx, "/n", nil, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	h2Recv(t, theirs, zk.EventNodeDataChanged, "/n")
}
