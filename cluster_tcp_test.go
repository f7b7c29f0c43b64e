package zk_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/testcert"
)

// TestClusterOverTCP runs a three-node ensemble on loopback TCP, in the
// clear and with mutual TLS on the peer port: a write through a follower
// reaches every node.
func TestClusterOverTCP(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var tlsCfg *tls.Config
			if withTLS {
				tlsCfg = testcert.NewCA(t).MutualTLS(t)
			}
			var peers []zk.Peer
			for i := range 3 {
				peers = append(peers, zk.Peer{ID: fmt.Sprint(i + 1), Addr: freeTCPAddr(t)})
			}
			nodes := make([]*zk.Node, 3)
			errs := make(chan error, 3)
			for i := range nodes {
				go func() {
					n, err := zk.Open(ctx, zk.Config{
						ID: peers[i].ID, PeerAddr: peers[i].Addr, Peers: peers, PeerTLS: tlsCfg,
						ElectionTimeout: 100 * time.Millisecond, TickTime: 100 * time.Millisecond,
					})
					nodes[i] = n
					errs <- err
				}()
			}
			for range nodes {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range nodes {
				defer n.Close()
			}
			var fol *zk.Node
			for _, n := range nodes {
				if n.Stats().Role != zk.RoleLeader {
					fol = n
				}
			}
			conn, err := fol.Connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, st, err := conn.CreateStat(ctx, "/tcp", []byte("x"), zk.FlagPersistent, zk.WorldACL(zk.PermAll))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				c, err := n.Connect(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Sync(ctx, "/"); err != nil {
					t.Fatal(err)
				}
				data, st2, err := c.Get(ctx, "/tcp")
				c.Close()
				if err != nil || string(data) != "x" || st2.Czxid != st.Czxid {
					t.Fatalf("node %s: %q %v", n.ID(), data, err)
				}
			}
		})
	}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
