package zk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestRestoreWakesWaiters: installing a snapshot moves the FSM forward as
// applying entries does, so whoever waits for it to catch up (Open, Sync,
// a forwarded write) must be woken, not left until the next entry.
func TestRestoreWakesWaiters(t *testing.T) {
	src := newFSM(newWatchManager(), nil)
	c := &txnContext{zxid: makeZxid(1, 1), time: 1, system: true}
	if _, _, err := src.tree.create(c, &createArgs{path: "/a", acl: openACL}, nil); err != nil {
		t.Fatal(err)
	}
	src.term, src.counter, src.index = 1, 1, 7
	s, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.(*fsmSnapshot).write(&buf); err != nil {
		t.Fatal(err)
	}

	dst := newFSM(newWatchManager(), nil)
	wake := dst.waitCh()
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	default:
		t.Fatal("Restore left waiters asleep")
	}
	if got := dst.LastZxid(); got != makeZxid(1, 1) {
		t.Fatalf("zxid after restore %#x", got)
	}
}

// TestSnapshotWhileChanging: a snapshot reads the tree out a chunk at a
// time while the tree changes between chunks (creates, deletes, setData,
// setACL, multis rolled back, nodes deleted and created again), with a
// second snapshot begun halfway; each must hold exactly the tree as it
// was when it began.
func TestSnapshotWhileChanging(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0))
			f := newFSM(newWatchManager(), nil)
			zxid := int64(1)
			ctx := func() *txnContext {
				zxid++
				return &txnContext{zxid: zxid, time: zxid, system: true}
			}
			paths := []string{}
			pick := func() string {
				if len(paths) == 0 {
					return "/"
				}
				return paths[rng.IntN(len(paths))]
			}
			change := func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				tr := f.tree
				switch rng.IntN(5) {
				case 0, 1:
					p, _, err := tr.create(ctx(), &createArgs{path: pick() + "/n", data: []byte{byte(rng.IntN(256))}, acl: openACL, mode: FlagSequence}, nil)
					if err == nil {
						paths = append(paths, p)
					}
				case 2:
					tr.setData(ctx(), pick(), []byte{byte(rng.IntN(256))}, AnyVersion, nil)
				case 3:
					if len(paths) > 0 {
						i := rng.IntN(len(paths))
						if tr.remove(ctx(), paths[i], AnyVersion, nil) == nil {
							paths = slices.Delete(paths, i, i+1)
						}
					}
				case 4:
					// A multi that fails: everything it did is undone.
					mark := len(tr.undo)
					c := ctx()
					tr.setACL(c, pick(), DigestACL(PermAll, "u", "p"), AnyVersion)
					tr.create(c, &createArgs{path: pick() + "/m", acl: openACL, mode: FlagSequence}, nil)
					if len(paths) > 0 {
						tr.remove(c, paths[rng.IntN(len(paths))], AnyVersion, nil)
					}
					tr.rollback(mark)
				}
			}
			for range 300 {
				change()
			}
			dump := func() stateDump {
				f.mu.RLock()
				defer f.mu.RUnlock()
				return dumpTree(f.tree, f.sessions, f.term, f.counter)
			}
			readBack := func(s *fsmSnapshot, during func()) stateDump {
				var buf bytes.Buffer
				s.chunk, s.afterChunk = 7, during
				if err := s.write(&buf); err != nil {
					t.Fatal(err)
				}
				s.Release()
				snap, tr, err := readSnapshot(&buf)
				if err != nil {
					t.Fatal(err)
				}
				return dumpTree(tr, map[int64]*sessionInfo{}, snap.term, snap.counter)
			}
			want1 := dump()
			s1, _ := f.Snapshot()
			var want2 stateDump
			var s2 *fsmSnapshot
			chunks := 0
			got1 := readBack(s1.(*fsmSnapshot), func() {
				for range rng.IntN(8) {
					change()
				}
				if chunks++; chunks == 10 {
					want2 = dump()
					s, _ := f.Snapshot()
					s2 = s.(*fsmSnapshot)
				}
			})
			compareDumps(t, want1, got1)
			if s2 == nil {
				t.Fatal("the tree was too small for a second snapshot")
			}
			compareDumps(t, want2, readBack(s2, func() { change() }))
			f.mu.RLock()
			defer f.mu.RUnlock()
			if len(f.tree.captures) != 0 {
				t.Fatalf("%d captures left after Release", len(f.tree.captures))
			}
		})
	}
}

// TestReadSnapshotRefusesBadTrees: a snapshot that names a path twice, or
// a node whose parent it does not hold, is refused, though its checksum
// is right.
func TestReadSnapshotRefusesBadTrees(t *testing.T) {
	snapshotOf := func(paths ...string) []byte {
		f := newFSM(newWatchManager(), nil)
		for i, p := range paths {
			c := &txnContext{zxid: makeZxid(1, uint32(i+1)), time: 1, system: true}
			if _, _, err := f.tree.create(c, &createArgs{path: p, acl: openACL}, nil); err != nil {
				t.Fatal(err)
			}
		}
		s, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		var buf bytes.Buffer
		if err := s.(*fsmSnapshot).write(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	// Paths are written as a length and the bytes: rename one node by
	// its encoded path, and sum the snapshot again.
	rename := func(b []byte, from, to string) []byte {
		enc := func(p string) []byte { return append([]byte{byte(len(p))}, p...) }
		if bytes.Count(b, enc(from)) != 1 {
			t.Fatalf("%q is not in the snapshot once", from)
		}
		b = bytes.Replace(b, enc(from), enc(to), 1)
		body := b[:len(b)-4]
		return binary.BigEndian.AppendUint32(body, crc32.Update(0, castagnoli, body))
	}

	good := snapshotOf("/a", "/b", "/b/x")
	snap, tr, err := readSnapshot(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := dumpTree(tr, nil, snap.term, snap.counter); len(tr.nodes["/b"].children) != 1 || len(tr.nodes["/a"].children) != 0 || tr.nodes["/"].walked != 0 {
		t.Fatalf("restored tree: %+v", got)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"a path twice", rename(good, "/a", "/b"), `node "/b" twice`},
		{"an orphan", rename(good, "/b", "/q"), `node "/b/x" has no parent`},
	} {
		if _, _, err := readSnapshot(bytes.NewReader(c.b)); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
}

// TestSnapshotPacer: a snapshot rests after a chunk during which writes
// were applied, twice as long as the chunk took, and not at all while
// none come.
func TestSnapshotPacer(t *testing.T) {
	var applied atomic.Uint64
	p := snapshotPacer{applied: &applied}
	p.start()

	// No writes: the chunk took a second (as far as the pacer knows), and
	// it does not rest after it.
	p.since = time.Now().Add(-time.Second)
	start := time.Now()
	p.chunkDone()
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("rested %v with no writes coming", d)
	}

	// Writes came during a chunk of 20ms: it rests at least 40ms.
	applied.Add(3)
	p.since = time.Now().Add(-20 * time.Millisecond)
	start = time.Now()
	p.chunkDone()
	if d := time.Since(start); d < 2*20*time.Millisecond {
		t.Fatalf("rested %v after a chunk of 20ms during writes", d)
	}
}
