package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/znodemodel"
)

// The register workload: clients Set, Create, Delete and read a few
// znodes, every operation recorded with its call and return time, and
// porcupine asked whether the writes and the Sync+Get reads have a
// linearization. Plain Gets, which ZooKeeper serves from the client's
// server and which are only sequentially consistent, are checked for what
// a session promises: never going back.

// RegisterRoot is the parent of the register workload's znodes.
const RegisterRoot = "/reg"

// regKeys is the number of znodes, /reg/k0 ...
const regKeys = 3

func regPath(key int) string { return fmt.Sprintf("%s/k%d", RegisterRoot, key) }

// WriteKind is what a write did to a znode, as a watch reports it.
type WriteKind uint8

// The kinds of writes.
const (
	WriteCreate WriteKind = iota
	WriteSet
	WriteDelete
)

func (k WriteKind) String() string { return [...]string{"create", "set", "delete"}[k] }

// Write is an acknowledged write with the zxid its reply's Stat tells.
type Write struct {
	Path string
	Kind WriteKind
	Zxid int64
}

// RegisterWorkload is the register workload's clients and records.
type RegisterWorkload struct {
	env     *Env
	clients int

	mu       sync.Mutex
	history  []porcupine.Operation // guarded by mu
	nextID   int                   // guarded by mu; porcupine client ids
	known    []Write               // guarded by mu; acknowledged creates and sets
	attempts map[string][3]int     // guarded by mu; per path, writes of each kind that succeeded or may have
	plain    int                   // guarded by mu; plain Gets checked for session order
	// unknownWhy counts the errors of operations with unknown outcomes;
	// guarded by mu.
	unknownWhy map[string]int
	fails      Failures
}

// NewRegisterWorkload returns the workload with n clients.
func NewRegisterWorkload(env *Env, n int) *RegisterWorkload {
	return &RegisterWorkload{env: env, clients: n, attempts: map[string][3]int{}, unknownWhy: map[string]int{}}
}

// Setup creates the parent of the keys.
func (w *RegisterWorkload) Setup(ctx context.Context, conn *zk.Conn) error {
	return ensurePath(ctx, conn, RegisterRoot)
}

// Run runs the clients until ctx ends.
func (w *RegisterWorkload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.clients {
		wg.Go(func() { w.client(ctx, i) })
	}
	wg.Wait()
}

func (w *RegisterWorkload) newClientID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	return w.nextID - 1
}

func (w *RegisterWorkload) record(op porcupine.Operation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history = append(w.history, op)
}

// noteWrite records a write that happened (zxid > 0) or may have.
func (w *RegisterWorkload) noteWrite(path string, kind WriteKind, zxid int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.attempts[path]
	a[kind]++
	w.attempts[path] = a
	if zxid > 0 {
		w.known = append(w.known, Write{Path: path, Kind: kind, Zxid: zxid})
	}
}

// client is one process of the history: a session, replaced when it ends.
// After an operation with an unknown outcome it takes a new porcupine
// client id, since that operation stays open until the end of history.
func (w *RegisterWorkload) client(ctx context.Context, i int) {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	s := &session{env: w.env}
	defer s.close()
	id := w.newClientID()
	// seen is the largest mzxid this session has read or written per key:
	// a session's view of the tree never goes back.
	seen := map[int]int64{}
	gen := 0
	n := 0
	for ctx.Err() == nil {
		conn, err := s.get(ctx)
		if err != nil {
			return
		}
		if s.generation != gen {
			gen = s.generation
			clear(seen)
		}
		n++
		key := rng.IntN(regKeys)
		path := regPath(key)
		data := fmt.Sprintf("c%d-%d", i, n)
		opCtx, cancel := context.WithTimeout(ctx, w.env.OpTimeout)
		call := w.env.Now()
		var in znodemodel.Input
		var out znodemodel.Output
		ok := true // the op goes into the history
		switch r := rng.IntN(100); {
		case r < 30:
			in = znodemodel.Input{Op: znodemodel.Read, Key: key}
			// The root always exists: Sync's path does not matter.
			err := conn.Sync(opCtx, RegisterRoot)
			if err == nil {
				var got []byte
				var st *zk.Stat
				got, st, err = conn.Get(opCtx, path)
				if err == nil {
					out = znodemodel.Output{Data: string(got), Version: st.Version}
					w.checkSeen(seen, key, st.Mzxid, "Sync+Get")
				}
			}
			code, unknown := errCode(err)
			// A read that failed tells nothing.
			ok = !unknown
			if code == "NoNode" {
				out.Err = code
			}
		case r < 45:
			// A plain Get: only checked against the session's own view.
			got, st, err := conn.Get(opCtx, path)
			ok = false
			if err == nil {
				_ = got
				w.checkSeen(seen, key, st.Mzxid, "Get")
				w.mu.Lock()
				w.plain++
				w.mu.Unlock()
			}
		case r < 70:
			version := int32(-1)
			if r >= 60 {
				// A conditional set, on a version that is likely current.
				if _, st, err := conn.Get(opCtx, path); err == nil {
					version = st.Version
				} else {
					version = int32(rng.IntN(3))
				}
				call = w.env.Now()
			}
			in = znodemodel.Input{Op: znodemodel.Set, Key: key, Data: data, Version: version}
			st, err := conn.Set(opCtx, path, []byte(data), version)
			out.Err, out.Unknown = errCode(err)
			var z int64
			if err == nil {
				out.Version = st.Version
				z = st.Mzxid
				w.checkSeen(seen, key, st.Mzxid, "Set")
			}
			if err == nil || out.Unknown {
				w.noteWrite(path, WriteSet, z)
			}
		case r < 86:
			in = znodemodel.Input{Op: znodemodel.Create, Key: key, Data: data}
			_, st, err := conn.CreateStat(opCtx, path, []byte(data), zk.FlagPersistent, zk.WorldACL(zk.PermAll))
			out.Err, out.Unknown = errCode(err)
			var z int64
			if err == nil {
				z = st.Czxid
				w.checkSeen(seen, key, st.Mzxid, "Create")
			}
			if err == nil || out.Unknown {
				w.noteWrite(path, WriteCreate, z)
			}
		default:
			in = znodemodel.Input{Op: znodemodel.Delete, Key: key}
			err := conn.Delete(opCtx, path, zk.AnyVersion)
			out.Err, out.Unknown = errCode(err)
			if err == nil || out.Unknown {
				w.noteWrite(path, WriteDelete, 0)
			}
		}
		cancel()
		ret := w.env.Now()
		if !ok {
			continue
		}
		if out.Unknown {
			ret = math.MaxInt64
		}
		w.record(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
		if out.Unknown {
			id = w.newClientID()
			w.mu.Lock()
			w.unknownWhy[out.Err]++
			w.mu.Unlock()
			// A Conn without a server fails at once: do not spin, which
			// would fill the history with open operations. If the
			// session is gone, the next get dials anew.
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}

// checkSeen checks that a session's reads and writes of a key never see
// an older state than it has seen before, and remembers the newest.
func (w *RegisterWorkload) checkSeen(seen map[int]int64, key int, mzxid int64, what string) {
	if mzxid < seen[key] {
		w.fails.Addf("register: a session's %s of %s saw mzxid %#x after it had seen %#x", what, regPath(key), mzxid, seen[key])
	}
	seen[key] = max(seen[key], mzxid)
}

// FinalReads reads every key from a session on each running node, after
// a Sync, records them as reads in the history, and checks that the nodes
// agree.
func (w *RegisterWorkload) FinalReads(ctx context.Context) error {
	type view struct {
		data  string
		mzxid int64
		err   string
	}
	var first []view
	firstNode := 0
	for _, nd := range w.env.Cluster.Nodes {
		var views []view
		err := retry(ctx, func(ctx context.Context) error {
			views = nil
			conn, err := w.env.DialNode(ctx, nd.ID)
			if err != nil {
				return err
			}
			defer conn.Close()
			id := w.newClientID()
			var ops []porcupine.Operation
			for k := range regKeys {
				opCtx, cancel := context.WithTimeout(ctx, w.env.OpTimeout)
				call := w.env.Now()
				err := conn.Sync(opCtx, RegisterRoot)
				var got []byte
				var st *zk.Stat
				if err == nil {
					got, st, err = conn.Get(opCtx, regPath(k))
				}
				cancel()
				code, unknown := errCode(err)
				if unknown {
					return err
				}
				out := znodemodel.Output{Err: code}
				v := view{err: code}
				if err == nil {
					out.Data, out.Version = string(got), st.Version
					v.data, v.mzxid = string(got), st.Mzxid
				}
				views = append(views, v)
				ops = append(ops, porcupine.Operation{ClientId: id, Input: znodemodel.Input{Op: znodemodel.Read, Key: k}, Call: call, Output: out, Return: w.env.Now()})
			}
			for _, op := range ops {
				w.record(op)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("final reads on node %d: %w", nd.ID, err)
		}
		if first == nil {
			first, firstNode = views, nd.ID
			continue
		}
		for k := range regKeys {
			if views[k] != first[k] {
				w.fails.Addf("register: after the heal node %d reads %s as %+v, node %d as %+v", nd.ID, regPath(k), views[k], firstNode, first[k])
			}
		}
	}
	return nil
}

// Known returns the acknowledged creates and sets, in zxid order, and per
// path the number of writes of each kind that succeeded or may have.
func (w *RegisterWorkload) Known() ([]Write, map[string][3]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	known := append([]Write(nil), w.known...)
	sort.Slice(known, func(i, j int) bool { return known[i].Zxid < known[j].Zxid })
	attempts := make(map[string][3]int, len(w.attempts))
	for p, a := range w.attempts {
		attempts[p] = a
	}
	return known, attempts
}

// RegisterResult sums up a check of the register workload.
type RegisterResult struct {
	Ops, Unknown, PlainGets int
	Visualization           string // porcupine's page, written when the check failed
}

// Check asks porcupine whether the history is linearizable, within
// budget; on a failure it writes the visualization into dir.
func (w *RegisterWorkload) Check(dir string, budget time.Duration) (RegisterResult, []string) {
	w.mu.Lock()
	history := append([]porcupine.Operation(nil), w.history...)
	res := RegisterResult{Ops: len(history), PlainGets: w.plain}
	w.mu.Unlock()
	for _, op := range history {
		if op.Output.(znodemodel.Output).Unknown {
			res.Unknown++
		}
	}
	w.mu.Lock()
	if len(w.unknownWhy) > 0 {
		w.env.Logf("register: errors of the operations with unknown outcomes: %v", w.unknownWhy)
	}
	w.mu.Unlock()
	fails := w.fails.List()
	result, info := porcupine.CheckOperationsVerbose(znodemodel.Model(regKeys), history, budget)
	switch result {
	case porcupine.Ok:
		return res, fails
	case porcupine.Unknown:
		// Not a failure: the search ran out of time.
		w.env.Logf("register: porcupine could not decide within %v (%d ops)", budget, len(history))
		return res, fails
	}
	res.Visualization = filepath.Join(dir, "register-porcupine.html")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if err := porcupine.VisualizePath(znodemodel.Model(regKeys), info, res.Visualization); err != nil {
			res.Visualization = "(not written: " + err.Error() + ")"
		}
	}
	fails = append(fails, fmt.Sprintf("register: history of %d operations is not linearizable; porcupine's visualization: %s\n%s",
		len(history), res.Visualization, excerpt(info)))
	return res, fails
}

// excerpt describes the longest partial linearization of each failing
// partition, as text.
func excerpt(info porcupine.LinearizationInfo) string {
	var b strings.Builder
	for i, part := range info.PartialLinearizationsOperations() {
		longest := []porcupine.Operation{}
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		fmt.Fprintf(&b, "partition %d: longest linearizable prefix (%d ops), last 10:\n", i, len(longest))
		for _, op := range longest[max(0, len(longest)-10):] {
			fmt.Fprintf(&b, "  client %d [%v, %v] %s\n", op.ClientId, time.Duration(op.Call), retString(op.Return), znodemodel.Describe(op.Input, op.Output))
		}
	}
	return b.String()
}

func retString(r int64) string {
	if r == math.MaxInt64 {
		return "end"
	}
	return time.Duration(r).String()
}
