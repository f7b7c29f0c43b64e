// Command zkbench is a load generator for ZooKeeper ensembles: zkraft in
// this process, or any ZooKeeper-compatible ensemble over the wire
// (zkraft or Apache ZooKeeper), through the same zk.Conn API.
//
//	zkbench                                    # an embedded node, every workload, 1 and 32 sessions
//	zkbench -servers 127.0.0.1:2181 -workloads create,get -sessions 1,8,32,64 -duration 10s
//	zkbench -embedded 3 -dir /tmp/zkb -json out.json
//
// Each workload runs closed loop: every session issues its next request
// when its last one returns. A progress line is printed every second;
// then one line per run with ops/s and the latency distribution, and, with
// -json, the same figures as JSON.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are zkbench's flags.
type options struct {
	servers   []string
	embedded  int
	dir       string
	workloads []string
	sessions  []int
	duration  time.Duration
	rate      float64
	jsonPath  string
	plotPath  string
	plotFrom  [][2]string // system, JSON file
	title     string
	cpuProf   string
	dialWait  time.Duration // -connect-timeout
}

// result is one run's figures.
type result struct {
	// System names what was measured when results of several are drawn
	// together (-plot-from); empty otherwise.
	System   string  `json:"system,omitempty"`
	Workload string  `json:"workload"`
	Sessions int     `json:"sessions"`
	Rate     float64 `json:"rate,omitempty"` // the open-loop target, ops/s; 0 for closed loop
	Ops      int64   `json:"ops"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	OpsPerS  float64 `json:"ops_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p999_us"`
	MaxUs    float64 `json:"max_us"`
	// LagP99us is, open loop, the 99th percentile of how late zkbench
	// itself issued requests (timer wake-ups): a floor under the
	// latencies, not the server's doing.
	LagP99us float64 `json:"lag_p99_us,omitempty"`
}

// workload prepares the tree for a run and returns the operation each
// session repeats (i is the session, k its k-th operation).
type workload struct {
	setup func(ctx context.Context, c *zk.Conn) error
	op    func(ctx context.Context, c *zk.Conn, i, k int) error
	// scenario, for what is measured once rather than in a loop, runs in
	// place of setup and op.
	scenario func(ctx context.Context, t *bench, n int) (result, error)
}

var open = zk.WorldACL(zk.PermAll)

// workloads are the operations zkbench measures, by name.
func workloads(run string) map[string]workload {
	base := "/zkbench-" + run
	ensure := func(ctx context.Context, c *zk.Conn, p string, data []byte) error {
		_, err := c.Create(ctx, p, data, zk.FlagPersistent, open)
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	}
	small, kilo := make([]byte, 100), make([]byte, 1024)
	creates := func(data []byte) workload {
		return workload{
			setup: func(ctx context.Context, c *zk.Conn) error { return ensure(ctx, c, base, nil) },
			op: func(ctx context.Context, c *zk.Conn, i, k int) error {
				_, err := c.Create(ctx, base+"/n-", data, zk.FlagSequence, open)
				return err
			},
		}
	}
	onOne := func(f func(ctx context.Context, c *zk.Conn, p string) error) workload {
		return workload{
			setup: func(ctx context.Context, c *zk.Conn) error { return ensure(ctx, c, base+"-one", small) },
			op:    func(ctx context.Context, c *zk.Conn, i, k int) error { return f(ctx, c, base+"-one") },
		}
	}
	ws := map[string]workload{
		"create":   creates(small),
		"create1k": creates(kilo),
		"set": onOne(func(ctx context.Context, c *zk.Conn, p string) error {
			_, err := c.Set(ctx, p, small, zk.AnyVersion)
			return err
		}),
		"get": onOne(func(ctx context.Context, c *zk.Conn, p string) error {
			_, _, err := c.Get(ctx, p)
			return err
		}),
		"exists": onOne(func(ctx context.Context, c *zk.Conn, p string) error {
			_, _, err := c.Exists(ctx, p)
			return err
		}),
		"mixed": {
			setup: func(ctx context.Context, c *zk.Conn) error { return ensure(ctx, c, base+"-one", small) },
			op: func(ctx context.Context, c *zk.Conn, i, k int) error {
				// 90% reads, 10% writes: each session writes every tenth
				// time, at its own phase.
				if (i+k)%10 == 0 {
					_, err := c.Set(ctx, base+"-one", small, zk.AnyVersion)
					return err
				}
				_, _, err := c.Get(ctx, base+"-one")
				return err
			},
		},
		"watch": {
			// Each session watches its own node and changes it: the time
			// from the Set to the event is the notification latency (the
			// Set's round trip included, as a client sees it).
			setup: func(ctx context.Context, c *zk.Conn) error { return ensure(ctx, c, base+"-watch", nil) },
			op: func(ctx context.Context, c *zk.Conn, i, k int) error {
				p := fmt.Sprintf("%s-watch/s%d", base, i)
				if k == 0 {
					if err := ensure(ctx, c, p, nil); err != nil {
						return err
					}
				}
				_, _, ev, err := c.GetW(ctx, p)
				if err != nil {
					return err
				}
				if _, err := c.Set(ctx, p, small, zk.AnyVersion); err != nil {
					return err
				}
				select {
				case e := <-ev:
					if e.Type != zk.EventNodeDataChanged {
						return fmt.Errorf("watch event %v", e.Type)
					}
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			},
		},
		"children": {
			setup: func(ctx context.Context, c *zk.Conn) error {
				p := base + "-kids"
				if err := ensure(ctx, c, p, nil); err != nil {
					return err
				}
				_, st, err := c.Exists(ctx, p)
				if err != nil {
					return err
				}
				for k := int(st.NumChildren); k < 10000; k += 100 {
					ops := make([]zk.Op, 0, 100)
					for j := k; j < min(k+100, 10000); j++ {
						ops = append(ops, zk.CreateOp(fmt.Sprintf("%s/c%05d", p, j), nil, zk.FlagPersistent, open))
					}
					if _, err := c.Multi(ctx, ops...); err != nil {
						return err
					}
				}
				return nil
			},
			op: func(ctx context.Context, c *zk.Conn, i, k int) error {
				_, _, err := c.Children(ctx, base+"-kids")
				return err
			},
		},
	}
	maps.Copy(ws, scenarios(base))
	return ws
}

// allWorkloads is the order the default run measures them in.
var allWorkloads = []string{"create", "create1k", "set", "get", "exists", "children", "mixed", "watch"}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "zkbench:", err)
		return 2
	}
	if len(o.plotFrom) > 0 {
		if err := plotFiles(o.plotPath, o.title, o.plotFrom); err != nil {
			fmt.Fprintln(stderr, "zkbench:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "zkbench:", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	b, err := target(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "zkbench:", err)
		return 1
	}
	defer b.close()
	var results []result
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, name := range o.workloads {
		w := workloads(runID)[name]
		for _, n := range o.sessions {
			var r result
			if w.scenario != nil {
				r, err = w.scenario(ctx, b, n)
				r.Workload, r.Sessions = name, n
			} else {
				r, err = measure(ctx, b.connect, w, name, n, o.duration, o.rate, stdout)
			}
			if err != nil {
				fmt.Fprintf(stderr, "zkbench: %s with %d sessions: %v\n", name, n, err)
				return 1
			}
			results = append(results, r)
			fmt.Fprintf(stdout, "%-9s %3d sessions  %9.0f ops/s  p50 %8.1f µs  p99 %8.1f µs  p99.9 %8.1f µs  max %8.1f µs  errors %d",
				r.Workload, r.Sessions, r.OpsPerS, r.P50us, r.P99us, r.P999us, r.MaxUs, r.Errors)
			if r.Rate > 0 {
				fmt.Fprintf(stdout, "  (rate %.0f/s, issue lag p99 %.1f µs)", r.Rate, r.LagP99us)
			}
			fmt.Fprintln(stdout)
			if ctx.Err() != nil {
				return 1
			}
		}
	}
	if o.plotPath != "" {
		f, err := os.Create(o.plotPath)
		if err == nil {
			title := cmp.Or(o.title, "zkbench: embedded")
			if len(o.servers) > 0 && o.title == "" {
				title = "zkbench: " + strings.Join(o.servers, ",")
			}
			err = errors.Join(plotSVG(f, title, results), f.Close())
		}
		if err != nil {
			fmt.Fprintln(stderr, "zkbench:", err)
			return 1
		}
	}
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "zkbench:", err)
			return 1
		}
	}
	return 0
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("zkbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("servers", "", "client addresses of the ensemble to measure (host:port,...); empty: an embedded one")
	embedded := fs.Int("embedded", 1, "nodes of the embedded ensemble")
	dir := fs.String("dir", "", "directory for the embedded nodes' data (fsync on); empty: in memory")
	wl := fs.String("workloads", strings.Join(allWorkloads, ","), "workloads to run: "+strings.Join(allWorkloads, ",")+
		"; and, run once each with -sessions as their size, fanout (one change to N watchers), ephemeral (N sessions of 100 ephemerals close), failover (the leader of -embedded 3 closed under N writers), populate (N znodes of 100 B left in place, for measuring memory)")
	sessions := fs.String("sessions", "1,32", "session counts to run each workload with")
	duration := fs.Duration("duration", 5*time.Second, "how long each run lasts")
	jsonPath := fs.String("json", "", "write the results as JSON to this file")
	plot := fs.String("plot", "", "draw throughput and p99 against the number of sessions, per workload, as SVG to this file")
	rate := fs.Float64("rate", 0, "open loop: issue this many ops/s in all, on a fixed schedule, and measure each latency from its scheduled time; 0: closed loop")
	title := fs.String("title", "", "the plot's title; default: what was measured")
	plotFrom := fs.String("plot-from", "", "measure nothing: draw -plot from earlier -json files, as system=file.json,... (one line style per system)")
	cpuProf := fs.String("cpuprofile", "", "write the client's CPU profile (and, embedded, the nodes') to this file")
	connectTimeout := fs.Duration("connect-timeout", 30*time.Second, "how long a session may take to connect over the wire")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{embedded: *embedded, dir: *dir, duration: *duration, jsonPath: *jsonPath, plotPath: *plot, rate: *rate, title: *title, cpuProf: *cpuProf, dialWait: *connectTimeout}
	if *plotFrom != "" {
		if o.plotPath == "" {
			return o, errors.New("-plot-from needs -plot")
		}
		for _, kv := range strings.Split(*plotFrom, ",") {
			system, file, ok := strings.Cut(kv, "=")
			if !ok || system == "" || file == "" {
				return o, fmt.Errorf("-plot-from: %q is not system=file.json", kv)
			}
			o.plotFrom = append(o.plotFrom, [2]string{system, file})
		}
	}
	if *servers != "" {
		o.servers = strings.Split(*servers, ",")
	}
	known := workloads("")
	for _, w := range strings.Split(*wl, ",") {
		if _, ok := known[w]; !ok {
			return o, fmt.Errorf("unknown workload %q", w)
		}
		o.workloads = append(o.workloads, w)
	}
	for _, s := range strings.Split(*sessions, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return o, fmt.Errorf("-sessions: %q is not a positive number", s)
		}
		o.sessions = append(o.sessions, n)
	}
	if o.embedded < 1 || o.duration <= 0 || o.dialWait <= 0 || o.rate < 0 {
		return o, errors.New("-embedded, -duration and -connect-timeout must be positive, -rate not negative")
	}
	return o, nil
}

// bench is what is measured: how to open sessions on it, and, when it is
// embedded, its nodes.
type bench struct {
	connect func(ctx context.Context, i int) (*zk.Conn, error)
	nodes   []*zk.Node // nil over the wire
	close   func()
}

// target opens what is measured.
func target(ctx context.Context, o options) (*bench, error) {
	if len(o.servers) > 0 {
		return &bench{connect: func(ctx context.Context, i int) (*zk.Conn, error) {
			// Spread the sessions over the servers, as clients would be.
			addrs := append(slices.Clone(o.servers[i%len(o.servers):]), o.servers[:i%len(o.servers)]...)
			// Bounded: a server that refuses the connection (ZooKeeper's
			// maxClientCnxns, 60 per address by default) would have
			// the client try again for ever.
			dctx, cancel := context.WithTimeout(ctx, o.dialWait)
			defer cancel()
			c, err := zk.Dial(dctx, addrs)
			if err != nil && ctx.Err() == nil {
				err = fmt.Errorf("session %d not connected in %v (does the server limit connections per address? maxClientCnxns=0 lifts ZooKeeper's limit): %w", i+1, o.dialWait, err)
			}
			return c, err
		}, close: func() {}}, nil
	}
	var peers []zk.Peer
	if o.embedded > 1 {
		for i := range o.embedded {
			peers = append(peers, zk.Peer{ID: strconv.Itoa(i + 1), Addr: strconv.Itoa(i + 1)})
		}
	}
	network := zk.NewMemNetwork()
	nodes := make([]*zk.Node, o.embedded)
	errs := make([]error, o.embedded)
	var wg sync.WaitGroup
	for i := range o.embedded {
		cfg := zk.Config{ID: strconv.Itoa(i + 1), Logger: hclog.NewNullLogger()}
		if o.embedded > 1 {
			cfg.PeerAddr, cfg.Peers, cfg.Network = cfg.ID, peers, network
			cfg.ElectionTimeout = 300 * time.Millisecond
		}
		if o.dir != "" {
			cfg.Dir = fmt.Sprintf("%s/%d", o.dir, i+1)
		}
		wg.Go(func() { nodes[i], errs[i] = zk.Open(ctx, cfg) })
	}
	wg.Wait()
	b := &bench{nodes: nodes, close: func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	}}
	if err := errors.Join(errs...); err != nil {
		b.close()
		return nil, err
	}
	b.connect = func(ctx context.Context, i int) (*zk.Conn, error) {
		n := nodes[i%len(nodes)]
		var others []*zk.Node
		for _, m := range nodes {
			if m != n {
				others = append(others, m)
			}
		}
		if len(others) == 0 {
			return n.Connect(ctx)
		}
		return n.Connect(ctx, zk.WithFailover(others...))
	}
	return b, nil
}

// measure runs w with n sessions for d and returns its figures. With a
// rate, each session issues its share of it on a fixed schedule, and a
// latency counts from the scheduled time, so that a slow reply delays
// the requests behind it in the figures as it does for their clients
// (no coordinated omission).
func measure(ctx context.Context, connect func(context.Context, int) (*zk.Conn, error), w workload, name string, n int, d time.Duration, rate float64, progress io.Writer) (result, error) {
	conns := make([]*zk.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := connect(ctx, i)
		if err != nil {
			return result{}, err
		}
		conns[i] = c
	}
	if err := w.setup(ctx, conns[0]); err != nil {
		return result{}, fmt.Errorf("setup: %w", err)
	}
	for _, c := range conns {
		// Sessions on other servers see the setup before they start.
		if err := c.Sync(ctx, "/"); err != nil {
			return result{}, fmt.Errorf("sync: %w", err)
		}
	}
	var ops, errs atomic.Int64
	lats := make([][]time.Duration, n)
	lags := make([][]time.Duration, n)
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			var every time.Duration
			if rate > 0 {
				every = time.Duration(float64(n) / rate * float64(time.Second))
			}
			for k := 0; rctx.Err() == nil; k++ {
				t0 := time.Now()
				if every > 0 {
					// Sessions start a slot apart, spread over one interval.
					t0 = start.Add(time.Duration(k)*every + time.Duration(i)*every/time.Duration(n))
					if wait := time.Until(t0); wait > 0 {
						select {
						case <-time.After(wait):
						case <-rctx.Done():
							return
						}
					}
					lags[i] = append(lags[i], time.Since(t0))
				}
				err := w.op(ctx, c, i, k)
				lats[i] = append(lats[i], time.Since(t0))
				ops.Add(1)
				if err != nil {
					errs.Add(1)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			fmt.Fprintf(progress, "  … %s, %d sessions: %d ops in %.0fs\n", name, n, ops.Load(), time.Since(start).Seconds())
		}
	}
	r := summarize(slices.Concat(lats...), time.Since(start))
	r.Workload, r.Sessions, r.Rate, r.Errors = name, n, rate, errs.Load()
	if lag := slices.Concat(lags...); len(lag) > 0 {
		slices.Sort(lag)
		r.LagP99us = percentile(lag, 0.99)
	}
	return r, nil
}
