package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/zkraft/zk"
)

// The lock workload: clients on their own sessions contend for one
// zk.Mutex. A holder reports when Lock returned, and when its hold ended:
// when it began Unlock, or when it saw Lost close (the recipe's signal
// that the session may be lost and the lock handed on, which it gives
// before that could happen). The checker asserts that no two holds
// overlap and that fencing tokens grow from each holder to the next.

// LockPath is the lock workload's Mutex.
const LockPath = "/lock"

// hold is one holder's time with the lock.
type hold struct {
	client     int
	token      int64
	node       string
	start, end int64 // Env.Now; end is when Unlock began or Lost was seen
	lost       bool  // the hold ended by Lost
	why        string
	server     string // the node the holder's session was on when Lock returned
}

// LockWorkload is the lock workload's clients and records.
type LockWorkload struct {
	env     *Env
	clients int

	mu       sync.Mutex
	holds    []hold // guarded by mu
	failures int    // guarded by mu; Lock calls that returned an error
	fails    Failures
}

// NewLockWorkload returns the workload with n contenders.
func NewLockWorkload(env *Env, n int) *LockWorkload {
	return &LockWorkload{env: env, clients: n}
}

// Run runs the contenders until ctx ends.
func (w *LockWorkload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.clients {
		wg.Go(func() { w.client(ctx, i) })
	}
	wg.Wait()
}

func (w *LockWorkload) client(ctx context.Context, i int) {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	s := &session{env: w.env}
	defer s.close()
	var m *zk.Mutex
	var mconn *zk.Conn
	for ctx.Err() == nil {
		conn, err := s.get(ctx)
		if err != nil {
			return
		}
		if conn != mconn {
			m, mconn = zk.NewMutex(conn, LockPath), conn
		}
		lockCtx, cancel := context.WithTimeout(ctx, 4*w.env.OpTimeout)
		err = m.Lock(lockCtx)
		cancel()
		if err != nil {
			w.mu.Lock()
			w.failures++
			w.mu.Unlock()
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		h := hold{client: i, token: m.Token(), node: m.NodePath(), start: w.env.Now(), server: s.on()}
		// Hold it a while, or until it may be lost; now and then long
		// enough for a fault to strike during the hold.
		d := time.Duration(20+rng.IntN(200)) * time.Millisecond
		if rng.IntN(5) == 0 {
			d = time.Duration(500+rng.IntN(2500)) * time.Millisecond
		}
		select {
		case <-m.Lost():
			h.end, h.lost = w.env.Now(), true
			h.why = fmt.Sprint(m.Err())
		case <-time.After(d):
			h.end = w.env.Now()
		case <-ctx.Done():
			h.end = w.env.Now()
		}
		w.mu.Lock()
		w.holds = append(w.holds, h)
		w.mu.Unlock()
		// Unlock, even after Lost: it frees the Mutex. If it cannot, the
		// session is given up, which deletes the node.
		uctx, cancel := context.WithTimeout(context.Background(), 2*w.env.OpTimeout)
		if err := m.Unlock(uctx); err != nil {
			s.drop()
			m, mconn = nil, nil
		}
		cancel()
	}
}

// LockResult sums up a check of the lock workload.
type LockResult struct {
	Holds, Lost, Failed int
}

// Check checks the holds: no two overlap, and tokens strictly grow in the
// order holds began.
func (w *LockWorkload) Check() (LockResult, []string) {
	w.mu.Lock()
	holds := append([]hold(nil), w.holds...)
	res := LockResult{Holds: len(holds), Failed: w.failures}
	w.mu.Unlock()
	fails := w.fails.List()
	sort.Slice(holds, func(i, j int) bool { return holds[i].start < holds[j].start })
	var last hold // of the holds before h, the one that ended last
	for i, h := range holds {
		if h.lost {
			res.Lost++
		}
		if i == 0 {
			last = h
			continue
		}
		p := last
		if h.end > last.end {
			last = h
		}
		if h.start < p.end {
			fails = append(fails, fmt.Sprintf("lock: two holders at once: client %d (on %s) held %s (token %#x) over [%v, %v]%s, client %d (on %s) took %s (token %#x) at %v",
				p.client, p.server, p.node, p.token, time.Duration(p.start), time.Duration(p.end), lostNote(p), h.client, h.server, h.node, h.token, time.Duration(h.start)))
		}
		if prev := holds[i-1]; h.token <= prev.token {
			fails = append(fails, fmt.Sprintf("lock: token went back: client %d held token %#x from %v, then client %d token %#x from %v",
				prev.client, prev.token, time.Duration(prev.start), h.client, h.token, time.Duration(h.start)))
		}
	}
	return res, fails
}

func lostNote(h hold) string {
	if h.lost {
		return " (ended by Lost: " + h.why + ")"
	}
	return ""
}
