package zk

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/zkraft/zk/internal/peer"
	"github.com/zkraft/zk/internal/txn"
)

// Config configures a Node. The zero value of every field but ID means its
// default; Open copies the Config, so changing it afterwards has no effect.
type Config struct {
	// ID names this node in the ensemble. Default "1".
	ID string
	// Dir holds the raft log and stable store (see LogStore) and the
	// snapshots. Empty means everything is kept in memory and lost on
	// Close, which is what tests want.
	Dir string
	// LogStore chooses the form of the raft log and stable store a new
	// Dir is created with: LogStoreWAL (the default) or LogStoreBolt. A
	// Dir keeps the store it was created with; naming the other one fails
	// with ErrLogStoreMismatch.
	LogStore LogStore
	// PeerAddr is the address this node listens at for its peers and
	// they dial it at: raft and forwarded writes share it. With PeerAddr,
	// Peers and Network all unset, the node is a standalone ensemble of
	// one, in-process only; default: the ID.
	PeerAddr string
	// PeerListenAddr, if set, is where the node listens for its peers when
	// they reach it at PeerAddr through a NAT, a port forward or a proxy.
	PeerListenAddr string
	// Peers lists the members of a new ensemble, this node included, each
	// with its ID and PeerAddr: the first start of every member bootstraps
	// from it. Once a node has state in Dir, Peers is ignored: membership
	// then changes only through AddVoter, AddObserver and RemoveServer.
	// A node started with Peers that leave it out bootstraps nothing and
	// waits to be added.
	Peers []Peer
	// ReplayLogSize is how many recent changes the node keeps so that a
	// session moving to it (WithFailover, or a client reconnecting) gets
	// every event its persistent watches missed. Default 10000.
	ReplayLogSize int
	// Stores, if set, holds the raft log, stable store and snapshots in
	// place of Dir (or memory). Open does not close them, so a test can
	// restart a node on the same in-memory state, or interpose on them.
	Stores *Stores
	// Network carries the peer traffic. Default: TCP, with PeerTLS.
	Network Network
	// PeerTLS, if set, makes the default TCP Network use TLS in both
	// directions; set ClientCAs and ClientAuth for mutual TLS.
	PeerTLS *tls.Config

	// ClientAddr, if set, is the TCP address ("host:port") at which the
	// node answers ZooKeeper clients over the wire protocol, as a
	// ZooKeeper server's clientPort: zkCli.sh, Curator, kazoo and
	// go-zookeeper/zk work against it. Node.Serve serves other listeners.
	ClientAddr string

	// SecureClientAddr, if set, is the TCP address of a second client
	// listener that speaks TLS with ClientTLS, as ZooKeeper's
	// secureClientPort; ClientAddr, if also set, stays plain, so a node
	// can serve both as ZooKeeper does. Node.Serve of a tls.Listener
	// made with tls.NewListener works the same.
	SecureClientAddr string
	// ClientTLS configures SecureClientAddr, and is required with it: a
	// server certificate, and for ZooKeeper's ssl.clientAuth=need
	// ClientAuth tls.RequireAndVerifyClientCert with ClientCAs (want:
	// tls.VerifyClientCertIfGiven). A client certificate that it
	// verified gives the connection the identity x509:<subject DN>, the
	// DN in RFC 2253 form as Java's X500Principal.getName() writes it
	// ("CN=app,OU=ops,O=Example,C=US"), so that ACLs written for
	// ZooKeeper's X509AuthenticationProvider grant the same clients. A
	// certificate the server did not verify closes the connection. With
	// ClientTLS the node knows the x509 scheme, as a ZooKeeper with
	// authProvider.x509 set (which 3.8 needs to serve client
	// certificates at all); without it, x509 ACLs are ErrInvalidACL.
	ClientTLS *tls.Config
	// X509SuperUser is the subject DN whose client certificate is
	// granted every permission, as ZooKeeper's
	// X509AuthenticationProvider.superUser. Empty disables it.
	X509SuperUser string

	// MaxPacket is the longest frame a client may send, in bytes, as
	// ZooKeeper's jute.maxbuffer; a longer one closes that connection.
	// Default DefaultMaxPacket.
	MaxPacket int
	// MaxClientConns is how many connections one client IP may hold, as
	// ZooKeeper's maxClientCnxns. Default DefaultMaxClientConns; negative
	// means no limit.
	MaxClientConns int
	// FourLetterWords lists the four-letter words the client port
	// answers, as ZooKeeper's 4lw.commands.whitelist; "*" allows all.
	// Default: srvr only, as ZooKeeper 3.8.
	FourLetterWords []string

	// Limits on what one client connection may make the node hold, so
	// that a client that misbehaves, by mistake or on purpose, is slowed
	// down, refused or disconnected while the node and every other
	// session go on.
	//
	// MaxOutstandingRequests is how many requests a connection may have
	// read and not yet answered; beyond it the node stops reading from
	// that connection until replies go out. ZooKeeper's
	// globalOutstandingLimit (zoo.cfg key or -Dzookeeper. property) sets
	// it: ZooKeeper counts that limit over the whole server, which lets
	// one busy client stall the others; zkraft counts it per connection.
	// Default DefaultMaxOutstandingRequests.
	MaxOutstandingRequests int
	// MaxQueuedBytes bounds, in bytes, each direction of a connection:
	// request frames read and not yet run (the node stops reading beyond
	// it; one frame always fits), and replies and notifications not yet
	// written (the connection runs no more requests beyond it, and is
	// closed if its pending notifications exceed it too). A client that
	// takes none of its output for its session timeout is disconnected
	// as well. Its session lives on, to be resumed. ZooKeeper has no such
	// bound: its output queue grows while the client does not read. Keep
	// it above twice MaxPacket: one multi can cause that many bytes of
	// notifications at once. Default DefaultMaxQueuedBytes.
	MaxQueuedBytes int
	// MaxWatchesPerSession bounds the watches a client connection may
	// hold: one-shot data, exist and child watches, persistent and
	// persistent recursive ones, whether set by reads, addWatch or
	// setWatches, each path and kind counting once. A request that would
	// go beyond it fails with ErrQuotaExceeded (QUOTAEXCEEDED, -125) and
	// sets no watch; ZooKeeper has no such limit. Default
	// DefaultMaxWatchesPerSession; negative means no limit.
	MaxWatchesPerSession int
	// MaxWatchBytesPerSession bounds the total length of the paths those
	// watches name, as MaxWatchesPerSession bounds their number: paths
	// may be nearly MaxPacket long. Default
	// DefaultMaxWatchBytesPerSession; negative means no limit.
	MaxWatchBytesPerSession int

	// TickTime is ZooKeeper's basic time unit: sessions are checked for
	// expiry once per tick, and it bounds session timeouts. Default 2s.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// client may ask for. Defaults 2×TickTime and 20×TickTime.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration

	// MaxDataSize is the largest znode data accepted, in bytes. Default
	// 1 MiB.
	MaxDataSize int
	// SuperDigest is the digest identity ("super:base64(sha1(super:pw))")
	// that is granted every permission, as ZooKeeper's
	// DigestAuthenticationProvider.superDigest. Empty disables it.
	SuperDigest string
	// ReconfigEnabled lets super users change the ensemble's membership
	// through ZooKeeper's reconfig operation, as reconfigEnabled=true;
	// without it reconfig fails with ErrReconfigDisabled. Node.AddVoter
	// and the like work either way.
	ReconfigEnabled bool
	// DisableTTL refuses TTL nodes with ErrUnimplemented, as ZooKeeper does
	// unless extendedTypesEnabled is set.
	DisableTTL bool
	// ContainerCheckInterval is how often the leader looks for empty
	// containers and expired TTL nodes to delete. Default 60s, as
	// ZooKeeper's znode.container.checkIntervalMs.
	ContainerCheckInterval time.Duration

	// ElectionTimeout is raft's heartbeat and election timeout. Default 1s.
	ElectionTimeout time.Duration
	// DiskStallTimeout is how long a write to the raft log may block on
	// a leader of an ensemble before the node cuts itself off from its
	// peers, so that they elect another leader instead of waiting on its
	// disk; it reconnects once the write completes (see watchdog.go).
	// Default ElectionTimeout; negative disables the watchdog.
	DiskStallTimeout time.Duration
	// SnapshotThreshold is the number of log entries after which raft takes
	// a snapshot. Default 16384.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to snapshot.
	// Default 30s.
	SnapshotInterval time.Duration
	// TrailingLogs is the number of log entries kept after a snapshot.
	// Default 10240.
	TrailingLogs uint64

	// Logger receives the node's logs, raft's included. Default: warnings
	// and errors to stderr.
	Logger hclog.Logger
	// Clock is the node's time source. Default: the system clock.
	Clock Clock
}

// defaultSessionTimeout is what Connect asks for without WithSessionTimeout.
const defaultSessionTimeout = 10 * time.Second

func (c *Config) setDefaults() {
	if c.ID == "" {
		c.ID = "1"
	}
	if c.PeerAddr == "" {
		c.PeerAddr = c.ID
	}
	if c.TickTime == 0 {
		c.TickTime = 2 * time.Second
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 2 * c.TickTime
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 20 * c.TickTime
	}
	if c.MaxDataSize == 0 {
		c.MaxDataSize = 1 << 20
	}
	if c.ReplayLogSize == 0 {
		c.ReplayLogSize = 10000
	}
	if c.MaxPacket == 0 {
		c.MaxPacket = DefaultMaxPacket
	}
	if c.MaxClientConns == 0 {
		c.MaxClientConns = DefaultMaxClientConns
	}
	if c.MaxOutstandingRequests == 0 {
		c.MaxOutstandingRequests = DefaultMaxOutstandingRequests
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MaxWatchesPerSession == 0 {
		c.MaxWatchesPerSession = DefaultMaxWatchesPerSession
	}
	if c.MaxWatchBytesPerSession == 0 {
		c.MaxWatchBytesPerSession = DefaultMaxWatchBytesPerSession
	}
	if c.FourLetterWords == nil {
		c.FourLetterWords = []string{"srvr"}
	}
	if c.ContainerCheckInterval == 0 {
		c.ContainerCheckInterval = time.Minute
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.DiskStallTimeout == 0 {
		c.DiskStallTimeout = c.ElectionTimeout
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 16384
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: "zkraft", Level: hclog.Warn, Output: os.Stderr, IndependentLevels: true})
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
}

// ErrInvalidConfig is returned by Validate and Open for a Config that
// cannot work.
var ErrInvalidConfig = errors.New("zk: invalid config")

// Validate reports the first problem with c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.TickTime < 0:
		return bad("TickTime %v is negative", c.TickTime)
	case c.MinSessionTimeout < 0 || c.MaxSessionTimeout < 0:
		return bad("session timeouts must not be negative")
	case c.MinSessionTimeout > c.MaxSessionTimeout:
		return bad("MinSessionTimeout %v exceeds MaxSessionTimeout %v", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.MaxSessionTimeout > time.Duration(1<<31-1)*time.Millisecond:
		return bad("MaxSessionTimeout %v does not fit ZooKeeper's int32 milliseconds", c.MaxSessionTimeout)
	case c.ReplayLogSize < 0:
		return bad("ReplayLogSize %d is negative", c.ReplayLogSize)
	case c.MaxDataSize < 0:
		return bad("MaxDataSize %d is negative", c.MaxDataSize)
	case c.MaxOutstandingRequests < 0:
		return bad("MaxOutstandingRequests %d is negative", c.MaxOutstandingRequests)
	case c.MaxQueuedBytes < 0:
		return bad("MaxQueuedBytes %d is negative", c.MaxQueuedBytes)
	case c.ContainerCheckInterval < 0:
		return bad("ContainerCheckInterval %v is negative", c.ContainerCheckInterval)
	case c.ElectionTimeout < 5*time.Millisecond:
		return bad("ElectionTimeout %v is below 5ms", c.ElectionTimeout)
	case c.SuperDigest != "" && !validDigestID(c.SuperDigest):
		return bad("SuperDigest %q is not user:base64(sha1)", c.SuperDigest)
	case c.LogStore != "" && c.LogStore != LogStoreBolt && c.LogStore != LogStoreWAL:
		return bad("LogStore %q is neither %q nor %q", c.LogStore, LogStoreBolt, LogStoreWAL)
	case c.Stores != nil && (c.Stores.Log == nil || c.Stores.Stable == nil || c.Stores.Snapshots == nil):
		return bad("Stores needs Log, Stable and Snapshots")
	case c.SecureClientAddr != "" && c.ClientTLS == nil:
		return bad("SecureClientAddr %q needs ClientTLS", c.SecureClientAddr)
	case c.ClientTLS != nil && c.SecureClientAddr == "":
		// ClientAddr is always plain: refuse rather than serve in the
		// clear a config that meant TLS.
		return bad("ClientTLS is for SecureClientAddr, which is not set (ClientAddr is always plain)")
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, p := range c.Peers {
		switch {
		case p.ID == "" || p.Addr == "":
			return bad("peer %q at %q: ID and Addr are required", p.ID, p.Addr)
		case ids[p.ID]:
			return bad("peer ID %q listed twice", p.ID)
		case addrs[p.Addr]:
			return bad("peer address %q listed twice", p.Addr)
		case p.ID == c.ID && c.PeerAddr != "" && p.Addr != c.PeerAddr && c.PeerAddr != c.ID:
			return bad("this node's PeerAddr %q differs from its entry in Peers, %q", c.PeerAddr, p.Addr)
		}
		ids[p.ID], addrs[p.Addr] = true, true
	}
	return nil
}

// Stores are the raft storage of a node: see Config.Stores.
type Stores struct {
	Log       raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
}

// NewMemStores returns in-memory Stores.
func NewMemStores() *Stores {
	mem := raft.NewInmemStore()
	return &Stores{Log: mem, Stable: mem, Snapshots: raft.NewInmemSnapshotStore()}
}

// Node is one member of a zkraft ensemble: it holds a replica of the tree,
// takes part in raft, and serves sessions. It is safe for concurrent use.
type Node struct {
	cfg        Config
	wire       *wireServer
	clientAddr string
	started    time.Time
	log        hclog.Logger
	clock      Clock
	quietRaft  bool // default logger: raft logs errors only, not every election it starts
	soleVoter  bool // the cluster has one voter, this node

	secureClientAddr string // the TLS client listener's address, set by Open

	raftPtr    atomic.Pointer[raft.Raft] // replaced only by rollTerm
	logs       raft.LogStore
	stable     raft.StableStore // the stable store as opened, for zkraft's own keys
	raftStable *stableGuard     // the stable store as raft sees it
	snaps      raft.SnapshotStore
	fsm        *fsm
	watches    *watchManager
	tracker    *sessionTracker
	trans      raft.Transport
	peers      *peer.Transport // nil for a standalone in-process node
	stall      *stallWatch     // times the writes to logs, for watchDisk
	// isolationHolds counts the reasons the node is cut off from its
	// peers (see holdIsolation); guarded by isolationMu.
	isolationMu     sync.Mutex
	isolationHolds  int
	stableAbandoned atomic.Bool // a stable store write was abandoned at Close (see stableGuard)
	diskStores      io.Closer   // the log and stable stores Open opened in Dir
	observer        *raft.Observer
	observeCh       chan raft.Observation

	// proposals: submitters hold applyMu for reading while they hand a
	// future to raft and queue it on pending; Close and rollTerm hold it
	// for writing. inflight counts the futures the completer has not
	// resolved yet.
	applyMu  sync.RWMutex
	pending  chan *pendingApply
	inflight atomic.Int64

	// rollMu serialises rollTerm; counterLimit is the zxid counter at which
	// the leader forces a new term.
	rollMu       sync.Mutex
	counterLimit uint32

	// configMu is held by whoever writes /zookeeper/config on the leader:
	// a reconfig for its whole course, or housekeeping bringing the node
	// up to date with raft's configuration.
	configMu sync.Mutex
	// lastTouchRound is the node-clock time (ns) of the previous
	// touchAttached; guarded by connsMu.
	lastTouchRound int64
	// reconfiguring is set while a reconfig runs on this leader: a second
	// one is refused with ErrReconfigInProgress, as in ZooKeeper.
	reconfiguring atomic.Bool

	ticks       atomic.Uint64 // housekeeping rounds completed, for Stats
	contact     atomic.Int64  // node-clock ns when the leader last heard of this node's sessions
	barrierTerm atomic.Uint64 // the last term in which this node, leading, applied a barrier

	news commitNews // what the leader last said is committed (commit.go)

	leaderMu    sync.Mutex
	leaderWake  chan struct{} // closed and replaced when leadership changes
	isLeader    atomic.Bool
	leaderSince atomic.Int64 // unix ns when this node last became leader

	connsMu sync.Mutex
	conns   map[int64]*Conn // in-process sessions attached here

	closeOnce sync.Once
	closing   chan struct{} // closed by Close
	stopped   chan struct{} // closed when the node's goroutines end
	wg        sync.WaitGroup
	closeErr  error
}

// Open starts a node and returns once it has a leader and has applied the
// whole committed log, so that its reads are current. With cfg.Dir set it
// recovers the tree, sessions and counters from disk; a new Dir starts a
// one-voter cluster. ctx bounds the wait.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	quietRaft := cfg.Logger == nil
	networked := cfg.PeerAddr != "" || len(cfg.Peers) > 0 || cfg.Network != nil
	if cfg.PeerAddr == "" {
		for _, p := range cfg.Peers {
			if p.ID == cfg.ID || (cfg.ID == "" && p.ID == "1") {
				cfg.PeerAddr = p.Addr
			}
		}
	}
	cfg.setDefaults()
	n := &Node{
		news:       commitNews{stored: make(chan struct{}, 1)},
		quietRaft:  quietRaft,
		cfg:        cfg,
		log:        cfg.Logger,
		clock:      cfg.Clock,
		watches:    newWatchManager(cfg.ReplayLogSize),
		tracker:    newSessionTracker(),
		pending:    make(chan *pendingApply, 4096),
		leaderWake: make(chan struct{}),
		conns:      make(map[int64]*Conn),
		closing:    make(chan struct{}),
		stopped:    make(chan struct{}),

		counterLimit: defaultCounterLimit,
	}
	n.fsm = newFSM(n.watches, n)
	n.wire = newWireServer(n)
	n.started = time.Now()
	n.contact.Store(n.clock.Now().UnixNano())
	if err := n.startRaft(networked); err != nil {
		n.closeStores()
		n.closeTransport()
		return nil, err
	}
	n.wg.Add(5)
	go n.complete()
	go n.observe()
	go n.run()
	go n.announceCommits()
	go n.applyNews()
	if n.peers != nil && n.cfg.DiskStallTimeout > 0 {
		n.wg.Add(1)
		go n.watchDisk(n.stall, n.cfg.DiskStallTimeout)
	}
	if err := n.waitReady(ctx); err != nil {
		n.Close()
		return nil, err
	}
	for _, port := range []struct {
		addr  string
		tls   *tls.Config
		name  string
		bound *string
	}{{n.cfg.ClientAddr, nil, "client port", &n.clientAddr}, {n.cfg.SecureClientAddr, n.cfg.ClientTLS, "secure client port", &n.secureClientAddr}} {
		if port.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", port.addr)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("zk: %s: %w", port.name, err)
		}
		*port.bound = l.Addr().String()
		if port.tls != nil {
			l = tls.NewListener(l, port.tls)
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.Serve(l); err != nil {
				n.log.Error(port.name+" failed", "addr", l.Addr().String(), "error", err)
			}
		}()
	}
	return n, nil
}

// ClientAddr returns the address the node answers ZooKeeper clients at
// (Config.ClientAddr with its port resolved), or "" without one.
func (n *Node) ClientAddr() string { return n.clientAddr }

// SecureClientAddr returns the address the node answers ZooKeeper clients
// at over TLS (Config.SecureClientAddr with its port resolved), or ""
// without one.
func (n *Node) SecureClientAddr() string { return n.secureClientAddr }

func (n *Node) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.ID)
	rc.Logger = n.raftLogger("raft")
	timeout := n.cfg.ElectionTimeout
	if n.soleVoter {
		// Nobody else votes or needs heartbeats: elect at once.
		timeout = min(timeout, soleVoterTimeout)
	}
	rc.HeartbeatTimeout = timeout
	rc.ElectionTimeout = timeout
	rc.LeaderLeaseTimeout = timeout / 2
	// Followers learn of commits from the next AppendEntries, which raft
	// sends with new entries or after CommitTimeout (to 2×), empty ones
	// included: a short one costs an idle ensemble CPU for nothing, and
	// announceCommits tells followers at once when writes stop.
	rc.CommitTimeout = min(commitTimeout, timeout/4)
	// Unbuffered: raft takes a future from Apply at once or answers it,
	// where a buffered channel can strand futures when raft shuts down.
	// Concurrent proposals still share one append: raft gathers all the
	// Applies waiting when it takes one.
	rc.BatchApplyCh = false
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.NoLegacyTelemetry = true
	return rc
}

func (n *Node) startRaft(networked bool) error {
	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if s := n.cfg.Stores; s != nil {
		logs, stable, snaps = s.Log, s.Stable, s.Snapshots
	} else if n.cfg.Dir != "" {
		var err error
		logs, stable, snaps, n.diskStores, err = openDiskStores(n.cfg.Dir, n.cfg.LogStore, n.log)
		if err != nil {
			return err
		}
	} else {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	}
	if err := probeStable(stable); err != nil {
		return err
	}
	logs = newsLog{LogStore: logs, stored: n.news.stored}
	n.stall = &stallWatch{LogStore: logs, log: n.log, abandoned: &n.stableAbandoned}
	logs = n.stall
	n.logs, n.stable, n.snaps = logs, stable, snaps
	n.raftStable = &stableGuard{StableStore: stable, log: n.log, isolate: n.holdIsolation, closing: n.closing, abandoned: &n.stableAbandoned}
	if networked {
		netw := n.cfg.Network
		if netw == nil {
			netw = peer.TCP(n.cfg.PeerTLS)
		}
		listen := cmp.Or(n.cfg.PeerListenAddr, n.cfg.PeerAddr)
		pt, err := peer.ListenAdvertised(netw, listen, n.cfg.PeerAddr, n.handleCall, n.log.Named("peer"))
		if err != nil {
			return fmt.Errorf("zk: %w", err)
		}
		n.peers = pt
		n.trans = n.newNetworkTransport()
	} else {
		_, n.trans = raft.NewInmemTransport(raft.ServerAddress(n.cfg.PeerAddr))
	}
	trans := n.trans

	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("zk: reading raft state: %w", err)
	}
	boot := n.bootstrapConfig(trans)
	checkDir := n.cfg.Dir
	if n.cfg.Stores != nil {
		checkDir = ""
	}
	if err := checkStartState(logs, snaps, checkDir, existing && boot != nil, n.log); err != nil {
		return err
	}
	if existing {
		voters, err := stable.GetUint64(keyVoters)
		if err != nil && !errors.Is(err, raftboltdb.ErrKeyNotFound) { // raft-wal answers 0, nil
			return fmt.Errorf("zk: reading raft state: %w", err)
		}
		n.soleVoter = voters == 1
	} else if boot != nil {
		voters := 0
		for _, s := range boot.Servers {
			if s.Suffrage == raft.Voter {
				voters++
			}
		}
		n.soleVoter = voters == 1
		if err := stable.SetUint64(keyVoters, uint64(voters)); err != nil {
			return fmt.Errorf("zk: writing raft state: %w", err)
		}
	}
	rc := n.raftConfig()
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	r, err := raft.NewRaft(rc, n.fsm, logs, n.raftStable, snaps, trans)
	if err != nil {
		if cerr := corruptSnapshot(snaps); cerr != nil {
			return fmt.Errorf("zk: starting raft: %w", cerr)
		}
		return fmt.Errorf("zk: starting raft: %w", err)
	}
	n.raftPtr.Store(r)
	n.observeCh = make(chan raft.Observation, 16)
	n.observer = raft.NewObserver(n.observeCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.observer)
	if !existing && boot != nil {
		f := r.BootstrapCluster(*boot)
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			return fmt.Errorf("zk: bootstrap: %w", err)
		}
	}
	n.raftStable.armed.Store(true)
	return nil
}

// newNetworkTransport returns a raft transport over the peer port. Raft
// closes it when it shuts down; the peer port stays open.
func (n *Node) newNetworkTransport() raft.Transport {
	return pipelineTransport{raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.peers.StreamLayer(),
		MaxPool: 4,
		Timeout: 10 * time.Second,
		Logger:  n.raftLogger("raft-net"),
	})}
}

// bootstrapConfig returns the configuration a new node bootstraps: Peers,
// or this node alone; nil when Peers leave this node out, so that it waits
// to be added to an existing ensemble.
func (n *Node) bootstrapConfig(trans raft.Transport) *raft.Configuration {
	if len(n.cfg.Peers) == 0 {
		return &raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: raft.ServerID(n.cfg.ID), Address: trans.LocalAddr(),
		}}}
	}
	conf := &raft.Configuration{}
	voter := false
	for _, p := range n.cfg.Peers {
		s := raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)}
		if p.Observer {
			s.Suffrage = raft.Nonvoter
		}
		voter = voter || (p.ID == n.cfg.ID && !p.Observer)
		conf.Servers = append(conf.Servers, s)
	}
	if !voter {
		// Observers and nodes to be added learn the configuration from
		// the leader.
		return nil
	}
	return conf
}

func (n *Node) raftLogger(name string) hclog.Logger {
	l := n.log.Named(name)
	if n.quietRaft {
		// Raft errors only, and each at most once a minute: a peer that is
		// down makes raft fail heartbeats ten times a second.
		l.SetLevel(hclog.Error)
		l = newRepeatFilter(l, time.Minute)
	}
	return l
}

// observe turns raft's leader observations into a wake-up for everything
// that waits for a leader.
func (n *Node) observe() {
	defer n.wg.Done()
	for {
		select {
		case <-n.closing:
			return
		case <-n.observeCh:
			n.leaderChanged()
		}
	}
}

func (n *Node) leaderChanged() {
	lead := n.r().State() == raft.Leader
	if lead && !n.isLeader.Load() {
		n.leaderSince.Store(time.Now().UnixNano())
	}
	n.isLeader.Store(lead)
	n.leaderMu.Lock()
	close(n.leaderWake)
	n.leaderWake = make(chan struct{})
	n.leaderMu.Unlock()
}

func (n *Node) leaderWakeCh() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderWake
}

// waitReady waits until this node has a leader and has applied everything
// the leader had committed, so that its reads are current. A node that is
// not (yet) a member of its ensemble's configuration does not wait: it
// becomes ready once added.
func (n *Node) waitReady(ctx context.Context) error {
	if !n.isMember() && !n.inPeers() {
		return nil
	}
	z, err := n.readIndex(ctx)
	if err != nil {
		return fmt.Errorf("zk: waiting for a leader: %w", err)
	}
	if err := n.waitApplied(ctx, z); err != nil {
		return fmt.Errorf("zk: catching up: %w", err)
	}
	// A member that did not bootstrap (an observer) learns that it is one
	// from the log: wait for that too, so its Stats say what it is.
	for !n.isMember() {
		if err := n.pause(ctx, n.fsm.waitCh()); err != nil {
			return fmt.Errorf("zk: waiting to join: %w", err)
		}
	}
	n.leaderChanged()
	return nil
}

// inPeers reports whether Config.Peers lists this node.
func (n *Node) inPeers() bool {
	for _, p := range n.cfg.Peers {
		if p.ID == n.cfg.ID {
			return true
		}
	}
	return false
}

// isMember reports whether this node is in its raft configuration.
func (n *Node) isMember() bool {
	f := n.r().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == n.cfg.ID {
			return true
		}
	}
	return false
}

// pendingApply is a proposal on its way through raft.
type pendingApply struct {
	f    raft.Future
	done chan applyOutcome
}

type applyOutcome struct {
	res *applyResult
	err error
}

// keyVoters is where the stable store keeps the number of voters the node
// last knew of; a sole voter starts raft with short timeouts, since there
// is no one to wait for.
var keyVoters = []byte("zkraft_voters")

// soleVoterTimeout is the election timeout of a one-voter cluster.
const soleVoterTimeout = 10 * time.Millisecond

// commitTimeout is raft's CommitTimeout: see raftConfig.
const commitTimeout = 50 * time.Millisecond

// r returns the node's raft instance.
func (n *Node) r() *raft.Raft { return n.raftPtr.Load() }

// defaultCounterLimit leaves room below 2^32 for every proposal that can
// be in flight when the limit is noticed.
const defaultCounterLimit = 1<<32 - 1<<20

// submit proposes t without waiting for it to be applied.
func (n *Node) submit(t *txn.Txn) (*pendingApply, error) { return n.submitEncoded(t.Encode()) }

// submitEncoded proposes the encoded txn b without waiting for it to be
// applied.
func (n *Node) submitEncoded(b []byte) (*pendingApply, error) {
	if err := n.rollTermIfNeeded(); err != nil {
		return nil, err
	}
	return n.submitFuture(func() raft.Future { return n.r().Apply(b, 0) })
}

func (n *Node) submitFuture(start func() raft.Future) (*pendingApply, error) {
	n.applyMu.RLock()
	defer n.applyMu.RUnlock()
	select {
	case <-n.closing:
		return nil, ErrClosing
	default:
	}
	n.inflight.Add(1)
	p := &pendingApply{f: start(), done: make(chan applyOutcome, 1)}
	n.pending <- p
	return p, nil
}

// complete waits for futures in about the order they were submitted,
// which is about the order raft resolves them in, and hands each outcome
// to its caller: one goroutine for every proposal in flight instead of
// one each.
func (n *Node) complete() {
	defer n.wg.Done()
	for p := range n.pending {
		err := p.f.Error()
		var res *applyResult
		if af, ok := p.f.(raft.ApplyFuture); ok && err == nil {
			res, _ = af.Response().(*applyResult)
		}
		p.done <- applyOutcome{res, err}
		n.inflight.Add(-1)
	}
}

// drainProposals waits, for at most d, until raft has resolved every
// future handed to it. Raft forgets futures still queued for its FSM when
// it shuts down, which would leave the completer waiting forever, so Close
// lets them finish first.
func (n *Node) drainProposals(d time.Duration) {
	deadline := time.Now().Add(d)
	for n.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // shutdown only: polling raft, which offers no wait
	}
}

// rollTermIfNeeded makes sure zxids never go backwards: before the zxid
// counter of the current term can pass 2^32-1, the leader hands over to a
// new term, as ZooKeeper forces a new epoch. With other voters it
// transfers leadership; alone, it restarts its raft instance on the same
// stores, which elects it again in a higher term.
func (n *Node) rollTermIfNeeded() error {
	term, counter := n.fsm.zxidParts()
	if counter < n.counterLimit || term < n.r().CurrentTerm() {
		return nil
	}
	n.rollMu.Lock()
	defer n.rollMu.Unlock()
	r := n.r()
	if term, counter = n.fsm.zxidParts(); counter < n.counterLimit || term < r.CurrentTerm() {
		return nil // rolled while we waited
	}
	n.log.Info("zxid counter near its limit: starting a new term", "term", term, "counter", counter)
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	voters := 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters > 1 {
		return r.LeadershipTransfer().Error()
	}
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	select {
	case <-n.closing:
		return ErrClosing
	default:
	}
	// Everything proposed so far is applied before the old instance stops,
	// so no caller is left with an unknown outcome.
	if err := r.Barrier(0).Error(); err != nil {
		return err
	}
	r.DeregisterObserver(n.observer)
	if err := r.Shutdown().Error(); err != nil {
		return err
	}
	if n.peers != nil {
		n.trans = n.newNetworkTransport()
	}
	nr, err := raft.NewRaft(n.raftConfig(), n.fsm, n.logs, n.raftStable, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("zk: restarting raft for a new term: %w", err)
	}
	nr.RegisterObserver(n.observer)
	n.raftPtr.Store(nr)
	n.leaderChanged()
	return nil
}

// run is the node's housekeeping loop: every tick it keeps its attached
// sessions alive and, as leader, expires silent sessions and reaps empty
// containers and expired TTL nodes.
func (n *Node) run() {
	defer n.wg.Done()
	tick, stop := n.clock.NewTicker(n.cfg.TickTime)
	defer stop()
	var h housekeeping
	for {
		select {
		case <-n.closing:
			return
		case <-tick:
			n.housekeep(&h, n.clock.Now())
			n.ticks.Add(1)
		}
	}
}

// housekeeping is what the run loop remembers between ticks.
type housekeeping struct {
	wasLeader bool
	lastReap  time.Time
}

func (n *Node) housekeep(h *housekeeping, now time.Time) {
	ids := n.touchAttached(now)
	lead := n.isLeader.Load()
	if !lead {
		h.wasLeader = false
		n.tracker.prune(n.fsm.liveSessions())
		// Reported even when empty: the reply confirms this node is in
		// touch, which OutOfTouch measures.
		ctx, cancel := n.closingContext(n.cfg.TickTime)
		if n.reportSessions(ctx, ids) {
			n.contact.Store(now.UnixNano())
		}
		cancel()
		n.checkContact(now)
		return
	}
	n.contact.Store(now.UnixNano())
	if !h.wasLeader {
		// A new leader gives every session a fresh timeout.
		n.tracker.reset(now)
		h.lastReap = now
		h.wasLeader = true
	}
	n.expireSessions(now)
	n.maintainConfig()
	if now.Sub(h.lastReap) >= n.cfg.ContainerCheckInterval {
		h.lastReap = now
		n.reap(now)
	}
}

// touchAttached marks every session with a live in-process Conn as seen
// and returns their ids, for the leader.
//
// A client on the wire keeps its session alive only by sending, as with
// ZooKeeper: its Conn counts only if the client was heard since the
// previous round, so a client that hangs with its connection open lets
// its session expire on time.
func (n *Node) touchAttached(now time.Time) []int64 {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	since := n.lastTouchRound
	n.lastTouchRound = now.UnixNano()
	ids := make([]int64, 0, len(n.conns))
	for id, c := range n.conns {
		if c.sink != nil && c.heard.Load() < since {
			continue
		}
		n.tracker.touch(id, now)
		ids = append(ids, id)
	}
	return ids
}

// closingContext returns a context that ends after d or when the node
// closes.
func (n *Node) closingContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-n.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// reap proposes the deletion of containers that have had children and
// have none, and of childless TTL nodes unchanged for their TTL. Apply
// checks both again, in log order.
func (n *Node) reap(now time.Time) {
	var paths []string
	nowMs := now.UnixMilli()
	n.fsm.mu.RLock()
	t := n.fsm.tree
	for p := range t.containers {
		if nd := t.nodes[p]; nd != nil && nd.creates > 0 && len(nd.children) == 0 {
			paths = append(paths, p)
		}
	}
	for p := range t.ttls {
		if nd := t.nodes[p]; nd != nil && len(nd.children) == 0 && nowMs-nd.mtime > nd.owner&ownerTTLMask {
			paths = append(paths, p)
		}
	}
	n.fsm.mu.RUnlock()
	var pending []*pendingApply
	for _, p := range paths {
		pa, err := n.submit(&txn.Txn{Type: txn.TypeOps, Time: nowMs, Ops: []txn.Op{{Kind: txn.OpReap, Path: p}}})
		if err != nil {
			break
		}
		pending = append(pending, pa)
	}
	for _, p := range pending {
		<-p.done
	}
}

// sessionClosed implements fsmListener: the attached Conn, if any, learns
// that its session ended.
func (n *Node) sessionClosed(id int64, reason txn.CloseReason) {
	n.connsMu.Lock()
	c := n.conns[id]
	delete(n.conns, id)
	n.connsMu.Unlock()
	if c == nil {
		return
	}
	if reason == txn.CloseExpired {
		c.end(StateExpired, ErrSessionExpired)
	} else {
		c.end(StateClosed, ErrClosing)
	}
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.cfg.ID }

// LastZxid returns the zxid of the last transaction this node applied.
func (n *Node) LastZxid() int64 { return n.fsm.LastZxid() }

// Snapshot makes raft take a snapshot now and compact its log.
func (n *Node) Snapshot() error {
	err := n.r().Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// Close stops the node. In-process Conns attached to it end with
// StateDisconnected; their sessions stay in the replicated state until
// they expire or are resumed. Close waits for the node's goroutines.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.wire.close()
		n.connsMu.Lock()
		conns := make([]*Conn, 0, len(n.conns))
		for _, c := range n.conns {
			conns = append(conns, c)
		}
		clear(n.conns)
		n.connsMu.Unlock()
		for _, c := range conns {
			if len(c.failover) > 0 {
				c.detach(n)
			} else {
				c.end(StateDisconnected, ErrClosing)
			}
		}
		n.applyMu.Lock()
		close(n.closing)
		n.applyMu.Unlock()
		n.drainProposals(2 * n.cfg.ElectionTimeout)
		if r := n.r(); r != nil {
			r.DeregisterObserver(n.observer)
			f := r.Shutdown()
			done := make(chan struct{})
			go func() {
				defer close(done)
				if err := f.Error(); err != nil {
					n.closeErr = err
				}
			}()
			select {
			case <-done:
			case <-time.After(2 * n.cfg.ElectionTimeout):
				// Raft's RPCs to a peer that stopped answering wait out
				// the transport's 10 s timeout and hold raft's shutdown
				// with them: closing the peer connections ends the wait.
				n.log.Warn("raft is slow to stop; closing the peer connections")
				n.closeTransport()
				<-done
			}
		}
		close(n.pending)
		n.wg.Wait()
		close(n.stopped)
		if err := n.closeStores(); err != nil && n.closeErr == nil {
			n.closeErr = err
		}
		if nt, ok := n.trans.(interface{ CloseStreams() }); ok {
			nt.CloseStreams()
		}
		if c, ok := n.trans.(interface{ Close() error }); ok {
			c.Close()
		}
		n.closeTransport()
	})
	return n.closeErr
}

func (n *Node) closeTransport() {
	if n.peers != nil {
		n.peers.Close()
	}
}

func (n *Node) closeStores() error {
	if n.diskStores != nil {
		return n.diskStores.Close()
	}
	return nil
}
