package zk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
)

// Group is ZooKeeper's group membership recipe on one Conn: each member is
// an ephemeral node, named by the member, under the group's path, holding
// the member's data. A member stays in the group while the session that
// joined it lives and until it leaves, so a process that crashes, or whose
// node dies and whose session then expires, leaves the group by itself —
// after the session timeout, not at once.
//
// A Group holds nothing but its Conn and path: Groups on any Conns and
// nodes of an ensemble may share a path. Every child of the path counts
// as a member. Group uses only the exported API of Conn, and its methods
// are safe for concurrent use.
type Group struct {
	conn *Conn
	path string
	acl  []ACL
}

// NewGroup returns the Group at path for conn. The path and any missing
// parents are created, as persistent nodes with an open ACL, by the first
// Join that needs them, and never deleted by the Group. Member nodes get
// an open ACL (WorldACL(PermAll)).
func NewGroup(conn *Conn, path string) *Group {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	return &Group{conn: conn, path: path, acl: WorldACL(PermAll)}
}

// Path returns the group's path.
func (g *Group) Path() string { return g.path }

// Membership is one member a Join made. It is bound to the session of the
// Group's Conn.
type Membership struct {
	g    *Group
	name string
	path string
}

// Name returns the member's name.
func (m *Membership) Name() string { return m.name }

// Path returns the member's node.
func (m *Membership) Path() string { return m.path }

// Join adds a member called name, with data, to the group: it creates the
// ephemeral node path/name owned by the Conn's session. It fails with
// ErrNodeExists (wrapped) if a member of that name is already in the group
// — from any session, this one included — and with ErrBadArguments for a
// name that is empty or holds a "/". On a Conn that fails over, an
// attempt cut off by its node going away is tried again, and a member it
// turns out to have made is this Join's. If ctx ends before the reply,
// the member may or may not have been added; if it was, it goes with the
// session.
func (g *Group) Join(ctx context.Context, name string, data []byte) (*Membership, error) {
	if name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("zk: group %s: member name %q: %w", g.path, name, ErrBadArguments)
	}
	p := treeCacheJoin(g.path, name)
	ensured, retried := false, false
	for {
		_, err := g.conn.Create(ctx, p, data, FlagEphemeral, g.acl)
		switch {
		case err == nil:
			return &Membership{g: g, name: name, path: p}, nil
		case errors.Is(err, ErrNoNode) && !ensured:
			ensured = true
			if err := recipeEnsurePath(ctx, g.conn, g.path, g.acl); err != nil {
				return nil, fmt.Errorf("zk: group %s: join %s: %w", g.path, name, err)
			}
			continue
		case errors.Is(err, ErrNodeExists) && retried:
			// An attempt whose outcome was lost may have made it.
			m := &Membership{g: g, name: name, path: p}
			if st, oerr := m.owned(ctx); oerr == nil && st != nil {
				return m, nil
			}
		case recipeRetry(ctx, g.conn, err):
			retried = true
			continue
		}
		return nil, fmt.Errorf("zk: group %s: join %s: %w", g.path, name, err)
	}
}

// owned returns the member node's Stat if it exists and belongs to this
// Conn's session, else nil.
func (m *Membership) owned(ctx context.Context) (*Stat, error) {
	_, st, err := m.g.conn.Get(ctx, m.path)
	for recipeRetry(ctx, m.g.conn, err) {
		_, st, err = m.g.conn.Get(ctx, m.path)
	}
	if errors.Is(err, ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st.EphemeralOwner != m.g.conn.SessionID() {
		return nil, nil // ours went; another session joined under the name
	}
	return st, nil
}

// Update replaces the member's data. It fails with ErrNoNode (wrapped)
// once the member has left, and never touches a member of the same name
// that another session added since.
func (m *Membership) Update(ctx context.Context, data []byte) error {
	for {
		st, err := m.owned(ctx)
		if err != nil {
			return fmt.Errorf("zk: group %s: update %s: %w", m.g.path, m.name, err)
		}
		if st == nil {
			return fmt.Errorf("zk: group %s: update %s: not a member: %w", m.g.path, m.name, ErrNoNode)
		}
		_, err = m.g.conn.Set(ctx, m.path, data, st.Version)
		if errors.Is(err, ErrBadVersion) || recipeRetry(ctx, m.g.conn, err) {
			continue // a concurrent Update of ours: read the version again
		}
		if err != nil {
			return fmt.Errorf("zk: group %s: update %s: %w", m.g.path, m.name, err)
		}
		return nil
	}
}

// Leave removes the member from the group. Leaving a member that has
// already left (by Leave, or with an ended session) returns nil as long as
// the Conn works; a member of the same name that another session added
// since is left alone. If ctx ends first, the member may or may not have
// left; it goes with the session in any case.
func (m *Membership) Leave(ctx context.Context) error {
	for {
		st, err := m.owned(ctx)
		if err != nil {
			return fmt.Errorf("zk: group %s: leave %s: %w", m.g.path, m.name, err)
		}
		if st == nil {
			return nil
		}
		err = m.g.conn.Delete(ctx, m.path, st.Version)
		if errors.Is(err, ErrBadVersion) || recipeRetry(ctx, m.g.conn, err) {
			continue
		}
		if err != nil && !errors.Is(err, ErrNoNode) {
			return fmt.Errorf("zk: group %s: leave %s: %w", m.g.path, m.name, err)
		}
		return nil
	}
}

// Members returns the group's members, name → data, as the Conn's node
// knows them; an absent group path has no members. The list is read child
// by child, so it is not a snapshot of one instant: a member that was in
// the group for the whole call is in it, one that joined or left during
// the call may or may not be, and each member's data is as it was when
// read. For a list that includes every Join that returned before the call
// (on any node), call Sync on the group's path first.
func (g *Group) Members(ctx context.Context) (map[string][]byte, error) {
	names, _, err := g.conn.Children(ctx, g.path)
	for recipeRetry(ctx, g.conn, err) {
		names, _, err = g.conn.Children(ctx, g.path)
	}
	if errors.Is(err, ErrNoNode) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zk: group %s: members: %w", g.path, err)
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		data, _, err := g.conn.Get(ctx, treeCacheJoin(g.path, name))
		for recipeRetry(ctx, g.conn, err) {
			data, _, err = g.conn.Get(ctx, treeCacheJoin(g.path, name))
		}
		if errors.Is(err, ErrNoNode) {
			continue // left meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("zk: group %s: members: %w", g.path, err)
		}
		if data == nil {
			data = []byte{}
		}
		out[name] = data
	}
	return out, nil
}

// Watch streams the group's members, name → data, as full snapshots: the
// current members first, then a new snapshot each time the members or
// their data change. It follows the group with a TreeCache of the group's
// path, so what TreeCache guarantees holds here: the snapshots converge to
// the group, membership changes are applied in zxid order, and a snapshot
// may lag the group. Consecutive snapshots differ; a reader slower than
// the changes gets the latest snapshot, not every intermediate one. Each
// snapshot is the reader's to keep.
//
// The channel closes when ctx ends, or when the group can no longer be
// followed — the Conn's session ended (after the latest snapshot is
// handed over, unless ctx ends first). Watch returns an error if it
// cannot load the group at the start; ctx bounds that load too. Nothing
// runs once the channel has closed.
func (g *Group) Watch(ctx context.Context) (<-chan map[string][]byte, error) {
	tc, err := NewTreeCache(ctx, g.conn, g.path, WithTreeEvents())
	if err != nil {
		return nil, fmt.Errorf("zk: group %s: watch: %w", g.path, err)
	}
	out := make(chan map[string][]byte)
	go func() {
		defer close(out)
		defer tc.Close()
		last, pending, have := map[string][]byte(nil), g.cached(tc), true
		events := tc.Events()
		for {
			var send chan map[string][]byte
			if have {
				send = out
			}
			select {
			case send <- pending:
				last, pending, have = pending, nil, false
			case e, ok := <-events:
				if !ok {
					// The session ended: hand over the last snapshot, if
					// there is one the reader has not had, then stop.
					if have {
						select {
						case out <- pending:
						case <-ctx.Done():
						}
					}
					return
				}
				if e.Path != "" && e.Path != g.path && treeCacheParent(e.Path) != g.path {
					continue // below a member: not membership
				}
				snap := g.cached(tc)
				if last != nil && groupEqual(snap, last) {
					pending, have = nil, false
				} else if !have || !groupEqual(snap, pending) {
					pending, have = snap, true
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// cached returns the members as tc holds them.
func (g *Group) cached(tc *TreeCache) map[string][]byte {
	names, _ := tc.Children(g.path)
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		if data, _, ok := tc.Get(treeCacheJoin(g.path, name)); ok {
			if data == nil {
				data = []byte{}
			}
			out[name] = data
		}
	}
	return out
}

func groupEqual(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}
