package zktest

import (
	"sync"

	"github.com/hashicorp/raft"
)

// stallableLog is a raft log whose writes block while stalled, as on a
// disk that has stopped answering; reads go on.
type stallableLog struct {
	raft.LogStore
	mu      sync.Mutex
	stalled chan struct{} // non-nil while stalled; closed to resume
}

func (s *stallableLog) stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled == nil {
		s.stalled = make(chan struct{})
	}
}

func (s *stallableLog) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled != nil {
		close(s.stalled)
		s.stalled = nil
	}
}

func (s *stallableLog) wait() {
	s.mu.Lock()
	ch := s.stalled
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (s *stallableLog) StoreLog(l *raft.Log) error {
	s.wait()
	return s.LogStore.StoreLog(l)
}

func (s *stallableLog) StoreLogs(ls []*raft.Log) error {
	s.wait()
	return s.LogStore.StoreLogs(ls)
}

func (s *stallableLog) DeleteRange(lo, hi uint64) error {
	s.wait()
	return s.LogStore.DeleteRange(lo, hi)
}
