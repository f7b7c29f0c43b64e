// Command election runs zk.Election, ZooKeeper's leader election recipe,
// on an embedded three-node zkraft ensemble:
//
//   - five candidates, on the three nodes, campaign for /service/leader;
//     each is an ephemeral sequential node that watches only the one
//     before it;
//   - an observer prints every change of leader;
//   - the leader's node is killed: the leader learns at once that it may
//     have lost the leadership, and once its session has expired the next
//     candidate takes over with a larger fencing token;
//   - that leader resigns, and the next one takes over at once;
//   - the demo checks that the fencing tokens only grew, and ends.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/demo"
)

const (
	candidates     = 5
	sessionTimeout = time.Second
	electionPath   = "/service/leader"
)

func main() { demo.Main(30*time.Second, run) }

// elected is what a candidate reports when it wins.
type elected struct {
	who    int
	token  int64
	resign chan<- struct{}
}

func run(ctx context.Context, out io.Writer) error {
	say := demo.Teller(out)
	cluster, err := demo.Start(ctx, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	say("ensemble of 3 nodes up")

	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	var wg sync.WaitGroup
	defer wg.Wait()

	// The observer: a session of its own that prints leader changes.
	obsConn, err := cluster.Connect(ctx, 2)
	if err != nil {
		return err
	}
	defer obsConn.Close()
	wg.Go(func() {
		for rec := range zk.NewElection(obsConn, electionPath).Observe(runCtx) {
			if rec.Token == 0 {
				say("observer: no leader")
			} else {
				say("observer: leader is %s (token %#x)", rec.Value, rec.Token)
			}
		}
	})

	// The candidates: candidate i lives on node i%3, on a session that
	// dies with its node, as a process on that machine would.
	wins := make(chan elected)
	for i := range candidates {
		conn, err := cluster.Nodes[i%3].Connect(ctx, zk.WithSessionTimeout(sessionTimeout))
		if err != nil {
			return err
		}
		name := fmt.Sprintf("candidate-%d", i+1)
		say("%s campaigns from node %d", name, i%3+1)
		wg.Go(func() {
			defer conn.Close()
			candidate(runCtx, conn, i, name, wins, say)
		})
		if i == 0 {
			// Let the first one win before the others line up.
			if err := waitLeader(ctx, obsConn); err != nil {
				return err
			}
		}
	}

	var tokens []int64
	next := func() (elected, error) {
		select {
		case w := <-wins:
			tokens = append(tokens, w.token)
			return w, nil
		case <-ctx.Done():
			return elected{}, ctx.Err()
		}
	}
	first, err := next()
	if err != nil {
		return err
	}

	// The leader leads for a while; then its node is killed: no goodbye,
	// its session must expire.
	if err := pace(ctx, time.Second); err != nil {
		return err
	}
	node := first.who % 3
	say("killing node %d, where candidate-%d leads", node+1, first.who+1)
	killed := time.Now()
	cluster.Nodes[node].Close()
	second, err := next()
	if err != nil {
		return err
	}
	say("candidate-%d took over %.1fs after the kill (session timeout %v)", second.who+1, time.Since(killed).Seconds(), sessionTimeout)

	// The new leader resigns: the next one takes over at once.
	if err := pace(ctx, time.Second); err != nil {
		return err
	}
	say("candidate-%d resigns", second.who+1)
	close(second.resign)
	if _, err := next(); err != nil {
		return err
	}

	if err := pace(ctx, time.Second); err != nil {
		return err
	}
	stopAll()
	wg.Wait()
	if !slices.IsSorted(tokens) || len(slices.Compact(slices.Clone(tokens))) != len(tokens) {
		return fmt.Errorf("fencing tokens did not grow: %#x", tokens)
	}
	say("done: %d leaders, fencing tokens %#x, strictly growing", len(tokens), tokens)
	return nil
}

// candidate campaigns until ctx ends or its session does; when it wins
// it reports on wins and leads until it is told to resign, loses the
// leadership, or ctx ends.
func candidate(ctx context.Context, conn *zk.Conn, i int, name string, wins chan<- elected, say func(string, ...any)) {
	e := zk.NewElection(conn, electionPath)
	for {
		l, err := e.Campaign(ctx, []byte(name))
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				say("%s stops campaigning: %v", name, err)
			}
			return
		}
		say("%s elected, fencing token %#x", name, l.Token)
		resign := make(chan struct{})
		select {
		case wins <- elected{who: i, token: l.Token, resign: resign}:
		case <-ctx.Done():
		}
		select {
		case <-resign:
			if err := l.Resign(ctx); err != nil {
				say("%s: resign: %v", name, err)
				return
			}
			say("%s resigned and campaigns again", name)
		case <-l.Lost():
			say("%s may have lost the leadership, stops leading: %v", name, l.Err())
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			l.Resign(rctx) // best effort: hand over now if the session lives
			cancel()
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			l.Resign(rctx)
			cancel()
			return
		}
	}
}

// waitLeader waits until the election has a leader.
func waitLeader(ctx context.Context, conn *zk.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for rec := range zk.NewElection(conn, electionPath).Observe(ctx) {
		if rec.Token != 0 {
			return nil
		}
	}
	return ctx.Err()
}

// pace lets the story run for d: the demo's timing, not synchronisation.
func pace(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
