package zk

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// detach is how a closing node lets go of a Conn that may move
// (WithFailover): the Conn turns StateDisconnected, its watches leave the
// node together with the zxid up to which they have seen every change,
// and it looks for another node.
func (c *Conn) detach(old *Node) {
	if c.ended.Load() {
		return
	}
	c.setState(StateDisconnected)
	// Under the FSM's lock no change is being applied, so the watches have
	// had every event up to cut and none after.
	old.fsm.mu.RLock()
	cut := old.fsm.LastZxid()
	regs := old.watches.removeOwner(c)
	old.fsm.mu.RUnlock()
	c.events.push(Event{Type: EventSession, State: StateDisconnected}, false)
	c.lostTouch(-1)
	go c.reattach(old, cut, regs)
}

// reattach tries the failover nodes until one takes the session, the
// session turns out to have ended, or the session timeout passes.
func (c *Conn) reattach(old *Node, cut int64, regs []watchReg) {
	deadline := time.Now().Add(c.timeout)
	for {
		for _, n := range c.failover {
			if n == old || n.isClosing() {
				continue
			}
			if c.ended.Load() {
				notWatching(regs, c)
				return
			}
			if c.tryAttach(n, cut, regs, deadline) {
				return
			}
		}
		if c.ended.Load() {
			notWatching(regs, c)
			return
		}
		if time.Now().After(deadline) {
			c.endDetached(regs, StateDisconnected, ErrConnectionLoss)
			return
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			notWatching(regs, c)
			return
		}
	}
}

// lost turns the ErrClosing of a node that went away under an operation
// into ErrConnectionLoss while the Conn itself lives on (WithFailover):
// the operation may or may not have happened, and the Conn moves on.
func (c *Conn) lost(err error) error {
	if errors.Is(err, ErrClosing) && len(c.failover) > 0 && !c.ended.Load() {
		return fmt.Errorf("%w: its node closed", ErrConnectionLoss)
	}
	return err
}

// endDetached ends a Conn whose watches were taken off its old node.
func (c *Conn) endDetached(regs []watchReg, state State, reason error) {
	c.end(state, reason)
	notWatching(regs, c)
}

// notWatching ends watches that belong to no node, once their Conn ended.
func notWatching(regs []watchReg, c *Conn) {
	state, reason := State(c.state.Load()), error(ErrClosing)
	if p := c.reason.Load(); p != nil {
		reason = *p
	}
	for _, r := range regs {
		if w, ok := r.w.(*chanWatch); ok {
			w.send(Event{Type: EventNotWatching, State: state, Path: r.path, Err: reason}, true)
		}
	}
}

func (n *Node) isClosing() bool {
	select {
	case <-n.closing:
		return true
	default:
		return false
	}
}

// tryAttach moves the session to n once n has caught up with everything
// the Conn has seen, and registers its watches there. It returns true
// when the Conn needs nothing more: attached, or ended.
func (c *Conn) tryAttach(n *Node, cut int64, regs []watchReg, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	// A node behind the Conn would fire again events it has had.
	z, err := n.readIndex(ctx)
	if err != nil {
		return false
	}
	if err := n.waitApplied(ctx, max(z, cut)); err != nil {
		return false
	}
	si, ok := n.fsm.session(c.id)
	if !ok || subtle.ConstantTimeCompare(si.password, c.password) != 1 {
		c.endDetached(regs, StateExpired, ErrSessionExpired)
		return true
	}
	n.connsMu.Lock()
	if n.isClosing() {
		n.connsMu.Unlock()
		return false
	}
	prev := n.conns[c.id]
	n.conns[c.id] = c
	n.connsMu.Unlock()
	if prev != nil && prev != c {
		prev.end(StateDisconnected, ErrSessionMoved)
	}
	c.nodePtr.Store(n)
	n.tracker.touch(c.id, n.clock.Now())

	n.fsm.mu.RLock()
	if _, ok := n.fsm.sessions[c.id]; !ok {
		n.fsm.mu.RUnlock()
		c.endDetached(regs, StateExpired, ErrSessionExpired)
		return true
	}
	c.setState(StateConnected)
	for _, r := range regs {
		c.rewatch(n, r, cut)
	}
	n.fsm.mu.RUnlock()
	c.events.push(Event{Type: EventSession, State: StateConnected}, false)
	return true
}

// rewatch registers a watch on the Conn's new node, first firing what it
// missed since cut, as ZooKeeper's setWatches does: a one-shot watch whose
// node changed fires at once instead; a persistent watch gets each missed
// event replayed, or EventWatchEventsLost. n.fsm.mu is held.
func (c *Conn) rewatch(n *Node, r watchReg, cut int64) {
	w, ok := r.w.(*chanWatch)
	if !ok {
		return
	}
	t := n.fsm.tree
	nd := t.nodes[r.path]
	ids := c.authIDs()
	fire := func(typ EventType, zxid int64) {
		if nd != nil && !checkACL(nd.acl.acl, PermRead, ids) {
			return
		}
		w.deliver(Event{Type: typ, State: StateConnected, Path: r.path, Zxid: zxid})
	}
	switch r.kind {
	case watchData:
		switch {
		case nd == nil && !w.exist:
			w.deliver(Event{Type: EventNodeDeleted, State: StateConnected, Path: r.path, Zxid: n.fsm.LastZxid()})
			return
		case nd != nil && (w.exist || nd.czxid > cut):
			fire(EventNodeCreated, nd.czxid)
			return
		case nd != nil && nd.mzxid > cut:
			fire(EventNodeDataChanged, nd.mzxid)
			return
		}
	case watchChild:
		switch {
		case nd == nil:
			w.deliver(Event{Type: EventNodeDeleted, State: StateConnected, Path: r.path, Zxid: n.fsm.LastZxid()})
			return
		case nd.pzxid > cut:
			fire(EventNodeChildrenChanged, nd.pzxid)
			return
		}
	case watchPersistent, watchRecursive:
		evs, ok := n.watches.replay(r.path, r.kind == watchRecursive, cut, ids)
		if !ok {
			w.deliver(Event{Type: EventWatchEventsLost, State: StateConnected, Path: r.path, Zxid: n.fsm.LastZxid()})
		}
		for _, ev := range evs {
			w.deliver(ev)
		}
	}
	n.watches.add(r.kind, r.path, w)
}
