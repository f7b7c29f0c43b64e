package zk

import (
	"bytes"
	"io"
	"testing"
)

// TestRestoreWakesWaiters: installing a snapshot moves the FSM forward as
// applying entries does, so whoever waits for it to catch up (Open, Sync,
// a forwarded write) must be woken, not left until the next entry.
func TestRestoreWakesWaiters(t *testing.T) {
	src := newFSM(newWatchManager(), nil)
	c := &txnContext{zxid: makeZxid(1, 1), time: 1, system: true}
	if _, _, err := src.tree.create(c, &createArgs{path: "/a", acl: openACL}, nil); err != nil {
		t.Fatal(err)
	}
	src.term, src.counter, src.index = 1, 1, 7
	s, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.(*fsmSnapshot).write(&buf); err != nil {
		t.Fatal(err)
	}

	dst := newFSM(newWatchManager(), nil)
	wake := dst.waitCh()
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	default:
		t.Fatal("Restore left waiters asleep")
	}
	if got := dst.LastZxid(); got != makeZxid(1, 1) {
		t.Fatalf("zxid after restore %#x", got)
	}
}
