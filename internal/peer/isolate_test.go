package peer

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestIsolate: an isolated Transport closes its connections and neither
// makes nor takes new ones, raft's included; reconnected, it works again.
func TestIsolate(t *testing.T) {
	for name, setup := range testNetworks(t) {
		t.Run(name, func(t *testing.T) {
			netw, addrA, addrB := setup(t)
			a := listen(t, netw, addrA)
			b := listen(t, netw, addrB)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call := func(from *Transport, to string) error {
				_, err := from.Call(ctx, to, 1, []byte("x"))
				return err
			}
			if err := call(a, addrB); err != nil {
				t.Fatal(err)
			}
			if err := call(b, addrA); err != nil {
				t.Fatal(err)
			}
			// A raft connection from b to a, open before the isolation.
			raftConn, err := b.StreamLayer().Dial(raft.ServerAddress(addrA), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer raftConn.Close()
			accepted, err := a.StreamLayer().Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer accepted.Close()

			a.Isolate(true)
			if !a.Isolated() {
				t.Fatal("Isolated() = false after Isolate(true)")
			}
			if err := call(a, addrB); !errors.Is(err, ErrIsolated) || !errors.Is(err, ErrNotSent) {
				t.Fatalf("call from the isolated node: got %v, want ErrIsolated (an ErrNotSent)", err)
			}
			// b's connection to a was closed: its calls fail rather than
			// hang, at once or on the next dial.
			for range 2 {
				if err := call(b, addrA); err == nil {
					t.Fatal("b reached the isolated node")
				}
			}
			if _, err := a.StreamLayer().Dial(raft.ServerAddress(addrB), time.Second); !errors.Is(err, ErrIsolated) {
				t.Fatalf("raft dial from the isolated node: got %v", err)
			}
			// The raft connection a had accepted is closed under raft.
			accepted.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := accepted.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("read on the isolated node's raft connection: got %v, want EOF", err)
			}

			a.Isolate(false)
			if err := call(a, addrB); err != nil {
				t.Fatalf("after reconnecting, a to b: %v", err)
			}
			if err := call(b, addrA); err != nil {
				t.Fatalf("after reconnecting, b to a: %v", err)
			}
		})
	}
}
