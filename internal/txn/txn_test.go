package txn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func allOps() []Op {
	return []Op{
		{Kind: OpCreate, Path: "/a", Data: []byte("data"), ACL: []ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}, Mode: 0},
		{Kind: OpCreate, Path: "/ttl-", Data: nil, ACL: []ACL{{Perms: 1, Scheme: "digest", ID: "u:h"}, {Perms: 0, Scheme: "ip", ID: "10.0.0.0/8"}}, Mode: 6, TTL: 1<<40 - 1},
		{Kind: OpCreate, Path: "/empty", Data: []byte{}, ACL: []ACL{{Perms: -1, Scheme: "", ID: ""}}, Mode: math.MaxInt32, TTL: math.MinInt64},
		{Kind: OpDelete, Path: "/日本語/\u00e9", Version: -1},
		{Kind: OpDelete, Path: "/v", Version: math.MinInt32},
		{Kind: OpSetData, Path: "/s", Data: bytes.Repeat([]byte{0, 0xff}, 1<<19), Version: math.MaxInt32},
		{Kind: OpSetData, Path: "/s", Data: []byte{}, Version: 0},
		{Kind: OpSetACL, Path: "/acl", ACL: []ACL{{Perms: math.MaxInt32, Scheme: "x509", ID: "CN=\x00"}, {Perms: math.MinInt32, Scheme: "sasl", ID: strings.Repeat("z", 300)}}, Version: -2},
		{Kind: OpCheck, Path: "/c", Version: 7},
		{Kind: OpReap, Path: "/r"},
		{Kind: OpCheck, Path: "", Version: 0, TTL: math.MaxInt64, Mode: math.MinInt32},
	}
}

func sampleTxns() map[string]*Txn {
	ops := allOps()
	m := map[string]*Txn{
		"create session":                {Type: TypeCreateSession, Time: 1_700_000_000_000, Session: 0x0123456789abcdef, Timeout: 30000, Password: bytes.Repeat([]byte{7}, 16)},
		"create session nil password":   {Type: TypeCreateSession, Time: -1, Session: math.MinInt64, Timeout: math.MinInt32},
		"create session empty password": {Type: TypeCreateSession, Session: 1, Timeout: math.MaxInt32, Password: []byte{}},
		"close by client":               {Type: TypeCloseSession, Time: 5, Session: 42, Reason: CloseByClient},
		"close expired":                 {Type: TypeCloseSession, Time: math.MaxInt64, Session: math.MaxInt64, Reason: CloseExpired},
		"close other reason":            {Type: TypeCloseSession, Reason: 255},
		"ops no ops":                    {Type: TypeOps, Session: 9},
		"set config":                    {Type: TypeSetConfig, Time: 3, Data: []byte("server.1=127.0.0.1:2888:3888:participant\n")},
		"set config empty":              {Type: TypeSetConfig, Data: []byte{}},
		"set config nil":                {Type: TypeSetConfig},
		"multi no ops":                  {Type: TypeOps, Multi: true},
		"ops with auth": {Type: TypeOps, Time: 99, Session: 3,
			Auth: []ID{{Scheme: "digest", ID: "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="}, {Scheme: "ip", ID: "127.0.0.1"}, {Scheme: "super", ID: ""}},
			Ops:  ops[:1]},
		"multi all ops": {Type: TypeOps, Multi: true, Time: 1, Session: -5, Ops: ops},
	}
	for _, op := range ops {
		m["single "+op.Path+" kind "+string(rune('0'+op.Kind))] = &Txn{Type: TypeOps, Time: 10, Session: 11, Ops: []Op{op}}
	}
	return m
}

// normalize turns empty slices that Decode leaves nil into nil, field by
// field where nil and empty are not told apart by the format.
func normalize(t *Txn) *Txn {
	c := *t
	if len(c.Auth) == 0 {
		c.Auth = nil
	}
	if len(c.Ops) == 0 {
		c.Ops = nil
	} else {
		c.Ops = append([]Op(nil), c.Ops...)
		for i := range c.Ops {
			if len(c.Ops[i].ACL) == 0 {
				c.Ops[i].ACL = nil
			}
		}
	}
	return &c
}

func TestRoundTrip(t *testing.T) {
	for name, tx := range sampleTxns() {
		t.Run(name, func(t *testing.T) {
			b := tx.Encode()
			if b[0] != versionOf(tx.Type) {
				t.Fatalf("version byte %d", b[0])
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tx)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tx)
			}
			// nil and empty byte slices stay apart.
			for i := range tx.Ops {
				if (tx.Ops[i].Data == nil) != (got.Ops[i].Data == nil) {
					t.Errorf("op %d: data nil-ness lost", i)
				}
			}
			if (tx.Password == nil) != (got.Password == nil) {
				t.Errorf("password nil-ness lost")
			}
			// The result does not alias the input.
			for i := range b {
				b[i] ^= 0xff
			}
			if !reflect.DeepEqual(normalize(got), normalize(tx)) {
				t.Errorf("decoded txn aliases the encoding")
			}
		})
	}
}

func TestAppendMatchesEncode(t *testing.T) {
	for name, tx := range sampleTxns() {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := tx.Append(append([]byte(nil), prefix...))
			if !bytes.HasPrefix(b, prefix) || !bytes.Equal(b[len(prefix):], tx.Encode()) {
				t.Errorf("Append differs from Encode")
			}
		})
	}
}

func TestEncodingIsDeterministic(t *testing.T) {
	tx := sampleTxns()["multi all ops"]
	if a, b := tx.Encode(), tx.Encode(); !bytes.Equal(a, b) {
		t.Errorf("two encodings differ")
	}
}

func TestAppendHelpers(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"empty string", AppendString(nil, ""), []byte{0}},
		{"string", AppendString(nil, "ab"), []byte{2, 'a', 'b'}},
		{"nil bytes", AppendBytes(nil, nil), []byte{0}},
		{"empty bytes", AppendBytes(nil, []byte{}), []byte{1}},
		{"bytes", AppendBytes([]byte{9}, []byte{5}), []byte{9, 2, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, tx := range sampleTxns() {
		t.Run(name, func(t *testing.T) {
			b := tx.Encode()
			step := 1
			if len(b) > 4096 {
				step = 97 // the 1 MiB payload: sample, but keep every offset near the edges
			}
			for n := 0; n < len(b); n++ {
				if step > 1 && n > 64 && n < len(b)-64 && n%step != 0 {
					continue
				}
				got, err := Decode(b[:n:n])
				if err == nil {
					t.Fatalf("Decode of %d of %d bytes succeeded: %+v", n, len(b), got)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Decode of %d bytes: %v, not ErrCorrupt", n, err)
				}
				if got != nil {
					t.Fatalf("Decode returned a txn with an error")
				}
			}
		})
	}
}

func TestDecodeTrailingGarbage(t *testing.T) {
	for name, tx := range sampleTxns() {
		t.Run(name, func(t *testing.T) {
			for _, extra := range [][]byte{{0}, {1}, {0xff, 0xff}} {
				if _, err := Decode(append(tx.Encode(), extra...)); !errors.Is(err, ErrCorrupt) {
					t.Errorf("trailing %v: err = %v, want ErrCorrupt", extra, err)
				}
			}
		})
	}
}

// craft builds an encoding by hand so that single fields can be broken.
type craft struct{ b []byte }

func (c *craft) u8(v byte) *craft     { c.b = append(c.b, v); return c }
func (c *craft) vi(v int64) *craft    { c.b = binary.AppendVarint(c.b, v); return c }
func (c *craft) uv(v uint64) *craft   { c.b = binary.AppendUvarint(c.b, v); return c }
func (c *craft) str(s string) *craft  { c.b = AppendString(c.b, s); return c }
func (c *craft) raw(p ...byte) *craft { c.b = append(c.b, p...); return c }
func head(typ byte) *craft            { return (&craft{}).u8(1).u8(typ).vi(1).vi(2).uv(0) }
func opHead(kind byte) *craft         { return head(byte(TypeOps)).u8(0).uv(1).u8(kind).str("/p").u8(0) }
func (c *craft) opTail() *craft       { return c.uv(0).vi(0).vi(0).vi(-1) }

func TestDecodeRejects(t *testing.T) {
	valid := opHead(byte(OpCreate)).opTail().b
	if _, err := Decode(valid); err != nil {
		t.Fatalf("hand-made valid txn rejected: %v", err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, valid[1:]...)},
		{"version 3", append([]byte{3}, valid[1:]...)},
		{"version 255", append([]byte{255}, valid[1:]...)},
		{"type 0", (&craft{}).u8(1).u8(0).vi(1).vi(2).uv(0).b},
		{"type 4 in version 1", (&craft{}).u8(1).u8(4).vi(1).vi(2).uv(0).u8(0).b},
		{"type 5", (&craft{}).u8(2).u8(5).vi(1).vi(2).uv(0).u8(0).b},
		{"set config missing data", (&craft{}).u8(2).u8(4).vi(1).vi(2).uv(0).b},
		{"set config trailing byte", (&craft{}).u8(2).u8(4).vi(1).vi(2).uv(0).u8(0).u8(0).b},
		{"type 255", (&craft{}).u8(1).u8(255).vi(1).vi(2).uv(0).b},
		{"op kind 0", opHead(0).opTail().b},
		{"op kind 7", opHead(7).opTail().b},
		{"op kind 255", opHead(255).opTail().b},
		{"multi flag 2", head(byte(TypeOps)).u8(2).uv(0).b},
		{"auth count beyond input", (&craft{}).u8(1).u8(byte(TypeOps)).vi(1).vi(2).uv(3).b},
		{"auth count huge", (&craft{}).u8(1).u8(byte(TypeOps)).vi(1).vi(2).uv(math.MaxUint64).b},
		{"auth string longer than input", (&craft{}).u8(1).u8(byte(TypeOps)).vi(1).vi(2).uv(1).uv(100).raw('a', 'b').str("").u8(0).uv(0).b},
		{"op count beyond input", head(byte(TypeOps)).u8(0).uv(5).b},
		{"op count huge", head(byte(TypeOps)).u8(0).uv(1 << 62).b},
		{"path length beyond input", head(byte(TypeOps)).u8(0).uv(1).u8(byte(OpCreate)).uv(1 << 40).raw('/').b},
		{"path length max uint64", head(byte(TypeOps)).u8(0).uv(1).u8(byte(OpCreate)).uv(math.MaxUint64).raw('/').b},
		{"data length beyond input", head(byte(TypeOps)).u8(0).uv(1).u8(byte(OpCreate)).str("/p").uv(50).raw(1, 2, 3).opTail().b},
		{"data length max uint64", head(byte(TypeOps)).u8(0).uv(1).u8(byte(OpCreate)).str("/p").uv(math.MaxUint64).opTail().b},
		{"acl count beyond input", opHead(byte(OpCreate)).uv(1000).vi(0).vi(0).vi(-1).b},
		{"acl perms beyond int32", opHead(byte(OpCreate)).uv(1).vi(1 << 31).str("world").str("anyone").vi(0).vi(0).vi(-1).b},
		{"mode beyond int32", opHead(byte(OpCreate)).uv(0).vi(1 << 31).vi(0).vi(-1).b},
		{"mode below int32", opHead(byte(OpCreate)).uv(0).vi(-1<<31 - 1).vi(0).vi(-1).b},
		{"version beyond int32", opHead(byte(OpCreate)).uv(0).vi(0).vi(0).vi(1 << 31).b},
		{"timeout beyond int32", head(byte(TypeCreateSession)).vi(1 << 40).u8(0).b},
		{"password length beyond input", head(byte(TypeCreateSession)).vi(1).uv(17).raw(1, 2).b},
		{"overlong varint", (&craft{}).u8(1).u8(byte(TypeCloseSession)).raw(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01).vi(2).uv(0).u8(0).b},
		{"close session missing reason", head(byte(TypeCloseSession)).b},
		{"close session trailing byte", head(byte(TypeCloseSession)).u8(0).u8(0).b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %+v, %v; want ErrCorrupt", got, err)
			}
			if got != nil {
				t.Errorf("Decode returned a txn with an error")
			}
		})
	}
}

func TestDecodeEveryOpKind(t *testing.T) {
	for k := OpCreate; k <= OpReap; k++ {
		tx := &Txn{Type: TypeOps, Ops: []Op{{Kind: k, Path: "/x"}}}
		got, err := Decode(tx.Encode())
		if err != nil || got.Ops[0].Kind != k {
			t.Errorf("kind %d: %v", k, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, tx := range sampleTxns() {
		b := tx.Encode()
		if len(b) > 4096 {
			continue // keep the seed corpus quick
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add(opHead(byte(OpCreate)).opTail().b)
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := Decode(b)
		if err != nil {
			if tx != nil {
				t.Fatalf("txn and error both returned")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		again, err := Decode(tx.Encode())
		if err != nil {
			t.Fatalf("re-encoding of a decoded txn does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(tx)) {
			t.Fatalf("re-decode differs:\n%+v\n%+v", again, tx)
		}
	})
}

// TestVersions checks that the types a version-1 node knows are still
// written as version 1, and that version 2 decodes them too.
func TestVersions(t *testing.T) {
	old := (&Txn{Type: TypeCloseSession, Session: 7}).Encode()
	if old[0] != 1 {
		t.Fatalf("close session written as version %d, want 1", old[0])
	}
	v2 := append([]byte{2}, old[1:]...)
	got, err := Decode(v2)
	if err != nil || got.Type != TypeCloseSession || got.Session != 7 {
		t.Fatalf("version-2 close session: %+v, %v", got, err)
	}
	cfg := (&Txn{Type: TypeSetConfig, Data: []byte("x")}).Encode()
	if cfg[0] != 2 {
		t.Fatalf("set config written as version %d, want 2", cfg[0])
	}
}
