package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkraft/zk"
)

// Env is what the workloads share: the cluster, the clock their records
// are measured on, and a log.
type Env struct {
	Cluster *Cluster
	// Start is the origin of every recorded time.
	Start time.Time
	// SessionTimeout is what the clients ask for.
	SessionTimeout time.Duration
	// OpTimeout bounds one operation.
	OpTimeout time.Duration
	// Logf logs a line (testing.T.Logf).
	Logf func(format string, args ...any)
}

// Now returns the time since Start, in ns: porcupine's clock.
func (e *Env) Now() int64 { return int64(time.Since(e.Start)) }

// Dial opens a session on the cluster, any node.
func (e *Env) Dial(ctx context.Context, opts ...zk.ConnectOption) (*zk.Conn, error) {
	return e.dial(ctx, e.Cluster.ClientAddrs(), opts...)
}

// DialNode opens a session on node i alone.
func (e *Env) DialNode(ctx context.Context, i int) (*zk.Conn, error) {
	return e.dial(ctx, []string{e.Cluster.Node(i).ClientAddr})
}

// dialTimeout bounds a Dial. It is long, and a Dial is not cut short when
// its caller's ctx ends, because zk.Dial panics when it fails after its
// engine has started (a double close of remote.stop; see the report of
// issue 7): a Dial must be left to succeed. The cluster always heals
// within it.
const dialTimeout = 3 * time.Minute

func (e *Env) dial(ctx context.Context, addrs []string, opts ...zk.ConnectOption) (*zk.Conn, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
	defer cancel()
	// A Dial that takes long says where it has been trying.
	var mu sync.Mutex
	var tries []string
	began := time.Now()
	slow := time.AfterFunc(time.Minute, func() {
		mu.Lock()
		defer mu.Unlock()
		e.Logf("chaos: a Dial begun at %v has not connected after a minute; its connections: %s",
			time.Duration(e.Now())-time.Minute, strings.Join(tries[max(0, len(tries)-20):], ", "))
	})
	defer slow.Stop()
	trace := zk.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		mu.Lock()
		tries = append(tries, fmt.Sprintf("%v %s %v", time.Since(began).Round(time.Millisecond), addr, err))
		mu.Unlock()
		return nc, err
	})
	// A caller's dialer, if any, comes after and wins.
	opts = append([]zk.ConnectOption{zk.WithSessionTimeout(e.SessionTimeout), trace}, opts...)
	conn, err := zk.Dial(dctx, addrs, opts...)
	if err == nil && ctx.Err() != nil {
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, err
}

// session keeps one client's Conn, dialling a new one after the old one
// ended (expired, typically).
type session struct {
	env  *Env
	conn *zk.Conn
	// server is the node the Conn last connected to, for reports.
	server atomic.Value // string
	// generation counts the Conns: a new one is a new session.
	generation int
}

// get returns a live Conn, dialling until one is open or ctx ends.
func (s *session) get(ctx context.Context) (*zk.Conn, error) {
	if s.conn != nil {
		select {
		case <-s.conn.Done():
			s.conn.Close()
			s.conn = nil
		default:
			return s.conn, nil
		}
	}
	record := zk.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			s.server.Store(s.env.nodeName(addr))
		}
		return nc, err
	})
	for {
		c, err := s.env.Dial(ctx, record)
		if err == nil {
			s.conn = c
			s.generation++
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// on returns the node the session last connected to.
func (s *session) on() string {
	v, _ := s.server.Load().(string)
	return v
}

// nodeName names the node whose client address is addr.
func (e *Env) nodeName(addr string) string {
	for _, nd := range e.Cluster.Nodes {
		if nd.ClientAddr == addr {
			return fmt.Sprintf("node %d", nd.ID)
		}
	}
	return addr
}

// drop closes the current Conn, so the next get opens a new session.
func (s *session) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *session) close() { s.drop() }

// errCode is a definite outcome of an operation as the model knows it:
// "" for success, or the sentinel's name. unknown reports an error after
// which the operation may or may not have taken effect.
func errCode(err error) (code string, unknown bool) {
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, zk.ErrNoNode):
		return "NoNode", false
	case errors.Is(err, zk.ErrNodeExists):
		return "NodeExists", false
	case errors.Is(err, zk.ErrBadVersion):
		return "BadVersion", false
	case errors.Is(err, zk.ErrNotEmpty):
		return "NotEmpty", false
	}
	// Connection loss, a deadline, an expired or closed session, no
	// leader: the request may have reached the log.
	return err.Error(), true
}

// ensurePath creates path and its parents if they are missing.
func ensurePath(ctx context.Context, conn *zk.Conn, path string) error {
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		p := path[:i]
		for {
			_, err := conn.Create(ctx, p, nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll))
			if err == nil || errors.Is(err, zk.ErrNodeExists) {
				break
			}
			if _, unknown := errCode(err); !unknown || ctx.Err() != nil {
				return fmt.Errorf("create %s: %w", p, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// retry runs f until it succeeds or ctx ends, pausing between tries.
func retry(ctx context.Context, f func(ctx context.Context) error) error {
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Failures collects check failures from several goroutines.
type Failures struct {
	mu   sync.Mutex
	list []string
}

// Addf records a failure.
func (f *Failures) Addf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, fmt.Sprintf(format, args...))
}

// List returns the failures recorded.
func (f *Failures) List() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.list...)
}

func (f *Failures) String() string { return strings.Join(f.List(), "\n") }
