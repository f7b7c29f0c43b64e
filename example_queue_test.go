package zk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/zkraft/zk"
)

// queueExampleNode opens an in-memory node and n sessions on it.
func queueExampleNode(n int) (*zk.Node, []*zk.Conn) {
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{})
	if err != nil {
		log.Fatal(err)
	}
	conns := make([]*zk.Conn, n)
	for i := range conns {
		if conns[i], err = node.Connect(ctx); err != nil {
			log.Fatal(err)
		}
	}
	return node, conns
}

func ExampleQueue() {
	ctx := context.Background()
	node, conns := queueExampleNode(2)
	defer node.Close()
	producer := zk.NewQueue(conns[0], "/jobs")
	consumer := zk.NewQueue(conns[1], "/jobs")

	for _, job := range []string{"resize", "encode", "upload"} {
		if err := producer.Put(ctx, []byte(job)); err != nil {
			log.Fatal(err)
		}
	}
	n, _ := consumer.Len(ctx)
	fmt.Println("queued:", n)
	for {
		job, err := consumer.TryTake(ctx)
		if errors.Is(err, zk.ErrQueueEmpty) {
			fmt.Println("empty")
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("took", string(job))
	}

	// Take waits for the next item.
	done := make(chan struct{})
	go func() {
		defer close(done)
		job, err := consumer.Take(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("took", string(job), "after waiting")
	}()
	if err := producer.Put(ctx, []byte("notify")); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output:
	// queued: 3
	// took resize
	// took encode
	// took upload
	// empty
	// took notify after waiting
}

func ExamplePriorityQueue() {
	ctx := context.Background()
	node, conns := queueExampleNode(1)
	defer node.Close()
	q := zk.NewPriorityQueue(conns[0], "/tickets")

	for _, t := range []struct {
		prio int32
		name string
	}{{1, "typo"}, {10, "outage"}, {5, "slow page"}, {10, "data loss"}, {1, "new logo"}} {
		if err := q.Put(ctx, t.prio, []byte(t.name)); err != nil {
			log.Fatal(err)
		}
	}
	for {
		t, err := q.TryTake(ctx)
		if errors.Is(err, zk.ErrQueueEmpty) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(t))
	}
	// Output:
	// outage
	// data loss
	// slow page
	// typo
	// new logo
}

func ExampleBarrier() {
	ctx := context.Background()
	node, conns := queueExampleNode(2)
	defer node.Close()
	gate := zk.NewBarrier(conns[0], "/deploy/gate")
	if err := gate.Set(ctx); err != nil {
		log.Fatal(err)
	}

	released := make(chan struct{})
	go func() {
		defer close(released)
		// A worker on another session waits for the gate to open.
		if err := zk.NewBarrier(conns[1], "/deploy/gate").Wait(ctx); err != nil {
			log.Fatal(err)
		}
		fmt.Println("worker: gate open, starting")
	}()
	fmt.Println("coordinator: migrations done, opening the gate")
	if err := gate.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	<-released
	// Output:
	// coordinator: migrations done, opening the gate
	// worker: gate open, starting
}

func ExampleDoubleBarrier() {
	ctx := context.Background()
	const n = 3
	node, conns := queueExampleNode(n)
	defer node.Close()

	var mu sync.Mutex
	var notes []string
	note := func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := zk.NewDoubleBarrier(conns[i], "/batch", n)
			if err := b.Enter(ctx); err != nil {
				log.Fatal(err)
			}
			note("entered")
			if err := b.Leave(ctx); err != nil {
				log.Fatal(err)
			}
			note("left")
		})
	}
	wg.Wait()
	// Every Enter returned before any Leave could: all "entered" come
	// first.
	for _, s := range notes {
		fmt.Println(s)
	}
	// Output:
	// entered
	// entered
	// entered
	// left
	// left
	// left
}
