// Command config runs a configuration center on an embedded three-node
// zkraft ensemble, with zk.TreeCache: a writer updates configuration keys
// under /config, and three watchers, one per node, each keep a TreeCache
// of /config and print every update they see.
//
// Midway node 3 is stopped; its watcher's session moves to another node
// with its watch, and it catches up on what it missed. A cache applies
// changes in zxid order but may skip a state that was overwritten before
// it read it, so the watchers need not print the same lines — yet they
// all end with the same configuration, equal to a direct read. The
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

var acl = zk.WorldACL(zk.PermAll)

// update is one step of the writer.
type update struct {
	op, path, value string
}

var updates = []update{
	{"set", "/config/db/url", "postgres://db1:5432/app"},
	{"set", "/config/http/timeout", "30s"},
	{"create", "/config/feature/dark-mode", "on"},
	{"set", "/config/db/url", "postgres://db2:5432/app"},
	{"kill", "", ""},
	{"set", "/config/http/timeout", "45s"},
	{"delete", "/config/feature/dark-mode", ""},
	{"create", "/config/feature/beta", "10%"},
	{"set", "/config/db/pool", "20"},
	{"set", "/config/version", "2"},
}

func main() { demo.Main(30*time.Second, run) }

func run(ctx context.Context, out io.Writer) error {
	say := demo.Teller(out)
	cluster, err := demo.Start(ctx, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	say("ensemble of 3 nodes up")

	writer, err := cluster.Connect(ctx, 0)
	if err != nil {
		return err
	}
	defer writer.Close()
	for _, p := range []string{"/config", "/config/db", "/config/db/url", "/config/db/pool", "/config/http", "/config/http/timeout", "/config/feature", "/config/version"} {
		if _, err := writer.Create(ctx, p, []byte(map[string]string{
			"/config/db/url": "postgres://db0:5432/app", "/config/db/pool": "10",
			"/config/http/timeout": "10s", "/config/version": "1",
		}[p]), zk.FlagPersistent, acl); err != nil {
			return err
		}
	}
	say("initial configuration written, version 1")

	// Three watchers, one per node; each session moves to another node if
	// its node goes.
	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWatchers() // before wg.Wait
	caches := make([]*zk.TreeCache, 3)
	final := make(chan int, 3)
	for i := range 3 {
		conn, err := cluster.Connect(ctx, i)
		if err != nil {
			return err
		}
		defer conn.Close()
		name := fmt.Sprintf("watcher@node%d", i+1)
		tc, err := zk.NewTreeCache(wctx, conn, "/config", zk.WithTreeEvents())
		if err != nil {
			return err
		}
		defer tc.Close()
		caches[i] = tc
		wg.Add(2)
		go func() {
			defer wg.Done()
			loaded := 0
			for e := range tc.Events() {
				switch {
				case e.Type == zk.TreeInitialized:
					say("%s: loaded %d nodes", name, loaded)
				case e.Load:
					loaded++
				case e.Type == zk.TreeNodeRemoved:
					say("%s: %s removed", name, e.Path)
				case len(e.Data) > 0:
					say("%s: %s = %q (version %d)", name, e.Path, e.Data, e.Stat.Version)
				}
				if !e.Load && e.Path == "/config/version" && string(e.Data) == "2" {
					final <- i
				}
			}
		}()
		go func() { // the session's moves, after its first StateConnected
			defer wg.Done()
			first := true
			for ev := range conn.Events() {
				if !first && ev.State != zk.StateClosed {
					say("%s: session %v", name, ev.State)
				}
				first = false
			}
		}()
	}
	// The writer makes one change every 100ms.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, u := range updates {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if u.op != "kill" {
			say("writer: %s %s %s", u.op, u.path, u.value)
		}
		var err error
		switch u.op {
		case "set":
			_, err = writer.Set(ctx, u.path, []byte(u.value), zk.AnyVersion)
		case "create":
			_, err = writer.Create(ctx, u.path, []byte(u.value), zk.FlagPersistent, acl)
		case "delete":
			err = writer.Delete(ctx, u.path, zk.AnyVersion)
		case "kill":
			say("writer: stopping node 3")
			cluster.Nodes[2].Close()
			continue
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.op, u.path, err)
		}
	}

	// A cache applies changes in zxid order, so once it shows the last
	// write it shows every write before it.
	for range 3 {
		select {
		case <-final:
		case <-ctx.Done():
			return fmt.Errorf("watchers did not converge: %w", ctx.Err())
		}
	}
	if err := writer.Sync(ctx, "/config"); err != nil {
		return err
	}
	want, err := read(ctx, writer, "/config")
	if err != nil {
		return err
	}
	say("configuration read directly: %s", want)
	for i, tc := range caches {
		got := view(tc)
		say("watcher@node%d converged: %v", i+1, got == want)
		if got != want {
			return fmt.Errorf("watcher@node%d has %s", i+1, got)
		}
	}
	return nil
}

// view formats a cache's keys (the nodes with data), path=value in path
// order.
func view(tc *zk.TreeCache) string {
	var s []string
	for p, n := range tc.Snapshot() {
		if len(n.Data) > 0 {
			s = append(s, strings.TrimPrefix(p, "/config/")+"="+string(n.Data))
		}
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// read formats the tree at root as view does, from direct reads.
func read(ctx context.Context, conn *zk.Conn, root string) (string, error) {
	var s []string
	var walk func(p string) error
	walk = func(p string) error {
		data, _, err := conn.Get(ctx, p)
		if err != nil {
			return err
		}
		kids, _, err := conn.Children(ctx, p)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			s = append(s, strings.TrimPrefix(p, "/config/")+"="+string(data))
		}
		for _, k := range kids {
			if err := walk(p + "/" + k); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return "", err
	}
	slices.Sort(s)
	return strings.Join(s, " "), nil
}
