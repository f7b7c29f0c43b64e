package zk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/zkraft/zk"
)

// TestClusterOverTCP runs a three-node ensemble on loopback TCP, in the
// clear and with mutual TLS on the peer port: a write through a follower
// reaches every node.
func TestClusterOverTCP(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var tlsCfg *tls.Config
			if withTLS {
				tlsCfg = testTLS(t, newTestCA(t))
			}
			var peers []zk.Peer
			for i := range 3 {
				peers = append(peers, zk.Peer{ID: fmt.Sprint(i + 1), Addr: freeTCPAddr(t)})
			}
			nodes := make([]*zk.Node, 3)
			errs := make(chan error, 3)
			for i := range nodes {
				go func() {
					n, err := zk.Open(ctx, zk.Config{
						ID: peers[i].ID, PeerAddr: peers[i].Addr, Peers: peers, PeerTLS: tlsCfg,
						ElectionTimeout: 100 * time.Millisecond, TickTime: 100 * time.Millisecond,
					})
					nodes[i] = n
					errs <- err
				}()
			}
			for range nodes {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range nodes {
				defer n.Close()
			}
			var fol *zk.Node
			for _, n := range nodes {
				if n.Stats().Role != zk.RoleLeader {
					fol = n
				}
			}
			conn, err := fol.Connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, st, err := conn.CreateStat(ctx, "/tcp", []byte("x"), zk.FlagPersistent, zk.WorldACL(zk.PermAll))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				c, err := n.Connect(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Sync(ctx, "/"); err != nil {
					t.Fatal(err)
				}
				data, st2, err := c.Get(ctx, "/tcp")
				c.Close()
				if err != nil || string(data) != "x" || st2.Czxid != st.Czxid {
					t.Fatalf("node %s: %q %v", n.ID(), data, err)
				}
			}
		})
	}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zkraft test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert, key}
}

// testTLS returns a mutual-TLS config with a certificate for 127.0.0.1
// signed by ca, trusting only ca.
func testTLS(t *testing.T, ca testCA) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "zkraft node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      pool, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13,
	}
}
