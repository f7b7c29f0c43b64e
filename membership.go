package zk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// The membership changes callMembership carries.
const (
	memberAddVoter    byte = 1
	memberAddObserver byte = 2
	memberRemove      byte = 3
	memberDemote      byte = 4 // a voter becomes an observer
)

// ErrUnknownServer is returned by RemoveServer for an ID that is not a
// member.
var ErrUnknownServer = errors.New("zk: no such server in the ensemble")

// AddVoter adds the node with id, listening for peers at addr, to the
// ensemble as a voter; the node should be running, started with Peers
// that leave it out (or with no state), so that it catches up and votes.
// Adding a current member changes its address or makes an observer a
// voter. Any node may be asked: a follower forwards to the leader.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.changeMembership(ctx, memberAddVoter, id, addr)
}

// AddObserver adds the node with id at addr as an observer: a raft
// non-voter that serves sessions, reads and watches and forwards writes,
// but never votes, so it adds read capacity without slowing commits or
// counting toward quorum.
func (n *Node) AddObserver(ctx context.Context, id, addr string) error {
	return n.changeMembership(ctx, memberAddObserver, id, addr)
}

// RemoveServer removes the member with id from the ensemble. A leader
// removing itself hands over leadership first.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.changeMembership(ctx, memberRemove, id, "")
}

func (n *Node) changeMembership(ctx context.Context, kind byte, id, addr string) error {
	if id == "" || (kind != memberRemove && addr == "") {
		return fmt.Errorf("zk: membership change: %w: ID and address are required", ErrBadArguments)
	}
	req := membershipRequest(kind, id, addr)
	_, err := n.callLeader(ctx, callMembership, req, func(ctx context.Context) ([]byte, error) {
		return n.leaderMembership(ctx, req)
	})
	if err != nil {
		return fmt.Errorf("zk: membership change of %s: %w", id, err)
	}
	return nil
}

func membershipRequest(kind byte, id, addr string) []byte {
	req := []byte{kind}
	req = binary.AppendUvarint(req, uint64(len(id)))
	req = append(req, id...)
	req = binary.AppendUvarint(req, uint64(len(addr)))
	return append(req, addr...)
}

func (n *Node) leaderMembership(ctx context.Context, req []byte) ([]byte, error) {
	r := n.r()
	if r.State() != raft.Leader {
		return nil, errNotLeader
	}
	if len(req) < 1 {
		return nil, ErrMarshalling
	}
	br := &byteReader{b: req[1:]}
	id, addr := br.string(), br.string()
	if br.err != nil {
		return nil, ErrMarshalling
	}
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	var f raft.Future
	switch req[0] {
	case memberAddVoter:
		if n.soleVoter {
			// Timeouts tuned for a voter alone would make the new
			// ensemble elect constantly.
			n.soleVoter = false
			rc := r.ReloadableConfig()
			rc.HeartbeatTimeout, rc.ElectionTimeout = n.cfg.ElectionTimeout, n.cfg.ElectionTimeout
			if err := r.ReloadConfig(rc); err != nil {
				return nil, err
			}
		}
		if err := n.stable.SetUint64(keyVoters, 2); err != nil {
			return nil, err
		}
		f = r.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	case memberAddObserver:
		f = r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	case memberDemote:
		f = r.DemoteVoter(raft.ServerID(id), 0, timeout)
	case memberRemove:
		if !n.hasServer(id) {
			return nil, ErrUnknownServer
		}
		if id == n.cfg.ID {
			if err := r.LeadershipTransfer().Error(); err != nil {
				return nil, fmt.Errorf("%w: handing over leadership: %v", ErrConnectionLoss, err)
			}
			return nil, errNotLeader // the new leader removes us
		}
		f = r.RemoveServer(raft.ServerID(id), 0, timeout)
	default:
		return nil, ErrUnimplemented
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, errNotLeader
		}
		return nil, fmt.Errorf("%w: %v", ErrConnectionLoss, err)
	}
	return nil, nil
}

func (n *Node) hasServer(id string) bool {
	for _, s := range n.servers() {
		if s.ID == id {
			return true
		}
	}
	return false
}

// Server is one member of the ensemble, as this node knows it.
type Server struct {
	ID       string
	Addr     string
	Observer bool
	Leader   bool
}

func (n *Node) servers() []Server {
	f := n.r().GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	l, _ := n.leader()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			ID: string(s.ID), Addr: string(s.Address),
			Observer: s.Suffrage != raft.Voter,
			Leader:   string(s.ID) == l.id,
		})
	}
	return out
}

// Leader returns the ID and peer address of the ensemble's leader as this
// node knows it, and false while it knows of none.
func (n *Node) Leader() (id, addr string, ok bool) {
	l, ok := n.leader()
	return l.id, l.addr, ok
}

// Role is a node's part in the ensemble.
type Role string

// The roles.
const (
	RoleLeader    Role = "leader"
	RoleFollower  Role = "follower"
	RoleObserver  Role = "observer"
	RoleCandidate Role = "candidate"
	RoleShutdown  Role = "shutdown"
)

// Stats is a snapshot of a node's state, for monitoring.
type Stats struct {
	ID           string
	Role         Role
	Leader       string // the leader's ID, "" when there is none
	Term         uint64
	LastZxid     int64
	AppliedIndex uint64
	CommitIndex  uint64
	Servers      []Server
	Sessions     int // sessions in the replicated state
	Attached     int // in-process sessions attached to this node
	Znodes       int
	Watches      int
	// Ticks counts the housekeeping rounds the node has completed: one
	// per TickTime, in which it reports its sessions to the leader or, as
	// leader, expires sessions and reaps nodes.
	Ticks uint64
}

// Stats returns the node's current state.
func (n *Node) Stats() Stats {
	r := n.r()
	st := Stats{
		ID: n.cfg.ID, Term: r.CurrentTerm(), LastZxid: n.fsm.LastZxid(),
		AppliedIndex: n.fsm.applied.Load(), CommitIndex: r.CommitIndex(),
		Servers: n.servers(), Ticks: n.ticks.Load(),
	}
	if l, ok := n.leader(); ok {
		st.Leader = l.id
	}
	switch r.State() {
	case raft.Leader:
		st.Role = RoleLeader
	case raft.Candidate:
		st.Role = RoleCandidate
	case raft.Shutdown:
		st.Role = RoleShutdown
	default:
		st.Role = RoleFollower
		for _, s := range st.Servers {
			if s.ID == n.cfg.ID && s.Observer {
				st.Role = RoleObserver
			}
		}
	}
	n.fsm.mu.RLock()
	st.Sessions, st.Znodes = len(n.fsm.sessions), len(n.fsm.tree.nodes)
	n.fsm.mu.RUnlock()
	n.connsMu.Lock()
	st.Attached = len(n.conns)
	n.connsMu.Unlock()
	n.watches.mu.Lock()
	st.Watches = n.watches.count
	n.watches.mu.Unlock()
	return st
}
