package zk_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/jute"
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

// BenchmarkWireIdleConnections measures what an idle client connection
// costs the server: heap and goroutine stacks per connected session (the
// clients are bare sockets that connected and wait, so nothing of a
// client library is counted).
func BenchmarkWireIdleConnections(b *testing.B) {
	const conns = 2000
	node, _ := openWireBench(b)
	for b.Loop() {
		before := serverMemory()
		var ncs []net.Conn
		for range conns {
			nc, err := net.Dial("tcp", node.ClientAddr())
			if err != nil {
				b.Fatal(err)
			}
			ncs = append(ncs, nc)
			req := jute.Marshal(&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)})
			if _, err := nc.Write(binary.BigEndian.AppendUint32(nil, uint32(len(req)))); err != nil {
				b.Fatal(err)
			}
			if _, err := nc.Write(req); err != nil {
				b.Fatal(err)
			}
			var hdr [4]byte
			if _, err := io.ReadFull(nc, hdr[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(nc, make([]byte, binary.BigEndian.Uint32(hdr[:]))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(serverMemory()-before)/conns, "B/conn")
		for _, nc := range ncs {
			nc.Close()
		}
	}
}

// serverMemory is the heap and goroutine stacks in use, after a GC.
func serverMemory() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
