// Command tour runs an embedded zkraft node with its data on disk and walks
// through the ZooKeeper data model: znodes and their Stat, sequential and
// ephemeral nodes, watches, multi, ACLs, and a restart that brings the
// whole tree back from disk.
//
//	go run ./examples/tour
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/zkraft/zk"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "zkraft-tour-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	node, err := zk.Open(ctx, zk.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("opened a one-node ensemble in %s (data in %s)\n", time.Since(start).Round(time.Millisecond), dir)

	alice, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	bob, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sessions: alice %#x, bob %#x (timeout %s)\n", alice.SessionID(), bob.SessionID(), alice.SessionTimeout())

	// Znodes and Stat.
	open := zk.WorldACL(zk.PermAll)
	must(alice.Create(ctx, "/app", []byte("v1"), zk.FlagPersistent, open))
	data, st, err := alice.Get(ctx, "/app")
	check(err)
	fmt.Printf("/app = %q  version %d  czxid %#x\n", data, st.Version, st.Czxid)

	// A watch fires once, before any read can show the change.
	_, _, ev, err := bob.GetW(ctx, "/app")
	check(err)
	st, err = alice.Set(ctx, "/app", []byte("v2"), st.Version)
	check(err)
	e := <-ev
	fmt.Printf("bob's watch: %s on %s (zxid %#x); /app is now version %d\n", e.Type, e.Path, e.Zxid, st.Version)

	// Optimistic concurrency: a stale version is refused.
	if _, err := bob.Set(ctx, "/app", []byte("stale"), 0); errors.Is(err, zk.ErrBadVersion) {
		fmt.Println("bob's set with version 0 refused:", err)
	}

	// Sequential and ephemeral nodes: the building blocks of locks and queues.
	must(alice.Create(ctx, "/app/tasks", nil, zk.FlagPersistent, open))
	for i := 0; i < 3; i++ {
		p, err := alice.Create(ctx, "/app/tasks/task-", []byte(fmt.Sprint(i)), zk.FlagSequence, open)
		check(err)
		fmt.Println("queued", p)
	}
	must(alice.Create(ctx, "/app/workers", nil, zk.FlagPersistent, open))
	_, _, members, err := alice.ChildrenW(ctx, "/app/workers")
	check(err)
	must(bob.Create(ctx, "/app/workers/bob", nil, zk.FlagEphemeral, open))
	<-members
	names, _, err := alice.Children(ctx, "/app/workers")
	check(err)
	fmt.Println("workers:", names)

	// Multi: all or nothing.
	_, err = alice.Multi(ctx,
		zk.CreateOp("/app/config", []byte("x"), zk.FlagPersistent, open),
		zk.DeleteOp("/app/missing", zk.AnyVersion))
	var me *zk.MultiError
	if errors.As(err, &me) {
		ok, _, _ := alice.Exists(ctx, "/app/config")
		fmt.Printf("multi failed at op %d (%v); /app/config exists: %v\n", me.Index, me.Err, ok)
	}

	// ACLs: only the digest identity may write.
	check(alice.AddAuth(ctx, "digest", []byte("alice:secret")))
	must(alice.Create(ctx, "/app/private", []byte("mine"), zk.FlagPersistent, zk.AuthACL(zk.PermAll)))
	if _, _, err := bob.Get(ctx, "/app/private"); errors.Is(err, zk.ErrNoAuth) {
		fmt.Println("bob may not read /app/private:", err)
	}

	// Closing a session deletes its ephemeral nodes at once.
	_, _, members, err = alice.ChildrenW(ctx, "/app/workers")
	check(err)
	check(bob.Close())
	<-members
	names, _, err = alice.Children(ctx, "/app/workers")
	check(err)
	fmt.Println("bob closed his session; workers:", names)

	// Restart: the tree comes back from the raft log and snapshots on disk.
	check(alice.Close())
	check(node.Close())
	start = time.Now()
	node, err = zk.Open(ctx, zk.Config{Dir: dir})
	check(err)
	defer node.Close()
	c, err := node.Connect(ctx)
	check(err)
	defer c.Close()
	tasks, _, err := c.Children(ctx, "/app/tasks")
	check(err)
	data, st, err = c.Get(ctx, "/app")
	check(err)
	fmt.Printf("reopened in %s: /app = %q version %d, tasks %v\n", time.Since(start).Round(time.Millisecond), data, st.Version, tasks)
}

func must(_ string, err error) {
	check(err)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
