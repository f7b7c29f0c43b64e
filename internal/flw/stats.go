package flw

import (
	"math"
	"net/netip"
	"time"
)

// Mode is a server's state as srvr prints it after "Mode: ".
type Mode string

// The modes ZooKeeper 3.8 reports.
const (
	ModeStandalone Mode = "standalone"
	ModeLeader     Mode = "leader"
	ModeFollower   Mode = "follower"
	ModeObserver   Mode = "observer"
	// ModeReadOnly is a partitioned ensemble member serving reads
	// (readonlymode.enabled); isro answers "ro".
	ModeReadOnly Mode = "read-only"
)

// quorum tells whether ZooKeeper runs this mode as a QuorumZooKeeperServer,
// which adds the peer state, quorum size and membership to its output.
func (m Mode) quorum() bool {
	return m == ModeLeader || m == ModeFollower || m == ModeObserver
}

// Stats is a snapshot of what the four-letter words report. Zero values
// print as ZooKeeper prints a fresh server's, except where a field says
// otherwise.
type Stats struct {
	// Version is the version token, e.g. "3.8.4-zkraft". go-zookeeper/zk
	// only accepts letters, digits, dots and dashes in it, and kazoo
	// takes the leading digits and dots as the version it gates features
	// on, so start it with a ZooKeeper version.
	Version string
	// BuildTime is printed after ", built on " (in GMT, MM/dd/yyyy HH:mm).
	BuildTime time.Time
	// Mode is the server state; "" prints as standalone.
	Mode Mode
	// NotServing makes every word but ruok, isro and envi answer
	// NotServing, as ZooKeeper does while it has no quorum.
	NotServing bool
	// PeerState is mntr's zk_peer_state for leader, follower and
	// observer; "" derives ZooKeeper's "leading - broadcast" and so on.
	PeerState string

	// Latency is the request latency in ms (srvr "Latency min/avg/max",
	// mntr zk_min/avg/max_latency).
	Latency Summary
	// ReadLatency and UpdateLatency are mntr's readlatency and
	// updatelatency summaries, with percentiles.
	ReadLatency, UpdateLatency Summary
	// PacketsReceived and PacketsSent count packets over all
	// connections since start (or the last srst).
	PacketsReceived, PacketsSent int64
	// Outstanding is the number of requests queued and not yet answered.
	Outstanding int64
	// Zxid is the last processed zxid.
	Zxid int64
	// NodeCount is the number of znodes.
	NodeCount int64
	// Connections are the open client connections; srvr's
	// "Connections:" is their number. ZooKeeper counts the four-letter
	// word's own connection among them.
	Connections []Connection
	// Watches are the data watches (wchs, wchc, wchp), one per session
	// and path.
	Watches []Watch
	// WatchCount is mntr's zk_watch_count: data and child watches.
	WatchCount int64
	// Ephemerals is the number of ephemeral nodes.
	Ephemerals int64
	// DataSize is the approximate data size: the sum of path and data
	// lengths.
	DataSize int64
	// OpenFDs and MaxFDs are the process's open and maximum file
	// descriptors.
	OpenFDs, MaxFDs int64
	// Uptime is how long the server has been serving.
	Uptime time.Duration
	// GlobalSessions and LocalSessions count sessions.
	GlobalSessions, LocalSessions int64

	// QuorumSize is the number of voting members (mntr, ensemble modes).
	QuorumSize int
	// Learners, SyncedFollowers, SyncedNonVotingFollowers,
	// SyncedObservers and PendingSyncs describe a leader's followers.
	Learners, SyncedFollowers, SyncedNonVotingFollowers, SyncedObservers, PendingSyncs int64
	// LeaderUptime is how long this server has led.
	LeaderUptime time.Duration
	// ProposalSizes are a leader's last, smallest and largest proposal in
	// bytes; ZooKeeper reports -1/-1/-1 before the first proposal.
	ProposalSizes ProposalSizes
	// LearnerQueueSize and LearnerQueueTime are a leader's per-learner
	// queue summaries, by server id (mntr zk_*_<id>_learner_handler_qp_*).
	LearnerQueueSize, LearnerQueueTime map[uint64]Summary
	// ObserverMasterID is the server an observer follows.
	ObserverMasterID int64
	// ReadPerNamespace and WritePerNamespace summarise request sizes by
	// first path component (mntr zk_*_<ns>_read_per_namespace).
	ReadPerNamespace, WritePerNamespace map[string]Summary
	// Metrics sets mntr values by key without the zk_ prefix; they
	// override the fields above. Integers print as integers, floats as
	// Java prints a double; a key ZooKeeper does not have is appended
	// after ZooKeeper's, sorted.
	Metrics map[string]any

	// Conf is what conf and dirs print.
	Conf Conf
	// Environment is envi's lines after zookeeper.version (which Answer
	// prints from Version); nil means DefaultEnvironment().
	Environment []EnvEntry
}

// Summary is ZooKeeper's AvgMinMaxCounter (and, for the summaries that
// have them, its percentiles): values in ms or bytes.
type Summary struct {
	// Count is the number of samples and Sum their total.
	Count, Sum int64
	// Min and Max are the extremes; 0 with no samples, as ZooKeeper.
	Min, Max int64
	// P50, P95, P99 and P999 are the percentiles mntr prints for
	// readlatency, updatelatency and the other timing summaries.
	P50, P95, P99, P999 int64
}

// Avg is Sum/Count rounded half-up to four decimals, as ZooKeeper rounds.
func (s Summary) Avg() float64 {
	if s.Count <= 0 {
		return 0
	}
	return math.Floor(float64(s.Sum)/float64(s.Count)*10000+0.5) / 10000
}

// ProposalSizes are a leader's proposal sizes in bytes.
type ProposalSizes struct {
	// Last is the newest proposal's size; Min and Max the extremes since
	// the leader started (or the last srst).
	Last, Min, Max int64
}

// Connection is one client connection as cons and stat show it.
type Connection struct {
	// Remote is the client's address.
	Remote netip.AddrPort
	// InterestOps are the selector interest bits (1 = read, 4 = write).
	InterestOps int
	// Queued is the number of requests in flight; Received and Sent count
	// packets.
	Queued, Received, Sent int64
	// SessionID is 0 until a session is established; cons then prints
	// only the counters, as ZooKeeper does (and go-zookeeper/zk's
	// FLWCons fails to parse such a line).
	SessionID int64
	// LastOp is OpName of the last request, "" printing as "NA".
	LastOp string
	// Established is when the connection was accepted (est, ms since the
	// epoch).
	Established time.Time
	// Timeout is the negotiated session timeout.
	Timeout time.Duration
	// LastCxid is the last request's xid; ZooKeeper omits lcxid while it
	// is negative (no request yet).
	LastCxid int64
	// LastZxid is the last zxid sent; -1 prints as 0xffffffffffffffff.
	LastZxid int64
	// LastResponse is when the last reply went out (lresp, ms since the
	// epoch; ZooKeeper uses its monotonic clock there, which has no
	// meaning outside the process either).
	LastResponse time.Time
	// LastLatency, MinLatency, AvgLatency and MaxLatency are this
	// connection's request latencies in ms.
	LastLatency, MinLatency, AvgLatency, MaxLatency int64
}

// Watch is one data watch.
type Watch struct {
	// SessionID is the watching session.
	SessionID int64
	// Path is the watched znode.
	Path string
}

// Conf is what the conf and dirs words print.
type Conf struct {
	// ClientPort and SecureClientPort; 0 prints as ZooKeeper's -1 (none).
	ClientPort, SecureClientPort int
	// DataDir and DataLogDir are the snapshot and log directories.
	DataDir, DataLogDir string
	// DataDirSize and DataLogSize are their sizes in bytes.
	DataDirSize, DataLogSize int64
	// TickTime, MinSessionTimeout and MaxSessionTimeout print in ms.
	TickTime, MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxClientCnxns is the per-IP connection limit.
	MaxClientCnxns int
	// ClientPortListenBacklog ≤ 0 prints as ZooKeeper's -1 (OS default).
	ClientPortListenBacklog int
	// ServerID is myid; 0 for a standalone server.
	ServerID uint64

	// The rest prints in the ensemble modes (leader, follower, observer,
	// read-only).

	// InitLimit and SyncLimit are in ticks.
	InitLimit, SyncLimit int
	// ElectionAlg is 0 printing as 3, the only one ZooKeeper 3.8 has.
	ElectionAlg int
	// ElectionPort and QuorumPort are this server's.
	ElectionPort, QuorumPort int
	// Observer prints peerType=1 (0 is participant).
	Observer bool
	// Members are the server lines, printed after "membership: " by a
	// leader, follower or observer.
	Members []Member
	// ConfigVersion is the membership version (version=<hex>).
	ConfigVersion uint64
}

// Member is one server of the membership.
type Member struct {
	// ID is the server id (server.ID=...).
	ID uint64
	// Host is the peer host; an IPv6 literal gets its brackets here.
	Host string
	// PeerPort and ElectionPort are the quorum and election ports.
	PeerPort, ElectionPort int
	// Observer prints the role observer instead of participant.
	Observer bool
	// ClientHost is the client address's host; "" prints as 0.0.0.0.
	ClientHost string
	// ClientPort is the client port; 0 omits the client address, as
	// ZooKeeper does when it came from clientPort rather than the server
	// line.
	ClientPort int
}

// EnvEntry is one key=value line of envi.
type EnvEntry struct {
	// Key is the Java system property name ZooKeeper prints.
	Key string
	// Value is its value.
	Value string
}
