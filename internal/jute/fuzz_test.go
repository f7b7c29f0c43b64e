package jute

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzTypes is indexed by the first input byte (mod its length). Append
// only: the seed corpus files name types by index.
var fuzzTypes = []func() Record{
	func() Record { return &ConnectRequest{} },
	func() Record { return &ConnectResponse{} },
	func() Record { return &RequestHeader{} },
	func() Record { return &ReplyHeader{} },
	func() Record { return &Stat{} },
	func() Record { return &ID{} },
	func() Record { return &ACL{} },
	func() Record { return &ClientInfo{} },
	func() Record { return &CreateRequest{} },
	func() Record { return &CreateTTLRequest{} },
	func() Record { return &DeleteRequest{} },
	func() Record { return &DeleteContainerRequest{} },
	func() Record { return &PathWatchRequest{} },
	func() Record { return &SetDataRequest{} },
	func() Record { return &PathRequest{} },
	func() Record { return &SetACLRequest{} },
	func() Record { return &CheckVersionRequest{} },
	func() Record { return &ReconfigRequest{} },
	func() Record { return &WatchesRequest{} },
	func() Record { return &AddWatchRequest{} },
	func() Record { return &AuthPacket{} },
	func() Record { return &SASLPacket{} },
	func() Record { return &SetWatches{} },
	func() Record { return &SetWatches2{} },
	func() Record { return &PathResponse{} },
	func() Record { return &Create2Response{} },
	func() Record { return &StatResponse{} },
	func() Record { return &GetDataResponse{} },
	func() Record { return &GetACLResponse{} },
	func() Record { return &ChildrenResponse{} },
	func() Record { return &Children2Response{} },
	func() Record { return &ErrorResponse{} },
	func() Record { return &StringsResponse{} },
	func() Record { return &IntResponse{} },
	func() Record { return &WhoAmIResponse{} },
	func() Record { return &WatcherEvent{} },
	func() Record { return &MultiHeader{} },
	func() Record { return &MultiRequest{} },
	func() Record { return &MultiResponse{} },
}

// fuzzIndex returns the fuzzTypes index of r's type.
func fuzzIndex(t testing.TB, r Record) byte {
	for i, f := range fuzzTypes {
		if reflect.TypeOf(f()) == reflect.TypeOf(r) {
			return byte(i)
		}
	}
	t.Fatalf("%T missing from fuzzTypes", r)
	return 0
}

// seeds returns fuzz inputs made from the samples: the type byte, then a
// valid encoding.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, r := range samples() {
		out = append(out, append([]byte{fuzzIndex(t, r)}, Marshal(r)...))
	}
	return out
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		newRec := fuzzTypes[int(in[0])%len(fuzzTypes)]
		v1 := newRec()
		if err := Unmarshal(in[1:], v1); err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrBadLength) && !errors.Is(err, ErrBadOp) {
				t.Fatalf("%T: unexpected error %v", v1, err)
			}
			return
		}
		// ConnectRequest.Encode always writes the optional readOnly byte.
		if c, ok := v1.(*ConnectRequest); ok {
			c.HasReadOnly = true
		}
		b := Marshal(v1)
		v2 := newRec()
		if err := Unmarshal(b, v2); err != nil {
			t.Fatalf("%T: re-encoding does not decode: %v\nvalue %+v", v1, err, v1)
		}
		if !reflect.DeepEqual(v1, v2) {
			t.Fatalf("%T: round trip differs\nfirst  %+v\nsecond %+v", v1, v1, v2)
		}
		if b2 := Marshal(v2); string(b2) != string(b) {
			t.Fatalf("%T: encoding not stable", v1)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzDecode from the
// samples when JUTE_WRITE_CORPUS=1, so the committed corpus can be rebuilt
// after the records change; otherwise it checks that the corpus files
// exist, so a deleted corpus is noticed.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("JUTE_WRITE_CORPUS") != "1" {
		if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
			t.Fatalf("no seed corpus in %s: %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds(t) {
		name := fmt.Sprintf("seed-%02d-%s", i, reflect.TypeOf(fuzzTypes[s[0]]()).Elem().Name())
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
