package chaos

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkraft/zk"
)

// TestClusterFaults starts a 3-node cluster and checks the process and
// partition faults do what they say.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts zkraft processes")
	}
	c := NewCluster(t, zkraftBinary(t), 3, ClusterOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	conn, err := zk.Dial(ctx, c.ClientAddrs(), zk.WithSessionTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create(ctx, "/x", []byte("1"), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil || leader == 0 {
		t.Fatalf("leader %d, %v", leader, err)
	}
	// Cut the leader off: the others elect a new one.
	isolate(c, leader, Fault{Block: true})
	waitFor(t, ctx, "a new leader", func() bool {
		for _, nd := range c.Nodes {
			if nd.ID == leader {
				continue
			}
			if s, err := nd.Srvr(ctx); err == nil && s.Mode == "leader" {
				return true
			}
		}
		return false
	})
	// The client may have been on the old leader: its write can fail with
	// connection loss while it moves, and a set of any version is safe to
	// repeat.
	waitFor(t, ctx, "a write after the leader was cut off", func() bool {
		_, err := conn.Set(ctx, "/x", []byte("2"), zk.AnyVersion)
		if err != nil && !errors.Is(err, zk.ErrConnectionLoss) {
			t.Fatal(err)
		}
		return err == nil
	})
	c.Proxy.Heal()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	// Kill and restart a node, and pause another.
	c.Node(1).Kill()
	if err := c.Node(2).Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := c.Node(2).Resume(); err != nil {
		t.Fatal(err)
	}
	if err := c.Node(1).Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.Sync(ctx, "/x"); err != nil {
		t.Fatal(err)
	}
	data, _, err := conn.Get(ctx, "/x")
	if err != nil || string(data) != "2" {
		t.Fatalf("Get /x: %q, %v", data, err)
	}
}

// isolate applies f to every link to and from node i.
func isolate(c *Cluster, i int, f Fault) {
	for _, nd := range c.Nodes {
		if nd.ID != i {
			c.Proxy.Set(Link{i, nd.ID}, f)
			c.Proxy.Set(Link{nd.ID, i}, f)
		}
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
