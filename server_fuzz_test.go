package zk

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk/internal/jute"
)

// fuzzFrame frames a payload as the wire does.
func fuzzFrame(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	return append(b, payload...)
}

// fuzzRequest frames a request header and body.
func fuzzRequest(xid, op int32, body jute.Record) []byte {
	b := jute.Marshal(&jute.RequestHeader{Xid: xid, Type: op})
	if body != nil {
		b = jute.AppendRecord(b, body)
	}
	return fuzzFrame(b)
}

// FuzzServer feeds the whole server loop, after a valid ConnectRequest,
// whatever bytes the fuzzer makes: frames of any length, any opcode, any
// body. The node must not panic, must never answer out of order in a way
// that breaks framing, and must still serve other sessions afterwards.
func FuzzServer(f *testing.F) {
	for _, s := range fuzzServerSeeds() {
		f.Add(s)
	}
	fuzzServer(f)
}

// fuzzServerSeeds are the committed corpus of FuzzServer (see
// TestWriteServerFuzzCorpus): one request of each kind and some bad
// frames.
func fuzzServerSeeds() [][]byte {
	acl := []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	return [][]byte{
		fuzzRequest(1, jute.OpCreate, &jute.CreateRequest{Path: "/a", Data: []byte("x"), ACL: acl}),
		fuzzRequest(1, jute.OpGetData, &jute.PathWatchRequest{Path: "/", Watch: true}),
		fuzzRequest(1, jute.OpGetChildren2, &jute.PathWatchRequest{Path: "/zookeeper", Watch: true}),
		fuzzRequest(1, jute.OpSetData, &jute.SetDataRequest{Path: "/a", Data: []byte("y"), Version: -1}),
		fuzzRequest(1, jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: "/m", ACL: acl}},
			{Type: jute.OpCheck, Req: &jute.CheckVersionRequest{Path: "/m", Version: 0}},
			{Type: jute.OpDelete, Req: &jute.DeleteRequest{Path: "/m", Version: -1}},
		}}),
		fuzzRequest(1, jute.OpSetWatches2, &jute.SetWatches2{RelativeZxid: 1, DataWatches: []string{"/a"}, ExistWatches: []string{"/b"}, PersistentRecursiveWatches: []string{"/"}}),
		fuzzRequest(1, jute.OpAddWatch, &jute.AddWatchRequest{Path: "/", Mode: 1}),
		fuzzRequest(-4, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}),
		fuzzRequest(-2, jute.OpPing, nil),
		fuzzRequest(1, jute.OpCloseSession, nil),
		fuzzRequest(1, 999, nil),
		fuzzFrame([]byte{0, 0, 0, 1}),
		{0xff, 0xff, 0xff, 0xff},
		{0, 0x20, 0, 0},
	}
}

// TestWriteServerFuzzCorpus writes fuzzServerSeeds to
// testdata/fuzz/FuzzServer when ZKRAFT_WRITE_CORPUS is set, and otherwise
// checks the corpus is there.
func TestWriteServerFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzServer")
	if os.Getenv("ZKRAFT_WRITE_CORPUS") == "" {
		if ents, err := os.ReadDir(dir); err != nil || len(ents) < len(fuzzServerSeeds()) {
			t.Fatalf("the FuzzServer seed corpus is missing from %s (ZKRAFT_WRITE_CORPUS=1 writes it): %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, seed := range fuzzServerSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fuzzServer(f *testing.F) {
	n, err := Open(context.Background(), Config{TickTime: 10 * time.Millisecond, MaxPacket: 1 << 16, Logger: hclog.NewNullLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	probe, err := n.Connect(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		client, server := net.Pipe()
		n.wire.admit(server)
		defer client.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Read replies as a client would: frames until the server
			// closes or goes quiet; framing must hold throughout.
			client.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			var hdr [4]byte
			for {
				if _, err := io.ReadFull(client, hdr[:]); err != nil {
					return
				}
				l := binary.BigEndian.Uint32(hdr[:])
				if l > 1<<20 {
					t.Errorf("reply frame of %d bytes", l)
					return
				}
				if _, err := io.CopyN(io.Discard, client, int64(l)); err != nil {
					return
				}
			}
		}()
		client.SetWriteDeadline(time.Now().Add(time.Second))
		connect := fuzzFrame(jute.Marshal(&jute.ConnectRequest{TimeOut: 100, Passwd: make([]byte, 16), HasReadOnly: true}))
		if _, err := client.Write(connect); err == nil {
			client.Write(input)
			client.Write(fuzzRequest(1<<30, jute.OpCloseSession, nil))
		}
		<-done
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := probe.Exists(ctx, "/"); err != nil {
			t.Fatalf("the node stopped serving: %v", err)
		}
	})
}
