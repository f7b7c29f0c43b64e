package zk

import (
	"testing"
	"time"
)

// TestZxidNeverGoesBackwards drives the zxid counter past a lowered limit
// many times: each time the leader must start a new term before the
// counter could wrap, and every zxid must be larger than the one before.
func TestZxidNeverGoesBackwards(t *testing.T) {
	ctx := t.Context()
	n, err := Open(ctx, Config{ElectionTimeout: 20 * time.Millisecond, TickTime: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	const limit = 16
	n.counterLimit = limit
	c, err := n.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	terms := map[int64]bool{}
	for i := 0; i < 100; i++ {
		_, st, err := c.CreateStat(ctx, "/n-", nil, FlagSequence, WorldACL(PermAll))
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if st.Czxid <= last {
			t.Fatalf("create %d: zxid %#x after %#x", i, st.Czxid, last)
		}
		if counter := uint32(st.Czxid); counter > limit+1 {
			t.Fatalf("create %d: counter %d passed the limit %d", i, counter, limit)
		}
		last = st.Czxid
		terms[st.Czxid>>32] = true
	}
	if len(terms) < 5 {
		t.Fatalf("zxids span %d terms, want at least 5", len(terms))
	}
	// The tree is intact across the raft restarts.
	names, _, err := c.Children(ctx, "/")
	if err != nil || len(names) != 101 {
		t.Fatalf("children of / = %d, %v; want 101", len(names), err)
	}
}
