package zk

import (
	"testing"

	"github.com/hashicorp/raft"
	"github.com/zkraft/zk/internal/txn"
)

// TestApplyCommitted: a follower applies from its own log what the leader
// reports committed only when its entry at that index has the leader's
// term (then, by raft's log matching, its whole prefix is the leader's);
// otherwise, or when it lacks the entry, it leaves it to raft.
func TestApplyCommitted(t *testing.T) {
	create := func(index, term uint64, path string) *raft.Log {
		tx := &txn.Txn{Type: txn.TypeOps, Time: 1, Ops: []txn.Op{{Kind: txn.OpCreate, Path: path, ACL: benchTxnACL}}}
		return &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: tx.Encode()}
	}
	setup := func(logs ...*raft.Log) *Node {
		n := &Node{fsm: newFSM(newWatchManager(), nil), logs: raft.NewInmemStore()}
		if err := n.logs.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		return n
	}
	has := func(n *Node, path string) bool {
		n.fsm.mu.RLock()
		defer n.fsm.mu.RUnlock()
		return n.fsm.tree.nodes[path] != nil
	}
	noop := &raft.Log{Index: 2, Term: 2, Type: raft.LogNoop}

	// The entry at the index has the leader's term: everything up to it
	// is applied, in order, with the leader's zxids.
	n := setup(create(1, 2, "/a"), noop, create(3, 2, "/b"), create(4, 2, "/c"))
	n.applyCommitted(3, 2)
	if !has(n, "/a") || !has(n, "/b") || has(n, "/c") {
		t.Fatalf("applied /a %v /b %v /c %v", has(n, "/a"), has(n, "/b"), has(n, "/c"))
	}
	if got := n.fsm.LastZxid(); got != makeZxid(2, 2) {
		t.Fatalf("zxid %#x after two creates of term 2", got)
	}
	// Raft delivering the same entries later changes nothing.
	n.fsm.ApplyBatch([]*raft.Log{create(1, 2, "/a"), create(3, 2, "/b"), create(4, 2, "/c")})
	if got := n.fsm.LastZxid(); got != makeZxid(2, 3) || !has(n, "/c") {
		t.Fatalf("zxid %#x after raft's replay", got)
	}

	// A stale entry of an older term at the index: nothing is applied.
	n = setup(create(1, 2, "/a"), create(2, 1, "/stale"))
	n.applyCommitted(2, 3)
	if has(n, "/a") || has(n, "/stale") {
		t.Fatal("applied entries whose term differs from the leader's")
	}
	// The entry is not here yet: nothing is applied.
	n.applyCommitted(5, 2)
	if has(n, "/a") {
		t.Fatal("applied without the reported entry")
	}
}
