package zk

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/zkraft/zk/internal/txn"
	"github.com/zkraft/zk/internal/zoocfg"
)

// /zookeeper/config holds the ensemble's membership in ZooKeeper 3.8's
// dynamic-config form, one line per member and then the version, the
// zxid of the txn that wrote it in hex:
//
//	server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181
//	version=100000003
//
// Raft's configuration is the truth; the node is a picture of it that the
// leader repaints whenever they differ (after an election, after a
// membership change). What raft does not know, the election port and the
// client address, comes from the node's earlier lines, from Config.Peers,
// or from the reconfig that added the member.

// memberMeta is what a member's config line says that raft does not know.
type memberMeta struct {
	electionPort int
	clientAddr   string // "host:port", "" for none
}

// configMember is one line of /zookeeper/config.
type configMember struct {
	id       string
	addr     string // raft's peer address, host:port
	observer bool
	meta     memberMeta
}

func (m *configMember) line() (string, bool) {
	host, p, err := net.SplitHostPort(m.addr)
	if err != nil {
		return "", false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", false
	}
	if _, err := strconv.ParseUint(m.id, 10, 63); err != nil {
		return "", false
	}
	ep := m.meta.electionPort
	if ep == 0 || ep == port {
		ep = port + 1
		if ep > 65535 {
			ep = port - 1
		}
	}
	role := "participant"
	if m.observer {
		role = "observer"
	}
	l := "server." + m.id + "=" + net.JoinHostPort(host, p) + ":" + strconv.Itoa(ep) + ":" + role
	if m.meta.clientAddr != "" {
		l += ";" + m.meta.clientAddr
	}
	return l, true
}

// renderConfig returns the member lines of /zookeeper/config, in ID order
// as ZooKeeper prints them, and false if some member cannot be described:
// IDs that are not numbers or peer addresses without a port (in-memory
// networks) mean nothing to a ZooKeeper client, so the node stays empty.
func renderConfig(ms []configMember) ([]byte, bool) {
	slices.SortFunc(ms, func(a, b configMember) int {
		x, _ := strconv.ParseUint(a.id, 10, 63)
		y, _ := strconv.ParseUint(b.id, 10, 63)
		return cmp.Compare(x, y)
	})
	var b bytes.Buffer
	for i := range ms {
		l, ok := ms[i].line()
		if !ok {
			return nil, false
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes(), true
}

// configBody strips the version line from /zookeeper/config's data.
func configBody(data []byte) []byte {
	if i := bytes.LastIndex(data, []byte("version=")); i >= 0 && (i == 0 || data[i-1] == '\n') {
		return data[:i]
	}
	return data
}

// parseConfigLines reads the member lines of /zookeeper/config, by ID.
func parseConfigLines(data []byte) map[string]zoocfg.Server {
	out := map[string]zoocfg.Server{}
	for l := range strings.SplitSeq(string(configBody(data)), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if s, err := zoocfg.ParseServerLine(l); err == nil {
			out[strconv.FormatUint(s.ID, 10)] = s
		}
	}
	return out
}

// metaOf returns what a parsed server line says beyond raft's view.
func metaOf(s zoocfg.Server) memberMeta {
	m := memberMeta{electionPort: s.ElectionPort}
	if s.ClientAddr != "" {
		m.clientAddr = net.JoinHostPort(s.ClientHost, strconv.Itoa(s.ClientPort))
	}
	return m
}

func peerAddrOf(s zoocfg.Server) string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.PeerPort))
}

// currentConfig returns the data and Stat of /zookeeper/config.
func (n *Node) currentConfig() ([]byte, Stat) {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	nd := n.fsm.tree.nodes[configPath]
	if nd == nil {
		return nil, Stat{}
	}
	return bytes.Clone(nd.data), nd.stat()
}

// desiredConfig renders raft's configuration as /zookeeper/config's
// member lines. extra, from a reconfig, overrides what the node knew.
func (n *Node) desiredConfig(current []byte, extra map[string]memberMeta) ([]byte, bool) {
	old := parseConfigLines(current)
	var ms []configMember
	for _, s := range n.servers() {
		m := configMember{id: s.ID, addr: s.Addr, observer: s.Observer}
		if e, ok := extra[s.ID]; ok {
			m.meta = e
		} else if o, ok := old[s.ID]; ok && peerAddrOf(o) == s.Addr {
			m.meta = metaOf(o)
		} else {
			for _, p := range n.cfg.Peers {
				if p.ID == s.ID && p.Addr == s.Addr {
					m.meta = memberMeta{electionPort: p.ElectionPort, clientAddr: p.ClientAddr}
				}
			}
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, false
	}
	return renderConfig(ms)
}

// leaderWriteConfig brings /zookeeper/config up to date with raft's
// configuration and returns its data and Stat. A node alone in its
// ensemble, whose config is empty, keeps it empty, as a standalone
// ZooKeeper. The caller holds configMu.
func (n *Node) leaderWriteConfig(ctx context.Context, extra map[string]memberMeta) ([]byte, Stat, error) {
	data, st := n.currentConfig()
	body, ok := n.desiredConfig(data, extra)
	if !ok || bytes.Equal(configBody(data), body) {
		return data, st, nil
	}
	if len(data) == 0 && len(n.servers()) < 2 {
		return data, st, nil
	}
	t := &txn.Txn{Type: txn.TypeSetConfig, Time: n.clock.Now().UnixMilli(), Data: body}
	res, err := n.proposeLocal(ctx, t.Encode())
	if err != nil {
		return nil, Stat{}, err
	}
	if res.err != nil {
		return nil, Stat{}, res.err
	}
	if len(res.results) == 1 && res.results[0].err != nil {
		return nil, Stat{}, res.results[0].err
	}
	data, st = n.currentConfig()
	return data, st, nil
}

// maintainConfig is the leader's housekeeping step for /zookeeper/config:
// after an election, or a membership change made through AddVoter and
// the like, it writes the config raft now has. A reconfig under way
// writes its own, so the step skips while one runs.
func (n *Node) maintainConfig() {
	if !n.configMu.TryLock() {
		return
	}
	defer n.configMu.Unlock()
	ctx, cancel := n.closingContext(max(n.cfg.TickTime, n.cfg.ElectionTimeout))
	defer cancel()
	// Apply everything committed first, so the lines a reconfig wrote in
	// an earlier term are seen and kept.
	if _, err := n.leaderReadIndex(ctx); err != nil {
		return
	}
	if _, _, err := n.leaderWriteConfig(ctx, nil); err != nil && !errors.Is(err, errNotLeader) {
		n.log.Debug("writing /zookeeper/config failed", "error", err)
	}
}

// standalone reports whether the node is an ensemble of one that has
// never been more, where reconfig is unimplemented as in a standalone
// ZooKeeper.
func (n *Node) standalone() bool {
	if n.peers == nil {
		return true
	}
	data, _ := n.currentConfig()
	return len(data) == 0 && len(n.servers()) < 2
}

// reconfigTimeout bounds a whole reconfig.
func (n *Node) reconfigTimeout() time.Duration { return 10*n.cfg.ElectionTimeout + 5*time.Second }

// reconfig carries out a ZooKeeper reconfig: incremental (joining, a
// comma-separated list of server lines, and leaving, of IDs) or whole
// (newMembers), checked against fromConfig (-1: any). It returns the new
// /zookeeper/config. Any node may be asked: a follower forwards it.
func (n *Node) reconfig(ctx context.Context, joining, leaving, newMembers string, fromConfig int64) ([]byte, Stat, error) {
	req := txn.AppendString(nil, joining)
	req = txn.AppendString(req, leaving)
	req = txn.AppendString(req, newMembers)
	req = binary.AppendVarint(req, fromConfig)
	reply, err := n.callLeader(ctx, callReconfig, req, func(ctx context.Context) ([]byte, error) {
		return n.leaderReconfig(ctx, req)
	})
	if err != nil {
		return nil, Stat{}, err
	}
	br := &byteReader{b: reply}
	data := []byte(br.string())
	st := br.stat()
	if br.err != nil {
		return nil, Stat{}, ErrMarshalling
	}
	if err := n.waitApplied(ctx, st.Mzxid); err != nil {
		return nil, Stat{}, err
	}
	return data, st, nil
}

func (n *Node) leaderReconfig(ctx context.Context, req []byte) ([]byte, error) {
	r := n.r()
	if r.State() != raft.Leader {
		return nil, errNotLeader
	}
	br := &byteReader{b: req}
	joining, leaving, newMembers := br.string(), br.string(), br.string()
	fromConfig := br.varint()
	if br.err != nil {
		return nil, ErrMarshalling
	}
	if !n.reconfiguring.CompareAndSwap(false, true) {
		return nil, ErrReconfigInProgress
	}
	defer n.reconfiguring.Store(false)
	// Housekeeping may be bringing the node up to date; it is quick.
	n.configMu.Lock()
	defer n.configMu.Unlock()
	if _, err := n.leaderReadIndex(ctx); err != nil {
		return nil, err
	}
	data, st, err := n.leaderWriteConfig(ctx, nil)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, ErrUnimplemented
	}
	if fromConfig != -1 && fromConfig != st.Mzxid {
		return nil, ErrBadVersion
	}

	// The membership asked for.
	current := map[string]Server{}
	for _, s := range n.servers() {
		current[s.ID] = s
	}
	target := map[string]Server{}
	extra := map[string]memberMeta{}
	parse := func(list string) error {
		for l := range strings.SplitSeq(list, ",") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			s, err := zoocfg.ParseServerLine(l)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadArguments, err)
			}
			id := strconv.FormatUint(s.ID, 10)
			target[id] = Server{ID: id, Addr: peerAddrOf(s), Observer: s.Role == zoocfg.Observer}
			extra[id] = metaOf(s)
		}
		return nil
	}
	switch {
	case strings.TrimSpace(newMembers) != "":
		if joining != "" || leaving != "" {
			return nil, fmt.Errorf("%w: newMembers with joining or leaving servers", ErrBadArguments)
		}
		if err := parse(newMembers); err != nil {
			return nil, err
		}
	case strings.TrimSpace(joining) != "" || strings.TrimSpace(leaving) != "":
		for id, s := range current {
			target[id] = s
		}
		for l := range strings.SplitSeq(leaving, ",") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			id, err := strconv.ParseUint(l, 10, 63)
			if err != nil {
				return nil, fmt.Errorf("%w: leaving server %q", ErrBadArguments, l)
			}
			delete(target, strconv.FormatUint(id, 10))
		}
		if err := parse(joining); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: no change asked for", ErrBadArguments)
	}
	voters, addrs := 0, map[string]string{}
	for id, s := range target {
		if !s.Observer {
			voters++
		}
		if other, ok := addrs[s.Addr]; ok {
			return nil, fmt.Errorf("%w: servers %s and %s share the address %s", ErrBadArguments, other, id, s.Addr)
		}
		addrs[s.Addr] = id
	}
	if voters == 0 {
		return nil, fmt.Errorf("%w: the new configuration has no participant", ErrBadArguments)
	}
	if _, ok := target[n.cfg.ID]; !ok {
		// The leader leaves: it hands over, and the next leader, seeing
		// the same request, removes it.
		if err := r.LeadershipTransfer().Error(); err != nil {
			return nil, fmt.Errorf("%w: handing over leadership: %v", ErrConnectionLoss, err)
		}
		return nil, errNotLeader
	}

	// The changes, in ID order: additions and changes first, so that the
	// ensemble never shrinks below what it is asked to become.
	ids := make([]string, 0, len(target))
	for id := range target {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var adds [][]byte
	for _, id := range ids {
		s, cur := target[id], current[id]
		switch _, exists := current[id]; {
		case exists && cur.Addr == s.Addr && cur.Observer == s.Observer:
			continue
		case exists && cur.Addr == s.Addr && s.Observer:
			adds = append(adds, membershipRequest(memberDemote, id, s.Addr))
			continue
		case exists && !cur.Observer && s.Observer:
			return nil, fmt.Errorf("%w: server %s cannot move and become an observer at once", ErrBadArguments, id)
		}
		if err := n.reachable(ctx, s.Addr); err != nil {
			return nil, fmt.Errorf("%w: server %s at %s: %v", ErrNewConfigNoQuorum, id, s.Addr, err)
		}
		kind := memberAddVoter
		if s.Observer {
			kind = memberAddObserver
		}
		adds = append(adds, membershipRequest(kind, id, s.Addr))
	}
	var removes [][]byte
	for id := range current {
		if _, ok := target[id]; !ok {
			removes = append(removes, membershipRequest(memberRemove, id, ""))
		}
	}
	for _, req := range append(adds, removes...) {
		if _, err := n.leaderMembership(ctx, req); err != nil {
			if errors.Is(err, errNotLeader) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", ErrNewConfigNoQuorum, err)
		}
	}
	data, st, err = n.leaderWriteConfig(ctx, extra)
	if err != nil {
		return nil, err
	}
	out := txn.AppendString(nil, string(data))
	return appendStat(out, &st), nil
}

// reachable checks that a node answers at addr before it is made a
// member, bounded by a few election timeouts: ZooKeeper refuses a new
// configuration whose members it cannot reach with NEWCONFIGNOQUORUM.
func (n *Node) reachable(ctx context.Context, addr string) error {
	if n.peers == nil {
		return errors.New("no peer transport")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*n.cfg.ElectionTimeout+time.Second)
	defer cancel()
	_, err := n.peers.Call(ctx, addr, callPing, nil)
	return err
}

// IncrementalReconfig adds the servers in joining and removes those in
// leaving, as ZooKeeper's incremental reconfig: joining holds server
// lines ("server.4=10.0.0.4:2888:3888:participant;2181"), leaving server
// ids ("3"). Each change is carried out as a raft membership change, and
// the new configuration is written to /zookeeper/config, whose data and
// Stat it returns. fromConfig, unless -1, must be the version of the
// current configuration (ErrBadVersion otherwise). It needs
// Config.ReconfigEnabled (ErrReconfigDisabled), an ensemble
// (ErrUnimplemented on a standalone node) and WRITE on /zookeeper/config,
// which only the super user has (ErrNoAuth); new members that cannot be
// reached give ErrNewConfigNoQuorum and change nothing.
func (c *Conn) IncrementalReconfig(ctx context.Context, joining, leaving []string, fromConfig int64) ([]byte, *Stat, error) {
	return c.reconfig(ctx, strings.Join(joining, ","), strings.Join(leaving, ","), "", fromConfig)
}

// Reconfig replaces the ensemble's membership with members (server
// lines), as ZooKeeper's non-incremental reconfig; otherwise as
// IncrementalReconfig.
func (c *Conn) Reconfig(ctx context.Context, members []string, fromConfig int64) ([]byte, *Stat, error) {
	return c.reconfig(ctx, "", "", strings.Join(members, ","), fromConfig)
}

func (c *Conn) reconfig(ctx context.Context, joining, leaving, newMembers string, fromConfig int64) ([]byte, *Stat, error) {
	if c.remote != nil {
		return c.remote.reconfig(ctx, joining, leaving, newMembers, fromConfig)
	}
	if err := c.check(ctx); err != nil {
		return nil, nil, opErr("reconfig", configPath, err)
	}
	n := c.node()
	if !n.cfg.ReconfigEnabled {
		return nil, nil, opErr("reconfig", configPath, ErrReconfigDisabled)
	}
	if n.standalone() {
		return nil, nil, opErr("reconfig", configPath, ErrUnimplemented)
	}
	allowed := false
	c.read(func(t *tree) {
		nd := t.nodes[configPath]
		allowed = nd != nil && checkACL(nd.acl.acl, PermWrite, c.authIDs())
	})
	if !allowed {
		return nil, nil, opErr("reconfig", configPath, ErrNoAuth)
	}
	rctx, cancel := context.WithTimeout(ctx, n.reconfigTimeout())
	defer cancel()
	data, st, err := n.reconfig(rctx, joining, leaving, newMembers, fromConfig)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %v", ErrNewConfigNoQuorum, err)
		}
		return nil, nil, opErr("reconfig", configPath, c.lost(err))
	}
	c.seen.Store(st.Mzxid)
	return data, &st, nil
}
