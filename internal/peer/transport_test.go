package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/zkraft/zk/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func echo(ctx context.Context, method byte, req []byte) ([]byte, error) {
	switch method {
	case 1:
		return append([]byte{method}, req...), nil
	case 2:
		return nil, errors.New("refused")
	case 3: // wait until the caller gives up
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("unknown method %d", method)
}

func listen(t *testing.T, netw Network, addr string) *Transport {
	t.Helper()
	tr, err := Listen(netw, addr, echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func testNetworks(t *testing.T) map[string]func(t *testing.T) (Network, string, string) {
	return map[string]func(t *testing.T) (Network, string, string){
		"mem": func(t *testing.T) (Network, string, string) { return NewMemNetwork(), "a", "b" },
		"tcp": func(t *testing.T) (Network, string, string) { return TCP(nil), freeAddr(t), freeAddr(t) },
		"tls": func(t *testing.T) (Network, string, string) { return TCP(mutualTLS(t)), freeAddr(t), freeAddr(t) },
	}
}

func TestCall(t *testing.T) {
	for name, setup := range testNetworks(t) {
		t.Run(name, func(t *testing.T) {
			netw, addrA, addrB := setup(t)
			a := listen(t, netw, addrA)
			listen(t, netw, addrB)
			ctx := context.Background()

			// Many concurrent calls share one connection and each gets its
			// own answer.
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := bytes.Repeat([]byte{byte(i)}, i*100)
					resp, err := a.Call(ctx, addrB, 1, req)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(resp, append([]byte{1}, req...)) {
						errs <- fmt.Errorf("call %d: wrong response of %d bytes", i, len(resp))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			_, err := a.Call(ctx, addrB, 2, nil)
			var re *RemoteError
			if !errors.As(err, &re) || re.Msg != "refused" {
				t.Errorf("handler error: got %v", err)
			}

			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if _, err := a.Call(short, addrB, 3, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call past its deadline: got %v", err)
			}
		})
	}
}

func TestCallUnreachable(t *testing.T) {
	netw := NewMemNetwork()
	a := listen(t, netw, "a")
	if _, err := a.Call(context.Background(), "nobody", 1, nil); !errors.Is(err, ErrNotSent) {
		t.Fatalf("call to nobody: got %v, want ErrNotSent", err)
	}
}

func TestPartition(t *testing.T) {
	netw := NewMemNetwork()
	a := listen(t, netw, "a")
	b := listen(t, netw, "b")
	listen(t, netw, "c")
	ctx := context.Background()
	call := func(from *Transport, to string) error {
		_, err := from.Call(ctx, to, 1, []byte("x"))
		return err
	}
	if err := call(a, "b"); err != nil {
		t.Fatal(err)
	}
	netw.Partition([]string{"a"}, []string{"b", "c"})
	// The connection a had to b is cut: the call fails rather than hangs.
	if err := call(a, "b"); err == nil {
		t.Fatal("a reached b across a partition")
	}
	if err := call(b, "c"); err != nil {
		t.Fatalf("b to c within a group: %v", err)
	}
	netw.Heal()
	if err := call(a, "b"); err != nil {
		t.Fatalf("after heal: %v", err)
	}

	netw.Block("a", "b")
	if err := call(a, "b"); err == nil {
		t.Fatal("a reached b through a one-way block")
	}
	if err := call(b, "a"); err != nil {
		t.Fatalf("b to a must stay up under a one-way block from a: %v", err)
	}
	netw.Isolate("c")
	if err := call(b, "c"); err == nil {
		t.Fatal("b reached isolated c")
	}
}

// TestRaftOverTransport runs a three-voter raft cluster over the stream
// layer, elects a leader and replicates a command, on each network.
func TestRaftOverTransport(t *testing.T) {
	for name, setup := range testNetworks(t) {
		t.Run(name, func(t *testing.T) {
			netw, addrA, addrB := setup(t)
			addrs := []string{addrA, addrB}
			if name == "mem" {
				addrs = append(addrs, "c")
			} else {
				addrs = append(addrs, freeAddr(t))
			}
			var servers []raft.Server
			for i, a := range addrs {
				servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint(i)), Address: raft.ServerAddress(a)})
			}
			var rafts []*raft.Raft
			var fsms []*countFSM
			for i, a := range addrs {
				tr := listen(t, netw, a)
				nt := raft.NewNetworkTransportWithLogger(tr.StreamLayer(), 3, time.Second, hclog.NewNullLogger())
				conf := raft.DefaultConfig()
				conf.LocalID = servers[i].ID
				conf.HeartbeatTimeout = 100 * time.Millisecond
				conf.ElectionTimeout = 100 * time.Millisecond
				conf.LeaderLeaseTimeout = 50 * time.Millisecond
				conf.CommitTimeout = 5 * time.Millisecond
				conf.Logger = hclog.NewNullLogger()
				store := raft.NewInmemStore()
				f := &countFSM{}
				r, err := raft.NewRaft(conf, f, store, store, raft.NewInmemSnapshotStore(), nt)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					r.Shutdown().Error()
					nt.CloseStreams()
					nt.Close()
				})
				if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
					t.Fatal(err)
				}
				rafts = append(rafts, r)
				fsms = append(fsms, f)
			}
			// Elect a leader and commit one command through it; a loaded
			// machine may depose a leader mid-way, so try again until the
			// deadline.
			deadline := time.Now().Add(10 * time.Second)
			var err error
			for committed := false; !committed; {
				if time.Now().After(deadline) {
					t.Fatalf("no command committed: %v", err)
				}
				err = errors.New("no leader")
				for _, r := range rafts {
					if r.State() == raft.Leader {
						err = r.Apply([]byte("x"), time.Second).Error()
						committed = err == nil
						break
					}
				}
				if !committed {
					time.Sleep(5 * time.Millisecond) // polling for an election with a deadline
				}
			}
			for time.Now().Before(deadline) {
				done := 0
				for _, f := range fsms {
					if f.get() >= 1 { // a retried command may commit twice
						done++
					}
				}
				if done == len(fsms) {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Fatal("command not replicated to every node")
		})
	}
}

type countFSM struct {
	mu sync.Mutex
	n  int
}

func (f *countFSM) Apply(*raft.Log) any { f.mu.Lock(); f.n++; f.mu.Unlock(); return nil }
func (f *countFSM) get() int            { f.mu.Lock(); defer f.mu.Unlock(); return f.n }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, errors.New("not supported")
}
func (f *countFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mutualTLS returns a mutual-TLS config under a CA of its own.
func mutualTLS(t *testing.T) *tls.Config { return testcert.NewCA(t).MutualTLS(t) }

// TestTLSRefusesStrangers: a node whose certificate another CA signed
// can neither call nor be called.
func TestTLSRefusesStrangers(t *testing.T) {
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := listen(t, TCP(mutualTLS(t)), addrA)
	b := listen(t, TCP(mutualTLS(t)), addrB)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Call(ctx, addrB, 1, nil); err == nil {
		t.Fatal("a call between nodes of different CAs succeeded")
	}
	if _, err := b.Call(ctx, addrA, 1, nil); err == nil {
		t.Fatal("a call between nodes of different CAs succeeded")
	}
}

// TestListenAdvertised: a node known at one address (a proxy's) and
// listening at another is reached through the proxy, and dials from the
// host it is known by, so the proxy can tell the nodes apart.
func TestListenAdvertised(t *testing.T) {
	real := freeAddr(t)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	froms := make(chan string, 4)
	go func() { // the proxy: records where connections come from, forwards them
		for {
			c, err := front.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			froms <- host
			back, err := net.Dial("tcp", real)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(back, c); back.Close() }()
			go func() { io.Copy(c, back); c.Close() }()
		}
	}()
	b, err := ListenAdvertised(TCP(nil), real, front.Addr().String(), echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	a := listen(t, TCP(nil), "127.0.0.2:"+port)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := a.Call(ctx, front.Addr().String(), 1, []byte("hi"))
	if err != nil || string(got) != "\x01hi" {
		t.Fatalf("call through the proxy: %q, %v", got, err)
	}
	if from := <-froms; from != "127.0.0.2" {
		t.Fatalf("the call came from %s, not the caller's own address", from)
	}
}
