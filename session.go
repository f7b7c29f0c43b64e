package zk

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/zkraft/zk/internal/txn"
)

// passwordLen is the length of a session password, as ZooKeeper's.
const passwordLen = 16

// negotiateTimeout clamps a requested session timeout into the node's
// [MinSessionTimeout, MaxSessionTimeout], as ZooKeeper does.
func (c *Config) negotiateTimeout(requested time.Duration) time.Duration {
	return max(c.MinSessionTimeout, min(c.MaxSessionTimeout, requested))
}

// newSessionID returns a random session id that is never 0 and never
// looks like the container or TTL markers that share ephemeralOwner with
// session ids: the top bit is clear and the top byte is not 0.
func newSessionID() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	id := int64(binary.BigEndian.Uint64(b[:]) & 0x7fffffffffffffff)
	if id>>56 == 0 {
		id |= 1 << 56
	}
	return id
}

func newSessionPassword() []byte {
	p := make([]byte, passwordLen)
	if _, err := rand.Read(p); err != nil {
		panic(err)
	}
	return p
}

// sessionTracker decides expiry. Only the leader acts on it: every tick it
// proposes closeSession for each session silent for longer than its
// timeout. Silence is measured by the node's own clock from the last
// time the session was seen alive; a node that becomes leader starts every
// session's clock afresh, so no session expires for time it spent
// without a leader to report to.
type sessionTracker struct {
	mu       sync.Mutex
	lastSeen map[int64]time.Time // guarded by mu
	closing  map[int64]time.Time // expiry proposed at; guarded by mu
}

func newSessionTracker() *sessionTracker {
	return &sessionTracker{lastSeen: make(map[int64]time.Time), closing: make(map[int64]time.Time)}
}

func (s *sessionTracker) touch(id int64, now time.Time) {
	s.mu.Lock()
	s.lastSeen[id] = now
	s.mu.Unlock()
}

// reset gives every session a fresh timeout from now.
func (s *sessionTracker) reset(now time.Time) {
	s.mu.Lock()
	for id := range s.lastSeen {
		s.lastSeen[id] = now
	}
	clear(s.closing)
	s.mu.Unlock()
}

// prune forgets sessions that are no longer live: a follower's tracker
// only remembers when its own clients were last seen, for the day it
// leads.
func (s *sessionTracker) prune(live map[int64]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.lastSeen {
		if _, ok := live[id]; !ok {
			delete(s.lastSeen, id)
			delete(s.closing, id)
		}
	}
}

// expired returns the sessions of live (id → timeout ms) that have been
// silent longer than their timeout at now, and forgets sessions that are
// gone. A session seen for the first time starts its clock now. A session
// whose expiry was proposed is not returned again for retry.
func (s *sessionTracker) expired(live map[int64]int32, now time.Time, retry time.Duration) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.lastSeen {
		if _, ok := live[id]; !ok {
			delete(s.lastSeen, id)
			delete(s.closing, id)
		}
	}
	var out []int64
	for id, timeout := range live {
		seen, ok := s.lastSeen[id]
		if !ok {
			s.lastSeen[id] = now
			continue
		}
		if now.Sub(seen) <= time.Duration(timeout)*time.Millisecond {
			continue
		}
		if at, ok := s.closing[id]; ok && now.Sub(at) < retry {
			continue
		}
		s.closing[id] = now
		out = append(out, id)
	}
	return out
}

// liveSessions returns the session table: id → timeout in ms.
func (f *fsm) liveSessions() map[int64]int32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m := make(map[int64]int32, len(f.sessions))
	for id, s := range f.sessions {
		m[id] = s.timeout
	}
	return m
}

// session returns a session's timeout and password.
func (f *fsm) session(id int64) (*sessionInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.sessions[id]
	return s, ok
}

// expireSessions proposes closeSession for every session silent past its
// timeout. It runs on the leader only.
func (n *Node) expireSessions(now time.Time) {
	ids := n.tracker.expired(n.fsm.liveSessions(), now, n.cfg.TickTime*4)
	if len(ids) == 0 {
		return
	}
	pending := make([]*pendingApply, 0, len(ids))
	for _, id := range ids {
		n.log.Debug("expiring session", "session", sessionString(id))
		p, err := n.submit(&txn.Txn{Type: txn.TypeCloseSession, Session: id, Time: now.UnixMilli(), Reason: txn.CloseExpired})
		if err != nil {
			break
		}
		pending = append(pending, p)
	}
	for _, p := range pending {
		<-p.done
	}
}

func sessionString(id int64) string {
	const hex = "0123456789abcdef"
	b := []byte("0x0000000000000000")
	for i := 0; i < 16; i++ {
		b[17-i] = hex[(uint64(id)>>(4*i))&0xf]
	}
	return string(b)
}
