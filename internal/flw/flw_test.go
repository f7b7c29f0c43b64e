package flw

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func TestIsWord(t *testing.T) {
	if n := len(Words()); n != 18 {
		t.Errorf("Words() has %d words, ZooKeeper 3.8 has 18", n)
	}
	for _, w := range append(Words(), TelnetClose) {
		if !IsWord([]byte(w)) {
			t.Errorf("IsWord(%q) = false", w)
		}
		// Every word, read as a frame length, is beyond any legal frame
		// (jute.maxbuffer is at most a few MB), so the check is
		// unambiguous.
		if n := binary.BigEndian.Uint32([]byte(w)); n < 0x100000 {
			t.Errorf("%q reads as length %d", w, n)
		}
	}
	for _, b := range [][]byte{[]byte("SRVR"), []byte("srv"), []byte("srvrs"), {0, 0, 0, 44}, []byte("abcd"), nil} {
		if IsWord(b) {
			t.Errorf("IsWord(%q) = true", b)
		}
	}
	w := Words()
	w[0] = "xxxx"
	if Words()[0] == "xxxx" {
		t.Error("Words returns its internal slice")
	}
}

func TestNames(t *testing.T) {
	if Name(TelnetClose) != "telnet close" || Name("srvr") != "srvr" {
		t.Error("Name")
	}
	for op, want := range map[int32]string{1: "CREA", 15: "CREA", 2: "DELE", 4: "GETD", 12: "GETC", 11: "PING", -10: "SESS", -11: "CLOS", 106: "ADDW", 107: "HOMI", 104: "GETACN", 999: "NA", 0: "NA"} {
		if got := OpName(op); got != want {
			t.Errorf("OpName(%d) = %q, want %q", op, got, want)
		}
	}
}

func TestAnswerWordsAndStates(t *testing.T) {
	for _, w := range []string{"dump", "crst", "srst", "gtmk", "stmk", "hash", TelnetClose, "xxxx", ""} {
		if _, ok := Answer(w, &Stats{}); ok {
			t.Errorf("Answer(%q) answered", w)
		}
	}
	for _, c := range []struct {
		s    *Stats
		want string
	}{
		{nil, "rw"}, {&Stats{Mode: ModeLeader}, "rw"}, {&Stats{Mode: ModeReadOnly}, "ro"}, {&Stats{NotServing: true}, "null"},
	} {
		if got, _ := Answer("isro", c.s); got != c.want {
			t.Errorf("isro for %+v = %q, want %q", c.s, got, c.want)
		}
	}
	if got, _ := Answer("ruok", &Stats{NotServing: true}); got != "imok" {
		t.Errorf("ruok = %q", got)
	}
	if got, _ := Answer("srvr", nil); !strings.Contains(got, "\nMode: standalone\n") {
		t.Errorf("zero Stats srvr:\n%s", got)
	}
}

func TestWatches(t *testing.T) {
	s := &Stats{Watches: []Watch{{2, "/b"}, {1, "/a"}, {1, "/a"}, {2, "/a"}, {-1, "/c"}}}
	for word, want := range map[string]string{
		"wchs": "3 connections watching 3 paths\nTotal watches:4\n",
		"wchc": "0x1\n\t/a\n0x2\n\t/a\n\t/b\n0xffffffffffffffff\n\t/c\n\n",
		"wchp": "/a\n\t0x1\n\t0x2\n/b\n\t0x2\n/c\n\t0xffffffffffffffff\n\n",
	} {
		if got, _ := Answer(word, s); got != want {
			t.Errorf("%s = %q, want %q", word, got, want)
		}
	}
	if got, _ := Answer("wchc", &Stats{}); got != "\n" {
		t.Errorf("empty wchc = %q", got)
	}
}

func TestMntrValues(t *testing.T) {
	s := &Stats{
		Mode:          ModeLeader,
		Latency:       Summary{Count: 3, Sum: 10, Min: 1, Max: 7},
		ReadLatency:   Summary{Count: 2, Sum: 3, Min: 1, Max: 2, P50: 1, P95: 2, P99: 2, P999: 2},
		ProposalSizes: ProposalSizes{-1, -1, -1},
		QuorumSize:    3,
		Metrics:       map[string]any{"uptime": 5, "connection_drop_probability": 0.25, "zkraft_extra": "x", "a_extra": 1.0},
	}
	got, _ := Answer("mntr", s)
	for _, want := range []string{
		"zk_server_state\tleader\n", "zk_peer_state\tleading - broadcast\n",
		"zk_avg_latency\t3.3333\n", "zk_min_latency\t1\n", "zk_max_latency\t7\n",
		"zk_avg_readlatency\t1.5\n", "zk_p99_readlatency\t2\n", "zk_last_proposal_size\t-1\n",
		"zk_uptime\t5\n", "zk_connection_drop_probability\t0.25\n", "zk_quorum_size\t3\n",
		"zk_last_client_response_size\t-1\n", "zk_avg_socket_closing_time\t0.0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("mntr lacks %q", want)
		}
	}
	if !strings.HasSuffix(got, "zk_a_extra\t1.0\nzk_zkraft_extra\tx\n") {
		t.Errorf("extra metrics not appended sorted:\n%s", got[len(got)-200:])
	}
	if strings.Count(got, "zk_uptime\t") != 1 {
		t.Error("overridden metric printed twice")
	}
}

func TestJavaFormats(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0.0", 2.5: "2.5", 3.6111: "3.6111", 38: "38.0", 1e7: "1.0E7", 1.5e7: "1.5E7",
		0.001: "0.001", 0.0001: "1.0E-4", -2: "-2.0", 9999999: "9999999.0",
	} {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", f, got, want)
		}
	}
	for in, want := range map[string]string{
		"127.0.0.1:5":        "127.0.0.1:5",
		"[::1]:5":            "[0:0:0:0:0:0:0:1]:5",
		"[fe80::1:2]:5":      "[fe80:0:0:0:0:0:1:2]:5",
		"[::ffff:1.2.3.4]:5": "1.2.3.4:5",
	} {
		if got := javaAddr(netip.MustParseAddrPort(in)); got != want {
			t.Errorf("javaAddr(%s) = %q, want %q", in, got, want)
		}
	}
	for s, want := range map[Summary]float64{{}: 0, {Count: 3, Sum: 10}: 3.3333, {Count: 3, Sum: 20}: 6.6667, {Count: 8, Sum: 1}: 0.125} {
		if got := s.Avg(); got != want {
			t.Errorf("%+v.Avg() = %v, want %v", s, got, want)
		}
	}
}

func TestConfMembers(t *testing.T) {
	s := &Stats{Mode: ModeObserver, Conf: Conf{
		ServerID: 4, Observer: true, ConfigVersion: 0x100000000,
		Members: []Member{
			{ID: 2, Host: "::1", PeerPort: 2888, ElectionPort: 3888, ClientPort: 2181},
			{ID: 1, Host: "zk1", PeerPort: 2888, ElectionPort: 3888},
			{ID: 4, Host: "zk4", PeerPort: 2888, ElectionPort: 3888, Observer: true, ClientHost: "10.0.0.4", ClientPort: 2181},
		},
	}}
	got, _ := Answer("conf", s)
	want := "peerType=1\nmembership: \n" +
		"server.1=zk1:2888:3888:participant\n" +
		"server.2=[::1]:2888:3888:participant;0.0.0.0:2181\n" +
		"server.4=zk4:2888:3888:observer;10.0.0.4:2181\n" +
		"version=100000000"
	if !strings.HasSuffix(got, want) || !strings.Contains(got, "clientPort=-1\nsecureClientPort=-1\n") ||
		!strings.Contains(got, "clientPortListenBacklog=-1\nserverId=4\n") || !strings.Contains(got, "electionAlg=3\n") {
		t.Errorf("conf:\n%s", got)
	}
}
