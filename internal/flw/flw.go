// Package flw answers ZooKeeper's four-letter words ("ruok", "srvr",
// "mntr", ...) in the exact text formats of Apache ZooKeeper 3.8, so that
// monitoring scripts, zkServer.sh status, and the client libraries' test
// harnesses that parse them keep working against zkraft.
//
// A four-letter word is the first four bytes of a connection, in place of
// a ConnectRequest; the server answers in plain text and closes. IsWord
// tells a word from a frame length, Answer renders the reply from a Stats
// snapshot, NotWhitelisted is the reply to a word that 4lw.commands.whitelist
// does not allow.
//
// The formats were captured from a real ZooKeeper 3.8 (testdata/zk38), with
// one deliberate difference: the build date in the version string is
// printed as MM/dd/yyyy HH:mm GMT (ZooKeeper 3.6 and earlier) instead of
// 3.8's yyyy-MM-dd HH:mm UTC, because go-zookeeper/zk's FLWSrvr — which its
// test harness uses to decide that a server is up — only parses the old
// form.
package flw

import (
	"sort"
	"strings"
)

// TelnetClose is the telnet interrupt sequence (IAC IP IAC DO) that
// ZooKeeper also recognises as a first frame; it closes the connection.
const TelnetClose = "\xff\xf4\xff\xfd"

// NotServing is ZooKeeper's reply to most words while the server is not
// serving (no quorum, still loading).
const NotServing = "This ZooKeeper instance is not currently serving requests\n"

// words are ZooKeeper 3.8's FourLetterCommands, all of them (dirs
// included), whether or not Answer renders them.
var words = []string{
	"conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro",
	"mntr", "ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
}

var wordSet = func() map[string]bool {
	m := map[string]bool{TelnetClose: true}
	for _, w := range words {
		m[w] = true
	}
	return m
}()

// Words returns every four-letter word ZooKeeper 3.8 recognises, sorted.
// "*" in 4lw.commands.whitelist stands for these and telnet close.
func Words() []string {
	return append([]string(nil), words...)
}

// IsWord tells whether the first four bytes of a connection are a
// four-letter word (or TelnetClose) rather than the length of a
// ConnectRequest. Read as a big-endian length they all exceed any legal
// frame, so the check is unambiguous. Words are case-sensitive, as in
// ZooKeeper.
func IsWord(first4 []byte) bool {
	return len(first4) == 4 && wordSet[string(first4)]
}

// Name is the name ZooKeeper gives a word in its whitelist and messages:
// the word itself, or "telnet close" for TelnetClose.
func Name(word string) string {
	if word == TelnetClose {
		return "telnet close"
	}
	return word
}

// NotWhitelisted is ZooKeeper's reply to a recognised word that
// 4lw.commands.whitelist does not allow; the connection closes after it.
func NotWhitelisted(word string) string {
	return Name(word) + " is not executed because it is not in the whitelist.\n"
}

// Answer renders the reply to word from s. It renders ruok, isro, srvr,
// stat, mntr, conf, cons, wchs, wchc, wchp, envi and dirs; for any other
// word — unknown, TelnetClose, or one of ZooKeeper's that change state or
// dump internals (crst, srst, dump, gtmk, stmk, hash) — it returns false,
// and the server should just close the connection. The whitelist is the
// caller's to check first.
//
// Write the reply in one piece: kazoo's server_version reads envi with a
// single recv.
func Answer(word string, s *Stats) (string, bool) {
	if s == nil {
		s = &Stats{}
	}
	var b strings.Builder
	switch word {
	case "ruok":
		// ZooKeeper answers ruok even when not serving: it only says the
		// process is up.
		return "imok", true
	case "isro":
		switch {
		case s.NotServing:
			// ZooKeeper prints its null server object here.
			return "null", true
		case s.Mode == ModeReadOnly:
			return "ro", true
		}
		return "rw", true
	case "envi":
		writeEnvi(&b, s)
		return b.String(), true
	case "srvr", "stat", "mntr", "conf", "cons", "wchs", "wchc", "wchp", "dirs":
	default:
		return "", false
	}
	if s.NotServing {
		return NotServing, true
	}
	switch word {
	case "srvr":
		writeStat(&b, s, false)
	case "stat":
		writeStat(&b, s, true)
	case "mntr":
		writeMntr(&b, s)
	case "conf":
		writeConf(&b, s)
	case "cons":
		writeCons(&b, s)
	case "wchs":
		writeWchs(&b, s)
	case "wchc":
		writeWchc(&b, s)
	case "wchp":
		writeWchp(&b, s)
	case "dirs":
		writeDirs(&b, s)
	}
	return b.String(), true
}

// opNames are the short names FinalRequestProcessor records as a
// connection's last operation (cons "lop=").
var opNames = map[int32]string{
	1: "CREA", 15: "CREA", 19: "CREA", 21: "CREA", // create, create2, createContainer, createTTL
	2: "DELE", 20: "DELE", // delete, deleteContainer
	3: "EXIS", 4: "GETD", 5: "SETD", 6: "GETA", 7: "SETA",
	8: "GETC", 12: "GETC", // getChildren, getChildren2
	9: "SYNC", 11: "PING", 13: "CHEC", 14: "MULT", 16: "RECO",
	17: "CHKW", 18: "REMW", 22: "MLTR", 101: "SETW", 103: "GETE",
	104: "GETACN", 105: "STW2", 106: "ADDW", 107: "HOMI",
	-10: "SESS", -11: "CLOS",
}

// OpName is the short name ZooKeeper shows in cons for a connection whose
// last request had this opcode; "NA" for none or an unknown one.
func OpName(opcode int32) string {
	if n, ok := opNames[opcode]; ok {
		return n
	}
	return "NA"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
