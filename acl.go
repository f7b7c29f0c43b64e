package zk

import (
	"crypto/sha1"
	"encoding/base64"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Perm is a set of ZooKeeper permissions.
type Perm int32

// The permission bits, as ZooKeeper's ZooDefs.Perms.
const (
	PermRead   Perm = 1 << 0
	PermWrite  Perm = 1 << 1
	PermCreate Perm = 1 << 2
	PermDelete Perm = 1 << 3
	PermAdmin  Perm = 1 << 4
	PermAll    Perm = 0x1f
)

// ACL grants Perms to the identity ID of scheme Scheme ("world", "auth",
// "digest", "ip", "x509": see Config.ClientTLS).
type ACL struct {
	Perms  Perm
	Scheme string
	ID     string
}

// ID is an authenticated identity of a connection: a scheme and an id, for
// example {"digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="} or
// {"ip", "127.0.0.1"}.
type ID struct {
	Scheme string
	ID     string
}

// WorldACL returns an ACL list granting perms to everyone.
func WorldACL(perms Perm) []ACL {
	return []ACL{{Perms: perms, Scheme: "world", ID: "anyone"}}
}

// AuthACL returns an ACL list granting perms to every identity the
// creating connection has authenticated (ZooKeeper's CREATOR_ALL_ACL with
// PermAll).
func AuthACL(perms Perm) []ACL {
	return []ACL{{Perms: perms, Scheme: "auth", ID: ""}}
}

// DigestACL returns an ACL list granting perms to user with password, in
// the digest scheme.
func DigestACL(perms Perm, user, password string) []ACL {
	return []ACL{{Perms: perms, Scheme: "digest", ID: DigestID(user, password)}}
}

// DigestID returns the digest scheme's identity for user and password:
// user:base64(sha1(user:password)).
func DigestID(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// checkACL reports whether the identities ids may use perm on a node with
// the given ACL, by ZooKeeper's rules: an empty ACL allows everything, the
// super user is allowed everything, and otherwise an entry with the
// permission must match one identity.
func checkACL(acl []ACL, perm Perm, ids []ID) bool {
	if len(acl) == 0 {
		return true
	}
	for _, id := range ids {
		if id.Scheme == "super" {
			return true
		}
	}
	for _, a := range acl {
		if a.Perms&perm == 0 {
			continue
		}
		if a.Scheme == "world" && a.ID == "anyone" {
			return true
		}
		for _, id := range ids {
			if id.Scheme == a.Scheme && idMatches(a.Scheme, id.ID, a.ID) {
				return true
			}
		}
	}
	return false
}

func idMatches(scheme, have, want string) bool {
	if scheme == "ip" {
		return ipMatches(have, want)
	}
	return have == want
}

// ipMatches reports whether the address addr falls in the ACL id want: an
// address or an address/bits prefix, as IPAuthenticationProvider.matches.
func ipMatches(addr, want string) bool {
	w, bits, ok := parseIPID(want)
	ip := parseACLAddr(addr)
	if !ok || ip == nil {
		return false
	}
	switch {
	case len(w) == net.IPv6len:
		ip = ip.To16()
	case len(ip) != len(w):
		ip = ip.To4()
	}
	if ip == nil {
		return false
	}
	m := net.CIDRMask(bits, len(w)*8)
	return ip.Mask(m).Equal(w.Mask(m))
}

// parseACLAddr parses an address of an ip ACL id. IPv4 is read as
// ZooKeeper reads it: four '.'-separated parts, each a Java int (sign and
// leading zeros allowed) from 0 to 255, so "010.0.0.1" is 10.0.0.1.
// Anything else is net.ParseIP's (IPv6).
func parseACLAddr(s string) net.IP {
	if strings.Contains(s, ":") {
		return net.ParseIP(s)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return nil
	}
	ip := make(net.IP, 4)
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 || n > 255 {
			return nil
		}
		ip[i] = byte(n)
	}
	return ip
}

// parseIPID splits an ip ACL id into its address and prefix length (the
// whole address without "/bits").
func parseIPID(id string) (net.IP, int, bool) {
	addr, bitsText, hasBits := strings.Cut(id, "/")
	ip := parseACLAddr(addr)
	if ip == nil {
		return nil, 0, false
	}
	size := len(ip) * 8
	if !hasBits {
		return ip, size, true
	}
	n, err := strconv.ParseInt(bitsText, 10, 32)
	if err != nil || n < 0 || int(n) > size {
		return nil, 0, false
	}
	return ip, int(n), true
}

// isAuthenticatedScheme reports the schemes an "auth" ACL expands to.
func isAuthenticatedScheme(s string) bool {
	return s == "digest" || s == "x509" || s == "sasl"
}

// fixACL validates an ACL list and expands "auth" entries to the
// connection's authenticated identities, as ZooKeeper's fixupACL: the
// result is what the node stores. It knows the schemes of a ZooKeeper's
// default providers, without x509 (see fixACLSchemes).
func fixACL(acl []ACL, ids []ID) ([]ACL, error) { return fixACLSchemes(acl, ids, false) }

// fixACLSchemes is fixACL with the x509 scheme too when x509 is set: on a
// node that serves TLS clients, as a ZooKeeper whose authProvider.x509
// registers X509AuthenticationProvider. Without it ZooKeeper refuses x509
// ACLs as an unknown scheme, and so does zkraft.
func fixACLSchemes(acl []ACL, ids []ID, x509 bool) ([]ACL, error) {
	if len(acl) == 0 {
		return nil, ErrInvalidACL
	}
	// ZooKeeper drops exact duplicates from the request's list, then
	// expands "auth" entries without de-duplicating again: an "auth" entry
	// next to the digest it expands to stores that digest twice.
	uniq := make([]ACL, 0, len(acl))
	for _, a := range acl {
		if !slices.Contains(uniq, a) {
			uniq = append(uniq, a)
		}
	}
	out := make([]ACL, 0, len(uniq))
	add := func(a ACL) { out = append(out, a) }
	for _, a := range uniq {
		switch a.Scheme {
		case "world":
			if a.ID != "anyone" {
				return nil, ErrInvalidACL
			}
			add(a)
		case "auth":
			found := false
			for _, id := range ids {
				if isAuthenticatedScheme(id.Scheme) {
					add(ACL{Perms: a.Perms, Scheme: id.Scheme, ID: id.ID})
					found = true
				}
			}
			if !found {
				return nil, ErrInvalidACL
			}
		case "digest":
			if !validDigestID(a.ID) {
				return nil, ErrInvalidACL
			}
			add(a)
		case "ip":
			if !validIPID(a.ID) {
				return nil, ErrInvalidACL
			}
			add(a)
		case "x509":
			// As X509AuthenticationProvider.isValid: the id must parse
			// as a distinguished name.
			if !x509 || !validX509ID(a.ID) {
				return nil, ErrInvalidACL
			}
			add(a)
		default:
			return nil, ErrInvalidACL
		}
	}
	return out, nil
}

// validDigestID follows DigestAuthenticationProvider.isValid: exactly two
// parts around ':' once trailing empty parts are dropped, as Java's split.
func validDigestID(id string) bool {
	parts := strings.Split(id, ":")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return len(parts) == 2
}

func validIPID(id string) bool {
	_, _, ok := parseIPID(id)
	return ok
}

// authenticate turns an AddAuth request into identities: digest gives
// digest:user:hash (and super when it equals the configured super
// digest); ip is always present already.
func authenticate(scheme string, auth []byte, superDigest string) ([]ID, error) {
	switch scheme {
	case "digest":
		// As DigestAuthenticationProvider.generateDigest: the user is what
		// comes before the first ':' (all of it if there is none), the hash
		// is of the whole credential.
		user, _, _ := strings.Cut(string(auth), ":")
		sum := sha1.Sum(auth)
		id := user + ":" + base64.StdEncoding.EncodeToString(sum[:])
		ids := []ID{{Scheme: "digest", ID: id}}
		if superDigest != "" && id == superDigest {
			ids = append(ids, ID{Scheme: "super", ID: ""})
		}
		return ids, nil
	case "ip":
		return nil, nil
	}
	return nil, ErrAuthFailed
}

// aclEntry is one distinct ACL list shared by every node that has it, as
// ZooKeeper's ReferenceCountedACLCache: most trees use a handful of lists.
type aclEntry struct {
	key  string
	acl  []ACL // never changed once interned
	refs int
}

type aclCache struct {
	m map[string]*aclEntry
}

func aclKey(acl []ACL) string {
	var b strings.Builder
	for _, a := range acl {
		// Length-prefixed, so that no id (which may hold any byte, NUL
		// included) can make two different lists share a key.
		b.WriteString(strconv.Itoa(int(a.Perms)))
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(len(a.Scheme)))
		b.WriteByte(0)
		b.WriteString(a.Scheme)
		b.WriteString(strconv.Itoa(len(a.ID)))
		b.WriteByte(0)
		b.WriteString(a.ID)
	}
	return b.String()
}

func (c *aclCache) intern(acl []ACL) *aclEntry {
	k := aclKey(acl)
	e := c.m[k]
	if e == nil {
		e = &aclEntry{key: k, acl: slices.Clone(acl)}
		c.m[k] = e
	}
	e.refs++
	return e
}

func (c *aclCache) retain(e *aclEntry) {
	if e.refs == 0 {
		if _, ok := c.m[e.key]; !ok {
			c.m[e.key] = e
		}
	}
	e.refs++
}

func (c *aclCache) release(e *aclEntry) {
	e.refs--
	if e.refs <= 0 {
		e.refs = 0
		if c.m[e.key] == e {
			delete(c.m, e.key)
		}
	}
}
