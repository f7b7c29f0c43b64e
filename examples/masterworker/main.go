// Command masterworker runs the master-worker scheduler of the ZooKeeper
// book on an embedded three-node zkraft ensemble, end to end:
//
//   - two masters race for the ephemeral /master; the loser waits on it;
//   - workers register ephemeral nodes under /workers and take tasks from
//     /assign/<worker>/;
//   - a client submits 200 tasks as sequential nodes under /tasks;
//   - the active master assigns each task to the least loaded worker;
//   - a worker marks a task done by creating /tasks/<task>/status.
//
// Midway the demo kills one worker's node (its session expires and its
// unfinished tasks are reassigned) and then stops the active master (the
// backup takes over, rebuilds its view from the tree, and carries on). It
// ends when all 200 tasks are done and prints a summary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/demo"
)

const tasks = 200

var acl = zk.WorldACL(zk.PermAll)

// say prints a line of the demo's story, stamped with the time since it
// began.
var say func(format string, args ...any)

func main() { demo.Main(60*time.Second, run) }

func run(ctx context.Context, out io.Writer) error {
	start := time.Now()
	say = demo.Teller(out)
	cluster, err := demo.Start(ctx, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	say("ensemble of 3 nodes up")

	admin, err := cluster.Connect(ctx, 0)
	if err != nil {
		return err
	}
	defer admin.Close()
	for _, p := range []string{"/workers", "/tasks", "/assign"} {
		if _, err := admin.Create(ctx, p, nil, zk.FlagPersistent, acl); err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()

	// Two masters, on different nodes; both survive a node failure.
	var reassigned atomic.Int64
	masters := make([]*master, 2)
	for i := range masters {
		conn, err := cluster.Connect(ctx, i)
		if err != nil {
			return err
		}
		mctx, stop := context.WithCancel(runCtx)
		masters[i] = &master{name: fmt.Sprintf("master-%d", i+1), conn: conn, stop: stop, reassigned: &reassigned}
		wg.Add(1)
		go func() {
			defer wg.Done()
			masters[i].run(mctx)
		}()
	}

	// Four workers; worker-4 lives on node 3 alone, without failover, so
	// killing node 3 kills it as a crash would.
	var executed atomic.Int64
	for i := range 4 {
		var conn *zk.Conn
		if i == 3 {
			conn, err = cluster.Nodes[2].Connect(ctx)
		} else {
			conn, err = cluster.Connect(ctx, i%2)
		}
		if err != nil {
			return err
		}
		w := &worker{name: fmt.Sprintf("worker-%d", i+1), conn: conn, executed: &executed}
		if err := w.register(ctx); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			w.run(runCtx)
		}()
	}
	say("4 workers registered under /workers")

	// The client submits the tasks and watches them complete.
	client, err := cluster.Connect(ctx, 1)
	if err != nil {
		return err
	}
	defer client.Close()
	done, err := client.AddWatch(ctx, "/tasks", zk.AddWatchModePersistentRecursive)
	if err != nil {
		return err
	}
	for i := range tasks {
		if _, err := client.Create(ctx, "/tasks/task-", fmt.Appendf(nil, "job %d", i), zk.FlagSequence, acl); err != nil {
			return err
		}
	}
	say("client submitted %d tasks under /tasks", tasks)

	finished := 0
	killedWorker, stoppedMaster := false, false
	for finished < tasks {
		select {
		case ev := <-done:
			if ev.Type != zk.EventNodeCreated || !strings.HasSuffix(ev.Path, "/status") {
				continue
			}
			finished++
			if finished%25 == 0 {
				say("%d/%d tasks done", finished, tasks)
			}
			if finished == tasks/4 && !killedWorker {
				killedWorker = true
				say("killing node 3, and with it worker-4: its session will expire")
				go cluster.Nodes[2].Close()
			}
			if finished == tasks/2 && !stoppedMaster {
				stoppedMaster = true
				i := slices.IndexFunc(masters, func(m *master) bool { return m.active.Load() })
				if i >= 0 {
					say("stopping the active master, %s", masters[i].name)
					masters[i].stop()
					masters[i].conn.Close()
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d tasks done: %w", finished, tasks, ctx.Err())
		}
	}
	stopAll()
	wg.Wait()
	for _, m := range masters {
		m.conn.Close()
	}
	say("all %d tasks done: %d executions, %d reassigned from a dead worker, in %.1fs",
		tasks, executed.Load(), reassigned.Load(), time.Since(start).Seconds())
	return nil
}

// master competes for /master and, while it holds it, assigns tasks.
type master struct {
	name       string
	conn       *zk.Conn
	stop       func()
	active     atomic.Bool
	reassigned *atomic.Int64
}

func (m *master) run(ctx context.Context) {
	for ctx.Err() == nil {
		_, err := m.conn.Create(ctx, "/master", []byte(m.name), zk.FlagEphemeral, acl)
		if retry(err) {
			// It may have been created: look, as the loser would.
			if data, _, gerr := m.conn.Get(ctx, "/master"); gerr == nil && string(data) == m.name {
				err = nil
			} else {
				continue
			}
		}
		if errors.Is(err, zk.ErrNodeExists) {
			// Someone else leads: wait for its node to go.
			ok, _, gone, err := m.conn.ExistsW(ctx, "/master")
			if err != nil {
				return
			}
			if ok {
				say("%s is the backup: watching /master", m.name)
				select {
				case <-gone:
				case <-ctx.Done():
					return
				}
			}
			continue
		}
		if err != nil {
			return
		}
		m.active.Store(true)
		say("%s is the active master", m.name)
		m.lead(ctx)
		return
	}
}

// lead assigns tasks until ctx ends. It keeps no state of its own: each
// round reads the tree, so a new master picks up where the old one left.
func (m *master) lead(ctx context.Context) {
	for ctx.Err() == nil {
		workers, _, wch, err := m.conn.ChildrenW(ctx, "/workers")
		if retry(err) {
			continue
		} else if err != nil {
			return
		}
		taskNames, _, tch, err := m.conn.ChildrenW(ctx, "/tasks")
		if retry(err) {
			continue
		} else if err != nil {
			return
		}
		if err := m.assign(ctx, workers, taskNames); retry(err) {
			continue
		} else if err != nil {
			return
		}
		select {
		case <-wch:
		case <-tch:
		case <-ctx.Done():
		}
	}
}

func (m *master) assign(ctx context.Context, workers, taskNames []string) error {
	// What each assignment directory holds, live worker or not.
	dirs, _, err := m.conn.Children(ctx, "/assign")
	if err != nil {
		return err
	}
	load := map[string]int{}
	assigned := map[string]string{} // task → dir
	for _, d := range dirs {
		held, _, err := m.conn.Children(ctx, "/assign/"+d)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		for _, t := range held {
			assigned[t] = d
		}
		load[d] = len(held)
	}
	if len(workers) == 0 {
		return nil
	}
	least := func() string {
		return slices.MinFunc(workers, func(a, b string) int { return load[a] - load[b] })
	}
	for _, d := range dirs {
		if slices.Contains(workers, d) {
			continue
		}
		// A dead worker: hand its tasks on, each in one atomic move.
		held, _, _ := m.conn.Children(ctx, "/assign/"+d)
		for _, t := range held {
			to := least()
			_, err := m.conn.Multi(ctx,
				zk.CreateOp("/assign/"+to+"/"+t, nil, zk.FlagPersistent, acl),
				zk.DeleteOp("/assign/"+d+"/"+t, zk.AnyVersion))
			if err != nil {
				return err
			}
			load[to]++
			m.reassigned.Add(1)
		}
		if err := m.conn.Delete(ctx, "/assign/"+d, zk.AnyVersion); err == nil {
			say("%s reassigned %d tasks of dead %s", m.name, len(held), d)
		}
	}
	for _, t := range taskNames {
		if _, ok := assigned[t]; ok {
			continue
		}
		if ok, _, err := m.conn.Exists(ctx, "/tasks/"+t+"/status"); err != nil || ok {
			continue // done, or we will see it again next round
		}
		to := least()
		if _, err := m.conn.Create(ctx, "/assign/"+to+"/"+t, nil, zk.FlagPersistent, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			if errors.Is(err, zk.ErrNoNode) {
				continue // the worker left; next round
			}
			return err
		}
		load[to]++
	}
	return nil
}

// worker executes the tasks assigned to it.
type worker struct {
	name     string
	conn     *zk.Conn
	executed *atomic.Int64
}

func (w *worker) register(ctx context.Context) error {
	if _, err := w.conn.Create(ctx, "/assign/"+w.name, nil, zk.FlagPersistent, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return err
	}
	_, err := w.conn.Create(ctx, "/workers/"+w.name, []byte("idle"), zk.FlagEphemeral, acl)
	return err
}

// The worker's loop survives what a ZooKeeper client must expect: a write
// whose outcome was lost in a leader change (ErrConnectionLoss) is simply
// tried again, since every step is idempotent. Anything else ends it.
func (w *worker) run(ctx context.Context) {
	dir := "/assign/" + w.name
	for ctx.Err() == nil {
		held, _, ch, err := w.conn.ChildrenW(ctx, dir)
		if retry(err) {
			continue
		} else if err != nil {
			return
		}
		for _, t := range held {
			if err := w.execute(ctx, dir, t); err != nil {
				if retry(err) {
					break
				}
				return
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

func (w *worker) execute(ctx context.Context, dir, task string) error {
	// The work itself: a few milliseconds of "computation".
	time.Sleep(time.Duration(5+rand.IntN(15)) * time.Millisecond)
	_, err := w.conn.Create(ctx, "/tasks/"+task+"/status", []byte("done by "+w.name), zk.FlagPersistent, acl)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return err
	}
	w.executed.Add(1)
	if err := w.conn.Delete(ctx, dir+"/"+task, zk.AnyVersion); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	return nil
}

// retry reports whether err is one to try again after: a write whose
// outcome is unknown because the leader changed.
func retry(err error) bool { return errors.Is(err, zk.ErrConnectionLoss) }
