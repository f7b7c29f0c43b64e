package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkraft/zk"
)

// The scenarios: what is measured once rather than in a loop. Each
// returns its figures as a result: latencies in P50/P99/P999/Max, the
// whole scenario's time in Seconds.

// scenarios are added to the workloads by name; they are not in the
// default set, being heavier.
func scenarios(base string) map[string]workload {
	return map[string]workload{
		"fanout":    {scenario: func(ctx context.Context, b *bench, n int) (result, error) { return fanout(ctx, b, base, n) }},
		"ephemeral": {scenario: func(ctx context.Context, b *bench, n int) (result, error) { return ephemeralCleanup(ctx, b, base, n) }},
		"failover":  {scenario: func(ctx context.Context, b *bench, n int) (result, error) { return failover(ctx, b, base, n) }},
		"populate":  {scenario: func(ctx context.Context, b *bench, n int) (result, error) { return populate(ctx, b, base, n) }},
	}
}

// populate creates n znodes of 100 bytes under 1,000 parents, in multis
// of 100 creates from 8 sessions, and leaves them: the state for measuring
// a server's memory per znode (bench/compare.sh reads its resident memory
// before and after). The latencies are of the multis.
func populate(ctx context.Context, b *bench, base string, n int) (result, error) {
	conns, closeAll, err := openSessions(ctx, b, 8)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	const parents = 1000
	root := base + "-pop"
	if _, err := conns[0].Create(ctx, root, nil, zk.FlagPersistent, open); err != nil {
		return result{}, fmt.Errorf("%s: %w (populate once per ensemble)", root, err)
	}
	for p := range parents {
		if _, err := conns[0].Create(ctx, fmt.Sprintf("%s/p%04d", root, p), nil, zk.FlagPersistent, open); err != nil {
			return result{}, err
		}
	}
	data := make([]byte, 100)
	var next atomic.Int64
	errs := make([]error, len(conns))
	var (
		mu   sync.Mutex
		lats []time.Duration // of each multi
	)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			ops := make([]zk.Op, 0, 100)
			for {
				first := int(next.Add(100)) - 100
				if first >= n {
					return
				}
				ops = ops[:0]
				for k := first; k < min(first+100, n); k++ {
					ops = append(ops, zk.CreateOp(fmt.Sprintf("%s/p%04d/n%07d", root, k%parents, k), data, zk.FlagPersistent, open))
				}
				t0 := time.Now()
				if _, err := c.Multi(ctx, ops...); err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				lats = append(lats, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	r := summarize(lats, time.Since(start))
	r.Ops, r.OpsPerS = int64(n), float64(n)/r.Seconds
	return r, nil
}

// openSessions opens n sessions, closed by the returned function.
func openSessions(ctx context.Context, b *bench, n int) ([]*zk.Conn, func(), error) {
	conns := make([]*zk.Conn, n)
	closeAll := func() {
		var wg sync.WaitGroup
		for _, c := range conns {
			if c != nil {
				wg.Go(func() { c.Close() })
			}
		}
		wg.Wait()
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	sem := make(chan struct{}, 64) // do not storm the servers with connects
	for i := range conns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conns[i], errs[i] = b.connect(ctx, i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll()
		return nil, nil, err
	}
	return conns, closeAll, nil
}

// fanout: n sessions watch one node; one setData fires them all. The
// latencies are from the Set's start to each watcher's event.
func fanout(ctx context.Context, b *bench, base string, n int) (result, error) {
	conns, closeAll, err := openSessions(ctx, b, n+1)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	writer, watchers := conns[0], conns[1:]
	p := base + "-fan"
	if _, err := writer.Create(ctx, p, nil, zk.FlagPersistent, open); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return result{}, err
	}
	evs := make([]<-chan zk.Event, n)
	for i, c := range watchers {
		if err := c.Sync(ctx, p); err != nil {
			return result{}, err
		}
		if _, _, evs[i], err = c.GetW(ctx, p); err != nil {
			return result{}, err
		}
	}
	lats := make([]time.Duration, n)
	start := time.Now()
	var wg sync.WaitGroup
	var missed atomic.Int64
	for i, ev := range evs {
		wg.Go(func() {
			select {
			case <-ev:
				lats[i] = time.Since(start)
			case <-time.After(time.Minute):
				missed.Add(1)
			}
		})
	}
	if _, err := writer.Set(ctx, p, []byte("x"), zk.AnyVersion); err != nil {
		return result{}, err
	}
	wg.Wait()
	all := time.Since(start)
	r := summarize(lats, all)
	r.Errors = missed.Load()
	return r, nil
}

// ephemeralCleanup: n sessions own 100 ephemeral nodes each; they all
// close; the time is until another session sees none left.
func ephemeralCleanup(ctx context.Context, b *bench, base string, n int) (result, error) {
	conns, closeAll, err := openSessions(ctx, b, n+1)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	observer, owners := conns[0], conns[1:]
	p := base + "-eph"
	if _, err := observer.Create(ctx, p, nil, zk.FlagPersistent, open); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return result{}, err
	}
	for i, c := range owners {
		for k := range 100 {
			if _, err := c.Create(ctx, fmt.Sprintf("%s/s%d-%d", p, i, k), nil, zk.FlagEphemeral, open); err != nil {
				return result{}, err
			}
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range owners {
		wg.Go(func() { c.Close() })
	}
	for {
		if err := observer.Sync(ctx, p); err != nil {
			return result{}, err
		}
		kids, _, ev, err := observer.ChildrenW(ctx, p)
		if err != nil {
			return result{}, err
		}
		if len(kids) == 0 {
			break
		}
		select {
		case <-ev:
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	took := time.Since(start)
	wg.Wait()
	return result{Ops: int64(100 * n), Seconds: took.Seconds(), OpsPerS: float64(100*n) / took.Seconds(),
		P50us: us(took), P99us: us(took), P999us: us(took), MaxUs: us(took)}, nil
}

// failover: n sessions create nodes in a loop on an embedded ensemble;
// after a second the leader is closed; the time is from then to the end
// of the first write begun after it that succeeds.
func failover(ctx context.Context, b *bench, base string, n int) (result, error) {
	if len(b.nodes) < 3 {
		return result{}, errors.New("failover needs an embedded ensemble of 3 or more (-embedded 3)")
	}
	conns, closeAll, err := openSessions(ctx, b, n)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	p := base + "-failover"
	if _, err := conns[0].Create(ctx, p, nil, zk.FlagPersistent, open); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return result{}, err
	}
	var killedAt atomic.Int64 // unix ns; 0 before the kill
	var firstAfter atomic.Int64
	var ops, errs atomic.Int64
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for rctx.Err() == nil {
				began := time.Now().UnixNano()
				wctx, wcancel := context.WithTimeout(rctx, 10*time.Second)
				_, err := c.Create(wctx, p+"/n-", nil, zk.FlagSequence, open)
				wcancel()
				ops.Add(1)
				if err != nil {
					errs.Add(1)
					continue
				}
				// Only a write begun after the close shows the ensemble
				// writing again; one in flight may have committed before.
				if k := killedAt.Load(); k != 0 && began >= k && firstAfter.Load() == 0 {
					firstAfter.CompareAndSwap(0, time.Now().UnixNano())
					cancel()
				}
			}
		})
	}
	time.Sleep(time.Second) // load before the fault: part of what is measured
	leader := slices.IndexFunc(b.nodes, func(m *zk.Node) bool { return m.Stats().Role == zk.RoleLeader })
	if leader < 0 {
		cancel()
		wg.Wait()
		return result{}, errors.New("no leader")
	}
	killedAt.Store(time.Now().UnixNano())
	go b.nodes[leader].Close()
	select {
	case <-rctx.Done():
	case <-time.After(time.Minute):
		cancel()
	}
	wg.Wait()
	if firstAfter.Load() == 0 {
		return result{}, errors.New("no write succeeded within a minute of the leader's close")
	}
	took := time.Duration(firstAfter.Load() - killedAt.Load())
	return result{Ops: ops.Load(), Errors: errs.Load(), Seconds: took.Seconds(),
		P50us: us(took), P99us: us(took), P999us: us(took), MaxUs: us(took)}, nil
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// summarize makes a result of latencies over a run of length all.
func summarize(lats []time.Duration, all time.Duration) result {
	r := result{Ops: int64(len(lats)), Seconds: all.Seconds(), OpsPerS: float64(len(lats)) / all.Seconds()}
	slices.Sort(lats)
	if len(lats) > 0 {
		r.P50us, r.P99us, r.P999us, r.MaxUs = percentile(lats, 0.5), percentile(lats, 0.99), percentile(lats, 0.999), percentile(lats, 1)
	}
	return r
}

// percentile returns the p-th quantile of sorted lats in µs.
func percentile(lats []time.Duration, p float64) float64 {
	return us(lats[min(len(lats)-1, int(p*float64(len(lats))))])
}
