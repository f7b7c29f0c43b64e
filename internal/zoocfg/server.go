package zoocfg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// wrongFormat is ZooKeeper 3.8's own wording, kept so that an operator
// sees the message the ZooKeeper documentation and forums talk about.
const wrongFormat = " does not have the form server_config or server_config;client_config where server_config is the pipe separated list of host:port:port or host:port:port:type and client_config is port or host:port"

// ParseServerLine reads one "server.N=value" line, as reconfig's
// joiningServers and newMembers carry them and /zookeeper/config holds
// them, with a single peer address (multiAddress disabled).
func ParseServerLine(line string) (Server, error) {
	key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
	key = strings.TrimSpace(key)
	if !ok || !strings.HasPrefix(key, "server.") {
		return Server{}, fmt.Errorf("%q is not a server.N=... line", line)
	}
	return parseServer(key, strings.TrimSpace(value), false)
}

// parseServer reads a server.N value the way QuorumPeer.QuorumServer does:
//
//	host:peerPort:electionPort[:role][|host:peerPort:electionPort[:role]...][;[clientHost:]clientPort]
//
// with IPv6 hosts in brackets.
func parseServer(key, value string, multiAddress bool) (Server, error) {
	id, err := parseServerID(key)
	if err != nil {
		return Server{}, err
	}
	s := Server{ID: id, Role: Participant}
	parts := javaSplit(value, ";")
	if len(parts) > 2 || len(parts) == 0 {
		return Server{}, fmt.Errorf("%s: %s%s", key, value, wrongFormat)
	}
	if len(parts) == 2 {
		s.ClientAddr = strings.TrimSpace(parts[1])
		cp, err := hostAndPort(s.ClientAddr)
		if err != nil {
			return Server{}, fmt.Errorf("%s: %v", key, err)
		}
		if len(cp) > 2 {
			return Server{}, fmt.Errorf("%s: %s%s", key, value, wrongFormat)
		}
		s.ClientHost = "0.0.0.0"
		if len(cp) == 2 {
			s.ClientHost = cp[0]
		}
		if s.ClientPort, err = port(cp[len(cp)-1]); err != nil {
			return Server{}, fmt.Errorf("%s: client port: %v", key, err)
		}
	}
	addrs := javaSplit(parts[0], "|")
	if len(addrs) > 1 && !multiAddress {
		return Server{}, fmt.Errorf("%s: Multiple address feature is disabled, but multiple addresses were specified for sid %d", key, id)
	}
	role := ""
	for _, a := range addrs {
		sp, err := hostAndPort(strings.TrimSpace(a))
		if err != nil {
			return Server{}, fmt.Errorf("%s: %v", key, err)
		}
		if len(sp) < 3 || len(sp) > 4 {
			return Server{}, fmt.Errorf("%s: %s%s", key, value, wrongFormat)
		}
		var pa PeerAddr
		pa.Host = sp[0]
		if pa.PeerPort, err = port(sp[1]); err != nil {
			return Server{}, fmt.Errorf("%s: quorum port: %v", key, err)
		}
		if pa.ElectionPort, err = port(sp[2]); err != nil {
			return Server{}, fmt.Errorf("%s: election port: %v", key, err)
		}
		if pa.PeerPort == pa.ElectionPort {
			return Server{}, fmt.Errorf("%s: Client and election port must be different! Please update the configuration file on server.%d", key, id)
		}
		if len(sp) == 4 {
			r := strings.ToLower(strings.TrimSpace(sp[3]))
			if r != Participant && r != Observer {
				return Server{}, fmt.Errorf("%s: Unrecognised peertype: %s", key, sp[3])
			}
			if role != "" && role != r {
				return Server{}, fmt.Errorf("%s: Multiple addresses should have similar roles: %s vs %s", key, role, r)
			}
			role = r
		}
		s.Addrs = append(s.Addrs, pa)
	}
	if role != "" {
		s.Role = role
	}
	s.Host, s.PeerPort, s.ElectionPort = s.Addrs[0].Host, s.Addrs[0].PeerPort, s.Addrs[0].ElectionPort
	return s, nil
}

// hostAndPort splits on ':' like ConfigUtils.getHostAndPort, taking a
// leading [IPv6] host as one piece.
func hostAndPort(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") {
		return javaSplit(s, ":"), nil
	}
	i := strings.IndexByte(s, ']')
	if i < 0 {
		return nil, fmt.Errorf("%s starts with '[' but has no matching ']:'", s)
	}
	if i+2 == len(s) {
		return nil, fmt.Errorf("%s doesn't have a port after colon", s)
	}
	if i+2 < len(s) {
		if s[i+1] != ':' {
			return nil, fmt.Errorf("%s starts with '[' but has no matching ']:'", s)
		}
		return append([]string{s[1:i]}, javaSplit(s[i+2:], ":")...), nil
	}
	return []string{s[1:i]}, nil
}

// javaSplit is Java's String.split for a literal separator: trailing
// empty pieces are dropped, so "h:1:2:" has three parts as in ZooKeeper.
func javaSplit(s, sep string) []string {
	p := strings.Split(s, sep)
	for len(p) > 0 && p[len(p)-1] == "" {
		p = p[:len(p)-1]
	}
	return p
}

var errPortRange = errors.New("port out of range")

// port parses a port as Integer.parseInt and InetSocketAddress would, but
// also rejects 0: a peer or client port of 0 binds a random port nobody
// else can know.
func port(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%w: %d", errPortRange, n)
	}
	return int(n), nil
}
