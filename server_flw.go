package zk

// isFourLetterWord reports whether the first four bytes of a connection
// are a four-letter word rather than a frame length.
func isFourLetterWord(b []byte) bool {
	switch string(b) {
	case "ruok", "srvr", "stat", "conf", "cons", "crst", "dump", "envi", "gtmk",
		"stmk", "srst", "wchc", "wchp", "wchs", "mntr", "isro", "hash":
		return true
	}
	return false
}

// answerFourLetterWord answers a four-letter word.
func (n *Node) answerFourLetterWord(word string, _ *wireConn) string {
	if word == "ruok" {
		return "imok"
	}
	return word + " is not executed because it is not in the whitelist.\n"
}
