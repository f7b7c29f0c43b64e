package zk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/zkraft/zk"
)

// openExample starts an in-memory node for an example.
func openExample() (*zk.Node, *zk.Conn) {
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return node, conn
}

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "zkraft-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// With Dir set, the tree survives a restart.
	node, err := zk.Open(ctx, zk.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := conn.Create(ctx, "/greeting", []byte("hello"), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		log.Fatal(err)
	}
	conn.Close()
	node.Close()

	node, err = zk.Open(ctx, zk.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	conn, err = node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	data, _, err := conn.Get(ctx, "/greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", data)
	// Output: hello
}

func ExampleConn_Create() {
	node, conn := openExample()
	defer node.Close()
	ctx := context.Background()
	acl := zk.WorldACL(zk.PermAll)

	if _, err := conn.Create(ctx, "/queue", nil, zk.FlagPersistent, acl); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		p, err := conn.Create(ctx, "/queue/item-", []byte{byte(i)}, zk.FlagSequence, acl)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p)
	}
	_, err := conn.Create(ctx, "/queue", nil, zk.FlagPersistent, acl)
	fmt.Println(errors.Is(err, zk.ErrNodeExists))
	// Output:
	// /queue/item-0000000000
	// /queue/item-0000000001
	// /queue/item-0000000002
	// true
}

func ExampleConn_GetW() {
	node, conn := openExample()
	defer node.Close()
	ctx := context.Background()

	if _, err := conn.Create(ctx, "/config", []byte("v1"), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		log.Fatal(err)
	}
	data, stat, events, err := conn.GetW(ctx, "/config")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s version %d\n", data, stat.Version)
	if _, err := conn.Set(ctx, "/config", []byte("v2"), stat.Version); err != nil {
		log.Fatal(err)
	}
	ev := <-events // a one-shot watch: one event, then the channel closes
	fmt.Println(ev.Type, ev.Path)
	// Output:
	// v1 version 0
	// EventNodeDataChanged /config
}

func ExampleConn_Multi() {
	node, conn := openExample()
	defer node.Close()
	ctx := context.Background()
	acl := zk.WorldACL(zk.PermAll)

	_, err := conn.Multi(ctx,
		zk.CreateOp("/a", nil, zk.FlagPersistent, acl),
		zk.CreateOp("/a/b", nil, zk.FlagPersistent, acl),
		zk.DeleteOp("/missing", zk.AnyVersion))
	var me *zk.MultiError
	if errors.As(err, &me) {
		fmt.Println("op", me.Index, "failed:", errors.Is(err, zk.ErrNoNode))
	}
	ok, _, _ := conn.Exists(ctx, "/a")
	fmt.Println("/a exists:", ok)
	// Output:
	// op 2 failed: true
	// /a exists: false
}

func ExampleConn_AddWatch() {
	node, conn := openExample()
	defer node.Close()
	ctx := context.Background()
	acl := zk.WorldACL(zk.PermAll)

	events, err := conn.AddWatch(ctx, "/services", zk.AddWatchModePersistentRecursive)
	if err != nil {
		log.Fatal(err)
	}
	conn.Create(ctx, "/services", nil, zk.FlagPersistent, acl)
	conn.Create(ctx, "/services/web", nil, zk.FlagPersistent, acl)
	conn.Set(ctx, "/services/web", []byte("10.0.0.1:80"), zk.AnyVersion)
	conn.Delete(ctx, "/services/web", zk.AnyVersion)
	for i := 0; i < 4; i++ {
		ev := <-events
		fmt.Println(ev.Type, ev.Path)
	}
	// Output:
	// EventNodeCreated /services
	// EventNodeCreated /services/web
	// EventNodeDataChanged /services/web
	// EventNodeDeleted /services/web
}

func ExampleConn_Close() {
	node, owner := openExample()
	defer node.Close()
	ctx := context.Background()
	observer, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}

	if _, err := owner.Create(ctx, "/worker-1", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		log.Fatal(err)
	}
	_, _, events, err := observer.ExistsW(ctx, "/worker-1")
	if err != nil {
		log.Fatal(err)
	}
	owner.Close() // the session's ephemeral nodes go at once
	fmt.Println((<-events).Type)
	// Output: EventNodeDeleted
}
