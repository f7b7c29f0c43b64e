package zk

import (
	"errors"
	"strings"
	"time"

	"github.com/zkraft/zk/internal/jute"
)

// wireResult is what a request comes to: a reply, and what goes with it.
type wireResult struct {
	code Code
	body jute.Record // written only when code is CodeOK
	// zxid is the reply header's zxid when the request knows it (a
	// write's own); else the zxid of the state the request saw.
	zxid int64
	// before are notifications to send just before the reply (the
	// catch-up events of setWatches).
	before []Event
	// flushTo: events of changes up to it go before the reply.
	flushTo int64
	// authReply: the header carries zxid 0, as ZooKeeper's auth replies.
	authReply bool
	// close: after the reply, the connection closes.
	close error
}

func wireOK(body jute.Record) wireResult { return wireResult{body: body} }

// wireErr turns a Conn error into its reply. Errors that mean this
// connection can no longer speak for the session close it, as ZooKeeper
// does: the client's pending requests then fail with connection loss and
// it reconnects, resuming the session if it still lives.
func wireErr(err error) wireResult {
	code := CodeOf(err)
	r := wireResult{code: code}
	switch {
	case errors.Is(err, ErrConnectionLoss), errors.Is(err, ErrClosing),
		errors.Is(err, ErrSessionExpired), errors.Is(err, ErrSessionMoved):
		r.close = err
	}
	if code == CodeOK {
		r.code = CodeSystemError
	}
	return r
}

// dispatch runs one request.
func (w *wireConn) dispatch(h jute.RequestHeader, d *jute.Decoder) wireResult {
	c, ctx := w.conn, w.ctx
	decode := func(r jute.Record) bool {
		r.Decode(d)
		return d.Err() == nil
	}
	bad := wireResult{code: CodeMarshallingError}
	switch h.Type {
	case jute.OpPing:
		return wireResult{zxid: w.n.LastZxid()}

	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		var req jute.CreateTTLRequest
		if h.Type == jute.OpCreateTTL {
			if !decode(&req) {
				return bad
			}
		} else {
			var cr jute.CreateRequest
			if !decode(&cr) {
				return bad
			}
			req = jute.CreateTTLRequest{Path: cr.Path, Data: cr.Data, ACL: cr.ACL, Flags: cr.Flags, TTL: -1}
		}
		op, err := w.createOp(h.Type, &req)
		if err != nil {
			return wireErr(err)
		}
		rs, _, err := c.write(ctx, false, []Op{op})
		if err == nil {
			err = rs[0].err
		}
		if err != nil {
			return wireErr(err)
		}
		if h.Type == jute.OpCreate {
			return wireOK(&jute.PathResponse{Path: rs[0].path})
		}
		return wireOK(&jute.Create2Response{Path: rs[0].path, Stat: toJuteStat(&rs[0].stat)})

	case jute.OpDelete:
		var req jute.DeleteRequest
		if !decode(&req) {
			return bad
		}
		if err := c.Delete(ctx, req.Path, req.Version); err != nil {
			return wireErr(err)
		}
		return wireOK(nil)

	case jute.OpDeleteContainer:
		var req jute.DeleteContainerRequest
		if !decode(&req) {
			return bad
		}
		return w.deleteContainer(string(req.Path))

	case jute.OpExists:
		var req jute.PathWatchRequest
		if !decode(&req) {
			return bad
		}
		watch, err := w.wantWatch(req.Watch, watchData, req.Path)
		if err != nil {
			return wireErr(err)
		}
		ok, st, _, err := c.exists(ctx, req.Path, watch)
		w.watchSet(watch, err, watchData, req.Path)
		switch {
		case err != nil:
			return wireErr(err)
		case !ok:
			return wireResult{code: CodeNoNode}
		}
		return wireOK(&jute.StatResponse{Stat: toJuteStat(st)})

	case jute.OpGetData:
		var req jute.PathWatchRequest
		if !decode(&req) {
			return bad
		}
		watch, err := w.wantWatch(req.Watch, watchData, req.Path)
		if err != nil {
			return wireErr(err)
		}
		data, st, _, err := c.get(ctx, req.Path, watch)
		w.watchSet(watch, err, watchData, req.Path)
		if err != nil {
			return wireErr(err)
		}
		return wireOK(&jute.GetDataResponse{Data: data, Stat: toJuteStat(st)})

	case jute.OpSetData:
		var req jute.SetDataRequest
		if !decode(&req) {
			return bad
		}
		st, err := c.Set(ctx, req.Path, req.Data, req.Version)
		if err != nil {
			return wireErr(err)
		}
		return wireOK(&jute.StatResponse{Stat: toJuteStat(st)})

	case jute.OpGetACL:
		var req jute.PathRequest
		if !decode(&req) {
			return bad
		}
		acl, st, err := c.GetACL(ctx, req.Path)
		if err != nil {
			return wireErr(err)
		}
		return wireOK(&jute.GetACLResponse{ACL: toJuteACL(acl), Stat: toJuteStat(st)})

	case jute.OpSetACL:
		var req jute.SetACLRequest
		if !decode(&req) {
			return bad
		}
		st, err := c.SetACL(ctx, req.Path, fromJuteACL(req.ACL), req.Version)
		if err != nil {
			return wireErr(err)
		}
		return wireOK(&jute.StatResponse{Stat: toJuteStat(st)})

	case jute.OpGetChildren, jute.OpGetChildren2:
		var req jute.PathWatchRequest
		if !decode(&req) {
			return bad
		}
		watch, err := w.wantWatch(req.Watch, watchChild, req.Path)
		if err != nil {
			return wireErr(err)
		}
		names, st, _, err := c.children(ctx, req.Path, watch)
		w.watchSet(watch, err, watchChild, req.Path)
		if err != nil {
			return wireErr(err)
		}
		if h.Type == jute.OpGetChildren {
			return wireOK(&jute.ChildrenResponse{Children: names})
		}
		return wireOK(&jute.Children2Response{Children: names, Stat: toJuteStat(st)})

	case jute.OpSync:
		var req jute.PathRequest
		if !decode(&req) {
			return bad
		}
		if err := c.Sync(ctx, req.Path); err != nil {
			return wireErr(err)
		}
		return wireResult{body: &jute.PathResponse{Path: req.Path}, zxid: w.n.LastZxid()}

	case jute.OpMulti:
		var req jute.MultiRequest
		if !decode(&req) || req.Validate(jute.OpMulti) != nil {
			return bad
		}
		return w.multi(&req)

	case jute.OpMultiRead:
		var req jute.MultiRequest
		if !decode(&req) || req.Validate(jute.OpMultiRead) != nil {
			return bad
		}
		return w.multiRead(&req)

	case jute.OpReconfig:
		var req jute.ReconfigRequest
		if !decode(&req) {
			return bad
		}
		return w.reconfig(&req)

	case jute.OpCheckWatches, jute.OpRemoveWatches:
		var req jute.WatchesRequest
		if !decode(&req) {
			return bad
		}
		return w.watches(h.Type == jute.OpRemoveWatches, req.Path, WatcherType(req.Type))

	case jute.OpAddWatch:
		var req jute.AddWatchRequest
		if !decode(&req) {
			return bad
		}
		kind := watchPersistent
		if AddWatchMode(req.Mode) == AddWatchModePersistentRecursive {
			kind = watchRecursive
		}
		// Like a read's, a persistent watch is kept once per path and
		// mode however often it is added, and counts against the limit.
		set := true
		if m := AddWatchMode(req.Mode); m == AddWatchModePersistent || m == AddWatchModePersistentRecursive {
			var err error
			if set, err = w.wantWatch(true, kind, req.Path); err != nil {
				return wireErr(err)
			}
		}
		if set {
			_, err := c.AddWatch(ctx, req.Path, AddWatchMode(req.Mode))
			w.watchSet(true, err, kind, req.Path)
			if err != nil {
				return wireErr(err)
			}
		}
		return wireOK(&jute.ErrorResponse{Err: 0})

	case jute.OpSetWatches, jute.OpSetWatches2:
		var req jute.SetWatches2
		if h.Type == jute.OpSetWatches {
			var sw jute.SetWatches
			if !decode(&sw) {
				return bad
			}
			req = jute.SetWatches2{RelativeZxid: sw.RelativeZxid, DataWatches: sw.DataWatches, ExistWatches: sw.ExistWatches, ChildWatches: sw.ChildWatches}
		} else if !decode(&req) {
			return bad
		}
		return w.setWatches(&req)

	case jute.OpAuth:
		var req jute.AuthPacket
		if !decode(&req) {
			return bad
		}
		if req.Scheme == "ip" {
			return wireResult{authReply: true}
		}
		if err := c.AddAuth(ctx, req.Scheme, req.Auth); err != nil {
			r := wireErr(err)
			r.authReply = true
			if errors.Is(err, ErrAuthFailed) {
				// The session survives; this connection does not.
				r.close = err
			}
			return r
		}
		return wireResult{authReply: true}

	case jute.OpSASL:
		return wireResult{code: CodeAuthFailed, authReply: true, close: ErrAuthFailed}

	case jute.OpGetEphemerals:
		var req jute.PathRequest
		if !decode(&req) {
			return bad
		}
		prefix := req.Path
		if strings.TrimSpace(prefix) == "" {
			prefix = "/"
		}
		paths, err := c.Ephemerals(ctx, prefix)
		if err != nil {
			return wireErr(err)
		}
		return wireOK(&jute.StringsResponse{Strings: paths})

	case jute.OpGetAllChildrenNumber:
		var req jute.PathRequest
		if !decode(&req) {
			return bad
		}
		k, err := c.AllChildrenNumber(ctx, req.Path)
		if err != nil {
			return wireErr(err)
		}
		return wireOK(&jute.IntResponse{Value: int32(k)})

	case jute.OpWhoAmI:
		var infos []jute.ClientInfo
		for _, id := range c.authIDs() {
			user := id.ID
			if id.Scheme == "digest" {
				user, _, _ = strings.Cut(id.ID, ":")
			}
			infos = append(infos, jute.ClientInfo{AuthScheme: id.Scheme, User: user})
		}
		return wireOK(&jute.WhoAmIResponse{ClientInfo: infos})

	case jute.OpCloseSession:
		if err := c.Close(); err != nil {
			return wireErr(err)
		}
		return wireResult{close: errWireClose}
	}
	// ZooKeeper answers an opcode it does not know and closes.
	return wireResult{code: CodeUnimplemented, close: errWireClose}
}

// wantWatch says whether a read should set a watch: ZooKeeper keeps one
// watch per path and kind for a connection, however often it is asked
// for. It marks the watch as set before the read, so that an event that
// fires it at once is not missed; watchSet undoes that if the read set
// nothing. A new watch beyond the session's limits is ErrQuotaExceeded.
func (w *wireConn) wantWatch(watch bool, kind watchKind, path string) (bool, error) {
	if !watch {
		return false, nil
	}
	key := wireWatchKey{kind, path}
	w.evMu.Lock()
	_, ok := w.watched[key]
	w.evMu.Unlock()
	// A watch the connection recorded may have been consumed without an
	// event (see sweepWatched): then it is set again. has takes the watch
	// manager's lock, under which onEvent takes evMu, so not under evMu.
	if ok && w.n.watches.has(w.conn, path, []watchKind{kind}) {
		return false, nil
	}
	if err := w.watchRoom(1, watchCost(path)); err != nil {
		return false, err
	}
	w.tidyWatched() // before marking: the sweep would take the mark for a stale one
	w.evMu.Lock()
	w.watched[key] = struct{}{}
	w.evMu.Unlock()
	return true, nil
}

func (w *wireConn) watchSet(watch bool, err error, kind watchKind, path string) {
	if !watch || err == nil {
		return // exists on a missing node comes here too: its watch was set
	}
	w.evMu.Lock()
	delete(w.watched, wireWatchKey{kind, path})
	w.evMu.Unlock()
}

// createOp checks a create's mode and TTL as ZooKeeper does, before the
// Conn checks the rest.
func (w *wireConn) createOp(op int32, req *jute.CreateTTLRequest) (Op, error) {
	mode := CreateMode(req.Flags)
	if !mode.valid() {
		return Op{}, opErr("create", req.Path, ErrBadArguments)
	}
	acl := fromJuteACL(req.ACL)
	switch {
	case mode.isTTL() && w.n.cfg.DisableTTL:
		return Op{}, opErr("create", req.Path, ErrUnimplemented)
	case op == jute.OpCreateTTL && w.n.cfg.DisableTTL:
		return Op{}, opErr("create", req.Path, ErrUnimplemented)
	case op == jute.OpCreateTTL && !mode.isTTL() && req.TTL >= 0:
		return Op{}, opErr("create", req.Path, ErrBadArguments)
	case op != jute.OpCreateTTL && mode.isTTL():
		return Op{}, opErr("create", req.Path, ErrBadArguments)
	case op == jute.OpCreateContainer && mode != FlagContainer:
		return Op{}, opErr("create", req.Path, ErrBadArguments)
	}
	if mode.isTTL() {
		return CreateTTLOp(req.Path, req.Data, mode, acl, time.Duration(req.TTL)*time.Millisecond), nil
	}
	return CreateOp(req.Path, req.Data, mode, acl), nil
}

// deleteContainer deletes path if it is an empty container, as
// ZooKeeper's container reaper asks with this opcode.
func (w *wireConn) deleteContainer(path string) wireResult {
	_, st, err := w.conn.Exists(w.ctx, path)
	if err != nil {
		return wireErr(err)
	}
	if st == nil || !w.isContainer(path) {
		return wireResult{code: CodeBadArguments}
	}
	if err := w.conn.Delete(w.ctx, path, AnyVersion); err != nil {
		return wireErr(err)
	}
	return wireOK(nil)
}

// isContainer reports whether path is a container node.
func (w *wireConn) isContainer(path string) bool {
	var ok bool
	w.conn.read(func(t *tree) {
		nd := t.nodes[path]
		ok = nd != nil && nd.owner == ownerContainer
	})
	return ok
}

// multi runs a write multi. Its reply header says OK even when an op
// failed: the results say which.
func (w *wireConn) multi(req *jute.MultiRequest) wireResult {
	ops := make([]Op, len(req.Ops))
	kinds := make([]int32, len(req.Ops))
	for i, mo := range req.Ops {
		kinds[i] = mo.Type
		var err error
		switch r := mo.Req.(type) {
		case *jute.CreateRequest:
			ops[i], err = w.createOp(mo.Type, &jute.CreateTTLRequest{Path: r.Path, Data: r.Data, ACL: r.ACL, Flags: r.Flags, TTL: -1})
		case *jute.CreateTTLRequest:
			ops[i], err = w.createOp(mo.Type, r)
		case *jute.DeleteRequest:
			ops[i] = DeleteOp(r.Path, r.Version)
		case *jute.SetDataRequest:
			ops[i] = SetOp(r.Path, r.Data, r.Version)
		case *jute.CheckVersionRequest:
			ops[i] = CheckOp(r.Path, r.Version)
		default:
			return wireResult{code: CodeMarshallingError}
		}
		if err != nil {
			// An op the wire rules refuse fails the multi before it
			// reaches the Conn, reported as the Conn reports a failure.
			return wireOK(&jute.MultiResponse{Results: multiResults(failedResults(len(ops), i, err), i, kinds)})
		}
	}
	rs, failed, err := w.conn.write(w.ctx, true, ops)
	if rs == nil && err != nil {
		return wireErr(err)
	}
	return wireOK(&jute.MultiResponse{Results: multiResults(rs, failed, kinds)})
}

// multiResults turns a multi's results into ZooKeeper's: when op failed
// failed (≥ 0), every result is an error result carrying its code (OK for
// the ops rolled back before it); else each op's own result.
func multiResults(rs []opResult, failed int, kinds []int32) []jute.MultiResult {
	out := make([]jute.MultiResult, len(rs))
	for i, r := range rs {
		if failed >= 0 {
			out[i] = jute.MultiResult{Type: jute.OpError, Err: int32(CodeOf(r.err))}
			continue
		}
		switch kinds[i] {
		case jute.OpCreate:
			out[i] = jute.MultiResult{Type: jute.OpCreate, Path: r.path}
		case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
			out[i] = jute.MultiResult{Type: jute.OpCreate2, Path: r.path, Stat: toJuteStat(&r.stat)}
		case jute.OpSetData:
			out[i] = jute.MultiResult{Type: jute.OpSetData, Stat: toJuteStat(&r.stat)}
		default:
			out[i] = jute.MultiResult{Type: kinds[i]}
		}
	}
	return out
}

// multiRead runs reads one by one, each with its own result.
func (w *wireConn) multiRead(req *jute.MultiRequest) wireResult {
	out := make([]jute.MultiResult, 0, len(req.Ops))
	for _, mo := range req.Ops {
		r, ok := mo.Req.(*jute.PathWatchRequest)
		if !ok {
			return wireResult{code: CodeMarshallingError}
		}
		switch mo.Type {
		case jute.OpGetData:
			data, st, err := w.conn.Get(w.ctx, r.Path)
			if err != nil {
				out = append(out, jute.MultiResult{Type: jute.OpError, Err: int32(CodeOf(err))})
				continue
			}
			out = append(out, jute.MultiResult{Type: jute.OpGetData, Data: data, Stat: toJuteStat(st)})
		case jute.OpGetChildren:
			names, _, err := w.conn.Children(w.ctx, r.Path)
			if err != nil {
				out = append(out, jute.MultiResult{Type: jute.OpError, Err: int32(CodeOf(err))})
				continue
			}
			out = append(out, jute.MultiResult{Type: jute.OpGetChildren, Children: names})
		default:
			return wireResult{code: CodeMarshallingError}
		}
	}
	return wireOK(&jute.MultiResponse{Results: out})
}

// watches checks for (remove false) or removes the connection's watches
// of a type on path.
func (w *wireConn) watches(remove bool, path string, typ WatcherType) wireResult {
	kinds := typ.kinds()
	if kinds == nil {
		return wireResult{code: CodeBadArguments}
	}
	if !remove {
		if err := validatePath(path); err != nil {
			return wireErr(err)
		}
		if !w.n.watches.has(w.conn, path, kinds) {
			return wireResult{code: CodeNoWatcher}
		}
		return wireOK(nil)
	}
	if err := w.conn.RemoveWatches(w.ctx, path, typ); err != nil {
		return wireErr(err)
	}
	w.evMu.Lock()
	for _, k := range kinds {
		delete(w.watched, wireWatchKey{k, path})
	}
	w.evMu.Unlock()
	return wireOK(nil)
}

// setWatches re-registers the watches a client held before it resumed
// its session on this connection, and sends at once the events of the
// changes it missed since relativeZxid, as ZooKeeper does. The watches
// it would set beyond the session's limits fail it with
// ErrQuotaExceeded, setting none and sending no event: all or nothing,
// so that the client is not left believing in some of its watches.
func (w *wireConn) setWatches(req *jute.SetWatches2) wireResult {
	c := w.conn
	if err := c.check(w.ctx); err != nil {
		return wireErr(err)
	}
	type reg struct {
		key   wireWatchKey
		exist bool
	}
	var (
		events []Event
		regs   []reg
		failed error
	)
	rel := req.RelativeZxid
	fire := func(typ EventType, path string) {
		events = append(events, Event{Type: typ, State: StateConnected, Path: path})
	}
	add := func(kind watchKind, path string, exist bool) {
		if validatePath(path) == nil {
			regs = append(regs, reg{wireWatchKey{kind, path}, exist})
		}
	}
	c.read(func(t *tree) {
		for _, p := range req.DataWatches {
			switch nd := t.nodes[p]; {
			case nd == nil:
				fire(EventNodeDeleted, p)
			case nd.mzxid > rel:
				fire(EventNodeDataChanged, p)
			default:
				add(watchData, p, false)
			}
		}
		for _, p := range req.ExistWatches {
			if t.nodes[p] != nil {
				fire(EventNodeCreated, p)
			} else {
				add(watchData, p, true)
			}
		}
		for _, p := range req.ChildWatches {
			switch nd := t.nodes[p]; {
			case nd == nil:
				fire(EventNodeDeleted, p)
			case nd.pzxid > rel:
				fire(EventNodeChildrenChanged, p)
			default:
				add(watchChild, p, false)
			}
		}
		for _, p := range req.PersistentWatches {
			add(watchPersistent, p, false)
		}
		for _, p := range req.PersistentRecursiveWatches {
			add(watchRecursive, p, false)
		}
		// The tree stays read-locked from the checks above to the last
		// registration, so that no change falls between them; no watch
		// fires meanwhile, so the connection's record cannot change under
		// it but by this.
		fresh := regs[:0]
		seen := make(map[wireWatchKey]struct{}, len(regs))
		size := 0
		for _, r := range regs {
			if _, dup := seen[r.key]; dup {
				continue
			}
			seen[r.key] = struct{}{}
			w.evMu.Lock()
			_, ok := w.watched[r.key]
			w.evMu.Unlock()
			if ok && w.n.watches.has(c, r.key.path, []watchKind{r.key.kind}) {
				continue
			}
			fresh = append(fresh, r)
			size += watchCost(r.key.path)
		}
		if failed = w.watchRoom(len(fresh), size); failed != nil {
			events = nil
			return
		}
		for _, r := range fresh {
			w.evMu.Lock()
			w.watched[r.key] = struct{}{}
			w.evMu.Unlock()
			wt, err := c.watch(r.key.kind, r.key.path)
			if err != nil {
				failed = err
				return
			}
			wt.exist = r.exist
		}
	})
	if failed != nil {
		return wireErr(failed)
	}
	w.tidyWatched()
	return wireResult{before: events}
}

// reconfig changes the ensemble's membership (see Conn.Reconfig).
func (w *wireConn) reconfig(req *jute.ReconfigRequest) wireResult {
	data, st, err := w.conn.reconfig(w.ctx, req.JoiningServers, req.LeavingServers, req.NewMembers, req.CurConfigID)
	if err != nil {
		return wireErr(err)
	}
	return wireResult{body: &jute.GetDataResponse{Data: data, Stat: toJuteStat(st)}, zxid: st.Mzxid, flushTo: st.Mzxid}
}

func toJuteStat(s *Stat) jute.Stat {
	return jute.Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength,
		NumChildren: s.NumChildren, Pzxid: s.Pzxid,
	}
}

func toJuteACL(acl []ACL) []jute.ACL {
	out := make([]jute.ACL, len(acl))
	for i, a := range acl {
		out[i] = jute.ACL{Perms: int32(a.Perms), ID: jute.ID{Scheme: a.Scheme, ID: a.ID}}
	}
	return out
}

func fromJuteACL(acl []jute.ACL) []ACL {
	if acl == nil {
		return nil
	}
	out := make([]ACL, len(acl))
	for i, a := range acl {
		out[i] = ACL{Perms: Perm(a.Perms), Scheme: a.ID.Scheme, ID: a.ID.ID}
	}
	return out
}
