package zk_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/apachezk"
	"github.com/zkraft/zk/internal/fakeclock"
)

// h2Wait is how long a test waits for something that should happen at
// once before it fails.
const h2Wait = 5 * time.Second

var h2Open = zk.WorldACL(zk.PermAll)

// h2Ctx returns a context that ends with the test or after a generous
// deadline.
func h2Ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connOverWire runs the Conn tests over the wire protocol: h2Conn dials
// the node's client port with zk.Dial instead of Node.Connect, so the same
// assertions hold for the server, the Dial client and the two together.
// .ci/run runs the package both ways.
var connOverWire = flag.Bool("zkraft.wire", false, "make the Conn tests' Conns with zk.Dial over the wire protocol")

// connOnApache, with connOverWire, makes h2Conn dial an Apache ZooKeeper
// 3.8 server started for the test instead of the test's node: the Conn
// tests that hold for any ZooKeeper then check zk.Dial against the real
// thing, and each test that checks zkraft's own behaviour says so and
// skips.
var connOnApache = flag.Bool("zkraft.apache", false, "with -zkraft.wire, dial Apache ZooKeeper 3.8 instead of the test's node")

// apacheFor maps a test's node to the Apache ZooKeeper it stands for.
var apacheFor sync.Map // *zk.Node → string (client address)

// h2ZkraftOnly skips a Conn test when it runs against Apache ZooKeeper:
// what it checks is zkraft's own (why says what).
func h2ZkraftOnly(t *testing.T, why string) {
	t.Helper()
	if *connOverWire && *connOnApache {
		t.Skip("zkraft only: " + why)
	}
}

// h2Node opens an in-memory node with cfg and closes it when the test ends.
func h2Node(t *testing.T, cfg zk.Config) *zk.Node {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "n1"
	}
	if *connOverWire && cfg.ClientAddr == "" {
		cfg.ClientAddr = "127.0.0.1:0"
	}
	n, err := zk.Open(h2Ctx(t), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Node.Close: %v", err)
		}
	})
	if *connOverWire && *connOnApache {
		e := apachezk.Start(t, apachezk.Options{Config: []string{"extendedTypesEnabled=true"},
			JVMFlags: []string{"-Dzookeeper.extendedTypesEnabled=true"}})
		apacheFor.Store(n, e.Addrs()[0])
		t.Cleanup(func() { apacheFor.Delete(n) })
	}
	return n
}

// h2Conn connects to n and closes the Conn when the test ends (before the
// node, as cleanups run last-in first-out).
func h2Conn(t *testing.T, n *zk.Node, opts ...zk.ConnectOption) *zk.Conn {
	t.Helper()
	var (
		c   *zk.Conn
		err error
	)
	if addr, ok := apacheFor.Load(n); ok {
		c, err = zk.Dial(h2Ctx(t), []string{addr.(string)}, opts...)
	} else if *connOverWire && n.ClientAddr() != "" {
		c, err = zk.Dial(h2Ctx(t), []string{n.ClientAddr()}, opts...)
	} else {
		c, err = n.Connect(h2Ctx(t), opts...)
	}
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Conn.Close: %v", err)
		}
	})
	return c
}

// newTestConn opens an in-memory node and one Conn on it.
func newTestConn(t *testing.T) (*zk.Node, *zk.Conn) {
	t.Helper()
	n := h2Node(t, zk.Config{})
	return n, h2Conn(t, n)
}

func h2Create(t *testing.T, c *zk.Conn, path string, data []byte, mode zk.CreateMode, acl []zk.ACL) string {
	t.Helper()
	p, err := c.Create(h2Ctx(t), path, data, mode, acl)
	if err != nil {
		t.Fatalf("Create %s: %v", path, err)
	}
	return p
}

func h2Exists(t *testing.T, c *zk.Conn, path string) bool {
	t.Helper()
	ok, _, err := c.Exists(h2Ctx(t), path)
	if err != nil {
		t.Fatalf("Exists %s: %v", path, err)
	}
	return ok
}

func h2Stat(t *testing.T, c *zk.Conn, path string) zk.Stat {
	t.Helper()
	ok, st, err := c.Exists(h2Ctx(t), path)
	if err != nil || !ok {
		t.Fatalf("Exists %s: %v %v", path, ok, err)
	}
	return *st
}

// h2CheckErr checks that err is want, wrapped in an *OpError for op and
// path, and that CodeOf gives want's code.
func h2CheckErr(t *testing.T, err, want error, op, path string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var oe *zk.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("err %v (%T) is not an *OpError", err, err)
	}
	if oe.Op != op || oe.Path != path {
		t.Errorf("OpError{Op: %q, Path: %q}, want {%q, %q}", oe.Op, oe.Path, op, path)
	}
	if got, wantCode := zk.CodeOf(err), zk.CodeOf(want); got != wantCode || wantCode == zk.CodeSystemError && want != zk.ErrSystemError {
		t.Errorf("CodeOf = %d, want %d", got, wantCode)
	}
	if zk.ErrorForCode(zk.CodeOf(err)) != want {
		t.Errorf("ErrorForCode(CodeOf(err)) = %v, want %v", zk.ErrorForCode(zk.CodeOf(err)), want)
	}
}

func TestConnSentinelErrors(t *testing.T) {
	h2ZkraftOnly(t, "exists on a node without READ is NOAUTH here (protocol.md §6.3); ZooKeeper 3.8.0 answers with the Stat")
	n, c := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, c, "/full", nil, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/full/child", nil, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/eph", nil, zk.FlagEphemeral, h2Open)
	h2Create(t, c, "/v", []byte("x"), zk.FlagPersistent, h2Open)
	h2Create(t, c, "/secret", []byte("s"), zk.FlagPersistent, zk.DigestACL(zk.PermAll, "alice", "pw"))

	tests := []struct {
		name string
		do   func() error
		want error
		op   string
		path string
	}{
		{"get missing", func() error { _, _, err := c.Get(ctx, "/missing"); return err }, zk.ErrNoNode, "get", "/missing"},
		{"children missing", func() error { _, _, err := c.Children(ctx, "/missing"); return err }, zk.ErrNoNode, "children", "/missing"},
		{"getACL missing", func() error { _, _, err := c.GetACL(ctx, "/missing"); return err }, zk.ErrNoNode, "getACL", "/missing"},
		{"set missing", func() error { _, err := c.Set(ctx, "/missing", nil, zk.AnyVersion); return err }, zk.ErrNoNode, "set", "/missing"},
		{"setACL missing", func() error { _, err := c.SetACL(ctx, "/missing", h2Open, zk.AnyVersion); return err }, zk.ErrNoNode, "setACL", "/missing"},
		{"delete missing", func() error { return c.Delete(ctx, "/missing", zk.AnyVersion) }, zk.ErrNoNode, "delete", "/missing"},
		{"create without parent", func() error { _, err := c.Create(ctx, "/missing/x", nil, zk.FlagPersistent, h2Open); return err }, zk.ErrNoNode, "create", "/missing/x"},
		{"allChildrenNumber missing", func() error { _, err := c.AllChildrenNumber(ctx, "/missing"); return err }, zk.ErrNoNode, "getAllChildrenNumber", "/missing"},
		{"create existing", func() error { _, err := c.Create(ctx, "/full", nil, zk.FlagPersistent, h2Open); return err }, zk.ErrNodeExists, "create", "/full"},
		{"delete not empty", func() error { return c.Delete(ctx, "/full", zk.AnyVersion) }, zk.ErrNotEmpty, "delete", "/full"},
		{"set bad version", func() error { _, err := c.Set(ctx, "/v", nil, 7); return err }, zk.ErrBadVersion, "set", "/v"},
		{"delete bad version", func() error { return c.Delete(ctx, "/v", 7) }, zk.ErrBadVersion, "delete", "/v"},
		{"setACL bad version", func() error { _, err := c.SetACL(ctx, "/v", h2Open, 7); return err }, zk.ErrBadVersion, "setACL", "/v"},
		{"child of ephemeral", func() error { _, err := c.Create(ctx, "/eph/x", nil, zk.FlagPersistent, h2Open); return err }, zk.ErrNoChildrenForEphemerals, "create", "/eph/x"},
		{"sequential child of ephemeral", func() error { _, err := c.Create(ctx, "/eph/x-", nil, zk.FlagSequence, h2Open); return err }, zk.ErrNoChildrenForEphemerals, "create", "/eph/x-"},
		{"delete root", func() error { return c.Delete(ctx, "/", zk.AnyVersion) }, zk.ErrBadArguments, "delete", "/"},
		{"delete /zookeeper", func() error { return c.Delete(ctx, "/zookeeper", zk.AnyVersion) }, zk.ErrBadArguments, "delete", "/zookeeper"},
		{"bad create mode", func() error { _, err := c.Create(ctx, "/m", nil, zk.CreateMode(42), h2Open); return err }, zk.ErrBadArguments, "create", "/m"},
		{"TTL mode without TTL", func() error { _, err := c.Create(ctx, "/m", nil, zk.FlagTTL, h2Open); return err }, zk.ErrBadArguments, "create", "/m"},
		{"CreateTTL non-TTL mode", func() error {
			_, _, err := c.CreateTTL(ctx, "/m", nil, zk.FlagPersistent, h2Open, time.Hour)
			return err
		}, zk.ErrBadArguments, "create", "/m"},
		{"CreateTTL zero TTL", func() error { _, _, err := c.CreateTTL(ctx, "/m", nil, zk.FlagTTL, h2Open, 0); return err }, zk.ErrBadArguments, "create", "/m"},
		{"CreateTTL TTL over MaxTTL", func() error {
			_, _, err := c.CreateTTL(ctx, "/m", nil, zk.FlagTTL, h2Open, (zk.MaxTTL+1)*time.Millisecond)
			return err
		}, zk.ErrBadArguments, "create", "/m"},
		{"addWatch bad mode", func() error { _, err := c.AddWatch(ctx, "/v", zk.AddWatchMode(9)); return err }, zk.ErrBadArguments, "addWatch", "/v"},
		{"removeWatches bad type", func() error { return c.RemoveWatches(ctx, "/v", zk.WatcherType(99)) }, zk.ErrBadArguments, "removeWatches", "/v"},
		{"nil ACL", func() error { _, err := c.Create(ctx, "/m", nil, zk.FlagPersistent, nil); return err }, zk.ErrInvalidACL, "create", "/m"},
		{"world ACL not anyone", func() error {
			_, err := c.Create(ctx, "/m", nil, zk.FlagPersistent, []zk.ACL{{Perms: zk.PermAll, Scheme: "world", ID: "someone"}})
			return err
		}, zk.ErrInvalidACL, "create", "/m"},
		{"unknown ACL scheme", func() error {
			_, err := c.Create(ctx, "/m", nil, zk.FlagPersistent, []zk.ACL{{Perms: zk.PermAll, Scheme: "bogus", ID: "x"}})
			return err
		}, zk.ErrInvalidACL, "create", "/m"},
		{"malformed digest ACL", func() error {
			_, err := c.Create(ctx, "/m", nil, zk.FlagPersistent, []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: "nocolon"}})
			return err
		}, zk.ErrInvalidACL, "create", "/m"},
		{"malformed ip ACL", func() error {
			_, err := c.Create(ctx, "/m", nil, zk.FlagPersistent, []zk.ACL{{Perms: zk.PermAll, Scheme: "ip", ID: "300.1.1.1"}})
			return err
		}, zk.ErrInvalidACL, "create", "/m"},
		{"auth ACL without identity", func() error {
			_, err := c.Create(ctx, "/m", nil, zk.FlagPersistent, zk.AuthACL(zk.PermAll))
			return err
		}, zk.ErrInvalidACL, "create", "/m"},
		{"setACL empty", func() error { _, err := c.SetACL(ctx, "/v", []zk.ACL{}, zk.AnyVersion); return err }, zk.ErrInvalidACL, "setACL", "/v"},
		{"get no auth", func() error { _, _, err := c.Get(ctx, "/secret"); return err }, zk.ErrNoAuth, "get", "/secret"},
		{"exists no auth", func() error { _, _, err := c.Exists(ctx, "/secret"); return err }, zk.ErrNoAuth, "exists", "/secret"},
		{"addAuth unknown scheme", func() error { return c.AddAuth(ctx, "kerberos", []byte("x")) }, zk.ErrAuthFailed, "addAuth", "kerberos"},
		{"removeWatches none", func() error { return c.RemoveWatches(ctx, "/v", zk.WatcherTypeAny) }, zk.ErrNoWatcher, "removeWatches", "/v"},
		{"resume with wrong password", func() error {
			c2, err := n.Connect(ctx, zk.WithSession(c.SessionID(), []byte("wrong password!!")))
			if err == nil {
				c2.Close()
			}
			return err
		}, zk.ErrSessionExpired, "connect", ""},
		{"resume unknown session", func() error {
			c2, err := n.Connect(ctx, zk.WithSession(12345, make([]byte, 16)))
			if err == nil {
				c2.Close()
			}
			return err
		}, zk.ErrSessionExpired, "connect", ""},
		{"connect with unknown auth scheme", func() error {
			c2, err := n.Connect(ctx, zk.WithAuth("bogus", []byte("x")))
			if err == nil {
				c2.Close()
			}
			return err
		}, zk.ErrAuthFailed, "connect", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h2CheckErr(t, tc.do(), tc.want, tc.op, tc.path)
		})
	}
	// Nothing above changed the tree.
	if h2Exists(t, c, "/m") || h2Exists(t, c, "/missing") {
		t.Fatal("a failed operation created a node")
	}
}

func TestConnBadPaths(t *testing.T) {
	_, c := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, c, "/a", nil, zk.FlagPersistent, h2Open)
	bad := []string{"", "a", "a/b", "/a/", "//", "/a//b", "/.", "/a/.", "/a/./b", "/..", "/a/../b", "/a\x00b", "/a\x01", "/a\u007f", "/a\ue000", "/a\xed\xa0\x80", "/\U0001F600", "/a\xff"}
	ops := map[string]func(p string) error{
		"get":                  func(p string) error { _, _, err := c.Get(ctx, p); return err },
		"exists":               func(p string) error { _, _, err := c.Exists(ctx, p); return err },
		"children":             func(p string) error { _, _, err := c.Children(ctx, p); return err },
		"getACL":               func(p string) error { _, _, err := c.GetACL(ctx, p); return err },
		"create":               func(p string) error { _, err := c.Create(ctx, p, nil, zk.FlagPersistent, h2Open); return err },
		"set":                  func(p string) error { _, err := c.Set(ctx, p, nil, zk.AnyVersion); return err },
		"setACL":               func(p string) error { _, err := c.SetACL(ctx, p, h2Open, zk.AnyVersion); return err },
		"delete":               func(p string) error { return c.Delete(ctx, p, zk.AnyVersion) },
		"addWatch":             func(p string) error { _, err := c.AddWatch(ctx, p, zk.AddWatchModePersistent); return err },
		"sync":                 func(p string) error { return c.Sync(ctx, p) },
		"getAllChildrenNumber": func(p string) error { _, err := c.AllChildrenNumber(ctx, p); return err },
	}
	for op, do := range ops {
		for _, p := range bad {
			t.Run(fmt.Sprintf("%s %q", op, p), func(t *testing.T) {
				h2CheckErr(t, do(p), zk.ErrBadArguments, op, p)
			})
		}
	}
	// A sequential create validates the path with its suffix: a trailing
	// slash is allowed, as in ZooKeeper.
	p, err := c.Create(ctx, "/a/", nil, zk.FlagSequence, h2Open)
	if err != nil || p != "/a/0000000000" {
		t.Fatalf("sequential create /a/ = %q, %v; want /a/0000000000", p, err)
	}
	if _, err := c.Create(ctx, "/a//", nil, zk.FlagSequence, h2Open); !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("sequential create /a// = %v, want ErrBadArguments", err)
	}
}

func TestConnMaxDataSize(t *testing.T) {
	h2ZkraftOnly(t, "the node's MaxDataSize")
	const limit = 16
	n := h2Node(t, zk.Config{MaxDataSize: limit})
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	ok := bytes.Repeat([]byte("a"), limit)
	over := bytes.Repeat([]byte("b"), limit+1)

	if _, err := c.Create(ctx, "/ok", ok, zk.FlagPersistent, h2Open); err != nil {
		t.Fatalf("create with %d bytes: %v", limit, err)
	}
	_, err := c.Create(ctx, "/over", over, zk.FlagPersistent, h2Open)
	h2CheckErr(t, err, zk.ErrBadArguments, "create", "/over")
	if h2Exists(t, c, "/over") {
		t.Fatal("oversized create took effect")
	}
	if _, err := c.Set(ctx, "/ok", ok, zk.AnyVersion); err != nil {
		t.Fatalf("set with %d bytes: %v", limit, err)
	}
	_, err = c.Set(ctx, "/ok", over, zk.AnyVersion)
	h2CheckErr(t, err, zk.ErrBadArguments, "set", "/ok")
	data, st, err := c.Get(ctx, "/ok")
	if err != nil || !bytes.Equal(data, ok) || st.Version != 1 {
		t.Fatalf("after failed set: %q v%d %v", data, st.Version, err)
	}
	_, err = c.Multi(ctx, zk.SetOp("/ok", nil, zk.AnyVersion), zk.SetOp("/ok", over, zk.AnyVersion))
	var me *zk.MultiError
	if !errors.As(err, &me) || me.Index != 1 || !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("multi with oversized set: %v", err)
	}
	_, err = c.Multi(ctx, zk.CreateOp("/m", over, zk.FlagPersistent, h2Open))
	if !errors.As(err, &me) || me.Index != 0 || !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("multi with oversized create: %v", err)
	}
	if data, _, _ := c.Get(ctx, "/ok"); !bytes.Equal(data, ok) {
		t.Fatalf("failed multi changed data to %q", data)
	}
}

func TestConnMulti(t *testing.T) {
	h2ZkraftOnly(t, "ZooKeeper 3.8.0 returns no Stat for a multi's creates, and NONODE before BADARGUMENTS for a path with an empty segment")
	_, c := newTestConn(t)
	ctx := h2Ctx(t)

	t.Run("empty", func(t *testing.T) {
		rs, err := c.Multi(ctx)
		if err != nil || len(rs) != 0 {
			t.Fatalf("empty multi = %v, %v", rs, err)
		}
	})

	t.Run("results", func(t *testing.T) {
		rs, err := c.Multi(ctx,
			zk.CreateOp("/r", []byte("d"), zk.FlagPersistent, h2Open),
			zk.CreateOp("/r/s-", nil, zk.FlagSequence, h2Open),
			zk.SetOp("/r", []byte("dd"), 0),
			zk.CheckOp("/r", 1),
			zk.CreateOp("/r/t", nil, zk.FlagPersistent, h2Open),
			zk.DeleteOp("/r/t", 0),
		)
		if err != nil {
			t.Fatalf("Multi: %v", err)
		}
		if len(rs) != 6 {
			t.Fatalf("%d results, want 6", len(rs))
		}
		for i, r := range rs {
			if r.Err != nil {
				t.Errorf("result %d: Err %v", i, r.Err)
			}
		}
		if rs[0].Path != "/r" || rs[1].Path != "/r/s-0000000000" || rs[4].Path != "/r/t" {
			t.Errorf("created paths %q %q %q", rs[0].Path, rs[1].Path, rs[4].Path)
		}
		if rs[0].Stat == nil || rs[0].Stat.Version != 0 || rs[0].Stat.DataLength != 1 {
			t.Errorf("create stat %+v", rs[0].Stat)
		}
		if rs[2].Stat == nil || rs[2].Stat.Version != 1 || rs[2].Stat.DataLength != 2 {
			t.Errorf("set stat %+v", rs[2].Stat)
		}
		if rs[3].Stat != nil || rs[5].Stat != nil {
			t.Errorf("check/delete have a Stat: %+v %+v", rs[3].Stat, rs[5].Stat)
		}
		// One transaction: every op has the same zxid.
		if rs[0].Stat.Czxid != rs[2].Stat.Mzxid || rs[0].Stat.Czxid != rs[1].Stat.Czxid {
			t.Errorf("ops of one multi have different zxids: %d %d %d", rs[0].Stat.Czxid, rs[1].Stat.Czxid, rs[2].Stat.Mzxid)
		}
		st := h2Stat(t, c, "/r")
		if st.NumChildren != 1 || st.Version != 1 || st.Cversion != 3 || st.Pzxid != rs[0].Stat.Czxid || st.DataLength != 2 {
			t.Errorf("stat after multi %+v", st)
		}
		if h2Exists(t, c, "/r/t") || !h2Exists(t, c, "/r/s-0000000000") {
			t.Error("multi effects not visible")
		}
	})

	t.Run("failure has no effect", func(t *testing.T) {
		h2Create(t, c, "/p", []byte("orig"), zk.FlagPersistent, h2Open)
		h2Create(t, c, "/p/keep", nil, zk.FlagPersistent, h2Open)
		before := h2Stat(t, c, "/p")
		rootBefore := h2Stat(t, c, "/")
		_, _, dataW, err := c.GetW(ctx, "/p")
		if err != nil {
			t.Fatal(err)
		}
		_, _, childW, err := c.ChildrenW(ctx, "/p")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := c.Multi(ctx,
			zk.CreateOp("/p/a", nil, zk.FlagPersistent, h2Open),
			zk.CreateOp("/p/s-", nil, zk.FlagSequence, h2Open),
			zk.SetOp("/p", []byte("new"), zk.AnyVersion),
			zk.DeleteOp("/p/keep", zk.AnyVersion),
			zk.CreateOp("/q", nil, zk.FlagPersistent, h2Open),
			zk.DeleteOp("/missing", zk.AnyVersion),
			zk.CreateOp("/p/b", nil, zk.FlagPersistent, h2Open),
			zk.SetOp("/missing2", nil, zk.AnyVersion),
		)
		var me *zk.MultiError
		if !errors.As(err, &me) {
			t.Fatalf("err %v (%T), want *MultiError", err, err)
		}
		if me.Index != 5 || me.Op != "delete" || me.Path != "/missing" || !errors.Is(err, zk.ErrNoNode) || zk.CodeOf(err) != zk.CodeNoNode {
			t.Fatalf("MultiError %+v (code %d)", me, zk.CodeOf(err))
		}
		if len(rs) != 8 {
			t.Fatalf("%d results", len(rs))
		}
		for i, r := range rs {
			want := zk.ErrRolledBack
			switch {
			case i == 5:
				want = zk.ErrNoNode
			case i > 5:
				want = zk.ErrRuntimeInconsistency
			}
			if !errors.Is(r.Err, want) {
				t.Errorf("result %d: %v, want %v", i, r.Err, want)
			}
			if r.Stat != nil || r.Path != "" {
				t.Errorf("result %d of a failed multi has %q %+v", i, r.Path, r.Stat)
			}
		}
		for _, p := range []string{"/p/a", "/p/s-0000000000", "/p/s-0000000001", "/q", "/p/b"} {
			if h2Exists(t, c, p) {
				t.Errorf("%s exists after a failed multi", p)
			}
		}
		if !h2Exists(t, c, "/p/keep") {
			t.Error("/p/keep deleted by a failed multi")
		}
		data, after, err := c.Get(ctx, "/p")
		if err != nil || string(data) != "orig" || *after != before {
			t.Errorf("/p after failed multi: %q %+v (before %+v) %v", data, *after, before, err)
		}
		if rootAfter := h2Stat(t, c, "/"); rootAfter != rootBefore {
			t.Errorf("/ after failed multi: %+v, before %+v", rootAfter, rootBefore)
		}
		select {
		case ev := <-dataW:
			t.Fatalf("failed multi fired %+v", ev)
		case ev := <-childW:
			t.Fatalf("failed multi fired %+v", ev)
		default:
		}
		// The sequence counter did not move, and the watches are still set.
		p := h2Create(t, c, "/p/s-", nil, zk.FlagSequence, h2Open)
		if p != "/p/s-0000000001" {
			t.Errorf("next sequential name %q, want /p/s-0000000001 (one earlier child)", p)
		}
		h2Recv(t, childW, zk.EventNodeChildrenChanged, "/p")
		if _, err := c.Set(ctx, "/p", nil, zk.AnyVersion); err != nil {
			t.Fatal(err)
		}
		h2Recv(t, dataW, zk.EventNodeDataChanged, "/p")
	})

	t.Run("first failure wins", func(t *testing.T) {
		h2Create(t, c, "/f", nil, zk.FlagPersistent, h2Open)
		tests := []struct {
			name  string
			ops   []zk.Op
			index int
			want  error
		}{
			{"tree failure before bad path", []zk.Op{zk.SetOp("/missing", nil, zk.AnyVersion), zk.CreateOp("/bad//path", nil, zk.FlagPersistent, h2Open)}, 0, zk.ErrNoNode},
			{"tree failure before bad ACL", []zk.Op{zk.CheckOp("/f", 5), zk.CreateOp("/f/x", nil, zk.FlagPersistent, nil)}, 0, zk.ErrBadVersion},
			{"bad path after good op", []zk.Op{zk.CreateOp("/f/ok", nil, zk.FlagPersistent, h2Open), zk.CreateOp("/bad//path", nil, zk.FlagPersistent, h2Open)}, 1, zk.ErrBadArguments},
			{"bad ACL after good op", []zk.Op{zk.CreateOp("/f/ok", nil, zk.FlagPersistent, h2Open), zk.CreateOp("/f/x", nil, zk.FlagPersistent, nil)}, 1, zk.ErrInvalidACL},
			{"sees earlier op", []zk.Op{zk.CreateOp("/f/x", nil, zk.FlagPersistent, h2Open), zk.CreateOp("/f/x", nil, zk.FlagPersistent, h2Open)}, 1, zk.ErrNodeExists},
			{"two failures", []zk.Op{zk.CheckOp("/f", zk.AnyVersion), zk.DeleteOp("/f/none", 0), zk.DeleteOp("/f", 3)}, 1, zk.ErrNoNode},
			{"delete then check", []zk.Op{zk.CreateOp("/f/y", nil, zk.FlagPersistent, h2Open), zk.DeleteOp("/f/y", 0), zk.CheckOp("/f/y", zk.AnyVersion)}, 2, zk.ErrNoNode},
			{"not empty after create", []zk.Op{zk.CreateOp("/f/z", nil, zk.FlagPersistent, h2Open), zk.DeleteOp("/f", zk.AnyVersion)}, 1, zk.ErrNotEmpty},
		}
		before := h2Stat(t, c, "/f")
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rs, err := c.Multi(ctx, tc.ops...)
				var me *zk.MultiError
				if !errors.As(err, &me) || me.Index != tc.index || !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want op %d failing with %v", err, tc.index, tc.want)
				}
				if me.Path != tc.ops[tc.index].Path() {
					t.Errorf("MultiError.Path %q", me.Path)
				}
				if len(rs) != len(tc.ops) || !errors.Is(rs[tc.index].Err, tc.want) {
					t.Fatalf("results %+v", rs)
				}
				for i := 0; i < tc.index; i++ {
					if !errors.Is(rs[i].Err, zk.ErrRolledBack) || zk.CodeOf(rs[i].Err) != zk.CodeOK {
						t.Errorf("result %d: %v", i, rs[i].Err)
					}
				}
				for i := tc.index + 1; i < len(rs); i++ {
					if !errors.Is(rs[i].Err, zk.ErrRuntimeInconsistency) {
						t.Errorf("result %d: %v", i, rs[i].Err)
					}
				}
			})
		}
		if after := h2Stat(t, c, "/f"); after != before {
			t.Errorf("/f changed by failed multis: %+v -> %+v", before, after)
		}
	})
}

func TestConnNoAliasing(t *testing.T) {
	_, c := newTestConn(t)
	ctx := h2Ctx(t)
	data := []byte("hello")
	acl := []zk.ACL{{Perms: zk.PermAll, Scheme: "world", ID: "anyone"}, {Perms: zk.PermRead, Scheme: "ip", ID: "10.0.0.1"}}
	if _, err := c.Create(ctx, "/a", data, zk.FlagPersistent, acl); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	acl[0].Perms = zk.PermRead
	acl[1].ID = "10.9.9.9"
	got, _, err := c.Get(ctx, "/a")
	if err != nil || string(got) != "hello" {
		t.Fatalf("Get after mutating Create's slice: %q %v", got, err)
	}
	got[0] = 'Y'
	if again, _, _ := c.Get(ctx, "/a"); string(again) != "hello" {
		t.Fatalf("Get after mutating Get's result: %q", again)
	}
	wantACL := []zk.ACL{{Perms: zk.PermAll, Scheme: "world", ID: "anyone"}, {Perms: zk.PermRead, Scheme: "ip", ID: "10.0.0.1"}}
	gotACL, _, err := c.GetACL(ctx, "/a")
	if err != nil || !slices.Equal(gotACL, wantACL) {
		t.Fatalf("GetACL after mutating Create's ACL: %v %v", gotACL, err)
	}
	gotACL[0].Perms = 0
	gotACL[1].ID = "1.2.3.4"
	if again, _, _ := c.GetACL(ctx, "/a"); !slices.Equal(again, wantACL) {
		t.Fatalf("GetACL after mutating GetACL's result: %v", again)
	}

	set := []byte("world")
	if _, err := c.Set(ctx, "/a", set, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	set[0] = 'Z'
	if got, _, _ := c.Get(ctx, "/a"); string(got) != "world" {
		t.Fatalf("Get after mutating Set's slice: %q", got)
	}
	newACL := zk.WorldACL(zk.PermRead | zk.PermWrite | zk.PermAdmin)
	if _, err := c.SetACL(ctx, "/a", newACL, zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	newACL[0].Perms = zk.PermAll
	if got, _, _ := c.GetACL(ctx, "/a"); got[0].Perms != zk.PermRead|zk.PermWrite|zk.PermAdmin {
		t.Fatalf("GetACL after mutating SetACL's slice: %v", got)
	}

	mdata := []byte("multi")
	if _, err := c.Multi(ctx, zk.CreateOp("/b", mdata, zk.FlagPersistent, h2Open), zk.SetOp("/a", mdata, zk.AnyVersion)); err != nil {
		t.Fatal(err)
	}
	mdata[0] = 'Q'
	for _, p := range []string{"/a", "/b"} {
		if got, _, _ := c.Get(ctx, p); string(got) != "multi" {
			t.Fatalf("Get %s after mutating Multi's slice: %q", p, got)
		}
	}

	// Sharing one buffer between two nodes does not make them share data.
	shared := []byte("same")
	h2Create(t, c, "/s1", shared, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/s2", shared, zk.FlagPersistent, h2Open)
	d1, _, _ := c.Get(ctx, "/s1")
	d1[0] = '!'
	if d2, _, _ := c.Get(ctx, "/s2"); string(d2) != "same" {
		t.Fatalf("/s2 = %q", d2)
	}

	kids, _, err := c.Children(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	for i := range kids {
		kids[i] = "clobbered"
	}
	if again, _, _ := c.Children(ctx, "/"); slices.Contains(again, "clobbered") {
		t.Fatalf("Children after mutating its result: %v", again)
	}

	// nil and empty data stay apart, as in ZooKeeper.
	h2Create(t, c, "/nil", nil, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/empty", []byte{}, zk.FlagPersistent, h2Open)
	if d, _, _ := c.Get(ctx, "/nil"); d != nil {
		t.Errorf("nil data came back as %#v", d)
	}
	if d, _, _ := c.Get(ctx, "/empty"); d == nil || len(d) != 0 {
		t.Errorf("empty data came back as %#v", d)
	}
}

func TestConnCloseRemovesEphemerals(t *testing.T) {
	h2ZkraftOnly(t, "it also uses an in-process Conn on the node")
	n, observer := newTestConn(t)
	ctx := h2Ctx(t)
	owner, err := n.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h2Create(t, observer, "/dir", nil, zk.FlagPersistent, h2Open)
	h2Create(t, owner, "/e1", nil, zk.FlagEphemeral, h2Open)
	h2Create(t, owner, "/dir/e2", nil, zk.FlagEphemeral, h2Open)
	seq := h2Create(t, owner, "/dir/s-", nil, zk.FlagEphemeralSequential, h2Open)
	h2Create(t, owner, "/persist", nil, zk.FlagPersistent, h2Open)
	eph, err := owner.Ephemerals(ctx, "/")
	if want := []string{"/dir/e2", seq, "/e1"}; err != nil || !slices.Equal(eph, want) {
		t.Fatalf("Ephemerals = %v %v, want %v", eph, err, want)
	}
	if eph, _ := owner.Ephemerals(ctx, "/dir"); len(eph) != 2 {
		t.Fatalf("Ephemerals(/dir) = %v", eph)
	}
	if st := h2Stat(t, observer, "/e1"); st.EphemeralOwner != owner.SessionID() {
		t.Fatalf("EphemeralOwner %x, want %x", st.EphemeralOwner, owner.SessionID())
	}
	rootBefore := h2Stat(t, observer, "/")
	if err := owner.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, p := range []string{"/e1", "/dir/e2", seq} {
		if h2Exists(t, observer, p) {
			t.Errorf("%s still exists after Close returned", p)
		}
	}
	if !h2Exists(t, observer, "/persist") {
		t.Error("a persistent node went with its creator's session")
	}
	rootAfter := h2Stat(t, observer, "/")
	if rootAfter.Cversion != rootBefore.Cversion+1 || rootAfter.NumChildren != rootBefore.NumChildren-1 || rootAfter.Pzxid <= rootBefore.Pzxid {
		t.Errorf("/ after close: %+v, before %+v", rootAfter, rootBefore)
	}
	if err := owner.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if owner.State() != zk.StateClosed {
		t.Errorf("State %v, want StateClosed", owner.State())
	}
	h2AfterEnd(t, owner, zk.ErrClosing)
	// The session is gone from the ensemble: it cannot be resumed.
	_, err = n.Connect(ctx, zk.WithSession(owner.SessionID(), owner.SessionPassword()))
	h2CheckErr(t, err, zk.ErrSessionExpired, "connect", "")
	// The events channel said Connected, then Closed, then closed.
	h2SessionEvents(t, owner, zk.StateConnected, zk.StateClosed)
}

// h2SessionEvents checks that c's Events channel delivers exactly the
// given states and then closes.
func h2SessionEvents(t *testing.T, c *zk.Conn, states ...zk.State) {
	t.Helper()
	for _, s := range states {
		select {
		case ev, ok := <-c.Events():
			if !ok || ev.Type != zk.EventSession || ev.State != s {
				t.Fatalf("session event %+v (open %v), want %v", ev, ok, s)
			}
		case <-time.After(h2Wait):
			t.Fatalf("no session event %v", s)
		}
	}
	select {
	case ev, ok := <-c.Events():
		if ok {
			t.Fatalf("extra session event %+v", ev)
		}
	case <-time.After(h2Wait):
		t.Fatal("Events not closed")
	}
}

// h2AfterEnd checks that every operation of an ended Conn fails with want.
func h2AfterEnd(t *testing.T, c *zk.Conn, want error) {
	t.Helper()
	ctx := h2Ctx(t)
	ops := []struct {
		op string
		do func() error
	}{
		{"get", func() error { _, _, err := c.Get(ctx, "/x"); return err }},
		{"get", func() error { _, _, _, err := c.GetW(ctx, "/x"); return err }},
		{"exists", func() error { _, _, err := c.Exists(ctx, "/x"); return err }},
		{"exists", func() error { _, _, _, err := c.ExistsW(ctx, "/x"); return err }},
		{"children", func() error { _, _, err := c.Children(ctx, "/x"); return err }},
		{"children", func() error { _, _, _, err := c.ChildrenW(ctx, "/x"); return err }},
		{"getACL", func() error { _, _, err := c.GetACL(ctx, "/x"); return err }},
		{"create", func() error { _, err := c.Create(ctx, "/x", nil, zk.FlagPersistent, h2Open); return err }},
		{"create", func() error { _, _, err := c.CreateTTL(ctx, "/x", nil, zk.FlagTTL, h2Open, time.Hour); return err }},
		{"set", func() error { _, err := c.Set(ctx, "/x", nil, zk.AnyVersion); return err }},
		{"setACL", func() error { _, err := c.SetACL(ctx, "/x", h2Open, zk.AnyVersion); return err }},
		{"delete", func() error { return c.Delete(ctx, "/x", zk.AnyVersion) }},
		{"multi", func() error { _, err := c.Multi(ctx, zk.CheckOp("/", zk.AnyVersion)); return err }},
		{"addWatch", func() error { _, err := c.AddWatch(ctx, "/x", zk.AddWatchModePersistent); return err }},
		{"removeWatches", func() error { return c.RemoveWatches(ctx, "/x", zk.WatcherTypeAny) }},
		{"addAuth", func() error { return c.AddAuth(ctx, "digest", []byte("u:p")) }},
		{"sync", func() error { return c.Sync(ctx, "/x") }},
		{"getEphemerals", func() error { _, err := c.Ephemerals(ctx, "/x"); return err }},
		{"getAllChildrenNumber", func() error { _, err := c.AllChildrenNumber(ctx, "/x"); return err }},
	}
	for _, o := range ops {
		err := o.do()
		if !errors.Is(err, want) {
			t.Errorf("%s on an ended Conn: %v, want %v", o.op, err, want)
			continue
		}
		var oe *zk.OpError
		if !errors.As(err, &oe) || oe.Op != o.op {
			t.Errorf("%s on an ended Conn: %#v", o.op, err)
		}
	}
}

func TestConnNodeCloseDisconnects(t *testing.T) {
	n, err := zk.Open(h2Ctx(t), zk.Config{ID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.Connect(h2Ctx(t))
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	_, _, w, err := c.ExistsW(h2Ctx(t), "/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Node.Close: %v", err)
	}
	if c.State() != zk.StateDisconnected {
		t.Errorf("State %v, want StateDisconnected", c.State())
	}
	h2SessionEvents(t, c, zk.StateConnected, zk.StateDisconnected)
	ev := h2Recv(t, w, zk.EventNotWatching, "/x")
	if ev.State != zk.StateDisconnected || !errors.Is(ev.Err, zk.ErrClosing) {
		t.Errorf("NotWatching event %+v", ev)
	}
	h2Closed(t, w)
	h2AfterEnd(t, c, zk.ErrClosing)
	if err := c.Close(); err != nil {
		t.Errorf("Close after Node.Close: %v", err)
	}
	if _, err := n.Connect(h2Ctx(t)); !errors.Is(err, zk.ErrClosing) {
		t.Errorf("Connect on a closed node: %v, want ErrClosing", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Node.Close: %v", err)
	}
}

func TestConnSessionMoved(t *testing.T) {
	if *connOverWire {
		t.Skip("over the wire, two clients of one session take it from each other in turn, as with ZooKeeper: the old Conn reconnects")
	}
	n, a := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, a, "/eph", nil, zk.FlagEphemeral, h2Open)
	_, _, w, err := a.GetW(ctx, "/eph")
	if err != nil {
		t.Fatal(err)
	}
	b := h2Conn(t, n, zk.WithSession(a.SessionID(), a.SessionPassword()))
	if b.SessionID() != a.SessionID() || b.SessionTimeout() != a.SessionTimeout() {
		t.Fatalf("resumed session %x/%v, want %x/%v", b.SessionID(), b.SessionTimeout(), a.SessionID(), a.SessionTimeout())
	}
	if a.State() != zk.StateDisconnected {
		t.Errorf("old Conn state %v", a.State())
	}
	ev := h2Recv(t, w, zk.EventNotWatching, "/eph")
	if !errors.Is(ev.Err, zk.ErrSessionMoved) {
		t.Errorf("old watch ended with %+v", ev)
	}
	h2AfterEnd(t, a, zk.ErrSessionMoved)
	h2SessionEvents(t, a, zk.StateConnected, zk.StateDisconnected)
	// The ephemeral survives the move and belongs to the resumed session.
	if st := h2Stat(t, b, "/eph"); st.EphemeralOwner != b.SessionID() {
		t.Fatalf("EphemeralOwner %x", st.EphemeralOwner)
	}
	if eph, _ := b.Ephemerals(ctx, ""); !slices.Equal(eph, []string{"/eph"}) {
		t.Fatalf("Ephemerals %v", eph)
	}
}

func TestConnStat(t *testing.T) {
	h2ZkraftOnly(t, "it compares with the node's zxid")
	n, c := newTestConn(t)
	ctx := h2Ctx(t)
	last := n.LastZxid()
	next := func(what string, z int64) {
		t.Helper()
		if z <= last {
			t.Fatalf("%s: zxid %d not above %d", what, z, last)
		}
		if z != n.LastZxid() {
			t.Fatalf("%s: zxid %d, node's last zxid %d", what, z, n.LastZxid())
		}
		last = z
	}

	root0 := h2Stat(t, c, "/")
	p, st, err := c.CreateStat(ctx, "/s", []byte("abc"), zk.FlagPersistent, h2Open)
	if err != nil || p != "/s" {
		t.Fatal(p, err)
	}
	next("create", st.Czxid)
	want := zk.Stat{Czxid: st.Czxid, Mzxid: st.Czxid, Pzxid: st.Czxid, Ctime: st.Ctime, Mtime: st.Ctime, DataLength: 3}
	if *st != want || st.Ctime == 0 {
		t.Fatalf("create stat %+v, want %+v", *st, want)
	}
	if got := h2Stat(t, c, "/s"); got != *st {
		t.Fatalf("Exists stat %+v, CreateStat %+v", got, *st)
	}
	root1 := h2Stat(t, c, "/")
	if root1.Cversion != root0.Cversion+1 || root1.NumChildren != root0.NumChildren+1 || root1.Pzxid != st.Czxid ||
		root1.Version != root0.Version || root1.Mzxid != root0.Mzxid {
		t.Fatalf("root after create: %+v, before %+v", root1, root0)
	}

	_, cst, err := c.CreateStat(ctx, "/s/c", nil, zk.FlagPersistent, h2Open)
	if err != nil {
		t.Fatal(err)
	}
	next("create child", cst.Czxid)
	if cst.DataLength != 0 {
		t.Fatalf("child stat %+v", cst)
	}
	s1 := h2Stat(t, c, "/s")
	if s1.Cversion != 1 || s1.NumChildren != 1 || s1.Pzxid != cst.Czxid || s1.Version != 0 || s1.Mzxid != st.Czxid {
		t.Fatalf("/s after child create: %+v", s1)
	}

	sst, err := c.Set(ctx, "/s", []byte("hello"), 0)
	if err != nil {
		t.Fatal(err)
	}
	next("set", sst.Mzxid)
	if sst.Version != 1 || sst.Czxid != st.Czxid || sst.Pzxid != cst.Czxid || sst.DataLength != 5 || sst.Cversion != 1 || sst.NumChildren != 1 || sst.Ctime != st.Ctime || sst.Aversion != 0 {
		t.Fatalf("set stat %+v", sst)
	}
	if got := h2Stat(t, c, "/s"); got != *sst {
		t.Fatalf("Exists %+v, Set %+v", got, *sst)
	}

	ast, err := c.SetACL(ctx, "/s", zk.WorldACL(zk.PermAll), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n.LastZxid() <= last {
		t.Fatal("setACL did not advance the zxid")
	}
	last = n.LastZxid()
	if ast.Aversion != 1 || ast.Version != 1 || ast.Mzxid != sst.Mzxid || ast.Pzxid != sst.Pzxid || ast.Cversion != 1 {
		t.Fatalf("setACL stat %+v", ast)
	}
	if _, gst, _ := c.GetACL(ctx, "/s"); *gst != *ast {
		t.Fatalf("GetACL stat %+v, SetACL %+v", *gst, *ast)
	}

	if err := c.Delete(ctx, "/s/c", 0); err != nil {
		t.Fatal(err)
	}
	next("delete", n.LastZxid())
	s2 := h2Stat(t, c, "/s")
	if s2.Cversion != 2 || s2.NumChildren != 0 || s2.Pzxid != last || s2.Version != 1 || s2.Mzxid != sst.Mzxid || s2.Aversion != 1 {
		t.Fatalf("/s after child delete: %+v", s2)
	}

	_, est, err := c.CreateStat(ctx, "/s/e", []byte("x"), zk.FlagEphemeral, h2Open)
	if err != nil {
		t.Fatal(err)
	}
	next("create ephemeral", est.Czxid)
	if est.EphemeralOwner != c.SessionID() || c.SessionID() == 0 {
		t.Fatalf("ephemeral owner %x, session %x", est.EphemeralOwner, c.SessionID())
	}
	_, cost, err := c.CreateStat(ctx, "/s/container", nil, zk.FlagContainer, h2Open)
	if err != nil {
		t.Fatal(err)
	}
	next("create container", cost.Czxid)
	_, tst, err := c.CreateTTL(ctx, "/s/ttl", nil, zk.FlagTTL, h2Open, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	next("create ttl", tst.Czxid)
	if cost.EphemeralOwner != 0 || tst.EphemeralOwner != 0 {
		t.Fatalf("container/TTL show EphemeralOwner %x / %x, want 0", cost.EphemeralOwner, tst.EphemeralOwner)
	}
	// Many writes: every zxid is above the one before.
	for i := range 50 {
		st, err := c.Set(ctx, "/s", []byte{byte(i)}, zk.AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		next("set loop", st.Mzxid)
		if st.Version != int32(i+2) {
			t.Fatalf("version %d after %d sets", st.Version, i+2)
		}
	}
}

func TestConnACL(t *testing.T) {
	h2ZkraftOnly(t, "the super digest is the node's configuration")
	super := zk.DigestID("super", "superpw")
	n := h2Node(t, zk.Config{SuperDigest: super})
	ctx := h2Ctx(t)
	alice := h2Conn(t, n, zk.WithAuth("digest", []byte("alice:pw")))
	anon := h2Conn(t, n)
	aliceACL := zk.DigestACL(zk.PermAll, "alice", "pw")

	h2Create(t, alice, "/secret", []byte("s"), zk.FlagPersistent, aliceACL)
	h2Create(t, alice, "/secret/kid", nil, zk.FlagPersistent, h2Open)
	_, _, err := anon.Get(ctx, "/secret")
	h2CheckErr(t, err, zk.ErrNoAuth, "get", "/secret")
	if d, _, err := alice.Get(ctx, "/secret"); err != nil || string(d) != "s" {
		t.Fatalf("alice Get: %q %v", d, err)
	}

	t.Run("AddAuth grants", func(t *testing.T) {
		c := h2Conn(t, n)
		if err := c.AddAuth(ctx, "digest", []byte("alice:wrong")); err != nil {
			t.Fatalf("AddAuth with a wrong password is not an error in ZooKeeper: %v", err)
		}
		if _, _, err := c.Get(ctx, "/secret"); !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("wrong password: %v", err)
		}
		if err := c.AddAuth(ctx, "digest", []byte("alice:pw")); err != nil {
			t.Fatal(err)
		}
		if d, _, err := c.Get(ctx, "/secret"); err != nil || string(d) != "s" {
			t.Fatalf("after AddAuth: %q %v", d, err)
		}
		if err := c.AddAuth(ctx, "ip", nil); err != nil {
			t.Fatalf("AddAuth ip: %v", err)
		}
	})

	t.Run("AuthACL", func(t *testing.T) {
		c := h2Conn(t, n, zk.WithAuth("digest", []byte("bob:pw")), zk.WithAuth("digest", []byte("carol:pw")))
		h2Create(t, c, "/bob", nil, zk.FlagPersistent, zk.AuthACL(zk.PermAll))
		acl, _, err := c.GetACL(ctx, "/bob")
		want := []zk.ACL{
			{Perms: zk.PermAll, Scheme: "digest", ID: zk.DigestID("bob", "pw")},
			{Perms: zk.PermAll, Scheme: "digest", ID: zk.DigestID("carol", "pw")},
		}
		if err != nil || !slices.Equal(acl, want) {
			t.Fatalf("GetACL = %v %v, want %v", acl, err, want)
		}
		if _, _, err := anon.Get(ctx, "/bob"); !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("anon Get /bob: %v", err)
		}
		carol := h2Conn(t, n, zk.WithAuth("digest", []byte("carol:pw")))
		if _, _, err := carol.Get(ctx, "/bob"); err != nil {
			t.Fatalf("carol Get /bob: %v", err)
		}
	})

	t.Run("super", func(t *testing.T) {
		c := h2Conn(t, n)
		if err := c.AddAuth(ctx, "digest", []byte("super:superpw")); err != nil {
			t.Fatal(err)
		}
		h2Create(t, alice, "/locked", []byte("l"), zk.FlagPersistent, zk.DigestACL(zk.PermRead, "alice", "pw"))
		h2Create(t, alice, "/locked2", []byte("l"), zk.FlagPersistent, zk.DigestACL(zk.PermRead, "alice", "pw"))
		if _, _, err := c.Get(ctx, "/secret"); err != nil {
			t.Fatalf("super Get: %v", err)
		}
		acl, _, err := c.GetACL(ctx, "/locked")
		if err != nil || acl[0].ID != zk.DigestID("alice", "pw") {
			t.Fatalf("super GetACL: %v %v (masked?)", acl, err)
		}
		if _, err := c.Set(ctx, "/locked", []byte("x"), zk.AnyVersion); err != nil {
			t.Fatalf("super Set: %v", err)
		}
		if _, err := c.Create(ctx, "/locked/k", nil, zk.FlagPersistent, h2Open); err != nil {
			t.Fatalf("super Create: %v", err)
		}
		if err := c.Delete(ctx, "/locked/k", zk.AnyVersion); err != nil {
			t.Fatalf("super Delete: %v", err)
		}
		if _, err := c.SetACL(ctx, "/locked2", h2Open, zk.AnyVersion); err != nil {
			t.Fatalf("super SetACL: %v", err)
		}
		if _, err := anon.Set(ctx, "/locked2", nil, zk.AnyVersion); err != nil {
			t.Fatalf("anon Set after super opened the ACL: %v", err)
		}
		// A wrong super password is just another digest identity.
		c2 := h2Conn(t, n, zk.WithAuth("digest", []byte("super:nope")))
		if _, _, err := c2.Get(ctx, "/secret"); !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("wrong super password: %v", err)
		}
		// WithAuth gives super too.
		c3 := h2Conn(t, n, zk.WithAuth("digest", []byte("super:superpw")))
		if _, _, err := c3.Get(ctx, "/secret"); err != nil {
			t.Fatalf("WithAuth super: %v", err)
		}
	})

	t.Run("GetACL masking", func(t *testing.T) {
		acl := []zk.ACL{
			{Perms: zk.PermRead, Scheme: "world", ID: "anyone"},
			{Perms: zk.PermAll, Scheme: "digest", ID: zk.DigestID("alice", "pw")},
			{Perms: zk.PermRead, Scheme: "ip", ID: "10.0.0.0/8"},
		}
		h2Create(t, alice, "/masked", nil, zk.FlagPersistent, acl)
		got, _, err := anon.GetACL(ctx, "/masked")
		masked := slices.Clone(acl)
		masked[1].ID = "alice:x"
		if err != nil || !slices.Equal(got, masked) {
			t.Fatalf("anon GetACL = %v %v, want %v", got, err, masked)
		}
		if got, _, err := alice.GetACL(ctx, "/masked"); err != nil || !slices.Equal(got, acl) {
			t.Fatalf("admin GetACL = %v %v", got, err)
		}
		// ADMIN without READ is enough, unmasked.
		adminOnly := []zk.ACL{{Perms: zk.PermAdmin, Scheme: "world", ID: "anyone"}, {Perms: zk.PermRead, Scheme: "digest", ID: zk.DigestID("alice", "pw")}}
		h2Create(t, alice, "/adminonly", nil, zk.FlagPersistent, adminOnly)
		if got, _, err := anon.GetACL(ctx, "/adminonly"); err != nil || !slices.Equal(got, adminOnly) {
			t.Fatalf("ADMIN-only GetACL = %v %v", got, err)
		}
		// Neither READ nor ADMIN.
		_, _, err = anon.GetACL(ctx, "/secret")
		h2CheckErr(t, err, zk.ErrNoAuth, "getACL", "/secret")
	})

	t.Run("SetACL version", func(t *testing.T) {
		h2Create(t, alice, "/av", nil, zk.FlagPersistent, h2Open)
		st, err := alice.SetACL(ctx, "/av", aliceACL, 0)
		if err != nil || st.Aversion != 1 {
			t.Fatalf("SetACL v0: %+v %v", st, err)
		}
		_, err = alice.SetACL(ctx, "/av", h2Open, 0)
		h2CheckErr(t, err, zk.ErrBadVersion, "setACL", "/av")
		if _, err := alice.SetACL(ctx, "/av", h2Open, 1); err != nil {
			t.Fatal(err)
		}
		if _, st, _ := alice.GetACL(ctx, "/av"); st.Aversion != 2 {
			t.Fatalf("aversion %d", st.Aversion)
		}
	})

	t.Run("ip", func(t *testing.T) {
		h2Create(t, alice, "/local", []byte("x"), zk.FlagPersistent, []zk.ACL{{Perms: zk.PermRead, Scheme: "ip", ID: "127.0.0.1"}})
		h2Create(t, alice, "/remote", []byte("x"), zk.FlagPersistent, []zk.ACL{{Perms: zk.PermRead, Scheme: "ip", ID: "10.0.0.1"}})
		h2Create(t, alice, "/subnet", []byte("x"), zk.FlagPersistent, []zk.ACL{{Perms: zk.PermRead, Scheme: "ip", ID: "127.0.0.0/8"}})
		if _, _, err := anon.Get(ctx, "/local"); err != nil {
			t.Errorf("ip 127.0.0.1: %v", err)
		}
		if _, _, err := anon.Get(ctx, "/subnet"); err != nil {
			t.Errorf("ip 127.0.0.0/8: %v", err)
		}
		if _, _, err := anon.Get(ctx, "/remote"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("ip 10.0.0.1: %v", err)
		}
	})
}

func TestConnACLPerOp(t *testing.T) {
	h2ZkraftOnly(t, "exists on a node without READ is NOAUTH here (protocol.md §6.3); ZooKeeper 3.8.0 answers with the Stat")
	_, c := newTestConn(t)
	ctx := h2Ctx(t)
	all := zk.PermAll
	tests := []struct {
		name   string
		perm   zk.Perm // the permission needed
		parent bool    // needed on the parent rather than the node
		op     string
		do     func(path string) error
	}{
		{"get", zk.PermRead, false, "get", func(p string) error { _, _, err := c.Get(ctx, p); return err }},
		{"getW", zk.PermRead, false, "get", func(p string) error { _, _, _, err := c.GetW(ctx, p); return err }},
		{"exists", zk.PermRead, false, "exists", func(p string) error { _, _, err := c.Exists(ctx, p); return err }},
		{"existsW", zk.PermRead, false, "exists", func(p string) error { _, _, _, err := c.ExistsW(ctx, p); return err }},
		{"children", zk.PermRead, false, "children", func(p string) error { _, _, err := c.Children(ctx, p); return err }},
		{"childrenW", zk.PermRead, false, "children", func(p string) error { _, _, _, err := c.ChildrenW(ctx, p); return err }},
		{"allChildrenNumber", zk.PermRead, false, "getAllChildrenNumber", func(p string) error { _, err := c.AllChildrenNumber(ctx, p); return err }},
		{"set", zk.PermWrite, false, "set", func(p string) error { _, err := c.Set(ctx, p, []byte("x"), zk.AnyVersion); return err }},
		{"setACL", zk.PermAdmin, false, "setACL", func(p string) error { _, err := c.SetACL(ctx, p, zk.WorldACL(zk.PermRead), zk.AnyVersion); return err }},
		{"delete", zk.PermDelete, true, "delete", func(p string) error { return c.Delete(ctx, p, zk.AnyVersion) }},
		{"create", zk.PermCreate, true, "create", func(p string) error {
			_, err := c.Create(ctx, p+"-new", nil, zk.FlagPersistent, h2Open)
			return err
		}},
		{"check", zk.PermRead, false, "multi", func(p string) error { _, err := c.Multi(ctx, zk.CheckOp(p, zk.AnyVersion)); return err }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, granted := range []bool{false, true} {
				perms := all &^ tc.perm
				if granted {
					perms = tc.perm
				}
				dir := fmt.Sprintf("/t%d-%v", i, granted)
				node := dir + "/n"
				dirACL, nodeACL := h2Open, zk.WorldACL(all)
				if tc.parent {
					dirACL = zk.WorldACL(perms)
				} else {
					nodeACL = zk.WorldACL(perms)
				}
				h2Create(t, c, dir, nil, zk.FlagPersistent, zk.WorldACL(all))
				h2Create(t, c, node, nil, zk.FlagPersistent, nodeACL)
				if _, err := c.SetACL(ctx, dir, dirACL, zk.AnyVersion); err != nil {
					t.Fatal(err)
				}
				err := tc.do(node)
				if granted {
					if err != nil {
						t.Errorf("with only %v: %v", tc.perm, err)
					}
					continue
				}
				if tc.op == "multi" {
					var me *zk.MultiError
					if !errors.As(err, &me) || !errors.Is(err, zk.ErrNoAuth) {
						t.Errorf("without %v: %v", tc.perm, err)
					}
					continue
				}
				path := node
				if tc.name == "create" {
					path = node + "-new"
				}
				h2CheckErr(t, err, zk.ErrNoAuth, tc.op, path)
			}
		})
	}
	// ErrNoAuth for a missing node under a parent without DELETE: ZooKeeper
	// checks the parent first.
	h2Create(t, c, "/nodel", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll&^zk.PermDelete))
	if err := c.Delete(ctx, "/nodel/missing", zk.AnyVersion); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("delete missing child of a no-DELETE parent: %v, want ErrNoAuth", err)
	}
	// A failed watch-setting read sets no watch.
	h2Create(t, c, "/noread", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll&^zk.PermRead))
	if _, _, _, err := c.GetW(ctx, "/noread"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatal(err)
	}
	if err := c.RemoveWatches(ctx, "/noread", zk.WatcherTypeAny); !errors.Is(err, zk.ErrNoWatcher) {
		t.Errorf("a GetW refused by the ACL left a watch: %v", err)
	}
}

func TestConnCreateModes(t *testing.T) {
	_, c := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, c, "/seq", nil, zk.FlagPersistent, h2Open)
	steps := []struct {
		path string
		mode zk.CreateMode
		ttl  time.Duration
		want string
	}{
		{"/seq/a-", zk.FlagSequence, 0, "/seq/a-0000000000"},
		{"/seq/b-", zk.FlagSequence, 0, "/seq/b-0000000001"},
		{"/seq/plain", zk.FlagPersistent, 0, "/seq/plain"},
		{"/seq/e-", zk.FlagEphemeralSequential, 0, "/seq/e-0000000003"},
		{"/seq/t-", zk.FlagSequenceTTL, time.Hour, "/seq/t-0000000004"},
		{"/seq/ttl", zk.FlagTTL, time.Minute, "/seq/ttl"},
		{"/seq/cont", zk.FlagContainer, 0, "/seq/cont"},
		{"/seq/", zk.FlagSequence, 0, "/seq/0000000007"},
	}
	for _, s := range steps {
		var (
			p   string
			err error
		)
		if s.ttl != 0 {
			p, _, err = c.CreateTTL(ctx, s.path, nil, s.mode, h2Open, s.ttl)
		} else {
			p, err = c.Create(ctx, s.path, nil, s.mode, h2Open)
		}
		if err != nil || p != s.want {
			t.Fatalf("create %s (%v) = %q, %v; want %q", s.path, s.mode, p, err, s.want)
		}
	}
	// Deleting children does not reuse sequence numbers.
	if err := c.Delete(ctx, "/seq/a-0000000000", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if p := h2Create(t, c, "/seq/a-", nil, zk.FlagSequence, h2Open); p != "/seq/a-0000000008" {
		t.Fatalf("after delete: %q", p)
	}
	// Sequence numbers are per parent.
	h2Create(t, c, "/seq2", nil, zk.FlagPersistent, h2Open)
	if p := h2Create(t, c, "/seq2/a-", nil, zk.FlagSequence, h2Open); p != "/seq2/a-0000000000" {
		t.Fatalf("other parent: %q", p)
	}
	// A sequential name that exists already is ErrNodeExists.
	h2Create(t, c, "/seq2/x0000000002", nil, zk.FlagPersistent, h2Open)
	if _, err := c.Create(ctx, "/seq2/x", nil, zk.FlagSequence, h2Open); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("sequential collision: %v", err)
	}
	// Multi: sequential names inside one multi take consecutive numbers.
	rs, err := c.Multi(ctx, zk.CreateOp("/seq2/m-", nil, zk.FlagSequence, h2Open), zk.CreateOp("/seq2/m-", nil, zk.FlagSequence, h2Open),
		zk.CreateTTLOp("/seq2/tt-", nil, zk.FlagSequenceTTL, h2Open, time.Hour))
	if err != nil || rs[0].Path != "/seq2/m-0000000002" || rs[1].Path != "/seq2/m-0000000003" || rs[2].Path != "/seq2/tt-0000000004" {
		t.Fatalf("multi sequential: %+v %v", rs, err)
	}
	// A TTL op given a TTL without a TTL mode is refused.
	if _, err := c.Multi(ctx, zk.CreateTTLOp("/seq2/bad", nil, zk.FlagPersistent, h2Open, time.Hour)); !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("ttl with persistent mode: %v", err)
	}
	// Children of containers and TTL nodes are allowed; of ephemerals not.
	h2Create(t, c, "/seq/cont/kid", nil, zk.FlagPersistent, h2Open)
	h2Create(t, c, "/seq/ttl/kid", nil, zk.FlagPersistent, h2Open)
}

func TestConnDisableTTL(t *testing.T) {
	h2ZkraftOnly(t, "the node's DisableTTL")
	n := h2Node(t, zk.Config{DisableTTL: true})
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	for _, mode := range []zk.CreateMode{zk.FlagTTL, zk.FlagSequenceTTL} {
		_, _, err := c.CreateTTL(ctx, "/t", nil, mode, h2Open, time.Hour)
		h2CheckErr(t, err, zk.ErrUnimplemented, "create", "/t")
	}
	_, err := c.Multi(ctx, zk.CreateOp("/ok", nil, zk.FlagPersistent, h2Open), zk.CreateTTLOp("/t", nil, zk.FlagTTL, h2Open, time.Hour))
	var me *zk.MultiError
	if !errors.As(err, &me) || me.Index != 1 || !errors.Is(err, zk.ErrUnimplemented) || zk.CodeOf(err) != zk.CodeUnimplemented {
		t.Fatalf("multi with TTL: %v", err)
	}
	if h2Exists(t, c, "/ok") || h2Exists(t, c, "/t") {
		t.Fatal("refused multi took effect")
	}
	// Containers are still allowed.
	if _, err := c.Create(ctx, "/c", nil, zk.FlagContainer, h2Open); err != nil {
		t.Fatalf("container with TTLs disabled: %v", err)
	}
}

// TestConnContainerAndTTLReaping drives the reaper with a fake clock.
func TestConnContainerAndTTLReaping(t *testing.T) {
	h2ZkraftOnly(t, "the node's fake clock")
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	const tick = 100 * time.Millisecond
	n := h2Node(t, zk.Config{Clock: clk, TickTime: tick, ContainerCheckInterval: time.Second})
	c := h2Conn(t, n)
	ctx := h2Ctx(t)
	h2Create(t, c, "/cont", nil, zk.FlagContainer, h2Open)
	h2Create(t, c, "/empty-cont", nil, zk.FlagContainer, h2Open)
	h2Create(t, c, "/cont/kid", nil, zk.FlagPersistent, h2Open)
	if _, _, err := c.CreateTTL(ctx, "/ttl", nil, zk.FlagTTL, h2Open, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/cont/kid", zk.AnyVersion); err != nil {
		t.Fatal(err)
	}
	_, _, contW, err := c.ExistsW(ctx, "/cont")
	if err != nil {
		t.Fatal(err)
	}
	_, _, ttlW, err := c.ExistsW(ctx, "/ttl")
	if err != nil {
		t.Fatal(err)
	}
	// advanceUntil moves the clock a tick at a time until ch fires.
	advanceUntil := func(ch <-chan zk.Event, max time.Duration) zk.Event {
		t.Helper()
		deadline := time.After(h2Wait)
		for moved := time.Duration(0); ; {
			select {
			case ev := <-ch:
				return ev
			case <-deadline:
				t.Fatalf("nothing after advancing the clock %v", moved)
			case <-time.After(5 * time.Millisecond):
				if moved < max {
					// Over the wire a session lives only while its client
					// sends, and the client pings at real time's pace,
					// slower than this clock: a read shows it alive.
					if _, _, err := c.Exists(ctx, "/"); err != nil {
						t.Fatal(err)
					}
					clk.Advance(tick)
					moved += tick
				}
			}
		}
	}
	ev := advanceUntil(contW, 3*time.Second)
	if ev.Type != zk.EventNodeDeleted || ev.Path != "/cont" {
		t.Fatalf("container event %+v", ev)
	}
	// The TTL is 5s from creation; the container reap happened earlier.
	if !h2Exists(t, c, "/ttl") {
		t.Fatal("TTL node reaped too early")
	}
	ev = advanceUntil(ttlW, 10*time.Second)
	if ev.Type != zk.EventNodeDeleted || ev.Path != "/ttl" {
		t.Fatalf("TTL event %+v", ev)
	}
	// A container that never had children stays.
	if !h2Exists(t, c, "/empty-cont") {
		t.Fatal("a container that never had children was reaped")
	}
}

func TestConnConcurrentSequential(t *testing.T) {
	n, c := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, c, "/q", nil, zk.FlagPersistent, h2Open)
	const workers, each = 8, 25
	conns := make([]*zk.Conn, workers)
	for i := range conns {
		conns[i] = h2Conn(t, n)
	}
	var (
		mu    sync.Mutex
		names []string
		wg    sync.WaitGroup
		errs  = make(chan error, workers*each)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				conn := conns[w]
				if w%2 == 0 {
					conn = c // half share one Conn
				}
				p, err := conn.Create(ctx, "/q/n-", nil, zk.FlagSequence, h2Open)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				names = append(names, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Strings(names)
	if len(names) != workers*each {
		t.Fatalf("%d names", len(names))
	}
	for i, p := range names {
		if want := fmt.Sprintf("/q/n-%010d", i); p != want {
			t.Fatalf("name %d = %q, want %q", i, p, want)
		}
	}
	kids, st, err := c.Children(ctx, "/q")
	if err != nil || len(kids) != workers*each || st.Cversion != workers*each {
		t.Fatalf("children %d, %+v, %v", len(kids), st, err)
	}
}

func TestConnConcurrentVersionedSets(t *testing.T) {
	n, c := newTestConn(t)
	ctx := h2Ctx(t)
	h2Create(t, c, "/cas", []byte("0"), zk.FlagPersistent, h2Open)
	const racers, rounds = 8, 20
	conns := make([]*zk.Conn, racers)
	for i := range conns {
		conns[i] = h2Conn(t, n)
	}
	for round := range rounds {
		var (
			wg      sync.WaitGroup
			winners = make(chan int, racers)
			other   = make(chan error, racers)
		)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := conns[i].Set(ctx, "/cas", []byte(fmt.Sprint(i)), int32(round))
				switch {
				case err == nil:
					if st.Version != int32(round+1) {
						other <- fmt.Errorf("winner's version %d", st.Version)
					}
					winners <- i
				case !errors.Is(err, zk.ErrBadVersion):
					other <- err
				}
			}()
		}
		wg.Wait()
		close(winners)
		close(other)
		for err := range other {
			t.Fatalf("round %d: %v", round, err)
		}
		var ws []int
		for w := range winners {
			ws = append(ws, w)
		}
		if len(ws) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, ws)
		}
		d, st, err := c.Get(ctx, "/cas")
		if err != nil || string(d) != fmt.Sprint(ws[0]) || st.Version != int32(round+1) {
			t.Fatalf("round %d: data %q v%d, winner %d", round, d, st.Version, ws[0])
		}
	}
}
