package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serial numbers the certificates a test issues, so that no two collide.
var serial atomic.Int64

func init() { serial.Store(100) }

// Issue returns a certificate signed by ca with the given subject, for
// both server and client use, valid for 127.0.0.1 and localhost. Its Leaf
// is set.
func (ca *CA) Issue(t testing.TB, subject pkix.Name) tls.Certificate {
	t.Helper()
	return ca.issue(t, &x509.Certificate{Subject: subject})
}

// IssueRaw is Issue with the subject given as an RDN sequence, written as
// is: multi-valued RDNs and any attribute order, for tests of how a
// subject is rendered.
func (ca *CA) IssueRaw(t testing.TB, subject pkix.RDNSequence) tls.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(subject)
	if err != nil {
		t.Fatal(err)
	}
	return ca.issue(t, &x509.Certificate{RawSubject: raw})
}

func (ca *CA) issue(t testing.TB, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	tmpl.DNSNames = []string{"localhost"}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Pool returns a pool that trusts ca alone.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// ServerTLS returns a server config with a certificate for 127.0.0.1 that
// asks for client certificates signed by ca as clientAuth says.
func (ca *CA) ServerTLS(t testing.TB, clientAuth tls.ClientAuthType) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(t, pkix.Name{CommonName: "zkraft server"})},
		ClientCAs:    ca.Pool(), ClientAuth: clientAuth,
	}
}

// ClientTLS returns a client config that trusts ca and presents cert, or
// no certificate when cert is nil.
func (ca *CA) ClientTLS(cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// WriteCAPEM writes ca's certificate to dir/name as PEM, a trust store
// for zoo.cfg (ssl.trustStore.location), and returns its path.
func (ca *CA) WriteCAPEM(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteKeyStorePEM writes cert's private key (PKCS#8) and chain to
// dir/name as one PEM file, a key store for zoo.cfg
// (ssl.keyStore.location) that ZooKeeper 3.8 reads too, and returns its
// path.
func WriteKeyStorePEM(t testing.TB, dir, name string, cert tls.Certificate) string {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	for _, der := range cert.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
