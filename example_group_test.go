package zk_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/zkraft/zk"
)

// printMembers prints a Group snapshot in name order.
func printMembers(m map[string][]byte) {
	var s []string
	for name, data := range m {
		s = append(s, name+"="+string(data))
	}
	slices.Sort(s)
	fmt.Printf("members: [%s]\n", strings.Join(s, " "))
}

func ExampleGroup() {
	ctx := context.Background()
	node, err := zk.Open(ctx, zk.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	watcher, err := node.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer watcher.Close()

	// A client follows the live set of api instances.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	live, err := zk.NewGroup(watcher, "/services/api").Watch(wctx)
	if err != nil {
		log.Fatal(err)
	}
	printMembers(<-live)

	// Two instances register, each with its own session.
	var instances []*zk.Conn
	var members []*zk.Membership
	for _, addr := range []string{"10.0.0.1:8080", "10.0.0.2:8080"} {
		conn, err := node.Connect(ctx)
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		m, err := zk.NewGroup(conn, "/services/api").Join(ctx, addr, []byte("v1"))
		if err != nil {
			log.Fatal(err)
		}
		instances, members = append(instances, conn), append(members, m)
		printMembers(<-live)
	}

	// One upgrades, one leaves, and the other's session ends.
	if err := members[0].Update(ctx, []byte("v2")); err != nil {
		log.Fatal(err)
	}
	printMembers(<-live)
	if err := members[1].Leave(ctx); err != nil {
		log.Fatal(err)
	}
	printMembers(<-live)
	instances[0].Close()
	printMembers(<-live)
	// Output:
	// members: []
	// members: [10.0.0.1:8080=v1]
	// members: [10.0.0.1:8080=v1 10.0.0.2:8080=v1]
	// members: [10.0.0.1:8080=v2 10.0.0.2:8080=v1]
	// members: [10.0.0.1:8080=v2]
	// members: []
}

func ExampleTreeCache() {
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
	acl := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"/config", "/config/db", "/config/db/url", "/config/timeout"} {
		if _, err := conn.Create(ctx, p, []byte(p[strings.LastIndexByte(p, '/')+1:]), zk.FlagPersistent, acl); err != nil {
			log.Fatal(err)
		}
	}

	tc, err := zk.NewTreeCache(ctx, conn, "/config", zk.WithTreeEvents())
	if err != nil {
		log.Fatal(err)
	}
	defer tc.Close()
	show := func() {
		e := <-tc.Events()
		if e.Path == "" {
			fmt.Println(e.Type)
			return
		}
		fmt.Printf("%s %s %q version %d\n", e.Type, e.Path, e.Data, e.Stat.Version)
	}
	for range 5 { // the load, then TreeInitialized
		show()
	}

	if _, err := conn.Set(ctx, "/config/timeout", []byte("30s"), zk.AnyVersion); err != nil {
		log.Fatal(err)
	}
	show()
	if _, err := conn.Create(ctx, "/config/db/pool", []byte("10"), zk.FlagPersistent, acl); err != nil {
		log.Fatal(err)
	}
	show()
	if err := conn.Delete(ctx, "/config/db/url", zk.AnyVersion); err != nil {
		log.Fatal(err)
	}
	show()

	data, _, _ := tc.Get("/config/timeout")
	kids, _ := tc.Children("/config/db")
	fmt.Printf("timeout=%s db children=%v\n", data, kids)
	// Output:
	// TreeNodeAdded /config "config" version 0
	// TreeNodeAdded /config/db "db" version 0
	// TreeNodeAdded /config/db/url "url" version 0
	// TreeNodeAdded /config/timeout "timeout" version 0
	// TreeInitialized
	// TreeNodeUpdated /config/timeout "30s" version 1
	// TreeNodeAdded /config/db/pool "10" version 0
	// TreeNodeRemoved /config/db/url "url" version 0
	// timeout=30s db children=[pool]
}
