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

func (t tcpNetwork) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	if t.tls != nil {
		d := tls.Dialer{Config: t.tls}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
