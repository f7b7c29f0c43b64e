package zk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/zkraft/zk/internal/jute"
	"github.com/zkraft/zk/internal/wire"
)

// A Conn made by Dial speaks ZooKeeper's wire protocol to an ensemble —
// zkraft nodes or Apache ZooKeeper — through internal/wire's session
// engine, which moves the session between servers, resumes it and sets
// its watches again. Watches are kept on the client side, as ZooKeeper's
// own clients keep them: the server sends one notification per path and
// type, and the Conn hands it to every watch of the Conn it matches.

// remote is a Dial'ed Conn's link to its ensemble.
type remote struct {
	c  *Conn
	cl *wire.Client

	mu      sync.Mutex
	watches map[remoteKey]map[*chanWatch]struct{} // guarded by mu
	auth    []jute.AuthPacket                     // credentials to send again after a reconnect

	stop      chan struct{} // ends the delivery of events nobody reads; closed by closeStop
	stopOnce  sync.Once
	touchStop chan struct{} // ends the out-of-touch watcher
	wg        sync.WaitGroup
}

// remoteKey is a kind of watch on a path. Data watches set by Exists on a
// missing node are kept apart, because a resumed session registers them
// as exist watches.
type remoteKey struct {
	kind  watchKind
	exist bool
	path  string
}

// WithDialer makes Dial open its connections with dial, for TLS or a
// custom network; the default is TCP.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) ConnectOption {
	return func(o *connectOptions) { o.dialer = dial }
}

// Dial opens a session on the ZooKeeper ensemble at addrs ("host:port",
// each a server's client port) and returns a Conn with the same API as
// Node.Connect's. It works with zkraft nodes and with Apache ZooKeeper.
// The Conn moves to another address when its server fails, resuming the
// session and setting its watches again; while it has no server its State
// is StateDisconnected, and operations wait for one (bounded by their
// ctx) or fail with ErrConnectionLoss once none has answered for the
// session timeout. WithSessionTimeout, WithSession, WithAuth and
// WithDialer apply; WithFailover does not.
func Dial(ctx context.Context, addrs []string, opts ...ConnectOption) (*Conn, error) {
	o := connectOptions{timeout: defaultSessionTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.failover) > 0 {
		return nil, opErr("connect", "", fmt.Errorf("%w: WithFailover is for in-process Conns", ErrBadArguments))
	}
	r := &remote{watches: map[remoteKey]map[*chanWatch]struct{}{}, stop: make(chan struct{}), touchStop: make(chan struct{})}
	c := &Conn{done: make(chan struct{}), remote: r}
	r.c = c
	c.pumpStop = r.stop
	c.events = newMailbox(16, r.stop)
	none := []ID{}
	c.auth.Store(&none)
	c.setState(StateConnecting)
	cl, err := wire.Dial(ctx, wire.ClientConfig{
		Addrs:          addrs,
		SessionTimeout: o.timeout,
		SessionID:      o.resumeID,
		Passwd:         o.password,
		Dialer:         o.dialer,
		OnEvent:        r.onEvent,
		OnState:        r.onState,
		Watches:        r.registered,
		Auth:           r.credentials,
	})
	if err != nil {
		// The engine may have reported Closed, and end be on its way.
		r.closeStop()
		return nil, opErr("connect", "", remoteErr(err))
	}
	r.cl = cl
	c.id, c.password, c.timeout = cl.SessionID(), cl.Passwd(), cl.Timeout()
	if cl.State() == wire.Connected {
		c.setState(StateConnected)
		c.events.push(Event{Type: EventSession, State: StateConnected}, false)
	}
	for _, a := range o.auth {
		if err := r.addAuth(ctx, a.scheme, a.auth); err != nil {
			r.shutdown(context.Background())
			return nil, opErr("connect", "", errors.Unwrap(err))
		}
	}
	r.wg.Go(r.watchTouch)
	return c, nil
}

// remoteErr turns the engine's errors into the package's sentinels.
func remoteErr(err error) error {
	var ce wire.CodeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, wire.ErrPacketTooLarge):
		// The request may or may not have been carried out.
		return fmt.Errorf("%w: %w", ErrConnectionLoss, err)
	case errors.As(err, &ce):
		e := ErrorForCode(Code(ce.Code))
		switch {
		case e == nil:
		case err == error(ce):
			return e // a server's reply code
		default:
			return fmt.Errorf("%w: %v", e, err) // the engine's, with its reason
		}
	}
	return fmt.Errorf("%w: %v", ErrConnectionLoss, err)
}

// do sends one request and turns its error into the package's.
func (r *remote) do(ctx context.Context, op int32, req, resp jute.Record) (int64, error) {
	z, err := r.cl.Do(ctx, op, req, resp)
	return z, remoteErr(err)
}

// onState follows the engine's state. It runs on the engine's goroutine
// and must not wait for it.
func (r *remote) onState(s wire.State) {
	c := r.c
	switch s {
	case wire.Connected, wire.ConnectedReadOnly:
		if c.State() != StateConnected {
			c.setState(StateConnected)
			c.events.push(Event{Type: EventSession, State: StateConnected}, false)
		}
	case wire.Disconnected:
		if c.State() == StateConnected {
			c.setState(StateDisconnected)
			c.events.push(Event{Type: EventSession, State: StateDisconnected}, false)
		}
	case wire.Expired:
		go r.end(StateExpired, ErrSessionExpired)
	case wire.AuthFailed:
		go r.end(StateAuthFailed, ErrAuthFailed)
	case wire.Closed:
		go r.end(StateClosed, ErrClosing)
	}
}

// end ends the Conn: its watches get EventNotWatching and its events
// channel the final state.
func (r *remote) end(state State, reason error) {
	c := r.c
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	c.reason.Store(&reason)
	c.setState(state)
	r.mu.Lock()
	all := r.watches
	r.watches = map[remoteKey]map[*chanWatch]struct{}{}
	r.mu.Unlock()
	for k, ws := range all {
		for w := range ws {
			w.send(Event{Type: EventNotWatching, State: state, Path: k.path, Err: reason}, true)
		}
	}
	c.events.push(Event{Type: EventSession, State: state}, true)
	close(c.done)
	c.lostTouch(-1)
	close(r.touchStop)
	// Events queued for a slow reader outlive the Conn for a while, as
	// they outlive an in-process Conn until its node closes.
	time.AfterFunc(c.timeout, r.closeStop)
}

// closeStop closes r.stop once: a failed Dial and end both may.
func (r *remote) closeStop() { r.stopOnce.Do(func() { close(r.stop) }) }

// shutdown closes the session and waits for the engine.
func (r *remote) shutdown(ctx context.Context) error {
	err := r.cl.Close(ctx)
	<-r.cl.Done()
	r.end(StateClosed, ErrClosing)
	r.wg.Wait()
	return remoteErr(err)
}

// close is Conn.Close for a Dial'ed Conn.
func (r *remote) close() error {
	if r.c.ended.Load() {
		r.wg.Wait()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.c.timeout)
	defer cancel()
	if err := r.shutdown(ctx); err != nil && !errors.Is(err, ErrClosing) && !errors.Is(err, ErrSessionExpired) {
		return opErr("close", "", err)
	}
	return nil
}

// watchTouch closes OutOfTouch channels while the Conn hears nothing from
// the ensemble: the session may be expiring meanwhile.
func (r *remote) watchTouch() {
	t := time.NewTicker(max(r.c.timeout/20, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.touchStop:
			return
		case <-t.C:
			if r.cl.State() != wire.Connected {
				r.c.lostTouch(time.Since(r.cl.LastHeard()))
			}
		}
	}
}

// credentials are the auth packets to send again after a reconnect.
func (r *remote) credentials() []jute.AuthPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jute.AuthPacket(nil), r.auth...)
}

// registered lists the watches to set again after a reconnect.
func (r *remote) registered() (int64, jute.SetWatches2) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sw jute.SetWatches2
	for k, ws := range r.watches {
		if len(ws) == 0 {
			continue
		}
		switch {
		case k.kind == watchData && k.exist:
			sw.ExistWatches = append(sw.ExistWatches, k.path)
		case k.kind == watchData:
			sw.DataWatches = append(sw.DataWatches, k.path)
		case k.kind == watchChild:
			sw.ChildWatches = append(sw.ChildWatches, k.path)
		case k.kind == watchPersistent:
			sw.PersistentWatches = append(sw.PersistentWatches, k.path)
		case k.kind == watchRecursive:
			sw.PersistentRecursiveWatches = append(sw.PersistentRecursiveWatches, k.path)
		}
	}
	if len(r.watches) == 0 {
		return 0, sw // also while Dial has not yet set r.cl
	}
	return r.cl.LastZxid(), sw
}

// add registers w under k; it runs on the engine's reader, when the reply
// that set the watch arrives, so that no notification for it comes first.
func (r *remote) add(k remoteKey, w *chanWatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c.ended.Load() {
		return
	}
	ws := r.watches[k]
	if ws == nil {
		ws = map[*chanWatch]struct{}{}
		r.watches[k] = ws
	}
	ws[w] = struct{}{}
}

// onEvent hands a notification to the watches it matches, as the Java
// client dispatches: NodeCreated and NodeDataChanged to data and exist
// watches, NodeChildrenChanged to child watches, NodeDeleted to all three;
// persistent watches on the path and recursive ones on it or above it.
func (r *remote) onEvent(we jute.WatcherEvent, zxid int64) {
	ev := Event{Type: EventType(we.Type), State: StateConnected, Path: we.Path, Zxid: zxid}
	if zxid < 0 {
		ev.Zxid = 0 // ZooKeeper 3.8 sends -1
	}
	var fire []*chanWatch
	take := func(k remoteKey) {
		for w := range r.watches[k] {
			fire = append(fire, w)
		}
		delete(r.watches, k)
	}
	r.mu.Lock()
	switch ev.Type {
	case EventNodeCreated, EventNodeDataChanged:
		take(remoteKey{watchData, false, ev.Path})
		take(remoteKey{watchData, true, ev.Path})
	case EventNodeChildrenChanged:
		take(remoteKey{watchChild, false, ev.Path})
	case EventNodeDeleted:
		take(remoteKey{watchData, false, ev.Path})
		take(remoteKey{watchData, true, ev.Path})
		take(remoteKey{watchChild, false, ev.Path})
	}
	for w := range r.watches[remoteKey{watchPersistent, false, ev.Path}] {
		fire = append(fire, w)
	}
	if ev.Type != EventNodeChildrenChanged {
		for p := ev.Path; ; p = parentPath(p) {
			for w := range r.watches[remoteKey{watchRecursive, false, p}] {
				fire = append(fire, w)
			}
			if p == "/" {
				break
			}
		}
	}
	r.mu.Unlock()
	for _, w := range fire {
		w.deliver(ev)
	}
}

func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// watchThen returns the callback that registers a watch of kind on path
// once the server's reply says it was set, and the watch's channel.
func (r *remote) watchThen(kind watchKind, path string) (func(code int32), *chanWatch) {
	w := r.c.newWatch(kind.oneShot())
	w.kind = kind
	return func(code int32) {
		switch {
		case code == wire.CodeOK:
			r.add(remoteKey{kind, false, path}, w)
		case code == wire.CodeNoNode && kind == watchData:
			w.exist = true
			r.add(remoteKey{kind, true, path}, w)
		}
	}, w
}

func (r *remote) get(ctx context.Context, path string, watch bool) ([]byte, *Stat, <-chan Event, error) {
	if err := validatePath(path); err != nil {
		return nil, nil, nil, opErr("get", path, err)
	}
	var resp jute.GetDataResponse
	then, w := r.maybeWatch(watch, watchData, path)
	_, err := r.cl.DoThen(ctx, jute.OpGetData, &jute.PathWatchRequest{Path: path, Watch: watch}, &resp, then)
	if err != nil {
		return nil, nil, nil, opErr("get", path, remoteErr(err))
	}
	st := fromJuteStat(&resp.Stat)
	return resp.Data, &st, w.ch(), nil
}

// maybeWatch is watchThen when watch is set; else it sets nothing.
func (r *remote) maybeWatch(watch bool, kind watchKind, path string) (func(int32), *chanWatch) {
	if !watch {
		return nil, &chanWatch{}
	}
	return r.watchThen(kind, path)
}

func (r *remote) exists(ctx context.Context, path string, watch bool) (bool, *Stat, <-chan Event, error) {
	if err := validatePath(path); err != nil {
		return false, nil, nil, opErr("exists", path, err)
	}
	var resp jute.StatResponse
	then, w := r.maybeWatch(watch, watchData, path)
	_, err := r.cl.DoThen(ctx, jute.OpExists, &jute.PathWatchRequest{Path: path, Watch: watch}, &resp, then)
	if errors.Is(err, wire.CodeError{Code: wire.CodeNoNode}) {
		return false, nil, w.ch(), nil
	}
	if err != nil {
		return false, nil, nil, opErr("exists", path, remoteErr(err))
	}
	st := fromJuteStat(&resp.Stat)
	return true, &st, w.ch(), nil
}

func (r *remote) children(ctx context.Context, path string, watch bool) ([]string, *Stat, <-chan Event, error) {
	if err := validatePath(path); err != nil {
		return nil, nil, nil, opErr("children", path, err)
	}
	var resp jute.Children2Response
	then, w := r.maybeWatch(watch, watchChild, path)
	_, err := r.cl.DoThen(ctx, jute.OpGetChildren2, &jute.PathWatchRequest{Path: path, Watch: watch}, &resp, then)
	if err != nil {
		return nil, nil, nil, opErr("children", path, remoteErr(err))
	}
	st := fromJuteStat(&resp.Stat)
	names := resp.Children
	if names == nil {
		names = []string{}
	}
	return names, &st, w.ch(), nil
}

func (r *remote) getACL(ctx context.Context, path string) ([]ACL, *Stat, error) {
	if err := validatePath(path); err != nil {
		return nil, nil, opErr("getACL", path, err)
	}
	var resp jute.GetACLResponse
	if _, err := r.do(ctx, jute.OpGetACL, &jute.PathRequest{Path: path}, &resp); err != nil {
		return nil, nil, opErr("getACL", path, err)
	}
	st := fromJuteStat(&resp.Stat)
	return fromJuteACL(resp.ACL), &st, nil
}

func (r *remote) ephemerals(ctx context.Context, prefix string) ([]string, error) {
	var resp jute.StringsResponse
	if _, err := r.do(ctx, jute.OpGetEphemerals, &jute.PathRequest{Path: prefix}, &resp); err != nil {
		return nil, opErr("getEphemerals", prefix, err)
	}
	if resp.Strings == nil {
		return []string{}, nil
	}
	return resp.Strings, nil
}

func (r *remote) allChildrenNumber(ctx context.Context, path string) (int, error) {
	if err := validatePath(path); err != nil {
		return 0, opErr("getAllChildrenNumber", path, err)
	}
	var resp jute.IntResponse
	if _, err := r.do(ctx, jute.OpGetAllChildrenNumber, &jute.PathRequest{Path: path}, &resp); err != nil {
		return 0, opErr("getAllChildrenNumber", path, err)
	}
	return int(resp.Value), nil
}

func (r *remote) addWatch(ctx context.Context, path string, mode AddWatchMode) (<-chan Event, error) {
	if err := validatePath(path); err != nil {
		return nil, opErr("addWatch", path, err)
	}
	kind := watchPersistent
	switch mode {
	case AddWatchModePersistent:
	case AddWatchModePersistentRecursive:
		kind = watchRecursive
	default:
		return nil, opErr("addWatch", path, ErrBadArguments)
	}
	then, w := r.watchThen(kind, path)
	if _, err := r.cl.DoThen(ctx, jute.OpAddWatch, &jute.AddWatchRequest{Path: path, Mode: int32(mode)}, nil, then); err != nil {
		return nil, opErr("addWatch", path, remoteErr(err))
	}
	return w.ch(), nil
}

func (r *remote) removeWatches(ctx context.Context, path string, typ WatcherType) error {
	kinds := typ.kinds()
	if kinds == nil {
		return opErr("removeWatches", path, ErrBadArguments)
	}
	if err := validatePath(path); err != nil {
		return opErr("removeWatches", path, err)
	}
	if _, err := r.do(ctx, jute.OpRemoveWatches, &jute.WatchesRequest{Path: path, Type: int32(typ)}, nil); err != nil {
		return opErr("removeWatches", path, err)
	}
	var gone []*chanWatch
	r.mu.Lock()
	for _, k := range kinds {
		for _, exist := range []bool{false, true} {
			key := remoteKey{k, exist, path}
			for w := range r.watches[key] {
				gone = append(gone, w)
			}
			delete(r.watches, key)
		}
	}
	r.mu.Unlock()
	for _, w := range gone {
		et := EventPersistentWatchRemoved
		switch w.kind {
		case watchData:
			et = EventDataWatchRemoved
		case watchChild:
			et = EventChildWatchRemoved
		}
		w.send(Event{Type: et, State: StateConnected, Path: path}, true)
	}
	return nil
}

func (r *remote) addAuth(ctx context.Context, scheme string, auth []byte) error {
	if _, err := r.do(ctx, jute.OpAuth, &jute.AuthPacket{Scheme: scheme, Auth: auth}, nil); err != nil {
		return opErr("addAuth", scheme, err)
	}
	r.mu.Lock()
	r.auth = append(r.auth, jute.AuthPacket{Scheme: scheme, Auth: append([]byte(nil), auth...)})
	r.mu.Unlock()
	return nil
}

func (r *remote) sync(ctx context.Context, path string) error {
	if err := validatePath(path); err != nil {
		return opErr("sync", path, err)
	}
	if _, err := r.do(ctx, jute.OpSync, &jute.PathRequest{Path: path}, &jute.PathResponse{}); err != nil {
		return opErr("sync", path, err)
	}
	return nil
}

// write sends ops as one request: a single operation as its own opcode,
// else a multi. It returns as Conn.write does.
func (r *remote) write(ctx context.Context, multi bool, ops []Op) ([]opResult, int, error) {
	if !multi && len(ops) == 1 {
		res, err := r.write1(ctx, &ops[0])
		if err != nil {
			return []opResult{{err: err}}, 0, err
		}
		return []opResult{res}, -1, nil
	}
	req := jute.MultiRequest{Ops: make([]jute.MultiOp, len(ops))}
	for i := range ops {
		op, rec, err := remoteRequest(&ops[i], false)
		if err != nil {
			return failedResults(len(ops), i, err), i, err
		}
		req.Ops[i] = jute.MultiOp{Type: op, Req: rec}
	}
	var resp jute.MultiResponse
	if _, err := r.do(ctx, jute.OpMulti, &req, &resp); err != nil {
		return nil, -1, err
	}
	if len(resp.Results) != len(ops) {
		return nil, -1, fmt.Errorf("%w: %d results for %d operations", ErrMarshalling, len(resp.Results), len(ops))
	}
	out := make([]opResult, len(ops))
	failed := -1
	for i, res := range resp.Results {
		if res.Type == jute.OpError {
			if failed < 0 && res.Err != 0 && res.Err != wire.CodeRuntimeInconsistency {
				failed = i
			}
			continue
		}
		out[i] = opResult{path: res.Path, stat: fromJuteStat(&res.Stat)}
	}
	if failed < 0 {
		return out, -1, nil
	}
	for i, res := range resp.Results {
		switch {
		case i < failed:
			out[i].err = ErrRolledBack
		case i == failed:
			out[i].err = ErrorForCode(Code(res.Err))
		default:
			out[i].err = ErrRuntimeInconsistency
		}
	}
	return out, failed, out[failed].err
}

// write1 sends one write with its own opcode.
func (r *remote) write1(ctx context.Context, o *Op) (opResult, error) {
	op, rec, err := remoteRequest(o, true)
	if err != nil {
		return opResult{}, err
	}
	switch op {
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		var resp jute.Create2Response
		if _, err := r.do(ctx, op, rec, &resp); err != nil {
			return opResult{}, err
		}
		return opResult{path: resp.Path, stat: fromJuteStat(&resp.Stat)}, nil
	case jute.OpSetData, jute.OpSetACL:
		var resp jute.StatResponse
		if _, err := r.do(ctx, op, rec, &resp); err != nil {
			return opResult{}, err
		}
		return opResult{stat: fromJuteStat(&resp.Stat)}, nil
	default:
		_, err := r.do(ctx, op, rec, nil)
		return opResult{}, err
	}
}

// remoteRequest is an Op's opcode and request record. Creates use the
// opcodes that return a Stat. Paths, modes and TTLs are checked here as
// an in-process Conn checks them (and as ZooKeeper's Java client does),
// so that a Dial'ed Conn refuses the same calls whatever the server.
//
// A multi's ops are left to the server (local false), which decides as
// ZooKeeper does which of several failing ops is reported: the first in
// order, whether it fails against the tree or on its arguments.
func remoteRequest(o *Op, local bool) (int32, jute.Record, error) {
	check := o.path
	if o.kind == opCreate && o.mode.isSequential() {
		check += "0"
	}
	if err := validatePath(check); local && err != nil {
		return 0, nil, err
	}
	switch o.kind {
	case opCreate:
		acl := toJuteACL(o.acl)
		switch {
		case local && !o.mode.valid():
			return 0, nil, ErrBadArguments
		case local && o.mode.isTTL() && (o.ttl.Milliseconds() <= 0 || o.ttl.Milliseconds() > MaxTTL):
			return 0, nil, ErrBadArguments
		case o.mode.isTTL():
			return jute.OpCreateTTL, &jute.CreateTTLRequest{Path: o.path, Data: o.data, ACL: acl, Flags: int32(o.mode), TTL: o.ttl.Milliseconds()}, nil
		case o.ttl != 0:
			return 0, nil, ErrBadArguments
		case o.mode == FlagContainer:
			return jute.OpCreateContainer, &jute.CreateRequest{Path: o.path, Data: o.data, ACL: acl, Flags: int32(o.mode)}, nil
		}
		return jute.OpCreate2, &jute.CreateRequest{Path: o.path, Data: o.data, ACL: acl, Flags: int32(o.mode)}, nil
	case opDelete:
		if local && isSystemPath(o.path) {
			return 0, nil, ErrBadArguments
		}
		return jute.OpDelete, &jute.DeleteRequest{Path: o.path, Version: o.version}, nil
	case opSetData:
		return jute.OpSetData, &jute.SetDataRequest{Path: o.path, Data: o.data, Version: o.version}, nil
	case opSetACL:
		return jute.OpSetACL, &jute.SetACLRequest{Path: o.path, ACL: toJuteACL(o.acl), Version: o.version}, nil
	case opCheck:
		return jute.OpCheck, &jute.CheckVersionRequest{Path: o.path, Version: o.version}, nil
	}
	return 0, nil, ErrBadArguments
}

func fromJuteStat(s *jute.Stat) Stat {
	return Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength,
		NumChildren: s.NumChildren, Pzxid: s.Pzxid,
	}
}

func (r *remote) reconfig(ctx context.Context, joining, leaving, newMembers string, fromConfig int64) ([]byte, *Stat, error) {
	var resp jute.GetDataResponse
	req := &jute.ReconfigRequest{JoiningServers: joining, LeavingServers: leaving, NewMembers: newMembers, CurConfigID: fromConfig}
	if _, err := r.do(ctx, jute.OpReconfig, req, &resp); err != nil {
		return nil, nil, opErr("reconfig", configPath, err)
	}
	st := fromJuteStat(&resp.Stat)
	return resp.Data, &st, nil
}
