// Command queue runs zk.Queue, ZooKeeper's distributed FIFO queue recipe,
// on an embedded three-node zkraft ensemble:
//
//   - three producers, on nodes 1 and 3, put numbered jobs;
//   - four consumers, on all three nodes, take them: each job is a
//     persistent sequential node, and a consumer takes one by deleting
//     it, so exactly one consumer gets it;
//   - a third of the way through, the node of two consumers is killed:
//     their sessions move to another node and they carry on, and a take
//     cut off by the kill is settled by its receipt, so it is neither
//     lost nor taken twice;
//   - the demo ends with a summary: every job produced was consumed
//     exactly once, and every consumer saw each producer's jobs in order.
package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/demo"
)

const (
	queuePath   = "/demo/jobs"
	producers   = 3
	consumers   = 4
	perProducer = 150
	putEvery    = 10 * time.Millisecond
	victimNode  = 1 // the node of consumers 0 and 1, killed midway
)

func main() { demo.Main(30*time.Second, run) }

// job is one item as a consumer took it.
type job struct {
	producer, seq int
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

	// Sessions: every one moves to another node if its node dies.
	connect := func(node int) (*zk.Conn, error) {
		conn, err := cluster.Connect(ctx, node)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(runCtx, func() { conn.Close() })
		return conn, nil
	}
	producerNode := func(p int) int { return []int{0, 2, 0}[p] }
	consumerNode := func(c int) int { return []int{victimNode, victimNode, 0, 2}[c] }

	var (
		mu       sync.Mutex
		produced int
		taken    = map[job]int{}
		byCons   = make([][]job, consumers)
		errs     int
	)
	allTaken := make(chan struct{})
	third := make(chan struct{})
	var once, onceThird sync.Once

	var prodWG sync.WaitGroup
	for p := range producers {
		conn, err := connect(producerNode(p))
		if err != nil {
			return err
		}
		q := zk.NewQueue(conn, queuePath)
		prodWG.Go(func() {
			tick := time.NewTicker(putEvery)
			defer tick.Stop()
			for i := range perProducer {
				select {
				case <-tick.C:
				case <-runCtx.Done():
					return
				}
				// A Put that returns nil added the job exactly once; one
				// that fails added nothing, so it is simply tried again.
				for {
					err := q.Put(runCtx, fmt.Appendf(nil, "%d/%d", p, i))
					if err == nil {
						break
					}
					if runCtx.Err() != nil {
						return
					}
					say("producer %d: %v (trying again)", p, err)
				}
				mu.Lock()
				produced++
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		prodWG.Wait()
		if runCtx.Err() == nil {
			say("producers done: %d jobs put", producers*perProducer)
		}
	})
	for c := range consumers {
		conn, err := connect(consumerNode(c))
		if err != nil {
			return err
		}
		q := zk.NewQueue(conn, queuePath)
		wg.Go(func() {
			for {
				data, err := q.Take(runCtx)
				if runCtx.Err() != nil {
					return
				}
				if err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
					say("consumer %d: %v", c, err)
					continue
				}
				var j job
				if _, err := fmt.Sscanf(string(data), "%d/%d", &j.producer, &j.seq); err != nil {
					say("consumer %d: bad job %q", c, data)
					continue
				}
				mu.Lock()
				taken[j]++
				byCons[c] = append(byCons[c], j)
				n := len(taken)
				mu.Unlock()
				if n%150 == 0 {
					say("%d jobs consumed", n)
				}
				if n >= producers*perProducer/3 {
					onceThird.Do(func() { close(third) })
				}
				if n == producers*perProducer {
					once.Do(func() { close(allTaken) })
				}
			}
		})
	}
	say("%d producers (nodes 1, 3) and %d consumers (nodes 2, 2, 1, 3) started on %s", producers, consumers, queuePath)

	select {
	case <-third:
	case <-ctx.Done():
		return ctx.Err()
	}
	mu.Lock()
	before := [2]int{len(byCons[0]), len(byCons[1])}
	mu.Unlock()
	say("killing node %d, where consumers 0 and 1 run (they had taken %d and %d jobs)", victimNode+1, before[0], before[1])
	cluster.Nodes[victimNode].Close()

	select {
	case <-allTaken:
	case <-ctx.Done():
		return fmt.Errorf("not every job was consumed: %w", ctx.Err())
	}
	stopAll()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	dups, lost := 0, 0
	for p := range producers {
		for i := range perProducer {
			switch n := taken[job{p, i}]; {
			case n == 0:
				lost++
			case n > 1:
				dups++
			}
		}
	}
	fifo := true
	for _, js := range byCons {
		last := map[int]int{}
		for _, j := range js {
			if prev, ok := last[j.producer]; ok && j.seq <= prev {
				fifo = false
			}
			last[j.producer] = j.seq
		}
	}
	say("consumers 0 and 1 took %d and %d jobs after the kill, from another node", len(byCons[0])-before[0], len(byCons[1])-before[1])
	say("summary: %d jobs produced, %d consumed; %d lost, %d consumed twice; %d take errors",
		produced, len(taken), lost, dups, errs)
	if lost == 0 && dups == 0 {
		say("every job consumed exactly once")
	}
	if fifo {
		say("FIFO order per producer held for every consumer")
	}
	if lost != 0 || dups != 0 || !fifo || produced != producers*perProducer {
		return fmt.Errorf("the queue broke its guarantees")
	}
	return nil
}
