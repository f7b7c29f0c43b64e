package zk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestLogStores: a node keeps its data in either log store across
// restarts; a data dir keeps the store it was made with, and naming the
// other one is refused with ErrLogStoreMismatch rather than starting an
// empty log beside the real one.
func TestLogStores(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []LogStore{"", LogStoreWAL, LogStoreBolt} {
		name := string(kind)
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			n, err := Open(ctx, Config{Dir: dir, LogStore: kind})
			must(t, err)
			c, err := n.Connect(ctx)
			must(t, err)
			_, err = c.Create(ctx, "/kept", []byte("v"), FlagPersistent, WorldACL(PermAll))
			must(t, err)
			must(t, n.Close())

			made := kind
			if made == "" {
				made = LogStoreWAL
			}
			other := map[LogStore]LogStore{LogStoreWAL: LogStoreBolt, LogStoreBolt: LogStoreWAL}[made]
			if got, err := existingLogStore(dir); err != nil || got != made {
				t.Fatalf("data dir holds %q (%v), want %q", got, err, made)
			}
			if _, err := Open(ctx, Config{Dir: dir, LogStore: other}); !errors.Is(err, ErrLogStoreMismatch) {
				t.Fatalf("opening a %s dir as %s: %v", made, other, err)
			}
			// Unnamed, or named as it is, the store in the dir is used.
			for _, again := range []LogStore{"", made} {
				n, err := Open(ctx, Config{Dir: dir, LogStore: again})
				must(t, err)
				c, err := n.Connect(ctx)
				must(t, err)
				data, _, err := c.Get(ctx, "/kept")
				if err != nil || string(data) != "v" {
					t.Fatalf("after a restart as %q: %q, %v", again, data, err)
				}
				must(t, n.Close())
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := Open(ctx, Config{Dir: t.TempDir(), LogStore: "rocks"}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("an unknown log store: %v", err)
		}
	})
	t.Run("both", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, boltFile), nil, 0o600))
		must(t, os.Mkdir(filepath.Join(dir, walDir), 0o700))
		if _, err := Open(ctx, Config{Dir: dir}); err == nil {
			t.Fatal("a dir holding both stores opened")
		}
	})
}

// TestWALHeadTruncation: entries deleted from the head of the log are gone
// for raft, though raft-wal keeps the segment that held them, so a follower
// that far behind is sent the snapshot (TestProcessKillRestart covers the
// rest of that path).
func TestWALHeadTruncation(t *testing.T) {
	logs, _, _, closer, err := openDiskStores(t.TempDir(), LogStoreWAL, hclog.NewNullLogger())
	must(t, err)
	defer closer.Close()
	var entries []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		entries = append(entries, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	must(t, logs.StoreLogs(entries))
	must(t, logs.DeleteRange(1, 6))
	var l raft.Log
	for i := uint64(1); i <= 10; i++ {
		err := logs.GetLog(i, &l)
		switch {
		case i <= 6 && !errors.Is(err, raft.ErrLogNotFound):
			t.Errorf("entry %d after truncation: %v", i, err)
		case i > 6 && (err != nil || l.Data[0] != byte(i)):
			t.Errorf("entry %d: %v %v", i, l.Data, err)
		}
	}
}
