package zk

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/zkraft/zk/internal/txn"
)

var benchTxnACL = []txn.ACL{{Perms: int32(PermAll), Scheme: "world", ID: "anyone"}}

// benchLogs returns n raft log entries from index first on, each carrying
// the txn op(i) by the system session.
func benchLogs(first uint64, n int, op func(i int) txn.Op) []*raft.Log {
	logs := make([]*raft.Log, n)
	for i := range logs {
		t := &txn.Txn{Type: txn.TypeOps, Time: 1, Ops: []txn.Op{op(i)}}
		logs[i] = &raft.Log{Index: first + uint64(i), Term: 1, Type: raft.LogCommand, Data: t.Encode()}
	}
	return logs
}

// applyInBatches applies logs the way raft hands them to a BatchingFSM.
func applyInBatches(b *testing.B, f *fsm, logs []*raft.Log) {
	const batch = 64
	for len(logs) > 0 {
		n := min(batch, len(logs))
		for _, r := range f.ApplyBatch(logs[:n]) {
			if res := r.(*applyResult); res.err != nil || res.results[0].err != nil {
				b.Fatalf("apply: %v %v", res.err, res.results[0].err)
			}
		}
		logs = logs[n:]
	}
}

// BenchmarkFSMApply measures the state machine alone: decoding a txn,
// applying it to the tree and firing (no) watches, without raft.
func BenchmarkFSMApply(b *testing.B) {
	data := make([]byte, 100)
	b.Run("Create", func(b *testing.B) {
		f := newFSM(newWatchManager(), nil)
		logs := benchLogs(1, b.N, func(i int) txn.Op {
			return txn.Op{Kind: txn.OpCreate, Path: fmt.Sprintf("/n%09d", i), Data: data, ACL: benchTxnACL}
		})
		b.ReportAllocs()
		b.ResetTimer()
		applyInBatches(b, f, logs)
	})
	b.Run("SetData", func(b *testing.B) {
		f := newFSM(newWatchManager(), nil)
		applyInBatches(b, f, benchLogs(1, 1, func(int) txn.Op {
			return txn.Op{Kind: txn.OpCreate, Path: "/s", ACL: benchTxnACL}
		}))
		logs := benchLogs(2, b.N, func(int) txn.Op {
			return txn.Op{Kind: txn.OpSetData, Path: "/s", Data: data, Version: -1}
		})
		b.ReportAllocs()
		b.ResetTimer()
		applyInBatches(b, f, logs)
	})
}

// benchTree returns an FSM holding n znodes of 100 bytes under 100 parents.
func benchTree(b *testing.B, n int) *fsm {
	f := newFSM(newWatchManager(), nil)
	c := &txnContext{zxid: 1, time: 1, system: true}
	data := make([]byte, 100)
	for i := range 100 {
		if _, _, err := f.tree.create(c, &createArgs{path: fmt.Sprintf("/d%02d", i), acl: openACL}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := range n - 100 {
		p := fmt.Sprintf("/d%02d/n%09d", i%100, i)
		if _, _, err := f.tree.create(c, &createArgs{path: p, data: data, acl: openACL}, nil); err != nil {
			b.Fatal(err)
		}
	}
	f.index = 1
	return f
}

const benchSnapshotNodes = 100_000

// BenchmarkSnapshot measures capturing and streaming a 100k-znode tree.
func BenchmarkSnapshot(b *testing.B) {
	f := benchTree(b, benchSnapshotNodes)
	var size int64
	b.ReportAllocs()
	for b.Loop() {
		s, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		cw := &countingWriter{}
		if err := s.(*fsmSnapshot).write(cw); err != nil {
			b.Fatal(err)
		}
		s.Release()
		size = cw.n
	}
	b.SetBytes(size)
	b.ReportMetric(float64(benchSnapshotNodes)*float64(b.N)/b.Elapsed().Seconds(), "znodes/s")
}

// BenchmarkRestore measures rebuilding a 100k-znode tree from a snapshot.
func BenchmarkRestore(b *testing.B) {
	f := benchTree(b, benchSnapshotNodes)
	s, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.(*fsmSnapshot).write(&buf); err != nil {
		b.Fatal(err)
	}
	snap := buf.Bytes()
	b.SetBytes(int64(len(snap)))
	b.ReportAllocs()
	for b.Loop() {
		g := newFSM(newWatchManager(), nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
			b.Fatal(err)
		}
		if len(g.tree.nodes) != len(f.tree.nodes) {
			b.Fatalf("restored %d znodes of %d", len(g.tree.nodes), len(f.tree.nodes))
		}
	}
	b.ReportMetric(float64(benchSnapshotNodes)*float64(b.N)/b.Elapsed().Seconds(), "znodes/s")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
