package zk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/zkraft/zk/internal/txn"
)

// sessionInfo is a session as the replicated state knows it.
type sessionInfo struct {
	timeout  int32 // negotiated, ms
	password []byte
}

// fsmListener hears what the FSM does that a node must act on. Its
// methods are called with the FSM's lock held, in log order, and must not
// block or call back into the FSM.
type fsmListener interface {
	// sessionClosed reports a session that a closeSession txn (or a
	// restore) ended.
	sessionClosed(id int64, reason txn.CloseReason)
}

// applyResult is what FSM.Apply returns for a TypeOps or session txn, and
// what the proposer hands back to the caller.
type applyResult struct {
	index   uint64 // raft index of the entry
	zxid    int64
	err     error // the whole txn was refused (for example an expired session)
	results []opResult
	failed  int // index of the failing op of a multi, or -1
}

type opResult struct {
	path string
	stat Stat
	err  error
}

// fsm is the raft state machine: it decodes txns and applies them to the
// tree, computes zxids, keeps the session table, and fires watches.
// Apply is deterministic: it reads no clock and no random source, and every
// replica computes the same tree and the same zxids from the same log.
type fsm struct {
	walkMu   sync.Mutex   // snapshot walks take turns (see fsmSnapshot.nodes)
	mu       sync.RWMutex // guards everything below; reads hold it for reading
	tree     *tree
	sessions map[int64]*sessionInfo
	term     uint64 // term of the last command applied
	counter  uint32 // its place among the commands of that term
	index    uint64 // raft index of the last entry applied

	watches  *watchManager
	listener fsmListener
	changes  []change // scratch, reused between txns

	applied atomic.Uint64 // == index, readable without the lock
	zxid    atomic.Int64  // == lastZxid(), readable without the lock
	wake    chan struct{} // closed and replaced after every batch
	wakeMu  sync.Mutex
}

func newFSM(w *watchManager, l fsmListener) *fsm {
	return &fsm{
		tree:     newTree(),
		sessions: make(map[int64]*sessionInfo),
		watches:  w,
		listener: l,
		wake:     make(chan struct{}),
	}
}

// makeZxid returns the zxid of a term's counter-th command.
func makeZxid(term uint64, counter uint32) int64 { return int64(term<<32 | uint64(counter)) }

// lastZxid returns the zxid of the last applied command; f.mu is held.
func (f *fsm) lastZxid() int64 { return makeZxid(f.term, f.counter) }

// LastZxid returns the zxid of the last applied command.
func (f *fsm) LastZxid() int64 { return f.zxid.Load() }

// zxidParts returns the term and counter of the last applied command.
func (f *fsm) zxidParts() (term uint64, counter uint32) {
	z := uint64(f.zxid.Load())
	return z >> 32, uint32(z)
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM: one lock for the whole batch.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if l.Index <= f.index {
			continue // already applied (raft replays after a restart of raft alone)
		}
		f.index = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		res := f.applyCommand(l)
		res.index = l.Index
		out[i] = res
	}
	f.applied.Store(f.index)
	f.zxid.Store(f.lastZxid())
	f.mu.Unlock()

	f.wakeAll()
	return out
}

// wakeAll wakes everything waiting for the FSM to move on.
func (f *fsm) wakeAll() {
	f.wakeMu.Lock()
	close(f.wake)
	f.wake = make(chan struct{})
	f.wakeMu.Unlock()
}

// waitCh returns a channel closed at the next applied batch.
func (f *fsm) waitCh() <-chan struct{} {
	f.wakeMu.Lock()
	defer f.wakeMu.Unlock()
	return f.wake
}

func (f *fsm) applyCommand(l *raft.Log) *applyResult {
	if l.Term != f.term {
		f.term, f.counter = l.Term, 0
	}
	f.counter++
	zxid := f.lastZxid()
	t, err := txn.Decode(l.Data)
	if err != nil {
		// Nothing valid proposes such bytes; refuse it the same way everywhere.
		return &applyResult{zxid: zxid, err: fmt.Errorf("%w: %v", ErrMarshalling, err), failed: -1}
	}
	switch t.Type {
	case txn.TypeCreateSession:
		if _, ok := f.sessions[t.Session]; ok || t.Session == 0 {
			return &applyResult{zxid: zxid, err: errSessionIDTaken, failed: -1}
		}
		f.sessions[t.Session] = &sessionInfo{timeout: t.Timeout, password: t.Password}
		return &applyResult{zxid: zxid, failed: -1}
	case txn.TypeCloseSession:
		if _, ok := f.sessions[t.Session]; !ok {
			return &applyResult{zxid: zxid, err: ErrSessionExpired, failed: -1}
		}
		c := &txnContext{zxid: zxid, time: t.Time, system: true}
		f.changes = f.changes[:0]
		f.tree.closeSession(c, t.Session, &f.changes)
		delete(f.sessions, t.Session)
		f.fire(zxid)
		if f.listener != nil {
			f.listener.sessionClosed(t.Session, t.Reason)
		}
		return &applyResult{zxid: zxid, failed: -1}
	case txn.TypeSetConfig:
		c := &txnContext{zxid: zxid, time: t.Time, system: true}
		f.changes = f.changes[:0]
		st, err := f.tree.setConfig(c, t.Data, &f.changes)
		clear(f.tree.undo)
		f.tree.undo = f.tree.undo[:0]
		f.fire(zxid)
		return &applyResult{zxid: zxid, failed: -1, results: []opResult{{path: configPath, stat: st, err: err}}}
	default:
		return f.applyOps(t, zxid)
	}
}

var errSessionIDTaken = errors.New("zk: session id in use")

func convertIDs(ids []txn.ID) []ID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]ID, len(ids))
	for i, id := range ids {
		out[i] = ID{Scheme: id.Scheme, ID: id.ID}
	}
	return out
}

func convertACL(acl []txn.ACL) []ACL {
	out := make([]ACL, len(acl))
	for i, a := range acl {
		out[i] = ACL{Perms: Perm(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

func (f *fsm) applyOps(t *txn.Txn, zxid int64) *applyResult {
	res := &applyResult{zxid: zxid, failed: -1}
	system := t.Session == 0
	if !system {
		if _, ok := f.sessions[t.Session]; !ok {
			res.err = ErrSessionExpired
			return res
		}
	}
	c := &txnContext{zxid: zxid, time: t.Time, session: t.Session, auth: convertIDs(t.Auth), system: system}
	tr := f.tree
	tr.undo = tr.undo[:0]
	f.changes = f.changes[:0]
	res.results = make([]opResult, len(t.Ops))
	for i := range t.Ops {
		op := &t.Ops[i]
		r := &res.results[i]
		switch op.Kind {
		case txn.OpCreate:
			r.path, r.stat, r.err = tr.create(c, &createArgs{path: op.Path, data: op.Data, acl: convertACL(op.ACL), mode: CreateMode(op.Mode), ttl: op.TTL}, &f.changes)
		case txn.OpDelete:
			r.err = tr.remove(c, op.Path, op.Version, &f.changes)
		case txn.OpSetData:
			r.stat, r.err = tr.setData(c, op.Path, op.Data, op.Version, &f.changes)
		case txn.OpSetACL:
			r.stat, r.err = tr.setACL(c, op.Path, convertACL(op.ACL), op.Version)
		case txn.OpCheck:
			r.err = tr.check(c, op.Path, op.Version)
		case txn.OpReap:
			c.system = true
			r.err = tr.reap(c, op.Path, &f.changes)
			c.system = system
		default:
			r.err = ErrUnimplemented
		}
		if r.err != nil && t.Multi {
			tr.rollback(0)
			f.changes = f.changes[:0]
			res.failed = i
			for j := range res.results {
				switch {
				case j < i:
					res.results[j] = opResult{err: ErrRolledBack}
				case j > i:
					res.results[j] = opResult{err: ErrRuntimeInconsistency}
				}
			}
			break
		}
	}
	clear(tr.undo)
	tr.undo = tr.undo[:0]
	f.fire(zxid)
	return res
}

// firstFailure runs the first n ops of the multi t against the current
// tree and rolls them back: nothing is applied and no watch fires. It
// returns the index and error of the first op that fails, or -1. Conn.write
// uses it when op n is malformed, because ZooKeeper checks a multi's ops in
// order and reports the first failure, whether it comes from the tree or
// from a bad ACL, mode or TTL.
func (f *fsm) firstFailure(t *txn.Txn, n int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	probe := *t
	probe.Multi = true
	// The last op has no kind: applyOps fails it with ErrUnimplemented,
	// which rolls back everything before it.
	probe.Ops = append(append(make([]txn.Op, 0, n+1), t.Ops[:n]...), txn.Op{})
	res := f.applyOps(&probe, f.lastZxid()+1)
	if res.err != nil || res.failed < 0 || res.failed >= n {
		return -1, nil
	}
	return res.failed, res.results[res.failed].err
}

// fire hands the txn's changes to the watch manager, in order.
func (f *fsm) fire(zxid int64) {
	for i := range f.changes {
		f.watches.trigger(&f.changes[i], zxid)
		f.changes[i] = change{}
	}
	f.changes = f.changes[:0]
}

// --- snapshots ---

// The snapshot stream: a header, the sessions, the nodes, and a CRC-32C
// of everything before it. Children are not written; Restore links every
// node to its parent.
const (
	snapMagic   = "ZKRS"
	snapVersion = 1
)

type snapNode struct {
	path string
	n    *znode
}

// fsmSnapshot is a snapshot being taken: the sessions and zxid copied when
// it began, the tree read out of the live one by its capture.
type fsmSnapshot struct {
	term     uint64
	counter  uint32
	index    uint64
	sessions []snapSession

	f     *fsm
	tree  *tree // the tree captured (Restore may replace the FSM's since)
	cap   *capture
	chunk int // nodes read per hold of the FSM's lock

	afterChunk func() // tests: changes the tree between two chunks
}

type snapSession struct {
	id int64
	sessionInfo
}

// Snapshot implements raft.FSM. It copies nothing of the tree: it begins a
// capture, and Persist reads the nodes out of the live tree a chunk at a
// time while writes go on, so a snapshot of millions of znodes stalls
// neither writes nor reads.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fsmSnapshot{term: f.term, counter: f.counter, index: f.index, f: f, tree: f.tree, chunk: snapChunk}
	s.cap = f.tree.beginCapture()
	s.sessions = make([]snapSession, 0, len(f.sessions))
	for id, si := range f.sessions {
		s.sessions = append(s.sessions, snapSession{id, *si})
	}
	return s, nil
}

// snapChunk is how many nodes a snapshot reads per hold of the FSM's lock.
const snapChunk = 256

// snapshotRest is how long a snapshot rests while the node applies
// writes, as a multiple of the time it worked. Writing out a large tree
// is CPU work (a million znodes are a second or two of a core, most of it
// reading nodes scattered over the heap), and it competes with the writes
// the node goes on serving: taking all of a core, it tripled their p99 on
// two cores; resting twice as long as it works, it takes a third of a
// core and takes three times as long. Nothing waits for a snapshot but
// log compaction. While no writes come, it does not rest.
const snapshotRest = 2

// snapshotPacer makes a snapshot's walk rest after each chunk during
// which writes were applied (see snapshotRest). Resting in short sleeps
// after every chunk kept write p99 lower than longer ones after a
// millisecond of work; and while writes come the runtime wakes short
// sleeps on time.
type snapshotPacer struct {
	applied     *atomic.Uint64 // the FSM's last applied index
	lastApplied uint64
	since       time.Time // when the chunk began
}

func (p *snapshotPacer) start() {
	p.lastApplied = p.applied.Load()
	p.since = time.Now()
}

// chunkDone counts the chunk just done and rests if it is time to.
func (p *snapshotPacer) chunkDone() {
	if a := p.applied.Load(); a != p.lastApplied {
		p.lastApplied = a
		time.Sleep(snapshotRest * time.Since(p.since))
	}
	p.since = time.Now()
}

// nodes reads the captured nodes out of the tree and hands them to emit a
// chunk at a time, without the FSM's lock. The nodes it hands out do not
// change: the tree copies a node captured before changing it. Walks take
// turns, so that a node's walked mark is always the walk's under way.
func (s *fsmSnapshot) nodes(emit func([]snapNode) error) error {
	s.f.walkMu.Lock()
	defer s.f.walkMu.Unlock()
	mu := &s.f.mu
	mu.Lock()
	s.tree.walking = s.cap
	mu.Unlock()
	defer func() {
		mu.Lock()
		if s.tree.walking == s.cap {
			s.tree.walking = nil
		}
		mu.Unlock()
	}()

	mark := uint32(s.cap.gen)
	chunk := make([]snapNode, 0, s.chunk)
	met := make(map[string]struct{}) // changed paths the walk met
	n := 0
	pace := snapshotPacer{applied: &s.f.applied}
	pace.start()
	flush := func() error {
		n += len(chunk)
		err := emit(chunk)
		chunk = chunk[:0]
		if s.afterChunk != nil {
			s.afterChunk()
		}
		pace.chunkDone()
		return err
	}
	mu.RLock()
	// The walk goes on across releases of the lock, which is a walk of a
	// map changed during it, as the language defines it: nodes present
	// throughout are met once, deleted ones not met yet are not, and added
	// ones (a path deleted and created again too) may be, which the
	// capture's before sorts out.
	for path, node := range s.tree.nodes {
		if old, changed := s.cap.before[path]; changed {
			if _, again := met[path]; again || old == nil || old == walkedNode {
				continue
			}
			met[path] = struct{}{}
			node = old
		} else {
			node.walked = mark
		}
		chunk = append(chunk, snapNode{path, node})
		if len(chunk) == s.chunk {
			mu.RUnlock()
			if err := flush(); err != nil {
				return err
			}
			mu.RLock()
		}
	}
	for path, old := range s.cap.before {
		if _, ok := met[path]; !ok && old != nil && old != walkedNode {
			chunk = append(chunk, snapNode{path, old})
		}
	}
	mu.RUnlock()
	if err := flush(); err != nil {
		return err
	}
	if n != s.cap.count {
		return fmt.Errorf("zk: snapshot read %d nodes of the %d captured", n, s.cap.count)
	}
	return nil
}

type snapWriter struct {
	w   *bufio.Writer
	crc uint32
	buf []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (w *snapWriter) flushBuf() error {
	w.crc = crc32.Update(w.crc, castagnoli, w.buf)
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) write(out io.Writer) error {
	w := &snapWriter{w: bufio.NewWriterSize(out, 256<<10), buf: make([]byte, 0, 4096)}
	w.buf = append(w.buf, snapMagic...)
	w.buf = append(w.buf, snapVersion)
	w.buf = binary.AppendUvarint(w.buf, s.term)
	w.buf = binary.AppendUvarint(w.buf, uint64(s.counter))
	w.buf = binary.AppendUvarint(w.buf, s.index)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(s.sessions)))
	for _, ss := range s.sessions {
		w.buf = binary.AppendVarint(w.buf, ss.id)
		w.buf = binary.AppendVarint(w.buf, int64(ss.timeout))
		w.buf = txn.AppendBytes(w.buf, ss.password)
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(s.cap.count))
	err := s.nodes(func(chunk []snapNode) error {
		for _, sn := range chunk {
			n := sn.n
			w.buf = txn.AppendString(w.buf, sn.path)
			w.buf = txn.AppendBytes(w.buf, n.data)
			w.buf = binary.AppendUvarint(w.buf, uint64(len(n.acl.acl)))
			for _, a := range n.acl.acl {
				w.buf = binary.AppendVarint(w.buf, int64(a.Perms))
				w.buf = txn.AppendString(w.buf, a.Scheme)
				w.buf = txn.AppendString(w.buf, a.ID)
			}
			for _, v := range [...]int64{n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, int64(n.version), int64(n.creates), int64(n.aversion), n.owner} {
				w.buf = binary.AppendVarint(w.buf, v)
			}
			if len(w.buf) >= 64<<10 {
				if err := w.flushBuf(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.flushBuf(); err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], w.crc)
	if _, err := w.w.Write(sum[:]); err != nil {
		return err
	}
	return w.w.Flush()
}

// Release implements raft.FSMSnapshot: the capture ends.
func (s *fsmSnapshot) Release() {
	s.f.mu.Lock()
	s.tree.endCapture(s.cap)
	s.f.mu.Unlock()
}

// ErrCorruptSnapshot is returned when a snapshot cannot be read back: the
// node refuses to start from it rather than serve a wrong tree.
var ErrCorruptSnapshot = errors.New("zk: corrupt snapshot")

type snapReader struct {
	r   *bufio.Reader
	crc uint32
	err error
	tmp []byte  // scratch, reused
	one [1]byte // scratch for ReadByte
}

func (r *snapReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *snapReader) ReadByte() (byte, error) {
	c, err := r.r.ReadByte()
	if err != nil {
		return 0, err
	}
	r.one[0] = c
	r.crc = crc32.Update(r.crc, castagnoli, r.one[:])
	return c, nil
}

// varintBytes returns the bytes of the varint the reader is at, up to
// binary.MaxVarintLen64 of them, without consuming them.
func (r *snapReader) varintBytes() []byte {
	b, _ := r.r.Peek(binary.MaxVarintLen64) // short only at the end of the stream
	return b
}

// consume checksums and skips n bytes that varintBytes returned.
func (r *snapReader) consume(b []byte, n int) {
	r.crc = crc32.Update(r.crc, castagnoli, b[:n])
	r.r.Discard(n)
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	b := r.varintBytes()
	v, n := binary.Uvarint(b)
	if n <= 0 {
		r.fail(errors.New("bad or truncated varint"))
		return 0
	}
	r.consume(b, n)
	return v
}

func (r *snapReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	b := r.varintBytes()
	v, n := binary.Varint(b)
	if n <= 0 {
		r.fail(errors.New("bad or truncated varint"))
		return 0
	}
	r.consume(b, n)
	return v
}

// scratch reads n bytes into a buffer reused by the next call.
func (r *snapReader) scratch(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > 1<<31 {
		r.fail(errors.New("length out of range"))
		return nil
	}
	if uint64(cap(r.tmp)) < n {
		r.tmp = make([]byte, n)
	}
	p := r.tmp[:n]
	if _, err := io.ReadFull(r.r, p); err != nil {
		r.fail(err)
		return nil
	}
	r.crc = crc32.Update(r.crc, castagnoli, p)
	return p
}

func (r *snapReader) bytes(n uint64) []byte {
	p := r.scratch(n)
	if p == nil {
		return nil
	}
	return bytes.Clone(p)
}

func (r *snapReader) str() string { return string(r.scratch(r.uvarint())) }

// acl reads an ACL list. Nodes mostly share a few lists, so a list equal
// to last is returned as last, without allocating.
func (r *snapReader) acl(last []ACL) []ACL {
	na := r.uvarint()
	if na > 1<<20 {
		r.fail(errors.New("acl count out of range"))
		return nil
	}
	same := uint64(len(last)) == na
	var acl []ACL
	for j := uint64(0); j < na && r.err == nil; j++ {
		perms := Perm(r.varint())
		scheme := r.scratch(r.uvarint())
		if same && (last[j].Perms != perms || string(scheme) != last[j].Scheme) {
			same = false
		}
		schemeStr := ""
		if !same {
			schemeStr = string(scheme)
		}
		id := r.scratch(r.uvarint())
		if same && string(id) == last[j].ID {
			continue
		}
		if same {
			// The list differs from last only from here on.
			same = false
			schemeStr = last[j].Scheme
		}
		if acl == nil {
			acl = make([]ACL, j, na)
			copy(acl, last[:j])
		}
		acl = append(acl, ACL{Perms: perms, Scheme: schemeStr, ID: string(id)})
	}
	if same {
		return last
	}
	if acl == nil {
		acl = []ACL{}
	}
	return acl
}

func (r *snapReader) data() []byte {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	return r.bytes(n - 1)
}

// Restore implements raft.FSM: it rebuilds the tree and the sessions from
// a snapshot, replacing the current state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, t, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptSnapshot, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.index <= f.index && f.index > 0 {
		// Raft restarted under a live FSM that is already past this snapshot.
		return nil
	}
	old, oldTree := f.sessions, f.tree
	f.tree = t
	f.sessions = make(map[int64]*sessionInfo, len(s.sessions))
	for _, ss := range s.sessions {
		si := ss.sessionInfo
		f.sessions[ss.id] = &si
	}
	f.term, f.counter, f.index = s.term, s.counter, s.index
	f.applied.Store(f.index)
	f.zxid.Store(f.lastZxid())
	if f.watches.watching() {
		for _, c := range restoreChanges(oldTree, t) {
			f.watches.trigger(&c.change, c.zxid)
		}
	}
	f.watches.resetLog(f.lastZxid())
	f.wakeAll()
	if f.listener != nil {
		for id := range old {
			if _, ok := f.sessions[id]; !ok {
				f.listener.sessionClosed(id, txn.CloseExpired)
			}
		}
	}
	return nil
}

// corruptSnapshot returns why the newest snapshot in snaps cannot be
// restored, wrapping ErrCorruptSnapshot, or nil. Raft only logs why a
// snapshot failed to open or restore and reports that none could be
// loaded; Open uses this to return ErrCorruptSnapshot.
func corruptSnapshot(snaps raft.SnapshotStore) error {
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return nil
	}
	_, rc, err := snaps.Open(metas[0].ID)
	if err == nil {
		_, _, err = readSnapshot(rc)
		rc.Close()
	}
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: %v", ErrCorruptSnapshot, metas[0].ID, err)
	}
	return nil
}

func readSnapshot(in io.Reader) (*fsmSnapshot, *tree, error) {
	r := &snapReader{r: bufio.NewReaderSize(in, 256<<10)}
	magic := r.bytes(uint64(len(snapMagic)))
	if r.err == nil && string(magic) != snapMagic {
		return nil, nil, errors.New("bad magic")
	}
	if v, err := r.ReadByte(); err != nil || v != snapVersion {
		return nil, nil, fmt.Errorf("unknown snapshot version %d (%v)", v, err)
	}
	s := &fsmSnapshot{}
	s.term = r.uvarint()
	s.counter = uint32(r.uvarint())
	s.index = r.uvarint()
	ns := r.uvarint()
	for i := uint64(0); i < ns && r.err == nil; i++ {
		var ss snapSession
		ss.id = r.varint()
		ss.timeout = int32(r.varint())
		ss.password = r.data()
		s.sessions = append(s.sessions, ss)
	}
	t := newEmptyTree()
	nn := r.uvarint()
	hint := min(nn, 1<<22) // a hint only: nn is not trusted yet
	t.nodes = make(map[string]*znode, hint)
	// The nodes in the order read, to link them to their parents once all
	// are in: a pass over a slice, not over the map.
	type readNode struct {
		path string
		n    *znode
	}
	all := make([]readNode, 0, hint)
	var (
		lastACL   []ACL
		lastEntry *aclEntry
	)
	for i := uint64(0); i < nn && r.err == nil; i++ {
		path := r.str()
		n := &znode{data: r.data()}
		acl := r.acl(lastACL)
		var v [9]int64
		for j := range v {
			v[j] = r.varint()
		}
		if r.err != nil {
			break
		}
		n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime = v[0], v[1], v[2], v[3], v[4]
		n.version, n.creates, n.aversion, n.owner = int32(v[5]), int32(v[6]), int32(v[7]), v[8]
		if lastEntry != nil && len(acl) == len(lastACL) && (len(acl) == 0 || &acl[0] == &lastACL[0]) {
			t.acls.retain(lastEntry)
			n.acl = lastEntry
		} else {
			n.acl = t.acls.intern(acl)
			lastACL, lastEntry = n.acl.acl, n.acl
		}
		// One hash of the path, not two: a path met twice leaves the map
		// as large as it was.
		size := len(t.nodes)
		t.nodes[path] = n
		if len(t.nodes) == size {
			r.fail(fmt.Errorf("node %q twice", path))
			break
		}
		t.index(path, n)
		all = append(all, readNode{path, n})
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	want := r.crc
	var sum [4]byte
	if _, err := io.ReadFull(r.r, sum[:]); err != nil {
		return nil, nil, fmt.Errorf("missing checksum: %v", err)
	}
	if binary.BigEndian.Uint32(sum[:]) != want {
		return nil, nil, errors.New("checksum mismatch")
	}
	if _, ok := t.nodes["/"]; !ok {
		return nil, nil, errors.New("no root node")
	}
	// Link children to parents in two passes: count each parent's
	// children (in its walked field, which is zero until a snapshot walks
	// the tree), then fill maps made to size, which never grow: growing a
	// thousand maps to a thousand entries each was a third of a restore.
	parents := make([]*znode, len(all))
	for i, rn := range all {
		if rn.path == "/" {
			continue
		}
		parent, _ := splitPath(rn.path)
		pn := t.nodes[parent]
		if pn == nil {
			return nil, nil, fmt.Errorf("node %q has no parent", rn.path)
		}
		parents[i] = pn
		pn.walked++
	}
	for i, pn := range parents {
		if pn == nil {
			continue
		}
		if pn.children == nil {
			pn.children = make(map[string]struct{}, pn.walked)
			pn.walked = 0
		}
		_, name := splitPath(all[i].path)
		pn.children[name] = struct{}{}
	}
	return s, t, nil
}
