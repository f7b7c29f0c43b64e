// Package txn is the binary encoding of zkraft's replicated transactions:
// the commands in the raft log.
//
// A transaction carries everything needed to apply it deterministically:
// the proposer's clock, the session, the identities for ACL checks, and the
// operations. The encoding starts with a version byte so that a later
// format can be told apart; Decode rejects versions it does not know.
//
//	txn     = version:u8 type:u8 time:varint session:varint
//	          nauth:uvarint (scheme:str id:str)* body
//	body    = ops | createSession | closeSession | setConfig
//	ops     = multi:u8 nops:uvarint op*
//	op      = kind:u8 path:str data:bytes nacl:uvarint (perms:varint scheme:str id:str)*
//	          mode:varint ttl:varint version:varint
//	createSession = timeout:varint password:bytes
//	closeSession  = reason:u8
//	setConfig     = data:bytes            (version 2 only)
//	str     = len:uvarint utf8
//	bytes   = (len+1):uvarint raw   (0 encodes nil)
package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the newest encoding version this package writes. Version 1
// covers the types a version-1 node knows; only TypeSetConfig is written
// as version 2, so that a log without reconfigurations stays readable by
// nodes that predate it. Decode reads both.
const Version = 2

// versionOf is the encoding version t is written in: the oldest that has
// its type.
func versionOf(t Type) byte {
	if t == TypeSetConfig {
		return 2
	}
	return 1
}

// Type is the kind of a transaction.
type Type uint8

// The transaction types.
const (
	TypeOps           Type = 1 // one operation, or a multi
	TypeCreateSession Type = 2
	TypeCloseSession  Type = 3
	// TypeSetConfig replaces the data of /zookeeper/config with Data and
	// a version line, without ACL checks: the ensemble's membership, as
	// the leader writes it after a change.
	TypeSetConfig Type = 4
)

// OpKind is the kind of one operation.
type OpKind uint8

// The operation kinds.
const (
	OpCreate  OpKind = 1
	OpDelete  OpKind = 2
	OpSetData OpKind = 3
	OpSetACL  OpKind = 4
	OpCheck   OpKind = 5
	OpReap    OpKind = 6 // delete an empty container or an expired TTL node
)

// CloseReason says why a session is closed.
type CloseReason uint8

// The close reasons.
const (
	CloseByClient CloseReason = 0
	CloseExpired  CloseReason = 1
)

// ID is an identity used for ACL checks.
type ID struct{ Scheme, ID string }

// ACL is one ACL entry.
type ACL struct {
	Perms      int32
	Scheme, ID string
}

// Op is one operation of a TypeOps transaction.
type Op struct {
	Kind    OpKind
	Path    string
	Data    []byte
	ACL     []ACL
	Mode    int32
	TTL     int64
	Version int32
}

// Txn is a replicated transaction.
type Txn struct {
	Type    Type
	Time    int64 // ms since the Unix epoch, the proposer's clock
	Session int64
	Auth    []ID

	// TypeOps
	Multi bool
	Ops   []Op

	// TypeCreateSession
	Timeout  int32 // ms
	Password []byte

	// TypeCloseSession
	Reason CloseReason

	// TypeSetConfig
	Data []byte
}

// ErrCorrupt is returned by Decode for bytes that are not a transaction.
var ErrCorrupt = errors.New("txn: corrupt transaction")

// Append appends the encoding of t to b.
func (t *Txn) Append(b []byte) []byte {
	b = append(b, versionOf(t.Type), byte(t.Type))
	b = binary.AppendVarint(b, t.Time)
	b = binary.AppendVarint(b, t.Session)
	b = binary.AppendUvarint(b, uint64(len(t.Auth)))
	for _, id := range t.Auth {
		b = AppendString(b, id.Scheme)
		b = AppendString(b, id.ID)
	}
	switch t.Type {
	case TypeOps:
		multi := byte(0)
		if t.Multi {
			multi = 1
		}
		b = append(b, multi)
		b = binary.AppendUvarint(b, uint64(len(t.Ops)))
		for i := range t.Ops {
			op := &t.Ops[i]
			b = append(b, byte(op.Kind))
			b = AppendString(b, op.Path)
			b = AppendBytes(b, op.Data)
			b = binary.AppendUvarint(b, uint64(len(op.ACL)))
			for _, a := range op.ACL {
				b = binary.AppendVarint(b, int64(a.Perms))
				b = AppendString(b, a.Scheme)
				b = AppendString(b, a.ID)
			}
			b = binary.AppendVarint(b, int64(op.Mode))
			b = binary.AppendVarint(b, op.TTL)
			b = binary.AppendVarint(b, int64(op.Version))
		}
	case TypeCreateSession:
		b = binary.AppendVarint(b, int64(t.Timeout))
		b = AppendBytes(b, t.Password)
	case TypeCloseSession:
		b = append(b, byte(t.Reason))
	case TypeSetConfig:
		b = AppendBytes(b, t.Data)
	}
	return b
}

// Encode returns the encoding of t.
func (t *Txn) Encode() []byte { return t.Append(make([]byte, 0, 64)) }

// AppendString appends s as a length-prefixed string.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBytes appends p as length+1 and its bytes; nil appends a single 0,
// so nil and empty stay apart.
func AppendBytes(b []byte, p []byte) []byte {
	if p == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p))+1)
	return append(b, p...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if v < -1<<31 || v > 1<<31-1 {
		d.fail()
		return 0
	}
	return int32(v)
}

// count reads a count of items that each take at least min bytes, so a
// corrupt count cannot make Decode allocate more than the input's size.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) raw(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string { return string(d.raw(d.uvarint())) }

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	p := d.raw(n - 1)
	if d.err != nil {
		return nil
	}
	return append(make([]byte, 0, len(p)), p...)
}

// Decode parses a transaction. The result does not alias b.
func Decode(b []byte) (*Txn, error) {
	d := &decoder{b: b}
	v := d.byte()
	if d.err == nil && (v < 1 || v > Version) {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	t := &Txn{Type: Type(d.byte())}
	if d.err == nil && v < versionOf(t.Type) {
		return nil, fmt.Errorf("%w: type %d in version %d", ErrCorrupt, t.Type, v)
	}
	t.Time = d.varint()
	t.Session = d.varint()
	if n := d.count(2); n > 0 {
		t.Auth = make([]ID, n)
		for i := range t.Auth {
			t.Auth[i] = ID{Scheme: d.string(), ID: d.string()}
		}
	}
	switch t.Type {
	case TypeOps:
		switch d.byte() {
		case 0:
		case 1:
			t.Multi = true
		default:
			d.fail()
		}
		t.Ops = make([]Op, d.count(7))
		for i := range t.Ops {
			op := &t.Ops[i]
			op.Kind = OpKind(d.byte())
			if op.Kind < OpCreate || op.Kind > OpReap {
				d.fail()
			}
			op.Path = d.string()
			op.Data = d.bytes()
			if n := d.count(3); n > 0 {
				op.ACL = make([]ACL, n)
				for j := range op.ACL {
					op.ACL[j] = ACL{Perms: d.int32(), Scheme: d.string(), ID: d.string()}
				}
			}
			op.Mode = d.int32()
			op.TTL = d.varint()
			op.Version = d.int32()
		}
	case TypeCreateSession:
		t.Timeout = d.int32()
		t.Password = d.bytes()
	case TypeCloseSession:
		t.Reason = CloseReason(d.byte())
	case TypeSetConfig:
		t.Data = d.bytes()
	default:
		d.fail()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}
