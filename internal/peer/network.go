// Package peer carries node-to-node traffic on one listening address:
// raft's own RPCs (through raft.NetworkTransport) and zkraft's calls to
// the leader (forwarded writes, session liveness, sync, membership). The
// first byte of every connection says which of the two it carries.
//
// The connections come from a Network: TCP (optionally TLS) for real
// deployments, or an in-memory network for tests that can partition and
// heal the links between nodes.
package peer

import (
	"context"
	"crypto/tls"
	"net"
)

// Network is how a node listens for and dials its peers.
type Network interface {
	// Listen listens at addr, the address peers will dial.
	Listen(addr string) (net.Listener, error)
	// Dial connects from the node at from to the node listening at addr.
	Dial(ctx context.Context, from, addr string) (net.Conn, error)
}

// TCP returns the Network of real deployments. With tlsConfig set, every
// connection is TLS in both directions; give it ClientCAs with
// ClientAuth: tls.RequireAndVerifyClientCert and RootCAs plus
// Certificates for mutual TLS.
func TCP(tlsConfig *tls.Config) Network { return tcpNetwork{tlsConfig} }

type tcpNetwork struct{ tls *tls.Config }

func (t tcpNetwork) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if t.tls != nil {
		return tls.NewListener(ln, t.tls), nil
	}
	return ln, nil
}

// Dial connects from the host of from, when it is an IP address, so that
// peers see a node's connections come from the address it is known by
// (a host with several addresses, or loopback aliases such as 127.0.0.2).
func (t tcpNetwork) Dial(ctx context.Context, from, addr string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: sourceAddr(from)}
	if t.tls != nil {
		td := tls.Dialer{NetDialer: d, Config: t.tls}
		return td.DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}

// sourceAddr returns the local address to dial from for a node known at
// from: its IP with any port, or nil to let the system choose.
func sourceAddr(from string) net.Addr {
	host, _, err := net.SplitHostPort(from)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}
