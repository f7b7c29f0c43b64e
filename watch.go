package zk

import (
	"strconv"
	"strings"
	"sync"
)

// EventType is the kind of an Event. The node event values are
// ZooKeeper's Watcher.Event.EventType.
type EventType int32

// The event types.
const (
	EventNodeCreated            EventType = 1
	EventNodeDeleted            EventType = 2
	EventNodeDataChanged        EventType = 3
	EventNodeChildrenChanged    EventType = 4
	EventDataWatchRemoved       EventType = 5 // the watch was removed by RemoveWatches
	EventChildWatchRemoved      EventType = 6 // the watch was removed by RemoveWatches
	EventPersistentWatchRemoved EventType = 7 // the watch was removed by RemoveWatches

	// EventSession reports a change of the session's State.
	EventSession EventType = -1
	// EventNotWatching is the last event of a watch whose session ended;
	// Event.Err says why.
	EventNotWatching EventType = -2
	// EventWatchEventsLost tells a persistent watch that it missed events
	// while its session moved to another node, because that node's log of
	// recent changes no longer reached back far enough: re-read what it
	// watches. The watch goes on.
	EventWatchEventsLost EventType = -3
)

func (t EventType) String() string {
	switch t {
	case EventNodeCreated:
		return "EventNodeCreated"
	case EventNodeDeleted:
		return "EventNodeDeleted"
	case EventNodeDataChanged:
		return "EventNodeDataChanged"
	case EventNodeChildrenChanged:
		return "EventNodeChildrenChanged"
	case EventDataWatchRemoved:
		return "EventDataWatchRemoved"
	case EventChildWatchRemoved:
		return "EventChildWatchRemoved"
	case EventPersistentWatchRemoved:
		return "EventPersistentWatchRemoved"
	case EventSession:
		return "EventSession"
	case EventNotWatching:
		return "EventNotWatching"
	case EventWatchEventsLost:
		return "EventWatchEventsLost"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// State is the state of a session as its Conn sees it. The values are
// ZooKeeper's KeeperState where one exists.
type State int32

// The session states.
const (
	StateUnknown      State = -1
	StateDisconnected State = 0    // the session lives but this Conn cannot reach the ensemble
	StateConnecting   State = 1    // the Conn is establishing or resuming its session
	StateConnected    State = 3    // ZooKeeper's SyncConnected
	StateAuthFailed   State = 4    // an AddAuth failed
	StateClosed       State = 7    // the Conn was closed, and its session with it
	StateExpired      State = -112 // the ensemble expired the session
)

func (s State) String() string {
	switch s {
	case StateUnknown:
		return "StateUnknown"
	case StateDisconnected:
		return "StateDisconnected"
	case StateConnecting:
		return "StateConnecting"
	case StateConnected:
		return "StateConnected"
	case StateAuthFailed:
		return "StateAuthFailed"
	case StateClosed:
		return "StateClosed"
	case StateExpired:
		return "StateExpired"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Event is a watch notification or a session state change.
type Event struct {
	Type  EventType
	State State  // the session's state when the event was made
	Path  string // the node that changed (for recursive watches, a descendant)
	Zxid  int64  // the zxid of the change; 0 for session events
	Err   error  // why a watch stopped (EventNotWatching)

	change uint64 // which change of the node's made it: the wire server sends one per change
}

// AddWatchMode is the mode of a watch added with AddWatch, as ZooKeeper's
// AddWatchMode.
type AddWatchMode int32

// The AddWatch modes.
const (
	// AddWatchModePersistent watches one node for creation, deletion and
	// data changes, and for changes of its children, until removed.
	AddWatchModePersistent AddWatchMode = 0
	// AddWatchModePersistentRecursive watches a node and every descendant
	// for creation, deletion and data changes (never children changes),
	// until removed.
	AddWatchModePersistentRecursive AddWatchMode = 1
)

// WatcherType selects the watches RemoveWatches removes, as ZooKeeper's
// WatcherType.
type WatcherType int32

// The watcher types.
const (
	WatcherTypeChildren            WatcherType = 1 // one-shot child watches
	WatcherTypeData                WatcherType = 2 // one-shot data and exist watches
	WatcherTypeAny                 WatcherType = 3 // every watch on the path
	WatcherTypePersistent          WatcherType = 4 // persistent watches
	WatcherTypePersistentRecursive WatcherType = 5 // persistent recursive watches
)

type watchKind uint8

const (
	watchData  watchKind = iota // data and exist watches (one-shot)
	watchChild                  // child watches (one-shot)
	watchPersistent
	watchRecursive
	numWatchKinds
)

func (k watchKind) oneShot() bool { return k == watchData || k == watchChild }

// watchKinds returns the kinds a WatcherType selects.
func (t WatcherType) kinds() []watchKind {
	switch t {
	case WatcherTypeChildren:
		return []watchKind{watchChild}
	case WatcherTypeData:
		return []watchKind{watchData}
	case WatcherTypeAny:
		return []watchKind{watchData, watchChild, watchPersistent, watchRecursive}
	case WatcherTypePersistent:
		return []watchKind{watchPersistent}
	case WatcherTypePersistentRecursive:
		return []watchKind{watchRecursive}
	}
	return nil
}

// watchOwner is what watches belong to: a session's connection. Its
// identities decide which events it may see.
type watchOwner interface {
	authIDs() []ID
	// alive reports whether the owner may still get watches; it turns
	// false before the owner's watches are removed, for good.
	alive() bool
}

// watcher receives events. deliver is called with the FSM's lock held, in
// zxid order, and must never block. A one-shot watcher is removed from
// the manager before its event is delivered.
type watcher interface {
	deliver(ev Event)
	owner() watchOwner
}

type watchReg struct {
	kind watchKind
	path string
	w    watcher
}

// watchManager holds a node's watches. Watches are not replicated: they
// live on the node the session is attached to, as in ZooKeeper.
type watchManager struct {
	mu    sync.Mutex
	table [numWatchKinds]map[string]map[watcher]struct{}
	owned map[watchOwner]map[watchReg]struct{}
	count int // registrations in all tables
	// ownedBytes is the path bytes of each owner's registrations (see
	// watchCost), which the wire server limits per session.
	ownedBytes map[watchOwner]int

	seen    map[watcher]struct{} // scratch for one firing
	changes uint64               // changes triggered so far; guarded by mu

	// recent is a ring of the latest changes, for replaying the events a
	// moving session missed; every change after zxid floor is in it.
	recent []loggedChange
	head   int // index of the oldest entry
	size   int
	floor  int64
}

type loggedChange struct {
	zxid int64
	change
}

// newWatchManager returns a watch manager keeping the latest logSize
// changes for replay.
func newWatchManager(logSize ...int) *watchManager {
	m := &watchManager{owned: make(map[watchOwner]map[watchReg]struct{}), ownedBytes: make(map[watchOwner]int), seen: make(map[watcher]struct{})}
	if len(logSize) > 0 {
		m.recent = make([]loggedChange, logSize[0])
	}
	for i := range m.table {
		m.table[i] = make(map[string]map[watcher]struct{})
	}
	return m
}

// add registers w; it returns false, registering nothing, when the owner
// has ended (its watches were removed or are being removed).
func (m *watchManager) add(kind watchKind, path string, w watcher) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := w.owner()
	if !o.alive() {
		return false
	}
	set := m.table[kind][path]
	if set == nil {
		set = make(map[watcher]struct{})
		m.table[kind][path] = set
	}
	if _, ok := set[w]; ok {
		return true
	}
	set[w] = struct{}{}
	m.count++
	regs := m.owned[o]
	if regs == nil {
		regs = make(map[watchReg]struct{})
		m.owned[o] = regs
	}
	regs[watchReg{kind, path, w}] = struct{}{}
	m.ownedBytes[o] += watchCost(path)
	return true
}

// disown drops r from its owner's registrations; m.mu is held.
func (m *watchManager) disown(o watchOwner, r watchReg) {
	regs := m.owned[o]
	if regs == nil {
		return
	}
	if _, ok := regs[r]; !ok {
		return
	}
	delete(regs, r)
	m.ownedBytes[o] -= watchCost(r.path)
	if len(regs) == 0 {
		delete(m.owned, o)
		delete(m.ownedBytes, o)
	}
}

// usage returns how many registrations o holds and the bytes of their
// paths, for the limits on a session's watches.
func (m *watchManager) usage(o watchOwner) (n, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.owned[o]), m.ownedBytes[o]
}

// unregister removes one registration; m.mu is held.
func (m *watchManager) unregister(r watchReg) {
	if set := m.table[r.kind][r.path]; set != nil {
		if _, ok := set[r.w]; ok {
			delete(set, r.w)
			m.count--
			if len(set) == 0 {
				delete(m.table[r.kind], r.path)
			}
		}
	}
	m.disown(r.w.owner(), r)
}

// remove removes the owner's watches of the given kinds on path and
// returns them; none found is ErrNoWatcher. It looks at the watchers of
// path only, not at all of the owner's, which may be millions.
func (m *watchManager) remove(o watchOwner, path string, kinds []watchKind) ([]watchReg, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []watchReg
	for _, k := range kinds {
		for w := range m.table[k][path] {
			if w.owner() == o {
				out = append(out, watchReg{k, path, w})
			}
		}
	}
	if len(out) == 0 {
		return nil, ErrNoWatcher
	}
	for _, r := range out {
		m.unregister(r)
	}
	return out, nil
}

// removeOwner removes every watch of o and returns them.
func (m *watchManager) removeOwner(o watchOwner) []watchReg {
	m.mu.Lock()
	defer m.mu.Unlock()
	regs := m.owned[o]
	out := make([]watchReg, 0, len(regs))
	for r := range regs {
		out = append(out, r)
	}
	for _, r := range out {
		m.unregister(r)
	}
	return out
}

// has reports whether o holds a watch of one of kinds on path. Like
// remove, it looks at the watchers of path only.
func (m *watchManager) has(o watchOwner, path string, kinds []watchKind) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range kinds {
		for w := range m.table[k][path] {
			if w.owner() == o {
				return true
			}
		}
	}
	return false
}

// trigger fires the watches a change sets off, following ZooKeeper's
// trigger table. It is called with the FSM's lock held, once per change,
// in the order the changes were applied.
func (m *watchManager) trigger(c *change, zxid int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record(c, zxid)
	m.changes++
	if m.count == 0 {
		return
	}
	parent, _ := splitPath(c.path)
	// One change tells a watcher about a node at most once, however many of
	// its watches match; the parent's children event is a separate one.
	clear(m.seen)
	defer clear(m.seen)
	switch c.typ {
	case EventNodeCreated:
		m.fire(c.path, c.typ, zxid, c.acl, watchData, watchPersistent)
		m.fireRecursive(c.path, c.typ, zxid, c.acl)
		clear(m.seen)
		m.fire(parent, EventNodeChildrenChanged, zxid, c.pacl, watchChild, watchPersistent)
	case EventNodeDeleted:
		m.fire(c.path, c.typ, zxid, c.acl, watchData, watchChild, watchPersistent)
		m.fireRecursive(c.path, c.typ, zxid, c.acl)
		clear(m.seen)
		m.fire(parent, EventNodeChildrenChanged, zxid, c.pacl, watchChild, watchPersistent)
	case EventNodeDataChanged:
		m.fire(c.path, c.typ, zxid, c.acl, watchData, watchPersistent)
		m.fireRecursive(c.path, c.typ, zxid, c.acl)
	}
}

// record adds a change to the ring of recent changes; m.mu is held.
func (m *watchManager) record(c *change, zxid int64) {
	if len(m.recent) == 0 {
		m.floor = zxid
		return
	}
	if m.size == len(m.recent) {
		m.floor = m.recent[m.head].zxid
		m.recent[m.head] = loggedChange{}
		m.head = (m.head + 1) % len(m.recent)
		m.size--
	}
	m.recent[(m.head+m.size)%len(m.recent)] = loggedChange{zxid, *c}
	m.size++
}

// watching reports whether any watch is registered.
func (m *watchManager) watching() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count > 0
}

// resetLog forgets the recent changes: the state jumped to zxid (a
// snapshot was restored), so nothing before it can be replayed.
func (m *watchManager) resetLog(zxid int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.recent)
	m.head, m.size, m.floor = 0, 0, zxid
}

// replay returns the events a persistent (or, with recursive, a
// persistent recursive) watch on path would have received for the
// changes after zxid, and false when the ring no longer reaches back to
// zxid. ids filter out nodes the watcher may not read.
func (m *watchManager) replay(path string, recursive bool, after int64, ids []ID) ([]Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if after < m.floor {
		return nil, false
	}
	var out []Event
	for i := 0; i < m.size; i++ {
		lc := &m.recent[(m.head+i)%len(m.recent)]
		if lc.zxid <= after {
			continue
		}
		if lc.path == path || (recursive && isDescendant(lc.path, path)) {
			if checkACL(lc.acl, PermRead, ids) {
				out = append(out, Event{Type: lc.typ, State: StateConnected, Path: lc.path, Zxid: lc.zxid})
			}
		}
		if !recursive && lc.typ != EventNodeDataChanged {
			if parent, _ := splitPath(lc.path); parent == path && lc.path != "/" && checkACL(lc.pacl, PermRead, ids) {
				out = append(out, Event{Type: EventNodeChildrenChanged, State: StateConnected, Path: path, Zxid: lc.zxid})
			}
		}
	}
	return out, true
}

func isDescendant(p, ancestor string) bool {
	if ancestor == "/" {
		return p != "/"
	}
	return len(p) > len(ancestor) && p[len(ancestor)] == '/' && p[:len(ancestor)] == ancestor
}

// fire delivers one event to the watches of the given kinds on path,
// skipping watchers already in m.seen, and consumes the one-shot ones. Watchers that
// may not read the node lose the event (and the one-shot watch).
func (m *watchManager) fire(path string, typ EventType, zxid int64, acl []ACL, kinds ...watchKind) {
	ev := Event{Type: typ, State: StateConnected, Path: path, Zxid: zxid, change: m.changes}
	for _, k := range kinds {
		set := m.table[k][path]
		if len(set) == 0 {
			continue
		}
		if k.oneShot() {
			delete(m.table[k], path)
			m.count -= len(set)
		}
		for w := range set {
			if k.oneShot() {
				m.disown(w.owner(), watchReg{k, path, w})
			}
			if _, dup := m.seen[w]; dup {
				continue
			}
			m.seen[w] = struct{}{}
			if checkACL(acl, PermRead, w.owner().authIDs()) {
				w.deliver(ev)
			}
		}
	}
}

// fireRecursive delivers to the recursive watches on path and on each of
// its ancestors.
func (m *watchManager) fireRecursive(path string, typ EventType, zxid int64, acl []ACL) {
	if len(m.table[watchRecursive]) == 0 {
		return
	}
	ev := Event{Type: typ, State: StateConnected, Path: path, Zxid: zxid, change: m.changes}
	for p := path; ; {
		for w := range m.table[watchRecursive][p] {
			if _, dup := m.seen[w]; dup {
				continue
			}
			m.seen[w] = struct{}{}
			if checkACL(acl, PermRead, w.owner().authIDs()) {
				w.deliver(ev)
			}
		}
		if p == "/" {
			return
		}
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			p = p[:i]
		} else {
			p = "/"
		}
	}
}

// mailbox is a channel of events that never blocks its sender: events
// that do not fit in the channel wait in a backlog that a short-lived
// goroutine feeds into the channel, in order. Events that fit are in the
// channel the moment they are pushed, so a reader sees an event before it
// sees any read that reflects the change.
type mailbox struct {
	ch   chan Event
	stop <-chan struct{} // closed when the node shuts down

	mu      sync.Mutex
	backlog []Event
	pumping bool
	closing bool // close ch once the backlog is delivered
	closed  bool
}

func newMailbox(size int, stop <-chan struct{}) *mailbox {
	return &mailbox{ch: make(chan Event, size), stop: stop}
}

// push adds ev; with last set, the channel closes after it.
func (b *mailbox) push(ev Event, last bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.closing {
		return
	}
	b.closing = last
	if !b.pumping {
		select {
		case b.ch <- ev:
			if last {
				b.closed = true
				close(b.ch)
			}
			return
		default:
		}
	}
	b.backlog = append(b.backlog, ev)
	if !b.pumping {
		b.pumping = true
		go b.pump()
	}
}

// end closes the channel after what is already queued.
func (b *mailbox) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.closing {
		return
	}
	b.closing = true
	if !b.pumping {
		b.closed = true
		close(b.ch)
	}
}

func (b *mailbox) pump() {
	for {
		b.mu.Lock()
		if len(b.backlog) == 0 {
			b.pumping = false
			if b.closing && !b.closed {
				b.closed = true
				close(b.ch)
			}
			b.mu.Unlock()
			return
		}
		ev := b.backlog[0]
		b.mu.Unlock()
		select {
		case b.ch <- ev:
			b.mu.Lock()
			b.backlog[0] = Event{}
			b.backlog = b.backlog[1:]
			b.mu.Unlock()
		case <-b.stop:
			b.mu.Lock()
			b.backlog = nil
			b.pumping = false
			if !b.closed {
				b.closed = true
				close(b.ch)
			}
			b.mu.Unlock()
			return
		}
	}
}
