package zk

import (
	"sync"

	"github.com/hashicorp/raft"
)

// recentLogs keeps the last entries written to a log store in memory, so
// that the leader sending them to its followers, and a follower applying
// what the leader reports committed, need not read them back from disk.
//
// It takes the place of raft.LogCache, which holds the pointers raft
// hands to StoreLogs. On the leader those point into the proposals'
// futures, so a thousand cached entries kept a thousand futures alive,
// each with its FSM result (a multi of 100 creates: 8 KB); and it holds
// any entry whole, so a thousand 1 MB setData entries kept a gigabyte.
// recentLogs copies the entry, keeps only entries of up to
// maxCachedEntry bytes, and so holds at most recentLogCount of them.
type recentLogs struct {
	raft.LogStore
	mu   sync.RWMutex
	ring []raft.Log // ring[i%len] holds entry i, if its Index says so
}

const (
	recentLogCount = 1024
	maxCachedEntry = 32 << 10
)

func newRecentLogs(store raft.LogStore) *recentLogs {
	return &recentLogs{LogStore: store, ring: make([]raft.Log, recentLogCount)}
}

func (c *recentLogs) GetLog(index uint64, l *raft.Log) error {
	c.mu.RLock()
	e := &c.ring[index%uint64(len(c.ring))]
	hit := e.Index == index && index != 0
	if hit {
		*l = *e
	}
	c.mu.RUnlock()
	if hit {
		return nil
	}
	return c.LogStore.GetLog(index, l)
}

func (c *recentLogs) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

func (c *recentLogs) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	for _, l := range logs {
		e := &c.ring[l.Index%uint64(len(c.ring))]
		if len(l.Data) > maxCachedEntry {
			*e = raft.Log{} // an older entry in its place is stale all the same
			continue
		}
		*e = *l
	}
	c.mu.Unlock()
	return nil
}

// DeleteRange forgets every cached entry: raft deletes the head after a
// snapshot, and the tail when a new leader's log replaces it.
func (c *recentLogs) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	clear(c.ring)
	c.mu.Unlock()
	return c.LogStore.DeleteRange(lo, hi)
}

// IsMonotonic passes on the store's (see monotonic).
func (c *recentLogs) IsMonotonic() bool { return monotonic(c.LogStore) }
