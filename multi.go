package zk

import (
	"context"
	"time"

	"github.com/zkraft/zk/internal/txn"
)

type opKind uint8

const (
	opCreate opKind = iota + 1
	opDelete
	opSetData
	opSetACL
	opCheck
)

func (k opKind) String() string {
	switch k {
	case opCreate:
		return "create"
	case opDelete:
		return "delete"
	case opSetData:
		return "set"
	case opSetACL:
		return "setACL"
	case opCheck:
		return "check"
	}
	return "op"
}

var txnKinds = [...]txn.OpKind{opCreate: txn.OpCreate, opDelete: txn.OpDelete, opSetData: txn.OpSetData, opSetACL: txn.OpSetACL, opCheck: txn.OpCheck}

// Op is one write of a Multi. Make it with CreateOp, CreateTTLOp,
// DeleteOp, SetOp or CheckOp.
type Op struct {
	kind    opKind
	path    string
	data    []byte
	acl     []ACL
	mode    CreateMode
	ttl     time.Duration
	version int32
}

// Path returns the path the operation applies to.
func (o Op) Path() string { return o.path }

// CreateOp creates a node, as Conn.Create.
func CreateOp(path string, data []byte, mode CreateMode, acl []ACL) Op {
	return Op{kind: opCreate, path: path, data: data, mode: mode, acl: acl}
}

// CreateTTLOp creates a TTL node, as Conn.CreateTTL.
func CreateTTLOp(path string, data []byte, mode CreateMode, acl []ACL, ttl time.Duration) Op {
	return Op{kind: opCreate, path: path, data: data, mode: mode, acl: acl, ttl: ttl}
}

// DeleteOp deletes a node, as Conn.Delete.
func DeleteOp(path string, version int32) Op {
	return Op{kind: opDelete, path: path, version: version}
}

// SetOp sets a node's data, as Conn.Set.
func SetOp(path string, data []byte, version int32) Op {
	return Op{kind: opSetData, path: path, data: data, version: version}
}

// CheckOp fails the multi unless the node exists with the given data
// version (AnyVersion: any).
func CheckOp(path string, version int32) Op {
	return Op{kind: opCheck, path: path, version: version}
}

// OpResult is the outcome of one operation of a Multi.
type OpResult struct {
	Path string // create: the created path, with its sequence suffix
	Stat *Stat  // create and set: the node's Stat after the operation
	// Err is nil for an operation that took effect. When the multi failed,
	// it is ErrRolledBack for operations before the failing one, the
	// reason for the failing one, and ErrRuntimeInconsistency after it.
	Err error
}

// toTxn checks what can be checked without the tree and turns o into a
// txn op. It returns the stateless errors ZooKeeper reports before looking
// at the tree: bad mode, TTL, path or size, then invalid ACL.
func (c *Conn) toTxn(o *Op) (txn.Op, error) {
	cfg := &c.node().cfg
	t := txn.Op{Kind: txnKinds[o.kind], Path: o.path, Version: o.version}
	switch o.kind {
	case opCreate:
		if !o.mode.valid() {
			return t, ErrBadArguments
		}
		if o.mode.isTTL() {
			if cfg.DisableTTL {
				return t, ErrUnimplemented
			}
			ms := o.ttl.Milliseconds()
			if ms <= 0 || ms > MaxTTL {
				return t, ErrBadArguments
			}
			t.TTL = ms
		} else if o.ttl != 0 {
			return t, ErrBadArguments
		}
		check := o.path
		if o.mode.isSequential() {
			check += "0"
		}
		if err := validatePath(check); err != nil {
			return t, err
		}
		if len(o.data) > cfg.MaxDataSize {
			return t, ErrBadArguments
		}
		acl, err := fixACLSchemes(o.acl, c.authIDs(), cfg.ClientTLS != nil)
		if err != nil {
			return t, err
		}
		t.Data, t.Mode, t.ACL = o.data, int32(o.mode), toTxnACL(acl)
	case opSetData:
		if err := validatePath(o.path); err != nil {
			return t, err
		}
		if len(o.data) > cfg.MaxDataSize {
			return t, ErrBadArguments
		}
		t.Data = o.data
	case opSetACL:
		if err := validatePath(o.path); err != nil {
			return t, err
		}
		acl, err := fixACLSchemes(o.acl, c.authIDs(), cfg.ClientTLS != nil)
		if err != nil {
			return t, err
		}
		t.ACL = toTxnACL(acl)
	case opDelete:
		if err := validatePath(o.path); err != nil {
			return t, err
		}
		if isSystemPath(o.path) {
			return t, ErrBadArguments
		}
	case opCheck:
		if err := validatePath(o.path); err != nil {
			return t, err
		}
	default:
		return t, ErrBadArguments
	}
	return t, nil
}

func toTxnACL(acl []ACL) []txn.ACL {
	out := make([]txn.ACL, len(acl))
	for i, a := range acl {
		out[i] = txn.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

func toTxnIDs(ids []ID) []txn.ID {
	out := make([]txn.ID, len(ids))
	for i, id := range ids {
		out[i] = txn.ID{Scheme: id.Scheme, ID: id.ID}
	}
	return out
}

// write proposes ops as one txn and returns one result per op.
func (c *Conn) write(ctx context.Context, multi bool, ops []Op) ([]opResult, int, error) {
	if c.remote != nil {
		return c.remote.write(ctx, multi, ops)
	}
	if err := c.check(ctx); err != nil {
		return nil, -1, err
	}
	t := &txn.Txn{
		Type: txn.TypeOps, Multi: multi, Session: c.id,
		Time: c.node().clock.Now().UnixMilli(), Auth: toTxnIDs(c.authIDs()),
		Ops: make([]txn.Op, len(ops)),
	}
	for i := range ops {
		op, err := c.toTxn(&ops[i])
		if err != nil {
			// ZooKeeper checks a multi's ops in order: an earlier op that
			// fails against the tree wins over this one's bad arguments.
			if multi && i > 0 {
				if j, jerr := c.node().fsm.firstFailure(t, i); j >= 0 {
					i, err = j, jerr
				}
			}
			return failedResults(len(ops), i, err), i, err
		}
		t.Ops[i] = op
	}
	res, err := c.node().propose(ctx, t)
	if err != nil {
		return nil, -1, c.lost(err)
	}
	if res.err != nil {
		return nil, -1, res.err
	}
	c.seen.Store(res.zxid)
	if res.failed >= 0 {
		return res.results, res.failed, res.results[res.failed].err
	}
	return res.results, -1, nil
}

func failedResults(n, failed int, err error) []opResult {
	rs := make([]opResult, n)
	for j := range rs {
		switch {
		case j < failed:
			rs[j].err = ErrRolledBack
		case j == failed:
			rs[j].err = err
		default:
			rs[j].err = ErrRuntimeInconsistency
		}
	}
	return rs
}

// write1 runs a single operation.
func (c *Conn) write1(ctx context.Context, o Op) (opResult, error) {
	rs, _, err := c.write(ctx, false, []Op{o})
	if err != nil {
		return opResult{}, err
	}
	return rs[0], rs[0].err
}

// Create creates a node and returns its path, which for a sequential mode
// carries the sequence suffix. The parent must exist. If ctx ends before
// the reply, the node may or may not have been created.
func (c *Conn) Create(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL) (string, error) {
	p, _, err := c.CreateStat(ctx, path, data, mode, acl)
	return p, err
}

// CreateStat is Create that also returns the new node's Stat (ZooKeeper's
// create2).
func (c *Conn) CreateStat(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL) (string, *Stat, error) {
	r, err := c.write1(ctx, CreateOp(path, data, mode, acl))
	if err != nil {
		return "", nil, opErr("create", path, err)
	}
	return r.path, &r.stat, nil
}

// CreateTTL creates a node with mode FlagTTL or FlagSequenceTTL: it is
// deleted once it has no children and has not changed for ttl
// (millisecond resolution, at most MaxTTL ms). Deletion happens on the
// leader's next container check.
func (c *Conn) CreateTTL(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL, ttl time.Duration) (string, *Stat, error) {
	if !mode.isTTL() {
		return "", nil, opErr("create", path, ErrBadArguments)
	}
	r, err := c.write1(ctx, CreateTTLOp(path, data, mode, acl, ttl))
	if err != nil {
		return "", nil, opErr("create", path, err)
	}
	return r.path, &r.stat, nil
}

// Delete deletes a node if its data version is version (AnyVersion: any).
func (c *Conn) Delete(ctx context.Context, path string, version int32) error {
	_, err := c.write1(ctx, DeleteOp(path, version))
	return opErr("delete", path, err)
}

// Set replaces a node's data if its data version is version (AnyVersion:
// any) and returns the new Stat.
func (c *Conn) Set(ctx context.Context, path string, data []byte, version int32) (*Stat, error) {
	r, err := c.write1(ctx, SetOp(path, data, version))
	if err != nil {
		return nil, opErr("set", path, err)
	}
	return &r.stat, nil
}

// SetACL replaces a node's ACL if its ACL version is version (AnyVersion:
// any) and returns the new Stat.
func (c *Conn) SetACL(ctx context.Context, path string, acl []ACL, version int32) (*Stat, error) {
	r, err := c.write1(ctx, Op{kind: opSetACL, path: path, acl: acl, version: version})
	if err != nil {
		return nil, opErr("setACL", path, err)
	}
	return &r.stat, nil
}

// Multi applies ops atomically: all of them, in order, each seeing the
// effect of those before it, or none. It returns one result per op. When
// an op fails nothing is applied, and the error is a *MultiError naming
// the op and wrapping the reason (errors.Is(err, ErrNoNode) works).
func (c *Conn) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	rs, failed, err := c.write(ctx, true, ops)
	if rs == nil && err != nil {
		return nil, opErr("multi", "", err)
	}
	out := make([]OpResult, len(rs))
	for i, r := range rs {
		out[i] = OpResult{Path: r.path, Err: r.err}
		if r.err == nil && (ops[i].kind == opCreate || ops[i].kind == opSetData) {
			st := r.stat
			out[i].Stat = &st
		}
	}
	if failed >= 0 {
		return out, &MultiError{Index: failed, Op: ops[failed].kind.String(), Path: ops[failed].path, Err: err}
	}
	return out, nil
}
