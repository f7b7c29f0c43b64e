// Package apachezk starts real Apache ZooKeeper servers (Debian's 3.8
// package) for tests, so that clients can be checked against the reference
// implementation rather than only against zkraft.
package apachezk

import (
	"bufio"
	"bytes"
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
	"testing"
	"time"
)

// Home is where ZooKeeper is looked for unless APACHEZK_HOME says
// otherwise: the directory that holds bin/zkEnv.sh.
const Home = "/usr/share/zookeeper"

const mainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

// Options configures an Ensemble.
type Options struct {
	// Servers is the number of servers; 0 means 1 (standalone mode).
	Servers int
	// TickTime is ZooKeeper's tick; 0 means 200ms, which makes session
	// timeouts between 400ms and 4s possible.
	TickTime time.Duration
	// Config holds extra zoo.cfg lines ("key=value"), appended after the
	// harness's own so that they win.
	Config []string
	// JVMFlags holds extra JVM arguments, typically -Dzookeeper.* system
	// properties, as SERVER_JVMFLAGS would.
	JVMFlags []string
	// StartTimeout bounds how long Start and Restart wait for the servers
	// to serve; 0 means 60s.
	StartTimeout time.Duration
}

// Ensemble is a set of running ZooKeeper servers on loopback. Its methods
// are meant for the test goroutine that started it.
type Ensemble struct {
	t       testing.TB
	opts    Options
	dir     string
	install install
	servers []*server
}

type server struct {
	id          int
	dir         string
	cfgPath     string
	logPath     string
	clientPort  int
	quorumPort  int
	electionPrt int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has been waited for
}

type install struct {
	java      string
	classpath string
	main      string
}

var (
	installOnce sync.Once
	installVal  install
	installErr  error
)

// Available reports whether Java and ZooKeeper are installed; when they
// are not, the string says what is missing, for t.Skip.
func Available() (bool, string) {
	_, err := findInstall()
	if err != nil {
		return false, err.Error()
	}
	return true, ""
}

// findInstall reads the classpath, java binary and main class from
// ZooKeeper's own zkEnv.sh, so that whatever the distribution's scripts
// would start is what the tests start.
func findInstall() (install, error) {
	installOnce.Do(func() {
		installVal, installErr = lookInstall()
	})
	return installVal, installErr
}

func lookInstall() (install, error) {
	home := os.Getenv("APACHEZK_HOME")
	if home == "" {
		home = Home
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return install{}, fmt.Errorf("apachezk: bash not found: %w", err)
	}
	env := ""
	for _, p := range []string{filepath.Join(home, "libexec", "zkEnv.sh"), filepath.Join(home, "bin", "zkEnv.sh")} {
		if _, err := os.Stat(p); err == nil {
			env = p
			break
		}
	}
	if env == "" {
		return install{}, fmt.Errorf("apachezk: ZooKeeper not installed (no zkEnv.sh under %s; apt-get install zookeeper)", home)
	}
	// zkEnv.sh may print to stdout; the markers keep our values apart.
	script := `. "$1" >/dev/null 2>&1; printf '\n@@CP=%s\n@@JAVA=%s\n@@MAIN=%s\n' "$CLASSPATH" "${JAVA:-}" "${ZOOMAIN:-}"`
	cmd := exec.Command(bash, "-c", script, "zkenv", env)
	cmd.Env = append(os.Environ(), "ZOOBINDIR="+filepath.Join(home, "bin"))
	out, err := cmd.Output()
	if err != nil {
		return install{}, fmt.Errorf("apachezk: sourcing %s: %w", env, err)
	}
	var in install
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "@@CP="):
			in.classpath = strings.TrimPrefix(line, "@@CP=")
		case strings.HasPrefix(line, "@@JAVA="):
			in.java = strings.TrimPrefix(line, "@@JAVA=")
		case strings.HasPrefix(line, "@@MAIN="):
			in.main = strings.TrimPrefix(line, "@@MAIN=")
		}
	}
	if in.classpath == "" {
		return install{}, fmt.Errorf("apachezk: %s sets no CLASSPATH", env)
	}
	if in.main == "" || strings.Contains(in.main, " ") {
		// zkServer.sh prepends JMX flags to ZOOMAIN; only the class matters.
		in.main = mainClass
	}
	if in.java == "" || !executable(in.java) {
		j, err := exec.LookPath("java")
		if err != nil {
			return install{}, fmt.Errorf("apachezk: java not found: %w", err)
		}
		in.java = j
	}
	found := false
	for _, p := range filepath.SplitList(in.classpath) {
		if strings.HasSuffix(p, ".jar") && strings.Contains(filepath.Base(p), "zookeeper") && exists(p) {
			found = true
		}
	}
	if !found {
		return install{}, fmt.Errorf("apachezk: no zookeeper jar on the classpath %q", in.classpath)
	}
	// Debian's jar pulls in slf4j-api only, which then logs nothing; a
	// simple binding makes the server's log useful when a test fails.
	const simple = "/usr/share/java/slf4j-simple.jar"
	if !strings.Contains(in.classpath, "logback") && !strings.Contains(in.classpath, "slf4j-") && exists(simple) {
		in.classpath += string(filepath.ListSeparator) + simple
	}
	return in, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// Start starts the servers described by opts and returns once each of them
// serves clients and, with more than one, the ensemble has a leader. The
// servers are killed in t.Cleanup; their logs are printed if t failed.
// Start skips t when ZooKeeper is not installed.
func Start(t testing.TB, opts Options) *Ensemble {
	t.Helper()
	in, err := findInstall()
	if err != nil {
		t.Skip(err.Error())
	}
	if opts.Servers <= 0 {
		opts.Servers = 1
	}
	if opts.TickTime <= 0 {
		opts.TickTime = 200 * time.Millisecond
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	e := &Ensemble{t: t, opts: opts, dir: t.TempDir(), install: in}
	t.Cleanup(e.cleanup)
	// A free port can be taken by someone else between our probe and
	// ZooKeeper's bind, so a failed start is retried on fresh ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = e.start(attempt); lastErr == nil {
			return e
		}
		t.Logf("apachezk: start attempt %d: %v", attempt+1, lastErr)
		e.stopAll()
	}
	t.Fatalf("apachezk: %v", lastErr)
	return nil
}

func (e *Ensemble) start(attempt int) error {
	n := e.opts.Servers
	ports, err := freePorts(3 * n)
	if err != nil {
		return err
	}
	e.servers = make([]*server, n)
	for i := range e.servers {
		dir := filepath.Join(e.dir, fmt.Sprintf("try%d", attempt), fmt.Sprintf("server%d", i+1))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			return err
		}
		e.servers[i] = &server{
			id: i + 1, dir: dir,
			cfgPath: filepath.Join(dir, "zoo.cfg"), logPath: filepath.Join(dir, "server.log"),
			clientPort: ports[3*i], quorumPort: ports[3*i+1], electionPrt: ports[3*i+2],
		}
	}
	for _, s := range e.servers {
		if err := e.writeConfig(s); err != nil {
			return err
		}
	}
	for _, s := range e.servers {
		if err := e.launch(s); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.StartTimeout)
	defer cancel()
	return e.waitReady(ctx, e.servers)
}

func (e *Ensemble) writeConfig(s *server) error {
	tick := e.opts.TickTime.Milliseconds()
	if tick < 1 {
		tick = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=%d\n", tick)
	// Generous limits in ticks: a loaded CI machine must not make
	// followers drop out, and a 200ms tick keeps them short anyway.
	b.WriteString("initLimit=50\nsyncLimit=10\n")
	fmt.Fprintf(&b, "dataDir=%s\n", filepath.Join(s.dir, "data"))
	fmt.Fprintf(&b, "clientPort=%d\nclientPortAddress=127.0.0.1\n", s.clientPort)
	b.WriteString("4lw.commands.whitelist=*\nadmin.enableServer=false\nmaxClientCnxns=0\n")
	if len(e.servers) > 1 {
		for _, o := range e.servers {
			fmt.Fprintf(&b, "server.%d=127.0.0.1:%d:%d\n", o.id, o.quorumPort, o.electionPrt)
		}
	}
	for _, line := range e.opts.Config {
		b.WriteString(strings.TrimSpace(line) + "\n")
	}
	if err := os.WriteFile(s.cfgPath, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "data", "myid"), []byte(strconv.Itoa(s.id)+"\n"), 0o644)
}

// launch starts s's JVM. Flags favour start-up time over throughput: a
// test server lives for seconds and handles little.
func (e *Ensemble) launch(s *server) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{
		"-Xmx256m", "-Xms32m", "-Xss512k",
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto",
		"-Djava.net.preferIPv4Stack=true",
		"-Dzookeeper.log.dir=" + s.dir,
		"-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.forceSync=no",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
	}
	args = append(args, e.opts.JVMFlags...)
	args = append(args, "-cp", e.install.classpath, e.install.main, s.cfgPath)
	cmd := exec.Command(e.install.java, args...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(logf, "=== apachezk: %s %s\n", e.install.java, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting server %d: %w", s.id, err)
	}
	exit := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exit)
	}()
	s.mu.Lock()
	s.cmd, s.exit = cmd, exit
	s.mu.Unlock()
	return nil
}

// waitReady polls srvr until each server reports a serving mode and, in an
// ensemble, one of the servers that are running reports itself leader.
func (e *Ensemble) waitReady(ctx context.Context, which []*server) error {
	for {
		modes := make(map[*server]string)
		leader := len(e.servers) == 1
		var notReady []string
		for _, s := range e.servers {
			if !s.running() {
				continue
			}
			m, err := s.mode(ctx)
			if err != nil {
				m = err.Error()
			}
			modes[s] = m
			if m == "leader" {
				leader = true
			}
		}
		for _, s := range which {
			if !s.running() {
				return fmt.Errorf("server %d exited during start-up; log:\n%s", s.id, tail(s.logPath, 60))
			}
			if m := modes[s]; m != "leader" && m != "follower" && m != "standalone" && m != "observer" {
				notReady = append(notReady, fmt.Sprintf("server %d: %s", s.id, m))
			}
		}
		if len(notReady) == 0 && leader {
			return nil
		}
		if !leader {
			notReady = append(notReady, "no leader")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("servers not ready (%s): %w", strings.Join(notReady, "; "), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit == nil {
		return false
	}
	select {
	case <-s.exit:
		return false
	default:
		return true
	}
}

// mode returns the Mode line of s's srvr answer, or a short reason.
func (s *server) mode(ctx context.Context) (string, error) {
	out, err := FourLetter(ctx, s.addr(), "srvr")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(m), nil
		}
	}
	return "", fmt.Errorf("not serving: %q", strings.TrimSpace(out))
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.clientPort)) }

// FourLetter sends a four-letter word to addr and returns the answer.
func FourLetter(ctx context.Context, addr, word string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		return "", err
	}
	return string(b), nil
}

// Addrs returns the client addresses (host:port) of all servers, running
// or not, in server order.
func (e *Ensemble) Addrs() []string {
	out := make([]string, len(e.servers))
	for i, s := range e.servers {
		out[i] = s.addr()
	}
	return out
}

// Addr returns the client address of server i (0-based).
func (e *Ensemble) Addr(i int) string { return e.servers[i].addr() }

// ConfigPath returns the zoo.cfg of server i (0-based).
func (e *Ensemble) ConfigPath(i int) string { return e.servers[i].cfgPath }

// LogPath returns the file that holds server i's output.
func (e *Ensemble) LogPath(i int) string { return e.servers[i].logPath }

// Mode returns server i's srvr Mode (standalone, leader, follower, …).
func (e *Ensemble) Mode(ctx context.Context, i int) (string, error) {
	return e.servers[i].mode(ctx)
}

// Leader returns the index of the server that reports itself leader, or -1.
func (e *Ensemble) Leader(ctx context.Context) int {
	for i, s := range e.servers {
		if m, err := s.mode(ctx); err == nil && m == "leader" {
			return i
		}
	}
	return -1
}

// Kill stops server i with SIGKILL, as a crash would, and waits for the
// process to be gone.
func (e *Ensemble) Kill(i int) {
	e.t.Helper()
	e.servers[i].kill()
}

func (s *server) kill() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exit
}

// Restart starts server i again (killing it first if it runs), with the
// same configuration and data, and waits until it serves and the ensemble
// has a leader.
func (e *Ensemble) Restart(i int) {
	e.t.Helper()
	s := e.servers[i]
	s.kill()
	if err := e.launch(s); err != nil {
		e.t.Fatalf("apachezk: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.StartTimeout)
	defer cancel()
	if err := e.waitReady(ctx, []*server{s}); err != nil {
		e.t.Fatalf("apachezk: restart of server %d: %v", s.id, err)
	}
}

func (e *Ensemble) stopAll() {
	for _, s := range e.servers {
		s.kill()
	}
}

func (e *Ensemble) cleanup() {
	e.stopAll()
	if !e.t.Failed() {
		return
	}
	for _, s := range e.servers {
		e.t.Logf("apachezk: server %d (%s) log, last lines:\n%s", s.id, s.addr(), tail(s.logPath, 200))
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// The listeners stay open until all are chosen so that none repeats.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
