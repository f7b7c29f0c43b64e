package chaos

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer greets each connection with "hi", then echoes what it
// reads; got receives every chunk it read.
type echoServer struct {
	l   net.Listener
	got chan []byte
}

func newEchoServer(t *testing.T, ip string) *echoServer {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on loopback alias %s: %v", ip, err)
	}
	s := &echoServer{l: l, got: make(chan []byte, 1024)}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("hi"))
				b := make([]byte, 4096)
				for {
					n, err := c.Read(b)
					if n > 0 {
						s.got <- bytes.Clone(b[:n])
						c.Write(b[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

// proxied starts an echo server as node 2 behind a Proxy and returns the
// Proxy, the server and the Proxy's address for node 2.
func proxied(t *testing.T) (*Proxy, *echoServer, string) {
	t.Helper()
	s := newEchoServer(t, NodeIP(2))
	p := NewProxy(LoopbackNode)
	t.Cleanup(func() { p.Close() })
	l, err := net.Listen("tcp", NodeIP(2)+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := p.Listen(addr, 2, s.l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	return p, s, addr
}

// dialFrom opens a connection to addr from node from's address.
func dialFrom(t *testing.T, from int, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(NodeIP(from))}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readN reads n bytes within d.
func readN(c net.Conn, n int, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return b, err
}

func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	b, err := readN(c, len(want), 10*time.Second)
	if err != nil || string(b) != want {
		t.Fatalf("read %q, %v; want %q", b, err, want)
	}
}

func expectNoRead(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	b, err := readN(c, 1, d)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v; want nothing", b, err)
	}
}

func TestProxyForwards(t *testing.T) {
	p, s, addr := proxied(t)
	c := dialFrom(t, 1, addr)
	expectRead(t, c, "hi")
	c.Write([]byte("ping"))
	expectRead(t, c, "ping")
	if got := string(<-s.got); got != "ping" {
		t.Fatalf("server got %q", got)
	}
	if acc, _ := p.Stats(); acc != 1 {
		t.Fatalf("accepted %d connections, want 1", acc)
	}
}

func TestProxyPartition(t *testing.T) {
	p, _, addr := proxied(t)
	c := dialFrom(t, 1, addr)
	expectRead(t, c, "hi")
	p.Set(Link{1, 2}, Fault{Block: true})
	p.Set(Link{2, 1}, Fault{Block: true})
	c.Write([]byte("lost?"))
	expectNoRead(t, c, 300*time.Millisecond)
	// A new connection is accepted but nothing flows, not even the
	// greeting.
	c2 := dialFrom(t, 1, addr)
	expectNoRead(t, c2, 300*time.Millisecond)
	// A node the partition does not concern is served.
	c3 := dialFrom(t, 3, addr)
	expectRead(t, c3, "hi")
	p.Heal()
	// As with TCP, the held bytes arrive once the partition heals.
	expectRead(t, c, "lost?")
	expectRead(t, c2, "hi")
}

func TestProxyOneWay(t *testing.T) {
	p, s, addr := proxied(t)
	p.Set(Link{1, 2}, Fault{Block: true})
	c := dialFrom(t, 1, addr)
	// 2→1 flows: the greeting arrives.
	expectRead(t, c, "hi")
	c.Write([]byte("up"))
	select {
	case b := <-s.got:
		t.Fatalf("server got %q through a blocked link", b)
	case <-time.After(300 * time.Millisecond):
	}
	p.Set(Link{1, 2}, Fault{})
	select {
	case b := <-s.got:
		if string(b) != "up" {
			t.Fatalf("server got %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server got nothing after the heal")
	}
	expectRead(t, c, "up")
	// The other way round: 2→1 blocked, 1→2 flowing.
	p.Set(Link{2, 1}, Fault{Block: true})
	c.Write([]byte("x"))
	select {
	case b := <-s.got:
		if string(b) != "x" {
			t.Fatalf("server got %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server got nothing through an open link")
	}
	expectNoRead(t, c, 300*time.Millisecond)
	p.Heal()
	expectRead(t, c, "x")
}

func TestProxyRefuse(t *testing.T) {
	p, _, addr := proxied(t)
	c := dialFrom(t, 1, addr)
	expectRead(t, c, "hi")
	p.Set(Link{2, 1}, Fault{Refuse: true})
	if b, err := readN(c, 1, 10*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v from a refused connection; want it closed", b, err)
	}
	c2 := dialFrom(t, 1, addr)
	if b, err := readN(c2, 1, 10*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v from a new refused connection; want it closed", b, err)
	}
	p.Heal()
	c3 := dialFrom(t, 1, addr)
	expectRead(t, c3, "hi")
	if _, dropped := p.Stats(); dropped != 2 {
		t.Fatalf("dropped %d connections, want 2", dropped)
	}
}

func TestProxyDelay(t *testing.T) {
	p, _, addr := proxied(t)
	c := dialFrom(t, 1, addr)
	expectRead(t, c, "hi")
	const delay = 200 * time.Millisecond
	p.Set(Link{1, 2}, Fault{Delay: delay})
	start := time.Now()
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	expectRead(t, c, "ab")
	// Only a lower bound: the machine may be slow.
	if took := time.Since(start); took < delay {
		t.Fatalf("round trip took %v with a delay of %v", took, delay)
	}
}

func TestProxyBandwidth(t *testing.T) {
	p, _, addr := proxied(t)
	c := dialFrom(t, 1, addr)
	expectRead(t, c, "hi")
	p.Set(Link{2, 1}, Fault{Bandwidth: 2000})
	msg := bytes.Repeat([]byte("z"), 1000)
	start := time.Now()
	c.Write(msg)
	expectRead(t, c, string(msg))
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("1000 bytes at 2000B/s took %v", took)
	}
}

func TestProxyDrop(t *testing.T) {
	p, _, addr := proxied(t)
	p.Set(Link{1, 2}, Fault{DropMean: 50 * time.Millisecond})
	c := dialFrom(t, 1, addr)
	if _, err := readN(c, 3, 10*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection not dropped: %v", err)
	}
	p.Heal()
	c2 := dialFrom(t, 1, addr)
	expectRead(t, c2, "hi")
	expectNoRead(t, c2, 300*time.Millisecond)
}
