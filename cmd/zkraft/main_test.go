package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"go.uber.org/goleak"
)

// envRunMain makes the test binary run main instead of the tests: the
// tests start zkraft servers as child processes of their own binary.
const envRunMain = "ZKRAFT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) != "" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	goleak.VerifyTestMain(m,
		// go-zookeeper/zk's connections end a moment after Close returns.
		goleak.IgnoreTopFunction("github.com/go-zookeeper/zk.(*Conn).sendLoop"),
		goleak.IgnoreTopFunction("time.Sleep"))
}

const wait = 30 * time.Second

// server is a zkraft process.
type server struct {
	t      *testing.T
	args   []string
	dir    string
	client string // host:port
	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the server process.
func (s *server) start() {
	s.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(exe, s.args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), envRunMain+"=1", "ZKRAFT_LOG_LEVEL=debug")
	s.log = &bytes.Buffer{}
	cmd.Stderr = &lockedWriter{w: s.log}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.exited = make(chan struct{})
	exited := s.exited
	s.mu.Unlock()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.t.Cleanup(func() {
		s.kill(syscall.SIGKILL)
		if s.t.Failed() {
			s.t.Logf("server %s log:\n%s", s.client, s.log.String())
		}
	})
}

// kill sends sig and waits for the process to exit.
func (s *server) kill(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(wait):
		s.t.Errorf("server %s did not exit after %v", s.client, sig)
		cmd.Process.Kill()
		<-exited
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fourLetter sends a four-letter word and returns the answer.
func fourLetter(addr, word string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(word)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling a process, bounded by the deadline
	}
}

// TestNoFlags: zkraft with no flags keeps its data in ./zkraft-data and
// serves clients on 127.0.0.1:2181, answering ruok with imok; SIGTERM
// stops it cleanly.
func TestNoFlags(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:2181"); err != nil {
		t.Skipf("port 2181 is taken here: %v", err)
	} else {
		l.Close()
	}
	s := &server{t: t, dir: t.TempDir(), client: "127.0.0.1:2181"}
	s.start()
	var got string
	waitFor(t, "imok", func() bool { got, _ = fourLetter(s.client, "ruok"); return got == "imok" })
	c, _, err := gozk.Connect([]string{s.client}, 4*time.Second, gozk.WithLogger(gozkQuiet{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/hello", []byte("world"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// zkCli.sh, Debian's, reads it back.
	if zkCli := "/usr/share/zookeeper/bin/zkCli.sh"; fileExists(zkCli) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		out, err := exec.CommandContext(ctx, zkCli, "-server", s.client, "get", "/hello").CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "\nworld\n") {
			t.Fatalf("zkCli.sh get /hello: %v\n%s", err, out)
		}
	} else {
		t.Log("zkCli.sh not installed (Debian's zookeeper package): not checked with it")
	}
	s.kill(syscall.SIGTERM)
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, s.log)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "zkraft-data")); err != nil {
		t.Fatalf("no ./zkraft-data: %v", err)
	}
	// The data outlives the process.
	s.start()
	waitFor(t, "imok after a restart", func() bool { got, _ = fourLetter(s.client, "ruok"); return got == "imok" })
	c, _, err = gozk.Connect([]string{s.client}, 4*time.Second, gozk.WithLogger(gozkQuiet{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, _, err := c.Get("/hello")
	if err != nil || string(data) != "world" {
		t.Fatalf("after a restart: %q, %v", data, err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

type gozkQuiet struct{}

func (gozkQuiet) Printf(string, ...any) {}

// ensemble writes zoo.cfg files for n servers, as ZooKeeper's own, and
// starts a zkraft for each with start-foreground.
func ensemble(t *testing.T, n int) []*server {
	base := t.TempDir()
	var lines []string
	clients := make([]int, n)
	for i := range n {
		clients[i] = freePort(t)
		lines = append(lines, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i+1, freePort(t), freePort(t)))
	}
	servers := make([]*server, n)
	for i := range n {
		dir := filepath.Join(base, fmt.Sprint(i+1))
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "myid"), []byte(fmt.Sprintf("%d\n", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf("tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n%s\n",
			data, clients[i], strings.Join(lines, "\n"))
		path := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		servers[i] = &server{t: t, dir: dir, client: fmt.Sprintf("127.0.0.1:%d", clients[i]), args: []string{"start-foreground", path}}
	}
	for _, s := range servers {
		s.start()
	}
	for _, s := range servers {
		waitFor(t, "every server to answer srvr with a mode", func() bool {
			out, _ := fourLetter(s.client, "srvr")
			return strings.Contains(out, "Mode: leader") || strings.Contains(out, "Mode: follower")
		})
	}
	return servers
}

// TestEnsembleGoZookeeper: go-zookeeper/zk against three zkraft processes
// started from zoo.cfg files: CRUD, watches, multi, ACLs and sessions,
// and the server the client is connected to killed under it.
func TestEnsembleGoZookeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	servers := ensemble(t, 3)
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.client)
	}
	c, events, err := gozk.Connect(addrs, 2*time.Second, gozk.WithLogger(gozkQuiet{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "a session", func() bool { return c.State() == gozk.StateHasSession })
	go func() {
		for range events {
		}
	}()
	acl := gozk.WorldACL(gozk.PermAll)

	// CRUD with versions.
	if _, err := c.Create("/app", []byte("v0"), 0, acl); err != nil {
		t.Fatal(err)
	}
	st, err := c.Set("/app", []byte("v1"), 0)
	if err != nil || st.Version != 1 {
		t.Fatalf("set: %+v, %v", st, err)
	}
	if _, err := c.Set("/app", []byte("v2"), 0); !errors.Is(err, gozk.ErrBadVersion) {
		t.Fatalf("set with a stale version: %v", err)
	}
	if _, err := c.Create("/app", nil, 0, acl); !errors.Is(err, gozk.ErrNodeExists) {
		t.Fatalf("create twice: %v", err)
	}
	if err := c.Delete("/nope", -1); !errors.Is(err, gozk.ErrNoNode) {
		t.Fatalf("delete a missing node: %v", err)
	}
	seq1, err := c.Create("/app/task-", nil, gozk.FlagSequence, acl)
	if err != nil {
		t.Fatal(err)
	}
	seq2, _ := c.Create("/app/task-", nil, gozk.FlagSequence, acl)
	if seq1 != "/app/task-0000000000" || seq2 != "/app/task-0000000001" {
		t.Fatalf("sequential names %s, %s", seq1, seq2)
	}

	// Watches, set through one server and fired by a write through another.
	other, _, err := gozk.Connect([]string{addrs[2], addrs[1]}, 2*time.Second, gozk.WithLogger(gozkQuiet{}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, _, dataW, err := c.GetW("/app")
	if err != nil {
		t.Fatal(err)
	}
	_, _, childW, err := c.ChildrenW("/app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Set("/app", []byte("v9"), -1); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, dataW); ev.Type != gozk.EventNodeDataChanged || ev.Path != "/app" {
		t.Fatalf("data watch: %+v", ev)
	}
	if _, err := other.Create("/app/x", nil, gozk.FlagEphemeral, acl); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, childW); ev.Type != gozk.EventNodeChildrenChanged || ev.Path != "/app" {
		t.Fatalf("child watch: %+v", ev)
	}

	// Multi: all or nothing.
	_, err = c.Multi(&gozk.CreateRequest{Path: "/m1", Acl: acl}, &gozk.DeleteRequest{Path: "/missing", Version: -1})
	if !errors.Is(err, gozk.ErrNoNode) {
		t.Fatalf("failing multi: %v", err)
	}
	if ok, _, _ := c.Exists("/m1"); ok {
		t.Fatal("a failed multi left its create behind")
	}
	if _, err := c.Multi(&gozk.CreateRequest{Path: "/m1", Acl: acl}, &gozk.SetDataRequest{Path: "/app", Data: []byte("m"), Version: -1}); err != nil {
		t.Fatal(err)
	}

	// ACLs with digest auth.
	if _, err := c.Create("/secret", []byte("s"), 0, gozk.DigestACL(gozk.PermAll, "user", "pw")); err != nil {
		t.Fatal(err)
	}
	// other is on another server: reads there are sequentially
	// consistent, so it syncs before it looks.
	if _, err := other.Sync("/secret"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Get("/secret"); !errors.Is(err, gozk.ErrNoAuth) {
		t.Fatalf("read without auth: %v", err)
	}
	if err := other.AddAuth("digest", []byte("user:pw")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := other.Get("/secret"); err != nil || string(data) != "s" {
		t.Fatalf("read with auth: %q, %v", data, err)
	}

	// The server the client is on dies: the client moves, its session and
	// its ephemeral node live on, and its watches are set again.
	if _, err := c.Create("/owner", nil, gozk.FlagEphemeral, acl); err != nil {
		t.Fatal(err)
	}
	_, _, ownerW, err := c.GetW("/app")
	if err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	at := slices.Index(addrs, c.Server())
	if at < 0 {
		t.Fatalf("client on %q, not one of %v", c.Server(), addrs)
	}
	servers[at].kill(syscall.SIGKILL)
	waitFor(t, "the client to move", func() bool { return c.State() == gozk.StateHasSession && c.Server() != addrs[at] })
	if c.SessionID() != sid {
		t.Fatalf("session %#x became %#x", sid, c.SessionID())
	}
	// c sends nothing until its watch has fired: go-zookeeper v1.0.4 reads
	// its last zxid for setWatches without a lock while its receive loop
	// may write it for a reply (go-zookeeper/zk#35), which the race
	// detector reports when a request overtakes the setWatches.
	waitFor(t, "a write after the kill", func() bool { _, err := other.Set("/app", []byte("after"), -1); return err == nil })
	if ev := recvEvent(t, ownerW); ev.Type != gozk.EventNodeDataChanged {
		t.Fatalf("watch after the move: %+v", ev)
	}
	var ok bool
	waitFor(t, "the ephemeral node seen from the new server", func() bool {
		ok, _, err = c.Exists("/owner")
		return err == nil
	})
	if !ok {
		t.Fatal("the ephemeral node went with the server")
	}

	// Closing the session deletes its ephemeral nodes at once.
	c.Close()
	waitFor(t, "the ephemeral node to go with its session", func() bool {
		ok, _, err := other.Exists("/owner")
		return err == nil && !ok
	})
}

func recvEvent(t *testing.T, ch <-chan gozk.Event) gozk.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(wait):
		t.Fatal("no event")
		return gozk.Event{}
	}
}

// TestUsage: bad flags fail with status 2 and say why.
func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-peers", "1=a"}, &out); code != 2 || !strings.Contains(out.String(), "-peer") {
		t.Fatalf("status %d: %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"start-foreground"}, &out); code != 2 {
		t.Fatalf("status %d: %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"start-foreground", filepath.Join(t.TempDir(), "missing.cfg")}, &out); code != 2 {
		t.Fatalf("status %d: %s", code, out.String())
	}
}

// TestFromZooCfg: what start-foreground makes of a zoo.cfg, with server
// properties from zoo.cfg keys and from SERVER_JVMFLAGS.
func TestFromZooCfg(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "myid"), []byte("2\n"), 0o644)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s
clientPort=2191
maxClientCnxns=0
reconfigEnabled=true
4lw.commands.whitelist=ruok, mntr
jute.maxbuffer=4096
quorumListenOnAllIPs=true
server.1=10.0.0.1:2888:3888
server.2=10.0.0.2:2888:3888;2191
server.3=10.0.0.3:2888:3888:observer
`, data)), 0o644)
	flags := "-Xmx1g -Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU= -Dzookeeper.extendedTypesEnabled=true"
	cfg, err := fromZooCfg(cfgPath, flags)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.ID != "2" || cfg.PeerAddr != "10.0.0.2:2888" || cfg.Dir != filepath.Join(data, "zkraft"):
		t.Fatalf("id %q, peer %q, dir %q", cfg.ID, cfg.PeerAddr, cfg.Dir)
	case cfg.PeerListenAddr != ":2888":
		t.Fatalf("quorumListenOnAllIPs: peer listen address %q", cfg.PeerListenAddr)
	case cfg.ClientAddr != "0.0.0.0:2191":
		t.Fatalf("client address %q", cfg.ClientAddr)
	case cfg.TickTime != 500*time.Millisecond || cfg.MinSessionTimeout != time.Second || cfg.MaxSessionTimeout != 10*time.Second:
		t.Fatalf("timings %v %v %v", cfg.TickTime, cfg.MinSessionTimeout, cfg.MaxSessionTimeout)
	case cfg.MaxClientConns != -1 || cfg.MaxPacket != 4096 || !cfg.ReconfigEnabled:
		t.Fatalf("limits %d %d, reconfig %v", cfg.MaxClientConns, cfg.MaxPacket, cfg.ReconfigEnabled)
	case cfg.SuperDigest != "super:D/InIHSb7yEEbrWz8b9l71RjZJU=" || cfg.DisableTTL:
		t.Fatalf("super digest %q, TTL disabled %v", cfg.SuperDigest, cfg.DisableTTL)
	case len(cfg.Peers) != 3 || !cfg.Peers[2].Observer || cfg.Peers[0].Addr != "10.0.0.1:2888":
		t.Fatalf("peers %+v", cfg.Peers)
	}
	slices.Sort(cfg.FourLetterWords)
	if !slices.Equal(cfg.FourLetterWords, []string{"mntr", "ruok", "srvr"}) {
		t.Fatalf("four-letter words %v", cfg.FourLetterWords)
	}
	// Without the flags: TTL nodes off, as ZooKeeper's extendedTypesEnabled.
	if cfg, err := fromZooCfg(cfgPath, ""); err != nil || !cfg.DisableTTL || cfg.SuperDigest != "" {
		t.Fatalf("without flags: TTL disabled %v, super %q, %v", cfg.DisableTTL, cfg.SuperDigest, err)
	}
}
