// Package zktest runs real zkraft ensembles inside a test: n nodes in one
// process on an in-memory network (or on disk under t.TempDir()), with
// the faults a coordination service must survive — killed and restarted
// nodes, partitions, a stalled disk — and a fake clock that expires
// sessions and TTL nodes when the test says so rather than after a sleep.
//
//	c := zktest.NewCluster(t, 3)
//	conn := c.Connect(t, 0)
//	c.Kill(c.LeaderIndex())
//	_, err := conn.Create(ctx, "/x", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll))
//
// Everything a Cluster starts is stopped by t.Cleanup.
package zktest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/fakeclock"
)

// The timings of a test cluster: short enough that elections take
// milliseconds, long enough for the race detector on a loaded machine.
const (
	// ElectionTimeout is raft's heartbeat and election timeout.
	ElectionTimeout = 100 * time.Millisecond
	// TickTime is the nodes' TickTime, on the fake clock.
	TickTime = 100 * time.Millisecond
	// SessionTimeout is the session timeout Connect asks for: 4 ticks.
	SessionTimeout = 4 * TickTime
	// WaitTimeout bounds how long the helpers wait for the cluster to
	// settle before failing the test.
	WaitTimeout = 20 * time.Second
)

// Clock is the fake clock a Cluster's nodes share; Advance moves it.
type Clock = fakeclock.Clock

// Option configures NewCluster.
type Option func(*options)

type options struct {
	persistent bool
	observers  int
	configure  func(i int, cfg *zk.Config)
}

// Persistent keeps each node's state in a directory under t.TempDir(),
// fsynced as in production, instead of in memory.
func Persistent() Option { return func(o *options) { o.persistent = true } }

// Observers makes the last n of the cluster's nodes observers.
func Observers(n int) Option { return func(o *options) { o.observers = n } }

// Configure lets a test change each node's Config before it opens.
func Configure(f func(i int, cfg *zk.Config)) Option {
	return func(o *options) { o.configure = f }
}

// Cluster is a running test ensemble.
type Cluster struct {
	t     testing.TB
	net   *zk.MemNetwork
	clock *Clock
	opts  options
	peers []zk.Peer

	mu    sync.Mutex
	nodes []*member
}

type member struct {
	cfg    zk.Config
	stores *zk.Stores
	disk   *stallableLog
	node   *zk.Node // nil while killed
}

// NewCluster starts an n-node ensemble and waits until it has a leader.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, net: zk.NewMemNetwork(), clock: fakeclock.New(time.Unix(1_700_000_000, 0))}
	for _, o := range opts {
		o(&c.opts)
	}
	for i := range n {
		c.peers = append(c.peers, zk.Peer{ID: fmt.Sprint(i + 1), Addr: fmt.Sprintf("node%d", i+1), Observer: i >= n-c.opts.observers})
	}
	dir := ""
	if c.opts.persistent {
		dir = t.TempDir()
	}
	out := &testWriter{t: t}
	t.Cleanup(out.close) // registered first, so it runs after the nodes stop
	logger := hclog.New(&hclog.LoggerOptions{Name: "zktest", Level: hclog.Error, Output: out})
	for i := range n {
		cfg := zk.Config{
			ID: c.peers[i].ID, PeerAddr: c.peers[i].Addr, Peers: c.peers, Network: c.net,
			TickTime: TickTime, ElectionTimeout: ElectionTimeout, Clock: c.clock, Logger: logger,
		}
		if dir != "" {
			cfg.Dir = filepath.Join(dir, cfg.ID)
		}
		if c.opts.configure != nil {
			c.opts.configure(i, &cfg)
		}
		m := &member{cfg: cfg}
		if cfg.Dir == "" {
			stores := zk.NewMemStores()
			m.disk = &stallableLog{LogStore: stores.Log}
			stores.Log = m.disk
			m.stores = stores
			m.cfg.Stores = stores
		}
		c.nodes = append(c.nodes, m)
	}
	t.Cleanup(c.stop)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("zktest: starting node %d: %v", i, err)
		}
	}
	c.Leader()
	return c
}

func (c *Cluster) start(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	c.mu.Lock()
	m := c.nodes[i]
	cfg := m.cfg
	c.mu.Unlock()
	node, err := zk.Open(ctx, cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.node = node
	c.mu.Unlock()
	return nil
}

func (c *Cluster) stop() {
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	for _, m := range nodes {
		if m.disk != nil {
			m.disk.resume()
		}
	}
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Kill(i)
		}()
	}
	wg.Wait()
}

// Size returns the number of nodes, killed ones included.
func (c *Cluster) Size() int { return len(c.nodes) }

// Clock returns the fake clock the nodes share.
func (c *Cluster) Clock() *Clock { return c.clock }

// Network returns the in-memory network between the nodes.
func (c *Cluster) Network() *zk.MemNetwork { return c.net }

// Node returns node i, or nil while it is killed.
func (c *Cluster) Node(i int) *zk.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].node
}

// Addr returns node i's peer address, as Partition and the MemNetwork
// know it.
func (c *Cluster) Addr(i int) string { return c.peers[i].Addr }

// Nodes returns the running nodes.
func (c *Cluster) Nodes() []*zk.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*zk.Node
	for _, m := range c.nodes {
		if m.node != nil {
			out = append(out, m.node)
		}
	}
	return out
}

// LeaderIndex waits until a running node leads, and returns its index.
func (c *Cluster) LeaderIndex() int {
	c.t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for time.Now().Before(deadline) {
		for i := range c.nodes {
			if n := c.Node(i); n != nil && n.Stats().Role == zk.RoleLeader {
				return i
			}
		}
		time.Sleep(time.Millisecond) // polling for an election, bounded by the deadline
	}
	c.t.Fatalf("zktest: no leader within %v", WaitTimeout)
	return -1
}

// Leader waits until a running node leads, and returns it.
func (c *Cluster) Leader() *zk.Node { return c.Node(c.LeaderIndex()) }

// Connect opens a session on node i, closed when the test ends.
func (c *Cluster) Connect(t testing.TB, i int, opts ...zk.ConnectOption) *zk.Conn {
	t.Helper()
	n := c.Node(i)
	if n == nil {
		t.Fatalf("zktest: node %d is not running", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	conn, err := n.Connect(ctx, append([]zk.ConnectOption{zk.WithSessionTimeout(SessionTimeout)}, opts...)...)
	if err != nil {
		t.Fatalf("zktest: connect to node %d: %v", i, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Kill stops node i at once, as a crash would, keeping its state (on disk
// or in its in-memory stores) for Restart. Its in-process Conns end with
// StateDisconnected; their sessions live on until they expire.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	m := c.nodes[i]
	node := m.node
	m.node = nil
	c.mu.Unlock()
	if node != nil {
		node.Close()
	}
}

// Restart starts node i again on its state, after Kill, and waits until
// it is open.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Node(i) != nil {
		c.t.Fatalf("zktest: restart of node %d, which is running", i)
	}
	if err := c.start(i); err != nil {
		c.t.Fatalf("zktest: restart of node %d: %v", i, err)
	}
}

// Partition splits the nodes into groups by index: nodes in different
// groups cannot reach each other, and a node in no group reaches no one.
func (c *Cluster) Partition(groups ...[]int) {
	var byAddr [][]string
	for _, g := range groups {
		var addrs []string
		for _, i := range g {
			addrs = append(addrs, c.Addr(i))
		}
		byAddr = append(byAddr, addrs)
	}
	c.net.Partition(byAddr...)
}

// Isolate cuts node i off from every other node until Heal: a partition
// of the rest, with i in no group.
func (c *Cluster) Isolate(i int) {
	var rest []int
	for j := range c.Size() {
		if j != i {
			rest = append(rest, j)
		}
	}
	c.Partition(rest)
}

// Heal ends every partition.
func (c *Cluster) Heal() { c.net.Heal() }

// StallDisk makes node i's raft log block every write until ResumeDisk,
// as a disk that stops answering. Only in-memory clusters can stall.
func (c *Cluster) StallDisk(i int) {
	c.t.Helper()
	if c.nodes[i].disk == nil {
		c.t.Fatalf("zktest: StallDisk needs an in-memory cluster")
	}
	c.nodes[i].disk.stall()
}

// ResumeDisk lets node i's stalled log writes complete.
func (c *Cluster) ResumeDisk(i int) {
	if d := c.nodes[i].disk; d != nil {
		d.resume()
	}
}

// Advance moves the fake clock forward by d, one tick at a time, waiting
// after each tick until every running node has done its housekeeping:
// reported its sessions, or, as leader, expired the silent ones and
// reaped containers and TTL nodes that were due.
func (c *Cluster) Advance(d time.Duration) {
	c.t.Helper()
	for d > 0 {
		step := min(d, TickTime)
		d -= step
		nodes := c.Nodes()
		before := make([]uint64, len(nodes))
		for i, n := range nodes {
			before[i] = n.Stats().Ticks
		}
		c.clock.Advance(step)
		if step < TickTime {
			continue // may not complete a tick
		}
		deadline := time.Now().Add(WaitTimeout)
		for i, n := range nodes {
			for n.Stats().Ticks == before[i] {
				if time.Now().After(deadline) {
					c.t.Fatalf("zktest: node %s did not tick", n.ID())
				}
				if n.Stats().Role == zk.RoleShutdown {
					break
				}
				time.Sleep(100 * time.Microsecond) // polling for the tick, bounded by the deadline
			}
		}
	}
}

// WaitApplied waits until every running node has applied zxid.
func (c *Cluster) WaitApplied(zxid int64) {
	c.t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for _, n := range c.Nodes() {
		for n.LastZxid() < zxid {
			if time.Now().After(deadline) {
				c.t.Fatalf("zktest: node %s stuck at zxid %#x, below %#x", n.ID(), n.LastZxid(), zxid)
			}
			time.Sleep(time.Millisecond) // polling for replication, bounded by the deadline
		}
	}
}

// testWriter sends the nodes' logs to the test's log while it runs.
type testWriter struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
