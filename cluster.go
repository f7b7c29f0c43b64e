package zk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/zkraft/zk/internal/peer"
	"github.com/zkraft/zk/internal/txn"
)

// Peer is one member of an ensemble as Config.Peers lists it.
type Peer struct {
	// ID is the member's Config.ID.
	ID string
	// Addr is the member's Config.PeerAddr.
	Addr string
	// Observer makes the member a non-voter: it serves sessions, reads
	// and watches and forwards writes, but never votes, as a ZooKeeper
	// observer.
	Observer bool
	// ElectionPort and ClientAddr complete the member's line in
	// /zookeeper/config (server.ID=host:peerPort:ElectionPort;ClientAddr),
	// which raft has no use for. zkraft elects over the peer port, so the
	// election port is only printed: 0 prints the peer port + 1 (- 1 at
	// 65535), because ZooKeeper's parsers, Curator's EnsembleTracker among
	// them, refuse a line whose two ports are equal. ClientAddr is the
	// "host:port" clients reach the member at; empty leaves the client
	// part out, so that clients that read the config keep the connection
	// string they have.
	ElectionPort int
	ClientAddr   string
}

// Network is how nodes reach each other: TCPNetwork for real deployments,
// NewMemNetwork for nodes in one process.
type Network = peer.Network

// MemNetwork is an in-memory Network whose links can be cut and healed.
type MemNetwork = peer.MemNetwork

// NewMemNetwork returns an in-memory Network for nodes in one process.
func NewMemNetwork() *MemNetwork { return peer.NewMemNetwork() }

// The calls a node makes to the leader over the peer port.
const (
	callPropose    byte = 1 // a txn: the leader proposes it and returns its result
	callTouch      byte = 2 // the sessions a node's clients kept alive this tick
	callReadIndex  byte = 3 // the zxid a follower must apply before a Sync returns
	callMembership byte = 4 // add a voter or observer, or remove a server
	callReconfig   byte = 5 // a ZooKeeper reconfig: membership changes, then /zookeeper/config
	callPing       byte = 6 // answered by any node: is it reachable
)

// A reply to a call starts with a status byte.
const (
	replyOK        byte = 0
	replyNotLeader byte = 1 // ask again once there is a leader
	replyError     byte = 2 // followed by a ZooKeeper error code
)

// errNotLeader is what the leader-only paths return on any other node.
var errNotLeader = errors.New("zk: not the leader")

// leaderInfo is who leads, as this node knows it.
type leaderInfo struct {
	id   string
	addr string
	self bool
}

func (n *Node) leader() (leaderInfo, bool) {
	addr, id := n.r().LeaderWithID()
	if id == "" {
		return leaderInfo{}, false
	}
	return leaderInfo{id: string(id), addr: string(addr), self: string(id) == n.cfg.ID}, true
}

// awaitLeader waits until some node leads, bounded by ctx.
func (n *Node) awaitLeader(ctx context.Context) (leaderInfo, error) {
	for {
		wake := n.leaderWakeCh()
		if l, ok := n.leader(); ok {
			return l, nil
		}
		if err := n.pause(ctx, wake); err != nil {
			return leaderInfo{}, err
		}
	}
}

// pause waits for wake, a while, the node closing or ctx: whatever comes
// first. The timer covers leader changes raft reports late or not at all.
func (n *Node) pause(ctx context.Context, wake <-chan struct{}) error {
	t := time.NewTimer(min(n.cfg.ElectionTimeout/10+time.Millisecond, 50*time.Millisecond))
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	case <-n.closing:
		return ErrClosing
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// callLeader sends a call to the leader and returns its reply's body,
// retrying while there is no leader or the call reaches a node that no
// longer leads. local runs the call when this node leads.
func (n *Node) callLeader(ctx context.Context, method byte, req []byte, local func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	for {
		wake := n.leaderWakeCh()
		l, err := n.awaitLeader(ctx)
		if err != nil {
			return nil, err
		}
		var reply []byte
		if l.self {
			reply, err = local(ctx)
			if errors.Is(err, errNotLeader) {
				if err := n.pause(ctx, wake); err != nil {
					return nil, err
				}
				continue
			}
			return reply, err
		}
		if n.peers == nil {
			return nil, fmt.Errorf("%w: led by %s, which this node cannot reach", ErrConnectionLoss, l.id)
		}
		reply, err = n.peers.Call(ctx, l.addr, method, req)
		switch {
		case err == nil && len(reply) > 0 && reply[0] == replyOK:
			return reply[1:], nil
		case err == nil && len(reply) > 0 && reply[0] == replyNotLeader,
			errors.Is(err, peer.ErrNotSent):
			if err := n.pause(ctx, wake); err != nil {
				return nil, err
			}
			continue
		case err == nil && len(reply) > 0 && reply[0] == replyError:
			code, _ := binary.Varint(reply[1:])
			err := ErrorForCode(Code(code))
			if errors.Is(err, ErrClosing) {
				// The leader is shutting down, not this node: the call
				// may have entered its log before it stopped.
				return nil, fmt.Errorf("%w: the leader %s shut down", ErrConnectionLoss, l.id)
			}
			return nil, err
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, peer.ErrClosed):
			return nil, ErrClosing
		default:
			// Sent, but the outcome is unknown.
			return nil, fmt.Errorf("%w: %v", ErrConnectionLoss, err)
		}
	}
}

// handleCall serves the calls other nodes make to this one.
func (n *Node) handleCall(ctx context.Context, method byte, req []byte) ([]byte, error) {
	if n.r() == nil {
		// The peer port opens before raft starts: a node that was just
		// restarted may still be taken for the leader by the others.
		return []byte{replyNotLeader}, nil
	}
	var (
		body []byte
		err  error
	)
	switch method {
	case callPropose:
		body, err = n.leaderPropose(ctx, req)
	case callTouch:
		body, err = n.leaderTouch(req)
	case callReadIndex:
		body, err = n.leaderReadIndex(ctx)
	case callMembership:
		body, err = n.leaderMembership(ctx, req)
	case callReconfig:
		body, err = n.leaderReconfig(ctx, req)
	case callPing:
	default:
		return nil, fmt.Errorf("unknown call %d", method)
	}
	switch {
	case err == nil:
		return append([]byte{replyOK}, body...), nil
	case errors.Is(err, errNotLeader):
		return []byte{replyNotLeader}, nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Given up while raft held the txn: it may still commit.
		return binary.AppendVarint([]byte{replyError}, int64(CodeConnectionLoss)), nil
	default:
		return binary.AppendVarint([]byte{replyError}, int64(CodeOf(err))), nil
	}
}

// propose replicates t and returns its result once this node has applied
// it, so the caller's next read sees it and its watches have fired. A
// follower forwards t to the leader. While there is no leader it waits,
// bounded by ctx. If ctx ends after the txn was handed to raft, the
// outcome is unknown.
func (n *Node) propose(ctx context.Context, t *txn.Txn) (*applyResult, error) {
	b := t.Encode()
	var local *applyResult
	reply, err := n.callLeader(ctx, callPropose, b, func(ctx context.Context) ([]byte, error) {
		res, err := n.proposeLocal(ctx, b)
		local = res
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	if local != nil {
		return local, nil
	}
	res, err := decodeApplyResult(reply)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMarshalling, err)
	}
	n.committed(res.index, uint64(res.zxid)>>32)
	if err := n.waitApplied(ctx, res.zxid); err != nil {
		return nil, err
	}
	return res, nil
}

// leaderPropose proposes the encoded txn a follower forwarded, as it
// came: the FSM refuses bytes that are not a txn, on every node alike.
func (n *Node) leaderPropose(ctx context.Context, req []byte) ([]byte, error) {
	res, err := n.proposeLocal(ctx, req)
	if err != nil {
		return nil, err
	}
	return appendApplyResult(nil, res), nil
}

// proposeLocal replicates the encoded txn b through this node's raft,
// which must lead.
func (n *Node) proposeLocal(ctx context.Context, b []byte) (*applyResult, error) {
	if n.r().State() != raft.Leader {
		return nil, errNotLeader
	}
	p, err := n.submitEncoded(b)
	if err != nil {
		return nil, err
	}
	var out applyOutcome
	select {
	case out = <-p.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch {
	case out.err == nil:
		if out.res == nil {
			return nil, ErrSystemError
		}
		return out.res, nil
	case errors.Is(out.err, raft.ErrNotLeader):
		return nil, errNotLeader // never entered the log: safe to try again
	case errors.Is(out.err, raft.ErrRaftShutdown):
		return nil, ErrClosing
	default:
		// ErrLeadershipLost and the like: it may or may not commit.
		return nil, fmt.Errorf("%w: %v", ErrConnectionLoss, out.err)
	}
}

// waitApplied waits until this node has applied the txn with zxid.
func (n *Node) waitApplied(ctx context.Context, zxid int64) error {
	for n.fsm.LastZxid() < zxid {
		wake := n.fsm.waitCh()
		if n.fsm.LastZxid() >= zxid {
			break
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.closing:
			return ErrClosing
		}
	}
	return nil
}

// readIndex returns a zxid that covers every txn the leader had committed
// when it was called, once a quorum has confirmed the leader still leads.
// Asking twice changes nothing, so a call lost with its connection is
// asked again: a node starting up amid a flaky network must not give up
// (the chaos harness saw a restarted node exit on one lost call).
func (n *Node) readIndex(ctx context.Context) (int64, error) {
	for {
		wake := n.leaderWakeCh()
		reply, err := n.callLeader(ctx, callReadIndex, nil, n.leaderReadIndex)
		if errors.Is(err, ErrConnectionLoss) && ctx.Err() == nil {
			if err := n.pause(ctx, wake); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		z, k := binary.Varint(reply)
		if k <= 0 {
			return 0, ErrMarshalling
		}
		return z, nil
	}
}

func (n *Node) leaderReadIndex(ctx context.Context) ([]byte, error) {
	r := n.r()
	if r.State() != raft.Leader {
		return nil, errNotLeader
	}
	term := r.CurrentTerm()
	if n.barrierTerm.Load() != term {
		// A new leader's commit index may lag until it commits an entry
		// of its own term; a barrier does that and applies everything.
		if err := n.leaderFuture(ctx, func() raft.Future { return r.Barrier(0) }); err != nil {
			return nil, err
		}
		n.barrierTerm.Store(term)
	}
	idx := r.CommitIndex()
	if err := n.leaderFuture(ctx, r.VerifyLeader); err != nil {
		return nil, err
	}
	idx = n.lastFSMEntry(idx)
	for n.fsm.applied.Load() < idx {
		wake := n.fsm.waitCh()
		if n.fsm.applied.Load() >= idx {
			break
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.closing:
			return nil, ErrClosing
		}
	}
	return binary.AppendVarint(nil, n.fsm.LastZxid()), nil
}

// leaderFuture runs a raft operation only a leader can do and waits for
// it: errNotLeader if leadership is gone, ErrConnectionLoss if it failed
// otherwise.
func (n *Node) leaderFuture(ctx context.Context, start func() raft.Future) error {
	p, err := n.submitFuture(start)
	if err != nil {
		return err
	}
	select {
	case out := <-p.done:
		switch {
		case errors.Is(out.err, raft.ErrNotLeader), errors.Is(out.err, raft.ErrLeadershipLost):
			return errNotLeader
		case out.err != nil:
			return fmt.Errorf("%w: %v", ErrConnectionLoss, out.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lastFSMEntry returns the index of the last log entry at or before idx
// that raft hands to the FSM: barriers and no-ops never reach it, so the
// FSM's applied index stops short of them.
func (n *Node) lastFSMEntry(idx uint64) uint64 {
	var l raft.Log
	for ; idx > n.fsm.applied.Load(); idx-- {
		if err := n.logs.GetLog(idx, &l); err != nil {
			// Compacted entries are in a snapshot the FSM already holds,
			// and the compacted one may be a barrier the FSM never counts
			// (TestCatchUpFromSnapshot): nothing left to wait for. Any
			// other failure: wait for idx itself, the safe side.
			if first, ferr := n.logs.FirstIndex(); ferr == nil && (first == 0 || idx < first) {
				return n.fsm.applied.Load()
			}
			return idx
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return idx
		}
	}
	return idx
}

// reportSessions tells the leader which sessions this node's clients kept
// alive; the leader alone decides expiry. It reports whether the leader
// took the report.
func (n *Node) reportSessions(ctx context.Context, ids []int64) bool {
	l, ok := n.leader()
	if !ok || n.peers == nil {
		return false
	}
	if l.self {
		return true
	}
	req := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, id := range ids {
		req = binary.AppendVarint(req, id)
	}
	reply, err := n.peers.Call(ctx, l.addr, callTouch, req)
	if err != nil || len(reply) == 0 || reply[0] != replyOK {
		n.log.Debug("reporting sessions to the leader failed", "leader", l.id, "error", err)
		return false
	}
	return true
}

func (n *Node) leaderTouch(req []byte) ([]byte, error) {
	if !n.isLeader.Load() {
		return nil, errNotLeader
	}
	count, k := binary.Uvarint(req)
	if k <= 0 || count > uint64(len(req)) {
		return nil, ErrMarshalling
	}
	req = req[k:]
	now := n.clock.Now()
	for range count {
		id, k := binary.Varint(req)
		if k <= 0 {
			return nil, ErrMarshalling
		}
		req = req[k:]
		n.tracker.touch(id, now)
	}
	return nil, nil
}

// appendApplyResult encodes a txn's result for a follower:
// index:uvarint zxid err:code failed:varint nresults (path stat err:code)*.
func appendApplyResult(b []byte, r *applyResult) []byte {
	b = binary.AppendUvarint(b, r.index)
	b = binary.AppendVarint(b, r.zxid)
	b = binary.AppendVarint(b, int64(codeOrOK(r.err)))
	b = binary.AppendVarint(b, int64(r.failed))
	b = binary.AppendUvarint(b, uint64(len(r.results)))
	for _, op := range r.results {
		b = txn.AppendString(b, op.path)
		b = appendStat(b, &op.stat)
		b = binary.AppendVarint(b, int64(codeOrOK(op.err)))
	}
	return b
}

// codeOrOK is CodeOf, with the internal error a session id clash gives
// carried as a code of its own.
func codeOrOK(err error) Code {
	if errors.Is(err, errSessionIDTaken) {
		return codeSessionIDTaken
	}
	return CodeOf(err)
}

// codeSessionIDTaken never reaches a client: Connect picks another id.
const codeSessionIDTaken Code = -1 << 20

func errorOfCode(c Code) error {
	if c == codeSessionIDTaken {
		return errSessionIDTaken
	}
	return ErrorForCode(c)
}

func appendStat(b []byte, s *Stat) []byte {
	for _, v := range [...]int64{s.Czxid, s.Mzxid, s.Ctime, s.Mtime, int64(s.Version), int64(s.Cversion), int64(s.Aversion), s.EphemeralOwner, int64(s.DataLength), int64(s.NumChildren), s.Pzxid} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errors.New("truncated")
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *byteReader) string() string {
	if r.err != nil {
		return ""
	}
	l, k := binary.Uvarint(r.b)
	if k <= 0 || l > uint64(len(r.b)-k) {
		r.err = errors.New("truncated")
		return ""
	}
	s := string(r.b[k : k+int(l)])
	r.b = r.b[k+int(l):]
	return s
}

func (r *byteReader) stat() Stat {
	var v [11]int64
	for i := range v {
		v[i] = r.varint()
	}
	return Stat{Czxid: v[0], Mzxid: v[1], Ctime: v[2], Mtime: v[3], Version: int32(v[4]), Cversion: int32(v[5]), Aversion: int32(v[6]), EphemeralOwner: v[7], DataLength: int32(v[8]), NumChildren: int32(v[9]), Pzxid: v[10]}
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errors.New("truncated")
		return 0
	}
	r.b = r.b[k:]
	return v
}

func decodeApplyResult(b []byte) (*applyResult, error) {
	r := &byteReader{b: b}
	res := &applyResult{index: r.uvarint()}
	res.zxid, res.err, res.failed = r.varint(), errorOfCode(Code(r.varint())), int(r.varint())
	count := r.uvarint()
	if count > uint64(len(r.b)) {
		return nil, errors.New("bad result count")
	}
	if count > 0 {
		res.results = make([]opResult, count)
	}
	for i := range res.results {
		op := &res.results[i]
		op.path = r.string()
		op.stat = r.stat()
		op.err = errorOfCode(Code(r.varint()))
		if i < res.failed {
			op.err = ErrRolledBack // carried as CodeOK, as on ZooKeeper's wire
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return res, nil
}
