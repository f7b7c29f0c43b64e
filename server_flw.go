package zk

import (
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/zkraft/zk/internal/flw"
)

// Version is the version the four-letter words report: the ZooKeeper
// release whose protocol and behaviour zkraft follows, then zkraft's
// name. Clients gate features on the leading ZooKeeper version.
const Version = "3.8.4-zkraft"

// buildTime is when the binary was built, as srvr reports it: the VCS
// time Go records, else when the process started.
var buildTime = func() time.Time {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t
				}
			}
		}
	}
	return time.Now()
}()

// isFourLetterWord reports whether the first four bytes of a connection
// are a four-letter word rather than a frame length.
func isFourLetterWord(b []byte) bool { return flw.IsWord(b) }

// answerFourLetterWord answers a four-letter word as ZooKeeper 3.8 does:
// a word outside the whitelist gets ZooKeeper's refusal, one without an
// answer gets the connection closed ("").
func (n *Node) answerFourLetterWord(word string, _ *wireConn) string {
	if !n.fourLetterAllowed(word) {
		return flw.NotWhitelisted(flw.Name(word))
	}
	ans, _ := flw.Answer(word, n.flwStats())
	return ans
}

// fourLetterAllowed applies 4lw.commands.whitelist: srvr always answers,
// as in ZooKeeper.
func (n *Node) fourLetterAllowed(word string) bool {
	ws := n.cfg.FourLetterWords
	return word == "srvr" || slices.Contains(ws, "*") || slices.Contains(ws, flw.Name(word))
}

// flwStats gathers what the four-letter words report.
func (n *Node) flwStats() *flw.Stats {
	st := n.Stats()
	s := &flw.Stats{
		Version:   Version,
		BuildTime: buildTime,
		Zxid:      st.LastZxid,
		NodeCount: int64(st.Znodes),
		Uptime:    time.Since(n.started),

		GlobalSessions: int64(st.Sessions),
		WatchCount:     int64(st.Watches),
	}
	voters := 0
	for _, sv := range st.Servers {
		if !sv.Observer {
			voters++
		}
	}
	switch {
	case st.Role == RoleLeader && len(st.Servers) <= 1:
		s.Mode = flw.ModeStandalone
	case st.Role == RoleLeader:
		s.Mode, s.QuorumSize = flw.ModeLeader, voters
		s.Learners = int64(len(st.Servers) - 1)
		s.SyncedFollowers = int64(voters - 1)
		s.SyncedObservers = int64(len(st.Servers) - voters)
	case st.Role == RoleFollower:
		s.Mode, s.QuorumSize = flw.ModeFollower, voters
	case st.Role == RoleObserver:
		s.Mode, s.QuorumSize = flw.ModeObserver, voters
	default:
		s.NotServing = true
	}
	if st.Leader == "" {
		s.NotServing = true
	}
	n.fsm.mu.RLock()
	for _, paths := range n.fsm.tree.ephemerals {
		s.Ephemerals += int64(len(paths))
	}
	n.fsm.mu.RUnlock()

	ws := n.wire
	s.Latency = ws.stats.lat.summary()
	s.PacketsReceived, s.PacketsSent = ws.stats.received.Load(), ws.stats.sent.Load()
	ws.mu.Lock()
	for w := range ws.conns {
		// The handshake sets established, under info.mu, after conn: so
		// reading it first orders the read of conn after that write.
		w.info.mu.Lock()
		established := !w.info.established.IsZero()
		w.info.mu.Unlock()
		if !established {
			continue // a connection without a session, this word's own among them
		}
		s.Outstanding += int64(w.reqs.len())
		s.Connections = append(s.Connections, w.flwConnection())
	}
	ws.mu.Unlock()
	slices.SortFunc(s.Connections, func(a, b flw.Connection) int { return a.Established.Compare(b.Established) })

	c := &s.Conf
	if _, port, err := net.SplitHostPort(n.clientAddr); err == nil {
		c.ClientPort, _ = strconv.Atoi(port)
	}
	if _, port, err := net.SplitHostPort(n.secureClientAddr); err == nil {
		c.SecureClientPort, _ = strconv.Atoi(port)
	}
	c.DataDir, c.DataLogDir = n.cfg.Dir, n.cfg.Dir
	c.TickTime, c.MinSessionTimeout, c.MaxSessionTimeout = n.cfg.TickTime, n.cfg.MinSessionTimeout, n.cfg.MaxSessionTimeout
	c.MaxClientCnxns = max(n.cfg.MaxClientConns, 0)
	c.ServerID, _ = strconv.ParseUint(n.cfg.ID, 10, 64)
	for _, sv := range st.Servers {
		id, err := strconv.ParseUint(sv.ID, 10, 64)
		if err != nil {
			continue
		}
		m := flw.Member{ID: id, Observer: sv.Observer}
		if host, port, err := net.SplitHostPort(sv.Addr); err == nil {
			m.Host = host
			m.PeerPort, _ = strconv.Atoi(port)
		}
		if sv.ID == n.cfg.ID {
			c.QuorumPort, c.Observer = m.PeerPort, sv.Observer
		}
		c.Members = append(c.Members, m)
	}
	return s
}

// flwConnection is what cons says of a connection.
func (w *wireConn) flwConnection() flw.Connection {
	w.info.mu.Lock()
	defer w.info.mu.Unlock()
	fc := flw.Connection{
		InterestOps: 1, Queued: int64(w.reqs.len()),
		Received: w.info.received, Sent: w.info.sent,
		SessionID: w.conn.SessionID(), LastOp: w.info.lastOp,
		Established: w.info.established, Timeout: w.conn.SessionTimeout(),
		LastCxid: int64(w.info.lastXid), LastZxid: w.info.lastZxid, LastResponse: w.info.lastAt,
	}
	lat := w.info.lat.summary()
	fc.MinLatency, fc.MaxLatency = lat.Min, lat.Max
	if lat.Count > 0 {
		fc.AvgLatency = lat.Sum / lat.Count
		fc.LastLatency = time.Duration(w.info.lat.last.Load()).Milliseconds()
	}
	if ap, err := netip.ParseAddrPort(w.nc.RemoteAddr().String()); err == nil {
		fc.Remote = ap
	}
	if lat.Count == 0 {
		fc.LastCxid = -1
	}
	return fc
}
