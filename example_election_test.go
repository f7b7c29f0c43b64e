package zk_test

import (
	"context"
	"fmt"
	"log"

	"github.com/zkraft/zk"
)

func ExampleElection() {
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

	// Alice campaigns first, and is elected at once.
	first, err := zk.NewElection(alice, "/service/leader").Campaign(ctx, []byte("alice"))
	if err != nil {
		log.Fatal(err)
	}
	value, _, err := zk.NewElection(bob, "/service/leader").Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %s\n", value)

	// Bob campaigns too, and waits until Alice resigns.
	elected := make(chan *zk.Leadership)
	go func() {
		l, err := zk.NewElection(bob, "/service/leader").Campaign(ctx, []byte("bob"))
		if err != nil {
			log.Fatal(err)
		}
		elected <- l
	}()
	if err := first.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	<-first.Lost()
	fmt.Println("alice resigned:", first.Err())
	second := <-elected
	value, token, err := zk.NewElection(alice, "/service/leader").Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %s, token grew: %v, same token: %v\n", value, second.Token > first.Token, token == second.Token)
	// Output:
	// leader: alice
	// alice resigned: zk: leadership resigned
	// leader: bob, token grew: true, same token: true
}

func ExampleElection_Observe() {
	ctx := context.Background()
	node, conn := openExample()
	defer node.Close()
	defer conn.Close()
	e := zk.NewElection(conn, "/leader")

	octx, stop := context.WithCancel(ctx)
	leaders := e.Observe(octx)
	fmt.Printf("leader: %q\n", (<-leaders).Value) // no leader yet

	l, err := e.Campaign(ctx, []byte("me"))
	if err != nil {
		log.Fatal(err)
	}
	rec := <-leaders
	fmt.Printf("leader: %q, token matches: %v\n", rec.Value, rec.Token == l.Token)
	if err := l.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %q\n", (<-leaders).Value)
	stop()
	for range leaders {
	}
	// Output:
	// leader: ""
	// leader: "me", token matches: true
	// leader: ""
}
