package zk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkraft/zk/internal/fakeclock"
	"github.com/zkraft/zk/internal/txn"
)

// --- helpers ---

// persistStart is where the fake clocks of these tests start.
var persistStart = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// persistConfig is a node on dir (in memory if "") with a fake clock and a
// one-second tick.
func persistConfig(dir string, clk Clock) Config {
	return Config{
		Dir:             dir,
		Clock:           clk,
		TickTime:        time.Second,
		ElectionTimeout: 50 * time.Millisecond,
	}
}

func openNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func connect(t *testing.T, n *Node, opts ...ConnectOption) *Conn {
	t.Helper()
	c, err := n.Connect(t.Context(), opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond every few milliseconds until it holds, for at most
// five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tk := time.NewTicker(2 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tk.C
	}
}

// dumpNode is everything the replicated state holds about one znode.
type dumpNode struct {
	Path                string
	Data                string // "<nil>" for nil data, else quoted
	Czxid, Mzxid, Pzxid int64
	Ctime, Mtime        int64
	Version             int32
	Creates             int32
	Aversion            int32
	Owner               int64
	Stat                Stat
	ACL                 []ACL
	Children            []string
}

type dumpSession struct {
	ID       int64
	Timeout  int32
	Password string
}

// stateDump is the whole replicated state of a node, comparable with
// reflect.DeepEqual and printable difference by difference.
type stateDump struct {
	Nodes      map[string]dumpNode
	Sessions   []dumpSession
	Term       uint64
	Counter    uint32
	LastZxid   int64
	ACLRefs    map[string]int // aclCache key → refs
	Ephemerals map[int64][]string
	Containers []string
	TTLs       []string
}

func renderData(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dumpTree renders a tree and session table; the caller holds whatever
// lock protects them.
func dumpTree(t *tree, sessions map[int64]*sessionInfo, term uint64, counter uint32) stateDump {
	d := stateDump{
		Nodes:      make(map[string]dumpNode, len(t.nodes)),
		Term:       term,
		Counter:    counter,
		LastZxid:   makeZxid(term, counter),
		ACLRefs:    make(map[string]int, len(t.acls.m)),
		Ephemerals: make(map[int64][]string, len(t.ephemerals)),
		Containers: sortedKeys(t.containers),
		TTLs:       sortedKeys(t.ttls),
	}
	for p, n := range t.nodes {
		d.Nodes[p] = dumpNode{
			Path: p, Data: renderData(n.data),
			Czxid: n.czxid, Mzxid: n.mzxid, Pzxid: n.pzxid,
			Ctime: n.ctime, Mtime: n.mtime,
			Version: n.version, Creates: n.creates, Aversion: n.aversion,
			Owner:    n.owner,
			Stat:     n.stat(),
			ACL:      slices.Clone(n.acl.acl),
			Children: slices.Clone(n.childList()),
		}
	}
	for k, e := range t.acls.m {
		d.ACLRefs[k] = e.refs
	}
	for id, set := range t.ephemerals {
		d.Ephemerals[id] = sortedKeys(set)
	}
	for id, s := range sessions {
		d.Sessions = append(d.Sessions, dumpSession{ID: id, Timeout: s.timeout, Password: base64.StdEncoding.EncodeToString(s.password)})
	}
	slices.SortFunc(d.Sessions, func(a, b dumpSession) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return d
}

// dumpState renders the whole replicated state of n.
func dumpState(n *Node) stateDump {
	f := n.fsm
	f.mu.RLock()
	defer f.mu.RUnlock()
	return dumpTree(f.tree, f.sessions, f.term, f.counter)
}

// checkInvariants checks that a dump agrees with itself: indexes, ACL
// reference counts and children match the nodes.
func checkInvariants(t *testing.T, d stateDump) {
	t.Helper()
	refs := map[string]int{}
	eph := map[int64][]string{}
	var cont, ttls []string
	for _, p := range sortedKeys(d.Nodes) {
		n := d.Nodes[p]
		refs[aclKey(n.ACL)]++
		switch ownerKind(n.Owner) {
		case kindEphemeral:
			eph[n.Owner] = append(eph[n.Owner], p)
		case kindContainer:
			cont = append(cont, p)
		case kindTTL:
			ttls = append(ttls, p)
		}
		if p != "/" {
			parent, name := splitPath(p)
			pn, ok := d.Nodes[parent]
			if !ok || !slices.Contains(pn.Children, name) {
				t.Errorf("node %s is not a child of %s", p, parent)
			}
		}
		if len(n.Children) != int(n.Stat.NumChildren) {
			t.Errorf("node %s: %d children, NumChildren %d", p, len(n.Children), n.Stat.NumChildren)
		}
	}
	if !mapsEqual(refs, d.ACLRefs) {
		t.Errorf("ACL cache refs %v, nodes use %v", d.ACLRefs, refs)
	}
	if len(eph) != len(d.Ephemerals) {
		t.Errorf("ephemeral index has %d sessions, nodes %d", len(d.Ephemerals), len(eph))
	}
	for id, paths := range eph {
		if !slices.Equal(paths, d.Ephemerals[id]) {
			t.Errorf("ephemeral index of %x: %v, nodes %v", id, d.Ephemerals[id], paths)
		}
	}
	if !slices.Equal(cont, d.Containers) {
		t.Errorf("container index %v, nodes %v", d.Containers, cont)
	}
	if !slices.Equal(ttls, d.TTLs) {
		t.Errorf("TTL index %v, nodes %v", d.TTLs, ttls)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// compareDumps fails t with the first differences between want and got.
func compareDumps(t *testing.T, want, got stateDump) {
	t.Helper()
	var diffs []string
	add := func(format string, args ...any) {
		if len(diffs) < 20 {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	if len(want.Nodes) != len(got.Nodes) {
		add("%d nodes, want %d", len(got.Nodes), len(want.Nodes))
	}
	for _, p := range sortedKeys(want.Nodes) {
		w := want.Nodes[p]
		g, ok := got.Nodes[p]
		switch {
		case !ok:
			add("node %s missing", p)
		case fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w):
			add("node %s:\n got  %+v\n want %+v", p, g, w)
		}
	}
	for _, p := range sortedKeys(got.Nodes) {
		if _, ok := want.Nodes[p]; !ok {
			add("extra node %s", p)
		}
	}
	if fmt.Sprint(got.Sessions) != fmt.Sprint(want.Sessions) {
		add("sessions %v, want %v", got.Sessions, want.Sessions)
	}
	if got.Term != want.Term || got.Counter != want.Counter || got.LastZxid != want.LastZxid {
		add("last zxid %#x (term %d counter %d), want %#x (term %d counter %d)", got.LastZxid, got.Term, got.Counter, want.LastZxid, want.Term, want.Counter)
	}
	if !mapsEqual(got.ACLRefs, want.ACLRefs) {
		add("ACL refs %v, want %v", got.ACLRefs, want.ACLRefs)
	}
	if fmt.Sprint(got.Ephemerals) != fmt.Sprint(want.Ephemerals) {
		add("ephemerals index differs")
	}
	if !slices.Equal(got.Containers, want.Containers) || !slices.Equal(got.TTLs, want.TTLs) {
		add("containers %v ttls %v, want %v %v", got.Containers, got.TTLs, want.Containers, want.TTLs)
	}
	if len(diffs) > 0 {
		t.Fatalf("state differs:\n%s", strings.Join(diffs, "\n"))
	}
}

func binaryData(i int) []byte {
	b := make([]byte, 32+i%64)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	b[0] = 0
	b[len(b)-1] = 0xff
	return b
}

// dataFor gives node i nil, empty, text or binary data.
func dataFor(i int) []byte {
	switch i % 5 {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return []byte(fmt.Sprintf("value-%d", i))
	case 3:
		return binaryData(i)
	}
	return bytes.Repeat([]byte{byte(i)}, 1000)
}

var ipACL = []ACL{{Perms: PermAll, Scheme: "ip", ID: "10.0.0.0/8"}, {Perms: PermRead, Scheme: "world", ID: "anyone"}}

// aclFor gives node i one of several ACLs: world, digest, ip, auth.
func aclFor(i int) []ACL {
	switch i % 4 {
	case 0:
		return WorldACL(PermAll)
	case 1:
		return append(DigestACL(PermAll, "alice", "secret"), ACL{Perms: PermRead, Scheme: "world", ID: "anyone"})
	case 2:
		return ipACL
	}
	return AuthACL(PermAll) // expands to digest:alice:... on a Conn with alice's auth
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// runAll runs fns concurrently and fails t with the first error.
func runAll(t *testing.T, fns ...func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

type populated struct {
	ephemeralSessions []*Conn // sessions that own ephemerals and stay open
}

// populate writes at least 10,000 znodes of every kind to n.
func populate(t *testing.T, n *Node, groups int) populated {
	t.Helper()
	ctx := t.Context()
	w := connect(t, n, WithAuth("digest", []byte("alice:secret")))
	for _, p := range []string{"/bulk", "/seq", "/eph", "/ttl", "/acl"} {
		_, err := w.Create(ctx, p, []byte(p), FlagPersistent, WorldACL(PermAll))
		must(t, err)
	}

	// 10 groups of 1000 persistent nodes, in multis of 100, concurrently.
	const perGroup = 1000
	var fns []func() error
	for g := 0; g < groups; g++ {
		fns = append(fns, func() error {
			gp := fmt.Sprintf("/bulk/g%02d", g)
			if _, err := w.Create(ctx, gp, nil, FlagPersistent, WorldACL(PermAll)); err != nil {
				return err
			}
			for b := 0; b < perGroup; b += 100 {
				ops := make([]Op, 0, 100)
				for i := b; i < b+100; i++ {
					ops = append(ops, CreateOp(fmt.Sprintf("%s/n%04d", gp, i), dataFor(i), FlagPersistent, aclFor(i)))
				}
				if _, err := w.Multi(ctx, ops...); err != nil {
					return err
				}
			}
			return nil
		})
	}
	runAll(t, fns...)

	// Sets (several times each), setACLs and deletes.
	fns = nil
	for g := 0; g < groups; g++ {
		fns = append(fns, func() error {
			gp := fmt.Sprintf("/bulk/g%02d", g)
			var ops []Op
			for i := 0; i < perGroup; i += 7 {
				ops = append(ops, DeleteOp(fmt.Sprintf("%s/n%04d", gp, i), AnyVersion))
			}
			if _, err := w.Multi(ctx, ops...); err != nil {
				return fmt.Errorf("deletes in %s: %w", gp, err)
			}
			for round := 0; round < 3; round++ {
				ops = ops[:0]
				for i := 1; i < perGroup; i += 3 + round {
					if i%7 == 0 || i%4 == 2 { // deleted, or ip ACL without write for us
						continue
					}
					ops = append(ops, SetOp(fmt.Sprintf("%s/n%04d", gp, i), dataFor(i+round+1), AnyVersion))
				}
				if _, err := w.Multi(ctx, ops...); err != nil {
					return fmt.Errorf("sets in %s: %w", gp, err)
				}
			}
			// Individual writes: sets with a version, setACLs.
			for i := 1; i < 40; i++ {
				p := fmt.Sprintf("%s/n%04d", gp, i)
				if i%7 == 0 || i%4 == 2 {
					continue
				}
				_, st, err := w.Get(ctx, p)
				if err != nil {
					return err
				}
				if _, err := w.Set(ctx, p, binaryData(i*g), st.Version); err != nil {
					return err
				}
				if i%5 == 0 {
					if _, err := w.SetACL(ctx, p, WorldACL(PermRead|PermWrite|PermAdmin|PermDelete|PermCreate), AnyVersion); err != nil {
						return err
					}
				}
				if _, err := w.SetACL(ctx, p, aclFor(i+1), AnyVersion); err != nil {
					return err
				}
			}
			if _, err := w.Set(ctx, gp, []byte("group"), AnyVersion); err != nil {
				return err
			}
			return nil
		})
	}
	runAll(t, fns...)

	// Persistent-sequential nodes, some deleted.
	var ops []Op
	for i := 0; i < 200; i++ {
		ops = append(ops, CreateOp("/seq/s-", dataFor(i), FlagSequence, WorldACL(PermAll)))
	}
	_, err := w.Multi(ctx, ops...)
	must(t, err)
	for i := 0; i < 200; i += 3 {
		must(t, w.Delete(ctx, fmt.Sprintf("/seq/s-%010d", i), AnyVersion))
	}
	for i := 0; i < 20; i++ {
		_, err := w.Create(ctx, "/seq/t-", nil, FlagSequence, aclFor(i))
		must(t, err)
	}

	// Ephemerals: e1 plain, e2 sequential, e3 ephemerals that go with its
	// closed session, so that /eph's cversion counts deletions.
	e1 := connect(t, n, WithSessionTimeout(30*time.Second))
	e2 := connect(t, n, WithSessionTimeout(7*time.Second), WithAuth("digest", []byte("bob:pw")))
	e3 := connect(t, n)
	for _, e := range []struct {
		c      *Conn
		prefix string
		mode   CreateMode
	}{{e1, "/eph/e1-", FlagEphemeral}, {e2, "/eph/e2-", FlagEphemeralSequential}, {e3, "/eph/e3-", FlagEphemeral}} {
		ops = ops[:0]
		for i := 0; i < 150; i++ {
			p := e.prefix
			if e.mode == FlagEphemeral {
				p = fmt.Sprintf("%s%d", p, i)
			}
			ops = append(ops, CreateOp(p, dataFor(i), e.mode, aclFor(i%2)))
		}
		_, err := e.c.Multi(ctx, ops...)
		must(t, err)
	}
	_, err = e2.Create(ctx, "/acl/bob", []byte("bob"), FlagEphemeral, AuthACL(PermAll))
	must(t, err)
	must(t, e3.Close())

	// Containers: with children, emptied (not reaped: the clock stands
	// still), never used.
	for _, p := range []string{"/c-full", "/c-emptied", "/c-unused"} {
		_, err := w.Create(ctx, p, []byte("container"), FlagContainer, WorldACL(PermAll))
		must(t, err)
	}
	for i := 0; i < 30; i++ {
		_, err := w.Create(ctx, fmt.Sprintf("/c-full/k%d", i), dataFor(i), FlagPersistent, aclFor(i))
		must(t, err)
		_, err = w.Create(ctx, fmt.Sprintf("/c-emptied/k%d", i), nil, FlagPersistent, WorldACL(PermAll))
		must(t, err)
	}
	for i := 0; i < 30; i++ {
		must(t, w.Delete(ctx, fmt.Sprintf("/c-emptied/k%d", i), AnyVersion))
	}
	_, err = e1.Create(ctx, "/c-full/eph", nil, FlagEphemeral, WorldACL(PermAll))
	must(t, err)

	// TTL nodes, plain and sequential, some with children, some set.
	for i := 0; i < 100; i++ {
		mode := FlagTTL
		p := fmt.Sprintf("/ttl/t%03d", i)
		if i%2 == 1 {
			mode, p = FlagSequenceTTL, "/ttl/s-"
		}
		created, _, err := w.CreateTTL(ctx, p, dataFor(i), mode, aclFor(i+1), time.Duration(i+1)*time.Minute)
		must(t, err)
		if i%10 == 0 {
			_, err := w.Create(ctx, created+"/child", nil, FlagPersistent, WorldACL(PermAll))
			must(t, err)
		}
		if i%4 == 0 {
			_, err := w.Set(ctx, created, []byte("touched"), AnyVersion)
			must(t, err)
		}
	}

	// A few odd ACLs and data.
	_, err = w.Create(ctx, "/acl/digest-only", binaryData(1), FlagPersistent, DigestACL(PermRead|PermAdmin, "carol", "pw"))
	must(t, err)
	_, err = w.Create(ctx, "/acl/ip-host", nil, FlagPersistent, []ACL{{Perms: PermAll, Scheme: "ip", ID: "127.0.0.1"}})
	must(t, err)
	_, err = w.Set(ctx, "/acl/ip-host", nil, AnyVersion)
	must(t, err)
	_, err = w.Create(ctx, "/acl/multi", []byte{}, FlagPersistent, []ACL{
		{Perms: PermRead, Scheme: "world", ID: "anyone"},
		{Perms: PermAll, Scheme: "digest", ID: DigestID("dave", "x")},
		{Perms: PermWrite, Scheme: "ip", ID: "192.168.0.0/16"},
	})
	must(t, err)
	_, err = w.SetACL(ctx, "/acl", WorldACL(PermAll&^PermDelete), AnyVersion)
	must(t, err)

	return populated{ephemeralSessions: []*Conn{e1, e2}}
}

func countNodes(d stateDump) int { return len(d.Nodes) }

// --- 1. restart identity ---

func TestPersistRestartIdentity(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(persistStart)
	n := openNode(t, persistConfig(dir, clk))
	populate(t, n, 11)
	before := dumpState(n)
	checkInvariants(t, before)
	if c := countNodes(before); c < 10000 {
		t.Fatalf("populated %d nodes, want at least 10000", c)
	}
	must(t, n.Close())

	n2 := openNode(t, persistConfig(dir, clk))
	after := dumpState(n2)
	checkInvariants(t, after)
	compareDumps(t, before, after)
	if n2.LastZxid() != before.LastZxid {
		t.Fatalf("LastZxid %#x after restart, want %#x", n2.LastZxid(), before.LastZxid)
	}

	// A write after the restart: a new term, counter 1, above every zxid.
	var maxZxid int64
	for _, nd := range before.Nodes {
		maxZxid = max(maxZxid, nd.Czxid, nd.Mzxid, nd.Pzxid)
	}
	if maxZxid > before.LastZxid {
		t.Fatalf("a node has zxid %#x above the last zxid %#x", maxZxid, before.LastZxid)
	}
	c := connect(t, n2)
	_, st, err := c.CreateStat(t.Context(), "/after-restart", nil, FlagPersistent, WorldACL(PermAll))
	must(t, err)
	if st.Czxid <= before.LastZxid {
		t.Fatalf("zxid after restart %#x, not above %#x", st.Czxid, before.LastZxid)
	}
	// The session created by Connect is the first command of the new term.
	if oldTerm, newTerm := before.LastZxid>>32, st.Czxid>>32; newTerm <= oldTerm {
		t.Fatalf("term after restart %d, before %d", newTerm, oldTerm)
	}
	if counter := uint32(st.Czxid); counter != 2 {
		t.Fatalf("counter of the second command of the new term is %d", counter)
	}
	// Reads through the API agree: digest ACLs still work.
	alice := connect(t, n2, WithAuth("digest", []byte("alice:secret")))
	data, _, err := alice.Get(t.Context(), "/bulk/g03/n0001")
	must(t, err)
	if want := before.Nodes["/bulk/g03/n0001"].Data; renderData(data) != want {
		t.Fatalf("data %s, want %s", renderData(data), want)
	}
	if _, _, err := c.Get(t.Context(), "/acl/digest-only"); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("get without auth: %v, want ErrNoAuth", err)
	}
}

// --- 5. corrupt snapshots ---

// snapshotFiles returns the state.bin and meta.json of every snapshot
// under dir, newest last.
func snapshotFiles(t *testing.T, dir string) [][2]string {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	must(t, err)
	sort.Strings(metas) // ids are term-index-timestamp: sortable enough here
	var out [][2]string
	for _, m := range metas {
		out = append(out, [2]string{filepath.Join(filepath.Dir(m), "state.bin"), m})
	}
	return out
}

// rewriteSnapshot replaces a snapshot's state with state; with fixMeta it
// also fixes raft's own size and CRC-64 in meta.json, so that only the
// snapshot format's checks stand between the bytes and the tree.
func rewriteSnapshot(t *testing.T, files [2]string, state []byte, fixMeta bool) {
	t.Helper()
	must(t, os.WriteFile(files[0], state, 0o600))
	if !fixMeta {
		return
	}
	raw, err := os.ReadFile(files[1])
	must(t, err)
	var meta map[string]any
	must(t, json.Unmarshal(raw, &meta))
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	h.Write(state)
	meta["CRC"] = base64.StdEncoding.EncodeToString(h.Sum(nil))
	meta["Size"] = len(state)
	raw, err = json.Marshal(meta)
	must(t, err)
	must(t, os.WriteFile(files[1], raw, 0o600))
}

func TestPersistCorruptSnapshot(t *testing.T) {
	flip := func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }
	truncate := func(b []byte) []byte { return b[:len(b)/2] }
	dropSum := func(b []byte) []byte { return b[:len(b)-2] }
	cases := []struct {
		name    string
		mangle  func([]byte) []byte
		fixMeta bool
	}{
		{"flipped byte", flip, false},
		{"truncated", truncate, false},
		{"flipped byte, raft CRC fixed", flip, true},
		{"truncated, raft CRC fixed", truncate, true},
		{"checksum cut, raft CRC fixed", dropSum, true},
		{"empty, raft CRC fixed", func([]byte) []byte { return nil }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := fakeclock.New(persistStart)
			n := openNode(t, persistConfig(dir, clk))
			c := connect(t, n)
			for i := 0; i < 50; i++ {
				_, err := c.Create(t.Context(), fmt.Sprintf("/n%d", i), binaryData(i), FlagPersistent, WorldACL(PermAll))
				must(t, err)
			}
			must(t, n.Snapshot())
			must(t, n.Close())
			files := snapshotFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("%d snapshots, want 1", len(files))
			}
			state, err := os.ReadFile(files[0][0])
			must(t, err)
			rewriteSnapshot(t, files[0], tc.mangle(bytes.Clone(state)), tc.fixMeta)

			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			n2, err := Open(ctx, persistConfig(dir, clk))
			if err == nil {
				n2.Close()
				t.Fatal("Open succeeded on a corrupt snapshot")
			}
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Open: %v, want ErrCorruptSnapshot", err)
			}
			// The failed Open released the store: the intact bytes open again.
			rewriteSnapshot(t, files[0], state, tc.fixMeta)
			n3 := openNode(t, persistConfig(dir, clk))
			if ok, _, err := connect(t, n3).Exists(t.Context(), "/n49"); err != nil || !ok {
				t.Fatalf("after repair: exists /n49 = %v, %v", ok, err)
			}
		})
	}
}

// --- 2. sessions after a restart ---

// advanceUntil advances clk by step and polls until cond holds.
func advanceUntil(t *testing.T, clk *fakeclock.Clock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	eventually(t, what, func() bool {
		if cond() {
			return true
		}
		clk.Advance(step)
		return false
	})
}

func nodeExists(n *Node, path string) bool {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	_, ok := n.fsm.tree.nodes[path]
	return ok
}

func sessionExists(n *Node, id int64) bool {
	_, ok := n.fsm.session(id)
	return ok
}

func TestPersistSessionsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(persistStart)
	n := openNode(t, persistConfig(dir, clk))
	ctx := t.Context()
	w := connect(t, n)
	parents := []string{"/a", "/b", "/c"}
	for _, p := range parents {
		_, err := w.Create(ctx, p, nil, FlagPersistent, WorldACL(PermAll))
		must(t, err)
	}
	gone := connect(t, n, WithSessionTimeout(10*time.Second))
	kept := connect(t, n, WithSessionTimeout(6*time.Second))
	var goneEph, keptEph []string
	for i := 0; i < 20; i++ {
		p, err := gone.Create(ctx, parents[i%3]+"/gone-", []byte("x"), FlagEphemeralSequential, WorldACL(PermAll))
		must(t, err)
		goneEph = append(goneEph, p)
		p, err = kept.Create(ctx, fmt.Sprintf("%s/kept-%d", parents[i%3], i), nil, FlagEphemeral, WorldACL(PermAll))
		must(t, err)
		keptEph = append(keptEph, p)
	}
	goneID, gonePW := gone.SessionID(), gone.SessionPassword()
	keptID, keptPW := kept.SessionID(), kept.SessionPassword()
	before := dumpState(n)
	must(t, n.Close())
	if gone.State() != StateDisconnected {
		t.Fatalf("Conn state after Node.Close: %v, want StateDisconnected", gone.State())
	}

	n2 := openNode(t, persistConfig(dir, clk))
	compareDumps(t, before, dumpState(n2))

	// A wrong password does not resume the session, nor end it.
	bad := slices.Clone(gonePW)
	bad[0] ^= 1
	if _, err := n2.Connect(ctx, WithSession(goneID, bad)); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("resume with a wrong password: %v, want ErrSessionExpired", err)
	}
	if _, err := n2.Connect(ctx, WithSession(12345, gonePW)); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("resume of an unknown session: %v, want ErrSessionExpired", err)
	}
	if !sessionExists(n2, goneID) {
		t.Fatal("a wrong password ended the session")
	}

	resumed := connect(t, n2, WithSession(keptID, keptPW))
	if resumed.SessionTimeout() != 6*time.Second {
		t.Fatalf("resumed session timeout %v, want 6s", resumed.SessionTimeout())
	}
	if ev := <-resumed.Events(); ev.State != StateConnected {
		t.Fatalf("first event of a resumed Conn: %+v", ev)
	}
	eph, err := resumed.Ephemerals(ctx, "/")
	must(t, err)
	slices.Sort(keptEph)
	if !slices.Equal(eph, keptEph) {
		t.Fatalf("resumed session's ephemerals %v, want %v", eph, keptEph)
	}

	// Less than the timeout of the session that did not come back: it lives.
	for range 9 {
		clk.Advance(time.Second)
	}
	_, err = w2(t, n2).Create(ctx, "/barrier", nil, FlagPersistent, WorldACL(PermAll))
	must(t, err)
	if !sessionExists(n2, goneID) {
		t.Fatal("session expired before its timeout")
	}

	lastBefore := n2.LastZxid()
	advanceUntil(t, clk, time.Second, "the abandoned session to expire", func() bool { return !sessionExists(n2, goneID) })
	for _, p := range goneEph {
		if nodeExists(n2, p) {
			t.Fatalf("%s survived its session", p)
		}
	}
	// All of them went in one txn: every parent's pzxid is that zxid.
	after := dumpState(n2)
	z := after.Nodes["/a"].Pzxid
	for _, p := range parents {
		if got := after.Nodes[p].Pzxid; got != z || got <= lastBefore {
			t.Fatalf("pzxid of %s is %#x; /a has %#x; last zxid before expiry %#x", p, got, z, lastBefore)
		}
		if st, was := after.Nodes[p].Stat, before.Nodes[p].Stat; st.Cversion != was.Cversion+int32(len(goneEph)/3)+boolInt(p == "/a" || p == "/b") {
			t.Fatalf("cversion of %s went from %d to %d", p, was.Cversion, st.Cversion)
		}
	}
	if _, err := n2.Connect(ctx, WithSession(goneID, gonePW)); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("resume of an expired session: %v, want ErrSessionExpired", err)
	}

	// The resumed session lives on, however far the clock goes.
	for range 50 {
		clk.Advance(time.Minute)
	}
	_, err = resumed.Create(ctx, "/a/after", nil, FlagEphemeral, WorldACL(PermAll))
	must(t, err)
	for _, p := range keptEph {
		if !nodeExists(n2, p) {
			t.Fatalf("%s of an attached session is gone", p)
		}
	}
	if resumed.State() != StateConnected || !sessionExists(n2, keptID) {
		t.Fatalf("attached session: state %v, exists %v", resumed.State(), sessionExists(n2, keptID))
	}

	// A second restart keeps what the first one left.
	final := dumpState(n2)
	must(t, n2.Close())
	n3 := openNode(t, persistConfig(dir, clk))
	compareDumps(t, final, dumpState(n3))
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// w2 returns a fresh Conn on n, closed at the end of the test.
func w2(t *testing.T, n *Node) *Conn { return connect(t, n) }

// --- 3. snapshots ---

func TestPersistSnapshotThenWrites(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(persistStart)
	n := openNode(t, persistConfig(dir, clk))
	ctx := t.Context()
	c := connect(t, n, WithAuth("digest", []byte("alice:secret")))
	e := connect(t, n, WithAuth("digest", []byte("alice:secret")))
	gone := connect(t, n, WithAuth("digest", []byte("alice:secret")))
	for i := 0; i < 300; i++ {
		_, err := c.Create(ctx, fmt.Sprintf("/s%03d", i), dataFor(i), FlagPersistent, aclFor(i%4*2+1)) // digest or auth
		must(t, err)
	}
	_, err := e.Create(ctx, "/s000/eph", nil, FlagEphemeral, WorldACL(PermAll))
	must(t, err)
	_, err = gone.Create(ctx, "/s001/eph", nil, FlagEphemeral, WorldACL(PermAll))
	must(t, err)
	must(t, n.Snapshot())
	if len(snapshotFiles(t, dir)) == 0 {
		t.Fatal("Snapshot wrote no file")
	}

	// Change what the snapshot holds: deletes, sets, setACLs, a session
	// closed, a session opened, new nodes.
	for i := 0; i < 300; i += 2 {
		p := fmt.Sprintf("/s%03d", i)
		switch i % 6 {
		case 0:
			if i != 0 {
				must(t, c.Delete(ctx, p, AnyVersion))
			}
		case 2:
			_, err := c.Set(ctx, p, binaryData(i+100), 0)
			must(t, err)
		case 4:
			_, err := c.SetACL(ctx, p, WorldACL(PermRead|PermAdmin), 0)
			must(t, err)
		}
	}
	must(t, gone.Close())
	late := connect(t, n, WithSessionTimeout(time.Hour), WithAuth("digest", []byte("alice:secret")))
	_, err = late.Create(ctx, "/s003/late", []byte("late"), FlagEphemeral, WorldACL(PermAll))
	must(t, err)
	_, err = c.Create(ctx, "/s003/seq-", nil, FlagSequence, WorldACL(PermAll))
	must(t, err)
	want := dumpState(n)
	checkInvariants(t, want)
	must(t, n.Close())

	n2 := openNode(t, persistConfig(dir, clk))
	got := dumpState(n2)
	checkInvariants(t, got)
	compareDumps(t, want, got)
}

// TestPersistRestoreFromCompactedLog restarts from a snapshot whose log has
// been compacted away, so the tree must come from the snapshot file.
func TestPersistRestoreFromCompactedLog(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(persistStart)
	cfg := persistConfig(dir, clk)
	cfg.TrailingLogs = 1
	cfg.SnapshotThreshold = 1 << 30 // only the explicit snapshots
	cfg.SnapshotInterval = time.Hour
	n := openNode(t, cfg)
	populate(t, n, 2)
	must(t, n.Snapshot())
	first, err := n.logs.FirstIndex()
	must(t, err)
	last, err := n.logs.LastIndex()
	must(t, err)
	if first < 100 || last-first > 2 {
		t.Fatalf("log not compacted: first index %d, last %d", first, last)
	}
	want := dumpState(n)
	must(t, n.Close())

	n2 := openNode(t, cfg)
	got := dumpState(n2)
	checkInvariants(t, got)
	compareDumps(t, want, got)

	// Write more, snapshot again (the older snapshot is kept, then pruned),
	// write more on top, restart again.
	c := connect(t, n2, WithAuth("digest", []byte("alice:secret")))
	for i := 0; i < 50; i++ {
		_, err := c.Set(ctx2(t), fmt.Sprintf("/bulk/g01/n%04d", i*3+1), []byte("second"), AnyVersion)
		if err != nil && !errors.Is(err, ErrNoNode) && !errors.Is(err, ErrNoAuth) {
			t.Fatal(err)
		}
	}
	must(t, n2.Snapshot())
	for i := 0; i < 3; i++ {
		_, err := c.Create(ctx2(t), "/seq/after-", nil, FlagSequence, WorldACL(PermAll))
		must(t, err)
		must(t, n2.Snapshot())
	}
	must(t, c.Delete(ctx2(t), "/seq/after-0000000221", AnyVersion))
	if files := snapshotFiles(t, dir); len(files) > 2 {
		t.Fatalf("%d snapshots kept, want at most 2", len(files))
	}
	want = dumpState(n2)
	must(t, n2.Close())
	n3 := openNode(t, cfg)
	compareDumps(t, want, dumpState(n3))
}

func ctx2(t *testing.T) context.Context { return t.Context() }

// --- 4. snapshots while writing ---

func TestPersistSnapshotWhileWriting(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(persistStart)
	cfg := persistConfig(dir, clk)
	cfg.TrailingLogs = 16
	cfg.SnapshotThreshold = 1 << 30
	cfg.SnapshotInterval = time.Hour
	n := openNode(t, cfg)
	ctx := t.Context()
	c := connect(t, n)
	const writers = 4
	for g := 0; g < writers; g++ {
		_, err := c.Create(ctx, fmt.Sprintf("/w%d", g), nil, FlagPersistent, WorldACL(PermAll))
		must(t, err)
	}

	// gate lets the test stop the writers for a moment: each holds it for
	// reading around one operation.
	var (
		gate sync.RWMutex
		mu   sync.Mutex
		ops  int
	)
	stop := make(chan struct{})
	opsDone := func() int { mu.Lock(); defer mu.Unlock(); return ops }
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := func(i int) string { return fmt.Sprintf("/w%d/n%05d", g, i) }
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				gate.RLock()
				var err error
				switch {
				case i%7 == 6:
					_, err = c.Multi(ctx, CreateOp(p(i), dataFor(i), FlagPersistent, WorldACL(PermAll)), SetOp(p(i-1), binaryData(i), AnyVersion))
				case i%5 == 0 && i >= 2:
					err = createOpen(ctx, c, p(i), dataFor(i))
					if err == nil {
						err = c.Delete(ctx, p(i-2), AnyVersion)
					}
				case i%3 == 0 && i >= 1:
					err = createOpen(ctx, c, p(i), dataFor(i))
					if err == nil {
						_, err = c.Set(ctx, p(i-1), []byte("set"), AnyVersion)
					}
				default:
					err = createOpen(ctx, c, p(i), dataFor(i))
				}
				gate.RUnlock()
				if err != nil {
					errs <- fmt.Errorf("writer %d op %d: %w", g, i, err)
					return
				}
				mu.Lock()
				ops++
				mu.Unlock()
			}
		}()
	}
	waitOps := func(k int) {
		target := opsDone() + k
		eventually(t, "writers to make progress", func() bool {
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			return opsDone() >= target
		})
	}

	for round := 0; round < 4; round++ {
		waitOps(100)
		// A snapshot of a quiet moment, persisted only after more writes:
		// it must hold that moment, not what came after.
		gate.Lock()
		quiet := dumpState(n)
		s, err := n.fsm.Snapshot()
		gate.Unlock()
		must(t, err)
		// Raft snapshots while the writers run.
		must(t, n.Snapshot())
		waitOps(100)
		must(t, n.Snapshot())
		var buf bytes.Buffer
		must(t, s.(*fsmSnapshot).write(&buf))
		s.Release()
		snap, tr, err := readSnapshot(&buf)
		must(t, err)
		sessions := map[int64]*sessionInfo{}
		for _, ss := range snap.sessions {
			si := ss.sessionInfo
			sessions[ss.id] = &si
		}
		compareDumps(t, quiet, dumpTree(tr, sessions, snap.term, snap.counter))
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d writes", opsDone())
	want := dumpState(n)
	checkInvariants(t, want)
	must(t, n.Close())
	n2 := openNode(t, cfg)
	compareDumps(t, want, dumpState(n2))
}

// createOpen creates a persistent world-open node.
func createOpen(ctx context.Context, c *Conn, path string, data []byte) error {
	_, err := c.Create(ctx, path, data, FlagPersistent, WorldACL(PermAll))
	return err
}

// --- 6. session expiry in memory ---

// forgetConn forgets c's attachment to its node, as if its client had gone
// away: nothing keeps its session alive any more.
func forgetConn(c *Conn) {
	n := c.node()
	n.connsMu.Lock()
	if n.conns[c.id] == c {
		delete(n.conns, c.id)
	}
	n.connsMu.Unlock()
}

func TestSessionExpiryFakeClock(t *testing.T) {
	clk := fakeclock.New(persistStart)
	n := openNode(t, persistConfig("", clk))
	ctx := t.Context()
	attached := connect(t, n, WithSessionTimeout(4*time.Second))
	lost := connect(t, n, WithSessionTimeout(4*time.Second))
	if lost.SessionTimeout() != 4*time.Second {
		t.Fatalf("timeout %v", lost.SessionTimeout())
	}
	parents := []string{"/x", "/y", "/z"}
	for _, p := range parents {
		_, err := attached.Create(ctx, p, nil, FlagPersistent, WorldACL(PermAll))
		must(t, err)
	}
	var lostEph []string
	for i := 0; i < 12; i++ {
		p, err := lost.Create(ctx, parents[i%3]+"/l-", nil, FlagEphemeralSequential, WorldACL(PermAll))
		must(t, err)
		lostEph = append(lostEph, p)
		_, err = attached.Create(ctx, fmt.Sprintf("%s/a%d", parents[i%3], i), nil, FlagEphemeral, WorldACL(PermAll))
		must(t, err)
	}
	// The attached Conn watches one of the lost session's nodes.
	_, _, watch, err := attached.GetW(ctx, lostEph[0])
	must(t, err)
	before := n.LastZxid()

	forgetConn(lost)
	advanceUntil(t, clk, time.Second, "the detached session to expire", func() bool { return !sessionExists(n, lost.SessionID()) })
	d := dumpState(n)
	z := d.Nodes["/x"].Pzxid
	if z <= before {
		t.Fatalf("pzxid %#x not after %#x", z, before)
	}
	for _, p := range parents {
		if d.Nodes[p].Pzxid != z {
			t.Fatalf("ephemerals deleted in more than one txn: pzxid of %s %#x, of /x %#x", p, d.Nodes[p].Pzxid, z)
		}
		if kids := d.Nodes[p].Children; len(kids) != 4 {
			t.Fatalf("children of %s after expiry: %v", p, kids)
		}
	}
	for _, p := range lostEph {
		if nodeExists(n, p) {
			t.Fatalf("%s outlived its session", p)
		}
	}
	select {
	case ev := <-watch:
		if ev.Type != EventNodeDeleted || ev.Path != lostEph[0] {
			t.Fatalf("watch event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NodeDeleted event for an expired session's ephemeral")
	}
	// The expired session's writes fail, and it cannot be resumed.
	if _, err := lost.Create(ctx, "/x/again", nil, FlagEphemeral, WorldACL(PermAll)); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("write of an expired session: %v, want ErrSessionExpired", err)
	}
	if _, err := n.Connect(ctx, WithSession(lost.SessionID(), lost.SessionPassword())); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("resume of an expired session: %v, want ErrSessionExpired", err)
	}

	// The attached session never expires.
	for range 30 {
		clk.Advance(time.Hour)
	}
	_, err = attached.Create(ctx, "/x/still", nil, FlagEphemeral, WorldACL(PermAll))
	must(t, err)
	if attached.State() != StateConnected || !sessionExists(n, attached.SessionID()) {
		t.Fatal("attached session expired")
	}
}

// forceExpire proposes the closeSession txn the leader's tracker proposes
// for a silent session.
func forceExpire(t *testing.T, n *Node, id int64) {
	t.Helper()
	_, err := n.propose(t.Context(), &txn.Txn{Type: txn.TypeCloseSession, Session: id, Time: n.clock.Now().UnixMilli(), Reason: txn.CloseExpired})
	must(t, err)
}

// TestSessionExpiredEvent: an attached Conn whose session the ensemble
// expires (in a single node an attached session never goes silent, so the
// test proposes the expiry itself, as a leader that stopped hearing from
// the Conn's node would) hears StateExpired, and its later operations
// fail with ErrSessionExpired.
func TestSessionExpiredEvent(t *testing.T) {
	clk := fakeclock.New(persistStart)
	n := openNode(t, persistConfig("", clk))
	ctx := t.Context()
	c := connect(t, n, WithSessionTimeout(2*time.Second))
	_, err := c.Create(ctx, "/e", nil, FlagEphemeral, WorldACL(PermAll))
	must(t, err)
	_, _, dw, err := c.GetW(ctx, "/e")
	must(t, err)
	if ev := <-c.Events(); ev.State != StateConnected {
		t.Fatalf("first event %+v", ev)
	}
	// Expire it as the leader's tracker would once the session is silent.
	forceExpire(t, n, c.SessionID())
	select {
	case ev := <-c.Events():
		if ev.Type != EventSession || ev.State != StateExpired {
			t.Fatalf("event %+v, want StateExpired", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no StateExpired event")
	}
	if c.State() != StateExpired {
		t.Fatalf("state %v", c.State())
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("Events not closed after StateExpired")
	}
	if ev := <-dw; ev.Type != EventNotWatching && ev.Type != EventNodeDeleted {
		t.Fatalf("data watch got %+v", ev)
	}
	if _, _, err := c.Get(ctx, "/"); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("read after expiry: %v, want ErrSessionExpired", err)
	}
	if _, err := c.Create(ctx, "/f", nil, FlagPersistent, WorldACL(PermAll)); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("write after expiry: %v, want ErrSessionExpired", err)
	}
	if nodeExists(n, "/e") {
		t.Fatal("ephemeral outlived its session")
	}
	must(t, c.Close())
}

// --- 7. TTL and container reaping ---

func TestReapTTLAndContainersFakeClock(t *testing.T) {
	clk := fakeclock.New(persistStart)
	cfg := persistConfig("", clk)
	cfg.ContainerCheckInterval = 2 * time.Second
	n := openNode(t, cfg)
	ctx := t.Context()
	c := connect(t, n)
	ttl := func(p string, d time.Duration) {
		t.Helper()
		_, _, err := c.CreateTTL(ctx, p, nil, FlagTTL, WorldACL(PermAll), d)
		must(t, err)
	}
	mk := func(p string, mode CreateMode) {
		t.Helper()
		_, err := c.Create(ctx, p, nil, mode, WorldACL(PermAll))
		must(t, err)
	}
	ttl("/ttl-lone", 5*time.Second)
	ttl("/ttl-kid", 5*time.Second)
	mk("/ttl-kid/c", FlagPersistent)
	ttl("/ttl-set", 5*time.Second)
	mk("/cont-used", FlagContainer)
	mk("/cont-used/c", FlagPersistent)
	must(t, c.Delete(ctx, "/cont-used/c", AnyVersion))
	mk("/cont-full", FlagContainer)
	mk("/cont-full/c", FlagPersistent)
	mk("/cont-never", FlagContainer)
	mk("/plain", FlagPersistent)

	// Four seconds on, the TTLs have not passed: a change restarts one.
	for range 4 {
		clk.Advance(time.Second)
	}
	if !nodeExists(n, "/ttl-lone") {
		t.Fatal("/ttl-lone reaped before its TTL")
	}
	_, err := c.Set(ctx, "/ttl-set", []byte("x"), AnyVersion)
	must(t, err)
	setAt := clk.Now()

	advanceUntil(t, clk, time.Second, "/ttl-lone and /cont-used to be reaped", func() bool {
		return !nodeExists(n, "/ttl-lone") && !nodeExists(n, "/cont-used")
	})
	if since := clk.Now().Sub(persistStart); since <= 5*time.Second {
		t.Fatalf("/ttl-lone reaped %v after its creation, TTL 5s", since)
	}
	if clk.Now().Sub(setAt) <= 5*time.Second && !nodeExists(n, "/ttl-set") {
		t.Fatal("/ttl-set reaped within its TTL of its last change")
	}
	for _, p := range []string{"/ttl-kid", "/ttl-kid/c", "/cont-full", "/cont-full/c", "/cont-never", "/plain"} {
		if !nodeExists(n, p) {
			t.Fatalf("%s reaped", p)
		}
	}

	// Emptied, they go too; the changed TTL node goes once its TTL passes.
	must(t, c.Delete(ctx, "/ttl-kid/c", AnyVersion))
	must(t, c.Delete(ctx, "/cont-full/c", AnyVersion))
	advanceUntil(t, clk, time.Second, "emptied nodes to be reaped", func() bool {
		return !nodeExists(n, "/ttl-kid") && !nodeExists(n, "/cont-full") && !nodeExists(n, "/ttl-set")
	})
	if clk.Now().Sub(setAt) <= 5*time.Second {
		t.Fatalf("/ttl-set reaped %v after its last change, TTL 5s", clk.Now().Sub(setAt))
	}

	// A sentinel proves reaping passes ran after that: the never-used
	// container and the plain node stay (ZooKeeper reaps only containers
	// with cversion > 0).
	ttl("/sentinel", time.Millisecond)
	advanceUntil(t, clk, time.Second, "/sentinel to be reaped", func() bool { return !nodeExists(n, "/sentinel") })
	for range 10 {
		clk.Advance(time.Minute)
	}
	ttl("/sentinel", time.Millisecond)
	advanceUntil(t, clk, time.Second, "/sentinel to be reaped again", func() bool { return !nodeExists(n, "/sentinel") })
	for _, p := range []string{"/cont-never", "/plain"} {
		if !nodeExists(n, p) {
			t.Fatalf("%s reaped", p)
		}
	}
}

// --- 8. negotiated session timeouts ---

func TestNegotiatedSessionTimeout(t *testing.T) {
	clk := fakeclock.New(persistStart)
	cfg := persistConfig("", clk)
	cfg.TickTime = 100 * time.Millisecond
	n := openNode(t, cfg)
	for _, tc := range []struct{ ask, want time.Duration }{
		{time.Millisecond, 200 * time.Millisecond},         // below 2×TickTime
		{199 * time.Millisecond, 200 * time.Millisecond},   //
		{200 * time.Millisecond, 200 * time.Millisecond},   // the bounds themselves
		{1500 * time.Millisecond, 1500 * time.Millisecond}, // inside
		{2 * time.Second, 2 * time.Second},                 //
		{2001 * time.Millisecond, 2 * time.Second},         // above 20×TickTime
		{time.Hour, 2 * time.Second},                       //
		{0, 2 * time.Second},                               // 0 asks the default, 10s
	} {
		opts := []ConnectOption{WithSessionTimeout(tc.ask)}
		if tc.ask == 0 {
			opts = nil
		}
		c := connect(t, n, opts...)
		if got := c.SessionTimeout(); got != tc.want {
			t.Errorf("asked %v: got %v, want %v", tc.ask, got, tc.want)
		}
		si, ok := n.fsm.session(c.SessionID())
		if !ok || time.Duration(si.timeout)*time.Millisecond != tc.want {
			t.Errorf("asked %v: replicated timeout %v", tc.ask, si)
		}
		must(t, c.Close())
	}

	cfg.MinSessionTimeout = 500 * time.Millisecond
	cfg.MaxSessionTimeout = 3 * time.Second
	n2 := openNode(t, cfg)
	for _, tc := range []struct{ ask, want time.Duration }{
		{100 * time.Millisecond, 500 * time.Millisecond},
		{time.Second, time.Second},
		{10 * time.Second, 3 * time.Second},
	} {
		c := connect(t, n2, WithSessionTimeout(tc.ask))
		if got := c.SessionTimeout(); got != tc.want {
			t.Errorf("with min/max: asked %v: got %v, want %v", tc.ask, got, tc.want)
		}
		must(t, c.Close())
	}

	cfg.MinSessionTimeout, cfg.MaxSessionTimeout = 3*time.Second, time.Second
	if _, err := Open(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Open with MinSessionTimeout > MaxSessionTimeout: %v", err)
	}
}
