package zk

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Stat is a znode's metadata, field for field as ZooKeeper reports it.
type Stat struct {
	Czxid          int64 // zxid of the create
	Mzxid          int64 // zxid of the last setData (Czxid until then)
	Ctime          int64 // create time, ms since the Unix epoch
	Mtime          int64 // time of the last setData, ms since the Unix epoch
	Version        int32 // number of setData since create
	Cversion       int32 // number of child creates plus child deletes
	Aversion       int32 // number of setACL since create
	EphemeralOwner int64 // owning session of an ephemeral node, else 0
	DataLength     int32 // length of the data
	NumChildren    int32 // number of children
	Pzxid          int64 // zxid of the last child create or delete (Czxid until then)
}

// CreateMode says what kind of znode Create makes. The values are
// ZooKeeper's CreateMode flags.
type CreateMode int32

// The create modes.
const (
	FlagPersistent          CreateMode = 0 // an ordinary node
	FlagEphemeral           CreateMode = 1 // deleted when its session ends
	FlagSequence            CreateMode = 2 // persistent, name suffixed with a sequence number
	FlagEphemeralSequential CreateMode = 3 // ephemeral and sequential
	FlagContainer           CreateMode = 4 // deleted once it has had children and has none left
	FlagTTL                 CreateMode = 5 // persistent, deleted when childless and unmodified for its TTL
	FlagSequenceTTL         CreateMode = 6 // FlagTTL and sequential
)

func (m CreateMode) String() string {
	switch m {
	case FlagPersistent:
		return "persistent"
	case FlagEphemeral:
		return "ephemeral"
	case FlagSequence:
		return "persistent-sequential"
	case FlagEphemeralSequential:
		return "ephemeral-sequential"
	case FlagContainer:
		return "container"
	case FlagTTL:
		return "persistent-ttl"
	case FlagSequenceTTL:
		return "persistent-sequential-ttl"
	}
	return "CreateMode(" + strconv.Itoa(int(m)) + ")"
}

func (m CreateMode) valid() bool       { return m >= FlagPersistent && m <= FlagSequenceTTL }
func (m CreateMode) isEphemeral() bool { return m == FlagEphemeral || m == FlagEphemeralSequential }
func (m CreateMode) isSequential() bool {
	return m == FlagSequence || m == FlagEphemeralSequential || m == FlagSequenceTTL
}
func (m CreateMode) isTTL() bool { return m == FlagTTL || m == FlagSequenceTTL }

// AnyVersion matches every version in Delete, Set, SetACL and CheckOp.
const AnyVersion int32 = -1

// MaxTTL is the longest TTL a node can have, in milliseconds (2^40-1).
const MaxTTL = 1<<40 - 1

// The stored ephemeralOwner of containers and TTL nodes, as ZooKeeper
// encodes them. Clients are shown 0 for both.
const (
	ownerContainer = math.MinInt64              // 0x8000000000000000
	ownerTTLMarker = -0x0100000000000000        // 0xFF00000000000000
	ownerTTLMask   = int64(0x00FFFFFFFFFFFFFF)  // low 56 bits
	ownerTopByte   = int64(-0x0100000000000000) // 0xFF00000000000000 as a mask
)

type nodeKind uint8

const (
	kindPersistent nodeKind = iota
	kindEphemeral
	kindContainer
	kindTTL
)

func ownerKind(owner int64) nodeKind {
	switch {
	case owner == 0:
		return kindPersistent
	case owner == ownerContainer:
		return kindContainer
	case owner&ownerTopByte == ownerTTLMarker:
		return kindTTL
	}
	return kindEphemeral
}

// znode is one node of the tree. The persisted fields (everything a
// snapshot records) never change while a snapshot may still read the
// node: tree.mut copies the node first (see gen).
type znode struct {
	data     []byte // nil is kept apart from empty, as ZooKeeper does
	acl      *aclEntry
	children map[string]struct{}
	sorted   atomic.Pointer[[]string] // cache of sorted children; nil when stale

	czxid, mzxid, pzxid int64
	ctime, mtime        int64
	version             int32
	creates             int32 // child creations: ZooKeeper's stored cversion
	aversion            int32
	walked              uint32 // low bits of the gen of the last capture whose walk took this node from the map
	owner               int64  // stored ephemeralOwner

	gen uint64 // tree.gen when this copy was made
}

func (n *znode) stat() Stat {
	nc := int32(len(n.children))
	st := Stat{
		Czxid: n.czxid, Mzxid: n.mzxid, Pzxid: n.pzxid,
		Ctime: n.ctime, Mtime: n.mtime,
		Version: n.version, Aversion: n.aversion,
		// ZooKeeper stores creations and reports creations plus deletions:
		// every child not present any more was deleted once.
		Cversion:    2*n.creates - nc,
		DataLength:  int32(len(n.data)),
		NumChildren: nc,
	}
	if ownerKind(n.owner) == kindEphemeral {
		st.EphemeralOwner = n.owner
	}
	return st
}

// childList returns the node's children in sorted order. The slice is
// shared and must not be modified.
func (n *znode) childList() []string {
	if p := n.sorted.Load(); p != nil {
		return *p
	}
	l := make([]string, 0, len(n.children))
	for c := range n.children {
		l = append(l, c)
	}
	slices.Sort(l)
	n.sorted.Store(&l)
	return l
}

// tree is the znode tree. It is pure and deterministic: no clocks, no
// randomness, no goroutines, no locks. Callers serialise access (the FSM
// holds a lock for writing around every mutation and for reading around
// every read).
type tree struct {
	nodes      map[string]*znode
	ephemerals map[int64]map[string]struct{} // session id → its ephemeral paths
	containers map[string]struct{}
	ttls       map[string]struct{}
	acls       aclCache

	// gen is bumped whenever a snapshot capture begins; a node whose gen
	// is older is copied before it is changed, so a pointer a capture reads
	// keeps pointing at what it captured.
	gen uint64
	// captures are the snapshots being read out of the tree; every change
	// of nodes goes through setNode and deleteNode, which tell them.
	captures []*capture
	walking  *capture // the capture whose walk is under way: one at a time

	undo []undoRecord // multi rollback log, reused
}

// change is what one applied operation did, for the watch manager.
type change struct {
	typ  EventType
	path string
	acl  []ACL // ACL of the node at the change (for READ filtering)
	pacl []ACL // ACL of the parent, for NodeChildrenChanged
}

var (
	openACL = []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}
	readACL = []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}}
)

func newTree() *tree {
	t := newEmptyTree()
	add := func(path string, acl []ACL) *znode {
		n := &znode{data: []byte{}, acl: t.acls.intern(acl)}
		t.nodes[path] = n
		if path != "/" {
			parent, name := splitPath(path)
			t.link(parent, name)
		}
		return n
	}
	add("/", openACL)
	add("/zookeeper", openACL)
	add("/zookeeper/quota", openACL)
	cfg := add("/zookeeper/config", readACL)
	cfg.aversion = -1
	return t
}

func newEmptyTree() *tree {
	return &tree{
		nodes:      make(map[string]*znode),
		ephemerals: make(map[int64]map[string]struct{}),
		containers: make(map[string]struct{}),
		ttls:       make(map[string]struct{}),
		acls:       aclCache{m: make(map[string]*aclEntry)},
	}
}

// splitPath returns the parent path and the last segment of a path.
func splitPath(p string) (parent, name string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}

func joinPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

func isSystemPath(p string) bool {
	switch p {
	case "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config":
		return true
	}
	return false
}

// validatePath applies ZooKeeper's PathUtils.validatePath rules.
func validatePath(p string) error {
	if p == "" || p[0] != '/' {
		return ErrBadArguments
	}
	if p == "/" {
		return nil
	}
	if p[len(p)-1] == '/' {
		return ErrBadArguments
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			if seg == "" || seg == "." || seg == ".." {
				return ErrBadArguments
			}
			segStart = i + 1
		}
	}
	for _, r := range p {
		if invalidPathRune(r) {
			return ErrBadArguments
		}
	}
	return nil
}

// invalidPathRune reports the code points PathUtils rejects. Java checks
// UTF-16 units, so every code point above U+FFFF (a surrogate pair) is
// rejected too, and invalid UTF-8 decodes to U+FFFD, which is rejected.
func invalidPathRune(r rune) bool {
	switch {
	case r == 0:
		return true
	case r > 0 && r <= 0x1f, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0xd800 && r <= 0xf8ff:
		return true
	case r >= 0xfff0 && r <= 0xffff:
		return true
	case r > 0xffff, r == utf8.RuneError:
		return true
	}
	return false
}

// sequenceSuffix formats a sequence number as ZooKeeper does: %010d of an
// int32, so a wrapped counter prints with a minus sign.
func sequenceSuffix(n int32) string {
	s := strconv.FormatInt(int64(n), 10)
	if len(s) >= 10 {
		return s
	}
	if n < 0 { // Java pads after the sign: -000000001
		return "-" + strings.Repeat("0", 10-len(s)) + s[1:]
	}
	return strings.Repeat("0", 10-len(s)) + s
}

// capture is a snapshot of the tree being read out while the tree goes on
// changing, so that taking it stops no one: it begins in O(1), and its
// walk reads the live map a chunk at a time. A path changed since the
// capture began keeps its node of then in before (nil: it did not exist;
// walkedNode: the walk had already taken it), and the walk takes that
// instead of the map's, and at the end adds the ones it did not meet
// (deleted since).
type capture struct {
	gen    uint64            // tree.gen the capture began
	count  int               // nodes when the capture began
	before map[string]*znode // path → its node when the capture began, for paths changed since
}

// walkedNode in a capture's before marks a path its walk took from the
// map before the path changed.
var walkedNode = &znode{}

// beginCapture starts a capture of the tree as it is now.
func (t *tree) beginCapture() *capture {
	t.gen++
	c := &capture{gen: t.gen, count: len(t.nodes), before: make(map[string]*znode)}
	t.captures = append(t.captures, c)
	return c
}

// endCapture forgets a capture, finished or abandoned.
func (t *tree) endCapture(c *capture) {
	t.captures = slices.DeleteFunc(t.captures, func(x *capture) bool { return x == c })
	if t.walking == c {
		t.walking = nil
	}
}

// setNode makes n the node at path.
func (t *tree) setNode(path string, n *znode) {
	t.remember(path)
	t.nodes[path] = n
}

// deleteNode removes the node at path.
func (t *tree) deleteNode(path string) {
	t.remember(path)
	delete(t.nodes, path)
}

// remember keeps, for every capture, what path held before its first
// change since the capture began.
func (t *tree) remember(path string) {
	if len(t.captures) == 0 {
		return
	}
	old := t.nodes[path]
	for _, c := range t.captures {
		if _, ok := c.before[path]; ok {
			continue
		}
		if c == t.walking && old != nil && old.walked == uint32(c.gen) {
			c.before[path] = walkedNode
		} else {
			c.before[path] = old
		}
	}
}

// mut returns the node at path ready to be changed, copying it first if a
// snapshot may still be reading the current copy.
func (t *tree) mut(path string) *znode {
	n := t.nodes[path]
	if n != nil && n.gen < t.gen {
		c := &znode{
			data: n.data, acl: n.acl, children: n.children,
			czxid: n.czxid, mzxid: n.mzxid, pzxid: n.pzxid,
			ctime: n.ctime, mtime: n.mtime,
			version: n.version, creates: n.creates, aversion: n.aversion,
			owner: n.owner, gen: t.gen,
		}
		c.sorted.Store(n.sorted.Load())
		t.setNode(path, c)
		n = c
	}
	return n
}

// link adds name to parent's children (parent must exist).
func (t *tree) link(parent, name string) {
	p := t.mut(parent)
	if p.children == nil {
		p.children = make(map[string]struct{})
	}
	p.children[name] = struct{}{}
	p.sorted.Store(nil)
}

func (t *tree) unlink(parent, name string) {
	p := t.mut(parent)
	delete(p.children, name)
	if len(p.children) == 0 {
		p.children = nil
	}
	p.sorted.Store(nil)
}

func (t *tree) index(path string, n *znode) {
	switch ownerKind(n.owner) {
	case kindEphemeral:
		s := t.ephemerals[n.owner]
		if s == nil {
			s = make(map[string]struct{})
			t.ephemerals[n.owner] = s
		}
		s[path] = struct{}{}
	case kindContainer:
		t.containers[path] = struct{}{}
	case kindTTL:
		t.ttls[path] = struct{}{}
	}
}

func (t *tree) unindex(path string, n *znode) {
	switch ownerKind(n.owner) {
	case kindEphemeral:
		if s := t.ephemerals[n.owner]; s != nil {
			delete(s, path)
			if len(s) == 0 {
				delete(t.ephemerals, n.owner)
			}
		}
	case kindContainer:
		delete(t.containers, path)
	case kindTTL:
		delete(t.ttls, path)
	}
}

// txnContext is what every mutation needs besides its arguments: all of it
// fixed before the txn was proposed.
type txnContext struct {
	zxid    int64
	time    int64 // ms since the Unix epoch
	session int64
	auth    []ID // identities for ACL checks
	system  bool // the ensemble itself acting (expiry, reaping): no ACL checks
}

func (c *txnContext) allowed(acl []ACL, perm Perm) bool {
	return c.system || checkACL(acl, perm, c.auth)
}

// undoRecord restores what one operation of a multi changed.
type undoRecord struct {
	kind    opKind
	path    string
	node    *znode // delete: the removed node; set/setACL: the previous copy
	parent  string
	creates int32 // create: parent's creations before
	pzxid   int64 // create/delete: parent's pzxid before
}

// createArgs are the arguments of a create.
type createArgs struct {
	path string
	data []byte
	acl  []ACL
	mode CreateMode
	ttl  int64
}

// create makes a node. It returns the created path (with its sequence
// suffix) and the node's Stat.
func (t *tree) create(c *txnContext, a *createArgs, chg *[]change) (string, Stat, error) {
	parentPath, name := splitPath(a.path)
	parent := t.nodes[parentPath]
	if parent == nil {
		return "", Stat{}, ErrNoNode
	}
	if !c.allowed(parent.acl.acl, PermCreate) {
		return "", Stat{}, ErrNoAuth
	}
	path := a.path
	if a.mode.isSequential() {
		name += sequenceSuffix(parent.creates)
		path = joinPath(parentPath, name)
	}
	if err := validatePath(path); err != nil {
		return "", Stat{}, err
	}
	if _, ok := t.nodes[path]; ok {
		return "", Stat{}, ErrNodeExists
	}
	if ownerKind(parent.owner) == kindEphemeral {
		return "", Stat{}, ErrNoChildrenForEphemerals
	}
	var owner int64
	switch {
	case a.mode.isEphemeral():
		owner = c.session
	case a.mode == FlagContainer:
		owner = ownerContainer
	case a.mode.isTTL():
		owner = ownerTTLMarker | (a.ttl & ownerTTLMask)
	}
	t.undo = append(t.undo, undoRecord{kind: opCreate, path: path, parent: parentPath, creates: parent.creates, pzxid: parent.pzxid})
	n := &znode{
		data: a.data, acl: t.acls.intern(a.acl),
		czxid: c.zxid, mzxid: c.zxid, pzxid: c.zxid,
		ctime: c.time, mtime: c.time,
		owner: owner, gen: t.gen,
	}
	t.setNode(path, n)
	t.index(path, n)
	p := t.mut(parentPath)
	p.creates++
	p.pzxid = c.zxid
	t.link(parentPath, name)
	if chg != nil {
		*chg = append(*chg, change{typ: EventNodeCreated, path: path, acl: n.acl.acl, pacl: p.acl.acl})
	}
	return path, n.stat(), nil
}

// remove deletes a node. It does not check the path's syntax: a path that
// is not valid names no node.
func (t *tree) remove(c *txnContext, path string, version int32, chg *[]change) error {
	if isSystemPath(path) {
		return ErrBadArguments
	}
	parentPath, _ := splitPath(path)
	parent := t.nodes[parentPath]
	if parent == nil {
		return ErrNoNode
	}
	if !c.allowed(parent.acl.acl, PermDelete) {
		return ErrNoAuth
	}
	n := t.nodes[path]
	if n == nil {
		return ErrNoNode
	}
	if version != AnyVersion && version != n.version {
		return ErrBadVersion
	}
	if len(n.children) > 0 {
		return ErrNotEmpty
	}
	t.undo = append(t.undo, undoRecord{kind: opDelete, path: path, node: n, parent: parentPath, pzxid: parent.pzxid})
	t.drop(c, path, n, chg)
	return nil
}

func (t *tree) drop(c *txnContext, path string, n *znode, chg *[]change) {
	parentPath, name := splitPath(path)
	t.deleteNode(path)
	t.unindex(path, n)
	t.acls.release(n.acl)
	t.unlink(parentPath, name)
	p := t.mut(parentPath)
	// A create in the same multi may already have set a higher pzxid.
	if c.zxid > p.pzxid {
		p.pzxid = c.zxid
	}
	if chg != nil {
		*chg = append(*chg, change{typ: EventNodeDeleted, path: path, acl: n.acl.acl, pacl: p.acl.acl})
	}
}

func nextVersion(v int32) int32 {
	v++
	if v == AnyVersion { // never hand out the "any version" value (ZOOKEEPER-4743)
		v = 0
	}
	return v
}

func (t *tree) setData(c *txnContext, path string, data []byte, version int32, chg *[]change) (Stat, error) {
	n := t.nodes[path]
	if n == nil {
		return Stat{}, ErrNoNode
	}
	if !c.allowed(n.acl.acl, PermWrite) {
		return Stat{}, ErrNoAuth
	}
	if version != AnyVersion && version != n.version {
		return Stat{}, ErrBadVersion
	}
	t.undo = append(t.undo, undoRecord{kind: opSetData, path: path, node: t.snapshotOf(n)})
	n = t.mut(path)
	n.data = data
	n.version = nextVersion(n.version)
	n.mzxid = c.zxid
	n.mtime = c.time
	if chg != nil {
		*chg = append(*chg, change{typ: EventNodeDataChanged, path: path, acl: n.acl.acl})
	}
	return n.stat(), nil
}

// configPath is the node that holds the ensemble's membership.
const configPath = "/zookeeper/config"

// setConfig replaces the data of /zookeeper/config with the member lines
// in body and a version line naming the txn's zxid, as ZooKeeper prints
// its QuorumVerifier. Its ACL (world READ) keeps clients out; the
// ensemble writes it without checks, so every change shows as a
// NodeDataChanged, as a setData would.
func (t *tree) setConfig(c *txnContext, body []byte, chg *[]change) (Stat, error) {
	data := make([]byte, 0, len(body)+24)
	data = append(data, body...)
	data = append(data, "version="...)
	data = strconv.AppendUint(data, uint64(c.zxid), 16)
	sys := *c
	sys.system = true
	return t.setData(&sys, configPath, data, AnyVersion, chg)
}

func (t *tree) setACL(c *txnContext, path string, acl []ACL, version int32) (Stat, error) {
	n := t.nodes[path]
	if n == nil {
		return Stat{}, ErrNoNode
	}
	if !c.allowed(n.acl.acl, PermAdmin) {
		return Stat{}, ErrNoAuth
	}
	if version != AnyVersion && version != n.aversion {
		return Stat{}, ErrBadVersion
	}
	t.undo = append(t.undo, undoRecord{kind: opSetACL, path: path, node: t.snapshotOf(n)})
	n = t.mut(path)
	old := n.acl
	n.acl = t.acls.intern(acl)
	t.acls.release(old)
	n.aversion = nextVersion(n.aversion)
	return n.stat(), nil
}

func (t *tree) check(c *txnContext, path string, version int32) error {
	n := t.nodes[path]
	if n == nil {
		return ErrNoNode
	}
	if !c.allowed(n.acl.acl, PermRead) {
		return ErrNoAuth
	}
	if version != AnyVersion && version != n.version {
		return ErrBadVersion
	}
	return nil
}

// reap deletes a container that has had children and has none, or a TTL
// node without children whose TTL has passed since its last change. It is
// how the leader's reaper removes them, re-checked in log order.
func (t *tree) reap(c *txnContext, path string, chg *[]change) error {
	n := t.nodes[path]
	if n == nil {
		return ErrNoNode
	}
	if len(n.children) > 0 {
		return ErrNotEmpty
	}
	switch ownerKind(n.owner) {
	case kindContainer:
		if n.creates <= 0 {
			return ErrBadArguments
		}
	case kindTTL:
		if c.time-n.mtime <= n.owner&ownerTTLMask {
			return ErrBadArguments
		}
	default:
		return ErrBadArguments
	}
	parentPath, _ := splitPath(path)
	t.undo = append(t.undo, undoRecord{kind: opDelete, path: path, node: n, parent: parentPath, pzxid: t.nodes[parentPath].pzxid})
	t.drop(c, path, n, chg)
	return nil
}

// snapshotOf returns a copy of n for the undo log, sharing data and ACL,
// which are never changed in place.
func (t *tree) snapshotOf(n *znode) *znode {
	return &znode{data: n.data, acl: n.acl, version: n.version, mzxid: n.mzxid, mtime: n.mtime, aversion: n.aversion}
}

// rollback undoes the operations recorded since mark, newest first.
func (t *tree) rollback(mark int) {
	for i := len(t.undo) - 1; i >= mark; i-- {
		u := &t.undo[i]
		switch u.kind {
		case opCreate:
			n := t.nodes[u.path]
			t.deleteNode(u.path)
			t.unindex(u.path, n)
			t.acls.release(n.acl)
			_, name := splitPath(u.path)
			t.unlink(u.parent, name)
			p := t.mut(u.parent)
			p.creates = u.creates
			p.pzxid = u.pzxid
		case opDelete:
			t.acls.retain(u.node.acl)
			t.setNode(u.path, u.node)
			t.index(u.path, u.node)
			_, name := splitPath(u.path)
			t.link(u.parent, name)
			t.mut(u.parent).pzxid = u.pzxid
		case opSetData:
			n := t.mut(u.path)
			n.data, n.version, n.mzxid, n.mtime = u.node.data, u.node.version, u.node.mzxid, u.node.mtime
		case opSetACL:
			n := t.mut(u.path)
			t.acls.retain(u.node.acl)
			t.acls.release(n.acl)
			n.acl, n.aversion = u.node.acl, u.node.aversion
		}
	}
	clear(t.undo[mark:])
	t.undo = t.undo[:mark]
}

// closeSession deletes every ephemeral node of a session, in path order so
// that every replica fires the same events in the same order.
func (t *tree) closeSession(c *txnContext, session int64, chg *[]change) {
	set := t.ephemerals[session]
	if len(set) == 0 {
		return
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if n := t.nodes[p]; n != nil {
			t.drop(c, p, n, chg)
		}
	}
}

// --- reads ---

func (t *tree) get(path string, auth []ID) ([]byte, Stat, error) {
	n := t.nodes[path]
	if n == nil {
		return nil, Stat{}, ErrNoNode
	}
	if !checkACL(n.acl.acl, PermRead, auth) {
		return nil, Stat{}, ErrNoAuth
	}
	return n.data, n.stat(), nil
}

func (t *tree) exists(path string, auth []ID) (Stat, bool, error) {
	n := t.nodes[path]
	if n == nil {
		return Stat{}, false, nil
	}
	if !checkACL(n.acl.acl, PermRead, auth) {
		return Stat{}, true, ErrNoAuth
	}
	return n.stat(), true, nil
}

func (t *tree) children(path string, auth []ID) ([]string, Stat, error) {
	n := t.nodes[path]
	if n == nil {
		return nil, Stat{}, ErrNoNode
	}
	if !checkACL(n.acl.acl, PermRead, auth) {
		return nil, Stat{}, ErrNoAuth
	}
	return n.childList(), n.stat(), nil
}

func (t *tree) getACL(path string, auth []ID) ([]ACL, Stat, error) {
	n := t.nodes[path]
	if n == nil {
		return nil, Stat{}, ErrNoNode
	}
	admin := checkACL(n.acl.acl, PermAdmin, auth)
	if !admin && !checkACL(n.acl.acl, PermRead, auth) {
		return nil, Stat{}, ErrNoAuth
	}
	acl := slices.Clone(n.acl.acl)
	if !admin {
		for i := range acl {
			if acl[i].Scheme == "digest" {
				user, _, _ := strings.Cut(acl[i].ID, ":")
				acl[i].ID = user + ":x"
			}
		}
	}
	return acl, n.stat(), nil
}

// ephemeralPaths returns the session's ephemeral paths that start with
// prefix (all of them for "" or "/"), sorted.
func (t *tree) ephemeralPaths(session int64, prefix string) []string {
	if strings.TrimSpace(prefix) == "" || prefix == "/" {
		prefix = ""
	}
	var out []string
	for p := range t.ephemerals[session] {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// descendants counts every node below path.
func (t *tree) descendants(path string, auth []ID) (int, error) {
	n := t.nodes[path]
	if n == nil {
		return 0, ErrNoNode
	}
	if !checkACL(n.acl.acl, PermRead, auth) {
		return 0, ErrNoAuth
	}
	count := 0
	var walk func(p string, n *znode)
	walk = func(p string, n *znode) {
		for c := range n.children {
			cp := joinPath(p, c)
			count++
			if cn := t.nodes[cp]; cn != nil && len(cn.children) > 0 {
				walk(cp, cn)
			}
		}
	}
	walk(path, n)
	return count, nil
}
