package zk

import (
	"context"
	"crypto/tls"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"
)

// TLS on the client port and the x509 scheme. A node serves TLS clients at
// Config.SecureClientAddr, as ZooKeeper's secureClientPort. A client
// certificate that the TLS layer verified gives the connection the
// identity x509:<subject DN>, with the DN written as Java's
// X500Principal.getName() writes it (RFC 2253), because that string is
// what ZooKeeper's X509AuthenticationProvider stores in ACLs: an ACL
// written for ZooKeeper grants the same clients under zkraft.

// tlsHandshake completes the TLS handshake of a connection from the
// secure client port, bounded as the first frame is, and returns the
// identities its client certificate gives. ok is false when the
// connection must close: the handshake failed, or the client offered a
// certificate the server did not verify (ZooKeeper's provider checks
// every offered certificate against its trust store and closes the
// connection when it fails).
func (w *wireConn) tlsHandshake() (ids []ID, ok bool) {
	tc, isTLS := w.nc.(*tls.Conn)
	if !isTLS {
		return nil, true
	}
	ctx, cancel := context.WithTimeout(w.ctx, sessionlessTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		w.n.log.Debug("TLS handshake failed", "remote", w.nc.RemoteAddr(), "error", err)
		return nil, false
	}
	ids, err := x509Identities(tc.ConnectionState(), w.n.cfg.X509SuperUser)
	if err != nil {
		w.n.log.Warn("client certificate refused", "remote", w.nc.RemoteAddr(), "error", err)
		return nil, false
	}
	return ids, true
}

// x509Identities returns the identities a TLS client's certificate gives:
// x509:<DN>, and super too when the DN is superUser, as
// X509AuthenticationProvider with zookeeper.X509AuthenticationProvider.superUser.
// No certificate gives none (ssl.clientAuth=want, or none).
func x509Identities(cs tls.ConnectionState, superUser string) ([]ID, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, nil
	}
	if len(cs.VerifiedChains) == 0 {
		return nil, errors.New("the client certificate was not verified: set ClientAuth to tls.VerifyClientCertIfGiven or tls.RequireAndVerifyClientCert")
	}
	dn, err := rfc2253(cs.PeerCertificates[0].RawSubject)
	if err != nil {
		return nil, err
	}
	ids := []ID{{Scheme: "x509", ID: dn}}
	if superUser != "" && dn == superUser {
		// ZooKeeper's id is super:<DN>, but no provider names the super
		// scheme, so whoAmI shows it as super with no user: keep it as
		// the digest super user's, which shows the same.
		ids = append(ids, ID{Scheme: "super", ID: ""})
	}
	return ids, nil
}

// addIdentities gives the Conn more identities, as a wire connection's
// TLS client certificate does before its first request.
func (c *Conn) addIdentities(ids []ID) {
	if len(ids) == 0 {
		return
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	next := append([]ID(nil), c.authIDs()...)
	for _, id := range ids {
		if !containsID(next, id) {
			next = append(next, id)
		}
	}
	c.auth.Store(&next)
}

// hasScheme reports whether the Conn holds an identity of scheme.
func (c *Conn) hasScheme(scheme string) bool {
	for _, id := range c.authIDs() {
		if id.Scheme == scheme {
			return true
		}
	}
	return false
}

func containsID(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// The attribute types Java's RFC 2253 output names by keyword; every
// other type is written as its dotted OID with a hex value.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// The ASN.1 string types Java renders as text; others are hex.
const (
	tagUTF8String      = 12
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagGeneralString   = 27
	tagBMPString       = 30
)

type x509ATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// x509ATVSET is one relative distinguished name: encoding/asn1 reads a
// slice type whose name ends in SET as a SET OF.
type x509ATVSET []x509ATV

// rfc2253 renders a DER-encoded X.509 Name as X500Principal.getName()
// does: the last RDN first, RDNs joined by ',', multi-valued RDNs by '+',
// keywords only for the types above, values escaped as Java escapes them
// (',', '=', '+', '<', '>', '#', ';', '"' and '\' anywhere, leading and
// trailing spaces, NUL as \00) and non-string values as '#' and the hex of
// their DER encoding. Go's pkix.Name.String differs in keywords and
// escaping, so it cannot be used: the string must equal the ACL ids
// written for ZooKeeper.
func rfc2253(der []byte) (string, error) {
	var rdns []x509ATVSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil {
		return "", err
	}
	if len(rest) > 0 {
		return "", errors.New("trailing data after the subject name")
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeATV(&b, atv)
		}
	}
	return b.String(), nil
}

func writeATV(b *strings.Builder, atv x509ATV) {
	oid := atv.Type.String()
	kw, known := rfc2253Keywords[oid]
	if !known {
		kw = oid
	}
	b.WriteString(kw)
	b.WriteByte('=')
	v := atv.Value
	text, isText := "", false
	if known && v.Class == asn1.ClassUniversal {
		switch v.Tag {
		case tagUTF8String, tagPrintableString, tagT61String, tagIA5String, tagGeneralString, tagBMPString:
			// Java reads the bytes of each of these as UTF-8, BMPString's
			// UTF-16 included, and so must the DN match it.
			text, isText = string(v.Bytes), true
		}
	}
	if !isText {
		b.WriteByte('#')
		b.WriteString(hex.EncodeToString(v.FullBytes))
		return
	}
	b.WriteString(escapeRFC2253(text))
}

// escapeRFC2253 escapes a value as Java's AVA.toRFC2253String. Each
// byte that is not UTF-8 becomes U+FFFD, as in Java's decoding.
func escapeRFC2253(s string) string {
	const escapees = ",=+<>#;\"\\"
	var runes []string // each rune's rendering, so spaces can be escaped after
	for _, r := range s {
		switch {
		case strings.ContainsRune(escapees, r):
			runes = append(runes, `\`+string(r))
		case r == 0:
			runes = append(runes, `\00`)
		default:
			runes = append(runes, string(r))
		}
	}
	blank := func(x string) bool { return x == " " || x == "\r" }
	lead := 0
	for lead < len(runes) && blank(runes[lead]) {
		lead++
	}
	trail := len(runes) - 1
	for trail >= 0 && blank(runes[trail]) {
		trail--
	}
	var b strings.Builder
	for i, r := range runes {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteString(r)
	}
	return b.String()
}

// validX509ID reports whether an x509 ACL id is a distinguished name, as
// X509AuthenticationProvider.isValid asks of new X500Principal(id): a
// comma-separated (or ';') list of RDNs, each one or more '+'-joined
// type=value pairs whose type is a keyword or a dotted OID. The empty name
// is valid.
func validX509ID(id string) bool {
	if strings.TrimSpace(id) == "" {
		return true
	}
	for _, part := range splitUnescaped(id, ",;+") {
		typ, _, ok := strings.Cut(part, "=")
		typ = strings.TrimSpace(typ)
		if !ok || typ == "" || !utf8.ValidString(part) {
			return false
		}
		typ = strings.TrimPrefix(strings.TrimPrefix(typ, "OID."), "oid.")
		for _, r := range typ {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
				return false
			}
		}
	}
	return true
}

// splitUnescaped splits s at the separators not escaped by '\' and not
// inside double quotes.
func splitUnescaped(s, seps string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && strings.IndexByte(seps, c) >= 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
