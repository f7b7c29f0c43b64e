//go:build unix

package zk_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkraft/zk"
)

// TestInteropZkCli plays the master-worker session of "ZooKeeper:
// Distributed Process Coordination" (chapter 2) with Apache ZooKeeper
// 3.8's zkCli.sh against a three-node ensemble, each zkCli on another
// node:
//
//   - a master takes /master with an ephemeral create; a second
//     would-be master's create fails with "Node already exists" and it
//     watches /master instead (stat -w, and the old "stat PATH true");
//   - the second session creates /workers, /tasks and /assign, a
//     sequential task (/tasks/task-0000000000), and watches /tasks (ls -w);
//   - the master's session adds a task: the watcher prints
//     NodeChildrenChanged for /tasks;
//   - the master quits: the watcher prints NodeDeleted for /master, once,
//     and so does the master, which watched it too, before its Closed;
//   - one-shot "zkCli.sh -server HOST:PORT CMD..." runs on the third node:
//     "ls /tasks" lists both tasks; "create /workers again" prints "Node
//     already exists" and exits with status 1.
//
// Two zkCli sessions are driven through their stdin; zkCli prints the
// outcome of commands on stderr and watch events on stdout, so both go
// to one pipe that the test reads line by line.
func TestInteropZkCli(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs against a three-node ensemble")
	}
	script := zkCli(t)
	c := startInteropCluster(t, 3)

	master := startZkCliSession(t, script, "master", c.ClientAddr(0))
	master.send(`create -e /master "m1"`)
	master.expect(`^Created /master$`)

	backup := startZkCliSession(t, script, "backup", c.ClientAddr(1))
	backup.send(`create -e /master "m2"`)
	if line := backup.expect(`^(Created /master|Node already exists: /master)$`); line != "Node already exists: /master" {
		t.Fatalf("a second ephemeral create of /master: %q", line)
	}
	backup.send(`get /master`)
	backup.expect(`^m1$`)

	// 3.8's syntax is "stat -w PATH"; it still takes the old
	// "stat PATH true", with a deprecation note. Both set the same watch.
	backup.send(`stat -w /master`)
	st := backup.expectStat()
	if st["ephemeralOwner"] == "0x0" || st["ephemeralOwner"] == "" || st["dataLength"] != "2" || st["dataVersion"] != "0" {
		t.Errorf("stat -w /master: %v", st)
	}
	backup.send(`stat /master true`)
	backup.expect(`^'stat path \[watch\]' has been deprecated`)
	if st2 := backup.expectStat(); st2["cZxid"] != st["cZxid"] || st2["ephemeralOwner"] != st["ephemeralOwner"] {
		t.Errorf("stat /master true: %v; stat -w /master: %v", st2, st)
	}

	for _, p := range []string{"/workers", "/tasks", "/assign"} {
		backup.send(fmt.Sprintf(`create %s ""`, p))
		backup.expect("^Created " + regexp.QuoteMeta(p) + "$")
	}
	backup.send(`create -s /tasks/task- "cmd"`)
	backup.expect(`^Created /tasks/task-0000000000$`)
	backup.send(`ls -w /tasks`)
	backup.expect(`^\[task-0000000000\]$`)

	master.send(`create -s /tasks/task- "cmd"`)
	master.expect(`^Created /tasks/task-0000000001$`)
	backup.expect(`^WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/tasks$`)

	// The master watches its own node: closing its session deletes the
	// node, and the event comes before the session's end, as with
	// ZooKeeper.
	master.send(`stat -w /master`)
	master.expectStat()
	master.quit()
	if got := master.linesMatching(`type:NodeDeleted path:/master$|state:Closed`); !slices.Equal(got, []string{
		"WatchedEvent state:SyncConnected type:NodeDeleted path:/master",
		"WatchedEvent state:Closed type:None path:null",
	}) {
		t.Errorf("the master printed %q as it quit; want its NodeDeleted, then Closed", got)
	}
	backup.expect(`^WatchedEvent state:SyncConnected type:NodeDeleted path:/master$`)
	backup.send(`stat /master`)
	backup.expect(`^Node does not exist: /master$`)
	backup.send(`ls /`)
	backup.expect(`^\[assign, tasks, workers, zookeeper\]$`)

	out, err := runZkCliCommand(t, script, c.ClientAddr(2), "ls", "/tasks")
	if err != nil || !containsLine(out, "[task-0000000000, task-0000000001]") {
		t.Errorf("zkCli.sh -server %s ls /tasks: %v\n%s", c.ClientAddr(2), err, out)
	}
	out, err = runZkCliCommand(t, script, c.ClientAddr(2), "create", "/workers", "again")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !containsLine(out, "Node already exists: /workers") {
		t.Errorf("zkCli.sh -server %s create /workers again: %v (want exit status 1)\n%s", c.ClientAddr(2), err, out)
	}

	backup.quit()
	for _, want := range []string{
		"WatchedEvent state:SyncConnected type:NodeDeleted path:/master",
		"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/tasks",
	} {
		if n := backup.count(want); n != 1 {
			t.Errorf("the backup printed %q %d times, want once", want, n)
		}
	}
}

// TestInteropZkCliFailover loses the node a zkCli session is connected to:
// the Java client reconnects to another node of its connect string with
// the same session (its ephemeral node stays) and re-registers its watches
// (SetWatches), so that changes made while it was away, or after, fire
// them: each event is printed once.
func TestInteropZkCliFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM against a three-node ensemble")
	}
	script := zkCli(t)
	c := startInteropCluster(t, 3)
	z := startZkCliSession(t, script, "client", c.Servers())
	for _, cmd := range []string{`create /data "d0"`, `create /dir ""`, `create -e /eph "e"`} {
		z.send(cmd)
		z.expect(`^Created /`)
	}
	z.send(`get -w /data`)
	z.expect(`^d0$`)
	z.send(`ls -w /dir`)
	z.expect(`^\[\]$`)
	z.send(`stat -w /later`)
	z.expect(`^Node does not exist: /later$`)
	z.send(`stat /eph`)
	owner := z.expectStat()["ephemeralOwner"]

	// The node the session is attached to.
	lost := -1
	deadline := time.Now().Add(interopWait)
	for lost < 0 {
		for i, nd := range c.nodes {
			if nd.Stats().Attached > 0 {
				lost = i
			}
		}
		if lost < 0 && time.Now().After(deadline) {
			t.Fatal("no node has the zkCli session attached")
		}
		time.Sleep(5 * time.Millisecond) // polling, bounded by the deadline
	}
	t.Logf("closing node %d, which zkCli is connected to", lost+1)
	c.nodes[lost].Close()
	z.expect(`^WatchedEvent state:Disconnected type:None path:null$`)

	// Change what the session watches, from another node, while it is
	// away or just back.
	other := c.nodes[(lost+1)%len(c.nodes)]
	ctx, cancel := context.WithTimeout(t.Context(), interopWait)
	defer cancel()
	conn, err := other.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Set(ctx, "/data", []byte("d1"), zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dir/x", "/later"} {
		if _, err := conn.Create(ctx, p, nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	events := []string{
		"WatchedEvent state:SyncConnected type:NodeDataChanged path:/data",
		"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/dir",
		"WatchedEvent state:SyncConnected type:NodeCreated path:/later",
	}
	z.expectAll(append([]string{"WatchedEvent state:SyncConnected type:None path:null"}, events...)...)
	z.send(`stat /eph`)
	if got := z.expectStat()["ephemeralOwner"]; got != owner {
		t.Errorf("ephemeralOwner of /eph after the failover: %s, want %s", got, owner)
	}
	z.send(`get /data`)
	z.expect(`^d1$`)
	z.quit()
	for _, ev := range events {
		if n := z.count(ev); n != 1 {
			t.Errorf("zkCli printed %q %d times, want once", ev, n)
		}
	}
	if err := conn.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := conn.Exists(ctx, "/eph"); err != nil || ok {
		t.Errorf("/eph after its session quit: exists %v, %v", ok, err)
	}
}

// zkCliSession is an interactive zkCli.sh: the test writes commands to its
// stdin and reads its output, stdout and stderr together, line by line.
type zkCliSession struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string   // closed when the output ends
	exit  chan struct{} // closed when the process has been waited for
	err   error         // the process's exit, once exit is closed

	mu         sync.Mutex
	transcript []string // every line read, consumed or not
}

// startZkCliSession starts zkCli.sh -server addr. The session is ended in
// t.Cleanup if the test does not quit it.
func startZkCliSession(t *testing.T, script, name, addr string) *zkCliSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := zkCliCommand(ctx, script, "-server", addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("starting %s: %v", script, err)
	}
	w.Close()
	z := &zkCliSession{t: t, name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 1024), exit: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(z.lines)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			z.mu.Lock()
			z.transcript = append(z.transcript, line)
			z.mu.Unlock()
			z.lines <- line
		}
	})
	wg.Go(func() {
		z.err = cmd.Wait()
		close(z.exit)
	})
	t.Cleanup(func() {
		z.stop()
		cancel()
		// The reader ends once every holder of the pipe has exited;
		// drain what it has not handed over.
		for range z.lines {
		}
		wg.Wait()
		z.mu.Lock()
		t.Logf("zkCli %s (%s, %v):\n\t%s", name, addr, time.Since(start).Round(time.Millisecond), strings.Join(z.transcript, "\n\t"))
		z.mu.Unlock()
	})
	return z
}

// zkCliCommand is zkCli.sh with args, in a process group of its own so
// that cancelling ctx kills the JVM as well as the script that started
// it.
func zkCliCommand(ctx context.Context, script string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	// A short-lived client: favour start-up time. (zkCli logs nowhere:
	// Debian's classpath has no slf4j binding.)
	cmd.Env = append(os.Environ(),
		"CLIENT_JVMFLAGS=-Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m -Djava.net.preferIPv4Stack=true")
	return cmd
}

// runZkCliCommand runs "zkCli.sh -server addr args..." and returns its
// output, stdout and stderr together.
func runZkCliCommand(t *testing.T, script, addr string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*interopWait)
	defer cancel()
	start := time.Now()
	cmd := zkCliCommand(ctx, script, append([]string{"-server", addr}, args...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("zkCli -server %s %s (%v): %v\n%s", addr, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, out)
	return string(out), err
}

// send writes a command line to the session.
func (z *zkCliSession) send(line string) {
	z.t.Helper()
	if _, err := io.WriteString(z.stdin, line+"\n"); err != nil {
		z.t.Fatalf("zkCli %s: sending %q: %v", z.name, line, err)
	}
}

// expect reads lines until one matches the regular expression re, and
// returns it; the lines before it are skipped. It fails the test if none
// comes within interopWait.
func (z *zkCliSession) expect(re string) string {
	z.t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.NewTimer(interopWait)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-z.lines:
			if !ok {
				z.t.Fatalf("zkCli %s ended (%v) before printing a line matching %q", z.name, z.waitErr(), re)
			}
			if rx.MatchString(line) {
				return line
			}
		case <-timer.C:
			z.t.Fatalf("zkCli %s printed no line matching %q within %v", z.name, re, interopWait)
		}
	}
}

// expectAll reads lines until each of lines has been printed, in any
// order, and fails the test if that takes more than interopWait.
func (z *zkCliSession) expectAll(lines ...string) {
	z.t.Helper()
	want := map[string]bool{}
	for _, l := range lines {
		want[l] = true
	}
	timer := time.NewTimer(interopWait)
	defer timer.Stop()
	for len(want) > 0 {
		select {
		case line, ok := <-z.lines:
			if !ok {
				z.t.Fatalf("zkCli %s ended (%v) before printing %q", z.name, z.waitErr(), slices.Sorted(maps.Keys(want)))
			}
			delete(want, line)
		case <-timer.C:
			z.t.Fatalf("zkCli %s did not print %q within %v", z.name, slices.Sorted(maps.Keys(want)), interopWait)
		}
	}
}

// statFields are the fields zkCli prints for a Stat, in order.
var statFields = []string{"cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion", "ephemeralOwner", "dataLength", "numChildren"}

// expectStat reads the next Stat zkCli prints and returns its fields.
// (Lines between them are skipped: a watch event may interleave.)
func (z *zkCliSession) expectStat() map[string]string {
	z.t.Helper()
	st := map[string]string{}
	for _, f := range statFields {
		_, v, _ := strings.Cut(z.expect("^"+f+" = "), " = ")
		st[f] = strings.TrimSpace(v)
	}
	return st
}

// quit sends quit and waits for the process to exit with status 0.
func (z *zkCliSession) quit() {
	z.t.Helper()
	z.send("quit")
	z.stdin.Close()
	select {
	case <-z.exit:
	case <-time.After(interopWait):
		z.t.Fatalf("zkCli %s did not exit within %v of quit", z.name, interopWait)
	}
	if z.err != nil {
		z.t.Errorf("zkCli %s: %v", z.name, z.err)
	}
}

// stop ends the session: its stdin closes, which makes zkCli exit; a
// JVM that does not is killed.
func (z *zkCliSession) stop() {
	z.stdin.Close()
	select {
	case <-z.exit:
		return
	case <-time.After(interopWait):
	}
	syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
	<-z.exit
}

func (z *zkCliSession) waitErr() error {
	select {
	case <-z.exit:
		return z.err
	case <-time.After(interopWait):
		return errors.New("still running")
	}
}

// linesMatching returns the lines printed so far that match re.
func (z *zkCliSession) linesMatching(re string) []string {
	rx := regexp.MustCompile(re)
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []string
	for _, l := range z.transcript {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// count returns how many lines printed so far equal line.
func (z *zkCliSession) count(line string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, l := range z.transcript {
		if l == line {
			n++
		}
	}
	return n
}

func containsLine(out, line string) bool {
	for l := range strings.SplitSeq(out, "\n") {
		if strings.TrimRight(l, "\r") == line {
			return true
		}
	}
	return false
}
