package zktest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/zktest"
)

// The durability tests check that a write, once acknowledged, survives
// whatever crashes follow: of a minority, at random moments, or of every
// node at once.

const (
	durWriters = 4
	durLoad    = 2 * time.Second // load under the minority nemesis
)

// durWriters runs writers that create /dur/w<i>-<j> until stop closes and
// records every create that returned success.
type durLoadGen struct {
	c    *zktest.Cluster
	seed uint64
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	acked []string
	tries int
}

func startWriters(t *testing.T, c *zktest.Cluster, seed uint64) *durLoadGen {
	ctx := ctxT(t)
	if _, err := c.Connect(t, c.LeaderIndex()).Create(ctx, "/dur", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}
	g := &durLoadGen{c: c, seed: seed, stop: make(chan struct{})}
	for w := range durWriters {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.writer(w)
		}()
	}
	return g
}

func (g *durLoadGen) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

func (g *durLoadGen) writer(w int) {
	rng := rand.New(rand.NewPCG(g.seed, uint64(w)+1))
	var conn *zk.Conn
	for j := 0; !g.stopped(); j++ {
		if conn == nil || conn.State() != zk.StateConnected {
			conn = nil
			n := g.c.Node(rng.IntN(g.c.Size()))
			if n == nil {
				time.Sleep(5 * time.Millisecond) // pacing while nodes are down
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn, _ = n.Connect(ctx, zk.WithSessionTimeout(zktest.SessionTimeout))
			cancel()
			continue
		}
		path := fmt.Sprintf("/dur/w%d-%d", w, j)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := conn.Create(ctx, path, []byte(path), zk.FlagPersistent, open)
		cancel()
		g.mu.Lock()
		g.tries++
		if err == nil {
			g.acked = append(g.acked, path)
		}
		g.mu.Unlock()
	}
}

func (g *durLoadGen) finish() ([]string, int) {
	close(g.stop)
	g.wg.Wait()
	return g.acked, g.tries
}

// checkAcked checks that every node, after a Sync, has every acked node,
// and that the nodes agree on /dur's children.
func checkAcked(t *testing.T, c *zktest.Cluster, acked []string) {
	t.Helper()
	ctx := ctxT(t)
	var first []string
	for i := range c.Size() {
		conn := c.Connect(t, i)
		if err := conn.Sync(ctx, "/dur"); err != nil {
			t.Fatalf("node %d: sync: %v", i, err)
		}
		kids, _, err := conn.Children(ctx, "/dur")
		if err != nil {
			t.Fatalf("node %d: children: %v", i, err)
		}
		slices.Sort(kids)
		var lost []string
		for _, p := range acked {
			if _, ok := slices.BinarySearch(kids, p[len("/dur/"):]); !ok {
				lost = append(lost, p)
			}
		}
		if len(lost) > 0 {
			t.Fatalf("node %d lost %d of %d acknowledged creates, e.g. %v", i, len(lost), len(acked), lost[:min(5, len(lost))])
		}
		if first == nil {
			first = kids
		} else if !slices.Equal(first, kids) {
			t.Fatalf("after sync, node %d has %d children of /dur, node 0 has %d", i, len(kids), len(first))
		}
		// And the data is intact.
		p := acked[len(acked)/2]
		if data, _, err := conn.Get(ctx, p); err != nil || string(data) != p {
			t.Fatalf("node %d: %s: %q %v", i, p, data, err)
		}
	}
}

func durSeed(t *testing.T) uint64 {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -zkraft.seed=%d)", seed, seed)
	return seed
}

func durOptions(persistent bool) []zktest.Option {
	if persistent {
		return []zktest.Option{zktest.Persistent()}
	}
	return nil
}

// TestDurabilityMinorityCrashes kills one node at a time, at random
// moments, under concurrent writes, and restarts it: no acknowledged
// create is lost, on disk ("persistent") or with the in-memory stores a
// restart keeps ("memory").
func TestDurabilityMinorityCrashes(t *testing.T) {
	for _, persistent := range []bool{true, false} {
		name := map[bool]string{true: "persistent", false: "memory"}[persistent]
		t.Run(name, func(t *testing.T) {
			seed := durSeed(t)
			rng := rand.New(rand.NewPCG(seed, 0))
			c := zktest.NewCluster(t, 3, durOptions(persistent)...)
			g := startWriters(t, c, seed)
			var steps []string
			end := time.Now().Add(durLoad)
			for time.Now().Before(end) {
				time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // pacing: a random moment
				i := rng.IntN(c.Size())
				role := c.Node(i).Stats().Role
				steps = append(steps, fmt.Sprintf("kill %d (%v)", i, role))
				c.Kill(i)
				time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // pacing: down for a while
				c.Restart(i)
			}
			acked, tries := g.finish()
			t.Logf("%d of %d creates acknowledged; nemesis %v", len(acked), tries, steps)
			if len(acked) == 0 {
				t.Fatal("no create was acknowledged")
			}
			checkAcked(t, c, acked)
		})
	}
}

// TestDurabilityTotalCrash kills every node at once under concurrent
// writes and restarts them all: no acknowledged create is lost.
func TestDurabilityTotalCrash(t *testing.T) {
	for _, persistent := range []bool{true, false} {
		name := map[bool]string{true: "persistent", false: "memory"}[persistent]
		t.Run(name, func(t *testing.T) {
			seed := durSeed(t)
			rng := rand.New(rand.NewPCG(seed, 0))
			c := zktest.NewCluster(t, 3, durOptions(persistent)...)
			g := startWriters(t, c, seed)
			for round := range 3 {
				time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond) // pacing: let writes flow
				var wg sync.WaitGroup
				for i := range c.Size() {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c.Kill(i)
					}()
				}
				wg.Wait()
				g.mu.Lock()
				t.Logf("round %d: killed every node after %d acknowledged creates", round, len(g.acked))
				g.mu.Unlock()
				// Open waits for a leader, so the nodes must start together.
				for i := range c.Size() {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c.Restart(i)
					}()
				}
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
			}
			time.Sleep(100 * time.Millisecond) // pacing: writes after the last restart
			acked, tries := g.finish()
			t.Logf("%d of %d creates acknowledged", len(acked), tries)
			if len(acked) == 0 {
				t.Fatal("no create was acknowledged")
			}
			checkAcked(t, c, acked)
		})
	}
}
