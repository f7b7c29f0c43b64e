package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the zkraft binary into dir and returns its path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "zkraft")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/zkraft/zk/cmd/zkraft")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// Cluster is an ensemble of zkraft processes on loopback, node i at
// NodeIP(i), with every peer connection through its Proxy. Its methods
// are safe for concurrent use.
type Cluster struct {
	tb    testing.TB
	bin   string
	dir   string
	tick  time.Duration
	Proxy *Proxy
	Nodes []*Node // Nodes[i-1] is node i
}

// Node is one zkraft process of a Cluster.
type Node struct {
	ID         int
	ClientAddr string // where ZooKeeper clients connect
	PeerAddr   string // what peers dial: the Proxy
	ListenAddr string // where the node listens for peers
	Dir        string // the data dir, kept across restarts
	LogPath    string // the process's stderr, across restarts

	c *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd     // guarded by mu; nil while down
	exited chan struct{} // guarded by mu; closed when cmd has exited
	paused bool          // guarded by mu
	starts int           // guarded by mu
}

// ClusterOptions configures NewCluster.
type ClusterOptions struct {
	// Tick is each node's ZooKeeper tickTime: session timeouts may be 2 to
	// 20 ticks. Default 200ms.
	Tick time.Duration
}

// NewCluster starts n nodes of bin, waits until they have a leader and
// every node serves clients, and kills them when the test ends. On a
// failed test it prints the tail of every node's log and keeps the
// nodes' files.
func NewCluster(tb testing.TB, bin string, n int, opts ClusterOptions) *Cluster {
	tb.Helper()
	if n < 1 || n > maxNodes {
		tb.Fatalf("chaos: %d nodes", n)
	}
	dir, err := os.MkdirTemp("", "zkraft-chaos-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{tb: tb, bin: bin, dir: dir, tick: opts.Tick, Proxy: NewProxy(LoopbackNode)}
	if c.tick == 0 {
		c.tick = 200 * time.Millisecond
	}
	tb.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.kill()
		}
		c.Proxy.Close()
		if tb.Failed() {
			for _, nd := range c.Nodes {
				tb.Logf("node %d log (%s), last lines:\n%s", nd.ID, nd.LogPath, tail(nd.LogPath, 60))
			}
			tb.Logf("the nodes' data dirs and logs are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	for i := 1; i <= n; i++ {
		ip := NodeIP(i)
		addrs := freeAddrs(tb, ip, 3)
		nd := &Node{ID: i, c: c, ClientAddr: addrs[0], PeerAddr: addrs[1], ListenAddr: addrs[2],
			Dir: filepath.Join(dir, fmt.Sprint(i)), LogPath: filepath.Join(dir, fmt.Sprintf("node%d.log", i))}
		c.Nodes = append(c.Nodes, nd)
		if err := c.Proxy.Listen(nd.PeerAddr, i, nd.ListenAddr); err != nil {
			tb.Fatal(err)
		}
	}
	for _, nd := range c.Nodes {
		if err := nd.Start(); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

// freeAddrs returns n addresses on ip with ports that were free. The
// listeners stay open until all are chosen: one closed at once may hand
// its port to the next (a node once got the same port for its clients
// and its peers, and could not start).
func freeAddrs(tb testing.TB, ip string, n int) []string {
	tb.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			tb.Skipf("chaos: cannot listen on loopback alias %s: %v", ip, err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// Node returns node i.
func (c *Cluster) Node(i int) *Node { return c.Nodes[i-1] }

// ClientAddrs returns every node's client address.
func (c *Cluster) ClientAddrs() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.ClientAddr)
	}
	return out
}

// Tick returns the nodes' tickTime.
func (c *Cluster) Tick() time.Duration { return c.tick }

// MaxSessionTimeout is the longest session timeout the nodes grant.
func (c *Cluster) MaxSessionTimeout() time.Duration { return 20 * c.tick }

func (c *Cluster) peersFlag() string {
	var ps []string
	for _, nd := range c.Nodes {
		ps = append(ps, fmt.Sprintf("%d=%s", nd.ID, nd.PeerAddr))
	}
	return strings.Join(ps, ",")
}

// Start starts the node's process, from its data dir as it was left.
func (nd *Node) Start() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		return fmt.Errorf("node %d is running", nd.ID)
	}
	logf, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	nd.starts++
	fmt.Fprintf(logf, "=== chaos: start %d of node %d at %s\n", nd.starts, nd.ID, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(nd.c.bin, "-id", fmt.Sprint(nd.ID), "-data", nd.Dir, "-client", nd.ClientAddr,
		"-peer", nd.PeerAddr, "-peer-listen", nd.ListenAddr, "-peers", nd.c.peersFlag(), "-tick", nd.c.tick.String())
	cmd.Env = append(os.Environ(), "ZKRAFT_LOG_LEVEL=warn")
	cmd.Stdout = logf
	cmd.Stderr = logf
	// The node dies with the test binary, even if the test is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	nd.cmd, nd.exited, nd.paused = cmd, exited, false
	return nil
}

// Kill kills the node's process with SIGKILL and waits for it to exit.
func (nd *Node) Kill() { nd.kill() }

func (nd *Node) kill() {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd, nd.paused = nil, false
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	nd.note("killed")
}

// Pause stops the node's process with SIGSTOP.
func (nd *Node) Pause() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil || nd.paused {
		return fmt.Errorf("node %d is not running", nd.ID)
	}
	nd.paused = true
	return nd.cmd.Process.Signal(syscall.SIGSTOP)
}

// Resume lets a paused process go on with SIGCONT.
func (nd *Node) Resume() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil || !nd.paused {
		return nil
	}
	nd.paused = false
	return nd.cmd.Process.Signal(syscall.SIGCONT)
}

// Running reports whether the process is up (possibly paused).
func (nd *Node) Running() bool {
	started, exited := nd.status()
	return started && !exited
}

// Exited reports whether the process exited by itself: a crash.
func (nd *Node) Exited() bool {
	started, exited := nd.status()
	return started && exited
}

// status reports whether the process was started (and not since stopped
// by the harness), and whether it has exited.
func (nd *Node) status() (started, exited bool) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false, false
	}
	select {
	case <-nd.exited:
		return true, true
	default:
		return true, false
	}
}

// note appends a line of the harness's to the node's log, so the log
// shows when faults happened.
func (nd *Node) note(format string, args ...any) {
	f, err := os.OpenFile(nd.LogPath, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "=== chaos: %s: node %d %s\n", time.Now().Format(time.RFC3339Nano), nd.ID, fmt.Sprintf(format, args...))
}

// Note appends a line to every node's log.
func (c *Cluster) Note(format string, args ...any) {
	for _, nd := range c.Nodes {
		nd.note(format, args...)
	}
}

// FourLetter sends a four-letter word to the node and returns the answer.
func (nd *Node) FourLetter(ctx context.Context, word string) (string, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", nd.ClientAddr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	nc.SetDeadline(deadline)
	if _, err := nc.Write([]byte(word)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(nc)
	return string(b), err
}

// Srvr is what a node's srvr four-letter word says.
type Srvr struct {
	Mode string // leader, follower, ...
	Zxid int64
}

// Srvr asks the node for its mode and last zxid.
func (nd *Node) Srvr(ctx context.Context) (Srvr, error) {
	ans, err := nd.FourLetter(ctx, "srvr")
	if err != nil {
		return Srvr{}, err
	}
	var s Srvr
	sc := bufio.NewScanner(strings.NewReader(ans))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "Mode":
			s.Mode = v
		case "Zxid":
			z, err := strconv.ParseInt(strings.TrimPrefix(v, "0x"), 16, 64)
			if err == nil {
				s.Zxid = z
			}
		}
	}
	if s.Mode == "" {
		return s, fmt.Errorf("node %d: srvr said %q", nd.ID, ans)
	}
	return s, nil
}

// Leader returns the id of the node that says it leads, 0 if none does,
// or an error if two do.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	leader := 0
	for _, nd := range c.Nodes {
		s, err := nd.Srvr(ctx)
		if err != nil || s.Mode != "leader" {
			continue
		}
		if leader != 0 {
			// Possible for a moment: a deposed leader that has not yet
			// noticed. Not a safety problem by itself.
			return 0, fmt.Errorf("nodes %d and %d both say they lead", leader, nd.ID)
		}
		leader = nd.ID
	}
	return leader, nil
}

// WaitHealthy waits until every node runs, answers srvr, and one node
// leads while the others follow.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		last = c.healthy(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: cluster not healthy: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	leaders, followers := 0, 0
	for _, nd := range c.Nodes {
		if nd.Exited() {
			return fmt.Errorf("node %d exited by itself", nd.ID)
		}
		s, err := nd.Srvr(ctx)
		if err != nil {
			return err
		}
		switch s.Mode {
		case "leader":
			leaders++
		case "follower":
			followers++
		}
	}
	if leaders != 1 || followers != len(c.Nodes)-1 {
		return fmt.Errorf("%d leaders and %d followers", leaders, followers)
	}
	return nil
}
