package zk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// FuzzServer drives the whole server loop of a real node — handshake,
// reader, processor, writer, through Node's own admit on one end of a
// net.Pipe — with a client script made from the fuzzer's bytes: a valid
// ConnectRequest, then steps of raw bytes, frames of any payload, valid
// requests, requests of a known opcode with a fuzzed body, and second
// ConnectRequests, in any order, then a closeSession. The node runs with
// small limits, so that they are exercised too. It must not panic; its
// replies must be well framed, a ConnectResponse first, and answer the
// script's requests in the order sent; the connection must end once the
// client goes; and the node must go on serving other sessions.
func FuzzServer(f *testing.F) {
	for _, s := range fuzzServerSeeds() {
		f.Add(s)
	}
	fuzzServer(f)
}

// The kinds of script step: a step is its kind byte, then the kind's
// bytes (see fuzzScript).
const (
	stepRaw     = iota // n, then n bytes written as they are
	stepFrame          // n (2 bytes), then n bytes sent as one frame
	stepValid          // i: the i-th of fuzzValidRequests
	stepConnect        // a second ConnectRequest (resuming when odd)
	stepOp             // i, n, then n bytes: fuzzOps[i] with that body
	numSteps
)

// fuzzXid is the first xid of the script's requests: replies carrying
// xids from it on must come back in increasing order.
const fuzzXid = 1 << 24

// fuzzOps are the opcodes stepOp sends fuzzed bodies to: every one the
// server knows, and some it does not.
var fuzzOps = []int32{
	jute.OpCreate, jute.OpDelete, jute.OpExists, jute.OpGetData, jute.OpSetData,
	jute.OpGetACL, jute.OpSetACL, jute.OpGetChildren, jute.OpSync, jute.OpPing,
	jute.OpGetChildren2, jute.OpCheck, jute.OpMulti, jute.OpCreate2, jute.OpReconfig,
	jute.OpCheckWatches, jute.OpRemoveWatches, jute.OpCreateContainer, jute.OpDeleteContainer,
	jute.OpCreateTTL, jute.OpMultiRead, jute.OpAuth, jute.OpSetWatches, jute.OpSASL,
	jute.OpGetEphemerals, jute.OpGetAllChildrenNumber, jute.OpSetWatches2, jute.OpAddWatch,
	jute.OpWhoAmI, jute.OpCloseSession, jute.OpCreateSession, 0, 999, -100,
}

var fuzzACL = []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

// fuzzValidRequests are the bodies of stepValid: one well-formed request
// of each common kind.
var fuzzValidRequests = []struct {
	op   int32
	body jute.Record
}{
	{jute.OpCreate, &jute.CreateRequest{Path: "/a", Data: []byte("x"), ACL: fuzzACL}},
	{jute.OpCreate, &jute.CreateRequest{Path: "/a/e", ACL: fuzzACL, Flags: 1}},
	{jute.OpCreate2, &jute.CreateRequest{Path: "/a/s-", ACL: fuzzACL, Flags: 2}},
	{jute.OpGetData, &jute.PathWatchRequest{Path: "/a", Watch: true}},
	{jute.OpExists, &jute.PathWatchRequest{Path: "/b", Watch: true}},
	{jute.OpGetChildren2, &jute.PathWatchRequest{Path: "/a", Watch: true}},
	{jute.OpSetData, &jute.SetDataRequest{Path: "/a", Data: []byte("y"), Version: -1}},
	{jute.OpDelete, &jute.DeleteRequest{Path: "/a", Version: -1}},
	{jute.OpAddWatch, &jute.AddWatchRequest{Path: "/", Mode: 1}},
	{jute.OpAddWatch, &jute.AddWatchRequest{Path: "/a", Mode: 0}},
	{jute.OpRemoveWatches, &jute.WatchesRequest{Path: "/a", Type: 3}},
	{jute.OpSetWatches2, &jute.SetWatches2{RelativeZxid: 1, DataWatches: []string{"/a"}, ExistWatches: []string{"/b", "/c"}, PersistentRecursiveWatches: []string{"/"}}},
	{jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: "/m", ACL: fuzzACL}},
		{Type: jute.OpCheck, Req: &jute.CheckVersionRequest{Path: "/m", Version: 0}},
		{Type: jute.OpDelete, Req: &jute.DeleteRequest{Path: "/m", Version: -1}},
	}}},
	{jute.OpSync, &jute.PathRequest{Path: "/"}},
	{jute.OpPing, nil},
	{jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}},
	{jute.OpWhoAmI, nil},
	{jute.OpGetAllChildrenNumber, &jute.PathRequest{Path: "/"}},
}

// fuzzConnect is a ConnectRequest frame: a new session, or with resume
// one naming session 1.
func fuzzConnect(resume bool) []byte {
	req := jute.ConnectRequest{TimeOut: 1000, Passwd: make([]byte, 16), HasReadOnly: true}
	if resume {
		req.SessionID, req.LastZxidSeen = 1, 1
	}
	return fuzzFrame(jute.Marshal(&req))
}

// fuzzScript turns a fuzz input into the bytes the client sends after
// its ConnectRequest, and the number of requests it stamped with xids
// from fuzzXid on.
func fuzzScript(input []byte) ([]byte, int32) {
	var out []byte
	xid := int32(fuzzXid)
	next := func() byte {
		if len(input) == 0 {
			return 0
		}
		b := input[0]
		input = input[1:]
		return b
	}
	take := func(n int) []byte {
		n = min(n, len(input))
		b := input[:n]
		input = input[n:]
		return b
	}
	for len(input) > 0 {
		switch next() % numSteps {
		case stepRaw:
			out = append(out, take(int(next()))...)
		case stepFrame:
			n := int(next())<<8 | int(next())
			out = append(out, fuzzFrame(take(n))...)
		case stepValid:
			r := fuzzValidRequests[int(next())%len(fuzzValidRequests)]
			out = append(out, fuzzRequest(xid, r.op, r.body)...)
			xid++
		case stepConnect:
			out = append(out, fuzzConnect(next()%2 == 1)...)
		case stepOp:
			op := fuzzOps[int(next())%len(fuzzOps)]
			body := take(int(next()))
			p := append(jute.Marshal(&jute.RequestHeader{Xid: xid, Type: op}), body...)
			out = append(out, fuzzFrame(p)...)
			xid++
		}
	}
	return append(out, fuzzRequest(xid, jute.OpCloseSession, nil)...), xid + 1 - fuzzXid
}

// fuzzServerSeeds are the committed corpus of FuzzServer (see
// TestWriteServerFuzzCorpus): scripts of one request of each kind, of
// several interleaved with bad frames, and of the hostile inputs of
// server_hostile_test.go.
func fuzzServerSeeds() [][]byte {
	frame := func(payload []byte) []byte {
		return append([]byte{stepFrame, byte(len(payload) >> 8), byte(len(payload))}, payload...)
	}
	raw := func(b ...byte) []byte { return append([]byte{stepRaw, byte(len(b))}, b...) }
	valid := func(i int) []byte { return []byte{stepValid, byte(i)} }
	op := func(op int32, body []byte) []byte {
		i := slices.Index(fuzzOps, op)
		return append([]byte{stepOp, byte(i), byte(len(body))}, body...)
	}
	req := func(xid, op int32, body jute.Record) []byte {
		b := jute.Marshal(&jute.RequestHeader{Xid: xid, Type: op})
		if body != nil {
			b = jute.AppendRecord(b, body)
		}
		return frame(b)
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	var seeds [][]byte
	for i := range fuzzValidRequests {
		seeds = append(seeds, valid(i))
	}
	seeds = append(seeds,
		// Every valid request in one script.
		cat(valid(0), valid(1), valid(2), valid(3), valid(4), valid(5), valid(6), valid(8), valid(9),
			valid(10), valid(11), valid(12), valid(13), valid(14), valid(15), valid(16), valid(17), valid(7)),
		// Bad frames between good requests.
		cat(valid(0), frame([]byte{0, 0, 1}), valid(3)),
		cat(valid(3), op(jute.OpGetData, []byte{0, 0, 0, 0x10}), valid(4)),
		cat(valid(0), op(jute.OpSetWatches, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}), valid(6)),
		cat(valid(0), op(jute.OpMulti, []byte{0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff}), valid(3)),
		cat(valid(14), op(999, nil), valid(14)),
		cat(valid(14), op(jute.OpCheck, nil), valid(14)),
		cat(valid(14), op(jute.OpCreateSession, []byte{0, 0, 0x27, 0x10}), valid(14)),
		cat(valid(14), op(jute.OpAuth, []byte{0, 0, 0, 0, 0, 0, 0, 6, 'n', 'o', 's', 'u', 'c', 'h', 0, 0, 0, 0}), valid(14)),
		cat(valid(14), op(jute.OpSASL, nil), valid(14)),
		// A second ConnectRequest, new and resuming.
		cat(valid(3), []byte{stepConnect, 0}, valid(3)),
		cat(valid(3), []byte{stepConnect, 1}, valid(3)),
		// Lengths out of range, and a frame cut short.
		cat(valid(14), raw(0xff, 0xff, 0xff, 0xff), valid(14)),
		cat(valid(14), raw(0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1)),
		cat(valid(14), raw(0, 1, 0, 0)),
		cat(valid(14), raw(0, 0, 0, 100, 0, 0, 0, 1, 0, 0)),
		// Watches past the node's limit, and a burst of their events.
		cat(req(1, jute.OpSetWatches2, &jute.SetWatches2{RelativeZxid: 1 << 40, ExistWatches: fuzzPaths("/w", 80)}), valid(4)),
		cat(valid(8), valid(0), valid(6), valid(6), valid(6), valid(7), valid(0), valid(12), valid(7)),
		// Long and deep paths.
		req(1, jute.OpExists, &jute.PathWatchRequest{Path: "/" + strings.Repeat("p", 4000), Watch: true}),
		req(1, jute.OpGetData, &jute.PathWatchRequest{Path: strings.Repeat("/d", 2000)}),
		// The close comes early; the rest goes nowhere.
		cat(valid(0), op(jute.OpCloseSession, nil), valid(3)),
	)
	return seeds
}

// fuzzPaths returns k paths prefix0, prefix1, ….
func fuzzPaths(prefix string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
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
	// Small limits, so that inputs reach them: a few outstanding
	// requests, queues of two packets, a few dozen watches.
	n, err := Open(context.Background(), Config{
		TickTime: 10 * time.Millisecond, MaxPacket: 1 << 16, Logger: hclog.NewNullLogger(),
		MaxOutstandingRequests: 4, MaxQueuedBytes: 2 << 16, MaxWatchesPerSession: 64, MaxWatchBytesPerSession: 4096,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	probe, err := n.Connect(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		script, requests := fuzzScript(input)
		client, server := net.Pipe()
		n.wire.admit(server)
		defer client.Close()
		var writer sync.WaitGroup
		writer.Go(func() {
			client.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := client.Write(fuzzConnect(false)); err != nil {
				return
			}
			if _, err := client.Write(script); err != nil {
				return
			}
			// Zeros complete whatever frame the script left unfinished
			// (none is longer than MaxPacket) and then make empty frames,
			// which close the connection: so every script ends in a
			// close, and a connection that does not end is a hang.
			client.Write(make([]byte, n.cfg.MaxPacket+8))
		})
		// Read replies as a client would, until the server closes.
		var hdr [4]byte
		first, last := true, int32(fuzzXid-1)
		client.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			if _, err := io.ReadFull(client, hdr[:]); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the server neither answers nor closes the connection")
				}
				break
			}
			l := binary.BigEndian.Uint32(hdr[:])
			if l > 1<<20 {
				t.Fatalf("reply frame of %d bytes", l)
			}
			b := make([]byte, l)
			if _, err := io.ReadFull(client, b); err != nil {
				t.Fatalf("a reply frame cut short: %v", err)
			}
			if first {
				var resp jute.ConnectResponse
				if err := jute.Unmarshal(b, &resp); err != nil || resp.SessionID == 0 || resp.TimeOut == 0 {
					t.Fatalf("first frame %x, want a ConnectResponse with a session (%v)", b, err)
				}
				first = false
				continue
			}
			var rh jute.ReplyHeader
			if err := jute.Unmarshal(b, &rh); err != nil {
				t.Fatalf("reply frame %x: %v", b, err)
			}
			if rh.Xid >= fuzzXid && rh.Xid < fuzzXid+requests {
				if rh.Xid <= last {
					t.Fatalf("reply to xid %#x after the reply to %#x", rh.Xid, last)
				}
				last = rh.Xid
			}
		}
		client.Close()
		writer.Wait()
		// The connection ends once its client has gone, whatever state
		// the script left it in.
		deadline := time.Now().Add(10 * time.Second)
		for {
			n.wire.mu.Lock()
			left := len(n.wire.conns)
			n.wire.mu.Unlock()
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d connections still served after their clients closed", left)
			}
			time.Sleep(time.Millisecond) // polling the server's state, bounded by the deadline
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := probe.Exists(ctx, "/"); err != nil {
			t.Fatalf("the node stopped serving: %v", err)
		}
	})
}
