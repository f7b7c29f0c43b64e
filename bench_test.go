package zk_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/zkraft/zk"
)

// The benchmarks of the in-process paths of one node. "Mem" runs keep
// everything in memory; "Disk" runs set Config.Dir, so every write is
// fsynced by bbolt before it is acknowledged. Parallel variants run
// benchSessionsPerProc×GOMAXPROCS goroutines, each with its own session, to
// show how concurrent proposals share one raft append and one fsync.

var benchStores = []struct {
	name string
	disk bool
}{{"Mem", false}, {"Disk", true}}

// openBench starts a node and returns it with a connected session.
func openBench(b *testing.B, disk bool) (*zk.Node, *zk.Conn) {
	b.Helper()
	cfg := zk.Config{}
	if disk {
		cfg.Dir = b.TempDir()
	}
	ctx := context.Background()
	node, err := zk.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { node.Close() })
	conn, err := node.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return node, conn
}

// connectBench opens another session on node for a parallel worker.
func connectBench(b *testing.B, node *zk.Node) *zk.Conn {
	conn, err := node.Connect(context.Background())
	if err != nil {
		b.Error(err)
		return nil
	}
	return conn
}

const benchSessionsPerProc = 16

var benchACL = zk.WorldACL(zk.PermAll)

func mustCreate(b *testing.B, conn *zk.Conn, path string, data []byte) {
	b.Helper()
	if _, err := conn.Create(context.Background(), path, data, zk.FlagPersistent, benchACL); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCreate(b *testing.B) {
	data := make([]byte, 100)
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			_, conn := openBench(b, st.disk)
			mustCreate(b, conn, "/b", nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := conn.Create(ctx, "/b/n", data, zk.FlagSequence, benchACL); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"Parallel", func(b *testing.B) {
			node, conn := openBench(b, st.disk)
			mustCreate(b, conn, "/b", nil)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(benchSessionsPerProc)
			b.RunParallel(func(pb *testing.PB) {
				c := connectBench(b, node)
				if c == nil {
					return
				}
				defer c.Close()
				for pb.Next() {
					if _, err := c.Create(ctx, "/b/n", data, zk.FlagSequence, benchACL); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkSet(b *testing.B) {
	data := make([]byte, 100)
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			_, conn := openBench(b, st.disk)
			mustCreate(b, conn, "/s", nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := conn.Set(ctx, "/s", data, zk.AnyVersion); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"Parallel", func(b *testing.B) {
			node, conn := openBench(b, st.disk)
			var next atomic.Int64
			const keys = 64
			for i := range keys {
				mustCreate(b, conn, fmt.Sprintf("/s%d", i), nil)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(benchSessionsPerProc)
			b.RunParallel(func(pb *testing.PB) {
				c := connectBench(b, node)
				if c == nil {
					return
				}
				defer c.Close()
				path := fmt.Sprintf("/s%d", next.Add(1)%keys)
				for pb.Next() {
					if _, err := c.Set(ctx, path, data, zk.AnyVersion); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// The read benchmarks run in memory only: a read never touches the disk.

func BenchmarkGet(b *testing.B) {
	_, conn := openBench(b, false)
	mustCreate(b, conn, "/g", make([]byte, 100))
	ctx := context.Background()
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := conn.Get(ctx, "/g"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := conn.Get(ctx, "/g"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkExists(b *testing.B) {
	_, conn := openBench(b, false)
	mustCreate(b, conn, "/e", nil)
	ctx := context.Background()
	for _, path := range []string{"/e", "/missing"} {
		b.Run(path[1:], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := conn.Exists(ctx, path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkChildren(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			node, conn := openBench(b, false)
			mustCreate(b, conn, "/c", nil)
			ctx := context.Background()
			ops := make([]zk.Op, 0, 1000)
			for i := range n {
				ops = append(ops, zk.CreateOp(fmt.Sprintf("/c/child-%06d", i), nil, zk.FlagPersistent, benchACL))
				if len(ops) == cap(ops) || i == n-1 {
					if _, err := conn.Multi(ctx, ops...); err != nil {
						b.Fatal(err)
					}
					ops = ops[:0]
				}
			}
			_ = node
			b.ReportAllocs()
			for b.Loop() {
				kids, _, err := conn.Children(ctx, "/c")
				if err != nil || len(kids) != n {
					b.Fatalf("%d children, %v", len(kids), err)
				}
			}
		})
	}
}
