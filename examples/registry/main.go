// Command registry runs a service registry on an embedded three-node
// zkraft ensemble, with zk.Group: service instances, each with its own
// session on a different node, join /services/api with their address; a
// client on another session follows the live set with Group.Watch and
// prints it each time it changes.
//
// One instance leaves cleanly (Leave) and disappears at once; another
// instance's node is killed, and it stays listed until the leader expires
// its session, about a session timeout later — the registry cannot tell a
// slow instance from a dead one sooner. A new instance then joins. The
// program ends by itself in a few seconds.
package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/demo"
)

const (
	group          = "/services/api"
	sessionTimeout = time.Second
)

func main() { demo.Main(30*time.Second, run) }

func run(ctx context.Context, out io.Writer) error {
	say := demo.Teller(out)
	cluster, err := demo.Start(ctx, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	say("ensemble of 3 nodes up")

	// The client follows the live set from node 1 (its session moves to
	// another node if node 1 goes).
	client, err := cluster.Connect(ctx, 0)
	if err != nil {
		return err
	}
	defer client.Close()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	live, err := zk.NewGroup(client, group).Watch(wctx)
	if err != nil {
		return err
	}
	// The printer hands every snapshot on, so the story below can wait
	// for the client to see each change.
	seen := make(chan map[string][]byte)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWatch() // runs before wg.Wait
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(seen)
		for m := range live {
			say("client sees %s", show(m))
			select {
			case seen <- m:
			case <-wctx.Done():
				return
			}
		}
	}()
	waitFor := func(what string, ok func(map[string][]byte) bool) error {
		for {
			select {
			case m, open := <-seen:
				if !open {
					return fmt.Errorf("watch ended waiting for %s", what)
				}
				if ok(m) {
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			}
		}
	}
	if err := waitFor("the first list", func(map[string][]byte) bool { return true }); err != nil {
		return err
	}

	// Three instances, one per node. They do not fail over: an instance
	// whose node dies is as good as dead, and its session runs out.
	type instance struct {
		name string
		conn *zk.Conn
		m    *zk.Membership
	}
	join := func(name string, node int) (*instance, error) {
		conn, err := cluster.Nodes[node].Connect(ctx, zk.WithSessionTimeout(sessionTimeout))
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("10.0.0.%d:8080", node+1)
		say("%s joins from node %d (%s)", name, node+1, addr)
		m, err := zk.NewGroup(conn, group).Join(ctx, name, []byte(addr))
		if err != nil {
			conn.Close()
			return nil, err
		}
		if err := waitFor(name+" to join", func(m map[string][]byte) bool { _, ok := m[name]; return ok }); err != nil {
			return nil, err
		}
		return &instance{name, conn, m}, nil
	}
	var instances []*instance
	defer func() {
		for _, in := range instances {
			in.conn.Close()
		}
	}()
	for i, name := range []string{"api-1", "api-2", "api-3"} {
		in, err := join(name, i)
		if err != nil {
			return err
		}
		instances = append(instances, in)
	}
	gone := func(name string) func(map[string][]byte) bool {
		return func(m map[string][]byte) bool { _, ok := m[name]; return !ok }
	}

	say("api-1 leaves")
	if err := instances[0].m.Leave(ctx); err != nil {
		return err
	}
	if err := waitFor("api-1 to leave", gone("api-1")); err != nil {
		return err
	}

	say("node 3 dies, taking api-3's connection with it; its session times out in %v", sessionTimeout)
	killed := time.Now()
	cluster.Nodes[2].Close()
	if err := waitFor("api-3 to expire", gone("api-3")); err != nil {
		return err
	}
	say("api-3 dropped out %.1fs after its node died", time.Since(killed).Seconds())

	in, err := join("api-4", 1)
	if err != nil {
		return err
	}
	instances = append(instances, in)
	members, err := zk.NewGroup(client, group).Members(ctx)
	if err != nil {
		return err
	}
	say("done; Members says %s", show(members))
	return nil
}

// show formats a member list in name order.
func show(m map[string][]byte) string {
	var s []string
	for name, addr := range m {
		s = append(s, name+"@"+string(addr))
	}
	slices.Sort(s)
	return "[" + strings.Join(s, " ") + "]"
}
