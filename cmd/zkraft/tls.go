package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zkraft/zk/internal/zoocfg"
)

// ZooKeeper 3.8's TLS settings, read from zoo.cfg keys or -Dzookeeper.*
// flags as its X509Util reads them: "ssl." for the client port
// (ClientX509Util), "ssl.quorum." for the quorum port (QuorumX509Util).
//
// Java key stores are not readable from Go: a store must be PEM (ZooKeeper
// 3.8 reads PEM too, so the same files serve both). A PEM key store holds
// the private key and the certificate chain in one file; a PEM trust store
// holds the trusted certificates.
const (
	clientSSLPrefix = "ssl."
	quorumSSLPrefix = "ssl.quorum."
)

// tlsSettings reads one prefix's keys.
type tlsSettings struct {
	zc     *zoocfg.Config
	prefix string
}

func (s tlsSettings) get(key string) (string, bool) {
	v, ok := s.zc.Property(s.prefix + key)
	return strings.TrimSpace(v), ok
}

func (s tlsSettings) errorf(key, format string, args ...any) error {
	return fmt.Errorf("%s%s: %s", s.prefix, key, fmt.Sprintf(format, args...))
}

// tlsConfig builds the server side of a port's TLS (and, for the quorum,
// the client side too: peers dial each other with the same config).
// quorum asks for ZooKeeper's quorum rules: the client certificate is
// always required, and hostname verification of the peer dialled can be
// turned off with ssl.quorum.hostnameVerification=false.
func (s tlsSettings) tlsConfig(quorum bool) (*tls.Config, error) {
	for _, key := range []string{"crl", "ocsp"} {
		if v, _ := s.get(key); strings.EqualFold(v, "true") {
			return nil, s.errorf(key, "certificate revocation checks are not supported by zkraft")
		}
	}
	if v, ok := s.get("context.supplier.class"); ok && v != "" {
		return nil, s.errorf("context.supplier.class", "a Java SSLContext supplier (%s) cannot be used by zkraft", v)
	}
	loc, _ := s.get("keyStore.location")
	if loc == "" {
		return nil, s.errorf("keyStore.location", "not set: the server needs a certificate and key")
	}
	cert, err := s.loadKeyStore(loc)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if tloc, _ := s.get("trustStore.location"); tloc != "" {
		pool, err := s.loadTrustStore(tloc)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.RootCAs = pool, pool
	}
	// ssl.clientAuth: empty means need, as X509Util.ClientAuth.
	auth, _ := s.get("clientAuth")
	switch strings.ToLower(auth) {
	case "", "need":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "want":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "none":
		cfg.ClientAuth = tls.NoClientCert
	default:
		return nil, s.errorf("clientAuth", "%q is not none, want or need", auth)
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		// Java would fall back to the JDK's default trust store; trusting
		// every public CA to name clients is not what anyone wants.
		return nil, s.errorf("trustStore.location", "not set, and ssl.clientAuth=%s needs the CAs that sign client certificates", strings.ToLower(cmp.Or(auth, "need")))
	}
	if err := s.protocols(cfg); err != nil {
		return nil, err
	}
	if err := s.cipherSuites(cfg); err != nil {
		return nil, err
	}
	if quorum {
		if v, _ := s.get("hostnameVerification"); strings.EqualFold(v, "false") {
			// Check the peer's chain, not its name, as ZooKeeper does
			// with hostname verification off.
			pool := cfg.RootCAs
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("peer sent no certificate")
				}
				opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
				for _, c := range cs.PeerCertificates[1:] {
					opts.Intermediates.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(opts)
				return err
			}
		}
	}
	return cfg, nil
}

// storeType is a store's type: .type, else guessed from the file name as
// KeyStoreFileType.fromFilename. Only PEM can be read.
func (s tlsSettings) storeType(store, loc string) error {
	typ, _ := s.get(store + ".type")
	if typ == "" {
		switch strings.ToLower(filepath.Ext(loc)) {
		case ".jks":
			typ = "JKS"
		case ".p12", ".pfx":
			typ = "PKCS12"
		case ".bcfks":
			typ = "BCFKS"
		default:
			typ = "PEM" // ZooKeeper would refuse an unknown extension; the PEM reader says what is wrong
		}
	}
	switch strings.ToUpper(typ) {
	case "PEM":
		return nil
	case "JKS", "PKCS12", "BCFKS":
		return s.errorf(store+".location", "%s is a %s store, which zkraft cannot read: convert it to PEM "+
			"(keytool -importkeystore -srckeystore %s -destkeystore store.p12 -deststoretype PKCS12, then "+
			"openssl pkcs12 -in store.p12 -nodes -out store.pem) and set %s%s.type=PEM",
			loc, strings.ToUpper(typ), loc, s.prefix, store)
	}
	return s.errorf(store+".type", "%q is not PEM, JKS, PKCS12 or BCFKS", typ)
}

// loadKeyStore reads a PEM key store: the certificate chain, leaf first,
// and its private key (PKCS#8, PKCS#1 or SEC 1) in one file. The key must
// not be encrypted, so ssl.keyStore.password is not used.
func (s tlsSettings) loadKeyStore(loc string) (tls.Certificate, error) {
	if err := s.storeType("keyStore", loc); err != nil {
		return tls.Certificate{}, err
	}
	data, err := os.ReadFile(loc)
	if err != nil {
		return tls.Certificate{}, s.errorf("keyStore.location", "%v", err)
	}
	var certs, keys []byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, pem.EncodeToMemory(b)...)
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return tls.Certificate{}, s.errorf("keyStore.location", "%s holds an encrypted private key, which zkraft cannot read: "+
				"decrypt it (openssl pkcs8 -in key.pem -out plain.pem) and keep the file readable only by the server", loc)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			keys = append(keys, pem.EncodeToMemory(b)...)
		}
	}
	if len(certs) == 0 || len(keys) == 0 {
		return tls.Certificate{}, s.errorf("keyStore.location", "%s must hold a PEM certificate chain and its private key", loc)
	}
	cert, err := tls.X509KeyPair(certs, keys)
	if err != nil {
		return tls.Certificate{}, s.errorf("keyStore.location", "%s: %v", loc, err)
	}
	return cert, nil
}

// loadTrustStore reads a PEM trust store: the certificates to trust.
func (s tlsSettings) loadTrustStore(loc string) (*x509.CertPool, error) {
	if err := s.storeType("trustStore", loc); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(loc)
	if err != nil {
		return nil, s.errorf("trustStore.location", "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, s.errorf("trustStore.location", "%s holds no PEM certificate", loc)
	}
	return pool, nil
}

// protocolVersions are the JSSE protocol names Go speaks.
var protocolVersions = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// protocols applies ssl.protocol and ssl.enabledProtocols. ZooKeeper 3.8
// enables only ssl.protocol (default TLSv1.2) unless enabledProtocols
// lists more; Go takes a range, from the oldest to the newest listed.
// ssl.protocol=TLS (any version) leaves Go's defaults.
func (s tlsSettings) protocols(cfg *tls.Config) error {
	protocol, _ := s.get("protocol")
	protocol = cmp.Or(protocol, "TLSv1.2")
	list := []string{protocol}
	key := "protocol"
	if v, ok := s.get("enabledProtocols"); ok && v != "" {
		list, key = strings.Split(v, ","), "enabledProtocols"
	} else if protocol == "TLS" {
		return nil
	} else if _, ok := protocolVersions[protocol]; !ok {
		return s.errorf("protocol", "%q is not TLS, TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3", protocol)
	}
	for _, p := range list {
		p = strings.TrimSpace(p)
		v, ok := protocolVersions[p]
		if !ok {
			return s.errorf(key, "%q is not TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3", p)
		}
		if cfg.MinVersion == 0 || v < cfg.MinVersion {
			cfg.MinVersion = v
		}
		cfg.MaxVersion = max(cfg.MaxVersion, v)
	}
	return nil
}

// cipherSuites applies ssl.ciphersuites, IANA names as Java spells them.
// TLS 1.3's suites are not configurable in Go and are skipped, as are
// names Go does not implement; at least one must remain for TLS 1.2.
func (s tlsSettings) cipherSuites(cfg *tls.Config) error {
	v, ok := s.get("ciphersuites")
	if !ok || v == "" {
		return nil
	}
	known, only13 := map[string]uint16{}, map[string]bool{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[cs.Name] = cs.ID
		only13[cs.Name] = len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13
	}
	tls13 := false
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if id, ok := known[name]; ok && !only13[name] {
			cfg.CipherSuites = append(cfg.CipherSuites, id)
		} else if ok {
			tls13 = true
		}
	}
	if len(cfg.CipherSuites) == 0 && !(tls13 && cfg.MinVersion == tls.VersionTLS13) {
		return s.errorf("ciphersuites", "none of %q is a TLS 1.2 cipher suite Go implements", v)
	}
	return nil
}

// tlsFromZooCfg reads the client port's TLS config when zoo.cfg has a
// secureClientPort, and the quorum's when sslQuorum=true.
func tlsFromZooCfg(zc *zoocfg.Config) (client, quorum *tls.Config, err error) {
	if v, _ := zc.Property("ssl.authProvider"); v != "" && v != "x509" {
		return nil, nil, fmt.Errorf("ssl.authProvider=%s: zkraft has only the x509 provider", v)
	}
	if v := strings.TrimSpace(zc.Raw["portUnification"]); strings.EqualFold(v, "true") {
		return nil, nil, errors.New("portUnification=true is not supported: serve TLS on a secureClientPort")
	}
	if zc.SecureClientPort != 0 {
		if client, err = (tlsSettings{zc, clientSSLPrefix}).tlsConfig(false); err != nil {
			return nil, nil, err
		}
	}
	if v := strings.TrimSpace(zc.Raw["sslQuorum"]); strings.EqualFold(v, "true") {
		q, err := (tlsSettings{zc, quorumSSLPrefix}).tlsConfig(true)
		if err != nil {
			return nil, nil, err
		}
		if q.ClientAuth != tls.RequireAndVerifyClientCert {
			// raft needs both ends authenticated: a peer port open to any
			// client would let a stranger join the ensemble's traffic.
			return nil, nil, fmt.Errorf("ssl.quorum.clientAuth: zkraft's quorum always needs client certificates")
		}
		if q.RootCAs == nil {
			return nil, nil, errors.New("ssl.quorum.trustStore.location: not set, and peers need it to trust each other")
		}
		quorum = q
	}
	return client, quorum, nil
}
