// Command lock runs zk.Mutex, ZooKeeper's lock recipe, on an embedded
// three-node zkraft ensemble:
//
//   - six workers, two on each node, take turns at a lock around a shared
//     counter; each waits only on the contender just before it;
//   - the counter is fenced: it refuses a write whose token is smaller
//     than one it has seen;
//   - midway, the node of the current holder is killed: the holder learns
//     at once that it can no longer be sure it holds the lock (Lost), stops
//     and unlocks from the node its session moved to, and the lock passes on;
//   - the demo ends with a summary: the counter, the writes refused, and
//     whether the tokens only grew.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/demo"
)

const (
	workers    = 6
	increments = 24 // in all, then the workers stop
	killAfter  = 10 // increments before the holder's node is killed
	lockPath   = "/demo/counter-lock"
)

func main() { demo.Main(30*time.Second, run) }

// counter is the shared resource: it remembers the largest token it has
// seen and refuses writes with a smaller one.
type counter struct {
	mu      sync.Mutex
	value   int
	top     int64
	tokens  []int64
	refused int
}

func (c *counter) add(token int64) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token < c.top {
		c.refused++
		return c.value, false
	}
	if token != c.top {
		c.tokens = append(c.tokens, token)
	}
	c.top = token
	c.value++
	return c.value, true
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

func run(ctx context.Context, out io.Writer) error {
	cluster, err := demo.Start(ctx, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()

	var (
		cnt    counter
		killed = make(chan struct{})
		once   sync.Once
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	say := demo.Teller(out)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	conns := make([]*zk.Conn, workers)
	for w := range workers {
		conn, err := cluster.Connect(ctx, w%3, zk.WithSessionTimeout(time.Second))
		if err != nil {
			return err
		}
		defer conn.Close()
		conns[w] = conn
	}
	for w := range workers {
		node := w % 3
		m := zk.NewMutex(conns[w], lockPath)
		wg.Go(func() {
			for wctx.Err() == nil {
				if err := m.Lock(wctx); err != nil {
					if wctx.Err() == nil {
						errs <- fmt.Errorf("worker %d: %w", w, err)
					}
					return
				}
				token, lost := m.Token(), m.Lost()
				v, ok := cnt.add(token)
				say("worker %d (started on node %d) holds the lock, token %#x: counter %d (accepted: %v)", w, node+1, token, v, ok)
				if v >= increments {
					stop()
				}
				if v == killAfter {
					once.Do(func() {
						say("*** killing node %d, where worker %d holds the lock", node+1, w)
						cluster.Nodes[node].Close()
						close(killed)
					})
				}
				// The work: hold the lock a moment, unless it may be lost.
				select {
				case <-lost:
					say("worker %d: can no longer be sure it holds the lock (%v); stops and unlocks", w, m.Err())
				case <-time.After(20 * time.Millisecond):
				}
				// Unlock may meet a leader change (ErrConnectionLoss): the
				// Mutex still holds its node then, so try again.
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				err := m.Unlock(uctx)
				for errors.Is(err, zk.ErrConnectionLoss) && uctx.Err() == nil {
					err = m.Unlock(uctx)
				}
				cancel()
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	select {
	case <-killed:
	default:
		return errors.New("the holder's node was never killed")
	}
	grew := true
	for i := 1; i < len(cnt.tokens); i++ {
		grew = grew && cnt.tokens[i] > cnt.tokens[i-1]
	}
	say("summary: counter %d after %d holds by %d workers, %d writes refused, tokens only grew: %v",
		cnt.get(), len(cnt.tokens), workers, cnt.refused, grew)
	if !grew {
		return errors.New("a fencing token went back")
	}
	return nil
}
