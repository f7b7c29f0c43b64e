package zk

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/zkraft/zk/internal/txn"
)

// --- helpers (prefixed h1 to stay clear of other test files) ---

const h1Session = int64(0x1234)

// h1Ctx is a system context (no ACL checks) for zxid and time.
func h1Ctx(zxid, time int64) *txnContext {
	return &txnContext{zxid: zxid, time: time, session: h1Session, system: true}
}

// h1UserCtx is a context that checks ACLs against ids.
func h1UserCtx(zxid, time int64, ids ...ID) *txnContext {
	return &txnContext{zxid: zxid, time: time, session: h1Session, auth: ids}
}

func h1Create(t *testing.T, tr *tree, c *txnContext, path string, data []byte, mode CreateMode, acl []ACL) (string, Stat) {
	t.Helper()
	if acl == nil {
		acl = openACL
	}
	p, st, err := tr.create(c, &createArgs{path: path, data: data, acl: acl, mode: mode, ttl: h1TTLFor(mode)}, nil)
	if err != nil {
		t.Fatalf("create %s (%v): %v", path, mode, err)
	}
	return p, st
}

func h1TTLFor(mode CreateMode) int64 {
	if mode.isTTL() {
		return 5000
	}
	return 0
}

func h1Stat(t *testing.T, tr *tree, path string) Stat {
	t.Helper()
	_, st, err := tr.get(path, nil)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	return st
}

// h1NodeState is everything observable or persisted about one node.
type h1NodeState struct {
	Data     []byte
	DataNil  bool
	ACL      []ACL
	ACLKey   string
	Children []string
	Czxid    int64
	Mzxid    int64
	Pzxid    int64
	Ctime    int64
	Mtime    int64
	Version  int32
	Creates  int32
	Aversion int32
	Owner    int64
	Stat     Stat
}

type h1TreeState struct {
	Nodes      map[string]h1NodeState
	Ephemerals map[int64][]string
	Containers []string
	TTLs       []string
	ACLRefs    map[string]int
}

func h1Keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func h1Dump(tr *tree) h1TreeState {
	s := h1TreeState{
		Nodes:      make(map[string]h1NodeState),
		Ephemerals: make(map[int64][]string),
		Containers: h1Keys(tr.containers),
		TTLs:       h1Keys(tr.ttls),
		ACLRefs:    make(map[string]int),
	}
	for p, n := range tr.nodes {
		s.Nodes[p] = h1NodeState{
			Data: slices.Clone(n.data), DataNil: n.data == nil,
			ACL: slices.Clone(n.acl.acl), ACLKey: n.acl.key,
			Children: slices.Clone(n.childList()),
			Czxid:    n.czxid, Mzxid: n.mzxid, Pzxid: n.pzxid,
			Ctime: n.ctime, Mtime: n.mtime,
			Version: n.version, Creates: n.creates, Aversion: n.aversion,
			Owner: n.owner, Stat: n.stat(),
		}
	}
	for id, set := range tr.ephemerals {
		s.Ephemerals[id] = h1Keys(set)
	}
	for k, e := range tr.acls.m {
		s.ACLRefs[k] = e.refs
	}
	return s
}

// h1CheckInvariants verifies the tree's internal indexes agree with its
// nodes.
func h1CheckInvariants(t *testing.T, tr *tree) {
	t.Helper()
	refs := make(map[*aclEntry]int)
	for p, n := range tr.nodes {
		if n.acl == nil {
			t.Errorf("%s: nil ACL entry", p)
			continue
		}
		refs[n.acl]++
		if got := tr.acls.m[n.acl.key]; got != n.acl {
			t.Errorf("%s: ACL entry %q not the cached one", p, n.acl.key)
		}
		if p != "/" {
			parent, name := splitPath(p)
			pn := tr.nodes[parent]
			if pn == nil {
				t.Errorf("%s: parent %s missing", p, parent)
			} else if _, ok := pn.children[name]; !ok {
				t.Errorf("%s: not a child of %s", p, parent)
			}
		}
		for c := range n.children {
			if tr.nodes[joinPath(p, c)] == nil {
				t.Errorf("%s: child %s has no node", p, c)
			}
		}
		want := slices.Sorted(func(yield func(string) bool) {
			for c := range n.children {
				if !yield(c) {
					return
				}
			}
		})
		if got := n.childList(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: cached children %v, want %v", p, got, want)
		}
		_, inC := tr.containers[p]
		_, inT := tr.ttls[p]
		_, inE := tr.ephemerals[n.owner][p]
		k := ownerKind(n.owner)
		if inC != (k == kindContainer) || inT != (k == kindTTL) || inE != (k == kindEphemeral) {
			t.Errorf("%s: index membership container=%v ttl=%v ephemeral=%v for kind %v", p, inC, inT, inE, k)
		}
	}
	for e, n := range refs {
		if e.refs != n {
			t.Errorf("ACL %q: refs %d, used by %d nodes", e.key, e.refs, n)
		}
	}
	for k, e := range tr.acls.m {
		if refs[e] == 0 {
			t.Errorf("ACL %q cached with refs %d but used by no node", k, e.refs)
		}
	}
	for id, set := range tr.ephemerals {
		if len(set) == 0 {
			t.Errorf("session %#x: empty ephemeral set kept", id)
		}
		for p := range set {
			if n := tr.nodes[p]; n == nil || n.owner != id {
				t.Errorf("session %#x: indexed ephemeral %s missing or not owned", id, p)
			}
		}
	}
	for p := range tr.containers {
		if tr.nodes[p] == nil {
			t.Errorf("container index holds missing %s", p)
		}
	}
	for p := range tr.ttls {
		if tr.nodes[p] == nil {
			t.Errorf("ttl index holds missing %s", p)
		}
	}
}

// --- 1. path validation ---

func TestTreeValidatePath(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		valid bool
	}{
		{"root", "/", true},
		{"one segment", "/a", true},
		{"two segments", "/a/b", true},
		{"dot inside name", "/a.b", true},
		{"dot-dot prefix", "/..a", true},
		{"dot prefix", "/.a", true},
		{"dot suffix", "/a.", true},
		{"three dots", "/...", true},
		{"dot-dot suffix", "/a..", true},
		{"spaces", "/ a b ", true},
		{"latin1 U+00A0", "/\u00a0", true},
		{"U+00FF", "/\u00ff", true},
		{"U+D7FF below surrogates", "/\ud7ff", true},
		{"U+F900 above private use", "/\uf900", true},
		{"U+FFEF below specials", "/\uffef", true},
		{"CJK", "/日本語", true},
		{"tilde U+007E", "/~", true},

		{"empty", "", false},
		{"relative", "a", false},
		{"relative two segments", "a/b", false},
		{"trailing slash", "/a/", false},
		{"double slash", "//", false},
		{"inner double slash", "/a//b", false},
		{"double slash at start", "//a", false},
		{"dot", "/.", false},
		{"dot-dot", "/..", false},
		{"inner dot", "/a/./b", false},
		{"inner dot-dot", "/a/../b", false},
		{"trailing dot", "/a/.", false},
		{"trailing dot-dot", "/a/..", false},
		{"NUL", "/a\x00b", false},
		{"NUL only", "/\x00", false},
		{"U+0001", "/\u0001", false},
		{"tab U+0009", "/a\tb", false},
		{"newline", "/a\n", false},
		{"U+001F", "/\u001f", false},
		{"DEL U+007F", "/\u007f", false},
		{"U+0080", "/\u0080", false},
		{"U+009F", "/\u009f", false},
		{"U+E000 private use", "/\ue000", false},
		{"U+F8FF last private use", "/\uf8ff", false},
		{"U+FFF0", "/\ufff0", false},
		{"U+FFFD replacement", "/\ufffd", false},
		{"U+FFFF", "/\uffff", false},
		{"supplementary U+1F600 (surrogate pair in Java)", "/\U0001F600", false},
		{"supplementary U+10000", "/\U00010000", false},
		{"encoded surrogate bytes", "/\xed\xa0\x80", false},
		{"invalid UTF-8 byte", "/a\xffb", false},
		{"truncated UTF-8", "/\xe6\x97", false},
		{"lone continuation byte", "/\x80", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validatePath(tc.path)
			if tc.valid && err != nil {
				t.Fatalf("validatePath(%q) = %v, want nil", tc.path, err)
			}
			if !tc.valid && err != ErrBadArguments {
				t.Fatalf("validatePath(%q) = %v, want ErrBadArguments", tc.path, err)
			}
		})
	}
}

// TestTreeInvalidPathRuneRanges sweeps the whole BMP and the edges above
// it against ZooKeeper's character table.
func TestTreeInvalidPathRuneRanges(t *testing.T) {
	zkInvalid := func(r rune) bool {
		return r == 0 || r <= 0x1f || (r >= 0x7f && r <= 0x9f) ||
			(r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) || r > 0xffff
	}
	for r := rune(0); r <= 0x10ffff; r++ {
		if r > 0x10000 && r < 0x10fff0 && r%4099 != 0 {
			continue // sample the supplementary planes
		}
		if got, want := invalidPathRune(r), zkInvalid(r); got != want {
			t.Errorf("invalidPathRune(%U) = %v, want %v", r, got, want)
		}
	}
}

func TestTreeSequentialPathValidation(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		mode    CreateMode
		want    string
		wantErr error
	}{
		{"trailing slash sequential", "/p/", FlagSequence, "/p/0000000000", nil},
		{"trailing slash ephemeral sequential", "/p/", FlagEphemeralSequential, "/p/0000000000", nil},
		{"trailing slash TTL sequential", "/p/", FlagSequenceTTL, "/p/0000000000", nil},
		{"trailing slash persistent", "/p/", FlagPersistent, "", ErrBadArguments},
		{"root sequential (root counted /p)", "/", FlagSequence, "/0000000001", nil},
		{"root persistent exists", "/", FlagPersistent, "", ErrNodeExists},
		{"dot prefix sequential", "/p/.", FlagSequence, "/p/.0000000000", nil},
		{"dot-dot prefix sequential", "/p/..", FlagSequence, "/p/..0000000000", nil},
		{"dot persistent", "/p/.", FlagPersistent, "", ErrBadArguments},
		{"control char sequential", "/p/\x01", FlagSequence, "", ErrBadArguments},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree()
			c := h1Ctx(5, 50)
			h1Create(t, tr, c, "/p", nil, FlagPersistent, nil)
			before := h1Dump(tr)
			got, _, err := tr.create(h1Ctx(6, 60), &createArgs{path: tc.path, acl: openACL, mode: tc.mode, ttl: h1TTLFor(tc.mode)}, nil)
			if err != tc.wantErr {
				t.Fatalf("create(%q, %v) err = %v, want %v", tc.path, tc.mode, err, tc.wantErr)
			}
			if err != nil {
				if after := h1Dump(tr); !reflect.DeepEqual(before, after) {
					t.Fatalf("failed create changed the tree")
				}
				return
			}
			if got != tc.want {
				t.Fatalf("create(%q, %v) = %q, want %q", tc.path, tc.mode, got, tc.want)
			}
			if _, ok := tr.nodes[got]; !ok {
				t.Fatalf("%s not in the tree", got)
			}
			h1CheckInvariants(t, tr)
		})
	}
}

// --- 2. Stat after every kind of operation ---

func TestTreeStatCreate(t *testing.T) {
	const (
		pZxid, pTime = int64(10), int64(1000)
		zxid, now    = int64(0x300000007), int64(1_700_000_000_123)
	)
	tests := []struct {
		name      string
		mode      CreateMode
		data      []byte
		path      string // requested
		wantPath  string
		wantOwner int64 // ephemeralOwner shown
		stored    int64 // stored owner
		index     string
	}{
		{"persistent", FlagPersistent, []byte("hello"), "/p/n", "/p/n", 0, 0, ""},
		{"persistent nil data", FlagPersistent, nil, "/p/n", "/p/n", 0, 0, ""},
		{"persistent empty data", FlagPersistent, []byte{}, "/p/n", "/p/n", 0, 0, ""},
		{"ephemeral", FlagEphemeral, []byte("e"), "/p/n", "/p/n", h1Session, h1Session, "ephemeral"},
		{"sequential", FlagSequence, []byte("ab"), "/p/n-", "/p/n-0000000000", 0, 0, ""},
		{"ephemeral sequential", FlagEphemeralSequential, nil, "/p/n-", "/p/n-0000000000", h1Session, h1Session, "ephemeral"},
		{"container", FlagContainer, []byte("c"), "/p/n", "/p/n", 0, ownerContainer, "container"},
		{"ttl", FlagTTL, []byte("t"), "/p/n", "/p/n", 0, ownerTTLMarker | 5000, "ttl"},
		{"sequential ttl", FlagSequenceTTL, nil, "/p/n-", "/p/n-0000000000", 0, ownerTTLMarker | 5000, "ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree()
			h1Create(t, tr, h1Ctx(pZxid, pTime), "/p", []byte("parent"), FlagPersistent, nil)
			parentBefore := h1Stat(t, tr, "/p")

			path, st := h1Create(t, tr, h1Ctx(zxid, now), tc.path, tc.data, tc.mode, nil)
			if path != tc.wantPath {
				t.Fatalf("path = %q, want %q", path, tc.wantPath)
			}
			want := Stat{
				Czxid: zxid, Mzxid: zxid, Pzxid: zxid,
				Ctime: now, Mtime: now,
				EphemeralOwner: tc.wantOwner,
				DataLength:     int32(len(tc.data)),
			}
			if st != want {
				t.Errorf("create Stat = %+v\nwant           %+v", st, want)
			}
			if got := h1Stat(t, tr, path); got != want {
				t.Errorf("get Stat = %+v\nwant        %+v", got, want)
			}
			data, _, _ := tr.get(path, nil)
			if !reflect.DeepEqual(data, tc.data) {
				t.Errorf("data = %#v, want %#v (nil and empty kept apart)", data, tc.data)
			}
			if got := tr.nodes[path].owner; got != tc.stored {
				t.Errorf("stored owner = %#x, want %#x", got, tc.stored)
			}
			_, inE := tr.ephemerals[h1Session][path]
			_, inC := tr.containers[path]
			_, inT := tr.ttls[path]
			if inE != (tc.index == "ephemeral") || inC != (tc.index == "container") || inT != (tc.index == "ttl") {
				t.Errorf("index: ephemeral=%v container=%v ttl=%v, want %q", inE, inC, inT, tc.index)
			}

			wantParent := parentBefore
			wantParent.Pzxid = zxid
			wantParent.Cversion++
			wantParent.NumChildren++
			if got := h1Stat(t, tr, "/p"); got != wantParent {
				t.Errorf("parent Stat = %+v\nwant           %+v", got, wantParent)
			}
			h1CheckInvariants(t, tr)
		})
	}
}

func TestTreeStatMutations(t *testing.T) {
	type step struct {
		name string
		do   func(t *testing.T, tr *tree) error
		// expected changes relative to the Stats before the step
		node   func(before Stat) Stat
		parent func(before Stat) Stat
	}
	same := func(s Stat) Stat { return s }
	tests := []step{
		{
			name: "setData",
			do: func(t *testing.T, tr *tree) error {
				_, err := tr.setData(h1Ctx(50, 5000), "/p/n", []byte("longer data"), 0, nil)
				return err
			},
			node: func(s Stat) Stat {
				s.Mzxid, s.Mtime, s.Version, s.DataLength = 50, 5000, s.Version+1, 11
				return s
			},
			parent: same,
		},
		{
			name: "setData nil",
			do: func(t *testing.T, tr *tree) error {
				_, err := tr.setData(h1Ctx(50, 5000), "/p/n", nil, AnyVersion, nil)
				return err
			},
			node: func(s Stat) Stat {
				s.Mzxid, s.Mtime, s.Version, s.DataLength = 50, 5000, s.Version+1, 0
				return s
			},
			parent: same,
		},
		{
			name: "setACL",
			do: func(t *testing.T, tr *tree) error {
				_, err := tr.setACL(h1Ctx(50, 5000), "/p/n", WorldACL(PermRead), 0)
				return err
			},
			node: func(s Stat) Stat {
				s.Aversion++ // mzxid and mtime untouched, as ZooKeeper
				return s
			},
			parent: same,
		},
		{
			name: "create grandchild",
			do: func(t *testing.T, tr *tree) error {
				_, _, err := tr.create(h1Ctx(50, 5000), &createArgs{path: "/p/n/g", acl: openACL}, nil)
				return err
			},
			node: func(s Stat) Stat {
				s.Pzxid, s.Cversion, s.NumChildren = 50, s.Cversion+1, s.NumChildren+1
				return s
			},
			parent: same,
		},
		{
			name: "check",
			do: func(t *testing.T, tr *tree) error {
				return tr.check(h1Ctx(50, 5000), "/p/n", 0)
			},
			node:   same,
			parent: same,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree()
			h1Create(t, tr, h1Ctx(10, 1000), "/p", []byte("parent"), FlagPersistent, nil)
			h1Create(t, tr, h1Ctx(20, 2000), "/p/n", []byte("x"), FlagPersistent, nil)
			nb, pb := h1Stat(t, tr, "/p/n"), h1Stat(t, tr, "/p")
			if err := tc.do(t, tr); err != nil {
				t.Fatal(err)
			}
			if got, want := h1Stat(t, tr, "/p/n"), tc.node(nb); got != want {
				t.Errorf("node Stat = %+v\nwant        %+v", got, want)
			}
			if got, want := h1Stat(t, tr, "/p"), tc.parent(pb); got != want {
				t.Errorf("parent Stat = %+v\nwant          %+v", got, want)
			}
			h1CheckInvariants(t, tr)
		})
	}
}

func TestTreeStatReturnedBySetMatchesGet(t *testing.T) {
	tr := newTree()
	h1Create(t, tr, h1Ctx(10, 1000), "/n", []byte("x"), FlagPersistent, nil)
	st, err := tr.setData(h1Ctx(11, 1100), "/n", []byte("yy"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h1Stat(t, tr, "/n"); got != st {
		t.Errorf("setData returned %+v, get says %+v", st, got)
	}
	st, err = tr.setACL(h1Ctx(12, 1200), "/n", WorldACL(PermAll), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := h1Stat(t, tr, "/n"); got != st {
		t.Errorf("setACL returned %+v, get says %+v", st, got)
	}
	if st.Aversion != 1 || st.Version != 1 || st.Mzxid != 11 || st.Mtime != 1100 {
		t.Errorf("after setData+setACL Stat = %+v", st)
	}
}

func TestTreeStatDelete(t *testing.T) {
	tests := []struct {
		name string
		mode CreateMode
	}{
		{"persistent", FlagPersistent},
		{"ephemeral", FlagEphemeral},
		{"container", FlagContainer},
		{"ttl", FlagTTL},
		{"sequential", FlagSequence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree()
			h1Create(t, tr, h1Ctx(10, 1000), "/p", []byte("parent"), FlagPersistent, nil)
			h1Create(t, tr, h1Ctx(11, 1100), "/p/keep", nil, FlagPersistent, nil)
			path, _ := h1Create(t, tr, h1Ctx(20, 2000), "/p/n", nil, tc.mode, nil)
			pb := h1Stat(t, tr, "/p")
			if err := tr.remove(h1Ctx(30, 3000), path, AnyVersion, nil); err != nil {
				t.Fatal(err)
			}
			want := pb
			want.Pzxid = 30
			want.Cversion++ // ZooKeeper counts deletes too
			want.NumChildren--
			if got := h1Stat(t, tr, "/p"); got != want {
				t.Errorf("parent Stat = %+v\nwant          %+v", got, want)
			}
			if want.Cversion != 3 || want.NumChildren != 1 {
				t.Errorf("cversion %d numChildren %d, want 3 and 1", want.Cversion, want.NumChildren)
			}
			if _, _, err := tr.get(path, nil); err != ErrNoNode {
				t.Errorf("get after delete: %v, want ErrNoNode", err)
			}
			if len(tr.ephemerals) != 0 || len(tr.containers) != 0 || len(tr.ttls) != 0 {
				t.Errorf("indexes not emptied: %v %v %v", tr.ephemerals, tr.containers, tr.ttls)
			}
			h1CheckInvariants(t, tr)
		})
	}
}

func TestTreeCversionCountsCreatesAndDeletes(t *testing.T) {
	tr := newTree()
	h1Create(t, tr, h1Ctx(1, 1), "/p", nil, FlagPersistent, nil)
	ops := []struct {
		create      bool
		name        string
		wantCver    int32
		wantNumKids int32
	}{
		{true, "a", 1, 1},
		{true, "b", 2, 2},
		{false, "a", 3, 1},
		{true, "a", 4, 2},
		{false, "a", 5, 1},
		{false, "b", 6, 0},
		{true, "c", 7, 1},
	}
	for i, op := range ops {
		z := int64(10 + i)
		if op.create {
			h1Create(t, tr, h1Ctx(z, z), "/p/"+op.name, nil, FlagPersistent, nil)
		} else if err := tr.remove(h1Ctx(z, z), "/p/"+op.name, AnyVersion, nil); err != nil {
			t.Fatal(err)
		}
		st := h1Stat(t, tr, "/p")
		if st.Cversion != op.wantCver || st.NumChildren != op.wantNumKids || st.Pzxid != z {
			t.Errorf("step %d: cversion %d numChildren %d pzxid %d, want %d %d %d", i, st.Cversion, st.NumChildren, st.Pzxid, op.wantCver, op.wantNumKids, z)
		}
	}
}

func TestTreeSetACLOnConfigFromAversionMinusOne(t *testing.T) {
	tr := newTree()
	// /zookeeper/config has aversion -1: version -1 is "any", and the next
	// aversion is 0.
	st, err := tr.setACL(h1Ctx(5, 5), "/zookeeper/config", openACL, AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	if st.Aversion != 0 {
		t.Errorf("aversion = %d, want 0", st.Aversion)
	}
}

// --- 3. sequence naming ---

func TestTreeSequenceSuffix(t *testing.T) {
	tests := []struct {
		n    int32
		want string
	}{
		{0, "0000000000"},
		{7, "0000000007"},
		{123456789, "0123456789"},
		{1234567890, "1234567890"},
		{math.MaxInt32, "2147483647"},
		// Java's String.format("%010d", n) pads after the sign.
		{-1, "-000000001"},
		{-123, "-000000123"},
		{-999999999, "-999999999"},
		{math.MinInt32, "-2147483648"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			if got := sequenceSuffix(tc.n); got != tc.want {
				t.Errorf("sequenceSuffix(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}

func TestTreeSequenceNaming(t *testing.T) {
	type step struct {
		op      string // "create" or "delete"
		path    string
		mode    CreateMode
		want    string
		wantErr error
	}
	tests := []struct {
		name     string
		steps    []step
		children []string // of /p at the end
	}{
		{
			name: "delete does not reuse",
			steps: []step{
				{"create", "/p/s-", FlagSequence, "/p/s-0000000000", nil},
				{"delete", "/p/s-0000000000", 0, "", nil},
				{"create", "/p/s-", FlagSequence, "/p/s-0000000001", nil},
			},
			children: []string{"s-0000000001"},
		},
		{
			name: "mixed sequential and plain share the counter",
			steps: []step{
				{"create", "/p/a-", FlagSequence, "/p/a-0000000000", nil},
				{"create", "/p/b-", FlagSequence, "/p/b-0000000001", nil},
				{"create", "/p/plain", FlagPersistent, "/p/plain", nil},
				{"create", "/p/a-", FlagSequence, "/p/a-0000000003", nil},
				{"delete", "/p/a-0000000000", 0, "", nil},
				{"create", "/p/b-", FlagSequence, "/p/b-0000000004", nil},
				{"create", "/p/plain", FlagPersistent, "", ErrNodeExists},
				{"create", "/p/missing/x-", FlagSequence, "", ErrNoNode},
				{"create", "/p/a-", FlagSequence, "/p/a-0000000005", nil},
				{"create", "/p/e-", FlagEphemeralSequential, "/p/e-0000000006", nil},
				{"create", "/p/", FlagSequence, "/p/0000000007", nil},
				{"delete", "/p/plain", 0, "", nil},
				{"delete", "/p/b-0000000001", 0, "", nil},
				{"create", "/p/z-", FlagSequence, "/p/z-0000000008", nil},
				{"create", "/p/c", FlagContainer, "/p/c", nil},
				{"create", "/p/t-", FlagSequenceTTL, "/p/t-0000000010", nil},
			},
			children: []string{"0000000007", "a-0000000003", "a-0000000005", "b-0000000004", "c", "e-0000000006", "t-0000000010", "z-0000000008"},
		},
		{
			name: "failed sequential create does not advance",
			steps: []step{
				{"create", "/p/x0000000001", FlagPersistent, "/p/x0000000001", nil},
				{"create", "/p/x", FlagSequence, "", ErrNodeExists},
				{"create", "/p/y", FlagSequence, "/p/y0000000001", nil},
			},
			children: []string{"x0000000001", "y0000000001"},
		},
		{
			name: "grandchild creates count on their own parent",
			steps: []step{
				{"create", "/p/q", FlagPersistent, "/p/q", nil},
				{"create", "/p/q/s-", FlagSequence, "/p/q/s-0000000000", nil},
				{"create", "/p/q/s-", FlagSequence, "/p/q/s-0000000001", nil},
				{"create", "/p/s-", FlagSequence, "/p/s-0000000001", nil},
			},
			children: []string{"q", "s-0000000001"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree()
			h1Create(t, tr, h1Ctx(1, 1), "/p", nil, FlagPersistent, nil)
			for i, s := range tc.steps {
				c := h1Ctx(int64(10+i), int64(100+i))
				if s.op == "delete" {
					if err := tr.remove(c, s.path, AnyVersion, nil); err != s.wantErr {
						t.Fatalf("step %d: delete %s: %v, want %v", i, s.path, err, s.wantErr)
					}
					continue
				}
				got, _, err := tr.create(c, &createArgs{path: s.path, acl: openACL, mode: s.mode, ttl: h1TTLFor(s.mode)}, nil)
				if err != s.wantErr || got != s.want {
					t.Fatalf("step %d: create %s (%v) = %q, %v; want %q, %v", i, s.path, s.mode, got, err, s.want, s.wantErr)
				}
			}
			kids, _, err := tr.children("/p", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(kids, tc.children) {
				t.Errorf("children = %v, want %v", kids, tc.children)
			}
			h1CheckInvariants(t, tr)
		})
	}
}

func TestTreeSequentialUnderRoot(t *testing.T) {
	tr := newTree()
	// The root's stored cversion is 0: /zookeeper was not counted.
	got, _ := h1Create(t, tr, h1Ctx(1, 1), "/s-", nil, FlagSequence, nil)
	if got != "/s-0000000000" {
		t.Errorf("first sequential under / = %q, want /s-0000000000", got)
	}
	h1Create(t, tr, h1Ctx(2, 2), "/plain", nil, FlagPersistent, nil)
	got, _ = h1Create(t, tr, h1Ctx(3, 3), "/", nil, FlagSequence, nil)
	if got != "/0000000002" {
		t.Errorf("sequential \"/\" = %q, want /0000000002", got)
	}
	if st := h1Stat(t, tr, "/"); st.Cversion != 2*3-4 || st.NumChildren != 4 || st.Pzxid != 3 {
		t.Errorf("root Stat = %+v", st)
	}
}

// --- 7. version wrap ---

func TestTreeVersionWrap(t *testing.T) {
	tests := []struct {
		from, want int32
	}{
		{0, 1},
		{41, 42},
		{math.MaxInt32, math.MinInt32}, // Java int overflow
		{math.MinInt32, math.MinInt32 + 1},
		{-3, -2},
		{-2, 0}, // never -1, the "any version" value (ZOOKEEPER-4743)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d", tc.from), func(t *testing.T) {
			if got := nextVersion(tc.from); got != tc.want {
				t.Errorf("nextVersion(%d) = %d, want %d", tc.from, got, tc.want)
			}
			tr := newTree()
			h1Create(t, tr, h1Ctx(1, 1), "/n", nil, FlagPersistent, nil)
			tr.nodes["/n"].version = tc.from
			tr.nodes["/n"].aversion = tc.from
			st, err := tr.setData(h1Ctx(2, 2), "/n", nil, tc.from, nil)
			if err != nil {
				t.Fatalf("setData at version %d: %v", tc.from, err)
			}
			if st.Version != tc.want {
				t.Errorf("setData version %d -> %d, want %d", tc.from, st.Version, tc.want)
			}
			if tc.from != AnyVersion {
				st, err = tr.setACL(h1Ctx(3, 3), "/n", openACL, tc.from)
				if err != nil {
					t.Fatalf("setACL at aversion %d: %v", tc.from, err)
				}
				if st.Aversion != tc.want {
					t.Errorf("setACL aversion %d -> %d, want %d", tc.from, st.Aversion, tc.want)
				}
			}
		})
	}
}

// --- 8. initial tree ---

func TestTreeInitial(t *testing.T) {
	// As a fresh ZooKeeper 3.8 server shows them (testdata/zk38 initial_tree).
	tests := []struct {
		path     string
		cversion int32
		aversion int32
		kids     []string
		acl      []ACL
	}{
		{"/", -1, 0, []string{"zookeeper"}, WorldACL(PermAll)},
		{"/zookeeper", -2, 0, []string{"config", "quota"}, WorldACL(PermAll)},
		{"/zookeeper/quota", 0, 0, []string{}, WorldACL(PermAll)},
		{"/zookeeper/config", 0, -1, []string{}, WorldACL(PermRead)},
	}
	tr := newTree()
	if len(tr.nodes) != len(tests) {
		t.Errorf("initial tree has %d nodes, want %d", len(tr.nodes), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			data, st, err := tr.get(tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if data == nil || len(data) != 0 {
				t.Errorf("data = %#v, want empty", data)
			}
			want := Stat{Cversion: tc.cversion, Aversion: tc.aversion, NumChildren: int32(len(tc.kids))}
			if st != want {
				t.Errorf("Stat = %+v\nwant   %+v", st, want)
			}
			kids, _, _ := tr.children(tc.path, nil)
			if len(kids) != 0 || len(tc.kids) != 0 {
				if !reflect.DeepEqual(kids, tc.kids) {
					t.Errorf("children = %v, want %v", kids, tc.kids)
				}
			}
			acl, _, err := tr.getACL(tc.path, nil)
			if err != nil || !reflect.DeepEqual(acl, tc.acl) {
				t.Errorf("ACL = %v, %v; want %v", acl, err, tc.acl)
			}
		})
	}
	h1CheckInvariants(t, tr)
	if tr.acls.m[aclKey(openACL)].refs != 3 || tr.acls.m[aclKey(readACL)].refs != 1 {
		t.Errorf("ACL refs: open %d read %d, want 3 and 1", tr.acls.m[aclKey(openACL)].refs, tr.acls.m[aclKey(readACL)].refs)
	}
}

// --- 4. errors and their precedence ---

var (
	h1UserID  = ID{Scheme: "digest", ID: DigestID("user", "password")}
	h1OtherID = ID{Scheme: "digest", ID: DigestID("other", "secret")}
)

// h1ErrorTree builds:
//
//	/p           open, child /p/c
//	/e           ephemeral of h1Session
//	/ro          world READ only, child /ro/c
//	/wo          world WRITE only
//	/v           version 1, aversion 0
//	/dig         digest user:password ALL, child /dig/c
//	/nodel       world ALL but DELETE, child /nodel/c
//	/empty       empty ACL list (allows everything)
func h1ErrorTree(t *testing.T) *tree {
	tr := newTree()
	c := h1Ctx(10, 1000)
	h1Create(t, tr, c, "/p", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/p/c", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/e", nil, FlagEphemeral, nil)
	h1Create(t, tr, c, "/ro", nil, FlagPersistent, WorldACL(PermRead))
	h1Create(t, tr, c, "/ro/c", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/wo", nil, FlagPersistent, WorldACL(PermWrite))
	h1Create(t, tr, c, "/v", nil, FlagPersistent, nil)
	if _, err := tr.setData(c, "/v", []byte("1"), 0, nil); err != nil {
		t.Fatal(err)
	}
	h1Create(t, tr, c, "/dig", nil, FlagPersistent, DigestACL(PermAll, "user", "password"))
	h1Create(t, tr, c, "/dig/c", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/nodel", nil, FlagPersistent, WorldACL(PermAll&^PermDelete))
	h1Create(t, tr, c, "/nodel/c", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/empty", nil, FlagPersistent, []ACL{})
	return tr
}

func TestTreeErrors(t *testing.T) {
	user := func() *txnContext { return h1UserCtx(50, 5000) }
	userAuth := func() *txnContext { return h1UserCtx(50, 5000, h1UserID) }
	other := func() *txnContext { return h1UserCtx(50, 5000, h1OtherID) }
	super := func() *txnContext { return h1UserCtx(50, 5000, ID{Scheme: "super"}) }
	system := func() *txnContext { return h1Ctx(50, 5000) }
	create := func(c func() *txnContext, path string, mode CreateMode) func(*tree) error {
		return func(tr *tree) error {
			_, _, err := tr.create(c(), &createArgs{path: path, acl: openACL, mode: mode, ttl: h1TTLFor(mode)}, nil)
			return err
		}
	}
	del := func(c func() *txnContext, path string, v int32) func(*tree) error {
		return func(tr *tree) error { return tr.remove(c(), path, v, nil) }
	}
	set := func(c func() *txnContext, path string, v int32) func(*tree) error {
		return func(tr *tree) error { _, err := tr.setData(c(), path, []byte("z"), v, nil); return err }
	}
	setACL := func(c func() *txnContext, path string, v int32) func(*tree) error {
		return func(tr *tree) error { _, err := tr.setACL(c(), path, openACL, v); return err }
	}
	check := func(c func() *txnContext, path string, v int32) func(*tree) error {
		return func(tr *tree) error { return tr.check(c(), path, v) }
	}
	tests := []struct {
		name string
		op   func(*tree) error
		want error
	}{
		// create
		{"create parent missing", create(user, "/missing/x", FlagPersistent), ErrNoNode},
		{"create parent missing sequential", create(user, "/missing/x-", FlagSequence), ErrNoNode},
		{"create parent missing beats bad path", create(user, "/missing/x/", FlagPersistent), ErrNoNode},
		{"create exists", create(user, "/p", FlagPersistent), ErrNodeExists},
		{"create exists child", create(user, "/p/c", FlagEphemeral), ErrNodeExists},
		{"create root exists", create(user, "/", FlagPersistent), ErrNodeExists},
		{"create /zookeeper exists", create(user, "/zookeeper", FlagPersistent), ErrNodeExists},
		{"create under ephemeral", create(user, "/e/x", FlagPersistent), ErrNoChildrenForEphemerals},
		{"create sequential under ephemeral", create(user, "/e/x-", FlagSequence), ErrNoChildrenForEphemerals},
		{"create ephemeral under ephemeral", create(user, "/e/x", FlagEphemeral), ErrNoChildrenForEphemerals},
		{"create under ephemeral as system", create(system, "/e/x", FlagPersistent), ErrNoChildrenForEphemerals},
		{"create no CREATE perm", create(user, "/ro/x", FlagPersistent), ErrNoAuth},
		{"create no CREATE perm beats exists", create(user, "/ro/c", FlagPersistent), ErrNoAuth},
		{"create trailing slash names a missing parent", create(user, "/ro/x/", FlagPersistent), ErrNoNode},
		{"create no CREATE perm beats bad name", create(user, "/ro/.", FlagPersistent), ErrNoAuth},
		{"create digest wrong id", create(other, "/dig/x", FlagPersistent), ErrNoAuth},
		{"create digest no id", create(user, "/dig/x", FlagPersistent), ErrNoAuth},
		{"create digest right id", create(userAuth, "/dig/x", FlagPersistent), nil},
		{"create super", create(super, "/ro/x", FlagPersistent), nil},
		{"create system", create(system, "/ro/x", FlagPersistent), nil},
		{"create empty ACL parent", create(user, "/empty/x", FlagPersistent), nil},
		{"create trailing slash", create(user, "/p/", FlagPersistent), ErrBadArguments},
		{"create dot segment", create(user, "/p/..", FlagPersistent), ErrBadArguments},
		{"create exists beats ephemeral parent", create(user, "/e", FlagPersistent), ErrNodeExists},
		{"create ok", create(user, "/p/new", FlagPersistent), nil},

		// delete
		{"delete missing", del(user, "/p/missing", AnyVersion), ErrNoNode},
		{"delete parent missing", del(user, "/missing/x", AnyVersion), ErrNoNode},
		{"delete not empty", del(user, "/p", AnyVersion), ErrNotEmpty},
		{"delete bad version", del(user, "/p/c", 3), ErrBadVersion},
		{"delete bad version beats not empty", del(user, "/p", 3), ErrBadVersion},
		{"delete version matches", del(user, "/v", 1), nil},
		{"delete old version", del(user, "/v", 0), ErrBadVersion},
		{"delete no DELETE perm on parent", del(user, "/nodel/c", AnyVersion), ErrNoAuth},
		{"delete no DELETE perm beats missing", del(user, "/nodel/missing", AnyVersion), ErrNoAuth},
		{"delete no DELETE perm beats bad version", del(user, "/nodel/c", 7), ErrNoAuth},
		{"delete read-only parent", del(user, "/ro/c", AnyVersion), ErrNoAuth},
		{"delete node's own ACL irrelevant", del(user, "/ro", AnyVersion), ErrNotEmpty},
		{"delete digest parent ok", del(userAuth, "/dig/c", AnyVersion), nil},
		{"delete digest parent wrong id", del(other, "/dig/c", AnyVersion), ErrNoAuth},
		{"delete ephemeral", del(user, "/e", AnyVersion), nil},
		{"delete root", del(system, "/", AnyVersion), ErrBadArguments},
		{"delete /zookeeper", del(system, "/zookeeper", AnyVersion), ErrBadArguments},
		{"delete /zookeeper/quota", del(system, "/zookeeper/quota", AnyVersion), ErrBadArguments},
		{"delete /zookeeper/config", del(system, "/zookeeper/config", AnyVersion), ErrBadArguments},
		{"delete /zookeeper as user", del(user, "/zookeeper", 0), ErrBadArguments},

		// setData
		{"set missing", set(user, "/missing", AnyVersion), ErrNoNode},
		{"set bad version", set(user, "/v", 0), ErrBadVersion},
		{"set good version", set(user, "/v", 1), nil},
		{"set no WRITE perm", set(user, "/ro", AnyVersion), ErrNoAuth},
		{"set no WRITE perm beats bad version", set(user, "/ro", 9), ErrNoAuth},
		{"set write-only ok", set(user, "/wo", 0), nil},
		{"set /zookeeper/config", set(user, "/zookeeper/config", AnyVersion), ErrNoAuth},
		{"set root", set(user, "/", 0), nil},
		{"set digest ok", set(userAuth, "/dig", 0), nil},
		{"set digest wrong", set(other, "/dig", 0), ErrNoAuth},

		// setACL
		{"setACL missing", setACL(user, "/missing", AnyVersion), ErrNoNode},
		{"setACL bad aversion", setACL(user, "/v", 1), ErrBadVersion},
		{"setACL good aversion", setACL(user, "/v", 0), nil},
		{"setACL no ADMIN perm", setACL(user, "/ro", AnyVersion), ErrNoAuth},
		{"setACL no ADMIN perm beats bad version", setACL(user, "/wo", 5), ErrNoAuth},
		{"setACL /zookeeper/config", setACL(user, "/zookeeper/config", AnyVersion), ErrNoAuth},
		{"setACL /zookeeper/quota", setACL(user, "/zookeeper/quota", 0), nil},
		{"setACL super", setACL(super, "/zookeeper/config", AnyVersion), nil},

		// check
		{"check missing", check(user, "/missing", AnyVersion), ErrNoNode},
		{"check bad version", check(user, "/v", 0), ErrBadVersion},
		{"check good version", check(user, "/v", 1), nil},
		{"check any version", check(user, "/v", AnyVersion), nil},
		{"check no READ perm", check(user, "/wo", AnyVersion), ErrNoAuth},
		{"check no READ perm beats bad version", check(user, "/wo", 4), ErrNoAuth},
		{"check read-only ok", check(user, "/ro", 0), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := h1ErrorTree(t)
			before, undo := h1Dump(tr), len(tr.undo)
			err := tc.op(tr)
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				if after := h1Dump(tr); !reflect.DeepEqual(before, after) {
					t.Errorf("failed op changed the tree")
				}
				if len(tr.undo) != undo {
					t.Errorf("failed op left %d undo records", len(tr.undo)-undo)
				}
			}
			h1CheckInvariants(t, tr)
		})
	}
}

func TestTreeReadErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		ids  []ID
		want error
	}{
		{"missing", "/missing", nil, ErrNoNode},
		{"no READ", "/wo", nil, ErrNoAuth},
		{"READ", "/ro", nil, nil},
		{"digest denied", "/dig", []ID{h1OtherID}, ErrNoAuth},
		{"digest allowed", "/dig", []ID{h1UserID}, nil},
		{"super", "/wo", []ID{{Scheme: "super"}}, nil},
		{"empty ACL", "/empty", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := h1ErrorTree(t)
			if _, _, err := tr.get(tc.path, tc.ids); err != tc.want {
				t.Errorf("get: %v, want %v", err, tc.want)
			}
			if _, _, err := tr.children(tc.path, tc.ids); err != tc.want {
				t.Errorf("children: %v, want %v", err, tc.want)
			}
			if _, err := tr.descendants(tc.path, tc.ids); err != tc.want {
				t.Errorf("descendants: %v, want %v", err, tc.want)
			}
			_, ok, err := tr.exists(tc.path, tc.ids)
			if err != tc.want && !(tc.want == ErrNoNode && err == nil) {
				t.Errorf("exists: %v, want %v", err, tc.want)
			}
			if ok != (tc.want != ErrNoNode) {
				t.Errorf("exists ok = %v", ok)
			}
		})
	}
}

func TestTreeGetACLMasking(t *testing.T) {
	tr := newTree()
	acl := []ACL{
		{Perms: PermRead, Scheme: "world", ID: "anyone"},
		{Perms: PermAll, Scheme: "digest", ID: DigestID("user", "password")},
	}
	h1Create(t, tr, h1Ctx(1, 1), "/n", nil, FlagPersistent, acl)
	tests := []struct {
		name string
		ids  []ID
		want []ACL
		err  error
	}{
		{"admin sees digests", []ID{h1UserID}, acl, nil},
		{"reader sees masked digests", nil, []ACL{acl[0], {Perms: PermAll, Scheme: "digest", ID: "user:x"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tr.getACL("/n", tc.ids)
			if err != tc.err || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("getACL = %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
	// Masking must not write through to the stored list.
	if got := tr.nodes["/n"].acl.acl; !reflect.DeepEqual(got, acl) {
		t.Errorf("stored ACL changed to %v", got)
	}
	h1Create(t, tr, h1Ctx(2, 2), "/x", nil, FlagPersistent, WorldACL(PermWrite))
	if _, _, err := tr.getACL("/x", nil); err != ErrNoAuth {
		t.Errorf("getACL without READ or ADMIN: %v, want ErrNoAuth", err)
	}
	h1Create(t, tr, h1Ctx(3, 3), "/a", nil, FlagPersistent, WorldACL(PermAdmin))
	if _, _, err := tr.getACL("/a", nil); err != nil {
		t.Errorf("getACL with ADMIN only: %v", err)
	}
}

var _ = errors.Is

// --- 5. multi rollback ---

type h1Op struct {
	kind    string // create, delete, set, setACL, check, reap
	path    string
	data    []byte
	acl     []ACL
	mode    CreateMode
	version int32
}

func h1ApplyOp(tr *tree, c *txnContext, op h1Op) error {
	switch op.kind {
	case "create":
		acl := op.acl
		if acl == nil {
			acl = openACL
		}
		_, _, err := tr.create(c, &createArgs{path: op.path, data: op.data, acl: acl, mode: op.mode, ttl: h1TTLFor(op.mode)}, nil)
		return err
	case "delete":
		return tr.remove(c, op.path, op.version, nil)
	case "set":
		_, err := tr.setData(c, op.path, op.data, op.version, nil)
		return err
	case "setACL":
		_, err := tr.setACL(c, op.path, op.acl, op.version)
		return err
	case "check":
		return tr.check(c, op.path, op.version)
	case "reap":
		return tr.reap(c, op.path, nil)
	}
	panic("unknown op " + op.kind)
}

// h1MultiTree is a tree with every kind of node, ACLs used once and
// several times, and ephemerals of two sessions.
func h1MultiTree(t *testing.T) *tree {
	tr := newTree()
	c := h1Ctx(0x100000001, 1000)
	h1Create(t, tr, c, "/a", []byte("a"), FlagPersistent, nil)
	h1Create(t, tr, c, "/a/b", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/a/s-", []byte{}, FlagSequence, nil)
	h1Create(t, tr, c, "/uniq", []byte("u"), FlagPersistent, DigestACL(PermAll, "only", "me"))
	h1Create(t, tr, c, "/shared1", nil, FlagPersistent, WorldACL(PermRead|PermWrite|PermDelete|PermCreate|PermAdmin&^PermAdmin))
	h1Create(t, tr, c, "/shared2", nil, FlagPersistent, WorldACL(PermRead|PermWrite|PermDelete|PermCreate))
	h1Create(t, tr, c, "/e1", []byte("e"), FlagEphemeral, nil)
	c2 := *c
	c2.session = 0x9999
	h1Create(t, tr, &c2, "/e2", nil, FlagEphemeral, nil)
	h1Create(t, tr, &c2, "/a/e2", nil, FlagEphemeral, nil)
	h1Create(t, tr, c, "/c", nil, FlagContainer, nil)
	h1Create(t, tr, c, "/c/kid", nil, FlagPersistent, nil)
	if err := tr.remove(c, "/c/kid", AnyVersion, nil); err != nil {
		t.Fatal(err)
	}
	h1Create(t, tr, c, "/ttl", nil, FlagTTL, nil)
	if _, err := tr.setData(c, "/a", []byte("a2"), 0, nil); err != nil {
		t.Fatal(err)
	}
	tr.undo = tr.undo[:0]
	return tr
}

func TestTreeMultiRollback(t *testing.T) {
	newACL := DigestACL(PermRead, "brand", "new")
	tests := []struct {
		name string
		ops  []h1Op
	}{
		{"single failing op", []h1Op{{kind: "check", path: "/a", version: 9}}},
		{"creates of every mode", []h1Op{
			{kind: "create", path: "/n1", data: []byte("x")},
			{kind: "create", path: "/n1/s-", mode: FlagSequence},
			{kind: "create", path: "/n1/s-", mode: FlagSequence},
			{kind: "create", path: "/a/eph", mode: FlagEphemeral},
			{kind: "create", path: "/a/es-", mode: FlagEphemeralSequential},
			{kind: "create", path: "/cont", mode: FlagContainer},
			{kind: "create", path: "/cont/x"},
			{kind: "create", path: "/t1", mode: FlagTTL},
			{kind: "create", path: "/t2-", mode: FlagSequenceTTL},
			{kind: "create", path: "/newacl", acl: newACL},
			{kind: "create", path: "/", mode: FlagSequence},
			{kind: "create", path: "/a/b"}, // NodeExists
		}},
		{"deletes", []h1Op{
			{kind: "delete", path: "/uniq", version: AnyVersion}, // frees its ACL
			{kind: "delete", path: "/e2", version: AnyVersion},
			{kind: "delete", path: "/a/e2", version: AnyVersion}, // last ephemeral of 0x9999
			{kind: "delete", path: "/e1", version: 0},
			{kind: "delete", path: "/a/b", version: AnyVersion},
			{kind: "delete", path: "/c", version: AnyVersion},
			{kind: "delete", path: "/ttl", version: AnyVersion},
			{kind: "delete", path: "/a", version: AnyVersion}, // NotEmpty (s-0000000001)
		}},
		{"sets", []h1Op{
			{kind: "set", path: "/a", data: []byte("a3"), version: 1},
			{kind: "set", path: "/a", data: nil, version: 2},
			{kind: "set", path: "/", data: []byte("root"), version: AnyVersion},
			{kind: "set", path: "/e1", data: []byte{}, version: AnyVersion},
			{kind: "set", path: "/a", data: []byte("a4"), version: 2}, // BadVersion (now 3)
		}},
		{"setACLs", []h1Op{
			{kind: "setACL", path: "/uniq", acl: openACL, version: 0}, // frees uniq's ACL
			{kind: "setACL", path: "/shared1", acl: newACL, version: AnyVersion},
			{kind: "setACL", path: "/shared2", acl: newACL, version: AnyVersion},
			{kind: "setACL", path: "/a", acl: DigestACL(PermAll, "only", "me"), version: 0}, // re-creates uniq's ACL
			{kind: "setACL", path: "/a/b", acl: openACL, version: 0},
			{kind: "setACL", path: "/missing", acl: openACL, version: 0}, // NoNode
		}},
		{"create then delete same node", []h1Op{
			{kind: "create", path: "/tmp", acl: newACL},
			{kind: "create", path: "/tmp/kid", mode: FlagEphemeral},
			{kind: "delete", path: "/tmp/kid", version: AnyVersion},
			{kind: "delete", path: "/tmp", version: AnyVersion},
			{kind: "create", path: "/tmp"},
			{kind: "check", path: "/tmp", version: 1},
		}},
		{"delete then recreate with other ACL and mode", []h1Op{
			{kind: "delete", path: "/uniq", version: AnyVersion},
			{kind: "create", path: "/uniq", data: []byte("again"), mode: FlagEphemeral, acl: newACL},
			{kind: "delete", path: "/e1", version: AnyVersion},
			{kind: "create", path: "/e1", mode: FlagContainer},
			{kind: "delete", path: "/c", version: AnyVersion},
			{kind: "create", path: "/c", mode: FlagTTL, acl: DigestACL(PermAll, "only", "me")},
			{kind: "check", path: "/nope", version: AnyVersion},
		}},
		{"setACL then delete", []h1Op{
			{kind: "setACL", path: "/uniq", acl: newACL, version: AnyVersion},
			{kind: "set", path: "/uniq", data: []byte("zz"), version: AnyVersion},
			{kind: "delete", path: "/uniq", version: 1},
			{kind: "create", path: "/uniq", acl: DigestACL(PermAll, "only", "me")},
			{kind: "delete", path: "/", version: AnyVersion}, // BadArguments
		}},
		{"reaps", []h1Op{
			{kind: "reap", path: "/c"},
			{kind: "create", path: "/c", mode: FlagContainer},
			{kind: "create", path: "/c/x"},
			{kind: "delete", path: "/c/x", version: AnyVersion},
			{kind: "reap", path: "/c"},
			{kind: "reap", path: "/ttl"}, // not expired: BadArguments
		}},
		{"mixed", []h1Op{
			{kind: "create", path: "/m", data: []byte("m")},
			{kind: "set", path: "/m", data: []byte("m2"), version: 0},
			{kind: "setACL", path: "/m", acl: newACL, version: 0},
			{kind: "create", path: "/m/k-", mode: FlagSequence},
			{kind: "delete", path: "/a/s-0000000001", version: 0},
			{kind: "delete", path: "/a/b", version: 0},
			{kind: "create", path: "/a/b", mode: FlagEphemeral},
			{kind: "set", path: "/zookeeper", data: []byte("z"), version: 0},
			{kind: "create", path: "/a/b/x"}, // NoChildrenForEphemerals
		}},
	}
	for _, snap := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name
			if snap {
				name += " during snapshot"
			}
			t.Run(name, func(t *testing.T) {
				tr := h1MultiTree(t)
				var captured map[string]*znode
				var capturedState h1TreeState
				if snap {
					tr.gen++
					captured = h1CopyNodes(tr.nodes)
					capturedState = h1DumpNodes(captured)
				}
				before := h1Dump(tr)
				c := h1Ctx(0x100000099, 3000) // /ttl (mtime 1000, ttl 5000) not expired
				mark := len(tr.undo)
				for i, op := range tc.ops {
					err := h1ApplyOp(tr, c, op)
					if i < len(tc.ops)-1 {
						if err != nil {
							t.Fatalf("op %d (%s %s): %v", i, op.kind, op.path, err)
						}
						h1CheckInvariants(t, tr)
						continue
					}
					if err == nil {
						t.Fatalf("last op (%s %s) succeeded", op.kind, op.path)
					}
				}
				tr.rollback(mark)
				after := h1Dump(tr)
				if !reflect.DeepEqual(before, after) {
					h1DiffStates(t, before, after)
				}
				if len(tr.undo) != mark {
					t.Errorf("undo log has %d records after rollback, want %d", len(tr.undo), mark)
				}
				h1CheckInvariants(t, tr)
				if snap {
					if got := h1DumpNodes(captured); !reflect.DeepEqual(got, capturedState) {
						t.Errorf("a snapshot's nodes changed under it")
						h1DiffStates(t, h1TreeState{Nodes: capturedState.Nodes}, h1TreeState{Nodes: got.Nodes})
					}
				}
			})
		}
	}
}

func h1CopyNodes(m map[string]*znode) map[string]*znode {
	out := make(map[string]*znode, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// h1DumpNodes records the persisted fields of captured node pointers (what
// a snapshot writes: no children).
func h1DumpNodes(m map[string]*znode) h1TreeState {
	s := h1TreeState{Nodes: make(map[string]h1NodeState)}
	for p, n := range m {
		s.Nodes[p] = h1NodeState{
			Data: slices.Clone(n.data), DataNil: n.data == nil,
			ACL: slices.Clone(n.acl.acl), ACLKey: n.acl.key,
			Czxid: n.czxid, Mzxid: n.mzxid, Pzxid: n.pzxid,
			Ctime: n.ctime, Mtime: n.mtime,
			Version: n.version, Creates: n.creates, Aversion: n.aversion,
			Owner: n.owner,
		}
	}
	return s
}

func h1DiffStates(t *testing.T, before, after h1TreeState) {
	t.Helper()
	for p, b := range before.Nodes {
		a, ok := after.Nodes[p]
		if !ok {
			t.Errorf("%s: missing after", p)
		} else if !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\nbefore %+v\nafter  %+v", p, b, a)
		}
	}
	for p := range after.Nodes {
		if _, ok := before.Nodes[p]; !ok {
			t.Errorf("%s: extra node after", p)
		}
	}
	for _, f := range []struct {
		name string
		b, a any
	}{
		{"ephemerals", before.Ephemerals, after.Ephemerals},
		{"containers", before.Containers, after.Containers},
		{"ttls", before.TTLs, after.TTLs},
		{"acl refs", before.ACLRefs, after.ACLRefs},
	} {
		if !reflect.DeepEqual(f.b, f.a) {
			t.Errorf("%s:\nbefore %v\nafter  %v", f.name, f.b, f.a)
		}
	}
}

// --- 6. reaping containers and TTL nodes ---

func TestTreeReap(t *testing.T) {
	const ttl = 5000 // h1TTLFor
	tests := []struct {
		name  string
		setup func(t *testing.T, tr *tree) // at time 1000, zxids 10..
		now   int64
		path  string
		want  error
	}{
		{"container never used", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/c", nil, FlagContainer, nil)
		}, 1 << 40, "/c", ErrBadArguments},
		{"container emptied", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/c", nil, FlagContainer, nil)
			h1Create(t, tr, h1Ctx(11, 1000), "/c/x", nil, FlagPersistent, nil)
			if err := tr.remove(h1Ctx(12, 1000), "/c/x", AnyVersion, nil); err != nil {
				t.Fatal(err)
			}
		}, 1000, "/c", nil},
		{"container emptied by session close", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/c", nil, FlagContainer, nil)
			h1Create(t, tr, h1Ctx(11, 1000), "/c/lock-", nil, FlagEphemeralSequential, nil)
			tr.closeSession(h1Ctx(12, 1000), h1Session, nil)
		}, 1000, "/c", nil},
		{"container with child", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/c", nil, FlagContainer, nil)
			h1Create(t, tr, h1Ctx(11, 1000), "/c/x", nil, FlagPersistent, nil)
		}, 1000, "/c", ErrNotEmpty},
		{"nested container emptied", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/p", nil, FlagPersistent, nil)
			h1Create(t, tr, h1Ctx(11, 1000), "/p/c", nil, FlagContainer, nil)
			h1Create(t, tr, h1Ctx(12, 1000), "/p/c/x", nil, FlagPersistent, nil)
			if err := tr.remove(h1Ctx(13, 1000), "/p/c/x", AnyVersion, nil); err != nil {
				t.Fatal(err)
			}
		}, 1000, "/p/c", nil},
		{"ttl at exactly ttl", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
		}, 1000 + ttl, "/t", ErrBadArguments},
		{"ttl expired", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
		}, 1000 + ttl + 1, "/t", nil},
		{"sequential ttl expired", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagSequenceTTL, nil)
			tr.nodes["/t"] = tr.nodes["/t0000000000"] // keep the table's path simple
			delete(tr.nodes, "/t0000000000")
			tr.unlink("/", "t0000000000")
			tr.link("/", "t")
			delete(tr.ttls, "/t0000000000")
			tr.ttls["/t"] = struct{}{}
		}, 1000 + ttl + 1, "/t", nil},
		{"ttl never used is reaped", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
		}, 1 << 40, "/t", nil},
		{"ttl with child", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
			h1Create(t, tr, h1Ctx(11, 1000), "/t/x", nil, FlagPersistent, nil)
		}, 1 << 40, "/t", ErrNotEmpty},
		{"ttl refreshed by setData", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
			if _, err := tr.setData(h1Ctx(11, 4000), "/t", []byte("x"), AnyVersion, nil); err != nil {
				t.Fatal(err)
			}
		}, 8000, "/t", ErrBadArguments},
		{"ttl not refreshed by child churn", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
			h1Create(t, tr, h1Ctx(11, 5000), "/t/x", nil, FlagPersistent, nil)
			if err := tr.remove(h1Ctx(12, 5500), "/t/x", AnyVersion, nil); err != nil {
				t.Fatal(err)
			}
		}, 6001, "/t", nil},
		{"ttl not refreshed by setACL", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/t", nil, FlagTTL, nil)
			if _, err := tr.setACL(h1Ctx(11, 5000), "/t", WorldACL(PermRead), AnyVersion); err != nil {
				t.Fatal(err)
			}
		}, 6001, "/t", nil},
		{"persistent", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/n", nil, FlagPersistent, nil)
			h1Create(t, tr, h1Ctx(11, 1000), "/n/x", nil, FlagPersistent, nil)
			if err := tr.remove(h1Ctx(12, 1000), "/n/x", AnyVersion, nil); err != nil {
				t.Fatal(err)
			}
		}, 1 << 40, "/n", ErrBadArguments},
		{"ephemeral", func(t *testing.T, tr *tree) {
			h1Create(t, tr, h1Ctx(10, 1000), "/n", nil, FlagEphemeral, nil)
		}, 1 << 40, "/n", ErrBadArguments},
		{"missing", func(t *testing.T, tr *tree) {}, 1000, "/nope", ErrNoNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree()
			tc.setup(t, tr)
			h1CheckInvariants(t, tr)
			before := h1Dump(tr)
			parentPath, _ := splitPath(tc.path)
			var pb Stat
			if tc.want == nil {
				pb = h1Stat(t, tr, parentPath)
			}
			var chg []change
			err := tr.reap(h1Ctx(100, tc.now), tc.path, &chg)
			if err != tc.want {
				t.Fatalf("reap %s at %d: %v, want %v", tc.path, tc.now, err, tc.want)
			}
			if err != nil {
				if !reflect.DeepEqual(before, h1Dump(tr)) {
					t.Errorf("failed reap changed the tree")
				}
				if len(chg) != 0 {
					t.Errorf("failed reap reported changes %v", chg)
				}
				return
			}
			if _, ok := tr.nodes[tc.path]; ok {
				t.Fatalf("%s still present", tc.path)
			}
			want := pb
			want.Pzxid, want.Cversion, want.NumChildren = 100, pb.Cversion+1, pb.NumChildren-1
			if got := h1Stat(t, tr, parentPath); got != want {
				t.Errorf("parent Stat = %+v\nwant          %+v", got, want)
			}
			if len(chg) != 1 || chg[0].typ != EventNodeDeleted || chg[0].path != tc.path {
				t.Errorf("changes = %+v, want one NodeDeleted of %s", chg, tc.path)
			}
			if len(tr.containers) != 0 || len(tr.ttls) != 0 {
				t.Errorf("indexes not emptied: %v %v", tr.containers, tr.ttls)
			}
			h1CheckInvariants(t, tr)
		})
	}
}

func TestTreeReapIgnoresACL(t *testing.T) {
	tr := newTree()
	h1Create(t, tr, h1Ctx(1, 1), "/ro", nil, FlagPersistent, WorldACL(PermRead))
	h1Create(t, tr, h1Ctx(2, 1), "/ro/t", nil, FlagTTL, nil)
	if err := tr.reap(h1UserCtx(3, 1<<40), "/ro/t", nil); err != nil {
		t.Fatalf("reap under a read-only parent: %v", err)
	}
}

// --- sessions ---

func TestTreeCloseSession(t *testing.T) {
	tr := newTree()
	c := h1Ctx(10, 1000)
	h1Create(t, tr, c, "/p", nil, FlagPersistent, nil)
	h1Create(t, tr, c, "/p/b", nil, FlagEphemeral, nil)
	h1Create(t, tr, c, "/p/a", nil, FlagEphemeral, nil)
	h1Create(t, tr, c, "/z", nil, FlagEphemeralSequential, nil)
	other := *c
	other.session = 77
	h1Create(t, tr, &other, "/p/other", nil, FlagEphemeral, nil)

	if got, want := tr.ephemeralPaths(h1Session, "/"), []string{"/p/a", "/p/b", "/z0000000001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ephemeralPaths = %v, want %v", got, want)
	}
	if got, want := tr.ephemeralPaths(h1Session, "/p"), []string{"/p/a", "/p/b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ephemeralPaths(/p) = %v, want %v", got, want)
	}
	pb := h1Stat(t, tr, "/p")
	var chg []change
	tr.closeSession(h1Ctx(20, 2000), h1Session, &chg)
	var deleted []string
	for _, ch := range chg {
		if ch.typ != EventNodeDeleted {
			t.Errorf("unexpected change %+v", ch)
		}
		deleted = append(deleted, ch.path)
	}
	if want := []string{"/p/a", "/p/b", "/z0000000001"}; !reflect.DeepEqual(deleted, want) {
		t.Errorf("deleted in order %v, want %v", deleted, want)
	}
	want := pb
	want.Pzxid, want.Cversion, want.NumChildren = 20, pb.Cversion+2, pb.NumChildren-2
	if got := h1Stat(t, tr, "/p"); got != want {
		t.Errorf("parent Stat = %+v\nwant          %+v", got, want)
	}
	if _, ok := tr.ephemerals[h1Session]; ok {
		t.Errorf("session still indexed")
	}
	if got := tr.ephemeralPaths(77, ""); !reflect.DeepEqual(got, []string{"/p/other"}) {
		t.Errorf("other session's ephemerals = %v", got)
	}
	tr.closeSession(h1Ctx(21, 2000), 12345, nil) // unknown: no-op
	h1CheckInvariants(t, tr)
}

// --- 9. snapshot copy-on-write ---

func TestTreeSnapshotCopyOnWrite(t *testing.T) {
	tr := h1MultiTree(t)
	tr.gen++
	captured := h1CopyNodes(tr.nodes)
	want := h1DumpNodes(captured)

	c := h1Ctx(0x200000001, 50_000)
	steps := []h1Op{
		{kind: "set", path: "/a", data: []byte("changed"), version: AnyVersion},
		{kind: "set", path: "/", data: []byte("root"), version: AnyVersion},
		{kind: "setACL", path: "/shared1", acl: DigestACL(PermAll, "x", "y"), version: AnyVersion},
		{kind: "create", path: "/a/new"},
		{kind: "create", path: "/a/s-", mode: FlagSequence},
		{kind: "delete", path: "/a/b", version: AnyVersion},
		{kind: "delete", path: "/uniq", version: AnyVersion},
		{kind: "reap", path: "/c"},
		{kind: "reap", path: "/ttl"},
	}
	for i, op := range steps {
		if err := h1ApplyOp(tr, c, op); err != nil {
			t.Fatalf("step %d (%s %s): %v", i, op.kind, op.path, err)
		}
	}
	tr.closeSession(c, 0x9999, nil)
	if got := h1DumpNodes(captured); !reflect.DeepEqual(got, want) {
		h1DiffStates(t, h1TreeState{Nodes: want.Nodes}, h1TreeState{Nodes: got.Nodes})
	}
	// The live tree did change.
	if d, _, _ := tr.get("/a", nil); string(d) != "changed" {
		t.Errorf("live /a = %q", d)
	}
	if tr.nodes["/a"] == captured["/a"] {
		t.Errorf("/a was changed in place, not copied")
	}
	if tr.nodes["/a"].gen != tr.gen {
		t.Errorf("copy has gen %d, want %d", tr.nodes["/a"].gen, tr.gen)
	}
	// An untouched node is shared, not copied.
	if tr.nodes["/zookeeper/quota"] != captured["/zookeeper/quota"] {
		t.Errorf("untouched node was copied")
	}
	// A second change of the same node in the same generation does not copy again.
	n := tr.nodes["/a"]
	if _, err := tr.setData(c, "/a", []byte("again"), AnyVersion, nil); err != nil {
		t.Fatal(err)
	}
	if tr.nodes["/a"] != n {
		t.Errorf("node copied twice within one generation")
	}
	// A second snapshot sees the state at its own time.
	tr.gen++
	second := h1CopyNodes(tr.nodes)
	want2 := h1DumpNodes(second)
	if _, err := tr.setData(c, "/a", []byte("third"), AnyVersion, nil); err != nil {
		t.Fatal(err)
	}
	if got := h1DumpNodes(second); !reflect.DeepEqual(got, want2) {
		t.Errorf("second snapshot changed")
	}
	if got := h1DumpNodes(captured); !reflect.DeepEqual(got, want) {
		t.Errorf("first snapshot changed")
	}
	h1CheckInvariants(t, tr)
}

// TestTreeMultiThroughFSM applies multis the way the FSM does (one txn, one
// zxid) and checks the all-or-nothing outcome and per-op results.
func TestTreeMultiThroughFSM(t *testing.T) {
	create := func(p string, mode CreateMode) txn.Op {
		return txn.Op{Kind: txn.OpCreate, Path: p, Mode: int32(mode), ACL: toTxnACL(openACL), Data: []byte{}}
	}
	tests := []struct {
		name       string
		ops        []txn.Op
		wantFailed int
		wantErr    error
	}{
		{"last fails", []txn.Op{
			create("/m", FlagPersistent),
			{Kind: txn.OpDelete, Path: "/a/b", Version: -1},
			{Kind: txn.OpSetACL, Path: "/uniq", ACL: toTxnACL(readACL), Version: -1},
			{Kind: txn.OpCheck, Path: "/m", Version: 3},
		}, 3, ErrBadVersion},
		{"middle fails", []txn.Op{
			create("/m", FlagPersistent),
			{Kind: txn.OpDelete, Path: "/a", Version: -1},
			create("/n", FlagPersistent),
		}, 1, ErrNotEmpty},
		{"unknown kind fails", []txn.Op{
			create("/m", FlagPersistent),
			{},
		}, 1, ErrUnimplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No watch manager: a failed multi fires nothing.
			f := &fsm{tree: h1MultiTree(t), sessions: make(map[int64]*sessionInfo)}
			before := h1Dump(f.tree)
			const zxid = 0x500000001
			res := f.applyOps(&txn.Txn{Type: txn.TypeOps, Multi: true, Time: 7777, Ops: tc.ops}, zxid)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.failed != tc.wantFailed {
				t.Fatalf("failed = %d, want %d", res.failed, tc.wantFailed)
			}
			if len(f.tree.undo) != 0 {
				t.Errorf("undo log not cleared: %d", len(f.tree.undo))
			}
			for i, r := range res.results {
				var want error
				switch {
				case i < tc.wantFailed:
					want = ErrRolledBack
				case i == tc.wantFailed:
					want = tc.wantErr
				default:
					want = ErrRuntimeInconsistency
				}
				if r.err != want {
					t.Errorf("op %d: %v, want %v", i, r.err, want)
				}
			}
			if after := h1Dump(f.tree); !reflect.DeepEqual(before, after) {
				h1DiffStates(t, before, after)
			}
			h1CheckInvariants(t, f.tree)
		})
	}
}

// TestTreeMultiSameZxid: within one multi every op has the same zxid; a
// create and a delete of the same child leave the parent with pzxid = zxid
// and cversion +2.
func TestTreeMultiSameZxid(t *testing.T) {
	tr := newTree()
	h1Create(t, tr, h1Ctx(1, 1), "/m", nil, FlagPersistent, nil)
	c := h1Ctx(0x500000001, 7777)
	for i, op := range []h1Op{
		{kind: "create", path: "/m/s-", mode: FlagSequence},
		{kind: "delete", path: "/m/s-0000000000", version: -1},
		{kind: "set", path: "/m", data: []byte("x"), version: 0},
		{kind: "check", path: "/m", version: 1},
	} {
		if err := h1ApplyOp(tr, c, op); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	want := Stat{Czxid: 1, Mzxid: c.zxid, Pzxid: c.zxid, Ctime: 1, Mtime: 7777, Version: 1, Cversion: 2, DataLength: 1}
	if st := h1Stat(t, tr, "/m"); st != want {
		t.Errorf("/m Stat = %+v\nwant      %+v", st, want)
	}
	h1CheckInvariants(t, tr)
}
