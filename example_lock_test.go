package zk_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/zkraft/zk"
)

func ExampleMutex() {
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	connect := func() *zk.Conn {
		conn, err := node.Connect(ctx)
		if err != nil {
			log.Fatal(err)
		}
		return conn
	}
	alice, bob := connect(), connect()
	defer alice.Close()
	defer bob.Close()

	a := zk.NewMutex(alice, "/locks/printer")
	b := zk.NewMutex(bob, "/locks/printer")
	if err := a.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	ok, err := b.TryLock(ctx)
	fmt.Println("bob's TryLock while alice holds it:", ok, err)
	fmt.Println("bob's Unlock:", errors.Is(b.Unlock(ctx), zk.ErrNotLocked))

	// Bob waits; Alice unlocks, and Bob gets the lock with a larger token.
	locked := make(chan error)
	go func() { locked <- b.Lock(ctx) }()
	first := a.Token()
	lost := a.Lost()
	if err := a.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	<-lost
	if err := <-locked; err != nil {
		log.Fatal(err)
	}
	fmt.Println("bob holds it, token grew:", b.Token() > first)

	// The holder uses the lock while Lost is open, and fences its writes
	// with the token.
	select {
	case <-b.Lost():
		fmt.Println("lost:", b.Err())
	default:
		fmt.Println("still held:", b.Err() == nil)
	}
	if err := b.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// bob's TryLock while alice holds it: false <nil>
	// bob's Unlock: true
	// bob holds it, token grew: true
	// still held: true
}

func ExampleRWMutex() {
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	conn, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	r1 := zk.NewRWMutex(conn, "/locks/table")
	r2 := zk.NewRWMutex(conn, "/locks/table")
	w := zk.NewRWMutex(conn, "/locks/table")
	for _, r := range []*zk.RWMutex{r1, r2} {
		if err := r.RLock(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("two readers hold it")
	ok, _ := w.TryLock(ctx)
	fmt.Println("a writer gets it meanwhile:", ok)
	for _, r := range []*zk.RWMutex{r1, r2} {
		if err := r.RUnlock(ctx); err != nil {
			log.Fatal(err)
		}
	}
	ok, _ = w.TryLock(ctx)
	fmt.Println("a writer gets it once they are gone:", ok)
	ok, _ = r1.TryRLock(ctx)
	fmt.Println("a reader gets it meanwhile:", ok)
	if err := w.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// two readers hold it
	// a writer gets it meanwhile: false
	// a writer gets it once they are gone: true
	// a reader gets it meanwhile: false
}

func ExampleSemaphore() {
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	conn, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Two leases: two workers hold one each, a third waits.
	sem := zk.NewSemaphore(conn, "/pools/db", 2)
	l1, err := sem.Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	l2, err := sem.Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	got := make(chan *zk.Lease)
	go func() {
		l, err := zk.NewSemaphore(conn, "/pools/db", 2).Acquire(ctx)
		if err != nil {
			log.Fatal(err)
		}
		got <- l
	}()
	fmt.Println("two leases held")
	if err := l1.Release(ctx); err != nil {
		log.Fatal(err)
	}
	l3 := <-got
	fmt.Println("released one; the third worker got it")
	for _, l := range []*zk.Lease{l2, l3} {
		if err := l.Release(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// two leases held
	// released one; the third worker got it
}
