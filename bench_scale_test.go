package zk_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkraft/zk"
)

// The benchmarks at scale: a node holding a million znodes of 100 bytes,
// under 1,000 parents, kept on disk (fsync on). They take a while and run
// only under -bench:
//
//	go test -run '^$' -bench 'Million' -benchtime 1x .

const millionZnodes = 1_000_000

var benchLogStore = flag.String("zkraft.logstore", "", "the log store of the benchmarks' disk nodes: bolt (default) or wal")

// populate creates n znodes of 100 bytes under 1,000 parents through
// multis of 100 creates, from 8 sessions at once. (Multis of 100 keep the
// log entries small, as a workload of single creates would, so raft's cache
// of recent entries does not count in the memory per znode.)
func populate(b *testing.B, node *zk.Node, n int) {
	b.Helper()
	ctx := context.Background()
	conn := connectBench(b, node)
	defer conn.Close()
	const parents = 1000
	for p := range parents {
		mustCreate(b, conn, fmt.Sprintf("/p%04d", p), nil)
	}
	data := make([]byte, 100)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := connectBench(b, node)
			if c == nil {
				return
			}
			defer c.Close()
			ops := make([]zk.Op, 0, 100)
			for {
				first := int(next.Add(100)) - 100
				if first >= n {
					return
				}
				ops = ops[:0]
				for i := first; i < min(first+100, n); i++ {
					ops = append(ops, zk.CreateOp(fmt.Sprintf("/p%04d/n%07d", i%parents, i), data, zk.FlagPersistent, benchACL))
				}
				if _, err := c.Multi(ctx, ops...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkMillionZnodes measures a node with a million znodes: the memory
// each takes (live heap after GC, the node's whole state: tree, paths,
// data, ACL references; compare ZooKeeper's resident memory with
// bench/compare.sh), the time to restart and serve again from a snapshot,
// and the write latency while a snapshot of them is taken.
func BenchmarkMillionZnodes(b *testing.B) {
	dir := b.TempDir()
	before := heapInUse()
	cfg := zk.Config{Dir: dir, LogStore: zk.LogStore(*benchLogStore)}
	node, err := zk.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	populate(b, node, millionZnodes)
	b.Logf("populated %d znodes in %v", millionZnodes, time.Since(start).Round(time.Millisecond))
	perZnode := float64(heapInUse()-before) / millionZnodes

	b.Run("Memory", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(perZnode, "B/znode")
		b.ReportMetric(perZnode-100, "overhead-B/znode")
	})

	b.Run("WriteDuringSnapshot", func(b *testing.B) {
		steady, during := writeLatencies(b, node)
		b.ReportMetric(float64(steady.Microseconds()), "steady-p99-µs")
		b.ReportMetric(float64(during.Microseconds()), "snapshot-p99-µs")
	})

	if err := node.Snapshot(); err != nil {
		b.Fatal(err)
	}
	if err := node.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("Restart", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			node, err := zk.Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			conn, err := node.Connect(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if _, st, err := conn.Get(context.Background(), "/p0999/n0999999"); err != nil || st.DataLength != 100 {
				b.Fatalf("after restart: %+v, %v", st, err)
			}
			b.ReportMetric(time.Since(start).Seconds(), "s/restart")
			conn.Close()
			node.Close()
		}
	})
}

// writeLatencies runs 16 writers setting znodes of node and returns the
// p99 of their latency in steady state and while a snapshot of the whole
// tree is taken and persisted.
func writeLatencies(b *testing.B, node *zk.Node) (steady, during time.Duration) {
	ctx := context.Background()
	runtime.GC() // the garbage of populating is not the writes' to pay for
	var (
		mu        sync.Mutex
		measuring atomic.Bool
		snapshot  atomic.Bool
		base, snp []time.Duration
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			c := connectBench(b, node)
			if c == nil {
				return
			}
			defer c.Close()
			path := fmt.Sprintf("/p%04d/n%07d", w, w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				if _, err := c.Set(ctx, path, []byte("x"), -1); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				mu.Lock()
				if snapshot.Load() {
					snp = append(snp, d)
				} else {
					base = append(base, d)
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second) // warm-up, then a measurement window: not synchronisation
	measuring.Store(true)
	time.Sleep(3 * time.Second)
	snapshot.Store(true)
	start := time.Now()
	if err := node.Snapshot(); err != nil {
		b.Error(err)
	}
	b.Logf("snapshot of %d znodes took %v", millionZnodes, time.Since(start).Round(time.Millisecond))
	snapshot.Store(false)
	close(stop)
	wg.Wait()
	p99 := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[len(ds)*99/100]
	}
	b.Logf("writes: %d in steady state, %d during the snapshot", len(base), len(snp))
	return p99(base), p99(snp)
}
