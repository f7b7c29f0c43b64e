package zk

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// How a follower learns that entries committed. Raft tells it the commit
// index only with the leader's next AppendEntries, which under load comes
// at once with the next batch, but when proposals stop comes only after
// CommitTimeout. ZooKeeper's leader sends COMMIT at once, and a follower
// answers a write it forwarded, and fires its watches, as soon as it has
// applied it. zkraft does the same beside raft: the leader's reply to a
// forwarded write tells the follower "committed up to index, of term", and
// the follower applies its own log up to there as soon as it holds that
// entry (applyCommitted), and raft, applying the same entries later, finds
// them done. When the leader's log falls quiet, a barrier carries the
// commit index to all followers (announceCommits).

// commitNews is the latest commit the leader told this node of.
type commitNews struct {
	mu          sync.Mutex
	index, term uint64
	stored      chan struct{} // a log write succeeded: the entry may be here now
}

// committed records that the entries up to index, the one at index of
// term, are committed, and applies them if this node holds them.
func (n *Node) committed(index, term uint64) {
	n.news.mu.Lock()
	if index > n.news.index {
		n.news.index, n.news.term = index, term
	}
	n.news.mu.Unlock()
	n.applyCommitted(index, term)
}

// applyNews applies the latest commit news each time the log stores
// entries, which may be the ones the news was waiting for.
func (n *Node) applyNews() {
	defer n.wg.Done()
	for {
		select {
		case <-n.news.stored:
		case <-n.closing:
			return
		}
		n.news.mu.Lock()
		index, term := n.news.index, n.news.term
		n.news.mu.Unlock()
		n.applyCommitted(index, term)
	}
}

// newsLog tells applyNews of every successful write to the log.
type newsLog struct {
	raft.LogStore
	stored chan<- struct{}
}

func (l newsLog) StoreLog(e *raft.Log) error { return l.StoreLogs([]*raft.Log{e}) }

func (l newsLog) StoreLogs(es []*raft.Log) error {
	err := l.LogStore.StoreLogs(es)
	if err == nil {
		poke(l.stored)
	}
	return err
}

// IsMonotonic passes on the store's (see monotonic).
func (l newsLog) IsMonotonic() bool { return monotonic(l.LogStore) }

// applyCommitted applies to this node's FSM, from its own log, the entries
// up to index, which the leader reports committed with the term of the one
// at index. It is safe because of raft's log matching: if this node's
// entry at index has the leader's term, every entry up to it is the
// leader's, and committed. If this node does not hold that entry yet (a
// quorum acknowledged it without this node), it does nothing, and
// applyNews tries again once the log has stored more; if it holds another
// entry there, raft will replace it and apply the leader's in due
// course.
func (n *Node) applyCommitted(index, term uint64) {
	from := n.fsm.applied.Load() + 1
	if index < from || index == 0 || term == 0 {
		return
	}
	var last raft.Log
	if err := n.logs.GetLog(index, &last); err != nil || last.Term != term {
		return
	}
	logs := make([]*raft.Log, 0, index-from+1)
	for i := from; i < index; i++ {
		l := new(raft.Log)
		if err := n.logs.GetLog(i, l); err != nil {
			return // compacted under a snapshot raft is installing: let raft do it
		}
		logs = append(logs, l)
	}
	logs = append(logs, &last)
	n.fsm.ApplyBatch(logs)
}

// announceQuiet is how long the leader's log must stay quiet before it
// announces its commits with a barrier. A closed-loop client's next write
// comes well within it, and its AppendEntries carries the commit index
// anyway: announcing at once cost such a client a second raft round and
// fsync on every node per write, and its next write waited behind it.
// Followers learn of the last commit this much later when writes stop
// (raft alone would tell them after CommitTimeout).
const announceQuiet = time.Millisecond

// staysQuiet waits announceQuiet and reports whether the FSM has applied
// nothing after zxid meanwhile.
func (n *Node) staysQuiet(zxid int64) bool {
	t := time.NewTimer(announceQuiet)
	defer t.Stop()
	select {
	case <-t.C:
	case <-n.closing:
		return false
	}
	return n.fsm.LastZxid() == zxid
}

// announceCommits lets followers learn soon what the leader has
// committed when its log falls quiet: raft tells a follower the commit
// index only with the next AppendEntries, which under load is the next
// batch, but when proposals stop would come only after CommitTimeout, and
// a watch set on a follower and a sync there wait for it. So once the
// leader has applied every entry in its log, some changed the tree, and
// no more come for announceQuiet, it appends a barrier, whose
// AppendEntries carries the commit index. (A
// message over the peer port would spare the barrier's fsync, but sent
// from here it wedged a follower whose log writes were failing; see
// TestLogWriteFails.)
func (n *Node) announceCommits() {
	defer n.wg.Done()
	announced := int64(-1)
	wake := n.fsm.waitCh()
	for {
		select {
		case <-wake:
		case <-n.closing:
			return
		}
		wake = n.fsm.waitCh() // before looking, so no batch goes unseen
		r := n.r()
		if r.State() != raft.Leader || n.peers == nil {
			continue
		}
		zxid := n.fsm.LastZxid()
		if zxid == announced || r.AppliedIndex() < r.LastIndex() {
			continue
		}
		if !n.staysQuiet(zxid) {
			continue // the next write's AppendEntries carries the news
		}
		announced = zxid
		if len(r.GetConfiguration().Configuration().Servers) > 1 {
			// A barrier's AppendEntries carries the commit index to every
			// follower; nothing waits for it.
			r.Barrier(0)
		}
	}
}
