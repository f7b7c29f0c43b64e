package zoocfg

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zkraft/zk/internal/flw"
)

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return c
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Debian's /etc/zookeeper/conf/zoo.cfg, which is ZooKeeper's zoo_sample.cfg.
func TestZooSample(t *testing.T) {
	c, err := Load("testdata/zoo_sample.cfg")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		TickTime: 2 * time.Second, DataDir: "/tmp/zookeeper", DataLogDir: "/tmp/zookeeper",
		ClientPort: 2181, ClientPortListenBacklog: -1, InitLimit: 10, SyncLimit: 5,
		InitTimeout: 20 * time.Second, SyncTimeout: 10 * time.Second,
		MinSessionTimeout: 4 * time.Second, MaxSessionTimeout: 40 * time.Second,
		MaxClientCnxns: 60, StandaloneEnabled: true, PeerType: Participant,
		FourLetterWhitelist: map[string]bool{"srvr": true},
		Properties:          map[string]string{},
		Raw: map[string]string{"tickTime": "2000", "initLimit": "10", "syncLimit": "5",
			"dataDir": "/tmp/zookeeper", "clientPort": "2181"},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got  %+v\nwant %+v", *c, want)
	}
	if c.Distributed() {
		t.Error("zoo_sample.cfg is standalone")
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "dataDir=/d\n")
	if c.TickTime != 3*time.Second || c.MinSessionTimeout != 6*time.Second || c.MaxSessionTimeout != 60*time.Second ||
		c.MaxClientCnxns != 60 || !c.StandaloneEnabled || c.ReconfigEnabled || c.ClientPort != 0 || c.DataLogDir != "/d" {
		t.Errorf("defaults: %+v", c)
	}
	if got := keys(c.FourLetterWhitelist); !reflect.DeepEqual(got, []string{"srvr"}) {
		t.Errorf("default whitelist %v, ZooKeeper 3.8 answers only srvr", got)
	}
}

func TestSyntax(t *testing.T) {
	c := mustParse(t, `
# comment
   ! also a comment
dataDir = /var/lib/zk
tickTime	=	1000
clientPort:2182
maxClientCnxns 7
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
authProvider.1 = org.apache.zookeeper.server.auth.SASLAuthenticationProvider
jute.maxbuffer=0x100000
ssl.keyStore.location=/etc/zk/keystore.jks
4lw.commands.whitelist=ruok, stat ,,mntr
long.value = one, \
             two
escaped\ key=a\tb\u0041\\c
winpath=C:\\zk\\data
extendedTypesEnabled=true
minSessionTimeout=1500
`)
	if c.DataDir != "/var/lib/zk" || c.TickTime != time.Second || c.ClientPort != 2182 || c.MaxClientCnxns != 7 ||
		c.MinSessionTimeout != 1500*time.Millisecond || c.MaxSessionTimeout != 20*time.Second {
		t.Errorf("typed: %+v", c)
	}
	for k, want := range map[string]string{
		"DigestAuthenticationProvider.superDigest":           "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
		"zookeeper.DigestAuthenticationProvider.superDigest": "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
		"authProvider.1":        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
		"jute.maxbuffer":        "0x100000",
		"ssl.keyStore.location": "/etc/zk/keystore.jks",
		"long.value":            "one, two",
		"escaped key":           "a\tbA\\c",
		"winpath":               `C:\zk\data`,
		"extendedTypesEnabled":  "true",
	} {
		if got, ok := c.Property(k); !ok || got != want {
			t.Errorf("Property(%q) = %q, %v; want %q", k, got, ok, want)
		}
	}
	if _, ok := c.Property("tickTime"); ok {
		t.Error("typed keys are not Properties")
	}
	if c.Raw["tickTime"] != "1000" {
		t.Error("Raw lacks tickTime")
	}
	if got := keys(c.FourLetterWhitelist); !reflect.DeepEqual(got, []string{"mntr", "ruok", "srvr", "stat"}) {
		t.Errorf("whitelist %v", got)
	}
}

func TestWhitelistStar(t *testing.T) {
	c := mustParse(t, "dataDir=/d\n4lw.commands.whitelist=*\n")
	for _, w := range flw.Words() {
		if !c.FourLetterWhitelist[w] {
			t.Errorf("* does not include %s", w)
		}
	}
	if !c.FourLetterWhitelist["telnet close"] || len(c.FourLetterWhitelist) != 19 {
		t.Errorf("whitelist %v", keys(c.FourLetterWhitelist))
	}
}

func TestStaticEnsemble(t *testing.T) {
	c := mustParse(t, `dataDir=/d
initLimit=5
syncLimit=2
server.1=zk1:2888:3888
server.2 = zk2:2888:3888:participant;2181
server.3=[fe80::1]:2888:3888:participant;0.0.0.0:2181
server.4=zk4:2888:3888:observer;[::1]:2182
`)
	want := []Server{
		{ID: 1, Host: "zk1", PeerPort: 2888, ElectionPort: 3888, Role: Participant, Addrs: []PeerAddr{{"zk1", 2888, 3888}}},
		{ID: 2, Host: "zk2", PeerPort: 2888, ElectionPort: 3888, Role: Participant, ClientAddr: "2181", ClientHost: "0.0.0.0", ClientPort: 2181, Addrs: []PeerAddr{{"zk2", 2888, 3888}}},
		{ID: 3, Host: "fe80::1", PeerPort: 2888, ElectionPort: 3888, Role: Participant, ClientAddr: "0.0.0.0:2181", ClientHost: "0.0.0.0", ClientPort: 2181, Addrs: []PeerAddr{{"fe80::1", 2888, 3888}}},
		{ID: 4, Host: "zk4", PeerPort: 2888, ElectionPort: 3888, Role: Observer, ClientAddr: "[::1]:2182", ClientHost: "::1", ClientPort: 2182, Addrs: []PeerAddr{{"zk4", 2888, 3888}}},
	}
	if !reflect.DeepEqual(c.Servers, want) {
		t.Errorf("servers\n got %+v\nwant %+v", c.Servers, want)
	}
	if !c.Distributed() || c.InitTimeout != 15*time.Second || c.SyncTimeout != 6*time.Second {
		t.Errorf("%+v", c)
	}
	if len(c.Properties) != 0 {
		t.Errorf("server lines leaked into Properties: %v", c.Properties)
	}
}

func TestMultiAddress(t *testing.T) {
	c := mustParse(t, "dataDir=/d\nmultiAddress.enabled=true\nserver.1=a:1:2|b:3:4;2181\n")
	if got := c.Servers[0].Addrs; !reflect.DeepEqual(got, []PeerAddr{{"a", 1, 2}, {"b", 3, 4}}) {
		t.Errorf("addrs %+v", got)
	}
}

// copyFixture copies a directory of ZooKeeper-written config files into a
// temp dir, pointing their absolute paths (ZooKeeper writes them so) there.
func copyFixture(t *testing.T, name, oldRoot string) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", name, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), oldRoot, dir))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeMyID(t *testing.T, dataDir, id string) {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte(id), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A zoo.cfg that ZooKeeper 3.8 itself rewrote: it started with server
// lines and reconfigEnabled=true, and moved them to zoo.cfg.dynamic.100000000.
func TestLoadZooKeeperRewrittenConfig(t *testing.T) {
	dir := copyFixture(t, "converted", "/tmp/zkcap/s1")
	writeMyID(t, filepath.Join(dir, "data"), "1\n")
	c, err := Load(filepath.Join(dir, "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DynamicConfigFile != filepath.Join(dir, "zoo.cfg.dynamic.100000000") || c.ConfigVersion != 0x100000000 {
		t.Errorf("dynamic %q version %x", c.DynamicConfigFile, c.ConfigVersion)
	}
	if !c.HasMyID || c.MyID != 1 || !c.Distributed() || !c.ReconfigEnabled || c.PeerType != Participant {
		t.Errorf("%+v", c)
	}
	if len(c.Servers) != 3 {
		t.Fatalf("servers %+v", c.Servers)
	}
	self, _ := c.Self()
	if self.Host != "localhost" || self.PeerPort != 47749 || self.ElectionPort != 40361 || self.ClientAddr != "0.0.0.0:35659" {
		t.Errorf("self %+v", self)
	}
	// As in ZooKeeper, the server line's client address is the client port.
	if c.ClientPort != 35659 || c.ClientPortAddress != "0.0.0.0" {
		t.Errorf("client %q:%d", c.ClientPortAddress, c.ClientPort)
	}
	if len(c.FourLetterWhitelist) != 19 {
		t.Errorf("whitelist %v", keys(c.FourLetterWhitelist))
	}

	// The backup ZooKeeper made is the original static form: same
	// servers, version 0, client port from each line.
	b, err := Parse(strings.NewReader(mustRead(t, filepath.Join(dir, "zoo.cfg.bak"))))
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Servers {
		if b.Servers[i].ClientPort != c.Servers[i].ClientPort || b.Servers[i].PeerPort != c.Servers[i].PeerPort {
			t.Errorf("backup server %d = %+v, dynamic %+v", i, b.Servers[i], c.Servers[i])
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The observer of a 3+1 ensemble that ran with these files.
func TestLoadObserverWithDynamicFile(t *testing.T) {
	dir := copyFixture(t, "dynamic", "/tmp/zkcap/q4")
	writeMyID(t, filepath.Join(dir, "data"), "4\n")
	c, err := Load(filepath.Join(dir, "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if c.PeerType != Observer || c.StandaloneEnabled || len(c.Servers) != 4 || c.ClientPort != 58821 || c.ClientPortAddress != "127.0.0.1" {
		t.Errorf("%+v", c)
	}
	var roles []string
	for _, s := range c.Servers {
		roles = append(roles, s.Role)
	}
	if !reflect.DeepEqual(roles, []string{Participant, Participant, Participant, Observer}) {
		t.Errorf("roles %v", roles)
	}
}

// A 3-server config with a relative dynamic file name: ZooKeeper opens it
// from the working directory; Load falls back to zoo.cfg's directory.
func TestLoadRelativeDynamicFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeMyID(t, data, "2")
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("zoo.cfg", "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir="+data+"\nclientPort=2181\ndynamicConfigFile=zoo.cfg.dynamic.a\n")
	write("zoo.cfg.dynamic.a", "server.1=10.0.0.1:2888:3888:participant;2181\nserver.2=10.0.0.2:2888:3888:participant;2181\nserver.3=10.0.0.3:2888:3888:participant;2181\n")
	c, err := Load(filepath.Join(dir, "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MyID != 2 || len(c.Servers) != 3 || c.ConfigVersion != 0xa || c.ClientPort != 2181 || c.Raw["server.3"] == "" {
		t.Errorf("%+v", c)
	}

	// Parse alone cannot follow the file.
	p, err := Parse(strings.NewReader(mustRead(t, filepath.Join(dir, "zoo.cfg"))))
	if err != nil || len(p.Servers) != 0 || p.DynamicConfigFile != "zoo.cfg.dynamic.a" {
		t.Errorf("Parse: %v %+v", err, p)
	}

	// Without myid an ensemble member cannot start.
	os.Remove(filepath.Join(data, "myid"))
	if _, err := Load(filepath.Join(dir, "zoo.cfg")); err == nil || !strings.Contains(err.Error(), "myid file is missing") {
		t.Errorf("no myid: %v", err)
	}
	writeMyID(t, data, "two\n")
	if _, err := Load(filepath.Join(dir, "zoo.cfg")); err == nil || !strings.Contains(err.Error(), "serverid two is not a number") {
		t.Errorf("bad myid: %v", err)
	}
}

func TestErrors(t *testing.T) {
	const base = "dataDir=/d\n"
	for _, c := range []struct {
		name, cfg string
		line      int
		want      string
	}{
		{"malformed", base + "clientPort2181\n", 2, "malformed line"},
		{"no key", base + " = 2181\n", 2, "malformed line"},
		{"bad number", base + "clientPort=21x81\n", 2, `clientPort: bad number "21x81"`},
		{"trailing comment", base + "tickTime=2000 # ms\n", 2, "tickTime: bad number"},
		{"number too big", base + "maxClientCnxns=9999999999\n", 2, "bad number"},
		{"port range", base + "clientPort=70000\n", 2, "port out of range"},
		{"bad bool", base + "standaloneEnabled=yes\n", 2, "Invalid option yes for standaloneEnabled"},
		{"bad unicode", base + "x=\\u12\n", 2, `malformed \uxxxx`},
		{"no dataDir", "clientPort=2181\n", 0, "dataDir is not set"},
		{"tickTime 0", base + "tickTime=0\n", 2, "tickTime is not set"},
		{"min>max", base + "minSessionTimeout=5000\nmaxSessionTimeout=4000\n", 2, "minSessionTimeout must not be larger"},
		{"address without port", base + "clientPortAddress=127.0.0.1\n", 2, "clientPortAddress is set but clientPort is not set"},
		{"electionAlg", base + "electionAlg=1\n", 2, "Only 3 is supported"},
		{"peerType", base + "peerType=witness\n", 2, "Unrecognised peertype: witness"},
		{"duplicate id", base + "server.1=a:1:2\nserver.2=b:1:2\nserver.1=c:1:2\n", 4, "duplicate server id 1 (also on line 2)"},
		{"duplicate id spelled twice", base + "server.1=a:1:2\nserver.01=b:1:2\n", 3, "duplicate server id 1"},
		{"bad id", base + "server.x=a:1:2\n", 2, `bad server id "x"`},
		{"negative id", base + "server.-1=a:1:2\n", 2, "bad server id"},
		{"bad peer port", base + "server.1=a:xx:3888\n", 2, `quorum port: bad port "xx"`},
		{"bad election port", base + "server.1=a:2888:\n", 2, "does not have the form"},
		{"port zero", base + "server.1=a:0:3888\n", 2, "port out of range: 0"},
		{"port too big", base + "server.1=a:2888:65536\n", 2, "port out of range: 65536"},
		{"same ports", base + "server.1=a:2888:2888\n", 2, "Client and election port must be different"},
		{"bad client port", base + "server.1=a:2888:3888;port\n", 2, `client port: bad port "port"`},
		{"two semicolons", base + "server.1=a:2888:3888;1;2\n", 2, "does not have the form"},
		{"five parts", base + "server.1=a:1:2:participant:x\n", 2, "does not have the form"},
		{"bad role", base + "server.1=a:1:2:leader\n", 2, "Unrecognised peertype: leader"},
		{"ipv6 unclosed", base + "server.1=[::1:1:2\n", 2, "has no matching ']:'"},
		{"multi address off", base + "server.1=a:1:2|b:1:2\n", 2, "Multiple address feature is disabled"},
		{"servers with dynamic file", base + "dynamicConfigFile=/x\nserver.1=a:1:2\n", 3, "must be in a separate dynamic config file"},
		{"observers only", base + "server.1=a:1:2:observer\n", 0, "Observers w/o participants"},
		{"observer without quorum", base + "server.1=a:1:2\nserver.2=b:1:2:observer\n", 0, "Observers w/o quorum"},
		{"standalone disabled, nobody", base + "standaloneEnabled=false\n", 0, "number of participants should be >0"},
		{"no initLimit", base + "syncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n", 0, "initLimit is not set"},
		{"no syncLimit", base + "initLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n", 0, "syncLimit is not set"},
		{"sasl", base + "quorum.auth.learnerRequireSasl=true\n", 2, "quorum.auth.enableSasl is disabled"},
	} {
		_, err := Parse(strings.NewReader(c.cfg))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err = %v, want a *Error", c.name, err)
			continue
		}
		if e.Line != c.line || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%s: got line %d %q, want line %d containing %q", c.name, e.Line, e.Msg, c.line, c.want)
		}
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zoo.cfg")
	dyn := filepath.Join(dir, "zoo.cfg.dynamic.1")
	for _, c := range []struct{ cfg, dyn, want string }{
		{"dataDir=/d\nclientPort=x\n", "", cfg + ":2: clientPort: bad number"},
		{"dataDir=/d\ndynamicConfigFile=" + dyn + "\n", "server.1=a:1:2\nversion=1\n", dyn + ":2: dynamic file shouldn't have version inside"},
		{"dataDir=/d\ndynamicConfigFile=" + dyn + "\n", "server.1=a:1:2\ntickTime=1\n", dyn + ":2: Unrecognised parameter: tickTime"},
		{"dataDir=/d\ndynamicConfigFile=" + dyn + "\n", "server.1=a:1:2\nserver.1=b:1:2\n", dyn + ":2: duplicate server id 1"},
		{"dataDir=/d\ndynamicConfigFile=" + dir + "/nope\n", "", "nope"},
	} {
		os.WriteFile(cfg, []byte(c.cfg), 0o644)
		os.WriteFile(dyn, []byte(c.dyn), 0o644)
		_, err := Load(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q): %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.cfg")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestClientAddressConflict(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeMyID(t, data, "1")
	cfg := filepath.Join(dir, "zoo.cfg")
	servers := "initLimit=5\nsyncLimit=2\nserver.1=a:1:2;10.0.0.1:2181\nserver.2=b:1:2\n"
	for static, ok := range map[string]bool{
		"clientPort=2181\n":                             true,
		"clientPort=2181\nclientPortAddress=0.0.0.0\n":  true,
		"clientPort=2182\n":                             false,
		"clientPort=2181\nclientPortAddress=10.0.0.2\n": false,
		"": true,
	} {
		os.WriteFile(cfg, []byte("dataDir="+data+"\n"+static+servers), 0o644)
		c, err := Load(cfg)
		if (err == nil) != ok {
			t.Errorf("%q: err %v", static, err)
		}
		if err == nil && (c.ClientPort != 2181 || c.ClientPortAddress != "10.0.0.1") {
			t.Errorf("%q: client %s:%d", static, c.ClientPortAddress, c.ClientPort)
		}
	}
}

func TestParseJVMFlags(t *testing.T) {
	got := ParseJVMFlags(`-Xmx1g -Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU= ` +
		`-Dzookeeper.extendedTypesEnabled=true -Djute.maxbuffer=4194304 "-Dquoted=a b" -Dsingle='x y'z ` +
		`-Descaped=a\ b -Dempty -Dzookeeper.4lw.commands.whitelist=* -cp /x:/y -Dreadonlymode.enabled=true ` +
		`-Ddq="say \"hi\"" -Dzookeeper.=odd -D -Dlater=1 -Dlater=2`)
	want := map[string]string{
		"DigestAuthenticationProvider.superDigest": "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
		"extendedTypesEnabled":                     "true",
		"jute.maxbuffer":                           "4194304",
		"quoted":                                   "a b",
		"single":                                   "x yz",
		"escaped":                                  "a b",
		"empty":                                    "",
		"4lw.commands.whitelist":                   "*",
		"readonlymode.enabled":                     "true",
		"dq":                                       `say "hi"`,
		"zookeeper.":                               "odd",
		"later":                                    "2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if len(ParseJVMFlags("")) != 0 {
		t.Error("empty flags")
	}
}

func TestApplyJVMFlags(t *testing.T) {
	c := mustParse(t, "dataDir=/d\nextendedTypesEnabled=false\n")
	c.ApplyJVMFlags(ParseJVMFlags(
		"-Dzookeeper.extendedTypesEnabled=true -Dzookeeper.DigestAuthenticationProvider.superDigest=super:x " +
			"-Dreadonlymode.enabled=true -Dzookeeper.4lw.commands.whitelist=ruok -Dzookeeper.tickTime=1"))
	if v, _ := c.Property("extendedTypesEnabled"); v != "false" {
		t.Errorf("zoo.cfg must win over -D: %q", v)
	}
	if v, _ := c.Property("DigestAuthenticationProvider.superDigest"); v != "super:x" {
		t.Errorf("superDigest %q", v)
	}
	if _, ok := c.Properties["tickTime"]; ok || c.TickTime != 3*time.Second {
		t.Error("-Dzookeeper.tickTime is no config key")
	}
	if !c.ReadOnlyMode || !reflect.DeepEqual(keys(c.FourLetterWhitelist), []string{"isro", "ruok", "srvr"}) {
		t.Errorf("readonly %v whitelist %v", c.ReadOnlyMode, keys(c.FourLetterWhitelist))
	}
}
