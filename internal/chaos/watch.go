package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zkraft/zk"
)

// The watch workload, checked as etcd's robustness tests check watches:
// watcher sessions hold a persistent recursive watch on RegisterRoot
// while the register workload writes there. Each watcher brackets its
// window with writes to a marker znode of its own (under the root, so its
// own events mark where the window begins and ends). For a watcher whose
// session lived through the run, the checker asserts that its events came
// in zxid order, none twice, that every acknowledged create and set in its
// window is there with the right path and type, that no event stands for
// a change that did not happen, that each path's events make a possible
// sequence of states, and that watchers agree on the events of the window
// they share.

// WatchWorkload is the watch workload's watchers and records.
type WatchWorkload struct {
	env   *Env
	slots int
	fails Failures

	mu       sync.Mutex
	own      []Write    // guarded by mu; the markers' creates and sets
	watchers []*watcher // guarded by mu; every session's window, ended or not
}

func (w *WatchWorkload) note(path string, kind WriteKind, zxid int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.own = append(w.own, Write{Path: path, Kind: kind, Zxid: zxid})
}

// watcher is one session's persistent recursive watch: a window.
type watcher struct {
	id     string // slot and session: "1.2" is slot 1's third session
	now    func() int64
	marker string
	conn   *zk.Conn
	events <-chan zk.Event
	start  int64 // the marker's mzxid when the window began

	mu       sync.Mutex
	got      []zk.Event // guarded by mu
	end      int64      // guarded by mu; the marker's mzxid when the window ended
	failed   string     // guarded by mu; why the watch or session ended early
	complete bool       // guarded by mu; the window ended with the session alive
	lost     bool       // guarded by mu; it had EventWatchEventsLost: missing events are allowed
	// disconnects counts the times the session lost its connection;
	// guarded by mu.
	disconnects int
	dials       []string      // guarded by mu; when it connected to which node
	at          []int64       // guarded by mu; when each of got arrived (Env.Now)
	done        chan struct{} // closed when events has closed
}

// NewWatchWorkload returns the workload with n watcher slots, each a
// session at a time.
func NewWatchWorkload(env *Env, n int) *WatchWorkload {
	return &WatchWorkload{env: env, slots: n}
}

func markerPath(slot int) string { return fmt.Sprintf("%s/mark-w%d", RegisterRoot, slot) }

// Start creates the markers and opens the first session of every slot.
// Call it before faults begin.
func (w *WatchWorkload) Start(ctx context.Context) error {
	for slot := range w.slots {
		conn, err := w.env.Dial(ctx)
		if err != nil {
			return err
		}
		_, st, err := conn.CreateStat(ctx, markerPath(slot), nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll))
		conn.Close()
		switch {
		case err == nil:
			w.note(markerPath(slot), WriteCreate, st.Czxid)
		case !errors.Is(err, zk.ErrNodeExists):
			return err
		}
		if err := w.open(ctx, slot, 0); err != nil {
			return err
		}
	}
	return nil
}

// open opens a session with a watch and begins its window.
func (w *WatchWorkload) open(ctx context.Context, slot, n int) error {
	wt := &watcher{id: fmt.Sprintf("%d.%d", slot, n), marker: markerPath(slot), now: w.env.Now, done: make(chan struct{})}
	// Which node the session is on, and since when, for the report.
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			node := addr
			for _, nd := range w.env.Cluster.Nodes {
				if nd.ClientAddr == addr {
					node = fmt.Sprintf("node %d", nd.ID)
				}
			}
			wt.mu.Lock()
			wt.dials = append(wt.dials, fmt.Sprintf("%v: %s", time.Duration(w.env.Now()).Round(time.Millisecond), node))
			wt.mu.Unlock()
		}
		return nc, err
	}
	conn, err := w.env.Dial(ctx, zk.WithDialer(dialer))
	if err != nil {
		return err
	}
	wt.conn = conn
	opCtx, cancel := context.WithTimeout(ctx, w.env.OpTimeout)
	defer cancel()
	ev, err := conn.AddWatch(opCtx, RegisterRoot, zk.AddWatchModePersistentRecursive)
	if err != nil {
		conn.Close()
		return err
	}
	wt.events = ev
	st, err := conn.Set(opCtx, wt.marker, []byte("start"), zk.AnyVersion)
	if err != nil {
		// The Set may have happened: it is a write of unknown zxid on
		// the marker, which no window relies on.
		conn.Close()
		return err
	}
	w.note(wt.marker, WriteSet, st.Mzxid)
	wt.start = st.Mzxid
	go wt.collect()
	go wt.follow(conn)
	w.mu.Lock()
	w.watchers = append(w.watchers, wt)
	w.mu.Unlock()
	return nil
}

// Run opens a new session for a slot whose session ended, until ctx ends.
func (w *WatchWorkload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for slot := range w.slots {
		wg.Go(func() {
			for n := 1; ; {
				w.mu.Lock()
				var cur *watcher
				for _, wt := range w.watchers {
					if wt.marker == markerPath(slot) {
						cur = wt
					}
				}
				w.mu.Unlock()
				if cur != nil {
					select {
					case <-cur.conn.Done():
					case <-ctx.Done():
						return
					}
				}
				if err := w.open(ctx, slot, n); err != nil {
					select {
					case <-time.After(500 * time.Millisecond):
					case <-ctx.Done():
						return
					}
					continue
				}
				n++
			}
		})
	}
	wg.Wait()
}

// follow counts the session's disconnections until the Conn ends.
func (wt *watcher) follow(conn *zk.Conn) {
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				return
			}
			if ev.Type == zk.EventSession && ev.State == zk.StateDisconnected {
				wt.mu.Lock()
				wt.disconnects++
				wt.mu.Unlock()
			}
		case <-conn.Done():
			return
		}
	}
}

// describe lists the events around got[i], with when they arrived, and
// the nodes the session was on.
func (wt *watcher) describe(got []zk.Event, at []int64, i int) string {
	var b strings.Builder
	for j := max(0, i-4); j < min(len(got), i+4); j++ {
		mark := "  "
		if j == i {
			mark = "->"
		}
		fmt.Fprintf(&b, "\n      %s %v %v %s at %#x", mark, time.Duration(at[j]).Round(time.Millisecond), got[j].Type, got[j].Path, got[j].Zxid)
	}
	wt.mu.Lock()
	fmt.Fprintf(&b, "\n      its connections: %s", strings.Join(wt.dials, ", "))
	wt.mu.Unlock()
	return b.String()
}

// collect takes the watcher's events until its channel closes.
func (wt *watcher) collect() {
	defer close(wt.done)
	for ev := range wt.events {
		wt.mu.Lock()
		switch ev.Type {
		case zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged:
			wt.got = append(wt.got, ev)
			wt.at = append(wt.at, wt.now())
		case zk.EventWatchEventsLost:
			wt.lost = true
		case zk.EventNotWatching:
			if wt.failed == "" {
				wt.failed = fmt.Sprintf("watch ended: %v", ev.Err)
			}
		}
		wt.mu.Unlock()
	}
}

// Stop ends the windows of the live sessions with a last write to their
// markers, waits for its event, and closes every session. Call it after
// Run has returned.
func (w *WatchWorkload) Stop(ctx context.Context) {
	w.mu.Lock()
	watchers := slices.Clone(w.watchers)
	w.mu.Unlock()
	for _, wt := range watchers {
		select {
		case <-wt.conn.Done():
			wt.mu.Lock()
			if wt.failed == "" {
				wt.failed = "session ended"
			}
			wt.mu.Unlock()
		default:
			var st *zk.Stat
			err := retry(ctx, func(ctx context.Context) error {
				opCtx, cancel := context.WithTimeout(ctx, w.env.OpTimeout)
				defer cancel()
				var err error
				st, err = wt.conn.Set(opCtx, wt.marker, []byte("end"), zk.AnyVersion)
				return err
			})
			wt.mu.Lock()
			if err != nil && wt.failed == "" {
				wt.failed = fmt.Sprintf("could not end the window: %v", err)
			} else if err == nil {
				wt.end = st.Mzxid
			}
			wt.mu.Unlock()
			if err == nil {
				w.note(wt.marker, WriteSet, st.Mzxid)
				if w.awaitEnd(ctx, wt) {
					wt.mu.Lock()
					wt.complete = wt.failed == ""
					wt.mu.Unlock()
				}
			}
		}
		wt.conn.Close()
		<-wt.done
	}
}

// awaitEnd waits until the watcher has the event of its window's end. The
// server sends it before the reply of the Set, but it reaches the channel
// through the Conn's own goroutines.
func (w *WatchWorkload) awaitEnd(ctx context.Context, wt *watcher) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		wt.mu.Lock()
		for _, ev := range wt.got {
			if ev.Zxid == wt.end {
				wt.mu.Unlock()
				return true
			}
		}
		failed := wt.failed
		wt.mu.Unlock()
		if failed != "" {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.fails.Addf("watch: watcher %s never got the event of its end marker (zxid %#x)", wt.id, wt.end)
	return false
}

// WatchResult sums up a check of the watch workload.
type WatchResult struct {
	Watchers, Checked, Events int
	// Gaps is the number of runs of missed events, each explained by a
	// reconnection, and Disconnects the number of reconnections.
	Gaps, Disconnects int
}

// gap is an open interval of zxids in which a watcher missed events.
type gap struct{ lo, hi int64 }

func inGaps(gs []gap, z int64) bool {
	for _, g := range gs {
		if z > g.lo && z < g.hi {
			return true
		}
	}
	return false
}

// Check checks the watchers' events against the register workload's
// writes: known are the acknowledged creates and sets, and attempts the
// number of writes of each kind per path that succeeded or may have.
//
// A persistent watch set again after a reconnection does not get the
// events of the changes made while it was away, in ZooKeeper and in
// zkraft's server alike (setWatches re-registers persistent watches
// without a catch-up). So a watcher may miss a run of events, a gap,
// for each time its connection was lost; more gaps than reconnections
// are a failure, and so is any missed write outside a gap's bounds.
//
// An event older than one the session already had is a failure: a
// session that moves never goes back (the client counts the zxids of its
// notifications as seen, and a node behind them waits or refuses it).
func (w *WatchWorkload) Check(known []Write, attempts map[string][3]int) (WatchResult, []string) {
	fails := w.fails.List()
	w.mu.Lock()
	known = append(append([]Write(nil), known...), w.own...)
	watchers := slices.Clone(w.watchers)
	w.mu.Unlock()
	res := WatchResult{Watchers: len(watchers)}
	sort.Slice(known, func(i, j int) bool { return known[i].Zxid < known[j].Zxid })
	byZxid := map[int64]Write{}
	for _, k := range known {
		byZxid[k.Zxid] = k
	}
	type window struct {
		wt          *watcher
		start, end  int64
		events      []zk.Event
		gaps        []gap
		disconnects int
	}
	var windows []window
	for _, wt := range watchers {
		wt.mu.Lock()
		got := append([]zk.Event(nil), wt.got...)
		at := append([]int64(nil), wt.at...)
		start, end, complete, lost, disconnects := wt.start, wt.end, wt.complete, wt.lost, wt.disconnects
		wt.mu.Unlock()
		if !complete {
			// A session that ended early: its window ends with the last
			// event it got, and it is checked up to there.
			end = start
			if len(got) > 0 {
				end = max(start, got[len(got)-1].Zxid)
			}
		} else {
			res.Checked++
		}
		res.Disconnects += disconnects
		var in []zk.Event
		var inIdx []int // the index in got of each of in
		var prev int64
		for i, ev := range got {
			if i > 0 && ev.Zxid <= prev {
				msg := fmt.Sprintf("watch: watcher %s got %v %s zxid %#x after zxid %#x (out of order or twice):%s", wt.id, ev.Type, ev.Path, ev.Zxid, prev, wt.describe(got, at, i))
				fails = append(fails, msg)
			}
			prev = ev.Zxid
			if ev.Zxid >= start && ev.Zxid <= end {
				in = append(in, ev)
				inIdx = append(inIdx, i)
			}
		}
		res.Events += len(in)
		// The gaps: between two consecutive events received, the known
		// writes that are not there.
		var gaps []gap
		var missed []Write
		k := 0
		for i := 1; i < len(in); i++ {
			lo, hi := in[i-1].Zxid, in[i].Zxid
			for k < len(known) && known[k].Zxid <= lo {
				k++
			}
			var here []Write
			for ; k < len(known) && known[k].Zxid < hi; k++ {
				here = append(here, known[k])
			}
			if len(here) > 0 {
				gaps = append(gaps, gap{lo, hi})
				missed = append(missed, here...)
			}
		}
		res.Gaps += len(gaps)
		if len(gaps) > disconnects && !lost {
			var b strings.Builder
			for _, m := range missed[:min(len(missed), 20)] {
				fmt.Fprintf(&b, "\n    %v %s at %#x", m.Kind, m.Path, m.Zxid)
			}
			fails = append(fails, fmt.Sprintf("watch: watcher %s (window %#x..%#x) missed events in %d runs %v but was disconnected %d times; %d acknowledged writes missed, the first:%s",
				wt.id, start, end, len(gaps), gaps, disconnects, len(missed), b.String()))
		}
		windows = append(windows, window{wt, start, end, in, gaps, disconnects})
		// No event stands for a change that did not happen.
		unmatched := map[string][3]int{}
		for _, ev := range in {
			kind := eventKind(ev.Type)
			if k, ok := byZxid[ev.Zxid]; ok {
				if k.Path != ev.Path || k.Kind != kind {
					fails = append(fails, fmt.Sprintf("watch: watcher %s got %v %s at zxid %#x, which was the %v of %s", wt.id, ev.Type, ev.Path, ev.Zxid, k.Kind, k.Path))
				}
				continue
			}
			u := unmatched[ev.Path]
			u[kind]++
			unmatched[ev.Path] = u
		}
		for path, u := range unmatched {
			a := attempts[path]
			for kind := range u {
				// A create or set with a known zxid accounts for its own
				// event; the rest must be writes whose zxid is unknown.
				limit := a[kind]
				if kind != int(WriteDelete) {
					limit -= countKnown(known, path, WriteKind(kind))
				}
				if u[kind] > limit {
					fails = append(fails, fmt.Sprintf("watch: watcher %s got %d %v events on %s that no write accounts for", wt.id, u[kind]-max(limit, 0), WriteKind(kind), path))
				}
			}
		}
		// Each path's events make a possible history of states, between
		// gaps.
		exists := map[string]bool{}
		// A write whose outcome is unknown has no zxid, so an event of it
		// that this watcher missed while it was disconnected leaves no gap
		// the check above can see: a transition it would explain is not a
		// failure then.
		unseen := func(path string, kind WriteKind) bool {
			return disconnects > 0 && attempts[path][kind] > countKnown(known, path, kind)
		}
		for i, ev := range in {
			if i > 0 && inGaps(gaps, (in[i-1].Zxid+ev.Zxid)/2) {
				clear(exists)
			}
			was, ok := exists[ev.Path]
			if ok && ((ev.Type == zk.EventNodeCreated && was && unseen(ev.Path, WriteDelete)) ||
				(ev.Type != zk.EventNodeCreated && !was && unseen(ev.Path, WriteCreate))) {
				ok = false
			}
			switch ev.Type {
			case zk.EventNodeCreated:
				if ok && was {
					fails = append(fails, fmt.Sprintf("watch: watcher %s got NodeCreated %s at zxid %#x while it existed:%s", wt.id, ev.Path, ev.Zxid, wt.describe(got, at, inIdx[i])))
				}
				exists[ev.Path] = true
			case zk.EventNodeDeleted:
				if ok && !was {
					fails = append(fails, fmt.Sprintf("watch: watcher %s got NodeDeleted %s at zxid %#x while it did not exist:%s", wt.id, ev.Path, ev.Zxid, wt.describe(got, at, inIdx[i])))
				}
				exists[ev.Path] = false
			case zk.EventNodeDataChanged:
				if ok && !was {
					fails = append(fails, fmt.Sprintf("watch: watcher %s got NodeDataChanged %s at zxid %#x while it did not exist:%s", wt.id, ev.Path, ev.Zxid, wt.describe(got, at, inIdx[i])))
				}
				exists[ev.Path] = true
			}
		}
	}
	// Watchers agree on the window they share: an event one got, the
	// other got too unless it was in a gap then, and the same.
	for i := range windows {
		for j := range windows {
			a, b := windows[i], windows[j]
			if i == j {
				continue
			}
			lo, hi := max(a.start, b.start), min(a.end, b.end)
			bz := map[int64]zk.Event{}
			for _, ev := range b.events {
				bz[ev.Zxid] = ev
			}
			for _, ev := range a.events {
				if ev.Zxid <= lo || ev.Zxid >= hi {
					continue
				}
				other, ok := bz[ev.Zxid]
				_, isKnown := byZxid[ev.Zxid]
				switch {
				case !ok && !isKnown && b.disconnects > 0:
					// The change of a write whose outcome is unknown: its
					// zxid was never known, so a gap around it could not
					// be seen, and b may have missed it while away.
				case !ok && !inGaps(b.gaps, ev.Zxid):
					fails = append(fails, fmt.Sprintf("watch: watcher %s got %v %s at %#x, watcher %s did not, though it was not in a gap", a.wt.id, ev.Type, ev.Path, ev.Zxid, b.wt.id))
				case ok && (other.Type != ev.Type || other.Path != ev.Path):
					fails = append(fails, fmt.Sprintf("watch: at %#x watcher %s got %v %s, watcher %s %v %s", ev.Zxid, a.wt.id, ev.Type, ev.Path, b.wt.id, other.Type, other.Path))
				}
			}
		}
	}
	return res, fails
}

func eventKind(t zk.EventType) WriteKind {
	switch t {
	case zk.EventNodeCreated:
		return WriteCreate
	case zk.EventNodeDeleted:
		return WriteDelete
	}
	return WriteSet
}

func countKnown(known []Write, path string, kind WriteKind) int {
	n := 0
	for _, k := range known {
		if k.Path == path && k.Kind == kind {
			n++
		}
	}
	return n
}
