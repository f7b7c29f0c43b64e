// Package zoocfg reads Apache ZooKeeper's configuration — zoo.cfg, the
// dynamic configuration file it may name, the myid file in dataDir and the
// -D flags of SERVER_JVMFLAGS — the way ZooKeeper 3.8's QuorumPeerConfig
// does, so that zkraft can start from the files an existing ZooKeeper
// deployment already has.
//
// The file format is java.util.Properties. Keys ZooKeeper knows become
// typed fields of Config, with ZooKeeper's defaults and validity checks;
// every other key — which ZooKeeper turns into a "zookeeper."+key Java
// system property — lands in Config.Properties, where Config.Property finds
// it together with the -Dzookeeper.* flags merged by ApplyJVMFlags.
package zoocfg

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zkraft/zk/internal/flw"
)

// Role names, as ZooKeeper spells them in server lines.
const (
	Participant = "participant"
	Observer    = "observer"
)

// Config is a parsed ZooKeeper configuration.
//
// Durations that ZooKeeper counts in milliseconds are time.Durations here;
// limits that it counts in ticks keep their tick count (InitLimit) next to
// the resulting duration (InitTimeout).
type Config struct {
	// TickTime is ZooKeeper's basic time unit (tickTime, default 3000 ms
	// as ZooKeeperServer.DEFAULT_TICK_TIME).
	TickTime time.Duration
	// DataDir is where snapshots (and myid) live; required.
	DataDir string
	// DataLogDir is where the transaction log lives; DataDir when unset.
	DataLogDir string
	// ClientPort is the plain client port, 0 when not set. When this
	// server's own server line carries a client address, Load replaces
	// ClientPort and ClientPortAddress with it, as ZooKeeper does.
	ClientPort int
	// ClientPortAddress is the address the client port binds to; "" means
	// all addresses.
	ClientPortAddress string
	// SecureClientPort is the TLS client port, 0 when not set.
	SecureClientPort int
	// SecureClientPortAddress is the address the TLS port binds to.
	SecureClientPortAddress string
	// ClientPortListenBacklog is the listen backlog, -1 for the OS default.
	ClientPortListenBacklog int
	// InitLimit is how many ticks a follower may take to connect and sync
	// to a leader; required in an ensemble.
	InitLimit int
	// SyncLimit is how many ticks a follower may lag behind the leader;
	// required in an ensemble.
	SyncLimit int
	// InitTimeout is InitLimit × TickTime.
	InitTimeout time.Duration
	// SyncTimeout is SyncLimit × TickTime.
	SyncTimeout time.Duration
	// MinSessionTimeout bounds negotiated session timeouts from below
	// (default 2 × TickTime).
	MinSessionTimeout time.Duration
	// MaxSessionTimeout bounds negotiated session timeouts from above
	// (default 20 × TickTime).
	MaxSessionTimeout time.Duration
	// MaxClientCnxns limits connections per client IP (default 60; 0 is
	// unlimited).
	MaxClientCnxns int
	// StandaloneEnabled lets a configuration with a single participant
	// run as a standalone server (default true).
	StandaloneEnabled bool
	// ReconfigEnabled enables the reconfig operation (default false).
	ReconfigEnabled bool
	// QuorumListenOnAllIPs makes the quorum port listen on every address
	// rather than only the server line's host (quorumListenOnAllIPs).
	QuorumListenOnAllIPs bool
	// PeerType is the role the peerType key asks for, Participant by
	// default; once MyID is known the server list decides, as in ZooKeeper.
	PeerType string
	// ReadOnlyMode is readonlymode.enabled: a partitioned server keeps
	// serving reads, and "isro" is always whitelisted.
	ReadOnlyMode bool
	// FourLetterWhitelist is the set of four-letter words the server
	// answers (4lw.commands.whitelist; "*" is every word). ZooKeeper 3.8
	// always adds "srvr" (zkServer.sh status needs it) and, with
	// ReadOnlyMode, "isro"; with no whitelist at all only "srvr" answers.
	FourLetterWhitelist map[string]bool
	// DynamicConfigFile is the dynamicConfigFile value as written.
	DynamicConfigFile string
	// ConfigVersion is the membership version, read like ZooKeeper from
	// the dynamic file's name suffix (zoo.cfg.dynamic.100000000); 0 when
	// the servers are listed in zoo.cfg itself.
	ConfigVersion uint64
	// Servers is the membership, by ID.
	Servers []Server
	// MyID is this server's id from dataDir/myid; only Load reads it.
	MyID uint64
	// HasMyID tells whether a myid file was found (0 is a valid id).
	HasMyID bool
	// Properties holds every key with no field above, trimmed, as the
	// "zookeeper."+key system properties ZooKeeper would set from them:
	// DigestAuthenticationProvider.superDigest, extendedTypesEnabled,
	// jute.maxbuffer, ssl.*, authProvider.*, autopurge.*, group.*, ...
	Properties map[string]string
	// Raw holds every key of zoo.cfg and of the dynamic file, trimmed.
	Raw map[string]string
}

// Server is one server.N line.
type Server struct {
	// ID is N.
	ID uint64
	// Host is the host of the first address, without IPv6 brackets.
	Host string
	// PeerPort is the quorum (follower-to-leader) port.
	PeerPort int
	// ElectionPort is the leader-election port.
	ElectionPort int
	// Role is Participant or Observer.
	Role string
	// ClientAddr is the client part after ';' as written ("2181" or
	// "0.0.0.0:2181"), "" when absent.
	ClientAddr string
	// ClientHost is the client part's host, "0.0.0.0" when only a port was
	// given (as ZooKeeper reads it), "" when there is no client part.
	ClientHost string
	// ClientPort is the client part's port, 0 when absent.
	ClientPort int
	// Addrs lists every peer address; more than one only with
	// multiAddress.enabled=true. Addrs[0] repeats Host/PeerPort/ElectionPort.
	Addrs []PeerAddr
}

// PeerAddr is one host:peerPort:electionPort of a server line.
type PeerAddr struct {
	// Host is the host name or IP, without IPv6 brackets.
	Host string
	// PeerPort is the quorum port.
	PeerPort int
	// ElectionPort is the election port.
	ElectionPort int
}

// Error is a configuration error; Line is 0 when the problem is not one
// line's (a missing key, two keys in conflict, an unreadable file).
type Error struct {
	// File is the file at fault, "" from Parse.
	File string
	// Line is the 1-based line the offending entry starts on.
	Line int
	// Msg says what is wrong, in ZooKeeper's words where it has some.
	Msg string
}

// Error formats the error as file:line: message, like a compiler, so that
// an operator can jump to the line.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("zoocfg: %s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("zoocfg: %s: %s", e.File, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("zoocfg: line %d: %s", e.Line, e.Msg)
	}
	return "zoocfg: " + e.Msg
}

func lineErr(line int, format string, args ...any) *Error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// withFile names the file in an *Error that does not name one yet.
func withFile(err error, file string) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &e):
		return &Error{File: file, Msg: err.Error()}
	case e.File == "":
		e.File = file
	}
	return e
}

// Parse reads a zoo.cfg from r. It cannot follow dynamicConfigFile or read
// myid (Load does), so with a dynamic file Servers stays empty, and the
// checks that need the server's own id are skipped.
func Parse(r io.Reader) (*Config, error) {
	c, err := parseStatic(r)
	if err != nil {
		return nil, err
	}
	if c.DynamicConfigFile == "" {
		if err := c.finish(false); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Load reads the zoo.cfg at path, then, as ZooKeeper does, the dynamic
// configuration file it names and dataDir/myid, and checks the result.
//
// ZooKeeper opens dynamicConfigFile as written, so a relative name is
// relative to the working directory; Load does the same, and only when
// that file does not exist tries the name relative to zoo.cfg's directory
// (where ZooKeeper would have failed to start).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer f.Close()
	c, err := parseStatic(f)
	if err != nil {
		return nil, withFile(err, path)
	}
	if c.DynamicConfigFile != "" {
		dyn := resolveDynamic(c.DynamicConfigFile, path)
		if err := c.loadDynamic(dyn); err != nil {
			return nil, withFile(err, dyn)
		}
	}
	if err := c.readMyID(); err != nil {
		return nil, err
	}
	if err := c.finish(true); err != nil {
		return nil, withFile(err, path)
	}
	if c.Distributed() && !c.HasMyID {
		return nil, &Error{File: path, Msg: "myid file is missing"}
	}
	return c, nil
}

func resolveDynamic(name, cfgPath string) string {
	if filepath.IsAbs(name) {
		return name
	}
	if _, err := os.Stat(name); err == nil {
		return name
	}
	alt := filepath.Join(filepath.Dir(cfgPath), name)
	if _, err := os.Stat(alt); err == nil {
		return alt
	}
	return name
}

// Property returns a key of Properties. A "zookeeper." prefix is accepted
// too, because ZooKeeper's code names these settings by their system
// property (zookeeper.DigestAuthenticationProvider.superDigest).
func (c *Config) Property(key string) (string, bool) {
	if v, ok := c.Properties[key]; ok {
		return v, true
	}
	if k, ok := strings.CutPrefix(key, "zookeeper."); ok {
		v, ok := c.Properties[k]
		return v, ok
	}
	return "", false
}

// ApplyJVMFlags merges system properties given on the java command line
// (ParseJVMFlags of SERVER_JVMFLAGS) into Properties. A key zoo.cfg also
// sets keeps zoo.cfg's value: ZooKeeper sets the system properties from
// zoo.cfg while parsing it, over the -D values. Keys that zoo.cfg handles
// itself (tickTime, dataDir, ...) are not system properties in ZooKeeper
// and are ignored. The whitelist and ReadOnlyMode are worked out again.
func (c *Config) ApplyJVMFlags(flags map[string]string) {
	if c.Properties == nil {
		c.Properties = map[string]string{}
	}
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if typedKey(k) {
			continue
		}
		if _, set := c.Raw[k]; set {
			continue
		}
		c.Properties[k] = strings.TrimSpace(flags[k])
	}
	c.deriveFromProperties()
}

// Distributed tells whether ZooKeeper would run this configuration as an
// ensemble rather than a standalone server: more than one participant, or
// standaloneEnabled=false.
func (c *Config) Distributed() bool {
	n := 0
	for _, s := range c.Servers {
		if s.Role == Participant {
			n++
		}
	}
	return len(c.Servers) > 0 && (!c.StandaloneEnabled || n > 1)
}

// Server returns the server with the given id.
func (c *Config) Server(id uint64) (Server, bool) {
	for _, s := range c.Servers {
		if s.ID == id {
			return s, true
		}
	}
	return Server{}, false
}

// Self returns this server's line, if MyID is known and listed.
func (c *Config) Self() (Server, bool) {
	if !c.HasMyID {
		return Server{}, false
	}
	return c.Server(c.MyID)
}

// typedKeys are the keys QuorumPeerConfig.parseProperties consumes itself
// (everything else becomes a system property). The kind drives
// validation, so that a bad number fails here as it fails ZooKeeper even
// for keys without a Config field.
var typedKeys = map[string]kind{
	"dataDir": kString, "dataLogDir": kString, "clientPort": kInt,
	"localSessionsEnabled": kBool, "localSessionsUpgradingEnabled": kBool,
	"clientPortAddress": kString, "secureClientPort": kInt,
	"secureClientPortAddress": kString, "observerMasterPort": kInt,
	"clientPortListenBacklog": kInt, "tickTime": kInt, "maxClientCnxns": kInt,
	"minSessionTimeout": kInt, "maxSessionTimeout": kInt, "initLimit": kInt,
	"syncLimit": kInt, "connectToLearnerMasterLimit": kInt, "electionAlg": kInt,
	"quorumListenOnAllIPs": kBool, "peerType": kString, "syncEnabled": kBool,
	"dynamicConfigFile": kString, "autopurge.snapRetainCount": kInt,
	"autopurge.purgeInterval": kInt, "standaloneEnabled": kBool,
	"reconfigEnabled": kBool, "sslQuorum": kBool, "portUnification": kBool,
	"sslQuorumReloadCertFiles": kBool, "quorum.auth.enableSasl": kBool,
	"quorum.auth.serverRequireSasl": kBool, "quorum.auth.learnerRequireSasl": kBool,
	"quorum.auth.learner.saslLoginContext":  kString,
	"quorum.auth.server.saslLoginContext":   kString,
	"quorum.auth.kerberos.servicePrincipal": kString,
	"quorum.cnxn.threads.size":              kInt,
	"jvm.pause.info-threshold.ms":           kLong, "jvm.pause.warn-threshold.ms": kLong,
	"jvm.pause.sleep.time.ms": kLong, "jvm.pause.monitor": kBool,
	"metricsProvider.className": kString, "multiAddress.enabled": kBool,
	"multiAddress.reachabilityCheckTimeoutMs": kInt,
	"multiAddress.reachabilityCheckEnabled":   kBool, "oraclePath": kString,
}

type kind int

const (
	kString kind = iota
	kInt
	kLong
	kBool
)

func typedKey(k string) bool {
	_, ok := typedKeys[k]
	return ok || strings.HasPrefix(k, "server.") || strings.HasPrefix(k, "metricsProvider.")
}

// parseStatic reads zoo.cfg proper: everything but the dynamic file and
// myid.
func parseStatic(r io.Reader) (*Config, error) {
	entries, err := readProperties(r)
	if err != nil {
		return nil, err
	}
	c := &Config{
		TickTime:                3000 * time.Millisecond,
		MaxClientCnxns:          60,
		ClientPortListenBacklog: -1,
		StandaloneEnabled:       true,
		PeerType:                Participant,
		Properties:              map[string]string{},
		Raw:                     map[string]string{},
	}
	if err := checkDuplicateServers(entries); err != nil {
		return nil, err
	}
	// Java's Properties keeps the last of repeated keys.
	last := map[string]entry{}
	for _, e := range entries {
		e.key = strings.TrimSpace(e.key)
		e.value = strings.TrimSpace(e.value)
		last[e.key] = e
	}
	ordered := make([]entry, 0, len(last))
	for _, e := range last {
		ordered = append(ordered, e)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].line < ordered[j].line })
	lines := map[string]int{}
	for _, e := range ordered {
		c.Raw[e.key] = e.value
		lines[e.key] = e.line
	}
	_, hasDynamic := c.Raw["dynamicConfigFile"]

	minST, maxST := -1, -1
	var servers []entry
	for _, e := range ordered {
		k, v := e.key, e.value
		if strings.HasPrefix(k, "server.") || strings.HasPrefix(k, "group") || strings.HasPrefix(k, "weight") {
			if hasDynamic {
				return nil, lineErr(e.line, "parameter: %s must be in a separate dynamic config file", k)
			}
			if strings.HasPrefix(k, "server.") {
				servers = append(servers, e)
			} else {
				c.Properties[k] = v
			}
			continue
		}
		kd, typed := typedKeys[k]
		if !typed {
			if !strings.HasPrefix(k, "metricsProvider.") {
				c.Properties[k] = v
			}
			continue
		}
		var n int64
		var b bool
		switch kd {
		case kInt:
			if n, err = strconv.ParseInt(v, 10, 32); err != nil {
				return nil, lineErr(e.line, "%s: bad number %q", k, v)
			}
		case kLong:
			if n, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, lineErr(e.line, "%s: bad number %q", k, v)
			}
		case kBool:
			switch strings.ToLower(v) {
			case "true":
				b = true
			case "false":
			default:
				return nil, lineErr(e.line, "Invalid option %s for %s. Choose 'true' or 'false.'", v, k)
			}
		}
		switch k {
		case "dataDir":
			c.DataDir = v
		case "dataLogDir":
			c.DataLogDir = v
		case "clientPort":
			c.ClientPort = int(n)
		case "clientPortAddress":
			c.ClientPortAddress = v
		case "secureClientPort":
			c.SecureClientPort = int(n)
		case "secureClientPortAddress":
			c.SecureClientPortAddress = v
		case "clientPortListenBacklog":
			c.ClientPortListenBacklog = int(n)
		case "tickTime":
			c.TickTime = time.Duration(n) * time.Millisecond
		case "maxClientCnxns":
			c.MaxClientCnxns = int(n)
		case "minSessionTimeout":
			minST = int(n)
		case "maxSessionTimeout":
			maxST = int(n)
		case "initLimit":
			c.InitLimit = int(n)
		case "syncLimit":
			c.SyncLimit = int(n)
		case "electionAlg":
			if n != 3 {
				return nil, lineErr(e.line, "Invalid electionAlg value. Only 3 is supported.")
			}
		case "peerType":
			switch strings.ToLower(v) {
			case Observer, Participant:
				c.PeerType = strings.ToLower(v)
			default:
				return nil, lineErr(e.line, "Unrecognised peertype: %s", v)
			}
		case "dynamicConfigFile":
			c.DynamicConfigFile = v
		case "standaloneEnabled":
			c.StandaloneEnabled = b
		case "quorumListenOnAllIPs":
			c.QuorumListenOnAllIPs = b
		case "reconfigEnabled":
			c.ReconfigEnabled = b
		}
	}

	if req, _ := strconv.ParseBool(c.Raw["quorum.auth.serverRequireSasl"]); req {
		if en, _ := strconv.ParseBool(c.Raw["quorum.auth.enableSasl"]); !en {
			return nil, lineErr(lines["quorum.auth.serverRequireSasl"], "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl")
		}
		if l, _ := strconv.ParseBool(c.Raw["quorum.auth.learnerRequireSasl"]); !l {
			return nil, lineErr(lines["quorum.auth.serverRequireSasl"], "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl")
		}
	}
	if req, _ := strconv.ParseBool(c.Raw["quorum.auth.learnerRequireSasl"]); req {
		if en, _ := strconv.ParseBool(c.Raw["quorum.auth.enableSasl"]); !en {
			return nil, lineErr(lines["quorum.auth.learnerRequireSasl"], "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl")
		}
	}
	if c.DataDir == "" {
		return nil, &Error{Msg: "dataDir is not set"}
	}
	if c.DataLogDir == "" {
		c.DataLogDir = c.DataDir
	}
	if c.ClientPort == 0 && c.ClientPortAddress != "" {
		return nil, lineErr(lines["clientPortAddress"], "clientPortAddress is set but clientPort is not set")
	}
	if c.SecureClientPort == 0 && c.SecureClientPortAddress != "" {
		return nil, lineErr(lines["secureClientPortAddress"], "secureClientPortAddress is set but secureClientPort is not set")
	}
	for _, k := range []string{"clientPort", "secureClientPort"} {
		if p, _ := strconv.Atoi(c.Raw[k]); p < 0 || p > 65535 {
			return nil, lineErr(lines[k], "%s: port out of range: %d", k, p)
		}
	}
	if c.TickTime == 0 {
		return nil, lineErr(lines["tickTime"], "tickTime is not set")
	}
	tick := int(c.TickTime / time.Millisecond)
	if minST == -1 {
		minST = 2 * tick
	}
	if maxST == -1 {
		maxST = 20 * tick
	}
	if minST > maxST {
		return nil, lineErr(lines["minSessionTimeout"], "minSessionTimeout must not be larger than maxSessionTimeout")
	}
	c.MinSessionTimeout = time.Duration(minST) * time.Millisecond
	c.MaxSessionTimeout = time.Duration(maxST) * time.Millisecond
	c.InitTimeout = time.Duration(c.InitLimit) * c.TickTime
	c.SyncTimeout = time.Duration(c.SyncLimit) * c.TickTime

	multi, _ := strconv.ParseBool(c.Raw["multiAddress.enabled"])
	for _, e := range servers {
		s, err := parseServer(e.key, e.value, multi)
		if err != nil {
			return nil, lineErr(e.line, "%v", err)
		}
		c.Servers = append(c.Servers, s)
	}
	sort.Slice(c.Servers, func(i, j int) bool { return c.Servers[i].ID < c.Servers[j].ID })
	c.deriveFromProperties()
	return c, nil
}

// deriveFromProperties works out the fields that ZooKeeper reads from
// system properties rather than from its config keys.
func (c *Config) deriveFromProperties() {
	ro := strings.TrimSpace(c.Properties["readonlymode.enabled"])
	// ZooKeeper compares with "true" exactly.
	c.ReadOnlyMode = ro == "true"
	wl := map[string]bool{}
	if v, ok := c.Properties["4lw.commands.whitelist"]; ok {
		for _, w := range strings.Split(v, ",") {
			w = strings.TrimSpace(w)
			if w == "*" {
				for _, x := range flw.Words() {
					wl[x] = true
				}
				wl[flw.Name(flw.TelnetClose)] = true
				break
			}
			if w != "" {
				wl[w] = true
			}
		}
	}
	if c.ReadOnlyMode {
		wl["isro"] = true
	}
	wl["srvr"] = true
	c.FourLetterWhitelist = wl
}

// checkDuplicateServers rejects two server lines for one id — the same key
// twice, or server.1 and server.01. ZooKeeper silently keeps one of them,
// which hides a typo that splits an ensemble.
func checkDuplicateServers(entries []entry) error {
	seen := map[uint64]int{}
	for _, e := range entries {
		k := strings.TrimSpace(e.key)
		if !strings.HasPrefix(k, "server.") {
			continue
		}
		id, err := parseServerID(k)
		if err != nil {
			return lineErr(e.line, "%v", err)
		}
		if prev, dup := seen[id]; dup {
			return lineErr(e.line, "duplicate server id %d (also on line %d)", id, prev)
		}
		seen[id] = e.line
	}
	return nil
}

func parseServerID(key string) (uint64, error) {
	s := key[strings.IndexByte(key, '.')+1:]
	id, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%s: bad server id %q", key, s)
	}
	return id, nil
}

// loadDynamic reads the dynamic configuration file: server lines (and
// hierarchical-quorum group/weight lines) only, version from the name.
func (c *Config) loadDynamic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{Msg: err.Error()}
	}
	defer f.Close()
	entries, err := readProperties(f)
	if err != nil {
		return err
	}
	if err := checkDuplicateServers(entries); err != nil {
		return err
	}
	multi, _ := strconv.ParseBool(c.Raw["multiAddress.enabled"])
	for _, e := range entries {
		k, v := strings.TrimSpace(e.key), strings.TrimSpace(e.value)
		switch {
		case strings.HasPrefix(k, "server."):
			s, err := parseServer(k, v, multi)
			if err != nil {
				return lineErr(e.line, "%v", err)
			}
			c.Servers = append(c.Servers, s)
		case strings.HasPrefix(k, "group"), strings.HasPrefix(k, "weight"):
			c.Properties[k] = v
		case k == "version":
			return lineErr(e.line, "dynamic file shouldn't have version inside")
		default:
			return lineErr(e.line, "Unrecognised parameter: %s", k)
		}
		c.Raw[k] = v
	}
	sort.Slice(c.Servers, func(i, j int) bool { return c.Servers[i].ID < c.Servers[j].ID })
	// zoo.cfg.dynamic.100000000 is version 0x100000000; a name without a
	// hex suffix is version 0.
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		if v, err := strconv.ParseUint(path[i+1:], 16, 64); err == nil {
			c.ConfigVersion = v
		}
	}
	return nil
}

// readMyID reads dataDir/myid when it is a regular file; a standalone
// server needs none.
func (c *Config) readMyID() error {
	p := filepath.Join(c.DataDir, "myid")
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return &Error{File: p, Msg: err.Error()}
	}
	first, _, _ := strings.Cut(string(b), "\n")
	first = strings.TrimSpace(first)
	id, err := strconv.ParseUint(first, 10, 63)
	if err != nil {
		return &Error{File: p, Msg: fmt.Sprintf("serverid %s is not a number", first)}
	}
	c.MyID, c.HasMyID = id, true
	return nil
}

// finish runs QuorumPeerConfig's checks on the membership and this
// server's place in it. Without myid (Parse) the role stays as peerType
// says; Load, like ZooKeeper, lets the server list decide.
func (c *Config) finish(loaded bool) error {
	var part, obs int
	for _, s := range c.Servers {
		if s.Role == Participant {
			part++
		} else {
			obs++
		}
	}
	switch {
	case part == 0:
		if !c.StandaloneEnabled {
			return &Error{Msg: "standaloneEnabled = false then number of participants should be >0"}
		}
		if obs > 0 {
			return &Error{Msg: "Observers w/o participants is an invalid configuration"}
		}
	case part == 1 && c.StandaloneEnabled:
		if obs > 0 {
			return &Error{Msg: "Observers w/o quorum is an invalid configuration"}
		}
	}
	if self, ok := c.Self(); ok {
		if self.ClientPort != 0 && c.ClientPort != 0 && clientAddrConflict(c.ClientPortAddress, c.ClientPort, self) {
			return &Error{Msg: fmt.Sprintf("client address for this server (id = %d) in static config file is %s:%d is different from client address found in dynamic file: %s:%d",
				c.MyID, c.ClientPortAddress, c.ClientPort, self.ClientHost, self.ClientPort)}
		}
		if self.ClientPort != 0 {
			c.ClientPort = self.ClientPort
			c.ClientPortAddress = self.ClientHost
		}
		c.PeerType = self.Role
	} else if loaded {
		c.PeerType = Participant
	}
	if c.Distributed() {
		if c.InitLimit == 0 {
			return &Error{Msg: "initLimit is not set"}
		}
		if c.SyncLimit == 0 {
			return &Error{Msg: "syncLimit is not set"}
		}
	}
	return nil
}

// clientAddrConflict is ZooKeeper's test of clientPort/clientPortAddress
// against this server's own client address: a wildcard static address only
// has to agree on the port. Host names are not resolved, so only two IP
// literals can disagree.
func clientAddrConflict(staticHost string, staticPort int, self Server) bool {
	if staticPort != self.ClientPort {
		return true
	}
	a, errA := netip.ParseAddr(staticHost)
	if staticHost == "" || (errA == nil && a.IsUnspecified()) {
		return false
	}
	b, errB := netip.ParseAddr(self.ClientHost)
	return errA == nil && errB == nil && a.Unmap() != b.Unmap()
}
