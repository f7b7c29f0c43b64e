package zk_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/zkraft/zk"
)

// The wire benchmarks measure one node through its client port with
// zk.Dial over loopback TCP: what a ZooKeeper client pays on top of the
// in-process paths (BenchmarkGet, BenchmarkCreate). Parallel variants
// give each goroutine its own session, as separate clients.

func openWireBench(b *testing.B) (*zk.Node, func() *zk.Conn) {
	b.Helper()
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{ClientAddr: "127.0.0.1:0", MaxClientConns: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { node.Close() })
	dial := func() *zk.Conn {
		c, err := zk.Dial(ctx, []string{node.ClientAddr()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	return node, dial
}

// wireSessions opens n sessions and sets b's parallelism so that
// RunParallel starts at least n goroutines; next hands each goroutine a
// session, round robin.
func wireSessions(b *testing.B, dial func() *zk.Conn, n int) (next func() *zk.Conn) {
	conns := make([]*zk.Conn, n)
	for i := range conns {
		conns[i] = dial()
	}
	b.SetParallelism((n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var i atomic.Int64
	return func() *zk.Conn { return conns[int(i.Add(1)-1)%n] }
}

func BenchmarkWireGet(b *testing.B) {
	_, dial := openWireBench(b)
	c := dial()
	ctx := context.Background()
	if _, err := c.Create(ctx, "/g", make([]byte, 100), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		b.Fatal(err)
	}
	b.Run("1session", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := c.Get(ctx, "/g"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("32sessions", func(b *testing.B) {
		next := wireSessions(b, dial, 32)
		b.RunParallel(func(pb *testing.PB) {
			c := next()
			for pb.Next() {
				if _, _, err := c.Get(ctx, "/g"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkWireCreate(b *testing.B) {
	_, dial := openWireBench(b)
	ctx := context.Background()
	data := make([]byte, 100)
	var n atomic.Int64 // across the runs b.Run makes of each case
	for _, sessions := range []int{1, 32} {
		b.Run(fmt.Sprintf("%dsessions", sessions), func(b *testing.B) {
			next := wireSessions(b, dial, sessions)
			b.RunParallel(func(pb *testing.PB) {
				c := next()
				for pb.Next() {
					p := fmt.Sprintf("/c-%d-%d", sessions, n.Add(1))
					if _, err := c.Create(ctx, p, data, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
