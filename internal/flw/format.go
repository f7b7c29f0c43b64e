package flw

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FullVersion is the version string every word prints:
// "<Version>, built on MM/dd/yyyy HH:mm GMT". ZooKeeper 3.8 prints
// yyyy-MM-dd there, which go-zookeeper/zk's FLWSrvr rejects; the 3.6 form
// is what that parser (time layout "01/02/2006 15:04 MST") reads.
func (s *Stats) FullVersion() string {
	return s.Version + ", built on " + s.BuildTime.UTC().Format("01/02/2006 15:04") + " GMT"
}

func (s *Stats) mode() Mode {
	if s.Mode == "" {
		return ModeStandalone
	}
	return s.Mode
}

// writeStat renders srvr, and stat when clients is set (ZooKeeper's
// StatCommand serves both).
func writeStat(b *strings.Builder, s *Stats, clients bool) {
	b.WriteString("Zookeeper version: ")
	b.WriteString(s.FullVersion())
	b.WriteByte('\n')
	if s.mode() == ModeReadOnly {
		b.WriteString("READ-ONLY mode; serving only read-only clients\n")
	}
	if clients {
		b.WriteString("Clients:\n")
		for i := range s.Connections {
			writeConn(b, &s.Connections[i], true)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "Latency min/avg/max: %d/%s/%d\n", s.Latency.Min, javaDouble(s.Latency.Avg()), s.Latency.Max)
	fmt.Fprintf(b, "Received: %d\n", s.PacketsReceived)
	fmt.Fprintf(b, "Sent: %d\n", s.PacketsSent)
	fmt.Fprintf(b, "Connections: %d\n", len(s.Connections))
	fmt.Fprintf(b, "Outstanding: %d\n", s.Outstanding)
	fmt.Fprintf(b, "Zxid: 0x%x\n", uint64(s.Zxid))
	fmt.Fprintf(b, "Mode: %s\n", s.mode())
	fmt.Fprintf(b, "Node count: %d\n", s.NodeCount)
	if s.mode() == ModeLeader {
		p := s.ProposalSizes
		fmt.Fprintf(b, "Proposal sizes last/min/max: %d/%d/%d\n", p.Last, p.Min, p.Max)
	}
}

// writeConn is ServerCnxn.dumpConnectionInfo; brief is stat's short form.
func writeConn(b *strings.Builder, c *Connection, brief bool) {
	b.WriteString(" /")
	b.WriteString(javaAddr(c.Remote))
	b.WriteByte('[')
	b.WriteString(strconv.FormatInt(int64(c.InterestOps), 16))
	fmt.Fprintf(b, "](queued=%d,recved=%d,sent=%d", c.Queued, c.Received, c.Sent)
	if !brief && c.SessionID != 0 {
		lop := c.LastOp
		if lop == "" {
			lop = "NA"
		}
		fmt.Fprintf(b, ",sid=0x%x,lop=%s,est=%d,to=%d", uint64(c.SessionID), lop, millis(c.Established), c.Timeout.Milliseconds())
		if c.LastCxid >= 0 {
			fmt.Fprintf(b, ",lcxid=0x%x", c.LastCxid)
		}
		fmt.Fprintf(b, ",lzxid=0x%x,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d",
			uint64(c.LastZxid), millis(c.LastResponse), c.LastLatency, c.MinLatency, c.AvgLatency, c.MaxLatency)
	}
	b.WriteByte(')')
}

func writeCons(b *strings.Builder, s *Stats) {
	for i := range s.Connections {
		writeConn(b, &s.Connections[i], false)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// javaAddr prints an address as Java's InetSocketAddress does after its
// leading '/': IPv6 in brackets, every group, no "::" shortening.
func javaAddr(ap netip.AddrPort) string {
	a := ap.Addr().Unmap()
	if !a.Is6() {
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
		return a.String() + ":" + strconv.Itoa(int(ap.Port()))
	}
	return "[" + javaIPv6(a) + "]:" + strconv.Itoa(int(ap.Port()))
}

func javaIPv6(a netip.Addr) string {
	b := a.As16()
	var sb strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16))
	}
	if z := a.Zone(); z != "" {
		sb.WriteString("%" + z)
	}
	return sb.String()
}

// javaHost is QuorumServer's delimitedHostString: an IPv6 literal in
// brackets.
func javaHost(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

// javaDouble formats f as Java's Double.toString: at least one digit
// after the point, and scientific notation outside [1e-3, 1e7).
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-3 && abs < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1.5e+07
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

func writeConf(b *strings.Builder, s *Stats) {
	c := &s.Conf
	port := func(p int) int {
		if p == 0 {
			return -1
		}
		return p
	}
	backlog := c.ClientPortListenBacklog
	if backlog <= 0 {
		backlog = -1
	}
	fmt.Fprintf(b, "clientPort=%d\n", port(c.ClientPort))
	fmt.Fprintf(b, "secureClientPort=%d\n", port(c.SecureClientPort))
	fmt.Fprintf(b, "dataDir=%s\n", c.DataDir)
	fmt.Fprintf(b, "dataDirSize=%d\n", c.DataDirSize)
	fmt.Fprintf(b, "dataLogDir=%s\n", c.DataLogDir)
	fmt.Fprintf(b, "dataLogSize=%d\n", c.DataLogSize)
	fmt.Fprintf(b, "tickTime=%d\n", c.TickTime.Milliseconds())
	fmt.Fprintf(b, "maxClientCnxns=%d\n", c.MaxClientCnxns)
	fmt.Fprintf(b, "minSessionTimeout=%d\n", c.MinSessionTimeout.Milliseconds())
	fmt.Fprintf(b, "maxSessionTimeout=%d\n", c.MaxSessionTimeout.Milliseconds())
	fmt.Fprintf(b, "clientPortListenBacklog=%d\n", backlog)
	fmt.Fprintf(b, "serverId=%d\n", c.ServerID)
	m := s.mode()
	if !m.quorum() && m != ModeReadOnly {
		return
	}
	alg := c.ElectionAlg
	if alg == 0 {
		alg = 3
	}
	peerType := 0
	if c.Observer {
		peerType = 1
	}
	fmt.Fprintf(b, "initLimit=%d\n", c.InitLimit)
	fmt.Fprintf(b, "syncLimit=%d\n", c.SyncLimit)
	fmt.Fprintf(b, "electionAlg=%d\n", alg)
	fmt.Fprintf(b, "electionPort=%d\n", c.ElectionPort)
	fmt.Fprintf(b, "quorumPort=%d\n", c.QuorumPort)
	fmt.Fprintf(b, "peerType=%d\n", peerType)
	if m == ModeReadOnly {
		// ReadOnlyZooKeeperServer.dumpConf stops here.
		return
	}
	// "membership: " keeps its trailing space, and the version line has
	// no newline: QuorumVerifier.toString is printed as is.
	b.WriteString("membership: \n")
	members := append([]Member(nil), c.Members...)
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })
	for _, mb := range members {
		role := "participant"
		if mb.Observer {
			role = "observer"
		}
		fmt.Fprintf(b, "server.%d=%s:%d:%d:%s", mb.ID, javaHost(mb.Host), mb.PeerPort, mb.ElectionPort, role)
		if mb.ClientPort != 0 {
			h := mb.ClientHost
			if h == "" {
				h = "0.0.0.0"
			}
			fmt.Fprintf(b, ";%s:%d", javaHost(h), mb.ClientPort)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "version=%x", c.ConfigVersion)
}

func writeDirs(b *strings.Builder, s *Stats) {
	fmt.Fprintf(b, "datadir_size: %d\n", s.Conf.DataDirSize)
	fmt.Fprintf(b, "logdir_size: %d\n", s.Conf.DataLogSize)
}

func writeEnvi(b *strings.Builder, s *Stats) {
	b.WriteString("Environment:\n")
	b.WriteString("zookeeper.version=")
	b.WriteString(s.FullVersion())
	b.WriteByte('\n')
	env := s.Environment
	if env == nil {
		env = DefaultEnvironment()
	}
	for _, e := range env {
		if e.Key == "zookeeper.version" {
			continue
		}
		b.WriteString(e.Key)
		b.WriteByte('=')
		b.WriteString(e.Value)
		b.WriteByte('\n')
	}
}

// watchIndex groups the data watches both ways, deduplicated, in a stable
// order (ZooKeeper's is its hash maps').
func watchIndex(ws []Watch) (bySession map[int64][]string, byPath map[string][]int64, total int) {
	bySession = map[int64][]string{}
	byPath = map[string][]int64{}
	seen := map[Watch]bool{}
	for _, w := range ws {
		if seen[w] {
			continue
		}
		seen[w] = true
		total++
		bySession[w.SessionID] = append(bySession[w.SessionID], w.Path)
		byPath[w.Path] = append(byPath[w.Path], w.SessionID)
	}
	return bySession, byPath, total
}

func writeWchs(b *strings.Builder, s *Stats) {
	bySession, byPath, total := watchIndex(s.Watches)
	fmt.Fprintf(b, "%d connections watching %d paths\nTotal watches:%d\n", len(bySession), len(byPath), total)
}

func writeWchc(b *strings.Builder, s *Stats) {
	bySession, _, _ := watchIndex(s.Watches)
	ids := make([]int64, 0, len(bySession))
	for id := range bySession {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return uint64(ids[i]) < uint64(ids[j]) })
	for _, id := range ids {
		fmt.Fprintf(b, "0x%x\n", uint64(id))
		paths := bySession[id]
		sort.Strings(paths)
		for _, p := range paths {
			b.WriteString("\t" + p + "\n")
		}
	}
	b.WriteByte('\n')
}

func writeWchp(b *strings.Builder, s *Stats) {
	_, byPath, _ := watchIndex(s.Watches)
	for _, p := range sortedKeys(byPath) {
		b.WriteString(p + "\n")
		ids := byPath[p]
		sort.Slice(ids, func(i, j int) bool { return uint64(ids[i]) < uint64(ids[j]) })
		for _, id := range ids {
			fmt.Fprintf(b, "\t0x%x\n", uint64(id))
		}
	}
	b.WriteByte('\n')
}
