package zk

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkraft/zk/internal/apachezk"
	"github.com/zkraft/zk/internal/jute"
	"github.com/zkraft/zk/internal/testcert"
	"github.com/zkraft/zk/internal/wire"
)

// Security over the wire: ACLs on every opcode, compared with Apache
// ZooKeeper 3.8 where it is installed; TLS on the secure client port;
// the x509 scheme; mutual TLS between peers.

const secWait = 20 * time.Second

// secNode opens a node for these tests and closes it at the end.
func secNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	if cfg.ClientAddr == "" && cfg.SecureClientAddr == "" {
		cfg.ClientAddr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), secWait)
	defer cancel()
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// secDial opens a session at addr over dial (TCP when nil), sending auth
// at connect.
func secDial(t *testing.T, addr string, dial func(context.Context, string) (net.Conn, error), auth ...jute.AuthPacket) (*wire.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), secWait)
	defer cancel()
	c, err := wire.Dial(ctx, wire.ClientConfig{
		Addrs: []string{addr}, SessionTimeout: 10 * time.Second, Dialer: dial,
		Auth: func() []jute.AuthPacket { return auth },
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c, nil
}

// code is the ZooKeeper code of a Do's error: 0 for none.
func code(err error) int32 {
	var ce wire.CodeError
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err != nil {
		return -9999 // a broken connection and the like: shows in a diff
	}
	return 0
}

func secDo(c *wire.Client, op int32, req, resp jute.Record) int32 {
	ctx, cancel := context.WithTimeout(context.Background(), secWait)
	defer cancel()
	_, err := c.Do(ctx, op, req, resp)
	return code(err)
}

func digestAuth(user string) jute.AuthPacket {
	return jute.AuthPacket{Scheme: "digest", Auth: []byte(user + ":pw")}
}

func aclOf(perms Perm, scheme, id string) jute.ACL {
	return jute.ACL{Perms: int32(perms), ID: jute.ID{Scheme: scheme, ID: id}}
}

func aclString(acl []jute.ACL) string {
	var parts []string
	for _, a := range acl {
		parts = append(parts, fmt.Sprintf("%s:%s/%d", a.ID.Scheme, a.ID.ID, a.Perms))
	}
	return strings.Join(parts, ",")
}

func multiCodes(rs []jute.MultiResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, strconv.Itoa(int(r.Err)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// The identities of the ACL matrix, in column order.
var aclWho = []string{"anon", "alice", "bob", "super"}

// WatcherType values of checkWatches and removeWatches.
const (
	watcherChildren = 1
	watcherData     = 2
	watcherAny      = 3
)

// aclCase is one request of the matrix and what each identity gets:
// the reply code, then details where the reply has some (a multi's
// per-op codes, an ACL as shown).
type aclCase struct {
	name string
	run  func(c *wire.Client, who string) string
	want [4]string // anon, alice, bob, super
}

// hashOf is the part of a digest id after the user.
func hashOf(id string) string {
	_, h, _ := strings.Cut(id, ":")
	return h
}

// same is a want that every identity shares.
func same(s string) [4]string { return [4]string{s, s, s, s} }

const (
	ok     = "0"
	noAuth = "-102"
)

func aclCases() []aclCase {
	pathReq := func(op int32, path string) func(*wire.Client, string) string {
		return func(c *wire.Client, _ string) string {
			var resp jute.Record
			switch op {
			case jute.OpGetData:
				resp = &jute.GetDataResponse{}
			case jute.OpGetChildren:
				resp = &jute.ChildrenResponse{}
			case jute.OpGetChildren2:
				resp = &jute.Children2Response{}
			case jute.OpExists:
				resp = &jute.StatResponse{}
			}
			return strconv.Itoa(int(secDo(c, op, &jute.PathWatchRequest{Path: path}, resp)))
		}
	}
	watchReq := func(op int32, path string) func(*wire.Client, string) string {
		return func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, op, &jute.PathWatchRequest{Path: path, Watch: true}, &jute.StatResponse{})))
		}
	}
	getACL := func(path string) func(*wire.Client, string) string {
		return func(c *wire.Client, _ string) string {
			var resp jute.GetACLResponse
			if rc := secDo(c, jute.OpGetACL, &jute.PathRequest{Path: path}, &resp); rc != 0 {
				return strconv.Itoa(int(rc))
			}
			return "0 " + aclString(resp.ACL)
		}
	}
	watches := func(op int32, path string, typ int32) func(*wire.Client, string) string {
		return func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, op, &jute.WatchesRequest{Path: path, Type: typ}, nil)))
		}
	}
	multi := func(op int32, ops func(who string) []jute.MultiOp) func(*wire.Client, string) string {
		return func(c *wire.Client, who string) string {
			var resp jute.MultiResponse
			if rc := secDo(c, op, &jute.MultiRequest{Ops: ops(who)}, &resp); rc != 0 {
				return strconv.Itoa(int(rc))
			}
			return "0 " + multiCodes(resp.Results)
		}
	}
	world := []jute.ACL{aclOf(PermAll, "world", "anyone")}
	aliceOnly := []jute.ACL{aclOf(PermAll, "digest", DigestID("alice", "pw"))}
	allowed := [4]string{noAuth, ok, noAuth, ok} // /a is alice's alone
	alice, bob := hashOf(DigestID("alice", "pw")), hashOf(DigestID("bob", "pw"))
	return []aclCase{
		{"getData /a", pathReq(jute.OpGetData, "/a"), allowed},
		{"getData /r", pathReq(jute.OpGetData, "/r"), same(ok)},
		{"getData /a/c", pathReq(jute.OpGetData, "/a/c"), same(ok)}, // ACLs are not inherited
		{"getChildren /a", pathReq(jute.OpGetChildren, "/a"), allowed},
		{"getChildren2 /a", pathReq(jute.OpGetChildren2, "/a"), allowed},
		// ZOOKEEPER-2590 (3.8.4, 3.9.2): exists checks READ on a node
		// that exists; 3.8.0 did not (see aclExpectedDiffs).
		{"exists /a", pathReq(jute.OpExists, "/a"), allowed},
		{"exists /missing", pathReq(jute.OpExists, "/missing"), same("-101")},
		{"exists+watch /a", watchReq(jute.OpExists, "/a"), allowed},
		{"checkWatches data /a", watches(jute.OpCheckWatches, "/a", watcherData), [4]string{"-121", ok, "-121", ok}},
		{"getACL /a", getACL("/a"), [4]string{noAuth, "0 digest:alice:" + alice + "/31", noAuth, "0 digest:alice:" + alice + "/31"}},
		// READ without ADMIN sees digest ids masked (ZOOKEEPER-1392).
		{"getACL /m", getACL("/m"), [4]string{
			"0 digest:alice:x/31,world:anyone/1", "0 digest:alice:" + alice + "/31,world:anyone/1",
			"0 digest:alice:x/31,world:anyone/1", "0 digest:alice:" + alice + "/31,world:anyone/1"}},
		// ADMIN without READ may read the ACL, unmasked.
		{"getACL /n", getACL("/n"), [4]string{noAuth,
			"0 digest:alice:" + alice + "/31,digest:bob:" + bob + "/16",
			"0 digest:alice:" + alice + "/31,digest:bob:" + bob + "/16",
			"0 digest:alice:" + alice + "/31,digest:bob:" + bob + "/16"}},
		{"getAllChildrenNumber /a", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpGetAllChildrenNumber, &jute.PathRequest{Path: "/a"}, &jute.IntResponse{})))
		}, allowed},
		{"sync /a", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpSync, &jute.PathRequest{Path: "/a"}, &jute.PathResponse{})))
		}, same(ok)},
		{"setData /a", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpSetData, &jute.SetDataRequest{Path: "/a", Data: []byte("x"), Version: -1}, &jute.StatResponse{})))
		}, allowed},
		{"setData /r", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpSetData, &jute.SetDataRequest{Path: "/r", Data: []byte("x"), Version: -1}, &jute.StatResponse{})))
		}, [4]string{noAuth, noAuth, noAuth, ok}},
		{"create /a/x-", func(c *wire.Client, who string) string {
			return strconv.Itoa(int(secDo(c, jute.OpCreate, &jute.CreateRequest{Path: "/a/x-" + who, ACL: world}, &jute.PathResponse{})))
		}, allowed},
		{"delete /a/d-", func(c *wire.Client, who string) string {
			return strconv.Itoa(int(secDo(c, jute.OpDelete, &jute.DeleteRequest{Path: "/a/d-" + who, Version: -1}, nil)))
		}, allowed},
		{"setACL /a", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpSetACL, &jute.SetACLRequest{Path: "/a", ACL: aliceOnly, Version: -1}, &jute.StatResponse{})))
		}, allowed},
		{"multi check /r, setData /a", multi(jute.OpMulti, func(string) []jute.MultiOp {
			return []jute.MultiOp{
				{Type: jute.OpCheck, Req: &jute.CheckVersionRequest{Path: "/r", Version: -1}},
				{Type: jute.OpSetData, Req: &jute.SetDataRequest{Path: "/a", Data: []byte("y"), Version: -1}},
			}
		}), [4]string{"0 [0 -102]", "0 [0 0]", "0 [0 -102]", "0 [0 0]"}},
		{"multi create /a/y-, setData /r", multi(jute.OpMulti, func(who string) []jute.MultiOp {
			return []jute.MultiOp{
				{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: "/a/y-" + who, ACL: world}},
				{Type: jute.OpSetData, Req: &jute.SetDataRequest{Path: "/r", Data: []byte("y"), Version: -1}},
			}
		}), [4]string{"0 [-102 -2]", "0 [0 -102]", "0 [-102 -2]", "0 [0 0]"}},
		{"multiRead", multi(jute.OpMultiRead, func(string) []jute.MultiOp {
			return []jute.MultiOp{
				{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: "/a"}},
				{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: "/r"}},
				{Type: jute.OpGetChildren, Req: &jute.PathWatchRequest{Path: "/a"}},
				{Type: jute.OpGetChildren, Req: &jute.PathWatchRequest{Path: "/m"}},
			}
		}), [4]string{"0 [-102 0 -102 0]", "0 [0 0 0 0]", "0 [-102 0 -102 0]", "0 [0 0 0 0]"}},
		{"getEphemerals /", func(c *wire.Client, _ string) string {
			var resp jute.StringsResponse
			rc := secDo(c, jute.OpGetEphemerals, &jute.PathRequest{Path: "/"}, &resp)
			return fmt.Sprint(rc, " ", resp.Strings)
		}, same("0 []")},
		// Watches are a connection's own business: ZooKeeper checks no
		// ACL to add, check, remove or re-set them (notifications are
		// what READ filters).
		// The exists watch is gone: it fired (alice, super: their own
		// setData), or was never set (anon, bob: no READ).
		{"removeWatches any /a", watches(jute.OpRemoveWatches, "/a", watcherAny), same("-121")},
		{"addWatch /a", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpAddWatch, &jute.AddWatchRequest{Path: "/a", Mode: 0}, &jute.ErrorResponse{})))
		}, same(ok)},
		{"checkWatches any /a", watches(jute.OpCheckWatches, "/a", watcherAny), same(ok)},
		{"removeWatches any /a again", watches(jute.OpRemoveWatches, "/a", watcherAny), same(ok)},
		{"setWatches2 /a", func(c *wire.Client, _ string) string {
			return strconv.Itoa(int(secDo(c, jute.OpSetWatches2, &jute.SetWatches2{RelativeZxid: 1 << 40, DataWatches: []string{"/a"}, ChildWatches: []string{"/a"}}, nil)))
		}, same(ok)},
		{"checkWatches child /a after setWatches", watches(jute.OpCheckWatches, "/a", watcherChildren), same(ok)},
		{"whoAmI", func(c *wire.Client, _ string) string {
			var resp jute.WhoAmIResponse
			rc := secDo(c, jute.OpWhoAmI, nil, &resp)
			var ids []string
			for _, ci := range resp.ClientInfo {
				ids = append(ids, ci.AuthScheme+":"+ci.User)
			}
			sort.Strings(ids) // ZooKeeper keeps a connection's ids in a hash set
			return fmt.Sprint(rc, " ", ids)
		}, [4]string{"0 [ip:127.0.0.1]", "0 [digest:alice ip:127.0.0.1]", "0 [digest:bob ip:127.0.0.1]", "0 [digest:super ip:127.0.0.1 super:]"}},
		// A standalone server does not reconfig, whoever asks (the ACL
		// check, WRITE on /zookeeper/config, comes after: see
		// TestPeerMutualTLS).
		{"reconfig", func(c *wire.Client, who string) string {
			return strconv.Itoa(int(secDo(c, jute.OpReconfig, &jute.ReconfigRequest{LeavingServers: "99", CurConfigID: -1}, &jute.GetDataResponse{})))
		}, same("-6")},
	}
}

// aclExpectedDiffs are the answers in which zkraft differs from Debian's
// Apache ZooKeeper 3.8.0 on purpose, keyed "who case": zkraft follows
// ZOOKEEPER-2590 (3.8.4, 3.9.2), whose exists checks READ. The values are
// 3.8.0's answers.
var aclExpectedDiffs = map[string]string{
	"anon exists /a":            "0",
	"bob exists /a":             "0",
	"anon exists+watch /a":      "0",
	"bob exists+watch /a":       "0",
	"anon checkWatches data /a": "0",
	"bob checkWatches data /a":  "0",
	"anon removeWatches any /a": "0",
	"bob removeWatches any /a":  "0",
}

// runACLMatrix sets the tree up as alice over addr and runs every case as
// every identity, returning "who case" → answer.
func runACLMatrix(t *testing.T, addr string) map[string]string {
	t.Helper()
	alice, err := secDial(t, addr, nil, digestAuth("alice"))
	if err != nil {
		t.Fatal(err)
	}
	world := []jute.ACL{aclOf(PermAll, "world", "anyone")}
	aliceID, bobID := DigestID("alice", "pw"), DigestID("bob", "pw")
	for _, n := range []struct {
		path string
		acl  []jute.ACL
	}{
		{"/a", []jute.ACL{aclOf(PermAll, "digest", aliceID)}},
		{"/a/c", world},
		{"/a/d-anon", world}, {"/a/d-alice", world}, {"/a/d-bob", world}, {"/a/d-super", world},
		{"/r", []jute.ACL{aclOf(PermRead, "world", "anyone")}},
		{"/m", []jute.ACL{aclOf(PermAll, "digest", aliceID), aclOf(PermRead, "world", "anyone")}},
		{"/n", []jute.ACL{aclOf(PermAll, "digest", aliceID), aclOf(PermAdmin, "digest", bobID)}},
	} {
		if rc := secDo(alice, jute.OpCreate, &jute.CreateRequest{Path: n.path, ACL: n.acl}, &jute.PathResponse{}); rc != 0 {
			t.Fatalf("create %s: %d", n.path, rc)
		}
	}
	got := map[string]string{}
	for _, who := range aclWho {
		var auth []jute.AuthPacket
		if who != "anon" {
			auth = append(auth, digestAuth(who))
		}
		c, err := secDial(t, addr, nil, auth...)
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		for _, tc := range aclCases() {
			got[who+" "+tc.name] = tc.run(c, who)
		}
	}
	return got
}

// TestACLEveryOpcode: every opcode that touches a node answers each
// identity as ZooKeeper's ACL rules say.
func TestACLEveryOpcode(t *testing.T) {
	n := secNode(t, Config{SuperDigest: DigestID("super", "pw"), ReconfigEnabled: true})
	got := runACLMatrix(t, n.ClientAddr())
	for _, tc := range aclCases() {
		for i, who := range aclWho {
			if g := got[who+" "+tc.name]; g != tc.want[i] {
				t.Errorf("%s as %s: %q, want %q", tc.name, who, g, tc.want[i])
			}
		}
	}
}

// TestACLDifferentialApacheZK runs the same matrix against Apache
// ZooKeeper 3.8 and zkraft: every answer must be equal but for the
// differences listed in aclExpectedDiffs, which must show up as listed.
func TestACLDifferentialApacheZK(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache ZooKeeper")
	}
	if ok, why := apachezk.Available(); !ok {
		t.Skip("Apache ZooKeeper 3.8 is not installed (apt-get install zookeeper): " + why)
	}
	super := DigestID("super", "pw")
	e := apachezk.Start(t, apachezk.Options{
		Config:   []string{"reconfigEnabled=true"},
		JVMFlags: []string{"-Dzookeeper.DigestAuthenticationProvider.superDigest=" + super},
	})
	ref := runACLMatrix(t, e.Addr(0))
	n := secNode(t, Config{SuperDigest: super, ReconfigEnabled: true})
	got := runACLMatrix(t, n.ClientAddr())
	for _, tc := range aclCases() {
		for _, who := range aclWho {
			k := who + " " + tc.name
			want := ref[k]
			if d, ok := aclExpectedDiffs[k]; ok {
				if want != d {
					t.Errorf("%s: Apache ZooKeeper answers %q, the listed difference says %q", k, want, d)
				}
				continue
			}
			if got[k] != want {
				t.Errorf("%s: zkraft %q, Apache ZooKeeper %q", k, got[k], want)
			}
		}
	}
}

// TestRFC2253MatchesJava: subjects render as Java's
// X500Principal.getName() renders them, checked against the JDK when one
// is installed, and against its known output otherwise.
func TestRFC2253MatchesJava(t *testing.T) {
	ca := testcert.NewCA(t)
	oid := func(s string) asn1.ObjectIdentifier {
		var o asn1.ObjectIdentifier
		for _, p := range strings.Split(s, ".") {
			n, _ := strconv.Atoi(p)
			o = append(o, n)
		}
		return o
	}
	atv := func(o string, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid(o), Value: v}
	}
	cases := []struct {
		subject pkix.RDNSequence
		want    string
	}{
		{pkix.RDNSequence{
			{atv("2.5.4.6", "US")}, {atv("2.5.4.10", "Example, Inc.")}, {atv("2.5.4.11", "ops")}, {atv("2.5.4.3", "app")},
		}, `CN=app,OU=ops,O=Example\, Inc.,C=US`},
		{pkix.RDNSequence{
			{atv("0.9.2342.19200300.100.1.25", "com")}, {atv("0.9.2342.19200300.100.1.25", "example")},
			{atv("2.5.4.3", " spaced # and = + ; < > \" \\ ")},
		}, `CN=\ spaced \# and \= \+ \; \< \> \" \\\ ,DC=example,DC=com`},
		{pkix.RDNSequence{
			{atv("2.5.4.3", "multi"), atv("0.9.2342.19200300.100.1.1", "u1")},                     // a multi-valued RDN
			{atv("1.2.840.113549.1.9.1", asn1.RawValue{Tag: 22, Bytes: []byte("a@example.com")})}, // emailAddress (IA5String): OID and hex
			{atv("2.5.4.5", "1234")}, // serialNumber: OID and hex
		}, `2.5.4.5=#130431323334,1.2.840.113549.1.9.1=#160d61406578616d706c652e636f6d,CN=multi+UID=u1`},
		{pkix.RDNSequence{
			{atv("2.5.4.7", "Zürich")}, {atv("2.5.4.8", "ÎdF_&*@!")}, {atv("2.5.4.9", "1 Main St.")},
		}, `STREET=1 Main St.,ST=ÎdF_&*@!,L=Zürich`},
		{pkix.RDNSequence{
			{atv("2.5.4.3", asn1.RawValue{Tag: 30, Bytes: []byte{0, 'b', 0, 'm', 0, 'p', 0x20, 0xac}})}, // BMPString
			{atv("2.5.4.3", asn1.RawValue{Tag: 20, Bytes: []byte("t61")})},                              // T61String
			{atv("2.5.4.10", "")},
		}, "O=,CN=t61,CN=\\00b\\00m\\00p \uFFFD"},
	}
	dir := t.TempDir()
	var files []string
	for i, c := range cases {
		cert := ca.IssueRaw(t, c.subject)
		got, err := rfc2253(cert.Leaf.RawSubject)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
		p := filepath.Join(dir, fmt.Sprintf("c%d.der", i))
		os.WriteFile(p, cert.Certificate[0], 0o600)
		files = append(files, p)
	}
	java, err := exec.LookPath("java")
	if err != nil || testing.Short() {
		t.Log("no JDK: checked against recorded Java output only")
		return
	}
	src := filepath.Join(dir, "Dn.java")
	os.WriteFile(src, []byte(`import java.io.*; import java.security.cert.*;
public class Dn { public static void main(String[] a) throws Exception {
  CertificateFactory f = CertificateFactory.getInstance("X.509");
  for (String p : a) { try (InputStream in = new FileInputStream(p)) {
    System.out.println(((X509Certificate) f.generateCertificate(in)).getSubjectX500Principal().getName()); } } } }`), 0o600)
	out, err := exec.Command(java, append([]string{src}, files...)...).Output()
	if err != nil {
		t.Logf("java could not run (%v): checked against recorded output only", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	for i, c := range cases {
		if i >= len(lines) || lines[i] != c.want {
			t.Errorf("case %d: Java says %q, the test %q", i, lines[min(i, len(lines)-1)], c.want)
		}
	}
}

// tlsDialer dials TLS with cfg.
func tlsDialer(cfg *tls.Config) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", addr)
	}
}

// refused reports whether a session cannot be opened at addr over dial
// within a short time.
func refused(t *testing.T, addr string, dial func(context.Context, string) (net.Conn, error)) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := wire.Dial(ctx, wire.ClientConfig{Addrs: []string{addr}, SessionTimeout: 4 * time.Second, Dialer: dial})
	if err == nil {
		c.Close(context.Background())
		return false
	}
	return true
}

// TestSecureClientPort: a node serves plain and TLS clients at once; a
// plain client is refused on the TLS port; with clientAuth need a client
// without a certificate, or with one from another CA, is refused; a
// verified certificate gives x509:<DN>, which an x509 ACL grants, and
// addauth x509 succeeds only with one.
func TestSecureClientPort(t *testing.T) {
	ca, stranger := testcert.NewCA(t), testcert.NewCA(t)
	const dn = "CN=app1,OU=ops,O=Example"
	appCert := ca.Issue(t, pkix.Name{CommonName: "app1", OrganizationalUnit: []string{"ops"}, Organization: []string{"Example"}})
	adminCert := ca.Issue(t, pkix.Name{CommonName: "admin"})
	otherCert := ca.Issue(t, pkix.Name{CommonName: "app2"})
	strangerCert := stranger.Issue(t, pkix.Name{CommonName: "app1", OrganizationalUnit: []string{"ops"}, Organization: []string{"Example"}})

	n := secNode(t, Config{
		ClientAddr: "127.0.0.1:0", SecureClientAddr: "127.0.0.1:0",
		ClientTLS:     ca.ServerTLS(t, tls.RequireAndVerifyClientCert),
		X509SuperUser: "CN=admin",
	})
	secure := n.SecureClientAddr()
	if secure == "" || secure == n.ClientAddr() {
		t.Fatalf("secure address %q, plain %q", secure, n.ClientAddr())
	}
	if refused(t, n.ClientAddr(), nil) {
		t.Fatal("a plain client is refused on the plain port")
	}
	if !refused(t, secure, nil) {
		t.Fatal("a plain client has a session on the TLS port")
	}
	if !refused(t, secure, tlsDialer(ca.ClientTLS(nil))) {
		t.Fatal("a client without a certificate has a session with clientAuth need")
	}
	if !refused(t, secure, tlsDialer(ca.ClientTLS(&strangerCert))) {
		t.Fatal("a certificate from an untrusted CA is accepted")
	}

	app, err := secDial(t, secure, tlsDialer(ca.ClientTLS(&appCert)))
	if err != nil {
		t.Fatal(err)
	}
	var who jute.WhoAmIResponse
	if rc := secDo(app, jute.OpWhoAmI, nil, &who); rc != 0 || len(who.ClientInfo) != 2 || who.ClientInfo[1] != (jute.ClientInfo{AuthScheme: "x509", User: dn}) {
		t.Fatalf("whoAmI: %d %+v", rc, who.ClientInfo)
	}
	// An x509 ACL, and "auth", which expands to the connection's x509 id.
	x509ACL := []jute.ACL{aclOf(PermAll, "x509", dn)}
	if rc := secDo(app, jute.OpCreate, &jute.CreateRequest{Path: "/x", Data: []byte("s"), ACL: x509ACL}, &jute.PathResponse{}); rc != 0 {
		t.Fatalf("create /x: %d", rc)
	}
	if rc := secDo(app, jute.OpCreate, &jute.CreateRequest{Path: "/y", ACL: []jute.ACL{aclOf(PermAll, "auth", "")}}, &jute.PathResponse{}); rc != 0 {
		t.Fatalf("create /y: %d", rc)
	}
	var acl jute.GetACLResponse
	if rc := secDo(app, jute.OpGetACL, &jute.PathRequest{Path: "/y"}, &acl); rc != 0 || aclString(acl.ACL) != "x509:"+dn+"/31" {
		t.Fatalf("getACL /y: %d %s", rc, aclString(acl.ACL))
	}
	if rc := secDo(app, jute.OpAuth, &jute.AuthPacket{Scheme: "x509", Auth: []byte("ignored")}, nil); rc != 0 {
		t.Fatalf("addauth x509 with a certificate: %d", rc)
	}
	for _, bad := range []string{"not a dn", "CN"} {
		if rc := secDo(app, jute.OpCreate, &jute.CreateRequest{Path: "/bad", ACL: []jute.ACL{aclOf(PermAll, "x509", bad)}}, &jute.PathResponse{}); rc != -114 {
			t.Fatalf("x509 ACL %q: %d, want InvalidACL", bad, rc)
		}
	}

	other, err := secDial(t, secure, tlsDialer(ca.ClientTLS(&otherCert)))
	if err != nil {
		t.Fatal(err)
	}
	if rc := secDo(other, jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, &jute.GetDataResponse{}); rc != -102 {
		t.Fatalf("another certificate reads /x: %d", rc)
	}
	admin, err := secDial(t, secure, tlsDialer(ca.ClientTLS(&adminCert)))
	if err != nil {
		t.Fatal(err)
	}
	if rc := secDo(admin, jute.OpSetData, &jute.SetDataRequest{Path: "/x", Data: []byte("t"), Version: -1}, &jute.StatResponse{}); rc != 0 {
		t.Fatalf("the x509 super user writes /x: %d", rc)
	}
	plain, err := secDial(t, n.ClientAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rc := secDo(plain, jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, &jute.GetDataResponse{}); rc != -102 {
		t.Fatalf("a plain client reads /x: %d", rc)
	}
	// addauth x509 without a certificate fails, and the connection closes.
	if rc := secDo(plain, jute.OpAuth, &jute.AuthPacket{Scheme: "x509"}, nil); rc != -115 {
		t.Fatalf("addauth x509 without a certificate: %d, want AuthFailed", rc)
	}
}

// TestSecureClientPortWant: with clientAuth want, a client without a
// certificate is served with no x509 identity.
func TestSecureClientPortWant(t *testing.T) {
	ca := testcert.NewCA(t)
	n := secNode(t, Config{SecureClientAddr: "127.0.0.1:0", ClientTLS: ca.ServerTLS(t, tls.VerifyClientCertIfGiven)})
	if n.ClientAddr() != "" {
		t.Fatalf("plain port %q without ClientAddr", n.ClientAddr())
	}
	c, err := secDial(t, n.SecureClientAddr(), tlsDialer(ca.ClientTLS(nil)))
	if err != nil {
		t.Fatal(err)
	}
	var who jute.WhoAmIResponse
	if rc := secDo(c, jute.OpWhoAmI, nil, &who); rc != 0 || len(who.ClientInfo) != 1 || who.ClientInfo[0].AuthScheme != "ip" {
		t.Fatalf("whoAmI: %d %+v", rc, who.ClientInfo)
	}
	// Four-letter words work over TLS too, as on ZooKeeper's Netty port.
	nc, err := tls.Dial("tcp", n.SecureClientAddr(), ca.ClientTLS(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(secWait))
	nc.Write([]byte("srvr"))
	out, _ := io.ReadAll(nc)
	if !strings.Contains(string(out), "Mode: standalone") {
		t.Fatalf("srvr over TLS: %q", out)
	}
}

// TestClientTLSConfigChecks: ClientTLS goes with SecureClientAddr only, so
// that a config meant for TLS never serves in the clear.
func TestClientTLSConfigChecks(t *testing.T) {
	tlsCfg := &tls.Config{}
	for _, c := range []Config{
		{ClientAddr: "127.0.0.1:0", ClientTLS: tlsCfg},
		{SecureClientAddr: "127.0.0.1:0"},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", c, err)
		}
	}
}

// TestPeerMutualTLS: three nodes with mutual TLS form an ensemble, and a
// node whose certificate another CA signed cannot join it.
func TestPeerMutualTLS(t *testing.T) {
	ca, stranger := testcert.NewCA(t), testcert.NewCA(t)
	addrs := make([]string, 4)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
	}
	peers := []Peer{{ID: "1", Addr: addrs[0]}, {ID: "2", Addr: addrs[1]}, {ID: "3", Addr: addrs[2]}}
	peerTLS := func(ca *testcert.CA) *tls.Config {
		cert := ca.Issue(t, pkix.Name{CommonName: "peer"})
		return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*Node, 3)
	errs := make(chan error, 3)
	for i := range nodes {
		go func() {
			n, err := Open(ctx, Config{ID: peers[i].ID, PeerAddr: peers[i].Addr, Peers: peers, PeerTLS: peerTLS(ca),
				ElectionTimeout: 100 * time.Millisecond, TickTime: 100 * time.Millisecond, ReconfigEnabled: true})
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
	conn, err := nodes[0].Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(ctx, "/over-tls", nil, FlagPersistent, WorldACL(PermAll)); err != nil {
		t.Fatal(err)
	}
	// In an ensemble, reconfig needs WRITE on /zookeeper/config, which
	// only the super user has.
	if _, _, err := conn.IncrementalReconfig(ctx, nil, []string{"3"}, -1); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("reconfig without super: %v, want ErrNoAuth", err)
	}
	conn.Close()

	// A stranger's certificate, for the same name, is refused on the peer
	// port: no member takes its connection.
	st, err := tls.Dial("tcp", addrs[0], peerTLS(stranger))
	if err == nil {
		st.SetDeadline(time.Now().Add(5 * time.Second))
		// TLS 1.3 servers check the client certificate after the client's
		// handshake is done: the refusal shows at the first read.
		st.Write([]byte{0})
		_, err = st.Read(make([]byte, 1))
		st.Close()
	}
	if err == nil {
		t.Fatal("a peer with a stranger's certificate was served")
	}
	// Nor does a member trust a stranger's server certificate.
	sl, err := tls.Listen("tcp", "127.0.0.1:0", peerTLS(stranger))
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	go func() {
		if c, err := sl.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	if c, err := tls.Dial("tcp", sl.Addr().String(), peerTLS(ca)); err == nil {
		c.Close()
		t.Fatal("a member trusted a stranger's server certificate")
	}
}

// x509Scenario runs the x509 steps against a server with a plain port
// and a TLS port (clientAuth need, superUser CN=admin) and returns what
// each step answers.
func x509Scenario(t *testing.T, plainAddr, secureAddr string, ca *testcert.CA) map[string]string {
	t.Helper()
	const dn = "CN=app1,OU=ops,O=Example"
	app := ca.Issue(t, pkix.Name{CommonName: "app1", OrganizationalUnit: []string{"ops"}, Organization: []string{"Example"}})
	other := ca.Issue(t, pkix.Name{CommonName: "app2"})
	admin := ca.Issue(t, pkix.Name{CommonName: "admin"})
	got := map[string]string{}
	got["plain client on the TLS port refused"] = fmt.Sprint(refused(t, secureAddr, nil))
	got["no certificate refused"] = fmt.Sprint(refused(t, secureAddr, tlsDialer(ca.ClientTLS(nil))))
	dial := func(cert *tls.Certificate) *wire.Client {
		c, err := secDial(t, secureAddr, tlsDialer(ca.ClientTLS(cert)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	whoami := func(c *wire.Client) string {
		var resp jute.WhoAmIResponse
		rc := secDo(c, jute.OpWhoAmI, nil, &resp)
		var ids []string
		for _, ci := range resp.ClientInfo {
			ids = append(ids, ci.AuthScheme+":"+ci.User)
		}
		sort.Strings(ids)
		return fmt.Sprint(rc, " ", ids)
	}
	a, o, ad := dial(&app), dial(&other), dial(&admin)
	got["whoAmI app"] = whoami(a)
	got["whoAmI admin"] = whoami(ad)
	rc := func(c *wire.Client, op int32, req, resp jute.Record) string {
		return strconv.Itoa(int(secDo(c, op, req, resp)))
	}
	got["create /x x509 ACL"] = rc(a, jute.OpCreate, &jute.CreateRequest{Path: "/x", ACL: []jute.ACL{aclOf(PermAll, "x509", dn)}}, &jute.PathResponse{})
	got["create /y auth ACL"] = rc(a, jute.OpCreate, &jute.CreateRequest{Path: "/y", ACL: []jute.ACL{aclOf(PermAll, "auth", "")}}, &jute.PathResponse{})
	var acl jute.GetACLResponse
	secDo(a, jute.OpGetACL, &jute.PathRequest{Path: "/y"}, &acl)
	got["getACL /y"] = aclString(acl.ACL)
	got["create bad x509 ACL"] = rc(a, jute.OpCreate, &jute.CreateRequest{Path: "/z", ACL: []jute.ACL{aclOf(PermAll, "x509", "not a dn")}}, &jute.PathResponse{})
	got["app reads /x"] = rc(a, jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, &jute.GetDataResponse{})
	got["other reads /x"] = rc(o, jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, &jute.GetDataResponse{})
	got["admin writes /x"] = rc(ad, jute.OpSetData, &jute.SetDataRequest{Path: "/x", Version: -1}, &jute.StatResponse{})
	got["addauth x509 with a certificate"] = rc(a, jute.OpAuth, &jute.AuthPacket{Scheme: "x509"}, nil)
	p, err := secDial(t, plainAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	got["plain reads /x"] = rc(p, jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, &jute.GetDataResponse{})
	got["addauth x509 without a certificate"] = rc(p, jute.OpAuth, &jute.AuthPacket{Scheme: "x509"}, nil)
	return got
}

// TestX509DifferentialApacheZK: the secure client port and the x509
// scheme answer as Apache ZooKeeper 3.8's Netty port with
// X509AuthenticationProvider, from the same PEM files.
func TestX509DifferentialApacheZK(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache ZooKeeper")
	}
	if ok, why := apachezk.Available(); !ok {
		t.Skip("Apache ZooKeeper 3.8 is not installed (apt-get install zookeeper): " + why)
	}
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	keyStore := testcert.WriteKeyStorePEM(t, dir, "server.pem", ca.Issue(t, pkix.Name{CommonName: "zk server"}))
	trustStore := ca.WriteCAPEM(t, dir, "ca.pem")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	e := apachezk.Start(t, apachezk.Options{Config: []string{
		"secureClientPort=" + strconv.Itoa(port), "secureClientPortAddress=127.0.0.1",
		"serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
		"authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider",
		"X509AuthenticationProvider.superUser=CN=admin",
		"ssl.keyStore.location=" + keyStore, "ssl.keyStore.type=PEM",
		"ssl.trustStore.location=" + trustStore, "ssl.trustStore.type=PEM",
	}, JVMFlags: nettyFlags(t), StartTimeout: 30 * time.Second})
	ref := x509Scenario(t, e.Addr(0), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ca)

	n := secNode(t, Config{ClientAddr: "127.0.0.1:0", SecureClientAddr: "127.0.0.1:0",
		ClientTLS: ca.ServerTLS(t, tls.RequireAndVerifyClientCert), X509SuperUser: "CN=admin"})
	got := x509Scenario(t, n.ClientAddr(), n.SecureClientAddr(), ca)
	keys := make([]string, 0, len(ref))
	for k := range ref {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%s: ZooKeeper %q", k, ref[k])
		if got[k] != ref[k] {
			t.Errorf("%s: zkraft %q, Apache ZooKeeper %q", k, got[k], ref[k])
		}
	}
}

// nettyFlags puts Netty on the JVM's boot class path: Debian's zookeeper
// package leaves netty-codec, which the TLS port needs, off its class
// path, and a netty-codec below the rest of Netty could not see them.
func nettyFlags(t *testing.T) []string {
	var jars []string
	for _, name := range []string{"common", "buffer", "resolver", "transport", "handler", "codec"} {
		jar := "/usr/share/java/netty-" + name + ".jar"
		if _, err := os.Stat(jar); err != nil {
			t.Skip("Netty's " + jar + ", which ZooKeeper's TLS port needs, is not installed")
		}
		jars = append(jars, jar)
	}
	return []string{"-Xbootclasspath/a:" + strings.Join(jars, ":")}
}

// TestFourLetterWordsHostile: the four-letter words cannot be turned
// against the server: a word outside the whitelist gets ZooKeeper's
// refusal and a close, the heavy ones are off by default, an unknown
// word is a frame length out of range and closes at once, and a client
// that sends more than its word gets the answer and the close, its
// extra bytes unread.
func TestFourLetterWordsHostile(t *testing.T) {
	n := secNode(t, Config{})
	ask := func(payload []byte) string {
		nc, err := net.DialTimeout("tcp", n.ClientAddr(), secWait)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(secWait))
		go nc.Write(payload) // a huge payload: the server closes before reading it all
		b, _ := io.ReadAll(nc)
		return string(b)
	}
	for _, w := range []string{"cons", "wchc", "wchp", "wchs", "dump", "envi", "mntr", "stat", "conf"} {
		if got, want := ask([]byte(w)), w+" is not executed because it is not in the whitelist.\n"; got != want {
			t.Errorf("%s: %q, want %q", w, got, want)
		}
	}
	if got := ask([]byte("abcd")); got != "" {
		t.Errorf("unknown word: %q, want a close", got)
	}
	huge := append([]byte("srvr"), make([]byte, 8<<20)...)
	if got := ask(huge); !strings.Contains(got, "Mode: standalone") {
		t.Errorf("srvr and 8 MiB: %q", got)
	}
}
