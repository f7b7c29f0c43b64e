package zk

import (
	"context"
	"sync"
	"time"
)

// Done returns a channel that is closed when the Conn has ended: closed,
// expired, or given up on its session.
func (c *Conn) Done() <-chan struct{} { return c.done }

// OutOfTouch returns a channel that is closed once the Conn may have been
// out of touch with the ensemble for d: its node has not been able to
// tell the leader that the session is alive for d (by the node's clock,
// checked every tick), or the Conn lost its node, or the Conn ended. A
// session out of touch for its timeout may be expired and its ephemeral
// nodes handed on, so recipes use this with a part of the timeout to give
// up a lock or leadership before anyone else could take it. The
// registration is dropped, and the channel never closes, once ctx ends.
func (c *Conn) OutOfTouch(ctx context.Context, d time.Duration) <-chan struct{} {
	w := &touchWaiter{d: d, ch: make(chan struct{})}
	c.touchMu.Lock()
	if c.ended.Load() || State(c.state.Load()) != StateConnected {
		c.touchMu.Unlock()
		close(w.ch)
		return w.ch
	}
	if c.touchWaiters == nil {
		c.touchWaiters = make(map[*touchWaiter]struct{})
	}
	c.touchWaiters[w] = struct{}{}
	c.touchMu.Unlock()
	context.AfterFunc(ctx, func() {
		c.touchMu.Lock()
		delete(c.touchWaiters, w)
		c.touchMu.Unlock()
	})
	return w.ch
}

type touchWaiter struct {
	d  time.Duration
	ch chan struct{}
}

// touchState is the Conn's part of OutOfTouch.
type touchState struct {
	touchMu      sync.Mutex
	touchWaiters map[*touchWaiter]struct{}
}

// lostTouch closes the waiters whose d is at most out; out < 0 closes
// them all.
func (c *Conn) lostTouch(out time.Duration) {
	c.touchMu.Lock()
	defer c.touchMu.Unlock()
	for w := range c.touchWaiters {
		if out < 0 || out >= w.d {
			close(w.ch)
			delete(c.touchWaiters, w)
		}
	}
}

// checkContact tells the attached Conns how long it has been since the
// leader last heard of their sessions from this node.
func (n *Node) checkContact(now time.Time) {
	out := now.Sub(time.Unix(0, n.contact.Load()))
	if out <= 0 {
		return
	}
	n.connsMu.Lock()
	conns := make([]*Conn, 0, len(n.conns))
	for _, c := range n.conns {
		conns = append(conns, c)
	}
	n.connsMu.Unlock()
	for _, c := range conns {
		c.lostTouch(out)
	}
}
