// Package zk is ZooKeeper embedded in Go: the ZooKeeper data model —
// znodes with Stat and versions, ephemeral, sequential, container and TTL
// nodes, sessions, one-shot and persistent watches, ACLs, Sync and Multi —
// replicated by hashicorp/raft and persisted on disk.
//
// Open starts a Node; Node.Connect opens a session on it and returns a
// Conn, whose methods are ZooKeeper's operations with a context first:
//
//	node, err := zk.Open(ctx, zk.Config{Dir: "data"})
//	conn, err := node.Connect(ctx)
//	path, err := conn.Create(ctx, "/jobs/job-", data, zk.FlagSequence, zk.WorldACL(zk.PermAll))
//	data, stat, events, err := conn.GetW(ctx, "/config")
//
// # Ensembles
//
// A Node alone is an ensemble of one. With Config.Peers, nodes form an
// ensemble over their peer port (TCP, with Config.PeerTLS for mutual TLS):
// raft elects a leader, and a write on any node — follower or observer —
// is forwarded to it and returns the leader's result once the node it was
// made on has applied it; while there is no leader, writes wait, bounded
// by their ctx. Node.AddVoter, Node.AddObserver and Node.RemoveServer
// change the membership. Package zktest runs whole ensembles inside a
// test.
//
// # Znodes
//
// Every node has data (at most Config.MaxDataSize bytes), an ACL and a
// Stat, field for field as ZooKeeper reports it: zxids of its creation
// (Czxid), last data change (Mzxid) and last child change (Pzxid), times,
// and the data, child and ACL versions. Set, Delete, SetACL and CheckOp
// take an expected version; AnyVersion matches any.
//
// Create modes are ZooKeeper's: FlagPersistent, FlagEphemeral (deleted with
// its session, and never a parent), FlagSequence and
// FlagEphemeralSequential (the name gets a ten-digit suffix counting the
// parent's child creations), FlagContainer (deleted by the leader once it
// has had children and has none left) and, with Conn.CreateTTL, FlagTTL and
// FlagSequenceTTL (deleted once childless and unchanged for the TTL).
// Containers and TTL nodes are reaped every Config.ContainerCheckInterval.
//
// Paths follow ZooKeeper's rules (absolute, no empty, "." or ".." segment,
// no control or special code points); a bad path, mode, TTL or data size is
// ErrBadArguments and never reaches the log.
//
// # Sessions
//
// A session is created by a replicated transaction, so every node knows
// it; its timeout is negotiated into [Config.MinSessionTimeout,
// Config.MaxSessionTimeout]. An in-process Conn keeps its session alive for
// as long as it is open and its node runs. The leader alone expires
// sessions: one that nothing has kept alive for its timeout is closed by a
// transaction that also deletes all its ephemeral nodes, atomically. A
// node that becomes leader first gives every session a fresh timeout.
// Conn.Close closes the session at once. A session can be resumed, ephemeral
// nodes and all, with WithSession and the id and password of the Conn that
// opened it.
//
// Conn.Events reports the session's state: StateConnected, then
// StateClosed, StateExpired or StateDisconnected (its node closed), after
// which the Conn returns ErrClosing or ErrSessionExpired. A Conn made
// WithFailover instead moves to another node when its node closes
// (StateDisconnected, then StateConnected again), keeping its session,
// ephemeral nodes and watches; its operations wait meanwhile.
//
// # Watches
//
// GetW, ExistsW and ChildrenW set one-shot watches and return a channel that
// receives one Event and closes. Their trigger table is ZooKeeper's: a
// create fires NodeCreated on the path's exist and data watches and
// NodeChildrenChanged on the parent's child watches; a delete fires
// NodeDeleted on the path's data and child watches and NodeChildrenChanged
// on the parent's; a data change fires NodeDataChanged on data watches.
// SetACL fires nothing. AddWatch sets a persistent watch, or a persistent
// recursive one for a whole subtree (which never reports
// NodeChildrenChanged); it stays until RemoveWatches.
//
// Watches never slow the ensemble: events are queued for slow readers,
// and the state machine never waits for a channel. A watch sees events in
// zxid order, and an event is already in its channel when the write that
// caused it returns, so a reader never sees a change in a read before it
// can see the event. A session sees only events for nodes it may read.
// When the session ends, every watch channel receives EventNotWatching and
// closes. When a session moves to another node (WithFailover), its
// watches move with it: a one-shot watch whose node changed meanwhile
// fires at once, and a persistent watch receives every event it missed,
// in order and once, from the new node's log of recent changes — or
// EventWatchEventsLost if that log no longer reaches back.
//
// # Guarantees
//
// Writes are linearizable: each is a raft log entry, applied in log order
// on every node, and returns once applied on the node that proposed it.
// Its zxid is term<<32 | counter, like ZooKeeper's epoch and counter, and
// only grows: a leader starts a new term before the counter could wrap.
// Reads are served from the local node's tree and see every write the same
// session made before. Sync waits until the node has applied everything
// the leader had committed when Sync was called, after the leader confirmed
// with a quorum that it still leads, so Sync followed by a read is
// linearizable. Multi applies all its operations or none.
//
// With Config.Dir set, the raft log lives in a write-ahead log (raft-wal;
// or bbolt, Config.LogStore) and snapshots in files; every write is
// fsynced on a quorum before it is acknowledged, and Open rebuilds the
// identical tree — data, Stat, zxids, sequence counters, ACLs and sessions.
//
// # Errors
//
// Operations return the sentinel for ZooKeeper's error code (ErrNoNode,
// ErrNodeExists, ErrBadVersion, ErrNotEmpty, ErrNoAuth, ...) wrapped in an
// *OpError naming the operation and path, or, for Multi, a *MultiError
// naming the failing operation. Compare with errors.Is. When a ctx ends
// while a write is in flight, the write may or may not have happened.
package zk
