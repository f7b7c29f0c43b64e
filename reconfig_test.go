package zk_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
)

const reconfigSuperPW = "superpw"

// reconfigMember is a node of a reconfig test, with the line
// /zookeeper/config should hold for it.
type reconfigMember struct {
	peer zk.Peer
	node *zk.Node
}

func (m reconfigMember) line(role string) string {
	host, port, _ := net.SplitHostPort(m.peer.Addr)
	return fmt.Sprintf("server.%s=%s:%s:%d:%s;%s", m.peer.ID, host, port, m.peer.ElectionPort, role, m.peer.ClientAddr)
}

func newReconfigPeer(t *testing.T, id int) zk.Peer {
	return zk.Peer{ID: strconv.Itoa(id), Addr: freeTCPAddr(t), ElectionPort: 40000 + id, ClientAddr: freeTCPAddr(t)}
}

func openReconfigNode(ctx context.Context, t *testing.T, p zk.Peer, peers []zk.Peer, enabled bool, logger hclog.Logger) *zk.Node {
	t.Helper()
	n, err := zk.Open(ctx, zk.Config{
		ID: p.ID, PeerAddr: p.Addr, Peers: peers, ClientAddr: p.ClientAddr,
		TickTime: 50 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		SuperDigest: zk.DigestID("super", reconfigSuperPW), ReconfigEnabled: enabled,
		Logger: logger.Named("node" + p.ID),
	})
	if err != nil {
		t.Fatalf("opening node %s: %v", p.ID, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// gozkConn connects go-zookeeper/zk to addr, as super if super is set.
func gozkConn(t *testing.T, addr string, super bool) *gozk.Conn {
	t.Helper()
	c, _, err := gozk.Connect([]string{addr}, 10*time.Second, gozk.WithLogger(quietGozk{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if super {
		if err := c.AddAuth("digest", []byte("super:"+reconfigSuperPW)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

type quietGozk struct{}

func (quietGozk) Printf(string, ...any) {}

// waitConfig polls /zookeeper/config through c until it lists lines, and
// checks its version line against its mzxid.
func waitConfig(t *testing.T, c *gozk.Conn, lines []string) (string, *gozk.Stat) {
	t.Helper()
	want := strings.Join(lines, "\n") + "\n"
	deadline := time.Now().Add(interopWait)
	for {
		data, st, err := c.Get("/zookeeper/config")
		if err == nil {
			body, ver, _ := strings.Cut(string(data), "version=")
			if body == want {
				if ver != strconv.FormatInt(st.Mzxid, 16) {
					t.Fatalf("version=%s, mzxid %x", ver, st.Mzxid)
				}
				return string(data), st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/zookeeper/config = %q, %v; want %q", data, err, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the leader's housekeeping, bounded by the deadline
	}
}

// waitServers polls n's raft membership until it is want (ID:role).
func waitServers(t *testing.T, n *zk.Node, want ...string) {
	t.Helper()
	deadline := time.Now().Add(interopWait)
	for {
		var got []string
		for _, s := range n.Stats().Servers {
			role := "participant"
			if s.Observer {
				role = "observer"
			}
			got = append(got, s.ID+":"+role)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the raft configuration, bounded by the deadline
	}
}

func TestReconfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), interopWait)
	defer cancel()
	logs := &interopLog{t: t}
	t.Cleanup(logs.close)
	logger := hclog.New(&hclog.LoggerOptions{Name: "zkraft", Level: hclog.Warn, Output: logs})

	var ms []reconfigMember
	var peers []zk.Peer
	for i := range 3 {
		peers = append(peers, newReconfigPeer(t, i+1))
	}
	ms = make([]reconfigMember, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		ms[i].peer = peers[i]
		wg.Go(func() { ms[i].node = openReconfigNode(ctx, t, peers[i], peers, true, logger) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	three := []string{ms[0].line("participant"), ms[1].line("participant"), ms[2].line("participant")}

	super := gozkConn(t, ms[1].peer.ClientAddr, true)
	_, st := waitConfig(t, super, three)
	for _, m := range ms {
		// Every member shows the same config once it has applied it.
		c := gozkConn(t, m.peer.ClientAddr, false)
		if _, err := c.Sync("/"); err != nil {
			t.Fatal(err)
		}
		waitConfig(t, c, three)
	}

	// A fourth node waits to be added.
	p4 := newReconfigPeer(t, 4)
	m4 := reconfigMember{peer: p4, node: openReconfigNode(ctx, t, p4, peers, true, logger)}

	t.Run("noauth", func(t *testing.T) {
		anon := gozkConn(t, ms[0].peer.ClientAddr, false)
		if _, err := anon.IncrementalReconfig([]string{m4.line("participant")}, nil, -1); !errors.Is(err, gozk.ErrNoAuth) {
			t.Fatalf("reconfig without super: %v, want NOAUTH", err)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		if _, err := super.IncrementalReconfig([]string{"server.x=nohost"}, nil, -1); !errors.Is(err, gozk.ErrBadArguments) {
			t.Fatalf("reconfig with a bad server: %v, want BADARGUMENTS", err)
		}
	})
	t.Run("no quorum", func(t *testing.T) {
		dead := newReconfigPeer(t, 9)
		_, err := super.IncrementalReconfig([]string{reconfigMember{peer: dead}.line("participant")}, nil, -1)
		if err == nil || !strings.Contains(err.Error(), "-13") {
			t.Fatalf("reconfig adding an unreachable server: %v, want NEWCONFIGNOQUORUM (-13)", err)
		}
		waitServers(t, ms[0].node, "1:participant", "2:participant", "3:participant")
	})

	watcher := gozkConn(t, ms[2].peer.ClientAddr, false)
	_, _, events, err := watcher.GetW("/zookeeper/config")
	if err != nil {
		t.Fatal(err)
	}
	four := append(slices.Clone(three), m4.line("participant"))
	st4, err := super.IncrementalReconfig([]string{m4.line("participant")}, nil, st.Mzxid)
	if err != nil {
		t.Fatalf("adding server 4: %v", err)
	}
	if st4.Mzxid <= st.Mzxid {
		t.Fatalf("config mzxid %x after adding, was %x", st4.Mzxid, st.Mzxid)
	}
	select {
	case ev := <-events:
		if ev.Type != gozk.EventNodeDataChanged || ev.Path != "/zookeeper/config" {
			t.Fatalf("watch event %+v", ev)
		}
	case <-time.After(interopWait):
		t.Fatal("no watch event for /zookeeper/config")
	}
	_, got := waitConfig(t, super, four)
	if got.Mzxid != st4.Mzxid {
		t.Fatalf("reconfig replied mzxid %x, config has %x", st4.Mzxid, got.Mzxid)
	}
	waitServers(t, ms[0].node, "1:participant", "2:participant", "3:participant", "4:participant")
	waitServers(t, m4.node, "1:participant", "2:participant", "3:participant", "4:participant")
	// The new member serves clients, config included.
	waitConfig(t, gozkConn(t, p4.ClientAddr, false), four)

	t.Run("bad version", func(t *testing.T) {
		if _, err := super.IncrementalReconfig(nil, []string{"4"}, st.Mzxid); !errors.Is(err, gozk.ErrBadVersion) {
			t.Fatalf("reconfig from a stale config: %v, want BADVERSION", err)
		}
	})

	// Removing it.
	if _, err := super.IncrementalReconfig(nil, []string{"4"}, st4.Mzxid); err != nil {
		t.Fatalf("removing server 4: %v", err)
	}
	waitServers(t, ms[0].node, "1:participant", "2:participant", "3:participant")
	_, st = waitConfig(t, super, three)

	// The whole form: the three, and 4 back as an observer.
	whole := append(slices.Clone(three), m4.line("observer"))
	if _, err := super.Reconfig(whole, st.Mzxid); err != nil {
		t.Fatalf("reconfig with newMembers: %v", err)
	}
	waitServers(t, ms[0].node, "1:participant", "2:participant", "3:participant", "4:observer")
	_, st = waitConfig(t, super, whole)

	// The Go API, in process and over the wire, does the same.
	plain, err := ms[0].node.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, _, err := plain.IncrementalReconfig(ctx, nil, []string{"4"}, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("Conn.IncrementalReconfig without super: %v, want ErrNoAuth", err)
	}
	local, err := ms[0].node.Connect(ctx, zk.WithAuth("digest", []byte("super:"+reconfigSuperPW)))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if _, _, err := local.IncrementalReconfig(ctx, nil, []string{"4"}, st.Mzxid-1); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("Conn.IncrementalReconfig from a stale version: %v, want ErrBadVersion", err)
	}
	data, lst, err := local.IncrementalReconfig(ctx, nil, []string{"4"}, st.Mzxid)
	if err != nil {
		t.Fatalf("Conn.IncrementalReconfig leaving 4: %v", err)
	}
	if want := strings.Join(three, "\n") + fmt.Sprintf("\nversion=%x", lst.Mzxid); string(data) != want {
		t.Fatalf("Conn.IncrementalReconfig returned\n%s\nwant\n%s", data, want)
	}
	waitServers(t, ms[0].node, "1:participant", "2:participant", "3:participant")
	dialed, err := zk.Dial(ctx, []string{ms[2].peer.ClientAddr}, zk.WithAuth("digest", []byte("super:"+reconfigSuperPW)))
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	if _, _, err := dialed.IncrementalReconfig(ctx, []string{m4.line("participant")}, nil, lst.Mzxid); err != nil {
		t.Fatalf("Dial'ed Conn.IncrementalReconfig joining 4: %v", err)
	}
	waitServers(t, ms[0].node, "1:participant", "2:participant", "3:participant", "4:participant")
}

func TestReconfigDisabled(t *testing.T) {
	logs := &interopLog{t: t}
	t.Cleanup(logs.close)
	logger := hclog.New(&hclog.LoggerOptions{Name: "zkraft", Level: hclog.Warn, Output: logs})
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprint("enabled=", enabled), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), interopWait)
			defer cancel()
			n, err := zk.Open(ctx, zk.Config{
				ClientAddr: "127.0.0.1:0", SuperDigest: zk.DigestID("super", reconfigSuperPW),
				ReconfigEnabled: enabled, Logger: logger,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			c := gozkConn(t, n.ClientAddr(), true)
			_, err = c.IncrementalReconfig([]string{"server.2=127.0.0.1:2888:3888:participant"}, nil, -1)
			switch {
			case !enabled && !errors.Is(err, gozk.ErrReconfigDisabled):
				t.Fatalf("reconfig while disabled: %v, want RECONFIGDISABLED", err)
			case enabled && (err == nil || !strings.Contains(err.Error(), "-6")):
				t.Fatalf("reconfig on a standalone node: %v, want UNIMPLEMENTED (-6)", err)
			}
			// A standalone node's config stays empty.
			data, _, err := c.Get("/zookeeper/config")
			if err != nil || len(data) != 0 {
				t.Fatalf("/zookeeper/config = %q, %v; want empty", data, err)
			}
		})
	}
}
