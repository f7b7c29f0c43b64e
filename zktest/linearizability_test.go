package zktest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/znodemodel"
	"github.com/zkraft/zk/zktest"
)

var (
	flagSchedules = flag.Int("zkraft.schedules", 100, "number of random fault schedules TestLinearizability runs")
	flagSeed      = flag.Uint64("zkraft.seed", 0, "run only the TestLinearizability schedule with this seed")
	flagLoad      = flag.Duration("zkraft.load", 350*time.Millisecond, "how long each TestLinearizability schedule runs its load and nemesis")
	flagBudget    = flag.Duration("zkraft.budget", 90*time.Second, "time after which TestLinearizability starts no more schedules (0: none)")
)

// The linearizability test drives a few clients against a small keyspace
// of znodes while a nemesis kills, restarts and partitions nodes, records
// every operation with its call and return time, and asks porcupine
// whether some order of the operations, consistent with real time, is a
// legal sequential history of ZooKeeper.
const (
	linKeys     = 3                      // /k0 .. /k2
	linOpTime   = 400 * time.Millisecond // per-operation deadline
	linCheckFor = 10 * time.Second       // porcupine's budget per history
)

// TestLinearizabilityModel checks the model itself on hand-made histories.
func TestLinearizabilityModel(t *testing.T) {
	op := func(client int, in znodemodel.Input, call int64, out znodemodel.Output, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	create := znodemodel.Input{Op: znodemodel.Create, Data: "a"}
	read := znodemodel.Input{Op: znodemodel.Read}
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		ok      bool
	}{
		{"create then read", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{}, 10),
			op(1, read, 20, znodemodel.Output{Data: "a"}, 30),
		}, true},
		{"stale read after create", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{}, 10),
			op(1, read, 20, znodemodel.Output{Err: "NoNode"}, 30),
		}, false},
		{"unknown create seen", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{Unknown: true}, 100),
			op(1, read, 20, znodemodel.Output{Data: "a"}, 30),
		}, true},
		{"unknown create not seen", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{Unknown: true}, 100),
			op(1, read, 20, znodemodel.Output{Err: "NoNode"}, 30),
			op(1, read, 40, znodemodel.Output{Err: "NoNode"}, 50),
		}, true},
		{"unknown create seen then unseen", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{Unknown: true}, 100),
			op(1, read, 20, znodemodel.Output{Data: "a"}, 30),
			op(1, read, 40, znodemodel.Output{Err: "NoNode"}, 50),
		}, false},
		{"set versions", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{}, 10),
			op(0, znodemodel.Input{Op: znodemodel.Set, Data: "b", Version: 0}, 20, znodemodel.Output{Version: 1}, 30),
			op(1, znodemodel.Input{Op: znodemodel.Set, Data: "c", Version: 0}, 40, znodemodel.Output{Err: "BadVersion"}, 50),
			op(1, znodemodel.Input{Op: znodemodel.Set, Data: "d", Version: -1}, 60, znodemodel.Output{Version: 2}, 70),
			op(2, read, 80, znodemodel.Output{Data: "d", Version: 2}, 90),
			op(2, znodemodel.Input{Op: znodemodel.Delete}, 100, znodemodel.Output{}, 110),
			op(2, znodemodel.Input{Op: znodemodel.Set, Data: "e", Version: -1}, 120, znodemodel.Output{Err: "NoNode"}, 130),
		}, true},
		{"lost set", []porcupine.Operation{
			op(0, create, 0, znodemodel.Output{}, 10),
			op(0, znodemodel.Input{Op: znodemodel.Set, Data: "b", Version: -1}, 20, znodemodel.Output{Version: 1}, 30),
			op(2, read, 80, znodemodel.Output{Data: "a", Version: 0}, 90),
		}, false},
	} {
		if got := porcupine.CheckOperations(znodemodel.Model(linKeys), tc.history); got != tc.ok {
			t.Errorf("%s: linearizable=%v, want %v", tc.name, got, tc.ok)
		}
	}
}

// linRecorder collects a schedule's history.
type linRecorder struct {
	start   time.Time
	mu      sync.Mutex
	ops     []porcupine.Operation
	unknown int
	errs    map[string]int // ambiguous errors by text, for the log
}

func (r *linRecorder) now() int64 { return int64(time.Since(r.start)) }

func (r *linRecorder) add(op porcupine.Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

// classify maps an operation's error to a model output; definite is false
// for an error after which the operation may or may not have applied.
func classify(err error) (out znodemodel.Output, fatal error) {
	switch {
	case err == nil:
		return znodemodel.Output{}, nil
	case errors.Is(err, zk.ErrNoNode):
		return znodemodel.Output{Err: "NoNode"}, nil
	case errors.Is(err, zk.ErrNodeExists):
		return znodemodel.Output{Err: "NodeExists"}, nil
	case errors.Is(err, zk.ErrBadVersion):
		return znodemodel.Output{Err: "BadVersion"}, nil
	case errors.Is(err, zk.ErrBadArguments), errors.Is(err, zk.ErrNotEmpty), errors.Is(err, zk.ErrNoAuth),
		errors.Is(err, zk.ErrInvalidACL), errors.Is(err, zk.ErrRuntimeInconsistency), errors.Is(err, zk.ErrMarshalling),
		errors.Is(err, zk.ErrDataInconsistency):
		return znodemodel.Output{}, err // the test asked for nothing that could fail so
	default:
		// ErrConnectionLoss, context deadlines, ErrClosing, ErrSessionMoved,
		// ...: the outcome is unknown.
		return znodemodel.Output{Unknown: true}, nil
	}
}

type linSchedule struct {
	t     *testing.T
	seed  uint64
	c     *zktest.Cluster
	rec   *linRecorder
	stop  chan struct{}
	fatal chan error

	idMu   sync.Mutex
	nextID int
}

// clientID returns a fresh porcupine client id: a client that saw an
// unknown outcome carries on under a new id, as a new process would,
// since its unknown operation has no return.
func (s *linSchedule) clientID() int {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	s.nextID++
	return s.nextID - 1
}

func (s *linSchedule) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// connect opens a session on a random running node, retrying until it
// works or the schedule stops.
func (s *linSchedule) connect(rng *rand.Rand) *zk.Conn {
	for !s.stopped() {
		i := rng.IntN(s.c.Size())
		n := s.c.Node(i)
		if n == nil {
			time.Sleep(5 * time.Millisecond) // pacing retries while nodes are down
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := n.Connect(ctx, zk.WithSessionTimeout(zktest.SessionTimeout))
		cancel()
		if err == nil {
			return conn
		}
	}
	return nil
}

func (s *linSchedule) client(idx int) {
	rng := rand.New(rand.NewPCG(s.seed, uint64(idx)+1))
	id := s.clientID()
	seen := make([]int32, linKeys) // last version seen per key, for versioned sets
	var conn *zk.Conn
	for seq := 0; !s.stopped(); seq++ {
		if conn == nil {
			if conn = s.connect(rng); conn == nil {
				return
			}
		}
		in := znodemodel.Input{Key: rng.IntN(linKeys), Data: fmt.Sprintf("c%d.%d", idx, seq), Version: -1}
		switch p := rng.IntN(100); {
		case p < 35:
			in.Op = znodemodel.Read
		case p < 55:
			in.Op = znodemodel.Create
		case p < 70:
			in.Op = znodemodel.Set
		case p < 85:
			in.Op = znodemodel.Set
			in.Version = max(0, seen[in.Key]+int32(rng.IntN(3))-1)
		default:
			in.Op = znodemodel.Delete
		}
		ctx, cancel := context.WithTimeout(context.Background(), linOpTime)
		path := fmt.Sprintf("/k%d", in.Key)
		call := s.rec.now()
		var (
			err  error
			data []byte
			st   *zk.Stat
		)
		switch in.Op {
		case znodemodel.Read:
			if err = conn.Sync(ctx, path); err == nil {
				data, st, err = conn.Get(ctx, path)
			}
		case znodemodel.Create:
			_, err = conn.Create(ctx, path, []byte(in.Data), zk.FlagPersistent, open)
		case znodemodel.Set:
			st, err = conn.Set(ctx, path, []byte(in.Data), in.Version)
		case znodemodel.Delete:
			err = conn.Delete(ctx, path, zk.AnyVersion)
		}
		ret := s.rec.now()
		cancel()
		out, fatal := classify(err)
		if fatal != nil {
			select {
			case s.fatal <- fmt.Errorf("client %d: %s: %w", idx, znodemodel.Describe(in, znodemodel.Output{Unknown: true}), fatal):
			default:
			}
			return
		}
		if out.Unknown {
			s.rec.mu.Lock()
			s.rec.unknown++
			if s.rec.errs == nil {
				s.rec.errs = map[string]int{}
			}
			s.rec.errs[errText(err)]++
			s.rec.mu.Unlock()
			if in.Op != znodemodel.Read { // an unanswered read changed nothing: drop it
				s.rec.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: -1})
				id = s.clientID()
			}
			if conn.State() != zk.StateConnected || rng.IntN(2) == 0 {
				// Its node died, or it may be cut off from the majority:
				// carry on through another node.
				conn = nil
			}
			continue
		}
		switch {
		case in.Op == znodemodel.Read && out.Err == "":
			out.Data, out.Version = string(data), st.Version
			seen[in.Key] = st.Version
		case in.Op == znodemodel.Set && out.Err == "":
			out.Version = st.Version
			seen[in.Key] = st.Version
		case in.Op == znodemodel.Create && out.Err == "":
			seen[in.Key] = 0
		}
		s.rec.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
	}
}

// errText shortens an error to its kind, for the log's tally.
func errText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, zk.ErrConnectionLoss):
		return "connection loss"
	case errors.Is(err, zk.ErrClosing):
		return "closing"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": zk: "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// nemesis runs random faults, one at a time, each undone before the
// next, until the load time is over; it runs on the test's goroutine.
func (s *linSchedule) nemesis(rng *rand.Rand, load time.Duration) []string {
	c := s.c
	var steps []string
	pause := func() { time.Sleep(time.Duration(20+rng.IntN(120)) * time.Millisecond) } // pacing
	end := time.Now().Add(load)
	for time.Now().Before(end) {
		switch rng.IntN(4) {
		case 0:
			l := c.LeaderIndex()
			steps = append(steps, fmt.Sprintf("kill leader %d", l))
			c.Kill(l)
			pause()
			c.Restart(l)
		case 1:
			l := c.LeaderIndex()
			f := (l + 1 + rng.IntN(c.Size()-1)) % c.Size()
			steps = append(steps, fmt.Sprintf("kill follower %d", f))
			c.Kill(f)
			pause()
			c.Restart(f)
		case 2:
			perm := rng.Perm(c.Size())
			k := 1 + rng.IntN((c.Size()-1)/2)
			steps = append(steps, fmt.Sprintf("partition %v from %v", perm[:k], perm[k:]))
			c.Partition(perm[:k], perm[k:])
			pause()
			pause()
			c.Heal()
		default:
			steps = append(steps, "pause")
		}
		pause()
	}
	return steps
}

func runLinSchedule(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	size := 3
	if seed%4 == 0 {
		size = 5
	}
	t0 := time.Now()
	c := zktest.NewCluster(t, size)
	setup := time.Since(t0)
	s := &linSchedule{t: t, seed: seed, c: c, rec: &linRecorder{start: time.Now()}, stop: make(chan struct{}), fatal: make(chan error, 1)}
	clients := 5 + rng.IntN(4)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.client(i)
		}()
	}
	steps := s.nemesis(rng, *flagLoad)
	close(s.stop)
	wg.Wait()
	end := s.rec.now() + 1
	select {
	case err := <-s.fatal:
		t.Fatalf("seed %d: %v (replay: go test -race -run 'TestLinearizability$' ./zktest -zkraft.seed=%d)", seed, err, seed)
	default:
	}
	history := s.rec.ops
	for i := range history {
		if history[i].Return < 0 {
			history[i].Return = end // unknown outcome: it may apply as late as anything
		}
	}
	t1 := time.Now()
	res, info := porcupine.CheckOperationsVerbose(znodemodel.Model(linKeys), history, linCheckFor)
	t.Logf("seed %d: %d nodes, %d clients, %d ops (%d unknown, %v), nemesis %v: %v (setup %v, load %v, check %v)",
		seed, size, clients, len(history), s.rec.unknown, s.rec.errs, steps, res,
		setup.Round(time.Millisecond), t1.Sub(t0.Add(setup)).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	switch res {
	case porcupine.Illegal:
		f, err := os.CreateTemp("", fmt.Sprintf("zkraft-lin-%d-*.html", seed))
		path := "(could not write: " + fmt.Sprint(err) + ")"
		if err == nil {
			if err := porcupine.Visualize(znodemodel.Model(linKeys), info, f); err == nil {
				path = f.Name()
			}
			f.Close()
		}
		t.Fatalf("seed %d: history is not linearizable; visualization: %s\nreplay: go test -race -run 'TestLinearizability$' ./zktest -zkraft.seed=%d",
			seed, path, seed)
	case porcupine.Unknown:
		t.Logf("seed %d: porcupine gave up after %v", seed, linCheckFor)
	}
}

// TestLinearizability runs random fault schedules against 3- and 5-node
// clusters and checks each history for linearizability.
func TestLinearizability(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	if *flagSeed != 0 {
		t.Run(fmt.Sprintf("seed=%d", *flagSeed), func(t *testing.T) { runLinSchedule(t, *flagSeed) })
		return
	}
	base := uint64(time.Now().UnixNano())
	start := time.Now()
	ran := 0
	for ; ran < *flagSchedules; ran++ {
		if *flagBudget > 0 && time.Since(start) > *flagBudget {
			t.Logf("time budget %v spent: ran %d of %d schedules", *flagBudget, ran, *flagSchedules)
			break
		}
		seed := base + uint64(ran)
		if !t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runLinSchedule(t, seed) }) {
			break
		}
	}
	t.Logf("ran %d schedules in %v", ran, time.Since(start).Round(time.Millisecond))
}

// TestRestartedLeaderServesCallsBeforeRaft kills the leader while the
// followers forward writes to it and restarts it at once: the restarted
// node listens for peer calls before its raft exists, and must answer
// the forwarded proposes and read indexes that arrive in between with
// "not leader" (this once dereferenced a nil *raft.Raft and took the
// process down).
func TestRestartedLeaderServesCallsBeforeRaft(t *testing.T) {
	c := zktest.NewCluster(t, 3)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range 4 * c.Size() {
		i := k % c.Size()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *zk.Conn
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if conn == nil || conn.State() != zk.StateConnected {
					conn = nil
					n := c.Node(i)
					if n == nil {
						time.Sleep(time.Millisecond) // pacing while the node is down
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					conn, _ = n.Connect(ctx, zk.WithSessionTimeout(zktest.SessionTimeout))
					cancel()
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				conn.Create(ctx, fmt.Sprintf("/n%d-%d", k, j), nil, zk.FlagPersistent, open)
				cancel()
			}
		}()
	}
	for range 100 {
		l := c.LeaderIndex()
		c.Kill(l)
		c.Restart(l)
	}
	close(stop)
	wg.Wait()
}
