package zk

import (
	"reflect"
	"testing"
)

func TestACLDigestID(t *testing.T) {
	tests := []struct {
		user, password, want string
	}{
		{"super", "test", "super:D/InIHSb7yEEbrWz8b9l71RjZJU="},
		{"user", "password", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			if got := DigestID(tc.user, tc.password); got != tc.want {
				t.Errorf("DigestID(%q, %q) = %q, want %q", tc.user, tc.password, got, tc.want)
			}
		})
	}
}

func TestACLHelpers(t *testing.T) {
	tests := []struct {
		name string
		got  []ACL
		want []ACL
	}{
		{"WorldACL", WorldACL(PermRead | PermWrite), []ACL{{Perms: 3, Scheme: "world", ID: "anyone"}}},
		{"AuthACL", AuthACL(PermAll), []ACL{{Perms: 31, Scheme: "auth", ID: ""}}},
		{"DigestACL", DigestACL(PermAdmin, "user", "password"), []ACL{{Perms: 16, Scheme: "digest", ID: "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if PermRead != 1 || PermWrite != 2 || PermCreate != 4 || PermDelete != 8 || PermAdmin != 16 || PermAll != 31 {
		t.Errorf("permission bits differ from ZooDefs.Perms")
	}
}

func TestACLCheck(t *testing.T) {
	userID := ID{Scheme: "digest", ID: DigestID("user", "password")}
	otherID := ID{Scheme: "digest", ID: DigestID("other", "password")}
	ip := func(a string) ID { return ID{Scheme: "ip", ID: a} }
	ipACL := func(id string) []ACL { return []ACL{{Perms: PermAll, Scheme: "ip", ID: id}} }
	tests := []struct {
		name string
		acl  []ACL
		perm Perm
		ids  []ID
		want bool
	}{
		{"empty ACL allows all", []ACL{}, PermAdmin, nil, true},
		{"nil ACL allows all", nil, PermWrite, nil, true},
		{"world anyone", WorldACL(PermAll), PermRead, nil, true},
		{"world anyone other perm", WorldACL(PermRead), PermWrite, nil, false},
		{"world someone without id", []ACL{{Perms: PermAll, Scheme: "world", ID: "someone"}}, PermRead, nil, false},
		{"digest match", DigestACL(PermAll, "user", "password"), PermWrite, []ID{userID}, true},
		{"digest mismatch", DigestACL(PermAll, "user", "password"), PermWrite, []ID{otherID}, false},
		{"digest no ids", DigestACL(PermAll, "user", "password"), PermRead, nil, false},
		{"digest among several ids", DigestACL(PermAll, "user", "password"), PermRead, []ID{ip("1.2.3.4"), otherID, userID}, true},
		{"digest id under other scheme", DigestACL(PermAll, "user", "password"), PermRead, []ID{{Scheme: "sasl", ID: userID.ID}}, false},
		{"digest wrong password", DigestACL(PermAll, "user", "password"), PermRead, []ID{{Scheme: "digest", ID: DigestID("user", "Password")}}, false},
		{"auth stored expanded", []ACL{{Perms: PermAll, Scheme: "digest", ID: userID.ID}}, PermAdmin, []ID{userID}, true},
		{"ip exact", ipACL("10.1.2.3"), PermRead, []ID{ip("10.1.2.3")}, true},
		{"ip exact mismatch", ipACL("10.1.2.3"), PermRead, []ID{ip("10.1.2.4")}, false},
		{"ip /8 match", ipACL("10.0.0.0/8"), PermRead, []ID{ip("10.1.2.3")}, true},
		{"ip /8 mismatch", ipACL("10.0.0.0/8"), PermRead, []ID{ip("11.0.0.1")}, false},
		{"ip /8 host bits ignored", ipACL("10.9.9.9/8"), PermRead, []ID{ip("10.1.2.3")}, true},
		{"ip /32", ipACL("127.0.0.1/32"), PermRead, []ID{ip("127.0.0.1")}, true},
		{"ip /0 matches all", ipACL("1.2.3.4/0"), PermRead, []ID{ip("200.1.1.1")}, true},
		{"ip /31", ipACL("10.0.0.2/31"), PermRead, []ID{ip("10.0.0.3")}, true},
		{"ip /31 mismatch", ipACL("10.0.0.2/31"), PermRead, []ID{ip("10.0.0.4")}, false},
		{"ip leading zeros", ipACL("010.0.0.1"), PermRead, []ID{ip("10.0.0.1")}, true},
		{"ip plus sign", ipACL("+10.0.0.1"), PermRead, []ID{ip("10.0.0.1")}, true},
		{"ip prefix leading zero", ipACL("10.0.0.0/08"), PermRead, []ID{ip("10.7.0.1")}, true},
		{"ip malformed three parts", ipACL("10.0.0"), PermRead, []ID{ip("10.0.0.0")}, false},
		{"ip malformed octet", ipACL("256.0.0.1"), PermRead, []ID{ip("0.0.0.1")}, false},
		{"ip malformed bits", ipACL("10.0.0.0/33"), PermRead, []ID{ip("10.0.0.0")}, false},
		{"ip negative bits", ipACL("10.0.0.0/-1"), PermRead, []ID{ip("10.0.0.0")}, false},
		{"ip empty bits", ipACL("10.0.0.0/"), PermRead, []ID{ip("10.0.0.0")}, false},
		{"ip hostname", ipACL("localhost"), PermRead, []ID{ip("127.0.0.1")}, false},
		{"ip trailing space", ipACL("127.0.0.1 "), PermRead, []ID{ip("127.0.0.1")}, false},
		{"ip client malformed", ipACL("10.0.0.0/8"), PermRead, []ID{ip("10.x.0.1")}, false},
		{"ip id under digest scheme", ipACL("10.0.0.0/8"), PermRead, []ID{{Scheme: "digest", ID: "10.1.1.1"}}, false},
		{"super grants everything", ipACL("10.0.0.0/8"), PermAdmin, []ID{{Scheme: "super"}}, true},
		{"super grants perm 0 ACL", WorldACL(0), PermRead, []ID{ip("1.1.1.1"), {Scheme: "super", ID: ""}}, true},
		{"perm 0 denies", WorldACL(0), PermRead, nil, false},
		{"bit 32 is not a permission", WorldACL(32), PermRead, nil, false},
		{"entries combine", []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}, {Perms: PermWrite, Scheme: "digest", ID: userID.ID}}, PermWrite, []ID{userID}, true},
		{"entries combine denied", []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}, {Perms: PermWrite, Scheme: "digest", ID: userID.ID}}, PermWrite, []ID{otherID}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkACL(tc.acl, tc.perm, tc.ids); got != tc.want {
				t.Errorf("checkACL(%v, %d, %v) = %v, want %v", tc.acl, tc.perm, tc.ids, got, tc.want)
			}
		})
	}
}

func TestACLCheckPermBits(t *testing.T) {
	perms := []Perm{PermRead, PermWrite, PermCreate, PermDelete, PermAdmin}
	for _, granted := range perms {
		for _, asked := range perms {
			t.Run(granted.name()+"/"+asked.name(), func(t *testing.T) {
				got := checkACL(WorldACL(granted), asked, nil)
				if got != (granted == asked) {
					t.Errorf("granted %d asked %d: %v", granted, asked, got)
				}
				if !checkACL(WorldACL(PermAll&^granted|asked), asked, nil) {
					t.Errorf("all-but-%d does not grant %d", granted, asked)
				}
				if asked != granted && !checkACL(WorldACL(PermAll&^granted), asked, nil) {
					t.Errorf("all-but-%d does not grant %d", granted, asked)
				}
				if checkACL(WorldACL(PermAll&^asked), asked, nil) {
					t.Errorf("all-but-%d grants it", asked)
				}
			})
		}
	}
}

func (p Perm) name() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermCreate:
		return "create"
	case PermDelete:
		return "delete"
	case PermAdmin:
		return "admin"
	}
	return "perm"
}

func TestACLFix(t *testing.T) {
	a := ID{Scheme: "digest", ID: DigestID("a", "pa")}
	b := ID{Scheme: "digest", ID: DigestID("b", "pb")}
	world := ACL{Perms: PermAll, Scheme: "world", ID: "anyone"}
	auth := ACL{Perms: PermRead | PermAdmin, Scheme: "auth", ID: ""}
	tests := []struct {
		name string
		acl  []ACL
		ids  []ID
		want []ACL
		err  error
	}{
		{"nil", nil, nil, nil, ErrInvalidACL},
		{"empty", []ACL{}, nil, nil, ErrInvalidACL},
		{"world", []ACL{world}, nil, []ACL{world}, nil},
		{"world with other perms kept", []ACL{{Perms: 255, Scheme: "world", ID: "anyone"}}, nil, []ACL{{Perms: 255, Scheme: "world", ID: "anyone"}}, nil},
		{"world perm 0", []ACL{{Perms: 0, Scheme: "world", ID: "anyone"}}, nil, []ACL{{Perms: 0, Scheme: "world", ID: "anyone"}}, nil},
		{"world someone", []ACL{{Perms: PermAll, Scheme: "world", ID: "someone"}}, nil, nil, ErrInvalidACL},
		{"World capitalised", []ACL{{Perms: PermAll, Scheme: "World", ID: "anyone"}}, nil, nil, ErrInvalidACL},
		{"duplicates dropped", []ACL{world, world, {Perms: PermRead, Scheme: "world", ID: "anyone"}, world}, nil,
			[]ACL{world, {Perms: PermRead, Scheme: "world", ID: "anyone"}}, nil},
		{"auth to every digest id", []ACL{auth}, []ID{a, {Scheme: "ip", ID: "127.0.0.1"}, b, {Scheme: "super"}},
			[]ACL{{Perms: auth.Perms, Scheme: "digest", ID: a.ID}, {Perms: auth.Perms, Scheme: "digest", ID: b.ID}}, nil},
		{"auth id ignored", []ACL{{Perms: PermAll, Scheme: "auth", ID: "whatever"}}, []ID{a},
			[]ACL{{Perms: PermAll, Scheme: "digest", ID: a.ID}}, nil},
		{"auth to sasl and x509", []ACL{auth}, []ID{{Scheme: "sasl", ID: "u@R"}, {Scheme: "x509", ID: "CN=x"}},
			[]ACL{{Perms: auth.Perms, Scheme: "sasl", ID: "u@R"}, {Perms: auth.Perms, Scheme: "x509", ID: "CN=x"}}, nil},
		{"auth without ids", []ACL{auth}, nil, nil, ErrInvalidACL},
		{"auth with only ip", []ACL{auth}, []ID{{Scheme: "ip", ID: "127.0.0.1"}}, nil, ErrInvalidACL},
		{"auth with only super", []ACL{auth}, []ID{{Scheme: "super"}}, nil, ErrInvalidACL},
		{"auth next to world", []ACL{world, auth}, []ID{a}, []ACL{world, {Perms: auth.Perms, Scheme: "digest", ID: a.ID}}, nil},
		{"auth next to its own digest is not de-duplicated", []ACL{{Perms: PermAll, Scheme: "auth"}, {Perms: PermAll, Scheme: "digest", ID: a.ID}}, []ID{a},
			[]ACL{{Perms: PermAll, Scheme: "digest", ID: a.ID}, {Perms: PermAll, Scheme: "digest", ID: a.ID}}, nil},
		{"digest", []ACL{{Perms: PermAll, Scheme: "digest", ID: a.ID}}, nil, []ACL{{Perms: PermAll, Scheme: "digest", ID: a.ID}}, nil},
		{"digest empty user", []ACL{{Perms: PermAll, Scheme: "digest", ID: ":x"}}, nil, []ACL{{Perms: PermAll, Scheme: "digest", ID: ":x"}}, nil},
		{"digest trailing colon after two parts", []ACL{{Perms: PermAll, Scheme: "digest", ID: "a:b:"}}, nil, []ACL{{Perms: PermAll, Scheme: "digest", ID: "a:b:"}}, nil},
		{"digest no colon", []ACL{{Perms: PermAll, Scheme: "digest", ID: "nocolon"}}, nil, nil, ErrInvalidACL},
		{"digest three parts", []ACL{{Perms: PermAll, Scheme: "digest", ID: "a:b:c"}}, nil, nil, ErrInvalidACL},
		{"digest empty hash", []ACL{{Perms: PermAll, Scheme: "digest", ID: "a:"}}, nil, nil, ErrInvalidACL},
		{"digest empty", []ACL{{Perms: PermAll, Scheme: "digest", ID: ""}}, nil, nil, ErrInvalidACL},
		{"digest only colon", []ACL{{Perms: PermAll, Scheme: "digest", ID: ":"}}, nil, nil, ErrInvalidACL},
		{"digest inner empty part", []ACL{{Perms: PermAll, Scheme: "digest", ID: "a::b"}}, nil, nil, ErrInvalidACL},
		{"ip", []ACL{{Perms: PermAll, Scheme: "ip", ID: "10.0.0.0/8"}}, nil, []ACL{{Perms: PermAll, Scheme: "ip", ID: "10.0.0.0/8"}}, nil},
		{"ip leading zero kept as written", []ACL{{Perms: PermAll, Scheme: "ip", ID: "010.0.0.1"}}, nil, []ACL{{Perms: PermAll, Scheme: "ip", ID: "010.0.0.1"}}, nil},
		{"ip bits with leading zero", []ACL{{Perms: PermAll, Scheme: "ip", ID: "1.2.3.4/032"}}, nil, []ACL{{Perms: PermAll, Scheme: "ip", ID: "1.2.3.4/032"}}, nil},
		{"ip not an address", []ACL{{Perms: PermAll, Scheme: "ip", ID: "not-an-ip"}}, nil, nil, ErrInvalidACL},
		{"ip 33 bits", []ACL{{Perms: PermAll, Scheme: "ip", ID: "10.0.0.1/33"}}, nil, nil, ErrInvalidACL},
		{"ip three parts", []ACL{{Perms: PermAll, Scheme: "ip", ID: "10.0.0"}}, nil, nil, ErrInvalidACL},
		{"ip five parts", []ACL{{Perms: PermAll, Scheme: "ip", ID: "10.0.0.1.2"}}, nil, nil, ErrInvalidACL},
		{"ip octet 256", []ACL{{Perms: PermAll, Scheme: "ip", ID: "256.0.0.1"}}, nil, nil, ErrInvalidACL},
		{"ip empty bits", []ACL{{Perms: PermAll, Scheme: "ip", ID: "1.2.3.4/"}}, nil, nil, ErrInvalidACL},
		{"ip negative bits", []ACL{{Perms: PermAll, Scheme: "ip", ID: "1.2.3.4/-1"}}, nil, nil, ErrInvalidACL},
		{"ip trailing space", []ACL{{Perms: PermAll, Scheme: "ip", ID: "127.0.0.1 "}}, nil, nil, ErrInvalidACL},
		{"ip empty", []ACL{{Perms: PermAll, Scheme: "ip", ID: ""}}, nil, nil, ErrInvalidACL},
		{"unknown scheme", []ACL{{Perms: PermAll, Scheme: "foo", ID: "bar"}}, nil, nil, ErrInvalidACL},
		{"super scheme", []ACL{{Perms: PermAll, Scheme: "super", ID: ""}}, nil, nil, ErrInvalidACL},
		{"sasl scheme", []ACL{{Perms: PermAll, Scheme: "sasl", ID: "someone"}}, nil, nil, ErrInvalidACL},
		{"x509 scheme", []ACL{{Perms: PermAll, Scheme: "x509", ID: "CN=someone"}}, nil, nil, ErrInvalidACL},
		{"one bad entry spoils the list", []ACL{world, {Perms: PermAll, Scheme: "foo", ID: "bar"}}, nil, nil, ErrInvalidACL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]ACL(nil), tc.acl...)
			got, err := fixACL(tc.acl, tc.ids)
			if err != tc.err {
				t.Fatalf("fixACL err = %v, want %v", err, tc.err)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fixACL = %v\nwant      %v", got, tc.want)
			}
			if !reflect.DeepEqual(in, tc.acl) && !(len(in) == 0 && len(tc.acl) == 0) {
				t.Errorf("fixACL modified its input: %v", tc.acl)
			}
		})
	}
}

func TestACLFixThenCheck(t *testing.T) {
	a := ID{Scheme: "digest", ID: DigestID("a", "pa")}
	stored, err := fixACL(AuthACL(PermRead|PermWrite), []ID{a})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		perm Perm
		ids  []ID
		want bool
	}{
		{"creator read", PermRead, []ID{a}, true},
		{"creator write", PermWrite, []ID{a}, true},
		{"creator admin", PermAdmin, []ID{a}, false},
		{"stranger read", PermRead, []ID{{Scheme: "digest", ID: DigestID("a", "wrong")}}, false},
		{"anonymous read", PermRead, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkACL(stored, tc.perm, tc.ids); got != tc.want {
				t.Errorf("checkACL = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestACLAuthenticate(t *testing.T) {
	const superDigest = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
	tests := []struct {
		name   string
		scheme string
		cred   string
		super  string
		want   []ID
		err    error
	}{
		{"digest", "digest", "user:password", "", []ID{{Scheme: "digest", ID: "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="}}, nil},
		{"digest no colon", "digest", "nocolon", "", []ID{{Scheme: "digest", ID: "nocolon:Ra+cHr2ZoHvBjtNArFGNGlVie4g="}}, nil},
		{"digest empty", "digest", "", "", []ID{{Scheme: "digest", ID: ":2jmj7l5rSw0yVb/vlWAYkK/YBwk="}}, nil},
		{"digest two colons", "digest", "a:b:c", "", []ID{{Scheme: "digest", ID: "a:cLzgnoJ6mP5qz3w+mwvPE2vDgu0="}}, nil},
		{"super", "digest", "super:test", superDigest, []ID{{Scheme: "digest", ID: superDigest}, {Scheme: "super", ID: ""}}, nil},
		{"super wrong password", "digest", "super:nope", superDigest, []ID{{Scheme: "digest", ID: DigestID("super", "nope")}}, nil},
		{"super not configured", "digest", "super:test", "", []ID{{Scheme: "digest", ID: superDigest}}, nil},
		{"ip", "ip", "whatever", "", nil, nil},
		{"unknown scheme", "foo", "bar", "", nil, ErrAuthFailed},
		{"scheme case matters", "Digest", "user:password", "", nil, ErrAuthFailed},
		{"world is not an auth scheme", "world", "anyone", "", nil, ErrAuthFailed},
		{"super is not an auth scheme", "super", "test", superDigest, nil, ErrAuthFailed},
		{"empty scheme", "", "x", "", nil, ErrAuthFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := authenticate(tc.scheme, []byte(tc.cred), tc.super)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
	// The digest of "user:password" is what DigestID computes.
	ids, _ := authenticate("digest", []byte("user:password"), "")
	if ids[0].ID != DigestID("user", "password") {
		t.Errorf("authenticate and DigestID disagree")
	}
}

func TestACLValidDigestID(t *testing.T) {
	// DigestAuthenticationProvider.isValid: id.split(":").length == 2, with
	// Java dropping trailing empty strings.
	tests := map[string]bool{
		"a:b": true, ":b": true, "a:b:": true, "a:b::": true,
		"": false, "a": false, ":": false, "::": false, "a:": false, "a::": false,
		"a:b:c": false, "a::b": false, ":a:b": false,
	}
	for id, want := range tests {
		t.Run(id, func(t *testing.T) {
			if got := validDigestID(id); got != want {
				t.Errorf("validDigestID(%q) = %v, want %v", id, got, want)
			}
		})
	}
}

func TestACLCache(t *testing.T) {
	var c aclCache
	c.m = make(map[string]*aclEntry)
	x := []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}
	y := []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}}
	xy := []ACL{x[0], y[0]}
	yx := []ACL{y[0], x[0]}

	e1 := c.intern(x)
	e2 := c.intern(append([]ACL(nil), x...))
	if e1 != e2 || e1.refs != 2 || len(c.m) != 1 {
		t.Fatalf("identical lists: %p %p refs %d entries %d", e1, e2, e1.refs, len(c.m))
	}
	ey := c.intern(y)
	exy := c.intern(xy)
	eyx := c.intern(yx)
	if ey == e1 || exy == eyx || exy == e1 || len(c.m) != 4 {
		t.Fatalf("distinct lists share entries (%d entries)", len(c.m))
	}
	// The cache keeps its own copy.
	in := []ACL{{Perms: PermAdmin, Scheme: "digest", ID: "u:h"}}
	ein := c.intern(in)
	in[0].ID = "changed"
	if ein.acl[0].ID != "u:h" {
		t.Errorf("entry aliases the caller's slice")
	}
	c.release(ein)
	if _, ok := c.m[ein.key]; ok || ein.refs != 0 {
		t.Errorf("released to zero but still cached (refs %d)", ein.refs)
	}

	c.release(e1)
	if c.m[e1.key] != e1 || e1.refs != 1 {
		t.Errorf("released once: cached=%v refs %d", c.m[e1.key] == e1, e1.refs)
	}
	c.release(e2)
	if _, ok := c.m[e1.key]; ok || e1.refs != 0 {
		t.Errorf("released to zero but still cached (refs %d)", e1.refs)
	}
	// A new intern after the free makes a new entry.
	e3 := c.intern(x)
	if e3 == e1 || e3.refs != 1 {
		t.Errorf("re-intern after free: same=%v refs %d", e3 == e1, e3.refs)
	}
	c.release(e3)
	// retain brings a freed entry back (rollback of a delete).
	c.retain(e1)
	if c.m[e1.key] != e1 || e1.refs != 1 {
		t.Errorf("retain of a freed entry: cached=%v refs %d", c.m[e1.key] == e1, e1.refs)
	}
	c.retain(e1)
	if e1.refs != 2 {
		t.Errorf("retain: refs %d", e1.refs)
	}
}

// TestACLCacheKeyUnambiguous: two different ACL lists must never share an
// entry, whatever bytes their ids contain (ZooKeeper's
// ReferenceCountedACLCache compares the lists themselves).
func TestACLCacheKeyUnambiguous(t *testing.T) {
	tests := []struct {
		name string
		a, b []ACL
	}{
		{"NUL inside a digest id mimics a second entry",
			[]ACL{{Perms: 31, Scheme: "digest", ID: "u:p"}, {Perms: 31, Scheme: "world", ID: "anyone"}},
			[]ACL{{Perms: 31, Scheme: "digest", ID: "u:p\x0031\x00world\x00anyone"}}},
		{"NUL moves the scheme/id boundary",
			[]ACL{{Perms: 1, Scheme: "a\x00b", ID: "c"}},
			[]ACL{{Perms: 1, Scheme: "a", ID: "b\x00c"}}},
		{"perms digits",
			[]ACL{{Perms: 1, Scheme: "1", ID: "x"}},
			[]ACL{{Perms: 11, Scheme: "", ID: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if aclKey(tc.a) == aclKey(tc.b) {
				t.Errorf("aclKey collides for %q and %q", tc.a, tc.b)
			}
			c := aclCache{m: make(map[string]*aclEntry)}
			ea, eb := c.intern(tc.a), c.intern(tc.b)
			if ea == eb || !reflect.DeepEqual(eb.acl, tc.b) {
				t.Errorf("second list got entry %v", eb.acl)
			}
		})
	}
	// Through the tree: a node given the crafted digest ACL must not gain
	// world access from an earlier node's list.
	tr := newTree()
	c := &txnContext{zxid: 1, time: 1, system: true}
	if _, _, err := tr.create(c, &createArgs{path: "/open", acl: tests[0].a}, nil); err != nil {
		t.Fatal(err)
	}
	stored, err := fixACL(tests[0].b, nil)
	if err != nil {
		t.Fatalf("the crafted digest id is a valid ACL for ZooKeeper too: %v", err)
	}
	if _, _, err := tr.create(c, &createArgs{path: "/locked", acl: stored}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.get("/locked", nil); err != ErrNoAuth {
		t.Errorf("anonymous get of /locked: %v, want ErrNoAuth", err)
	}
}
