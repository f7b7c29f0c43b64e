package flw

import (
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// serve answers four-letter words on a loopback listener the way a server
// does: read four bytes, write the reply in one piece, close.
func serve(t *testing.T, reply func(word string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				_, _ = io.WriteString(c, reply(string(buf)))
			}()
		}
	}()
	return ln.Addr().String()
}

func serveStats(t *testing.T, s *Stats) string {
	return serve(t, func(w string) string {
		a, _ := Answer(w, s)
		return a
	})
}

var built = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func clientStats() *Stats {
	est := time.UnixMilli(1795428900614)
	return &Stats{
		Version:         "3.8.4-zkraft",
		BuildTime:       built,
		Mode:            ModeFollower,
		Latency:         Summary{Count: 4, Sum: 10, Min: 1, Max: 5},
		PacketsReceived: 12, PacketsSent: 11, Outstanding: 2,
		Zxid:      0x500000007,
		NodeCount: 42,
		Connections: []Connection{
			{
				Remote: netip.MustParseAddrPort("127.0.0.1:50001"), InterestOps: 1,
				Queued: 0, Received: 14, Sent: 13, SessionID: 0x100001877760000, LastOp: OpName(4),
				Established: est, Timeout: 10 * time.Second, LastCxid: 0xd, LastZxid: 0x500000006,
				LastResponse: est.Add(time.Second), LastLatency: 1, MinLatency: 0, AvgLatency: 4, MaxLatency: 38,
			},
			{
				Remote: netip.MustParseAddrPort("10.1.2.3:50002"), InterestOps: 1,
				Received: 2, Sent: 2, SessionID: 0x7fff0000000000ff, LastOp: OpName(11),
				Established: est, Timeout: 4 * time.Second, LastCxid: 0, LastZxid: -1,
			},
		},
	}
}

func TestGoZookeeperParsesSrvr(t *testing.T) {
	addr := serveStats(t, clientStats())
	ss, ok := gozk.FLWSrvr([]string{addr}, 5*time.Second)
	if !ok || len(ss) != 1 || ss[0].Error != nil {
		t.Fatalf("FLWSrvr: ok=%v %+v", ok, ss)
	}
	got := ss[0]
	if got.Version != "3.8.4-zkraft" || !got.BuildTime.Equal(built) || got.Mode != gozk.ModeFollower ||
		got.Epoch != 5 || got.Counter != 7 || got.MinLatency != 1 || got.AvgLatency != 2.5 || got.MaxLatency != 5 ||
		got.Received != 12 || got.Sent != 11 || got.Connections != 2 || got.Outstanding != 2 || got.NodeCount != 42 {
		t.Errorf("FLWSrvr parsed %+v", got)
	}

	for _, m := range []struct {
		mode Mode
		want gozk.Mode
	}{{ModeLeader, gozk.ModeLeader}, {ModeStandalone, gozk.ModeStandalone}, {ModeObserver, gozk.ModeUnknown}} {
		s := clientStats()
		s.Mode = m.mode
		ss, ok := gozk.FLWSrvr([]string{serveStats(t, s)}, 5*time.Second)
		if !ok || ss[0].Mode != m.want {
			t.Errorf("FLWSrvr with Mode %s: ok=%v mode=%v err=%v", m.mode, ok, ss[0].Mode, ss[0].Error)
		}
	}
}

// The reason for the one deliberate format difference: go-zookeeper/zk
// cannot parse what ZooKeeper 3.8 itself prints.
func TestGoZookeeperRejectsZooKeeper38Srvr(t *testing.T) {
	real, _ := capture(t, "standalone", "srvr")
	addr := serve(t, func(string) string { return real })
	if _, ok := gozk.FLWSrvr([]string{addr}, 5*time.Second); ok {
		t.Fatal("FLWSrvr accepted ZooKeeper 3.8's own srvr; the MM/dd/yyyy build date is no longer needed")
	}
}

func TestGoZookeeperParsesCons(t *testing.T) {
	s := clientStats()
	sc, ok := gozk.FLWCons([]string{serveStats(t, s)}, 5*time.Second)
	if !ok || len(sc) != 1 || sc[0].Error != nil {
		t.Fatalf("FLWCons: ok=%v %+v", ok, sc)
	}
	cl := sc[0].Clients
	if len(cl) != 2 {
		t.Fatalf("FLWCons found %d clients, want 2", len(cl))
	}
	a, b := cl[0], cl[1]
	if a.Addr != "127.0.0.1:50001" || a.Received != 14 || a.Sent != 13 || a.SessionID != 0x100001877760000 ||
		a.LastOperation != "GETD" || a.Timeout != 10000 || a.Lcxid != 0xd || a.Lzxid != 0x500000006 ||
		a.LastLatency != 1 || a.MinLatency != 0 || a.AvgLatency != 4 || a.MaxLatency != 38 ||
		a.Established.Unix() != 1795428900614 {
		t.Errorf("first client parsed as %+v", a)
	}
	if b.Addr != "10.1.2.3:50002" || b.SessionID != 0x7fff0000000000ff || b.LastOperation != "PING" || b.Lzxid != -1 || b.Lcxid != 0 {
		t.Errorf("second client parsed as %+v", b)
	}

	// A connection without a session prints ZooKeeper's short form,
	// which FLWCons reports as an error (with real ZooKeeper too: the
	// cons connection itself is such a line).
	s.Connections = append(s.Connections, Connection{Remote: netip.MustParseAddrPort("127.0.0.1:50003"), Received: 1})
	if _, ok := gozk.FLWCons([]string{serveStats(t, s)}, 5*time.Second); ok {
		t.Error("FLWCons accepted a sessionless connection line")
	}
}

func TestGoZookeeperParsesRuok(t *testing.T) {
	addr := serveStats(t, &Stats{NotServing: true})
	if oks := gozk.FLWRuok([]string{addr}, 5*time.Second); len(oks) != 1 || !oks[0] {
		t.Errorf("FLWRuok = %v", oks)
	}
}

// kazooEnviVersion is kazoo's ENVI_VERSION applied as server_version does
// (kazoo/client.py): split lines on the first '=', strip, take
// zookeeper.version, match the leading digits and dots.
var kazooEnviVersion = regexp.MustCompile(`(?s)^([\d.]*).*`)

func TestKazooServerVersionParsesEnvi(t *testing.T) {
	s := &Stats{Version: "3.8.4-zkraft", BuildTime: built}
	envi, _ := Answer("envi", s)
	if len(envi) >= 8192 {
		t.Errorf("envi is %d bytes; kazoo reads it with one recv(8192)", len(envi))
	}
	parsed := map[string]string{}
	for _, l := range strings.Split(envi, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) != "" {
			parsed[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if v := kazooEnviVersion.FindStringSubmatch(parsed["zookeeper.version"])[1]; v != "3.8.4" {
		t.Errorf("kazoo's regexp finds version %q in envi", v)
	}

	// And kazoo itself, when the system Python has it: server_version
	// with its command() pointed at our listener (command needs a live
	// session otherwise; the replacement does what command does).
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3; kazoo's parsing checked by its regexp only")
	}
	if err := exec.Command(py, "-c", "import kazoo.client").Run(); err != nil {
		t.Skip("python3-kazoo not importable; kazoo's parsing checked by its regexp only")
	}
	host, port, _ := net.SplitHostPort(serveStats(t, s))
	script := `
import socket, sys
from kazoo.client import KazooClient
host, port = sys.argv[1], int(sys.argv[2])
c = KazooClient(hosts="%s:%d" % (host, port))
def command(cmd=b"ruok"):
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(cmd)
    result = sock.recv(8192)
    sock.close()
    return result.decode("utf-8", "replace")
c.command = command
print(".".join(str(x) for x in c.server_version()))
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("kazoo: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "3.8.4" {
		t.Errorf("kazoo server_version() = %q, want 3.8.4", got)
	}
}
