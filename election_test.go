package zk_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

func electionCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*zktest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// electionWait polls cond until it holds or WaitTimeout passes.
func electionWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(zktest.WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// electionWaiting sums how many Campaigns of es wait on a predecessor,
// and how many predecessor watches have fired.
func electionWaiting(es ...*zk.Election) (waiting, wakeups int64) {
	for _, e := range es {
		wk, w := zk.ElectionWakeups(e)
		waiting += w
		wakeups += wk
	}
	return waiting, wakeups
}

type electionResult struct {
	i   int
	l   *zk.Leadership
	err error
}

// electionCampaign runs e.Campaign in a goroutine and sends its result on out.
func electionCampaign(ctx context.Context, e *zk.Election, i int, value string, out chan<- electionResult) {
	go func() {
		l, err := e.Campaign(ctx, []byte(value))
		out <- electionResult{i, l, err}
	}()
}

func electionRecv(t *testing.T, ch <-chan electionResult) electionResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("electionCampaign %d: %v", r.i, r.err)
		}
		return r
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("nobody was elected")
	}
	return electionResult{}
}

func electionNone(t *testing.T, ch <-chan electionResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("electionCampaign %d returned early: %v", r.i, r.err)
	default:
	}
}

func electionClosedWithin(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(zktest.WaitTimeout):
		t.Fatalf("%s: not closed", what)
	}
}

func electionIsClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// electionCandidates returns the candidate node names under path, as
// conn sees them after a Sync.
func electionCandidates(t *testing.T, conn *zk.Conn, path string) []string {
	t.Helper()
	ctx := electionCtx(t)
	if err := conn.Sync(ctx, path); err != nil {
		t.Fatal(err)
	}
	names, _, err := conn.Children(ctx, path)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		t.Fatal(err)
	}
	return names
}

// TestElectionOneLeaderAtATime: 9 candidates, three on each node of a
// 3-node ensemble, electionCampaign 3 times each; every leader checks it is the
// only one, and that Leader agrees, then resigns. The 27 tokens strictly
// increase in the order of election, and an observer sees them grow.
func TestElectionOneLeaderAtATime(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	const candidates, rounds = 9, 3

	obsCtx, stopObs := context.WithCancel(ctx)
	observed := make(chan []int64, 1)
	obsConn := c.Connect(t, 0)
	obs := zk.NewElection(obsConn, "/svc/leader")
	go func() {
		var tokens []int64
		for rec := range obs.Observe(obsCtx) {
			if rec.Token != 0 {
				tokens = append(tokens, rec.Token)
			}
		}
		observed <- tokens
	}()

	var (
		mu     sync.Mutex
		holder string
		tokens []int64
		wg     sync.WaitGroup
		errs   = make(chan error, candidates*rounds)
	)
	for i := range candidates {
		conn := c.Connect(t, i%3)
		e := zk.NewElection(conn, "/svc/leader")
		name := fmt.Sprintf("candidate-%d", i)
		wg.Go(func() {
			for r := range rounds {
				l, err := e.Campaign(ctx, []byte(name))
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", name, r, err)
					return
				}
				mu.Lock()
				if holder != "" {
					errs <- fmt.Errorf("%s elected while %s leads", name, holder)
				}
				holder = name
				tokens = append(tokens, l.Token)
				mu.Unlock()
				if err := conn.Sync(ctx, "/"); err != nil {
					errs <- err
				}
				v, tok, err := e.Leader(ctx)
				if err != nil || string(v) != name || tok != l.Token {
					errs <- fmt.Errorf("%s: Leader() = %q %d %v, want itself, %d", name, v, tok, err, l.Token)
				}
				if electionIsClosed(l.Lost()) {
					errs <- fmt.Errorf("%s: lost before resigning: %v", name, l.Err())
				}
				mu.Lock()
				holder = ""
				mu.Unlock()
				if err := l.Resign(ctx); err != nil {
					errs <- err
				}
				if !errors.Is(l.Err(), zk.ErrResigned) {
					errs <- fmt.Errorf("%s: Err after Resign: %v", name, l.Err())
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(tokens) != candidates*rounds {
		t.Fatalf("%d elections, want %d", len(tokens), candidates*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d: %d after %d", i, tokens[i], tokens[i-1])
		}
	}
	if names := electionCandidates(t, obsConn, "/svc/leader"); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
	// Let the observer see the end (no leader) before stopping it.
	electionWait(t, "the last leader's node to go", func() bool { _, _, err := obs.Leader(ctx); return errors.Is(err, zk.ErrNoLeader) })
	stopObs()
	got := <-observed
	if len(got) == 0 {
		t.Fatal("observer saw no leader")
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("observed token %d: %d after %d", i, got[i], got[i-1])
		}
	}
	for _, tok := range got {
		if !slices.Contains(tokens, tok) {
			t.Fatalf("observed token %d was never elected", tok)
		}
	}
	t.Logf("%d elections, %d seen by the observer", len(tokens), len(got))
}

// electionFollowers returns the indexes of the nodes that do not lead.
func electionFollowers(c *zktest.Cluster) []int {
	l := c.LeaderIndex()
	var fs []int
	for i := range c.Size() {
		if i != l && c.Node(i) != nil {
			fs = append(fs, i)
		}
	}
	return fs
}

// TestElectionResignHandsOver: a resignation closes Lost, deletes the
// leader's node and elects the next candidate, on another node, with a
// larger token; Resign can be called again.
func TestElectionResignHandsOver(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	connA := c.Connect(t, 0)
	a := zk.NewElection(connA, "/a/b/election") // parents are created
	b := zk.NewElection(c.Connect(t, 1), "/a/b/election")
	la, err := a.Campaign(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan electionResult, 1)
	electionCampaign(ctx, b, 1, "b", res)
	electionWait(t, "b to wait", func() bool { w, _ := electionWaiting(b); return w == 1 })
	electionNone(t, res)
	if v, tok, err := b.Leader(ctx); err != nil || string(v) != "a" || tok != la.Token {
		t.Fatalf("Leader() = %q %d %v", v, tok, err)
	}
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if !electionIsClosed(la.Lost()) || !errors.Is(la.Err(), zk.ErrResigned) {
		t.Fatalf("after Resign: Lost open or Err %v", la.Err())
	}
	lb := electionRecv(t, res).l
	if lb.Token <= la.Token {
		t.Fatalf("token %d after %d", lb.Token, la.Token)
	}
	if err := la.Resign(ctx); err != nil {
		t.Fatalf("second Resign: %v", err)
	}
	if electionIsClosed(lb.Lost()) {
		t.Fatalf("b lost: %v", lb.Err())
	}
	if _, wk := electionWaiting(b); wk != 1 {
		t.Fatalf("%d wakeups", wk)
	}
	if err := lb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := connA.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Leader(ctx); !errors.Is(err, zk.ErrNoLeader) {
		t.Fatalf("Leader() with nobody campaigning: %v", err)
	}
}

// TestElectionNoHerd: 100 candidates on 100 sessions spread over 3
// nodes. Each resignation, and the cancellation of a candidate in the
// middle of the line, fires exactly one predecessor watch.
func TestElectionNoHerd(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	const n = 100
	es := make([]*zk.Election, n)
	cancels := make([]context.CancelFunc, n)
	res := make(chan electionResult, n)
	for i := range n {
		es[i] = zk.NewElection(c.Connect(t, i%3), "/herd")
		cctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		t.Cleanup(cancel)
		electionCampaign(cctx, es[i], i, fmt.Sprint(i), res)
	}
	l := electionRecv(t, res)
	electionWait(t, "99 candidates to wait", func() bool { w, _ := electionWaiting(es...); return w == n-1 })
	// settle waits until wakeups watches have fired and waiting
	// candidates wait, then checks that no more watches fire: every
	// event the writes so far caused is queued on every node by then.
	settle := func(waiting, wakeups int64) {
		t.Helper()
		c.WaitApplied(c.Leader().LastZxid())
		electionWait(t, "the candidates to settle", func() bool {
			w, wk := electionWaiting(es...)
			return w == waiting && wk >= wakeups
		})
		for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if w, wk := electionWaiting(es...); wk != wakeups || w != waiting {
				t.Fatalf("%d predecessor watches fired, %d candidates wait; want %d and %d", wk, w, wakeups, waiting)
			}
		}
	}
	waiting := int64(n - 1)
	const resignations = 5
	for k := range resignations {
		if err := l.l.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		next := electionRecv(t, res)
		if next.l.Token <= l.l.Token {
			t.Fatalf("token %d after %d", next.l.Token, l.l.Token)
		}
		l = next
		waiting--
		settle(waiting, int64(k+1))
	}
	// Cancel a candidate in the middle: its successor, alone, looks
	// for a new predecessor, and the cancelled node is gone.
	conn := c.Connect(t, 0)
	names := electionCandidates(t, conn, "/herd")
	if len(names) != n-resignations {
		t.Fatalf("%d candidates, want %d", len(names), n-resignations)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(a[len(a)-10:], b[len(b)-10:]) })
	data, _, err := conn.Get(ctx, "/herd/"+names[len(names)/2])
	if err != nil {
		t.Fatal(err)
	}
	var mid int
	fmt.Sscan(string(data), &mid)
	cancels[mid]()
	select {
	case r := <-res:
		if r.i != mid || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("electionCampaign %d: %v", r.i, r.err)
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("cancelled electionCampaign did not return")
	}
	waiting-- // the cancelled one; its successor waits again
	settle(waiting, resignations+1)
	if got := len(electionCandidates(t, conn, "/herd")); got != n-resignations-1 {
		t.Fatalf("%d candidates after the cancellation, want %d", got, n-resignations-1)
	}
	t.Logf("%d candidates, %d resignations and 1 cancellation: %d predecessor watches fired", n, resignations, resignations+1)
}

// TestElectionLeaderNodeKilled: the leader's session is on the ensemble
// leader's node, which is killed. Its Lost closes at once; its node stays
// until the session expires, and no one else is elected before; once the
// fake clock has passed the session timeout, a candidate on another node
// is elected with a larger token.
func TestElectionLeaderNodeKilled(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	ld := c.LeaderIndex()
	fs := electionFollowers(c)
	a := zk.NewElection(c.Connect(t, ld), "/e")
	la, err := a.Campaign(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	others := []*zk.Election{zk.NewElection(c.Connect(t, fs[0]), "/e"), zk.NewElection(c.Connect(t, fs[1]), "/e")}
	res := make(chan electionResult, 2)
	for i, e := range others {
		electionCampaign(ctx, e, i, fmt.Sprint("follower-", i), res)
		electionWait(t, "the candidate to wait", func() bool { w, _ := electionWaiting(e); return w == 1 })
	}
	watcher := c.Connect(t, fs[0])

	c.Kill(ld)
	electionClosedWithin(t, "Lost after the leader's node was killed", la.Lost())
	if !errors.Is(la.Err(), zk.ErrClosing) {
		t.Fatalf("Err: %v", la.Err())
	}
	ticks := 0
	for {
		if err := watcher.Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		ok, _, err := watcher.Exists(ctx, la.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		electionNone(t, res)
		if ticks > int(zktest.SessionTimeout/zktest.TickTime)+3 {
			t.Fatalf("the killed leader's node still there after %d ticks", ticks)
		}
		c.Advance(zktest.TickTime)
		ticks++
	}
	if min := int(zktest.SessionTimeout / zktest.TickTime); ticks < min {
		t.Fatalf("the session expired after %d ticks, before its timeout (%d ticks)", ticks, min)
	}
	next := electionRecv(t, res)
	if next.i != 0 || next.l.Token <= la.Token {
		t.Fatalf("elected %d with token %d after %d", next.i, next.l.Token, la.Token)
	}
	electionNone(t, res)
	t.Logf("new leader after %d ticks of %v (session timeout %v)", ticks, zktest.TickTime, zktest.SessionTimeout)
	if err := next.l.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	electionRecv(t, res)
}

// TestElectionLostOnPartition: the leader's node, a follower, is cut off
// from the majority. Lost closes once the fake clock has passed a third
// of the session timeout, while the leader's node still exists on the
// majority and no one else has been elected; only after the session
// timeout is another candidate elected.
func TestElectionLostOnPartition(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	ld := c.LeaderIndex()
	fs := electionFollowers(c)
	a := zk.NewElection(c.Connect(t, fs[0]), "/e")
	la, err := a.Campaign(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	b := zk.NewElection(c.Connect(t, ld), "/e")
	res := make(chan electionResult, 1)
	electionCampaign(ctx, b, 1, "b", res)
	electionWait(t, "b to wait", func() bool { w, _ := electionWaiting(b); return w == 1 })
	majority := c.Connect(t, fs[1])

	c.Partition([]int{fs[0]}, []int{ld, fs[1]})
	third := int((zktest.SessionTimeout/3 + zktest.TickTime - 1) / zktest.TickTime)
	c.Advance(time.Duration(third) * zktest.TickTime)
	electionClosedWithin(t, "Lost after a third of the session timeout out of touch", la.Lost())
	if !errors.Is(la.Err(), zk.ErrConnectionLoss) {
		t.Fatalf("Err: %v", la.Err())
	}
	// Lost closed while the ensemble still has a as leader.
	if err := majority.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := majority.Exists(ctx, la.Path); err != nil || !ok {
		t.Fatalf("the leader's node was gone before Lost closed: %v", err)
	}
	electionNone(t, res)
	c.Advance(zktest.SessionTimeout)
	lb := electionRecv(t, res).l
	if lb.Token <= la.Token {
		t.Fatalf("token %d after %d", lb.Token, la.Token)
	}
	t.Logf("Lost after %d ticks; b elected after %d more", third, zktest.SessionTimeout/zktest.TickTime)
	c.Heal()
	if err := la.Resign(ctx); err != nil {
		t.Logf("resign after the session expired: %v", err)
	}
}

// TestElectionCancelledCampaign: a Campaign whose ctx ends, before or
// while it waits, returns ctx's error and leaves no node behind.
func TestElectionCancelledCampaign(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	conn := c.Connect(t, 0)
	a := zk.NewElection(conn, "/e")
	la, err := a.Campaign(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	b := zk.NewElection(c.Connect(t, 1), "/e")
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Campaign(done, []byte("b")); !errors.Is(err, context.Canceled) {
		t.Fatalf("electionCampaign on a cancelled ctx: %v", err)
	}
	for i := range 20 {
		cctx, cancel := context.WithCancel(ctx)
		res := make(chan electionResult, 1)
		electionCampaign(cctx, b, i, "b", res)
		if i%2 == 0 {
			electionWait(t, "b to wait", func() bool { w, _ := electionWaiting(b); return w == 1 })
		}
		cancel() // odd rounds: at any point of the campaign
		select {
		case r := <-res:
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("round %d: %v", i, r.err)
			}
		case <-time.After(zktest.WaitTimeout):
			t.Fatal("cancelled electionCampaign did not return")
		}
		if names := electionCandidates(t, conn, "/e"); len(names) != 1 || "/e/"+names[0] != la.Path {
			t.Fatalf("round %d: candidates %v, want only %s", i, names, la.Path)
		}
	}
	// A Campaign that cannot create its node says why, and only that.
	if _, err := zk.NewElection(conn, "no-slash").Campaign(ctx, nil); !errors.Is(err, zk.ErrBadArguments) || strings.Contains(err.Error(), "remove") {
		t.Fatalf("electionCampaign on a bad path: %v", err)
	}
	// A deadline works as well, and the leader was never disturbed.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Campaign(dctx, []byte("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("electionCampaign past its deadline: %v", err)
	}
	if names := electionCandidates(t, conn, "/e"); len(names) != 1 {
		t.Fatalf("candidates %v", names)
	}
	if electionIsClosed(la.Lost()) {
		t.Fatalf("the leader lost: %v", la.Err())
	}
	if _, wk := electionWaiting(a, b); wk != 0 {
		t.Fatalf("%d wakeups", wk)
	}
}

// TestElectionObserve: Observe reports no leader, then each leader in
// turn, then no leader again, and closes when its ctx ends; candidates
// joining behind the leader send nothing.
func TestElectionObserve(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	obs := zk.NewElection(c.Connect(t, 2), "/obs")
	if _, _, err := obs.Leader(ctx); !errors.Is(err, zk.ErrNoLeader) {
		t.Fatalf("Leader() on a missing path: %v", err)
	}
	octx, stop := context.WithCancel(ctx)
	ch := obs.Observe(octx)
	next := func() zk.LeaderRecord {
		t.Helper()
		select {
		case rec, ok := <-ch:
			if !ok {
				t.Fatal("Observe closed")
			}
			return rec
		case <-time.After(zktest.WaitTimeout):
			t.Fatal("nothing observed")
		}
		return zk.LeaderRecord{}
	}
	if rec := next(); rec.Token != 0 {
		t.Fatalf("first record %+v, want no leader", rec)
	}
	a := zk.NewElection(c.Connect(t, 0), "/obs")
	la, err := a.Campaign(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if rec := next(); string(rec.Value) != "a" || rec.Token != la.Token || rec.Path != la.Path {
		t.Fatalf("record %+v, want a", rec)
	}
	b := zk.NewElection(c.Connect(t, 1), "/obs")
	res := make(chan electionResult, 1)
	electionCampaign(ctx, b, 1, "b", res)
	electionWait(t, "b to wait", func() bool { w, _ := electionWaiting(b); return w == 1 })
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lb := electionRecv(t, res).l
	if rec := next(); string(rec.Value) != "b" || rec.Token != lb.Token {
		t.Fatalf("record %+v, want b", rec)
	}
	if err := lb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := next(); rec.Token != 0 {
		t.Fatalf("record %+v, want no leader", rec)
	}
	stop()
	for range ch {
	}
}

// TestElectionFailover: candidates on Conns made WithFailover keep their
// place when their node dies. A waiting candidate whose node is killed is
// still elected in turn; a leader whose node is killed gets Lost (it can
// no longer be sure), though its node, and so its turn, remain until it
// resigns.
func TestElectionFailover(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := electionCtx(t)
	ld := c.LeaderIndex()
	fs := electionFollowers(c)
	a := zk.NewElection(c.Connect(t, ld), "/e")
	la, err := a.Campaign(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	b := zk.NewElection(c.Connect(t, fs[0], zk.WithFailover(c.Node(fs[1]))), "/e")
	res := make(chan electionResult, 1)
	electionCampaign(ctx, b, 1, "b", res)
	electionWait(t, "b to wait", func() bool { w, _ := electionWaiting(b); return w == 1 })
	c.Kill(fs[0]) // b moves to fs[1], waiting still
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lb := electionRecv(t, res).l
	if lb.Token <= la.Token {
		t.Fatalf("token %d after %d", lb.Token, la.Token)
	}
	if err := lb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	c.Restart(fs[0])

	// A leader on fs[1] that can move to ld: kill fs[1].
	d := zk.NewElection(c.Connect(t, fs[1], zk.WithFailover(c.Node(ld))), "/e")
	ld2, err := d.Campaign(ctx, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(fs[1])
	electionClosedWithin(t, "Lost after the leader's node was killed", ld2.Lost())
	if !errors.Is(ld2.Err(), zk.ErrConnectionLoss) {
		t.Fatalf("Err: %v", ld2.Err())
	}
	// The session, and so the node, live on: d's turn lasts until it
	// resigns.
	owner := c.Connect(t, fs[0])
	if err := owner.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := owner.Exists(ctx, ld2.Path); err != nil || !ok {
		t.Fatalf("d's node gone: %v", err)
	}
	if err := ld2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if names := electionCandidates(t, owner, "/e"); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
	t.Logf("Lost: %v", ld2.Err())
}
