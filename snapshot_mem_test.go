package zk

import (
	"fmt"
	"io"
	"runtime"
	"testing"
)

// TestSnapshotMemory shows that taking a snapshot does not copy the tree:
// the capture costs nothing per node, and persisting it streams without
// holding a second copy.
func TestSnapshotMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a 100k-node tree")
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	f := newFSM(newWatchManager(), nil)
	c := &txnContext{zxid: 1, time: 1, system: true}
	for i := 0; i < 100; i++ {
		p := fmt.Sprintf("/d%03d", i)
		if _, _, err := f.tree.create(c, &createArgs{path: p, acl: openACL}, nil); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 1000; j++ {
			if _, _, err := f.tree.create(c, &createArgs{path: fmt.Sprintf("%s/n%04d", p, j), data: make([]byte, 64), acl: openACL}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	withTree := heap()
	treeSize := withTree - base

	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	capture := int64(heap()) - int64(withTree) // the heap may shrink a little
	t.Logf("tree %d KiB, snapshot capture %d KiB", treeSize>>10, capture>>10)
	if capture > int64(treeSize/100) {
		t.Fatalf("capturing a snapshot took %d bytes for a %d-byte tree", capture, treeSize)
	}

	// Persisting allocates only buffers, not a copy per node.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := s.(*fsmSnapshot).write(io.Discard); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("persisting allocated %d bytes", alloc)
	}
	runtime.KeepAlive(f)
	runtime.KeepAlive(s)
}
