package jute

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// unhex parses spaced hex as written in protocol.md, where "|" separates
// fields.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(strings.ReplaceAll(s, "|", " ")), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// unframe checks and strips the 4-byte frame length of a protocol.md example.
func unframe(t testing.TB, b []byte) []byte {
	t.Helper()
	d := NewDecoder(b)
	n := d.Int()
	if d.Err() != nil || int(n) != d.Len() {
		t.Fatalf("frame length %d, payload %d bytes (%v)", n, d.Len(), d.Err())
	}
	return d.Rest()
}

func newLike(r Record) Record {
	return reflect.New(reflect.TypeOf(r).Elem()).Interface().(Record)
}

var sampleStat = Stat{
	Czxid: 0x100000001, Mzxid: 0x100000002, Ctime: 1700000000000, Mtime: 1700000000001,
	Version: 3, Cversion: -1, Aversion: 2, EphemeralOwner: 0x0100018f2a3b4c00,
	DataLength: 5, NumChildren: 7, Pzxid: 0x100000003,
}

var sampleACL = []ACL{
	{Perms: 31, ID: ID{Scheme: "world", ID: "anyone"}},
	{Perms: 1, ID: ID{Scheme: "digest", ID: "u:h="}},
}

// samples has a populated value of every record type, in forms that
// decode back to themselves (no empty non-nil vectors; see the package
// comment).
func samples() []Record {
	return []Record{
		&ConnectRequest{ProtocolVersion: 0, LastZxidSeen: 42, TimeOut: 30000, SessionID: 0x0100018f2a3b4c00, Passwd: make([]byte, 16), ReadOnly: true, HasReadOnly: true},
		&ConnectResponse{TimeOut: 30000, SessionID: 7, Passwd: []byte("0123456789abcdef"), ReadOnly: true, HasReadOnly: true},
		&ConnectResponse{TimeOut: 30000, SessionID: 7, Passwd: []byte("0123456789abcdef")},
		&RequestHeader{Xid: 1, Type: OpGetData},
		&ReplyHeader{Xid: -2, Zxid: 0x500000009, Err: -101},
		&sampleStat,
		&ID{Scheme: "ip", ID: "10.0.0.1"},
		&ACL{Perms: 31, ID: ID{Scheme: "auth", ID: ""}},
		&ClientInfo{AuthScheme: "ip", User: "127.0.0.1"},
		&CreateRequest{Path: "/a", Data: []byte("hi"), ACL: sampleACL, Flags: 3},
		&CreateRequest{Path: "/null", Data: nil, ACL: nil, Flags: 0},
		&CreateRequest{Path: "/empty", Data: []byte{}, ACL: sampleACL[:1], Flags: 4},
		&CreateTTLRequest{Path: "/t", Data: []byte("x"), ACL: sampleACL, Flags: 5, TTL: 60000},
		&DeleteRequest{Path: "/a", Version: -1},
		&DeleteContainerRequest{Path: []byte("/c")},
		&PathWatchRequest{Path: "/a", Watch: true},
		&SetDataRequest{Path: "/a", Data: []byte("new"), Version: 4},
		&PathRequest{Path: "/sync"},
		&SetACLRequest{Path: "/a", ACL: sampleACL, Version: 0},
		&CheckVersionRequest{Path: "/a", Version: 9},
		&ReconfigRequest{JoiningServers: "server.4=h:1:2;3", LeavingServers: "1", NewMembers: "", CurConfigID: -1},
		&WatchesRequest{Path: "/w", Type: 3},
		&AddWatchRequest{Path: "/w", Mode: 1},
		&AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("user:pass")},
		&SASLPacket{Token: []byte{1, 2, 3}},
		&SetWatches{RelativeZxid: 99, DataWatches: []string{"/a", "/b"}, ExistWatches: []string{"/x"}, ChildWatches: nil},
		&SetWatches2{RelativeZxid: 99, DataWatches: []string{"/a"}, ExistWatches: nil, ChildWatches: []string{"/"}, PersistentWatches: []string{"/p"}, PersistentRecursiveWatches: []string{"/r", "/r2"}},
		&PathResponse{Path: "/q/0000000007"},
		&Create2Response{Path: "/a", Stat: sampleStat},
		&StatResponse{Stat: sampleStat},
		&GetDataResponse{Data: []byte("hi"), Stat: sampleStat},
		&GetDataResponse{Data: nil, Stat: sampleStat},
		&GetACLResponse{ACL: sampleACL, Stat: sampleStat},
		&ChildrenResponse{Children: []string{"zookeeper", "a"}},
		&Children2Response{Children: []string{"x"}, Stat: sampleStat},
		&ErrorResponse{Err: 0},
		&StringsResponse{Strings: []string{"/e1", "/e2"}},
		&IntResponse{Value: 12},
		&WhoAmIResponse{ClientInfo: []ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "bob"}}},
		&WatcherEvent{Type: 3, State: 3, Path: "/a"},
		&MultiHeader{Type: -1, Done: true, Err: -1},
		&MultiRequest{Ops: []MultiOp{
			{Type: OpCreate, Req: &CreateRequest{Path: "/m", Data: []byte("d"), ACL: sampleACL[:1], Flags: 0}},
			{Type: OpCreate2, Req: &CreateRequest{Path: "/m2", ACL: sampleACL[:1]}},
			{Type: OpCreateContainer, Req: &CreateRequest{Path: "/c", ACL: sampleACL[:1], Flags: 4}},
			{Type: OpCreateTTL, Req: &CreateTTLRequest{Path: "/t", ACL: sampleACL[:1], Flags: 5, TTL: 1000}},
			{Type: OpDelete, Req: &DeleteRequest{Path: "/m", Version: -1}},
			{Type: OpSetData, Req: &SetDataRequest{Path: "/m2", Data: []byte("x"), Version: 0}},
			{Type: OpCheck, Req: &CheckVersionRequest{Path: "/m2", Version: 1}},
		}},
		&MultiRequest{Ops: []MultiOp{
			{Type: OpGetData, Req: &PathWatchRequest{Path: "/a"}},
			{Type: OpGetChildren, Req: &PathWatchRequest{Path: "/", Watch: true}},
		}},
		&MultiRequest{},
		&MultiResponse{Results: []MultiResult{
			{Type: OpCreate, Path: "/m"},
			{Type: OpCreate2, Path: "/m2", Stat: sampleStat},
			{Type: OpDelete},
			{Type: OpSetData, Stat: sampleStat},
			{Type: OpCheck},
			{Type: OpGetData, Data: []byte("hi"), Stat: sampleStat},
			{Type: OpGetData, Stat: sampleStat},
			{Type: OpGetChildren, Children: []string{"a", "b"}},
			{Type: OpError, Err: -101},
		}},
		&MultiResponse{},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range samples() {
		name := fmt.Sprintf("%T", r)
		b := Marshal(r)
		got := newLike(r)
		if err := Unmarshal(b, got); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, r)
		}
		if b2 := Marshal(got); !bytes.Equal(b, b2) {
			t.Errorf("%s: re-encoding differs", name)
		}
		// Trailing bytes are ignored (except the optional readOnly byte,
		// which they would be mistaken for).
		if _, ok := r.(*ConnectResponse); !ok {
			got2 := newLike(r)
			if err := Unmarshal(append(b, 1, 2, 3), got2); err != nil || !reflect.DeepEqual(got2, got) {
				t.Errorf("%s: with trailing bytes: %v %+v", name, err, got2)
			}
		}
		// AppendRecord appends.
		if b3 := AppendRecord([]byte{9}, r); b3[0] != 9 || !bytes.Equal(b3[1:], b) {
			t.Errorf("%s: AppendRecord", name)
		}
	}
}

func TestTruncated(t *testing.T) {
	for _, r := range samples() {
		name := fmt.Sprintf("%T", r)
		b := Marshal(r)
		for i := range len(b) {
			err := Unmarshal(b[:i], newLike(r))
			optional := i == len(b)-1
			switch v := r.(type) {
			case *ConnectRequest:
				optional = optional && v.HasReadOnly
			case *ConnectResponse:
				optional = optional && v.HasReadOnly
			default:
				optional = false
			}
			if optional {
				if err != nil {
					t.Errorf("%s: without the optional last byte: %v", name, err)
				}
				continue
			}
			if !errors.Is(err, ErrShort) {
				t.Errorf("%s: prefix %d/%d: err %v, want ErrShort", name, i, len(b), err)
			}
		}
	}
}

func TestStatSize(t *testing.T) {
	if n := len(Marshal(&sampleStat)); n != StatSize {
		t.Fatalf("Stat is %d bytes, want %d", n, StatSize)
	}
	if n := len(Marshal(&MultiHeader{})); n != 9 {
		t.Fatalf("MultiHeader is %d bytes, want 9", n)
	}
}

// statHex is a Stat written out field by field, independent of the encoder.
const statHex = `
	00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 02
	00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 04
	00 00 00 05  00 00 00 06  00 00 00 07
	00 00 00 00 00 00 00 08
	00 00 00 02  00 00 00 00
	00 00 00 00 00 00 00 09`

var statHexValue = Stat{Czxid: 1, Mzxid: 2, Ctime: 3, Mtime: 4, Version: 5, Cversion: 6, Aversion: 7, EphemeralOwner: 8, DataLength: 2, NumChildren: 0, Pzxid: 9}

// checkHex decodes payload as the records in order, compares them with
// want, checks that nothing is left, and re-encodes byte for byte.
func checkHex(t *testing.T, name string, payload []byte, want ...Record) {
	t.Helper()
	d := NewDecoder(payload)
	var enc Encoder
	for _, w := range want {
		got := newLike(w)
		got.Decode(d)
		if d.Err() != nil {
			t.Fatalf("%s: decoding %T: %v", name, w, d.Err())
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %T\n got %+v\nwant %+v", name, w, got, w)
		}
		got.Encode(&enc)
	}
	if d.Len() != 0 {
		t.Errorf("%s: %d bytes left", name, d.Len())
	}
	if !bytes.Equal(enc.Buf, payload) {
		t.Errorf("%s: re-encoded\n got % x\nwant % x", name, enc.Buf, payload)
	}
}

func TestProtocolExamples(t *testing.T) {
	zero16 := strings.Repeat("00 ", 16)
	pw := "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
	pwBytes := unhex(t, pw)
	zxid := "00 00 00 01 00 00 00 05"

	// §3.7: Java-style ConnectRequest, with the readOnly byte.
	connect := unframe(t, unhex(t, `00 00 00 2d  00 00 00 00  00 00 00 00 00 00 00 00
		00 00 75 30  00 00 00 00 00 00 00 00  00 00 00 10 `+zero16+` 00`))
	checkHex(t, "§3.7 connect", connect, &ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true})

	// go-zk's 44-byte form: no readOnly byte.
	var goZK ConnectRequest
	if err := Unmarshal(connect[:44], &goZK); err != nil || goZK.HasReadOnly || goZK.TimeOut != 30000 {
		t.Errorf("44-byte connect: %v %+v", err, goZK)
	}

	// §3.7 reply, with and without the readOnly byte.
	reply := unframe(t, unhex(t, `00 00 00 25  00 00 00 00  00 00 75 30
		01 00 01 8f 2a 3b 4c 00  00 00 00 10 `+pw+` 00`))
	checkHex(t, "§3.7 reply", reply, &ConnectResponse{TimeOut: 30000, SessionID: 0x0100018f2a3b4c00, Passwd: pwBytes, HasReadOnly: true})
	checkHex(t, "§3.7 reply (36)", reply[:36], &ConnectResponse{TimeOut: 30000, SessionID: 0x0100018f2a3b4c00, Passwd: pwBytes})

	// §3.7 expired/invalid.
	expired := unframe(t, unhex(t, `00 00 00 25 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 00 00 00 00 |
		00 00 00 10 | `+zero16+` | 00`))
	checkHex(t, "§3.7 expired", expired, &ConnectResponse{Passwd: make([]byte, 16), HasReadOnly: true})

	// §4.6 ping and reply.
	checkHex(t, "§4.6 ping", unframe(t, unhex(t, "00 00 00 08  ff ff ff fe  00 00 00 0b")),
		&RequestHeader{Xid: XidPing, Type: OpPing})
	checkHex(t, "§4.6 ping reply", unframe(t, unhex(t, "00 00 00 10  ff ff ff fe "+zxid+" 00 00 00 00")),
		&ReplyHeader{Xid: XidPing, Zxid: 0x100000005})

	// §4.6 getData("/a", watch) and its replies.
	checkHex(t, "§4.6 getData", unframe(t, unhex(t, "00 00 00 0f  00 00 00 01  00 00 00 04  00 00 00 02 2f 61  01")),
		&RequestHeader{Xid: 1, Type: OpGetData}, &PathWatchRequest{Path: "/a", Watch: true})
	checkHex(t, "§4.6 getData reply", unframe(t, unhex(t, "00 00 00 5a  00 00 00 01 "+zxid+" 00 00 00 00  00 00 00 02 68 69 "+statHex)),
		&ReplyHeader{Xid: 1, Zxid: 0x100000005}, &GetDataResponse{Data: []byte("hi"), Stat: statHexValue})
	checkHex(t, "§4.6 NONODE", unframe(t, unhex(t, "00 00 00 10  00 00 00 01 "+zxid+" ff ff ff 9b")),
		&ReplyHeader{Xid: 1, Zxid: 0x100000005, Err: -101})

	// §4.6 closeSession.
	checkHex(t, "§4.6 closeSession", unframe(t, unhex(t, "00 00 00 08  00 00 00 07  ff ff ff f5")),
		&RequestHeader{Xid: 7, Type: OpCloseSession})
	checkHex(t, "§4.6 closeSession reply", unframe(t, unhex(t, "00 00 00 10  00 00 00 07 "+zxid+" 00 00 00 00")),
		&ReplyHeader{Xid: 7, Zxid: 0x100000005})

	// §8.1 terminator.
	checkHex(t, "§8.1 terminator", unhex(t, "ff ff ff ff 01 ff ff ff ff"), &MultiHeader{Type: -1, Done: true, Err: -1})
	checkHex(t, "§8.1 empty multi", unhex(t, "ff ff ff ff 01 ff ff ff ff"), &MultiRequest{})

	// §9.1 NodeDataChanged on /a from a 3.8-style server.
	checkHex(t, "§9.1 notification", unframe(t, unhex(t, `00 00 00 1e  ff ff ff ff  ff ff ff ff ff ff ff ff  00 00 00 00
		00 00 00 03  00 00 00 03  00 00 00 02 2f 61`)),
		&ReplyHeader{Xid: XidNotification, Zxid: -1}, &WatcherEvent{Type: 3, State: 3, Path: "/a"})
}

func TestMultiRequestBytes(t *testing.T) {
	// §8.1: create, setData, check, terminator.
	want := unhex(t, `
		00 00 00 01 00 ff ff ff ff   00 00 00 02 2f 61  ff ff ff ff  00 00 00 00  00 00 00 00
		00 00 00 05 00 ff ff ff ff   00 00 00 02 2f 61  00 00 00 01 78  ff ff ff ff
		00 00 00 0d 00 ff ff ff ff   00 00 00 02 2f 61  00 00 00 03
		ff ff ff ff 01 ff ff ff ff`)
	checkHex(t, "§8.1 multi", want, &MultiRequest{Ops: []MultiOp{
		{Type: OpCreate, Req: &CreateRequest{Path: "/a"}},
		{Type: OpSetData, Req: &SetDataRequest{Path: "/a", Data: []byte("x"), Version: -1}},
		{Type: OpCheck, Req: &CheckVersionRequest{Path: "/a", Version: 3}},
	}})
}

func TestMultiResponseBytes(t *testing.T) {
	// §8.3: op 1 of 3 failed with NONODE: 0, -101, -2, each twice.
	want := unhex(t, `
		ff ff ff ff 00 00 00 00 00   00 00 00 00
		ff ff ff ff 00 ff ff ff 9b   ff ff ff 9b
		ff ff ff ff 00 ff ff ff fe   ff ff ff fe
		ff ff ff ff 01 ff ff ff ff`)
	checkHex(t, "§8.3 failed multi", want, &MultiResponse{Results: []MultiResult{
		{Type: OpError, Err: 0}, {Type: OpError, Err: -101}, {Type: OpError, Err: -2},
	}})

	// create → path; setData → Stat; delete/check → nothing.
	want = unhex(t, `
		00 00 00 01 00 00 00 00 00   00 00 00 02 2f 61
		00 00 00 05 00 00 00 00 00 `+statHex+`
		00 00 00 02 00 00 00 00 00
		00 00 00 0d 00 00 00 00 00
		ff ff ff ff 01 ff ff ff ff`)
	checkHex(t, "§8.3 results", want, &MultiResponse{Results: []MultiResult{
		{Type: OpCreate, Path: "/a"}, {Type: OpSetData, Stat: statHexValue}, {Type: OpDelete}, {Type: OpCheck},
	}})

	// createContainer and createTTL results go out as create2 (path, Stat).
	got := Marshal(&MultiResponse{Results: []MultiResult{
		{Type: OpCreateContainer, Path: "/a", Stat: statHexValue},
		{Type: OpCreateTTL, Path: "/a", Stat: statHexValue},
		{Type: OpCreate, Err: 5, Path: "/a"}, // success headers carry err 0
	}})
	c2 := "00 00 00 0f 00 00 00 00 00   00 00 00 02 2f 61 " + statHex
	want = unhex(t, c2+c2+"00 00 00 01 00 00 00 00 00   00 00 00 02 2f 61  ff ff ff ff 01 ff ff ff ff")
	if !bytes.Equal(got, want) {
		t.Errorf("create2-family results\n got % x\nwant % x", got, want)
	}

	// The Java client takes an error result's code from the body.
	var mr MultiResponse
	if err := Unmarshal(unhex(t, "ff ff ff ff 00 00 00 00 07  ff ff ff 9b  ff ff ff ff 01 ff ff ff ff"), &mr); err != nil ||
		len(mr.Results) != 1 || mr.Results[0].Err != -101 {
		t.Errorf("error result: %v %+v", err, mr)
	}
}

func TestMultiBadOp(t *testing.T) {
	for _, typ := range []int32{OpExists, OpGetChildren2, OpMulti, OpSync, 99, OpError, OpSetACL} {
		var e Encoder
		h := MultiHeader{Type: typ, Err: -1}
		h.Encode(&e)
		e.String("/a")
		e.Int(0)
		end := MultiHeader{Type: -1, Done: true, Err: -1}
		end.Encode(&e)
		if err := Unmarshal(e.Buf, &MultiRequest{}); !errors.Is(err, ErrBadOp) {
			t.Errorf("request op %s: err %v, want ErrBadOp", OpName(typ), err)
		}
		if typ == OpError {
			continue // a valid result type
		}
		if err := Unmarshal(e.Buf, &MultiResponse{}); !errors.Is(err, ErrBadOp) {
			t.Errorf("result %s: err %v, want ErrBadOp", OpName(typ), err)
		}
	}
	// The done header ends the list whatever its type.
	var m MultiRequest
	if err := Unmarshal(unhex(t, "00 00 00 63 01 00 00 00 00"), &m); err != nil || m.Ops != nil {
		t.Errorf("done header with type 99: %v %+v", err, m)
	}
}

func TestMultiValidate(t *testing.T) {
	s := samples()
	write, read, empty := s[len(s)-5].(*MultiRequest), s[len(s)-4].(*MultiRequest), s[len(s)-3].(*MultiRequest)
	for _, c := range []struct {
		m  *MultiRequest
		op int32
		ok bool
	}{
		{write, OpMulti, true}, {write, OpMultiRead, false},
		{read, OpMultiRead, true}, {read, OpMulti, false},
		{empty, OpMulti, true}, {empty, OpMultiRead, true},
		{&MultiRequest{Ops: []MultiOp{{Type: OpCreate, Req: &DeleteRequest{}}}}, OpMulti, false},
		{&MultiRequest{Ops: []MultiOp{{Type: OpDelete}}}, OpMulti, false},
		{write, OpCreate, false},
	} {
		err := c.m.Validate(c.op)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrBadOp)) {
			t.Errorf("Validate(%s) on %d ops: %v, want ok=%v", OpName(c.op), len(c.m.Ops), err, c.ok)
		}
	}
}

func TestBadLength(t *testing.T) {
	for _, n := range []int32{-2, -1000, MaxLength + 1, 1 << 30, -1 << 31} {
		var e Encoder
		e.Int(n)
		e.Buf = append(e.Buf, make([]byte, 16)...)
		for name, read := range map[string]func(*Decoder){
			"String":  func(d *Decoder) { _ = d.String() },
			"Buffer":  func(d *Decoder) { _ = d.Buffer() },
			"Strings": func(d *Decoder) { _ = d.Strings() },
			"Count":   func(d *Decoder) { _ = d.Count() },
			"ACLs":    func(d *Decoder) { _ = decodeACLs(d) },
			"WhoAmI":  func(d *Decoder) { (&WhoAmIResponse{}).Decode(d) },
		} {
			d := NewDecoder(e.Buf)
			read(d)
			if !errors.Is(d.Err(), ErrBadLength) {
				t.Errorf("%s length %d: err %v, want ErrBadLength", name, n, d.Err())
			}
		}
	}
	// MaxLength itself is a legal length; it fails only for lack of bytes.
	var e Encoder
	e.Int(MaxLength)
	if err := Unmarshal(e.Buf, &PathRequest{}); !errors.Is(err, ErrShort) {
		t.Errorf("length MaxLength: %v, want ErrShort", err)
	}
	// A vector element with a bad length inside a record.
	var r GetACLResponse
	bad := unhex(t, "00 00 00 01  00 00 00 1f  ff ff ff fe")
	if err := Unmarshal(bad, &r); !errors.Is(err, ErrBadLength) {
		t.Errorf("ACL with scheme length -2: %v", err)
	}
}

func TestNulls(t *testing.T) {
	// A -1 string decodes as "" and re-encodes as 0 (kazoo's auth ACL id).
	var a ACL
	if err := Unmarshal(unhex(t, "00 00 00 1f  00 00 00 04 61 75 74 68  ff ff ff ff"), &a); err != nil ||
		a != (ACL{Perms: 31, ID: ID{Scheme: "auth"}}) {
		t.Fatalf("null id: %v %+v", err, a)
	}
	if got := Marshal(&a); !bytes.Equal(got, unhex(t, "00 00 00 1f  00 00 00 04 61 75 74 68  00 00 00 00")) {
		t.Errorf("re-encoded % x", got)
	}

	// Buffers keep null and empty apart.
	var g GetDataResponse
	g.Decode(NewDecoder(append(unhex(t, "ff ff ff ff"), make([]byte, StatSize)...)))
	if g.Data != nil {
		t.Errorf("null buffer decoded as %#v", g.Data)
	}
	g.Decode(NewDecoder(append(unhex(t, "00 00 00 00"), make([]byte, StatSize)...)))
	if g.Data == nil || len(g.Data) != 0 {
		t.Errorf("empty buffer decoded as %#v", g.Data)
	}
	if got := Marshal(&GetDataResponse{}); !bytes.Equal(got[:4], unhex(t, "ff ff ff ff")) {
		t.Errorf("nil buffer encoded as % x", got[:4])
	}

	// Vectors: -1 and 0 decode as nil; nil and empty encode as 0.
	for _, in := range []string{"ff ff ff ff", "00 00 00 00"} {
		var c ChildrenResponse
		if err := Unmarshal(unhex(t, in), &c); err != nil || c.Children != nil {
			t.Errorf("children %s: %v %#v", in, err, c.Children)
		}
		var w WhoAmIResponse
		if err := Unmarshal(unhex(t, in), &w); err != nil || w.ClientInfo != nil {
			t.Errorf("clientInfo %s: %v %#v", in, err, w.ClientInfo)
		}
		var s SetACLRequest
		if err := Unmarshal(unhex(t, "00 00 00 00"+in+"00 00 00 00"), &s); err != nil || s.ACL != nil {
			t.Errorf("acl %s: %v %#v", in, err, s.ACL)
		}
	}
	for _, r := range []Record{&ChildrenResponse{}, &ChildrenResponse{Children: []string{}}, &WhoAmIResponse{}, &GetACLResponse{ACL: []ACL{}}} {
		if got := Marshal(r); !bytes.Equal(got[:4], []byte{0, 0, 0, 0}) {
			t.Errorf("%T empty vector encoded as % x", r, got[:4])
		}
	}
}

func TestBufferDoesNotAlias(t *testing.T) {
	in := Marshal(&GetDataResponse{Data: []byte("hello"), Stat: sampleStat})
	var g GetDataResponse
	if err := Unmarshal(in, &g); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0xee
	}
	if string(g.Data) != "hello" {
		t.Fatalf("Data changed with the input: %q", g.Data)
	}
	// Appending to the result must not write into the input either.
	in = Marshal(&SASLPacket{Token: []byte("ab")})
	in = append(in, 'z')
	d := NewDecoder(in[:len(in)-1])
	tok := d.Buffer()
	_ = append(tok, 'X')
	if in[len(in)-1] != 'z' {
		t.Fatal("append to decoded buffer wrote into the input")
	}
	// Strings are copies too.
	in = Marshal(&PathRequest{Path: "/abc"})
	var p PathRequest
	_ = Unmarshal(in, &p)
	in[5] = 'X'
	if p.Path != "/abc" {
		t.Fatalf("Path changed with the input: %q", p.Path)
	}
}

func TestStickyError(t *testing.T) {
	d := NewDecoder([]byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if d.Long() != 1<<32|0x02030405 {
		t.Fatal("Long")
	}
	_ = d.Long() // 4 bytes left: fails
	if !errors.Is(d.Err(), ErrShort) {
		t.Fatalf("err %v", d.Err())
	}
	first := d.Err()
	if d.Int() != 0 || d.Byte() != 0 || d.Bool() || d.String() != "" || d.Buffer() != nil || d.Strings() != nil {
		t.Error("reads after an error must return zero values")
	}
	if d.Len() != 0 || len(d.Rest()) != 0 {
		t.Errorf("Len %d Rest %d after error", d.Len(), len(d.Rest()))
	}
	d.Fail(errors.New("later"))
	if d.Err() != first {
		t.Errorf("error replaced: %v", d.Err())
	}
}

func TestDecoderPrimitives(t *testing.T) {
	var e Encoder
	e.Byte(0xab)
	e.Bool(true)
	e.Bool(false)
	e.Int(-2)
	e.Long(-3)
	e.String("héllo")
	e.Buffer([]byte{1})
	e.Strings([]string{"a", "", "c"})
	e.Byte(7) // a non-canonical bool
	want := unhex(t, "ab 01 00 ff ff ff fe ff ff ff ff ff ff ff fd 00 00 00 06 68 c3 a9 6c 6c 6f 00 00 00 01 01 00 00 00 03 00 00 00 01 61 00 00 00 00 00 00 00 01 63 07")
	if !bytes.Equal(e.Buf, want) {
		t.Fatalf("encoded\n got % x\nwant % x", e.Buf, want)
	}
	d := NewDecoder(e.Buf)
	if d.Byte() != 0xab || !d.Bool() || d.Bool() || d.Int() != -2 || d.Long() != -3 || d.String() != "héllo" ||
		!bytes.Equal(d.Buffer(), []byte{1}) || !reflect.DeepEqual(d.Strings(), []string{"a", "", "c"}) {
		t.Fatal("decoded values differ")
	}
	if d.Len() != 1 || !bytes.Equal(d.Rest(), []byte{7}) {
		t.Fatalf("Len %d Rest % x", d.Len(), d.Rest())
	}
	if !d.Bool() || d.Err() != nil || d.Len() != 0 {
		t.Fatal("non-zero byte must read as true")
	}
}

func TestHugeCountDoesNotAllocate(t *testing.T) {
	// A count of MaxLength backed by 8 bytes must fail fast, not allocate
	// MaxLength elements.
	var e Encoder
	e.Int(MaxLength)
	e.Int(0)
	e.Int(0)
	allocs := testing.AllocsPerRun(10, func() {
		_ = Unmarshal(e.Buf, &WhoAmIResponse{})
		_ = Unmarshal(e.Buf, &GetACLResponse{})
		_ = Unmarshal(e.Buf, &ChildrenResponse{})
	})
	if allocs > 20 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestOpName(t *testing.T) {
	for op, want := range map[int32]string{
		OpCreate: "create", OpGetData: "getData", OpGetChildren2: "getChildren2", OpMultiRead: "multiRead",
		OpSetWatches2: "setWatches2", OpWhoAmI: "whoAmI", OpCloseSession: "closeSession", OpError: "error",
		OpCreateTTL: "createTTL", 10: "op(10)", -3: "op(-3)", 1000: "op(1000)",
	} {
		if got := OpName(op); got != want {
			t.Errorf("OpName(%d) = %q, want %q", op, got, want)
		}
	}
}
