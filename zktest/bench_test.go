package zktest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

// BenchmarkCluster measures writes on a three-node ensemble with fsync on
// (a Persistent cluster): sessions spread over all nodes, so two thirds of
// the writes are forwarded by a follower. It reports ops/s and the p99
// latency of one write. Raft runs with production timeouts: the test
// timings would see leaders deposed by a loaded machine.
func BenchmarkCluster(b *testing.B) {
	c := zktest.NewCluster(b, 3, zktest.Persistent(), zktest.Configure(func(_ int, cfg *zk.Config) {
		cfg.ElectionTimeout = time.Second
	}))
	ctx := context.Background()
	setup := c.Connect(b, c.LeaderIndex())
	for _, sessions := range []int{1, 8, 64} {
		for _, op := range []string{"Create", "Set"} {
			b.Run(fmt.Sprintf("%s/sessions=%d", op, sessions), func(b *testing.B) {
				base := fmt.Sprintf("/%s-%d-%d", op, sessions, b.N)
				if _, err := setup.Create(ctx, base, nil, zk.FlagPersistent, open); err != nil {
					b.Fatal(err)
				}
				conns := make([]*zk.Conn, sessions)
				for i := range conns {
					conns[i] = c.Connect(b, i%c.Size())
					if op == "Set" {
						if _, err := conns[i].Create(ctx, fmt.Sprintf("%s/%d", base, i), nil, zk.FlagPersistent, open); err != nil {
							b.Fatal(err)
						}
					}
				}
				var left atomic.Int64
				left.Store(int64(b.N))
				lat := make([][]time.Duration, sessions)
				data := make([]byte, 100)
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for i, conn := range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						path := fmt.Sprintf("%s/%d", base, i)
						for left.Add(-1) >= 0 {
							t0 := time.Now()
							var err error
							if op == "Create" {
								_, err = conn.Create(ctx, base+"/n", data, zk.FlagSequence, open)
							} else {
								_, err = conn.Set(ctx, path, data, zk.AnyVersion)
							}
							if err != nil {
								b.Error(err)
								return
							}
							lat[i] = append(lat[i], time.Since(t0))
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
				for _, conn := range conns {
					conn.Close()
				}
			})
		}
	}
}
