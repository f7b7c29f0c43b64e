package zk_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
)

// The interop tests drive real ZooKeeper clients — Python's kazoo
// (interop_kazoo_test.go) and Apache ZooKeeper's zkCli.sh
// (interop_zkcli_test.go) — against an ensemble of zkraft nodes that
// answer the ZooKeeper wire protocol on loopback TCP. They skip, saying
// what is missing, when a client is not installed.
//
// The environment may point them at other installs:
//
//	ZKRAFT_INTEROP_PYTHON  a python3 that can import kazoo
//	ZKRAFT_INTEROP_ZKCLI   Apache ZooKeeper's zkCli.sh

// interopWait bounds every wait of an interop test for the ensemble or
// for a client's answer: generous, as the nodes may run under the race
// detector while a JVM starts on the same cores.
const interopWait = 30 * time.Second

// interopCluster is an ensemble of zkraft nodes on loopback TCP with the
// system clock, each answering ZooKeeper clients on a port of its own.
type interopCluster struct {
	nodes []*zk.Node
}

// startInteropCluster opens an n-node ensemble and waits until it has a
// leader. Its nodes close when the test ends.
func startInteropCluster(t *testing.T, n int) *interopCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), interopWait)
	defer cancel()
	logs := &interopLog{t: t}
	t.Cleanup(logs.close) // registered first, so it runs after the nodes close
	logger := hclog.New(&hclog.LoggerOptions{Name: "zkraft", Level: hclog.Warn, Output: logs})
	var peers []zk.Peer
	for i := range n {
		peers = append(peers, zk.Peer{ID: fmt.Sprint(i + 1), Addr: freeTCPAddr(t)})
	}
	c := &interopCluster{nodes: make([]*zk.Node, n)}
	t.Cleanup(c.close)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c.nodes[i], errs[i] = zk.Open(ctx, zk.Config{
				ID: peers[i].ID, PeerAddr: peers[i].Addr, Peers: peers,
				ClientAddr:      "127.0.0.1:0",
				TickTime:        100 * time.Millisecond,
				ElectionTimeout: 300 * time.Millisecond,
				// Clients' sessions may last up to 10s (kazoo asks for
				// 10s, zkCli for 30s), so that a loaded machine does not
				// expire them.
				MaxSessionTimeout: 10 * time.Second,
				// Answer every four-letter word the node knows: kazoo's
				// server_version asks envi.
				FourLetterWords: []string{"*"},
				Logger:          logger.Named("node" + peers[i].ID),
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("opening node %d: %v", i+1, err)
		}
	}
	deadline := time.Now().Add(interopWait)
	for c.leader() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no leader within %v", interopWait)
		}
		time.Sleep(5 * time.Millisecond) // polling for the election, bounded by the deadline
	}
	for i, nd := range c.nodes {
		t.Logf("node %d: client port %s, %s", i+1, nd.ClientAddr(), nd.Stats().Role)
	}
	return c
}

func (c *interopCluster) leader() *zk.Node {
	for _, nd := range c.nodes {
		if nd != nil && nd.Stats().Role == zk.RoleLeader {
			return nd
		}
	}
	return nil
}

// Servers returns the ensemble's client addresses as a client's connect
// string: "host:port,host:port,...".
func (c *interopCluster) Servers() string {
	addrs := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		addrs[i] = nd.ClientAddr()
	}
	return strings.Join(addrs, ",")
}

// ClientAddr returns node i's client address.
func (c *interopCluster) ClientAddr(i int) string { return c.nodes[i].ClientAddr() }

func (c *interopCluster) close() {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		if nd != nil {
			wg.Go(func() { nd.Close() })
		}
	}
	wg.Wait()
}

// interopLog sends the nodes' warnings to the test's log while it runs.
type interopLog struct {
	t      *testing.T
	mu     sync.Mutex
	closed bool
}

func (w *interopLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *interopLog) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// The clients are looked for once per test binary.
var (
	kazooOnce   sync.Once
	kazooPy     string
	kazooReason string

	zkCliOnce   sync.Once
	zkCliScript string
	zkCliReason string
)

// kazooPython returns a python3 that can import kazoo, or skips t. It
// prefers the system's python3, where Debian's python3-kazoo lives, to
// whatever python3 comes first on PATH.
func kazooPython(t *testing.T) string {
	t.Helper()
	kazooOnce.Do(func() {
		var candidates []string
		if p := os.Getenv("ZKRAFT_INTEROP_PYTHON"); p != "" {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, "/usr/bin/python3")
		if p, err := exec.LookPath("python3"); err == nil {
			candidates = append(candidates, p)
		}
		var tried []string
		for _, py := range candidates {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := exec.CommandContext(ctx, py, "-c", "import kazoo.client, kazoo.recipe.lock").CombinedOutput()
			cancel()
			if err == nil {
				kazooPy = py
				return
			}
			tried = append(tried, fmt.Sprintf("%s: %v %s", py, err, lastLine(string(out))))
		}
		kazooReason = fmt.Sprintf("kazoo is not installed (apt-get install python3-kazoo, or set ZKRAFT_INTEROP_PYTHON); tried %s",
			strings.Join(tried, "; "))
	})
	if kazooPy == "" {
		t.Skip(kazooReason)
	}
	return kazooPy
}

// zkCli returns the path of Apache ZooKeeper's zkCli.sh, or skips t when
// it or Java is missing.
func zkCli(t *testing.T) string {
	t.Helper()
	zkCliOnce.Do(func() {
		candidates := []string{os.Getenv("ZKRAFT_INTEROP_ZKCLI"), "/usr/share/zookeeper/bin/zkCli.sh"}
		if p, err := exec.LookPath("zkCli.sh"); err == nil {
			candidates = append(candidates, p)
		}
		for _, p := range candidates {
			if st, err := os.Stat(p); p != "" && err == nil && !st.IsDir() {
				zkCliScript = p
				break
			}
		}
		if zkCliScript == "" {
			zkCliReason = "zkCli.sh is not installed (apt-get install zookeeper, or set ZKRAFT_INTEROP_ZKCLI)"
			return
		}
		if _, err := exec.LookPath("bash"); err != nil {
			zkCliScript, zkCliReason = "", "zkCli.sh needs bash, which is not on PATH"
			return
		}
		java := "java"
		if home := os.Getenv("JAVA_HOME"); home != "" {
			java = filepath.Join(home, "bin", "java")
		}
		if _, err := exec.LookPath(java); err != nil {
			zkCliScript, zkCliReason = "", fmt.Sprintf("zkCli.sh needs Java: %v", err)
		}
	})
	if zkCliScript == "" {
		t.Skip(zkCliReason)
	}
	return zkCliScript
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
