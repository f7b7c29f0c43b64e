package main

import (
	"cmp"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zkraft/zk"
	"github.com/zkraft/zk/internal/zoocfg"
)

// fromZooCfg makes a node's Config from a ZooKeeper zoo.cfg, with server
// properties from SERVER_JVMFLAGS (-Dzookeeper.* flags) where zoo.cfg
// does not set them, as a ZooKeeper server would read them.
//
// A server line's quorum port (server.N=host:PORT:electionPort) becomes
// the node's peer address, which carries raft and forwarded writes; the
// election port is not used, as raft elects over the same connection, but
// it and the line's client address are kept for /zookeeper/config.
// The raft state lives in dataDir/zkraft, next to myid; the zoo.cfg key
// zkraft.logStore (bolt or wal) chooses the form of its log.
//
// secureClientPort (with secureClientPortAddress) serves TLS clients next
// to clientPort, configured by ZooKeeper's ssl.* keys, and sslQuorum=true
// puts mutual TLS on the peer port with the ssl.quorum.* keys (tls.go);
// X509AuthenticationProvider.superUser names the super user's certificate.
func fromZooCfg(path, jvmFlags string) (zk.Config, error) {
	zc, err := zoocfg.Load(path)
	if err != nil {
		return zk.Config{}, err
	}
	zc.ApplyJVMFlags(zoocfg.ParseJVMFlags(jvmFlags))
	cfg := zk.Config{
		Dir:               filepath.Join(zc.DataDir, "zkraft"),
		TickTime:          zc.TickTime,
		MinSessionTimeout: zc.MinSessionTimeout,
		MaxSessionTimeout: zc.MaxSessionTimeout,
		MaxClientConns:    zc.MaxClientCnxns,
		DisableTTL:        true,
		ReconfigEnabled:   zc.ReconfigEnabled,
	}
	if zc.MaxClientCnxns == 0 {
		cfg.MaxClientConns = -1 // ZooKeeper's 0: no limit
	}
	for w := range zc.FourLetterWhitelist {
		cfg.FourLetterWords = append(cfg.FourLetterWords, w)
	}
	if len(cfg.FourLetterWords) == 0 {
		cfg.FourLetterWords = []string{"srvr"}
	}
	if v, ok := zc.Property("DigestAuthenticationProvider.superDigest"); ok {
		cfg.SuperDigest = v
	}
	if v, ok := zc.Property("extendedTypesEnabled"); ok {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return zk.Config{}, fmt.Errorf("%s: extendedTypesEnabled=%q: %w", path, v, err)
		}
		cfg.DisableTTL = !on
	}
	if v, ok := zc.Property("jute.maxbuffer"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return zk.Config{}, fmt.Errorf("%s: jute.maxbuffer=%q is not a positive number", path, v)
		}
		cfg.MaxPacket = n
	}
	if v, ok := zc.Property("globalOutstandingLimit"); ok {
		// ZooKeeper reads it with Integer.getInteger: a value that is no
		// number leaves the default, and one below 1 throttles a client
		// with any request outstanding, which is a limit of 1.
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			cfg.MaxOutstandingRequests = max(n, 1)
		}
	}
	if v, ok := zc.Property("zkraft.logStore"); ok {
		cfg.LogStore = zk.LogStore(v)
	}
	if v, ok := zc.Property("X509AuthenticationProvider.superUser"); ok {
		cfg.X509SuperUser = v
	}
	if zc.ClientPort == 0 && zc.SecureClientPort == 0 {
		return zk.Config{}, fmt.Errorf("%s: no clientPort or secureClientPort, and no client address on this server's line", path)
	}
	if zc.ClientPort != 0 {
		cfg.ClientAddr = net.JoinHostPort(cmp.Or(zc.ClientPortAddress, "0.0.0.0"), strconv.Itoa(zc.ClientPort))
	}
	if cfg.ClientTLS, cfg.PeerTLS, err = tlsFromZooCfg(zc); err != nil {
		return zk.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if zc.SecureClientPort != 0 {
		cfg.SecureClientAddr = net.JoinHostPort(cmp.Or(zc.SecureClientPortAddress, "0.0.0.0"), strconv.Itoa(zc.SecureClientPort))
	}

	single := len(zc.Servers) <= 1 && zc.StandaloneEnabled
	if !zc.Distributed() || single {
		cfg.ID = "1"
		if zc.HasMyID {
			cfg.ID = strconv.FormatUint(zc.MyID, 10)
		}
		return cfg, nil
	}
	self, ok := zc.Self()
	if !ok {
		return zk.Config{}, fmt.Errorf("%s: myid %d in %s names no server line", path, zc.MyID, zc.DataDir)
	}
	cfg.ID = strconv.FormatUint(self.ID, 10)
	cfg.PeerAddr = net.JoinHostPort(self.Host, strconv.Itoa(self.PeerPort))
	if zc.QuorumListenOnAllIPs {
		cfg.PeerListenAddr = net.JoinHostPort("", strconv.Itoa(self.PeerPort))
	}
	for _, s := range zc.Servers {
		p := zk.Peer{
			ID:           strconv.FormatUint(s.ID, 10),
			Addr:         net.JoinHostPort(s.Host, strconv.Itoa(s.PeerPort)),
			Observer:     strings.EqualFold(s.Role, zoocfg.Observer),
			ElectionPort: s.ElectionPort,
		}
		if s.ClientAddr != "" {
			p.ClientAddr = net.JoinHostPort(s.ClientHost, strconv.Itoa(s.ClientPort))
		}
		cfg.Peers = append(cfg.Peers, p)
	}
	return cfg, nil
}
