package zk_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/zkraft/zk"
)

// faultLog is a raft.LogStore whose writes can be made to block, as on a
// disk that stopped answering, or to fail, as on a full or broken disk;
// reads go on. A failed write changes nothing.
type faultLog struct {
	raft.LogStore
	mu      sync.Mutex
	stalled chan struct{} // non-nil while stalled; closed to resume
	fail    error         // returned by every write while non-nil

	blocked atomic.Int64 // writes that found the disk stalled
	failed  atomic.Int64 // writes refused with fail
}

func (f *faultLog) stall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalled == nil {
		f.stalled = make(chan struct{})
	}
}

func (f *faultLog) resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalled != nil {
		close(f.stalled)
		f.stalled = nil
	}
}

// failWith makes every write fail with err; nil heals the disk.
func (f *faultLog) failWith(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// gate blocks while the disk is stalled, then returns the write's error.
func (f *faultLog) gate() error {
	f.mu.Lock()
	ch := f.stalled
	f.mu.Unlock()
	if ch != nil {
		f.blocked.Add(1)
		<-ch
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		f.failed.Add(1)
		return f.fail
	}
	return nil
}

func (f *faultLog) StoreLog(l *raft.Log) error {
	if err := f.gate(); err != nil {
		return err
	}
	return f.LogStore.StoreLog(l)
}

func (f *faultLog) StoreLogs(ls []*raft.Log) error {
	if err := f.gate(); err != nil {
		return err
	}
	return f.LogStore.StoreLogs(ls)
}

func (f *faultLog) DeleteRange(lo, hi uint64) error {
	if err := f.gate(); err != nil {
		return err
	}
	return f.LogStore.DeleteRange(lo, hi)
}

// faultStable is a raft.StableStore whose writes to chosen keys fail on
// demand.
type faultStable struct {
	raft.StableStore
	mu     sync.Mutex
	fail   error
	keys   map[string]bool // the keys whose writes fail; nil: all
	failed atomic.Int64
}

func (f *faultStable) failWith(err error, keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.keys = err, nil
	if len(keys) > 0 {
		f.keys = map[string]bool{}
		for _, k := range keys {
			f.keys[k] = true
		}
	}
}

func (f *faultStable) gate(key []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil && (f.keys == nil || f.keys[string(key)]) {
		f.failed.Add(1)
		return f.fail
	}
	return nil
}

func (f *faultStable) Set(k, v []byte) error {
	if err := f.gate(k); err != nil {
		return err
	}
	return f.StableStore.Set(k, v)
}

func (f *faultStable) SetUint64(k []byte, v uint64) error {
	if err := f.gate(k); err != nil {
		return err
	}
	return f.StableStore.SetUint64(k, v)
}

// faultCluster is an in-process ensemble on a MemNetwork whose nodes keep
// their raft state in memory behind faultLog and faultStable wrappers, on
// the real clock (the stores stall and fail in real time).
type faultCluster struct {
	t      *testing.T
	net    *zk.MemNetwork
	peers  []zk.Peer
	logs   []*faultLog
	stable []*faultStable
	stores []*zk.Stores
	out    []*procBuffer
	// trailing is the nodes' TrailingLogs, 0 for the default: set it
	// before a restart to make a node catch up by snapshot.
	trailing uint64

	mu    sync.Mutex
	nodes []*zk.Node // nil while closed
}

// faultElection is the clusters' ElectionTimeout (and so their
// DiskStallTimeout).
const faultElection = 150 * time.Millisecond

// faultTick is the clusters' TickTime: sessions last up to 20 ticks, long
// enough for a node that was behind to catch up with its new session.
const faultTick = 500 * time.Millisecond

// faultWait bounds every wait of these tests for the cluster to settle.
const faultWait = 30 * time.Second

func newFaultCluster(t *testing.T, size int) *faultCluster {
	c := &faultCluster{t: t, net: zk.NewMemNetwork(), nodes: make([]*zk.Node, size)}
	for i := range size {
		c.peers = append(c.peers, zk.Peer{ID: fmt.Sprint(i + 1), Addr: fmt.Sprintf("node%d", i+1)})
		mem := raft.NewInmemStore()
		fl, fs := &faultLog{LogStore: mem}, &faultStable{StableStore: mem}
		c.logs, c.stable = append(c.logs, fl), append(c.stable, fs)
		c.stores = append(c.stores, &zk.Stores{Log: fl, Stable: fs, Snapshots: raft.NewInmemSnapshotStore()})
		c.out = append(c.out, &procBuffer{})
	}
	t.Cleanup(func() {
		for i := range size {
			c.logs[i].resume()
			c.logs[i].failWith(nil)
			c.stable[i].failWith(nil)
		}
		for i := range size {
			c.close(i)
		}
		if t.Failed() {
			for i, o := range c.out {
				t.Logf("---- log of node %s ----\n%s", c.peers[i].ID, o)
			}
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, size)
	for i := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.open(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open node %d: %v", i, err)
		}
	}
	return c
}

func (c *faultCluster) open(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	n, err := zk.Open(ctx, zk.Config{
		ID: c.peers[i].ID, PeerAddr: c.peers[i].Addr, Peers: c.peers, Network: c.net,
		Stores: c.stores[i], ElectionTimeout: faultElection, TickTime: faultTick, TrailingLogs: c.trailing,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "node" + c.peers[i].ID, Level: hclog.Warn, Output: c.out[i]}),
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return nil
}

func (c *faultCluster) node(i int) *zk.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

func (c *faultCluster) close(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n != nil {
		n.Close()
	}
}

// leader waits until one of the nodes in among leads and the others of
// among know it, and returns its index.
func (c *faultCluster) leader(among ...int) int {
	c.t.Helper()
	if len(among) == 0 {
		for i := range c.peers {
			among = append(among, i)
		}
	}
	deadline := time.Now().Add(faultWait)
	for time.Now().Before(deadline) {
		lead := -1
		for _, i := range among {
			if c.node(i).Stats().Role == zk.RoleLeader {
				lead = i
			}
		}
		agree := lead >= 0
		for _, i := range among {
			agree = agree && c.node(i).Stats().Leader == c.peers[max(lead, 0)].ID
		}
		if agree {
			return lead
		}
		time.Sleep(5 * time.Millisecond) // polling for an election, bounded by the deadline
	}
	c.t.Fatalf("no leader among nodes %v within %v", among, faultWait)
	return -1
}

// connect opens a session on node i, closed when the test ends.
func (c *faultCluster) connect(i int) *zk.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	conn, err := c.node(i).Connect(ctx, zk.WithSessionTimeout(20*time.Second))
	if err != nil {
		c.t.Fatalf("connect to node %d: %v", i, err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return conn
}

// writeLog records the outcome of every write a test makes: acknowledged
// ones must survive, unknown ones (an error came back) may or may not.
type writeLog struct {
	mu      sync.Mutex
	acked   map[string]string // path -> data
	unknown map[string]string
	errs    map[string]int // error text -> count, for the test's log
}

func newWriteLog() *writeLog {
	return &writeLog{acked: map[string]string{}, unknown: map[string]string{}, errs: map[string]int{}}
}

// create creates path with data through conn and records the outcome.
func (w *writeLog) create(ctx context.Context, conn *zk.Conn, path, data string) error {
	_, err := conn.Create(ctx, path, []byte(data), zk.FlagPersistent, zk.WorldACL(zk.PermAll))
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.acked[path] = data
	} else {
		w.unknown[path] = data
		msg := err.Error()
		if i := strings.Index(msg, " ("); i > 0 {
			msg = msg[:i]
		}
		w.errs[msg]++
	}
	return err
}

func (w *writeLog) counts() (acked, unknown int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), len(w.unknown)
}

// checkNode syncs node i and checks that it has every acknowledged write,
// and that each unknown one it has carries the data written.
func (c *faultCluster) checkNode(i int, w *writeLog) {
	c.t.Helper()
	c.caughtUp(i)
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	conn, err := c.node(i).Connect(ctx)
	if err != nil {
		c.t.Fatalf("node %d: connect: %v", i, err)
	}
	defer conn.Close()
	if err := conn.Sync(ctx, "/"); err != nil {
		c.t.Fatalf("node %d: sync: %v", i, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, want := range w.acked {
		got, _, err := conn.Get(ctx, p)
		if err != nil || string(got) != want {
			c.t.Fatalf("node %d: acknowledged %s: got %q, %v; want %q", i, p, got, err, want)
		}
	}
	for p, want := range w.unknown {
		got, _, err := conn.Get(ctx, p)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			c.t.Fatalf("node %d: unknown-outcome %s: %v", i, p, err)
		}
		if err == nil && string(got) != want {
			c.t.Fatalf("node %d: unknown-outcome %s holds %q, want %q", i, p, got, want)
		}
	}
}

// caughtUp waits until node i has applied what the leader had when
// called: a node that was behind opens a session only once it applied
// its creation, and the leader counts the session's timeout from then.
func (c *faultCluster) caughtUp(i int) {
	c.t.Helper()
	want := c.node(c.leader()).LastZxid()
	deadline := time.Now().Add(faultWait)
	for c.node(i).LastZxid() < want {
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d stuck at zxid %#x, below %#x", i, c.node(i).LastZxid(), want)
		}
		time.Sleep(5 * time.Millisecond) // polling for replication, bounded by the deadline
	}
}

// checkAgree waits until every node has applied the same zxid and then
// checks that they hold the same children under dir.
func (c *faultCluster) checkAgree(dir string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	var first []string
	for i := range c.peers {
		conn, err := c.node(i).Connect(ctx)
		if err != nil {
			c.t.Fatalf("node %d: connect: %v", i, err)
		}
		if err := conn.Sync(ctx, "/"); err != nil {
			c.t.Fatalf("node %d: sync: %v", i, err)
		}
		names, _, err := conn.Children(ctx, dir)
		conn.Close()
		if err != nil {
			c.t.Fatalf("node %d: children %s: %v", i, dir, err)
		}
		slices.Sort(names)
		if i == 0 {
			first = names
		} else if strings.Join(first, ",") != strings.Join(names, ",") {
			c.t.Fatalf("node %d: %s has %d children, node 0 has %d", i, dir, len(names), len(first))
		}
	}
}
