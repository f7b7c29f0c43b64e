package main

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkraft/zk/internal/testcert"
)

// writeZooCfg writes a zoo.cfg with a dataDir and the given lines, and
// returns its path.
func writeZooCfg(t *testing.T, dir string, lines ...string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "zoo.cfg")
	text := fmt.Sprintf("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\n%s\n", data, strings.Join(lines, "\n"))
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFromZooCfgTLS: ZooKeeper 3.8's TLS keys, from zoo.cfg or
// SERVER_JVMFLAGS, make the secure client port's and the quorum's TLS.
func TestFromZooCfgTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t)
	keyStore := testcert.WriteKeyStorePEM(t, dir, "server.pem", ca.Issue(t, pkix.Name{CommonName: "server"}))
	quorumStore := testcert.WriteKeyStorePEM(t, dir, "quorum.pem", ca.Issue(t, pkix.Name{CommonName: "peer"}))
	trustStore := ca.WriteCAPEM(t, dir, "ca.pem")

	cfgPath := writeZooCfg(t, dir,
		"clientPort=2181", "secureClientPort=2281", "secureClientPortAddress=127.0.0.1",
		"serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
		"authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider",
		"ssl.keyStore.location="+keyStore, "ssl.keyStore.password=ignored", "ssl.keyStore.type=PEM",
		"ssl.trustStore.location="+trustStore,
		"ssl.clientAuth=want", "ssl.enabledProtocols=TLSv1.3,TLSv1.2",
		"ssl.ciphersuites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256,TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
		"sslQuorum=true", "ssl.quorum.keyStore.location="+quorumStore, "ssl.quorum.trustStore.location="+trustStore,
		"server.1=127.0.0.1:2888:3888", "server.2=127.0.0.2:2888:3888", "server.3=127.0.0.3:2888:3888")
	os.WriteFile(filepath.Join(dir, "data", "myid"), []byte("1\n"), 0o644)
	cfg, err := fromZooCfg(cfgPath, "-Dzookeeper.X509AuthenticationProvider.superUser=CN=admin")
	if err != nil {
		t.Fatal(err)
	}
	switch c := cfg.ClientTLS; {
	case cfg.ClientAddr != "0.0.0.0:2181" || cfg.SecureClientAddr != "127.0.0.1:2281":
		t.Fatalf("client %q, secure %q", cfg.ClientAddr, cfg.SecureClientAddr)
	case c == nil || len(c.Certificates) != 1 || c.ClientCAs == nil:
		t.Fatalf("client TLS %+v", c)
	case c.ClientAuth != tls.VerifyClientCertIfGiven:
		t.Fatalf("ssl.clientAuth=want: %v", c.ClientAuth)
	case c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS13:
		t.Fatalf("versions %x..%x", c.MinVersion, c.MaxVersion)
	case len(c.CipherSuites) != 1 || c.CipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
		t.Fatalf("cipher suites %v", c.CipherSuites)
	case cfg.X509SuperUser != "CN=admin":
		t.Fatalf("super user %q", cfg.X509SuperUser)
	}
	if q := cfg.PeerTLS; q == nil || q.ClientAuth != tls.RequireAndVerifyClientCert || q.RootCAs == nil || q.ClientCAs == nil ||
		q.MinVersion != tls.VersionTLS12 || q.MaxVersion != tls.VersionTLS12 || len(q.Certificates) != 1 {
		t.Fatalf("quorum TLS %+v", q)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// The same keys as -Dzookeeper.* flags; clientAuth defaults to need
	// and the protocol to TLSv1.2 alone, as in ZooKeeper 3.8.
	cfgPath = writeZooCfg(t, t.TempDir(), "secureClientPort=2281")
	cfg, err = fromZooCfg(cfgPath, "-Dzookeeper.ssl.keyStore.location="+keyStore+" -Dzookeeper.ssl.trustStore.location="+trustStore)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.ClientTLS; cfg.ClientAddr != "" || cfg.SecureClientAddr != "0.0.0.0:2281" || c == nil ||
		c.ClientAuth != tls.RequireAndVerifyClientCert || c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS12 || cfg.PeerTLS != nil {
		t.Fatalf("from flags: client %q, secure %q, TLS %+v, peer TLS %v", cfg.ClientAddr, cfg.SecureClientAddr, c, cfg.PeerTLS != nil)
	}
}

// TestFromZooCfgTLSErrors: what zkraft cannot honour fails at start, with
// a message that says what to do.
func TestFromZooCfgTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t)
	keyStore := testcert.WriteKeyStorePEM(t, dir, "server.pem", ca.Issue(t, pkix.Name{CommonName: "server"}))
	trustStore := ca.WriteCAPEM(t, dir, "ca.pem")
	jks := filepath.Join(dir, "keystore.jks")
	os.WriteFile(jks, []byte("not PEM"), 0o600)
	encrypted := filepath.Join(dir, "encrypted.pem")
	os.WriteFile(encrypted, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
	base := []string{"secureClientPort=2281", "ssl.keyStore.location=" + keyStore, "ssl.trustStore.location=" + trustStore}
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{[]string{"secureClientPort=2281", "ssl.keyStore.location=" + jks}, "convert it to PEM"},
		{[]string{"secureClientPort=2281", "ssl.keyStore.location=" + keyStore, "ssl.trustStore.location=" + trustStore, "ssl.trustStore.type=PKCS12"}, "convert it to PEM"},
		{[]string{"secureClientPort=2281", "ssl.keyStore.location=" + encrypted}, "encrypted private key"},
		{[]string{"secureClientPort=2281"}, "ssl.keyStore.location: not set"},
		{[]string{"secureClientPort=2281", "ssl.keyStore.location=" + keyStore}, "ssl.trustStore.location: not set"},
		{append(base, "ssl.clientAuth=sometimes"), "not none, want or need"},
		{append(base, "ssl.protocol=SSLv3"), "ssl.protocol"},
		{append(base, "ssl.ciphersuites=TLS_NOPE"), "ssl.ciphersuites"},
		{append(base, "ssl.crl=true"), "revocation"},
		{append(base, "portUnification=true"), "portUnification"},
		{append(base, "sslQuorum=true"), "ssl.quorum.keyStore.location"},
		{append(base, "sslQuorum=true", "ssl.quorum.keyStore.location="+keyStore, "ssl.quorum.trustStore.location="+trustStore, "ssl.quorum.clientAuth=none"), "always needs client certificates"},
	} {
		_, err := fromZooCfg(writeZooCfg(t, t.TempDir(), c.lines...), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.lines, err, c.want)
		}
	}
}
