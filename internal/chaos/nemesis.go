package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// StepKind is a kind of fault.
type StepKind string

// The kinds of faults. The network ones act on the Proxy, the process
// ones on a node's process.
const (
	KindPartition StepKind = "partition"      // blackhole between a group and the rest
	KindHard      StepKind = "partition-hard" // connections reset and refused between a group and the rest
	KindOneWay    StepKind = "oneway"         // the group's bytes to the rest held, the rest's flowing (or the other way)
	KindDelay     StepKind = "delay"          // latency on a node's links
	KindDrop      StepKind = "drop"           // every connection dropped after a random lifetime
	KindSlow      StepKind = "slow"           // a node's links limited in bandwidth
	KindKill      StepKind = "kill"           // SIGKILL, then a restart from the same data dir
	KindPause     StepKind = "pause"          // SIGSTOP for longer than the session timeout, then SIGCONT
)

var (
	netKinds  = []StepKind{KindPartition, KindHard, KindOneWay, KindDelay, KindDrop, KindSlow}
	procKinds = []StepKind{KindKill, KindPause}
)

// Step is one fault of a Schedule.
type Step struct {
	At   time.Duration // from the start of the schedule
	Kind StepKind
	// Target is the node the fault is on, or 0 for whoever leads when the
	// step begins (Fallback if nobody does). For partitions the group is
	// Target alone.
	Target, Fallback int
	// Inbound, for KindOneWay, holds the rest's bytes to the group
	// instead of the group's to the rest.
	Inbound bool
	For     time.Duration
	Fault   Fault // for the network kinds: what each affected link gets
}

func (s Step) String() string {
	who := fmt.Sprintf("node %d", s.Target)
	if s.Target == 0 {
		who = fmt.Sprintf("leader (else node %d)", s.Fallback)
	}
	extra := ""
	switch s.Kind {
	case KindOneWay:
		if s.Inbound {
			extra = " inbound"
		} else {
			extra = " outbound"
		}
	case KindDelay, KindDrop, KindSlow:
		extra = " " + s.Fault.String()
	}
	if s.Kind == KindDrop {
		who = "all links"
	}
	return fmt.Sprintf("+%-6v %-14s %s%s for %v", s.At.Round(100*time.Millisecond), s.Kind, who, extra, s.For.Round(100*time.Millisecond))
}

// Schedule is a seeded random sequence of faults in two lanes, network and
// process, each one fault at a time, so that the two kinds overlap.
type Schedule struct {
	Seed   uint64
	Nodes  int
	Length time.Duration
	Net    []Step
	Proc   []Step
}

// NewSchedule derives a schedule from seed for a cluster of nodes, whose
// faults all begin within length. pause is how long a process pause
// lasts at least (longer than the session timeout). Every kind of fault
// comes up before any comes twice.
func NewSchedule(seed uint64, nodes int, length, pause time.Duration) Schedule {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := Schedule{Seed: seed, Nodes: nodes, Length: length}
	dur := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	target := func() (int, int) {
		fb := 1 + rng.IntN(nodes)
		if rng.IntN(3) == 0 {
			return 0, fb
		}
		return fb, fb
	}
	kinds := func(all []StepKind) func() StepKind {
		var bag []StepKind
		return func() StepKind {
			if len(bag) == 0 {
				bag = slices.Clone(all)
				rng.Shuffle(len(bag), func(i, j int) { bag[i], bag[j] = bag[j], bag[i] })
			}
			k := bag[0]
			bag = bag[1:]
			return k
		}
	}
	nextNet := kinds(netKinds)
	for at := dur(time.Second, 3*time.Second); at < length; {
		st := Step{At: at, Kind: nextNet(), For: dur(1500*time.Millisecond, 4500*time.Millisecond)}
		st.Target, st.Fallback = target()
		switch st.Kind {
		case KindOneWay:
			st.Inbound = rng.IntN(2) == 0
		case KindDelay:
			st.Fault = Fault{Delay: dur(30*time.Millisecond, 250*time.Millisecond), Jitter: dur(time.Millisecond, 60*time.Millisecond)}
		case KindDrop:
			st.Fault = Fault{DropMean: dur(300*time.Millisecond, 2*time.Second)}
		case KindSlow:
			st.Fault = Fault{Bandwidth: 2000 + rng.IntN(40000)}
		}
		s.Net = append(s.Net, st)
		at += st.For + dur(500*time.Millisecond, 1500*time.Millisecond)
	}
	nextProc := kinds(procKinds)
	for at := dur(2*time.Second, 5*time.Second); at < length; {
		st := Step{At: at, Kind: nextProc()}
		st.Target, st.Fallback = target()
		switch st.Kind {
		case KindKill:
			st.For = dur(500*time.Millisecond, 5*time.Second)
		case KindPause:
			st.For = dur(pause, pause+2*time.Second)
		}
		s.Proc = append(s.Proc, st)
		at += st.For + dur(2*time.Second, 5*time.Second)
	}
	return s
}

func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule seed=%d nodes=%d length=%v\n", s.Seed, s.Nodes, s.Length)
	for _, st := range s.Net {
		fmt.Fprintf(&b, "  net   %v\n", st)
	}
	for _, st := range s.Proc {
		fmt.Fprintf(&b, "  proc  %v\n", st)
	}
	return b.String()
}

// Nemesis carries out a Schedule on a Cluster.
type Nemesis struct {
	c     *Cluster
	sched Schedule
	logf  func(format string, args ...any)

	mu   sync.Mutex
	log  []string         // guarded by mu; what was done, when
	done map[StepKind]int // guarded by mu; faults injected by kind
}

// NewNemesis returns a Nemesis for the schedule on c.
func NewNemesis(c *Cluster, sched Schedule, logf func(format string, args ...any)) *Nemesis {
	return &Nemesis{c: c, sched: sched, logf: logf, done: map[StepKind]int{}}
}

func (n *Nemesis) record(start time.Time, format string, args ...any) {
	line := fmt.Sprintf("%8v ", time.Since(start).Round(time.Millisecond)) + fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.log = append(n.log, line)
	n.mu.Unlock()
	n.c.Note("%s", line)
	n.logf("nemesis: %s", line)
}

// Log returns what the Nemesis did.
func (n *Nemesis) Log() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.log)
}

// Injected returns the number of faults injected, by kind.
func (n *Nemesis) Injected() map[StepKind]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[StepKind]int{}
	for k, v := range n.done {
		out[k] = v
	}
	return out
}

// Run carries out the schedule, and returns once every fault has been
// healed: the Proxy forwards everything and every node runs. If ctx ends
// early it heals at once.
func (n *Nemesis) Run(ctx context.Context) {
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { n.lane(ctx, start, n.sched.Net) })
	wg.Go(func() { n.lane(ctx, start, n.sched.Proc) })
	wg.Wait()
	n.HealAll()
	n.record(start, "all healed")
}

// HealAll clears every network fault, resumes paused nodes and starts
// stopped ones.
func (n *Nemesis) HealAll() {
	n.c.Proxy.Heal()
	for _, nd := range n.c.Nodes {
		nd.Resume()
		if !nd.Running() {
			nd.Start()
		}
	}
}

func (n *Nemesis) lane(ctx context.Context, start time.Time, steps []Step) {
	for _, st := range steps {
		select {
		case <-time.After(time.Until(start.Add(st.At))):
		case <-ctx.Done():
			return
		}
		target := st.Target
		if target == 0 {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			l, _ := n.c.Leader(lctx)
			cancel()
			target = st.Fallback
			if l != 0 {
				target = l
			}
		}
		heal := n.apply(st, target)
		if heal == nil {
			n.record(start, "skipped %s on node %d", st.Kind, target)
			continue
		}
		n.mu.Lock()
		n.done[st.Kind]++
		n.mu.Unlock()
		n.record(start, "begin %s on node %d (%v)", st.Kind, target, st)
		select {
		case <-time.After(st.For):
		case <-ctx.Done():
		}
		heal()
		n.record(start, "end %s on node %d", st.Kind, target)
	}
}

// apply begins step st on node target and returns how to end it, or nil
// if it cannot be carried out now.
func (n *Nemesis) apply(st Step, target int) (heal func()) {
	p := n.c.Proxy
	var others []int
	for _, nd := range n.c.Nodes {
		if nd.ID != target {
			others = append(others, nd.ID)
		}
	}
	both := func(change func(*Fault)) {
		for _, o := range others {
			p.Update(Link{target, o}, change)
			p.Update(Link{o, target}, change)
		}
	}
	// The network lane runs one step at a time: its heal is a full one.
	netHeal := func() { p.Heal() }
	switch st.Kind {
	case KindPartition:
		both(func(f *Fault) { f.Block = true })
		return netHeal
	case KindHard:
		both(func(f *Fault) { f.Refuse = true })
		return netHeal
	case KindOneWay:
		for _, o := range others {
			l := Link{target, o}
			if st.Inbound {
				l = Link{o, target}
			}
			p.Update(l, func(f *Fault) { f.Block = true })
		}
		return netHeal
	case KindDelay, KindSlow:
		both(func(f *Fault) { f.Delay, f.Jitter, f.Bandwidth = st.Fault.Delay, st.Fault.Jitter, st.Fault.Bandwidth })
		return netHeal
	case KindDrop:
		for _, a := range n.c.Nodes {
			for _, b := range n.c.Nodes {
				if a != b {
					p.Update(Link{a.ID, b.ID}, func(f *Fault) { f.DropMean = st.Fault.DropMean })
				}
			}
		}
		return netHeal
	case KindKill:
		nd := n.c.Node(target)
		if !nd.Running() {
			return nil
		}
		nd.Kill()
		return func() {
			if err := nd.Start(); err != nil {
				n.logf("nemesis: restarting node %d: %v", target, err)
			}
		}
	case KindPause:
		nd := n.c.Node(target)
		if err := nd.Pause(); err != nil {
			return nil
		}
		return func() { nd.Resume() }
	}
	return nil
}
