package zk

import (
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach it.
type countingStore struct {
	raft.LogStore
	reads int
}

func (s *countingStore) GetLog(i uint64, l *raft.Log) error {
	s.reads++
	return s.LogStore.GetLog(i, l)
}

// TestRecentLogs: recent small entries are read from memory, a large one
// and anything older than the ring from the store, and DeleteRange
// forgets what was cached, so a deleted entry is never read back.
func TestRecentLogs(t *testing.T) {
	under := &countingStore{LogStore: raft.NewInmemStore()}
	c := newRecentLogs(under)
	big := make([]byte, maxCachedEntry+1)
	var logs []*raft.Log
	for i := uint64(1); i <= recentLogCount+10; i++ {
		l := &raft.Log{Index: i, Term: 1, Data: []byte{byte(i)}}
		if i == recentLogCount {
			l.Data = big
		}
		logs = append(logs, l)
	}
	if err := c.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	get := func(i uint64) raft.Log {
		t.Helper()
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if l.Index != i {
			t.Fatalf("GetLog(%d) gave entry %d", i, l.Index)
		}
		return l
	}
	for i := uint64(11); i <= recentLogCount+10; i++ {
		if i != recentLogCount && get(i).Data[0] != byte(i) {
			t.Fatalf("entry %d: wrong data", i)
		}
	}
	if under.reads != 0 {
		t.Fatalf("%d reads of recent small entries reached the store", under.reads)
	}
	if l := get(recentLogCount); len(l.Data) != len(big) || under.reads != 1 {
		t.Fatalf("the large entry: %d bytes, %d store reads; want it from the store", len(l.Data), under.reads)
	}
	get(5) // overwritten in the ring by entry recentLogCount+5
	if under.reads != 2 {
		t.Fatalf("an old entry did not come from the store")
	}

	if err := c.DeleteRange(recentLogCount+1, recentLogCount+10); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(recentLogCount+5, &l); err == nil {
		t.Fatalf("a deleted entry was read back: %+v", l)
	}
	get(recentLogCount - 1) // still in the store, no longer cached
	if under.reads != 4 {
		t.Fatalf("%d store reads, want 4: DeleteRange left entries cached", under.reads)
	}
}

// copyingStore stores copies, as a disk store does (raft's InmemStore
// keeps the pointers it is given).
type copyingStore struct{ raft.LogStore }

func (s copyingStore) StoreLogs(logs []*raft.Log) error {
	for _, l := range logs {
		c := *l
		if err := s.LogStore.StoreLog(&c); err != nil {
			return err
		}
	}
	return nil
}

// TestRecentLogsKeepNoCallerStructs: the cache copies what it keeps, so
// the struct raft hands to StoreLogs (on the leader, a part of the
// proposal's future, with its FSM result) can be collected.
func TestRecentLogsKeepNoCallerStructs(t *testing.T) {
	c := newRecentLogs(copyingStore{raft.NewInmemStore()})
	type future struct {
		log    raft.Log
		result [1 << 16]byte
	}
	f := &future{log: raft.Log{Index: 1, Term: 1, Data: []byte("x")}}
	collected := make(chan struct{})
	runtime.SetFinalizer(f, func(*future) { close(collected) })
	if err := c.StoreLogs([]*raft.Log{&f.log}); err != nil {
		t.Fatal(err)
	}
	f = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-collected:
			var l raft.Log
			if err := c.GetLog(1, &l); err != nil || string(l.Data) != "x" {
				t.Fatalf("GetLog after collection: %v %q", err, l.Data)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the struct passed to StoreLogs is still reachable: the cache keeps it")
		}
	}
}
