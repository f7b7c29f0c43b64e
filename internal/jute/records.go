package jute

// Records of the client protocol, in protocol.md field order (§3, §4, §5,
// §6.2, §9.1). Each is a Record through its pointer.

// StatSize is the encoded size of a Stat (§5.1).
const StatSize = 68

// ConnectRequest is the first frame a client sends (§3.1).
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	// ReadOnly is the client's "I accept a read-only server" flag.
	ReadOnly bool
	// HasReadOnly reports whether the readOnly byte was present: the server
	// must echo a readOnly byte in its ConnectResponse only if it was
	// (§3.3). go-zk omits it.
	HasReadOnly bool
}

// Encode always writes the readOnly byte, as the Java client and kazoo do;
// a go-zk-style 44-byte request is the encoding with its last byte cut.
func (r *ConnectRequest) Encode(e *Encoder) {
	e.Int(r.ProtocolVersion)
	e.Long(r.LastZxidSeen)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	e.Bool(r.ReadOnly)
}

// Decode reads the readOnly byte only if one is left, setting HasReadOnly
// accordingly; further trailing bytes are ignored, as ZooKeeper does.
func (r *ConnectRequest) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int()
	r.LastZxidSeen = d.Long()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	r.ReadOnly, r.HasReadOnly = false, false
	if d.Err() == nil && d.Len() > 0 {
		r.ReadOnly = d.Bool()
		r.HasReadOnly = true
	}
}

// ConnectResponse is the server's first frame (§3.2). A TimeOut of 0 (and
// SessionID 0) tells the client its session is invalid or expired.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	// HasReadOnly says whether the readOnly byte is (to be) on the wire. A
	// server sets it to the request's HasReadOnly (§3.3); the zero value
	// omits the byte, which every client tolerates.
	HasReadOnly bool
}

// Encode writes the readOnly byte only when HasReadOnly is set.
func (r *ConnectResponse) Encode(e *Encoder) {
	e.Int(r.ProtocolVersion)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	if r.HasReadOnly {
		e.Bool(r.ReadOnly)
	}
}

// Decode tolerates a missing readOnly byte, as the Java client and kazoo
// do, and records whether it was there.
func (r *ConnectResponse) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	r.ReadOnly, r.HasReadOnly = false, false
	if d.Err() == nil && d.Len() > 0 {
		r.ReadOnly = d.Bool()
		r.HasReadOnly = true
	}
}

// RequestHeader starts every request frame after the connect (§4.1).
type RequestHeader struct {
	Xid  int32
	Type int32
}

// Encode implements Record.
func (r *RequestHeader) Encode(e *Encoder) { e.Int(r.Xid); e.Int(r.Type) }

// Decode implements Record.
func (r *RequestHeader) Decode(d *Decoder) { r.Xid = d.Int(); r.Type = d.Int() }

// ReplyHeader starts every reply and notification frame (§4.1). When Err
// is non-zero nothing follows it (§4.5).
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  int32
}

// Encode implements Record.
func (r *ReplyHeader) Encode(e *Encoder) { e.Int(r.Xid); e.Long(r.Zxid); e.Int(r.Err) }

// Decode implements Record.
func (r *ReplyHeader) Decode(d *Decoder) { r.Xid = d.Int(); r.Zxid = d.Long(); r.Err = d.Int() }

// Stat is a znode's metadata as clients see it (§5.1, 68 bytes).
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// Encode implements Record.
func (s *Stat) Encode(e *Encoder) {
	e.Long(s.Czxid)
	e.Long(s.Mzxid)
	e.Long(s.Ctime)
	e.Long(s.Mtime)
	e.Int(s.Version)
	e.Int(s.Cversion)
	e.Int(s.Aversion)
	e.Long(s.EphemeralOwner)
	e.Int(s.DataLength)
	e.Int(s.NumChildren)
	e.Long(s.Pzxid)
}

// Decode implements Record.
func (s *Stat) Decode(d *Decoder) {
	s.Czxid = d.Long()
	s.Mzxid = d.Long()
	s.Ctime = d.Long()
	s.Mtime = d.Long()
	s.Version = d.Int()
	s.Cversion = d.Int()
	s.Aversion = d.Int()
	s.EphemeralOwner = d.Long()
	s.DataLength = d.Int()
	s.NumChildren = d.Int()
	s.Pzxid = d.Long()
}

// ID is an identity, such as world:anyone or digest:user:hash (§5.2).
type ID struct {
	Scheme string
	ID     string
}

// Encode implements Record.
func (r *ID) Encode(e *Encoder) { e.String(r.Scheme); e.String(r.ID) }

// Decode implements Record.
func (r *ID) Decode(d *Decoder) { r.Scheme = d.String(); r.ID = d.String() }

// ACL grants Perms (ZooDefs.Perms bits) to ID (§5.2).
type ACL struct {
	Perms int32
	ID    ID
}

// Encode implements Record.
func (r *ACL) Encode(e *Encoder) { e.Int(r.Perms); r.ID.Encode(e) }

// Decode implements Record.
func (r *ACL) Decode(d *Decoder) { r.Perms = d.Int(); r.ID.Decode(d) }

// ClientInfo is one identity a connection holds, as whoAmI reports it.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// Encode implements Record.
func (r *ClientInfo) Encode(e *Encoder) { e.String(r.AuthScheme); e.String(r.User) }

// Decode implements Record.
func (r *ClientInfo) Decode(d *Decoder) { r.AuthScheme = d.String(); r.User = d.String() }

// encodeACLs writes a vector<ACL>; nil is count 0 (see the package comment).
func encodeACLs(e *Encoder, acl []ACL) {
	e.Int(int32(len(acl)))
	for i := range acl {
		acl[i].Encode(e)
	}
}

// decodeACLs reads a vector<ACL>; null and empty both read as nil.
func decodeACLs(d *Decoder) []ACL {
	n := d.Count()
	if n == 0 {
		return nil
	}
	acl := make([]ACL, 0, d.capFor(n, 12))
	for i := 0; i < n && d.Err() == nil; i++ {
		var a ACL
		a.Decode(d)
		acl = append(acl, a)
	}
	return acl
}

// CreateRequest is the body of create, create2 and createContainer (§6.2).
type CreateRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
}

// Encode implements Record.
func (r *CreateRequest) Encode(e *Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	encodeACLs(e, r.ACL)
	e.Int(r.Flags)
}

// Decode implements Record.
func (r *CreateRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = decodeACLs(d)
	r.Flags = d.Int()
}

// CreateTTLRequest is the body of createTTL; TTL is in milliseconds.
type CreateTTLRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
	TTL   int64
}

// Encode implements Record.
func (r *CreateTTLRequest) Encode(e *Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	encodeACLs(e, r.ACL)
	e.Int(r.Flags)
	e.Long(r.TTL)
}

// Decode implements Record.
func (r *CreateTTLRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = decodeACLs(d)
	r.Flags = d.Int()
	r.TTL = d.Long()
}

// DeleteRequest is the body of delete; Version -1 matches any version.
type DeleteRequest struct {
	Path    string
	Version int32
}

// Encode implements Record.
func (r *DeleteRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Version) }

// Decode implements Record.
func (r *DeleteRequest) Decode(d *Decoder) { r.Path = d.String(); r.Version = d.Int() }

// DeleteContainerRequest is the body of deleteContainer. Its path is a
// buffer on the wire (same bytes as a ustring), kept as []byte so that a
// null path stays distinguishable.
type DeleteContainerRequest struct {
	Path []byte
}

// Encode implements Record.
func (r *DeleteContainerRequest) Encode(e *Encoder) { e.Buffer(r.Path) }

// Decode implements Record.
func (r *DeleteContainerRequest) Decode(d *Decoder) { r.Path = d.Buffer() }

// PathWatchRequest is the body of exists, getData, getChildren and
// getChildren2, which share one layout.
type PathWatchRequest struct {
	Path  string
	Watch bool
}

// Encode implements Record.
func (r *PathWatchRequest) Encode(e *Encoder) { e.String(r.Path); e.Bool(r.Watch) }

// Decode implements Record.
func (r *PathWatchRequest) Decode(d *Decoder) { r.Path = d.String(); r.Watch = d.Bool() }

// SetDataRequest is the body of setData; Version -1 matches any version.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

// Encode implements Record.
func (r *SetDataRequest) Encode(e *Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	e.Int(r.Version)
}

// Decode implements Record.
func (r *SetDataRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.Version = d.Int()
}

// PathRequest is the body of getACL, sync, getAllChildrenNumber and
// getEphemerals (whose prefixPath it carries).
type PathRequest struct {
	Path string
}

// Encode implements Record.
func (r *PathRequest) Encode(e *Encoder) { e.String(r.Path) }

// Decode implements Record.
func (r *PathRequest) Decode(d *Decoder) { r.Path = d.String() }

// SetACLRequest is the body of setACL; Version is the expected aversion.
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

// Encode implements Record.
func (r *SetACLRequest) Encode(e *Encoder) {
	e.String(r.Path)
	encodeACLs(e, r.ACL)
	e.Int(r.Version)
}

// Decode implements Record.
func (r *SetACLRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.ACL = decodeACLs(d)
	r.Version = d.Int()
}

// CheckVersionRequest is the body of check, which appears only in a multi.
type CheckVersionRequest struct {
	Path    string
	Version int32
}

// Encode implements Record.
func (r *CheckVersionRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Version) }

// Decode implements Record.
func (r *CheckVersionRequest) Decode(d *Decoder) { r.Path = d.String(); r.Version = d.Int() }

// ReconfigRequest is the body of reconfig; CurConfigID -1 skips the check.
type ReconfigRequest struct {
	JoiningServers string
	LeavingServers string
	NewMembers     string
	CurConfigID    int64
}

// Encode implements Record.
func (r *ReconfigRequest) Encode(e *Encoder) {
	e.String(r.JoiningServers)
	e.String(r.LeavingServers)
	e.String(r.NewMembers)
	e.Long(r.CurConfigID)
}

// Decode implements Record.
func (r *ReconfigRequest) Decode(d *Decoder) {
	r.JoiningServers = d.String()
	r.LeavingServers = d.String()
	r.NewMembers = d.String()
	r.CurConfigID = d.Long()
}

// WatchesRequest is the body of checkWatches and removeWatches; Type is a
// WatcherType (§9.7).
type WatchesRequest struct {
	Path string
	Type int32
}

// Encode implements Record.
func (r *WatchesRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Type) }

// Decode implements Record.
func (r *WatchesRequest) Decode(d *Decoder) { r.Path = d.String(); r.Type = d.Int() }

// AddWatchRequest is the body of addWatch; Mode 0 is persistent, 1
// persistent-recursive (§9.5).
type AddWatchRequest struct {
	Path string
	Mode int32
}

// Encode implements Record.
func (r *AddWatchRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Mode) }

// Decode implements Record.
func (r *AddWatchRequest) Decode(d *Decoder) { r.Path = d.String(); r.Mode = d.Int() }

// AuthPacket is the body of auth; Type is always 0 in practice.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

// Encode implements Record.
func (r *AuthPacket) Encode(e *Encoder) {
	e.Int(r.Type)
	e.String(r.Scheme)
	e.Buffer(r.Auth)
}

// Decode implements Record.
func (r *AuthPacket) Decode(d *Decoder) {
	r.Type = d.Int()
	r.Scheme = d.String()
	r.Auth = d.Buffer()
}

// SASLPacket is both GetSASLRequest and SetSASLResponse (§6.2), which are
// a single token buffer.
type SASLPacket struct {
	Token []byte
}

// Encode implements Record.
func (r *SASLPacket) Encode(e *Encoder) { e.Buffer(r.Token) }

// Decode implements Record.
func (r *SASLPacket) Decode(d *Decoder) { r.Token = d.Buffer() }

// SetWatches is the body of setWatches, sent after a reconnect (§9.6).
type SetWatches struct {
	RelativeZxid int64
	DataWatches  []string
	ExistWatches []string
	ChildWatches []string
}

// Encode implements Record.
func (r *SetWatches) Encode(e *Encoder) {
	e.Long(r.RelativeZxid)
	e.Strings(r.DataWatches)
	e.Strings(r.ExistWatches)
	e.Strings(r.ChildWatches)
}

// Decode implements Record.
func (r *SetWatches) Decode(d *Decoder) {
	r.RelativeZxid = d.Long()
	r.DataWatches = d.Strings()
	r.ExistWatches = d.Strings()
	r.ChildWatches = d.Strings()
}

// SetWatches2 is the body of setWatches2, which adds persistent watches.
type SetWatches2 struct {
	RelativeZxid               int64
	DataWatches                []string
	ExistWatches               []string
	ChildWatches               []string
	PersistentWatches          []string
	PersistentRecursiveWatches []string
}

// Encode implements Record.
func (r *SetWatches2) Encode(e *Encoder) {
	e.Long(r.RelativeZxid)
	e.Strings(r.DataWatches)
	e.Strings(r.ExistWatches)
	e.Strings(r.ChildWatches)
	e.Strings(r.PersistentWatches)
	e.Strings(r.PersistentRecursiveWatches)
}

// Decode implements Record.
func (r *SetWatches2) Decode(d *Decoder) {
	r.RelativeZxid = d.Long()
	r.DataWatches = d.Strings()
	r.ExistWatches = d.Strings()
	r.ChildWatches = d.Strings()
	r.PersistentWatches = d.Strings()
	r.PersistentRecursiveWatches = d.Strings()
}

// PathResponse is the reply body of create and sync.
type PathResponse struct {
	Path string
}

// Encode implements Record.
func (r *PathResponse) Encode(e *Encoder) { e.String(r.Path) }

// Decode implements Record.
func (r *PathResponse) Decode(d *Decoder) { r.Path = d.String() }

// Create2Response is the reply body of create2, createContainer and
// createTTL.
type Create2Response struct {
	Path string
	Stat Stat
}

// Encode implements Record.
func (r *Create2Response) Encode(e *Encoder) { e.String(r.Path); r.Stat.Encode(e) }

// Decode implements Record.
func (r *Create2Response) Decode(d *Decoder) { r.Path = d.String(); r.Stat.Decode(d) }

// StatResponse is the reply body of exists, setData and setACL.
type StatResponse struct {
	Stat Stat
}

// Encode implements Record.
func (r *StatResponse) Encode(e *Encoder) { r.Stat.Encode(e) }

// Decode implements Record.
func (r *StatResponse) Decode(d *Decoder) { r.Stat.Decode(d) }

// GetDataResponse is the reply body of getData and reconfig.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

// Encode implements Record.
func (r *GetDataResponse) Encode(e *Encoder) { e.Buffer(r.Data); r.Stat.Encode(e) }

// Decode implements Record.
func (r *GetDataResponse) Decode(d *Decoder) { r.Data = d.Buffer(); r.Stat.Decode(d) }

// GetACLResponse is the reply body of getACL.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

// Encode implements Record.
func (r *GetACLResponse) Encode(e *Encoder) { encodeACLs(e, r.ACL); r.Stat.Encode(e) }

// Decode implements Record.
func (r *GetACLResponse) Decode(d *Decoder) { r.ACL = decodeACLs(d); r.Stat.Decode(d) }

// ChildrenResponse is the reply body of getChildren: names, not paths.
type ChildrenResponse struct {
	Children []string
}

// Encode implements Record.
func (r *ChildrenResponse) Encode(e *Encoder) { e.Strings(r.Children) }

// Decode implements Record.
func (r *ChildrenResponse) Decode(d *Decoder) { r.Children = d.Strings() }

// Children2Response is the reply body of getChildren2.
type Children2Response struct {
	Children []string
	Stat     Stat
}

// Encode implements Record.
func (r *Children2Response) Encode(e *Encoder) { e.Strings(r.Children); r.Stat.Encode(e) }

// Decode implements Record.
func (r *Children2Response) Decode(d *Decoder) { r.Children = d.Strings(); r.Stat.Decode(d) }

// ErrorResponse is an error code as a body: the result of a failed op in a
// multi, and the (always 0) reply body of addWatch, which the Java client
// requires (§6.1).
type ErrorResponse struct {
	Err int32
}

// Encode implements Record.
func (r *ErrorResponse) Encode(e *Encoder) { e.Int(r.Err) }

// Decode implements Record.
func (r *ErrorResponse) Decode(d *Decoder) { r.Err = d.Int() }

// StringsResponse is the reply body of getEphemerals: full paths.
type StringsResponse struct {
	Strings []string
}

// Encode implements Record.
func (r *StringsResponse) Encode(e *Encoder) { e.Strings(r.Strings) }

// Decode implements Record.
func (r *StringsResponse) Decode(d *Decoder) { r.Strings = d.Strings() }

// IntResponse is the reply body of getAllChildrenNumber.
type IntResponse struct {
	Value int32
}

// Encode implements Record.
func (r *IntResponse) Encode(e *Encoder) { e.Int(r.Value) }

// Decode implements Record.
func (r *IntResponse) Decode(d *Decoder) { r.Value = d.Int() }

// WhoAmIResponse is the reply body of whoAmI.
type WhoAmIResponse struct {
	ClientInfo []ClientInfo
}

// Encode implements Record; nil is count 0 (see the package comment).
func (r *WhoAmIResponse) Encode(e *Encoder) {
	e.Int(int32(len(r.ClientInfo)))
	for i := range r.ClientInfo {
		r.ClientInfo[i].Encode(e)
	}
}

// Decode implements Record; null and empty both read as nil.
func (r *WhoAmIResponse) Decode(d *Decoder) {
	r.ClientInfo = nil
	n := d.Count()
	if n == 0 {
		return
	}
	r.ClientInfo = make([]ClientInfo, 0, d.capFor(n, 8))
	for i := 0; i < n && d.Err() == nil; i++ {
		var c ClientInfo
		c.Decode(d)
		r.ClientInfo = append(r.ClientInfo, c)
	}
}

// WatcherEvent is the body of a notification (xid -1, §9.1).
type WatcherEvent struct {
	Type  int32
	State int32
	Path  string
}

// Encode implements Record.
func (r *WatcherEvent) Encode(e *Encoder) { e.Int(r.Type); e.Int(r.State); e.String(r.Path) }

// Decode implements Record.
func (r *WatcherEvent) Decode(d *Decoder) { r.Type = d.Int(); r.State = d.Int(); r.Path = d.String() }

// MultiHeader precedes each op and each result in a multi, and a header
// with Done set ends the list (§8).
type MultiHeader struct {
	Type int32
	Done bool
	Err  int32
}

// Encode implements Record.
func (r *MultiHeader) Encode(e *Encoder) { e.Int(r.Type); e.Bool(r.Done); e.Int(r.Err) }

// Decode implements Record.
func (r *MultiHeader) Decode(d *Decoder) { r.Type = d.Int(); r.Done = d.Bool(); r.Err = d.Int() }
