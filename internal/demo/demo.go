// Package demo starts the embedded ensembles the programs under examples/
// run on: real zkraft nodes in one process, on an in-memory network, with
// nothing to set up.
package demo

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
)

// Cluster is an ensemble of nodes in this process.
type Cluster struct {
	Nodes []*zk.Node
}

// Start opens an n-node ensemble in memory with short timings, suited to
// a demo that kills nodes and waits for sessions to expire.
func Start(ctx context.Context, n int) (*Cluster, error) {
	net := zk.NewMemNetwork()
	var peers []zk.Peer
	for i := range n {
		peers = append(peers, zk.Peer{ID: fmt.Sprint(i + 1), Addr: fmt.Sprintf("node%d", i+1)})
	}
	c := &Cluster{Nodes: make([]*zk.Node, n)}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			node, err := zk.Open(ctx, zk.Config{
				ID: peers[i].ID, PeerAddr: peers[i].Addr, Peers: peers, Network: net,
				TickTime: 100 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
				// Nodes the demo kills make raft log every failed heartbeat
				// and election; the demo's own output tells the story.
				Logger: hclog.NewNullLogger(),
			})
			c.Nodes[i] = node
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		c.Close()
		return nil, first
	}
	return c, nil
}

// Connect opens a session on node i that moves to another node if node i
// goes away.
func (c *Cluster) Connect(ctx context.Context, i int, opts ...zk.ConnectOption) (*zk.Conn, error) {
	return c.Nodes[i].Connect(ctx, append([]zk.ConnectOption{zk.WithFailover(c.Nodes...)}, opts...)...)
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n != nil {
			n.Close()
		}
	}
}

// Main runs a demo's run function with a deadline, printing to stdout, and
// exits 1 with its error if it fails.
func Main(timeout time.Duration, run func(ctx context.Context, out io.Writer) error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := run(ctx, os.Stdout)
	cancel()
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// Teller returns the function a demo tells its story with: each line
// stamped with the seconds since Teller was called, safe for concurrent
// use.
func Teller(out io.Writer) func(format string, args ...any) {
	start := time.Now()
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "[%5.2fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}
