// Command zkraft runs one zkraft node: a ZooKeeper server, as far as
// ZooKeeper clients can tell, replicated by raft.
//
// With no arguments it runs a single node with its data in ./zkraft-data
// and clients on 127.0.0.1:2181:
//
//	zkraft
//
// Flags name the node, its data and addresses, and the ensemble:
//
//	zkraft -id 1 -data /var/lib/zkraft -client 0.0.0.0:2181 \
//	    -peer 10.0.0.1:2888 -peers 1=10.0.0.1:2888,2=10.0.0.2:2888,3=10.0.0.3:2888
//
// It also takes ZooKeeper's own form, reading a zoo.cfg (and myid in its
// dataDir), so an ensemble can be swapped file for file:
//
//	zkraft start-foreground /etc/zookeeper/conf/zoo.cfg
//
// Server properties come from other zoo.cfg keys or from -Dzookeeper.*
// flags in the SERVER_JVMFLAGS environment variable, as zkServer.sh passes
// them: secureClientPort with the ssl.* keys serves TLS clients, and
// sslQuorum=true with the ssl.quorum.* keys secures the peer port (key and
// trust stores in PEM). SIGTERM or SIGINT stops the node cleanly.
//
// ZKRAFT_LOG_LEVEL sets the log level (info by default); ZKRAFT_PPROF, an
// address such as 127.0.0.1:6060, serves Go's profiles (net/http/pprof)
// there, for measuring the server under load.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/zkraft/zk"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main, testable: it returns the exit status.
func run(args []string, stderr io.Writer) int {
	log := hclog.New(&hclog.LoggerOptions{Name: "zkraft", Output: stderr, Level: hclog.LevelFromString(envOr("ZKRAFT_LOG_LEVEL", "info"))})
	cfg, err := configure(args, stderr, log)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "zkraft:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	node, err := zk.Open(ctx, cfg)
	if err != nil {
		log.Error("could not start", "error", err)
		return 1
	}
	log.Info("serving ZooKeeper clients", "id", cfg.ID, "client", node.ClientAddr(), "secure_client", node.SecureClientAddr(), "peer", cfg.PeerAddr, "data", cfg.Dir)
	if addr := os.Getenv("ZKRAFT_PPROF"); addr != "" {
		stopProfiles, err := serveProfiles(addr)
		if err != nil {
			log.Error("profiles", "error", err)
		} else {
			defer stopProfiles()
			log.Info("serving profiles", "addr", addr)
		}
	}
	<-ctx.Done()
	log.Info("stopping")
	if err := node.Close(); err != nil {
		log.Error("stopped with an error", "error", err)
		return 1
	}
	return 0
}

// configure turns the command line into a node's Config.
func configure(args []string, stderr io.Writer, log hclog.Logger) (zk.Config, error) {
	if len(args) > 0 && (args[0] == "start-foreground" || args[0] == "start") {
		if len(args) != 2 {
			return zk.Config{}, fmt.Errorf("usage: zkraft %s zoo.cfg", args[0])
		}
		cfg, err := fromZooCfg(args[1], os.Getenv("SERVER_JVMFLAGS"))
		if err != nil {
			return zk.Config{}, err
		}
		cfg.Logger = log
		return cfg, nil
	}
	fs := flag.NewFlagSet("zkraft", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "1", "this node's id in the ensemble")
	data := fs.String("data", "zkraft-data", "directory for the raft log, stable store and snapshots")
	client := fs.String("client", "127.0.0.1:2181", "address for ZooKeeper clients")
	peer := fs.String("peer", "", "address for the other nodes (raft and forwarded writes); empty: a standalone node")
	peers := fs.String("peers", "", "the ensemble, as id=host:port,...; this node included")
	peerListen := fs.String("peer-listen", "", "address to listen at for the other nodes when they reach this one at -peer through a NAT or a proxy")
	tick := fs.Duration("tick", 2*time.Second, "ZooKeeper's tickTime")
	logStore := fs.String("log-store", "", "form of the raft log for a new data dir: wal (default) or bolt; an existing one keeps its own")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: zkraft [flags]\n       zkraft start-foreground zoo.cfg\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return zk.Config{}, err
	}
	if fs.NArg() > 0 {
		return zk.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := zk.Config{ID: *id, Dir: *data, ClientAddr: *client, PeerAddr: *peer, PeerListenAddr: *peerListen, TickTime: *tick, Logger: log,
		FourLetterWords: []string{"*"}, LogStore: zk.LogStore(*logStore)}
	if *peers != "" {
		for _, p := range strings.Split(*peers, ",") {
			pid, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || pid == "" || addr == "" {
				return zk.Config{}, fmt.Errorf("-peers: %q is not id=host:port", p)
			}
			cfg.Peers = append(cfg.Peers, zk.Peer{ID: pid, Addr: addr})
		}
		if cfg.PeerAddr == "" {
			return zk.Config{}, errors.New("-peers needs -peer, this node's own address")
		}
	}
	return cfg, nil
}

// serveProfiles serves net/http/pprof at addr until the returned function
// is called.
func serveProfiles(addr string) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	return func() { srv.Close(); <-done }, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
