package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Link is a directed link between two nodes: the bytes that From sends to
// To, whichever of them opened the connection.
type Link struct {
	From, To int
}

func (l Link) String() string { return fmt.Sprintf("%d→%d", l.From, l.To) }

// Fault is what the Proxy does to one directed link. The zero Fault
// forwards bytes as they come.
type Fault struct {
	// Block holds the link's bytes until it is cleared, as a network that
	// loses every segment holds a TCP stream: nothing is lost, the sender
	// sees a connection that makes no progress and may give up on it.
	// Connections are still accepted.
	Block bool
	// Refuse resets the link's connections (in either direction: a
	// connection carries bytes both ways) and closes new ones at once.
	Refuse bool
	// Delay and Jitter add latency: each chunk of bytes is forwarded
	// Delay plus a random part of Jitter after it was read, in order.
	Delay, Jitter time.Duration
	// Bandwidth, if positive, limits the link to that many bytes a second.
	Bandwidth int
	// DropMean, if positive, closes each connection that carries the link
	// after a random lifetime, exponentially distributed with this mean.
	DropMean time.Duration
}

func (f Fault) String() string {
	s := ""
	add := func(format string, args ...any) {
		if s != "" {
			s += ","
		}
		s += fmt.Sprintf(format, args...)
	}
	if f.Block {
		add("block")
	}
	if f.Refuse {
		add("refuse")
	}
	if f.Delay > 0 || f.Jitter > 0 {
		add("delay=%v+%v", f.Delay, f.Jitter)
	}
	if f.Bandwidth > 0 {
		add("bw=%dB/s", f.Bandwidth)
	}
	if f.DropMean > 0 {
		add("drop=%v", f.DropMean)
	}
	if s == "" {
		return "ok"
	}
	return s
}

// Proxy forwards TCP connections to nodes and injects Faults per directed
// link. Each front end forwards to one node; the node at the other end of
// a connection is told by its source address. It is safe for concurrent
// use.
type Proxy struct {
	nodeOf func(net.Addr) (int, bool)

	mu        sync.Mutex
	faults    map[Link]Fault          // guarded by mu
	changed   chan struct{}           // guarded by mu; closed and replaced on each change
	conns     map[*proxyConn]struct{} // guarded by mu
	listeners []net.Listener          // guarded by mu
	closed    bool                    // guarded by mu
	accepted  int                     // guarded by mu
	dropped   int                     // guarded by mu; connections closed by Refuse or DropMean

	wg sync.WaitGroup
}

// NewProxy returns a Proxy that tells the node a connection comes from
// with nodeOf; connections from addresses it does not know are forwarded
// without faults.
func NewProxy(nodeOf func(net.Addr) (int, bool)) *Proxy {
	return &Proxy{nodeOf: nodeOf, faults: map[Link]Fault{}, changed: make(chan struct{}), conns: map[*proxyConn]struct{}{}}
}

// Listen makes the Proxy accept connections at addr and forward them to
// node to at backend.
func (p *Proxy) Listen(addr string, to int, backend string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.Close()
		return errors.New("chaos: proxy closed")
	}
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(l, to, backend) })
	return nil
}

// Set replaces the Fault of link l.
func (p *Proxy) Set(l Link, f Fault) {
	p.Update(l, func(old *Fault) { *old = f })
}

// Update changes the Fault of link l with change.
func (p *Proxy) Update(l Link, change func(*Fault)) {
	p.mu.Lock()
	f := p.faults[l]
	change(&f)
	if f == (Fault{}) {
		delete(p.faults, l)
	} else {
		p.faults[l] = f
	}
	var reset []*proxyConn
	if f.Refuse {
		for c := range p.conns {
			if c.carries(l) {
				reset = append(reset, c)
			}
		}
	}
	p.dropped += len(reset)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	for _, c := range reset {
		c.close()
	}
}

// Heal clears every Fault.
func (p *Proxy) Heal() {
	p.mu.Lock()
	clear(p.faults)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Faults returns the links that have a Fault, with it.
func (p *Proxy) Faults() map[Link]Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Link]Fault, len(p.faults))
	for l, f := range p.faults {
		out[l] = f
	}
	return out
}

// Stats returns how many connections the Proxy accepted and how many it
// closed on purpose (Refuse, DropMean).
func (p *Proxy) Stats() (accepted, dropped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.dropped
}

// Close stops listening, closes every connection and waits for the
// Proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	ls := p.listeners
	p.listeners = nil
	cs := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range cs {
		c.close()
	}
	p.wg.Wait()
	return nil
}

// fault returns link l's Fault and a channel closed at the next change.
func (p *Proxy) fault(l Link) (Fault, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[l], p.changed
}

func (p *Proxy) accept(l net.Listener, to int, backend string) {
	for {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		from, known := p.nodeOf(nc.RemoteAddr())
		c := &proxyConn{p: p, known: known, up: Link{from, to}, down: Link{to, from}, front: nc, done: make(chan struct{})}
		p.mu.Lock()
		refused := p.closed || known && (p.faults[c.up].Refuse || p.faults[c.down].Refuse)
		p.accepted++
		if refused {
			p.dropped++
		} else {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if refused {
			nc.Close()
			continue
		}
		p.wg.Go(func() { c.run(backend) })
	}
}

// proxyConn is one forwarded connection: front is the dialer's end, back
// the node's.
type proxyConn struct {
	p        *Proxy
	known    bool
	up, down Link // the links of the bytes front→back and back→front
	front    net.Conn

	mu     sync.Mutex
	back   net.Conn // guarded by mu; nil until dialled
	closed bool     // guarded by mu

	once sync.Once
	done chan struct{} // closed by close
}

func (c *proxyConn) carries(l Link) bool { return c.known && (c.up == l || c.down == l) }

func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		c.closed = true
		back := c.back
		c.mu.Unlock()
		c.front.Close()
		if back != nil {
			back.Close()
		}
	})
}

func (c *proxyConn) run(backend string) {
	defer func() {
		c.close()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	back, err := d.Dial("tcp", backend)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		back.Close()
		return
	}
	c.back = back
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { c.pipe(c.front, back, c.up) })
	wg.Go(func() { c.pipe(back, c.front, c.down) })
	wg.Go(c.dropper)
	wg.Wait()
}

// dropper closes the connection after a random lifetime while either of
// its links has a DropMean.
func (c *proxyConn) dropper() {
	if !c.known {
		return
	}
	for {
		fu, ch := c.p.fault(c.up)
		fd, _ := c.p.fault(c.down)
		mean := max(fu.DropMean, fd.DropMean)
		if mean <= 0 {
			select {
			case <-ch:
				continue
			case <-c.done:
				return
			}
		}
		t := time.NewTimer(time.Duration(rand.ExpFloat64() * float64(mean)))
		select {
		case <-t.C:
			fu, _ = c.p.fault(c.up)
			fd, _ = c.p.fault(c.down)
			if fu.DropMean > 0 || fd.DropMean > 0 {
				c.p.mu.Lock()
				c.p.dropped++
				c.p.mu.Unlock()
				c.close()
				return
			}
		case <-ch:
			t.Stop()
		case <-c.done:
			t.Stop()
			return
		}
	}
}

// chunk is bytes read from one end, with when they were read.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe forwards src to dst under link l's Fault. A reader goroutine takes
// the bytes as they come and stamps them, so that latency delays each
// chunk without limiting throughput to a chunk per delay; the writer
// holds them while the link is blocked, until their time has come, and
// to the bandwidth. Either end failing closes the connection.
func (c *proxyConn) pipe(src, dst net.Conn, l Link) {
	chunks := make(chan chunk, 64)
	go func() {
		defer close(chunks)
		for {
			b := make([]byte, 16<<10)
			n, err := src.Read(b)
			if n > 0 {
				select {
				case chunks <- chunk{b[:n], time.Now()}:
				case <-c.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		c.close()
		// The reader ends on the closed connection.
		for range chunks {
		}
	}()
	for ch := range chunks {
		b := ch.b
		for len(b) > 0 {
			f := Fault{}
			if c.known {
				var changed <-chan struct{}
				f, changed = c.p.fault(l)
				if f.Block {
					select {
					case <-changed:
						continue
					case <-c.done:
						return
					}
				}
			}
			if wait := time.Until(ch.at.Add(f.Delay + jitter(f.Jitter))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-c.done:
					return
				}
				// The fault may have changed meanwhile.
				if c.known {
					if f2, _ := c.p.fault(l); f2.Block {
						continue
					}
				}
			}
			n := len(b)
			if f.Bandwidth > 0 {
				// Slices of a twentieth of a second's worth.
				n = min(n, max(f.Bandwidth/20, 1))
			}
			if _, err := dst.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
			if f.Bandwidth > 0 {
				select {
				case <-time.After(time.Duration(n) * time.Second / time.Duration(f.Bandwidth)):
				case <-c.done:
					return
				}
			}
		}
	}
}

func jitter(j time.Duration) time.Duration {
	if j <= 0 {
		return 0
	}
	return rand.N(j)
}

// LoopbackNode maps a source address 127.0.0.(10+i) to node i, the
// addresses Cluster gives its nodes.
func LoopbackNode(a net.Addr) (int, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return 0, false
	}
	ip := ta.IP.To4()
	if ip == nil || ip[0] != 127 || ip[1] != 0 || ip[2] != 0 || ip[3] <= 10 || ip[3] > 10+maxNodes {
		return 0, false
	}
	return int(ip[3]) - 10, true
}

// maxNodes is the most nodes a Cluster has.
const maxNodes = 9

// NodeIP is node i's loopback address.
func NodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i) }
