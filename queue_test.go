package zk_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

func qtCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*zktest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// qtItem is what the tests put: producer p's i-th item.
func qtItem(p, i int) []byte { return fmt.Appendf(nil, "p%d-%05d", p, i) }

func qtParse(t *testing.T, data []byte) (p, i int) {
	t.Helper()
	if _, err := fmt.Sscanf(string(data), "p%d-%d", &p, &i); err != nil {
		t.Fatalf("item %q: %v", data, err)
	}
	return p, i
}

// qtLedger records which consumer took which item, and in what order each
// consumer took them.
type qtLedger struct {
	mu    sync.Mutex
	taken map[string]int   // item → times taken
	order map[int][][]byte // consumer → items in the order taken
	errs  map[string]int   // error kind → count
}

func newQtLedger() *qtLedger {
	return &qtLedger{taken: map[string]int{}, order: map[int][][]byte{}, errs: map[string]int{}}
}

func (l *qtLedger) add(consumer int, data []byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taken[string(data)]++
	l.order[consumer] = append(l.order[consumer], data)
	return len(l.taken)
}

func (l *qtLedger) fail(err error) {
	kind := "other"
	switch {
	case strings.Contains(err.Error(), "outcome unknown"):
		kind = "unknown"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind = "ctx"
	case errors.Is(err, zk.ErrClosing), errors.Is(err, zk.ErrConnectionLoss):
		kind = "closed"
	}
	l.mu.Lock()
	l.errs[kind]++
	l.mu.Unlock()
}

// check verifies that no item was taken twice, that every item of every
// producer was taken, but for at most lostAllowed, and that every consumer
// took each producer's items in the order they were put.
func (l *qtLedger) check(t *testing.T, producers, perProducer, lostAllowed int) (lost int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range producers {
		for i := range perProducer {
			switch n := l.taken[string(qtItem(p, i))]; {
			case n == 0:
				lost++
			case n > 1:
				t.Errorf("item %s taken %d times", qtItem(p, i), n)
			}
		}
	}
	if len(l.taken) > producers*perProducer {
		t.Errorf("%d distinct items taken, %d put", len(l.taken), producers*perProducer)
	}
	if lost > lostAllowed {
		t.Errorf("%d items lost (allowed %d)", lost, lostAllowed)
	}
	for c, items := range l.order {
		last := map[int]int{}
		for _, data := range items {
			p, i := qtParse(t, data)
			if prev, ok := last[p]; ok && i <= prev {
				t.Errorf("consumer %d took producer %d's item %d after its item %d", c, p, i, prev)
			}
			last[p] = i
		}
	}
	return lost
}

// TestQueueFIFO: one producer, one consumer: items come out in the order
// they went in; TryTake on an empty queue says ErrQueueEmpty; Len counts.
func TestQueueFIFO(t *testing.T) {
	c := zktest.NewCluster(t, 1)
	ctx := qtCtx(t)
	conn := c.Connect(t, 0)
	q := zk.NewQueue(conn, "/app/jobs")
	if _, err := q.TryTake(ctx); !errors.Is(err, zk.ErrQueueEmpty) {
		t.Fatalf("TryTake on a queue that does not exist: %v, want ErrQueueEmpty", err)
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len of an absent queue: %d, %v", n, err)
	}
	const items = 50
	for i := range items {
		if err := q.Put(ctx, qtItem(0, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Foreign children are ignored.
	if _, err := conn.Create(ctx, "/app/jobs/other", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Len(ctx); err != nil || n != items {
		t.Fatalf("Len: %d, %v; want %d", n, err, items)
	}
	for i := range items {
		var data []byte
		var err error
		if i%2 == 0 {
			data, err = q.Take(ctx)
		} else {
			data, err = q.TryTake(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := qtItem(0, i); string(data) != string(want) {
			t.Fatalf("take %d: %s, want %s", i, data, want)
		}
	}
	if _, err := q.TryTake(ctx); !errors.Is(err, zk.ErrQueueEmpty) {
		t.Fatalf("TryTake on an empty queue: %v", err)
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len after draining: %d, %v", n, err)
	}
	// The receipts of settled writes are gone.
	if kids, _, err := conn.Children(ctx, "/app/jobs/receipts"); err != nil || len(kids) != 0 {
		t.Fatalf("receipts left: %v, %v", kids, err)
	}
}

// TestQueueTakeWaits: Take on an empty queue blocks — on a watch, not a
// loop — until a Put on another node, and gives up when its ctx ends.
func TestQueueTakeWaits(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	consumer := zk.NewQueue(c.Connect(t, 0), "/q")
	producer := zk.NewQueue(c.Connect(t, 2), "/q")

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := consumer.Take(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take on an empty queue: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Take ignored its ctx for %v", d)
	}

	got := make(chan []byte, 1)
	errc := make(chan error, 1)
	go func() {
		data, err := consumer.Take(ctx)
		errc <- err
		got <- data
	}()
	select {
	case err := <-errc:
		t.Fatalf("Take returned on an empty queue: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := producer.Put(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
		if data := <-got; string(data) != "hello" {
			t.Fatalf("took %q", data)
		}
	case <-time.After(zktest.WaitTimeout):
		t.Fatal("Take did not wake up on a Put")
	}
}

// qtRunning is a run of producers and consumers on a queue.
type qtRunning struct {
	stop     context.CancelFunc
	wg       sync.WaitGroup
	produced chan struct{} // closed when every producer is done
	putErrs  atomic.Int64
}

// qtStart starts producers and consumers on a queue: producer p puts
// perProducer items through puts[p], and consumer i takes through
// takes[i], recording in l, until Stop. progress, if set, is called with
// the number of distinct items taken after each take.
func qtStart(ctx context.Context, t *testing.T, puts []*zk.Queue, perProducer int, takes []*zk.Queue, l *qtLedger, progress func(taken int)) *qtRunning {
	ctx, stop := context.WithCancel(ctx)
	r := &qtRunning{stop: stop, produced: make(chan struct{})}
	var producers sync.WaitGroup
	for p, q := range puts {
		producers.Go(func() {
			for i := range perProducer {
				for {
					err := q.Put(ctx, qtItem(p, i))
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						return
					}
					// A Put that failed added nothing (it would say
					// "outcome unknown" otherwise): try again.
					if strings.Contains(err.Error(), "outcome unknown") {
						t.Errorf("producer %d item %d: %v", p, i, err)
						return
					}
					r.putErrs.Add(1)
				}
			}
		})
	}
	r.wg.Go(func() { producers.Wait(); close(r.produced) })
	for i, q := range takes {
		r.wg.Go(func() {
			for ctx.Err() == nil {
				data, err := q.Take(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					l.fail(err)
					if errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrSessionExpired) {
						return // this consumer's Conn has ended
					}
					continue
				}
				n := l.add(i, data)
				if progress != nil {
					progress(n)
				}
			}
		})
	}
	return r
}

// Stop stops the run and waits for every producer and consumer.
func (r *qtRunning) Stop() {
	r.stop()
	r.wg.Wait()
}

// qtWait polls, in a test only, until cond holds, or fails the test.
func qtWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * zktest.WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *qtLedger) count() (taken, unknown int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.taken), l.errs["unknown"]
}

// TestQueueManyProducersConsumers: 4 producers and 4 consumers spread
// over a 3-node ensemble pass 500 items: every item is taken exactly
// once, and every consumer sees each producer's items in order.
func TestQueueManyProducersConsumers(t *testing.T) {
	const producers, consumers, perProducer = 4, 4, 125
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	var puts, takes []*zk.Queue
	for i := range producers {
		puts = append(puts, zk.NewQueue(c.Connect(t, i%3), "/work/q"))
	}
	for i := range consumers {
		takes = append(takes, zk.NewQueue(c.Connect(t, (i+1)%3), "/work/q"))
	}
	start := time.Now()
	l := newQtLedger()
	total := producers * perProducer
	r := qtStart(ctx, t, puts, perProducer, takes, l, nil)
	qtWait(t, "every item taken", func() bool { n, _ := l.count(); return n >= total })
	r.Stop()
	l.check(t, producers, perProducer, 0)
	t.Logf("%d items through %d producers and %d consumers in %v; taken per consumer: %d %d %d %d; errors %v",
		total, producers, consumers, time.Since(start), len(l.order[0]), len(l.order[1]), len(l.order[2]), len(l.order[3]), l.errs)
	if n, err := takes[0].Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len after: %d, %v", n, err)
	}
}

// TestQueueSingleConsumerStrictFIFO: with several producers and one
// consumer, the consumer gets the items in the order the Puts returned,
// for Puts that did not overlap — from any node.
func TestQueueSingleConsumerStrictFIFO(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	var puts []*zk.Queue
	for i := range 3 {
		puts = append(puts, zk.NewQueue(c.Connect(t, i), "/q"))
	}
	var want []string
	for i := range 30 {
		data := qtItem(i%3, i)
		if err := puts[i%3].Put(ctx, data); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(data))
	}
	consumer := zk.NewQueue(c.Connect(t, 1), "/q")
	var got []string
	for range want {
		data, err := consumer.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(data))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("took %v\nwant %v", got, want)
	}
}

// TestQueueConsumerNodeKilled: 4 producers and 4 consumers on a 3-node
// ensemble pass 500 items; a third of the way through, the node that
// holds a producer and two consumers — one on a plain Conn, which ends
// with it, one on a WithFailover Conn, which moves — is killed. No item
// is ever taken twice; every item is taken, but for items whose Take was
// cut off on the plain Conn and said that its outcome is unknown (at most
// one per such error).
func TestQueueConsumerNodeKilled(t *testing.T) {
	t.Run("follower", func(t *testing.T) { qtKill(t, false) })
	t.Run("leader", func(t *testing.T) { qtKill(t, true) })
}

func qtKill(t *testing.T, killLeader bool) {
	const producers, consumers, perProducer = 4, 4, 125
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	leader := c.LeaderIndex()
	victim := (leader + 1) % 3
	if killLeader {
		victim, leader = leader, victim
	}
	nodes := c.Nodes()
	conn := func(i int) *zk.Conn { return c.Connect(t, i, zk.WithFailover(nodes...)) }
	var puts, takes []*zk.Queue
	for i := range producers {
		puts = append(puts, zk.NewQueue(conn((victim+i)%3), "/q"))
	}
	takes = append(takes, zk.NewQueue(c.Connect(t, victim), "/q"), zk.NewQueue(conn(victim), "/q"))
	for i := 2; i < consumers; i++ {
		takes = append(takes, zk.NewQueue(conn((victim+i)%3), "/q"))
	}
	total := producers * perProducer
	kill := make(chan struct{})
	var once sync.Once
	start := time.Now()
	l := newQtLedger()
	r := qtStart(ctx, t, puts, perProducer, takes, l, func(n int) {
		if n >= total/3 {
			once.Do(func() { close(kill) })
		}
	})
	select {
	case <-kill:
	case <-time.After(2 * zktest.WaitTimeout):
		t.Fatal("no progress")
	}
	c.Kill(victim)
	t.Logf("killed node %d after %v", victim, time.Since(start))
	check := zk.NewQueue(c.Connect(t, leader), "/q")
	qtWait(t, "every item taken or unknown", func() bool {
		select {
		case <-r.produced:
		default:
			return false
		}
		taken, unknown := l.count()
		if taken >= total {
			return true
		}
		if taken+unknown < total {
			return false
		}
		n, err := check.Len(ctx)
		return err == nil && n == 0
	})
	r.Stop()
	t.Logf("consumer errors %v; taken per consumer: %d %d %d %d; %d Puts retried",
		l.errs, len(l.order[0]), len(l.order[1]), len(l.order[2]), len(l.order[3]), r.putErrs.Load())
	lost := l.check(t, producers, perProducer, l.errs["unknown"])
	t.Logf("%d items lost with the plain Conn (allowed: %d)", lost, l.errs["unknown"])
	if len(l.order[1]) == 0 {
		t.Error("the failover consumer took nothing")
	}
	t.Logf("%d items, %d producers, %d consumers, node %d killed, in %v", total, producers, consumers, victim, time.Since(start))
}

// TestQueueExactlyOnceUnderCancellation: consumers whose Takes have tiny
// deadlines, so that many end while a removal is in flight, and producers
// likewise: still no item is taken twice and none is lost — a write cut
// off by its ctx is settled before Put or Take returns.
func TestQueueExactlyOnceUnderCancellation(t *testing.T) {
	const producers, consumers, perProducer = 3, 3, 60
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	var puts, takes []*zk.Queue
	const ttl = 90 * time.Second // the leader checks every minute
	for i := range producers {
		puts = append(puts, zk.NewQueue(c.Connect(t, i%3), "/q", zk.WithTombstoneTTL(ttl)))
	}
	for i := range consumers {
		takes = append(takes, zk.NewQueue(c.Connect(t, (i+1)%3), "/q", zk.WithTombstoneTTL(ttl)))
	}
	l := newQtLedger()
	var wg sync.WaitGroup
	var putCut, takeCut atomic.Int64
	for p, q := range puts {
		wg.Go(func() {
			for i := 0; i < perProducer; {
				pctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
				err := q.Put(pctx, qtItem(p, i))
				cancel()
				switch {
				case err == nil:
					i++
				case strings.Contains(err.Error(), "outcome unknown"):
					t.Errorf("put: %v", err)
					return
				default:
					putCut.Add(1) // not added: put it again
				}
			}
		})
	}
	total := producers * perProducer
	for i, q := range takes {
		wg.Go(func() {
			for ctx.Err() == nil {
				if n, _ := l.count(); n >= total {
					return
				}
				tctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
				data, err := q.Take(tctx)
				cancel()
				if err != nil {
					if strings.Contains(err.Error(), "outcome unknown") {
						t.Errorf("take: %v", err)
						return
					}
					takeCut.Add(1)
					continue
				}
				l.add(i, data)
			}
		})
	}
	wg.Wait()
	l.check(t, producers, perProducer, 0)
	// The tombstones of writes cut off go once their TTL has passed (on
	// the leader's next container check), and not before.
	conn := c.Connect(t, 0)
	if err := conn.Sync(ctx, "/q/receipts"); err != nil {
		t.Fatal(err)
	}
	tombs, _, err := conn.Children(ctx, "/q/receipts")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tombs {
		data, _, err := conn.Get(ctx, "/q/receipts/"+name)
		if err != nil || string(data) != "void" {
			t.Fatalf("receipt %s left: %q, %v", name, data, err)
		}
	}
	c.Advance(time.Minute + zktest.TickTime)
	c.WaitApplied(c.Leader().LastZxid())
	if left, _, err := conn.Children(ctx, "/q/receipts"); err != nil || len(left) != len(tombs) {
		t.Fatalf("%d of %d tombstones left before their TTL: %v", len(left), len(tombs), err)
	}
	c.Advance(time.Minute)
	c.WaitApplied(c.Leader().LastZxid())
	if left, _, err := conn.Children(ctx, "/q/receipts"); err != nil || len(left) != 0 {
		t.Fatalf("%d tombstones left after their TTL: %v", len(left), err)
	}
	t.Logf("%d items; %d Puts and %d Takes cut off by their ctx; %d tombstones, gone after their TTL",
		total, putCut.Load(), takeCut.Load(), len(tombs))
}

// TestPriorityQueueOrder: items come out highest priority first, and in
// the order they were put within a priority, whatever the order of the
// Puts and whatever the priorities (negative and extreme ones included).
func TestPriorityQueueOrder(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	ctx := qtCtx(t)
	prios := []int32{0, 5, -3, math.MaxInt32, math.MinInt32, 5, 1, -3, 0, math.MaxInt32, 2, 5, -1, 1 << 20, math.MinInt32 + 1}
	type item struct {
		prio int32
		seq  int
	}
	var want []item
	for i := range 3 * len(prios) {
		want = append(want, item{prios[rand.IntN(len(prios))], i})
	}
	producers := []*zk.PriorityQueue{
		zk.NewPriorityQueue(c.Connect(t, 0), "/pq"),
		zk.NewPriorityQueue(c.Connect(t, 1), "/pq"),
	}
	for i, it := range want {
		if err := producers[i%2].Put(ctx, it.prio, fmt.Appendf(nil, "%d/%d", it.prio, it.seq)); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortStableFunc(want, func(a, b item) int {
		switch {
		case a.prio > b.prio:
			return -1
		case a.prio < b.prio:
			return 1
		}
		return 0
	})
	cconn := c.Connect(t, 2)
	consumer := zk.NewPriorityQueue(cconn, "/pq")
	if err := cconn.Sync(ctx, "/pq"); err != nil {
		t.Fatal(err)
	}
	if n, err := consumer.Len(ctx); err != nil || n != len(want) {
		t.Fatalf("Len: %d, %v; want %d", n, err, len(want))
	}
	for i, w := range want {
		data, err := consumer.TryTake(ctx)
		if err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
		if got, exp := string(data), fmt.Sprintf("%d/%d", w.prio, w.seq); got != exp {
			t.Fatalf("take %d: %s, want %s", i, got, exp)
		}
	}
	if _, err := consumer.TryTake(ctx); !errors.Is(err, zk.ErrQueueEmpty) {
		t.Fatalf("TryTake on an empty queue: %v", err)
	}
	// A higher priority put later overtakes a waiting lower one.
	if err := producers[0].Put(ctx, 1, []byte("low")); err != nil {
		t.Fatal(err)
	}
	if err := producers[1].Put(ctx, 9, []byte("high")); err != nil {
		t.Fatal(err)
	}
	if err := cconn.Sync(ctx, "/pq"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"high", "low"} {
		data, err := consumer.Take(ctx)
		if err != nil || string(data) != want {
			t.Fatalf("Take: %q, %v; want %q", data, err, want)
		}
	}
}
