package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// MemNetwork is an in-memory Network whose links tests can cut: nodes in
// one process, each listening at a name, with partitions (symmetric or
// one-way) that refuse new connections and close the existing ones.
// The zero value is not usable; call NewMemNetwork.
type MemNetwork struct {
	mu        sync.Mutex
	listeners map[string]*memListener
	blocked   map[link]bool  // one-way blocks: dials from link.from to link.to fail
	group     map[string]int // with a partition, each address's group (0: alone)
	conns     map[*memConn]link
}

type link struct{ from, to string }

// NewMemNetwork returns an empty in-memory network with every link up.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{
		listeners: make(map[string]*memListener),
		blocked:   make(map[link]bool),
		conns:     make(map[*memConn]link),
	}
}

// ErrUnreachable is returned when dialing across a cut link or to an
// address nobody listens at.
var ErrUnreachable = errors.New("peer: unreachable")

// Listen implements Network.
func (m *MemNetwork) Listen(addr string) (net.Listener, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.listeners[addr]; ok {
		return nil, fmt.Errorf("peer: listen %s: address in use", addr)
	}
	l := &memListener{net: m, addr: memAddr(addr), accept: make(chan net.Conn), done: make(chan struct{})}
	m.listeners[addr] = l
	return l, nil
}

// Dial implements Network.
func (m *MemNetwork) Dial(ctx context.Context, from, addr string) (net.Conn, error) {
	m.mu.Lock()
	l := m.listeners[addr]
	lk := link{from, addr}
	if l == nil || m.downLocked(lk) {
		m.mu.Unlock()
		return nil, fmt.Errorf("peer: dial %s from %s: %w", addr, from, ErrUnreachable)
	}
	a, b := net.Pipe()
	ca := &memConn{Conn: a, net: m, local: memAddr(from), remote: memAddr(addr)}
	cb := &memConn{Conn: b, net: m, local: memAddr(addr), remote: memAddr(from)}
	m.conns[ca], m.conns[cb] = lk, lk
	m.mu.Unlock()
	select {
	case l.accept <- cb:
		return ca, nil
	case <-l.done:
	case <-ctx.Done():
	}
	ca.Close()
	cb.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("peer: dial %s: %w", addr, ErrUnreachable)
}

// Partition splits the network into groups of addresses: links between
// groups go down in both directions, links within a group stay up, and an
// address in no group (including one that starts listening later) is cut
// off from every other. It replaces any earlier partition and one-way
// blocks.
func (m *MemNetwork) Partition(groups ...[]string) {
	group := make(map[string]int)
	for i, g := range groups {
		for _, a := range g {
			group[a] = i + 1
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.blocked)
	m.group = group
	m.cutLocked()
}

// Block takes down the link from one address to another in that
// direction only: from can no longer reach to, while to can still reach
// from.
func (m *MemNetwork) Block(from, to string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocked[link{from, to}] = true
	m.cutLocked()
}

// Heal brings every link back up.
func (m *MemNetwork) Heal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.blocked)
	m.group = nil
}

// Isolate cuts addr off from every address listening now, in both
// directions, until Heal.
func (m *MemNetwork) Isolate(addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := range m.listeners {
		if a != addr {
			m.blocked[link{a, addr}] = true
			m.blocked[link{addr, a}] = true
		}
	}
	m.cutLocked()
}

// downLocked reports whether lk is cut.
func (m *MemNetwork) downLocked(lk link) bool {
	if m.blocked[lk] {
		return true
	}
	if m.group == nil || lk.from == lk.to {
		return false
	}
	g := m.group[lk.from]
	return g == 0 || g != m.group[lk.to]
}

// cutLocked closes the open connections over links that are now down.
func (m *MemNetwork) cutLocked() {
	for c, lk := range m.conns {
		if m.downLocked(lk) {
			delete(m.conns, c)
			c.Conn.Close()
		}
	}
}

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

type memConn struct {
	net.Conn
	net           *MemNetwork
	local, remote memAddr
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) Close() error {
	c.net.mu.Lock()
	delete(c.net.conns, c)
	c.net.mu.Unlock()
	return c.Conn.Close()
}

type memListener struct {
	net       *MemNetwork
	addr      memAddr
	accept    chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.net.mu.Lock()
		if l.net.listeners[string(l.addr)] == l {
			delete(l.net.listeners, string(l.addr))
		}
		l.net.mu.Unlock()
	})
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }
