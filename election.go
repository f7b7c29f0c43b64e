package zk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoLeader is returned by Election.Leader when no candidate is
// campaigning, so there is no leader.
var ErrNoLeader = errors.New("zk: election has no leader")

// ErrResigned is what Leadership.Err reports after Leadership.Resign.
var ErrResigned = errors.New("zk: leadership resigned")

// electionNodePrefix starts the name of every candidate node; a random
// per-Campaign id follows, then electionNodeInfix and the sequence suffix.
const (
	electionNodePrefix = "_c_"
	electionNodeInfix  = "-n_"
	// electionMinCleanup bounds, at least, how long a cancelled Campaign keeps
	// trying to remove its candidate node.
	electionMinCleanup = 5 * time.Second
)

// Election is ZooKeeper's leader election recipe on one Conn: candidates
// are ephemeral sequential nodes under one election path, the candidate
// with the lowest sequence number leads, and every other candidate watches
// only the candidate just before it, so that a candidate leaving wakes one
// other candidate, not all of them (no herd effect).
//
// An Election holds nothing but its Conn and path: any number
// of Elections, on any Conns and nodes of an ensemble, may campaign on the
// same path, and one Election may run several Campaigns at once (each is
// a separate candidate). Election uses only the exported API of Conn.
// Its methods are safe for concurrent use.
//
// Leadership is tied to the Conn's session: it is held while the
// candidate node exists, and the node is ephemeral, so the ensemble hands
// leadership on when the session ends. Leadership.Lost tells a leader when
// it can no longer be sure it leads, before the ensemble could elect
// anyone else.
//
// What it guarantees: at any point of the ensemble's history at most one
// candidate node is the lowest, so Campaigns return in creation order and
// their fencing tokens (the czxid of the node) strictly grow from one
// leader to the next. What it cannot: that two holders never act at the
// same moment. A leader whose node someone else deletes learns of it only
// when its own node applies the delete, and a leader's process may stall;
// a resource shared by leaders should refuse writes that carry a token
// smaller than one it has seen, or writes should be made conditional on
// the leader's node with CheckOp(Leadership.Path, AnyVersion).
type Election struct {
	conn *Conn
	path string
	acl  []ACL

	// wakeups counts the predecessor watches that fired in Campaign;
	// waiting counts the Campaigns waiting on one. Tests read them.
	wakeups atomic.Int64
	waiting atomic.Int64
}

// NewElection returns an Election on path for conn. The path and any
// missing parents are created, as persistent nodes with an open ACL, by
// the first Campaign that needs them; they are never deleted by the
// Election. Candidate nodes get an open ACL (WorldACL(PermAll)). Children
// of path that are not candidate nodes (names not made by Campaign) are
// ignored.
func NewElection(conn *Conn, path string) *Election {
	return &Election{conn: conn, path: strings.TrimSuffix(path, "/"), acl: WorldACL(PermAll)}
}

// Path returns the election's path.
func (e *Election) Path() string { return e.path }

// LeaderRecord is a leader as Election.Observe reports it. The zero
// LeaderRecord (Token 0) means that there is no leader.
type LeaderRecord struct {
	// Value is the value the leader campaigned with.
	Value []byte
	// Token is the leader's fencing token: the czxid of its candidate
	// node. It only grows from one leader to the next.
	Token int64
	// Path is the leader's candidate node.
	Path string
}

// electionCandidate is a parsed candidate node name.
type electionCandidate struct {
	name string
	seq  int64
}

// electionCandidates returns the candidate nodes among names, lowest sequence
// number first.
func electionCandidates(names []string) []electionCandidate {
	var cs []electionCandidate
	for _, n := range names {
		if !strings.HasPrefix(n, electionNodePrefix) || len(n) < 10 {
			continue
		}
		seq, err := strconv.ParseInt(n[len(n)-10:], 10, 64)
		if err != nil {
			continue
		}
		cs = append(cs, electionCandidate{name: n, seq: seq})
	}
	slices.SortFunc(cs, func(a, b electionCandidate) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return cs
}

// Campaign enters value as a candidate and blocks until it is elected,
// then returns the Leadership. Candidates are elected in the order their
// nodes were created; a candidate waits on its predecessor alone.
//
// Campaign guarantees: when it returns a Leadership, its candidate node
// was, at that moment, the lowest-numbered candidate in this Conn's node's
// view, which (every lower candidate being created before it) means that
// every earlier leader's node had been deleted; Leadership.Token is larger
// than every earlier leader's token. It does not guarantee that the
// leadership still holds by the time the caller acts: watch
// Leadership.Lost, and fence writes with the token or with
// CheckOp(Leadership.Path, AnyVersion) in a Multi.
//
// If ctx ends first, Campaign removes its candidate node (also one whose
// creation was in flight) and returns ctx's error; if the node cannot be
// removed within the session timeout (at least 5s), the error says so as
// well, and the node goes when the session ends. A create whose outcome is
// unknown (ErrConnectionLoss) is resolved by finding the node again by its
// unique per-Campaign prefix. If the Conn ends, or the candidate node is
// deleted by someone else, Campaign returns an error (wrapping ErrClosing,
// ErrSessionExpired or ErrNoNode). ctx bounds the campaign only: the
// Leadership it returns outlives it.
func (e *Election) Campaign(ctx context.Context, value []byte) (*Leadership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("zk: election %s: %w", e.path, err)
	}
	prefix := electionNodePrefix + hex.EncodeToString(rnd[:]) + electionNodeInfix
	me, stat, uncertain, err := recipeCreate(ctx, e.conn, e.path, prefix, prefix, value, e.acl)
	if err != nil {
		if !uncertain && ctx.Err() == nil {
			// Every create failed for sure: there is nothing to remove.
			return nil, fmt.Errorf("zk: election %s: %w", e.path, err)
		}
		return nil, e.abandon(ctx, prefix, err)
	}
	for {
		names, _, err := e.conn.Children(ctx, e.path)
		if err != nil {
			if recipeUnknown(ctx, err) {
				continue
			}
			return nil, e.abandon(ctx, prefix, err)
		}
		cs := electionCandidates(names)
		if dup := slices.IndexFunc(cs, func(c electionCandidate) bool {
			return c.name != me && strings.HasPrefix(c.name, prefix)
		}); dup >= 0 {
			// A create of ours whose outcome seemed unknown happened after
			// all, late: it must not stand in line with us.
			err := e.conn.Delete(ctx, e.path+"/"+cs[dup].name, AnyVersion)
			if err != nil && !errors.Is(err, ErrNoNode) && !recipeUnknown(ctx, err) {
				return nil, e.abandon(ctx, prefix, err)
			}
			continue
		}
		i := slices.IndexFunc(cs, func(c electionCandidate) bool { return c.name == me })
		if i < 0 {
			return nil, fmt.Errorf("zk: election %s: candidate %s was deleted: %w", e.path, me, ErrNoNode)
		}
		if i == 0 {
			if err := ctx.Err(); err != nil {
				return nil, e.abandon(ctx, prefix, err)
			}
			return e.lead(ctx, me, stat)
		}
		_, _, w, err := e.conn.GetW(ctx, e.path+"/"+cs[i-1].name)
		switch {
		case errors.Is(err, ErrNoNode):
			continue // the predecessor left meanwhile: look again
		case err != nil:
			if recipeUnknown(ctx, err) {
				continue
			}
			return nil, e.abandon(ctx, prefix, err)
		}
		e.waiting.Add(1)
		select {
		case ev := <-w:
			e.waiting.Add(-1)
			if ev.Type != EventNotWatching {
				e.wakeups.Add(1)
			}
		case <-ctx.Done():
			e.waiting.Add(-1)
			return nil, e.abandon(ctx, prefix, ctx.Err())
		}
	}
}

// abandon removes the candidate nodes named with prefix, after Campaign
// failed with cause, and returns the error Campaign returns. When ctx has
// ended it removes them with a fresh deadline.
func (e *Election) abandon(ctx context.Context, prefix string, cause error) error {
	if errors.Is(cause, ErrClosing) || errors.Is(cause, ErrSessionExpired) {
		return fmt.Errorf("zk: election %s: %w", e.path, cause)
	}
	if ctx.Err() != nil {
		cause = ctx.Err()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(e.conn.SessionTimeout(), electionMinCleanup))
	defer cancel()
	for {
		err := recipeRemoveOwned(cctx, e.conn, e.path, prefix)
		if err == nil || errors.Is(err, ErrClosing) || errors.Is(err, ErrSessionExpired) {
			// With the session ended, its ephemeral node is gone too.
			return fmt.Errorf("zk: election %s: %w", e.path, cause)
		}
		if !recipeUnknown(cctx, err) || recipePause(cctx) != nil {
			return errors.Join(fmt.Errorf("zk: election %s: %w", e.path, cause),
				fmt.Errorf("zk: election %s: could not remove candidate %s*: %w", e.path, prefix, err))
		}
	}
}

// lead starts the Leadership of the elected candidate me.
func (e *Election) lead(ctx context.Context, me string, stat *Stat) (*Leadership, error) {
	l := &Leadership{
		Token:    stat.Czxid,
		Path:     e.path + "/" + me,
		conn:     e.conn,
		election: e,
		prefix:   me[:strings.LastIndex(me, electionNodeInfix)+len(electionNodeInfix)],
		lost:     make(chan struct{}),
		resigned: make(chan struct{}),
		done:     make(chan struct{}),
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	// Register before the check of the node below, so that an out of
	// touch spell that began before the election is not missed: the
	// channel closes on the node's last contact, not on registration.
	touch := e.conn.OutOfTouch(mctx, e.conn.SessionTimeout()/3)
	_, _, w, err := e.conn.GetW(ctx, l.Path)
	if err != nil {
		stop()
		if errors.Is(err, ErrNoNode) {
			return nil, fmt.Errorf("zk: election %s: candidate %s was deleted: %w", e.path, me, err)
		}
		return nil, e.abandon(ctx, l.Path[len(e.path)+1:], err)
	}
	go l.monitor(mctx, stop, w, touch)
	return l, nil
}

// Leadership is a won election. It lasts until Lost is closed; it ends
// for good then, even if the candidate node is still there, and the
// holder should Resign (to hand over at once) and Campaign again if it
// wants to lead again.
type Leadership struct {
	// Token is the fencing token: the czxid of the leader's candidate
	// node. Every later leader of the same election path has a larger
	// token, so a resource that remembers the largest token it has seen
	// can refuse a deposed leader.
	Token int64
	// Path is the leader's candidate node. While it exists, this session
	// leads: CheckOp(Path, AnyVersion) in a Multi makes writes conditional
	// on the leadership.
	Path string

	conn       *Conn
	election   *Election
	prefix     string // of the names of this Campaign's nodes
	lost       chan struct{}
	resigned   chan struct{}
	done       chan struct{} // closed when monitor has returned
	once       sync.Once
	resignOnce sync.Once
	err        atomic.Pointer[error]
}

// Lost returns a channel that is closed when the leadership may be lost:
// the candidate node was deleted (by Resign, by someone else, or by the
// end of the session), or the Conn may have been out of touch with the
// ensemble for a third of the session timeout (see Conn.OutOfTouch: it
// closes before the ensemble could expire the session and elect another
// leader, as long as the clocks of the Conn's node and the ensemble's
// leader run at the same rate), or the Conn ended or lost its node.
// It may close while the node still exists (a false alarm). Apart from a
// deletion by someone else, which it reports once the Conn's node has
// applied it, it closes before the ensemble could expire the session and
// elect another leader.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Err returns nil while Lost is open, and then why the leadership ended:
// ErrResigned, or an error wrapping ErrNoNode (the node was deleted),
// ErrConnectionLoss (out of touch, or the Conn's node went away),
// ErrSessionExpired or ErrClosing (the Conn ended).
func (l *Leadership) Err() error {
	if p := l.err.Load(); p != nil {
		return *p
	}
	return nil
}

// lose ends the leadership with err, once.
func (l *Leadership) lose(err error) {
	l.once.Do(func() {
		l.err.Store(&err)
		close(l.lost)
	})
}

// monitor closes lost when the leadership may be lost; it returns then.
func (l *Leadership) monitor(ctx context.Context, stop context.CancelFunc, w <-chan Event, touch <-chan struct{}) {
	defer close(l.done)
	defer stop()
	for {
		select {
		case ev := <-w:
			if ev.Type == EventNodeDataChanged {
				// Someone changed the node's data: watch it again.
				var err error
				if _, _, w, err = l.conn.GetW(ctx, l.Path); err == nil {
					continue
				}
				l.lose(fmt.Errorf("zk: leadership %s: %w", l.Path, err))
				return
			}
			if ev.Type == EventNotWatching {
				l.lose(fmt.Errorf("zk: leadership %s: %w", l.Path, electionConnEnded(l.conn)))
				return
			}
			l.lose(fmt.Errorf("zk: leadership %s: candidate node deleted: %w", l.Path, ErrNoNode))
			return
		case <-touch:
			select {
			case <-l.conn.Done():
				l.lose(fmt.Errorf("zk: leadership %s: %w", l.Path, electionConnEnded(l.conn)))
			default:
				l.lose(fmt.Errorf("zk: leadership %s: out of touch with the ensemble: %w", l.Path, ErrConnectionLoss))
			}
			return
		case <-l.conn.Done():
			l.lose(fmt.Errorf("zk: leadership %s: %w", l.Path, electionConnEnded(l.conn)))
			return
		case <-l.resigned:
			l.lose(ErrResigned)
			return
		}
	}
}

// electionConnEnded returns the error that matches how conn ended.
func electionConnEnded(conn *Conn) error {
	if conn.State() == StateExpired {
		return ErrSessionExpired
	}
	return ErrClosing
}

// Resign gives up the leadership: it closes Lost first, then deletes the
// candidate node, which elects the next candidate. It returns once the
// node is deleted (or was already gone, or the session has ended, which
// deleted it); while the outcome of the delete is unknown it retries,
// bounded by ctx. It is safe to call more than once, and after Lost has
// closed.
func (l *Leadership) Resign(ctx context.Context) error {
	l.lose(ErrResigned)
	l.resignOnce.Do(func() { close(l.resigned) })
	<-l.done
	for {
		err := l.conn.Delete(ctx, l.Path, AnyVersion)
		switch {
		case err == nil, errors.Is(err, ErrNoNode):
			// A create of this Campaign that seemed lost may yet have
			// happened, late, behind this node: it must go too.
			if err := recipeRemoveOwned(ctx, l.election.conn, l.election.path, l.prefix); err != nil && !errors.Is(err, ErrSessionExpired) {
				return fmt.Errorf("zk: resign %s: %w", l.Path, err)
			}
			return nil
		case errors.Is(err, ErrSessionExpired):
			return nil
		case recipeUnknown(ctx, err):
			if err := recipePause(ctx); err != nil {
				return fmt.Errorf("zk: resign %s: %w", l.Path, err)
			}
		case errors.Is(err, ErrClosing) && l.conn.State() == StateClosed:
			return nil // Close deleted the session's ephemeral nodes
		default:
			return fmt.Errorf("zk: resign %s: %w", l.Path, err)
		}
	}
}

// Leader returns the current leader's value and token, as this Conn's
// node knows them (call Conn.Sync first for a linearizable answer), or
// ErrNoLeader if there is none.
func (e *Election) Leader(ctx context.Context) (value []byte, token int64, err error) {
	for {
		rec, _, err := e.leader(ctx, false)
		switch {
		case err == nil && rec.Token == 0:
			return nil, 0, fmt.Errorf("zk: election %s: %w", e.path, ErrNoLeader)
		case err == nil:
			return rec.Value, rec.Token, nil
		case recipeUnknown(ctx, err):
			continue
		default:
			return nil, 0, fmt.Errorf("zk: election %s: %w", e.path, err)
		}
	}
}

// leader reads the current leader, and with watch a channel that fires
// when it may have changed: a data watch on the leader's node, or when
// there is none, a child watch on the path or an exist watch on it.
func (e *Election) leader(ctx context.Context, watch bool) (LeaderRecord, <-chan Event, error) {
	for {
		names, _, err := e.conn.Children(ctx, e.path)
		if errors.Is(err, ErrNoNode) {
			if !watch {
				return LeaderRecord{}, nil, nil
			}
			ok, _, w, err := e.conn.ExistsW(ctx, e.path)
			if err != nil {
				return LeaderRecord{}, nil, err
			}
			if ok {
				continue
			}
			return LeaderRecord{}, w, nil
		}
		if err != nil {
			return LeaderRecord{}, nil, err
		}
		cs := electionCandidates(names)
		if len(cs) == 0 {
			if !watch {
				return LeaderRecord{}, nil, nil
			}
			names, _, w, err := e.conn.ChildrenW(ctx, e.path)
			if errors.Is(err, ErrNoNode) {
				continue
			}
			if err != nil {
				return LeaderRecord{}, nil, err
			}
			if len(electionCandidates(names)) > 0 {
				continue
			}
			return LeaderRecord{}, w, nil
		}
		p := e.path + "/" + cs[0].name
		var (
			data []byte
			stat *Stat
			w    <-chan Event
		)
		if watch {
			data, stat, w, err = e.conn.GetW(ctx, p)
		} else {
			data, stat, err = e.conn.Get(ctx, p)
		}
		if errors.Is(err, ErrNoNode) {
			continue // the leader left meanwhile
		}
		if err != nil {
			return LeaderRecord{}, nil, err
		}
		return LeaderRecord{Value: data, Token: stat.Czxid, Path: p}, w, nil
	}
}

// Observe returns a channel of the election's leaders as this Conn's node
// sees them: first the current one (the zero LeaderRecord if there is
// none), then a record each time the leader changes. A slow reader is not
// sent every leader, but always the latest: a record is sent only when it
// differs from the last one sent, and tokens of the leaders it sends only
// grow. The channel is closed when ctx ends or the Conn ends. Observe
// watches only the leader's node (or, with no leader, the path), so
// candidates joining or leaving behind the leader wake nobody.
func (e *Election) Observe(ctx context.Context) <-chan LeaderRecord {
	ch := make(chan LeaderRecord)
	go func() {
		defer close(ch)
		var last LeaderRecord
		var top int64 // the largest token sent
		first := true
		for {
			rec, w, err := e.leader(ctx, true)
			if err != nil {
				if recipeUnknown(ctx, err) {
					continue
				}
				return
			}
			stale := rec.Token != 0 && rec.Token < top // a node behind, after a move
			if !stale && (first || rec.Token != last.Token || !bytes.Equal(rec.Value, last.Value)) {
				select {
				case ch <- rec:
				case <-ctx.Done():
					return
				}
				first, last, top = false, rec, max(top, rec.Token)
			}
			select {
			case <-w:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}
