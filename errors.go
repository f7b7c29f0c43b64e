package zk

import (
	"errors"
	"fmt"
)

// The sentinel errors. Each matches one ZooKeeper error code (see Code and
// ErrorForCode); operations return them wrapped in an *OpError or a
// *MultiError, so compare with errors.Is.
var (
	// ErrSystemError is returned when the server reports an unspecified system error.
	ErrSystemError = errors.New("zk: system error")
	// ErrRuntimeInconsistency is returned in a failed multi for the operations
	// after the one that failed: they were not attempted.
	ErrRuntimeInconsistency = errors.New("zk: runtime inconsistency (operation not attempted)")
	// ErrDataInconsistency is returned when the server detects inconsistent data.
	ErrDataInconsistency = errors.New("zk: data inconsistency")
	// ErrConnectionLoss is returned when the connection to the server was
	// lost before the outcome of a request was known.
	ErrConnectionLoss = errors.New("zk: connection loss")
	// ErrMarshalling is returned when a request could not be encoded or decoded.
	ErrMarshalling = errors.New("zk: marshalling error")
	// ErrUnimplemented is returned for an operation the server does not
	// support (for example a TTL node while TTLs are disabled).
	ErrUnimplemented = errors.New("zk: unimplemented")
	// ErrOperationTimeout is returned when an operation timed out.
	ErrOperationTimeout = errors.New("zk: operation timeout")
	// ErrBadArguments is returned for an invalid path, create mode, TTL or
	// data size, and for deleting a system node.
	ErrBadArguments = errors.New("zk: bad arguments")
	// ErrUnknownSession is returned for a session the server does not know.
	ErrUnknownSession = errors.New("zk: unknown session")
	// ErrNewConfigNoQuorum is returned by reconfig when the new configuration has no quorum.
	ErrNewConfigNoQuorum = errors.New("zk: new config has no quorum")
	// ErrReconfigInProgress is returned by reconfig while another reconfig runs.
	ErrReconfigInProgress = errors.New("zk: reconfig in progress")
	// ErrAPIError is the generic API error code; the server never returns it.
	ErrAPIError = errors.New("zk: api error")
	// ErrNoNode is returned when the node, or the parent of a node to
	// create, does not exist.
	ErrNoNode = errors.New("zk: node does not exist")
	// ErrNoAuth is returned when the node's ACL denies the operation.
	ErrNoAuth = errors.New("zk: not authenticated")
	// ErrBadVersion is returned when an expected version does not match.
	ErrBadVersion = errors.New("zk: version conflict")
	// ErrNoChildrenForEphemerals is returned when creating a child of an
	// ephemeral node.
	ErrNoChildrenForEphemerals = errors.New("zk: ephemeral nodes may not have children")
	// ErrNodeExists is returned when creating a node that already exists.
	ErrNodeExists = errors.New("zk: node already exists")
	// ErrNotEmpty is returned when deleting a node that has children.
	ErrNotEmpty = errors.New("zk: node has children")
	// ErrSessionExpired is returned when the session has expired or was
	// closed by the ensemble.
	ErrSessionExpired = errors.New("zk: session has been expired by the server")
	// ErrInvalidCallback is returned for an invalid callback (client side only).
	ErrInvalidCallback = errors.New("zk: invalid callback specified")
	// ErrInvalidACL is returned for an empty or malformed ACL list, or an
	// "auth" ACL on a connection with no authenticated identity.
	ErrInvalidACL = errors.New("zk: invalid ACL specified")
	// ErrAuthFailed is returned when AddAuth is given an unknown scheme or
	// bad credentials.
	ErrAuthFailed = errors.New("zk: client authentication failed")
	// ErrClosing is returned when the Conn (or its Node) has been closed.
	ErrClosing = errors.New("zk: zookeeper is closing")
	// ErrNothing is returned when there is nothing to do (client side only).
	ErrNothing = errors.New("zk: no server responses to process")
	// ErrSessionMoved is returned when the session moved to another connection.
	ErrSessionMoved = errors.New("zk: session moved to another server, so operation is ignored")
	// ErrNotReadOnly is returned for a write to a read-only server.
	ErrNotReadOnly = errors.New("zk: not a read-only call")
	// ErrEphemeralOnLocalSession is returned when a local session creates an ephemeral node.
	ErrEphemeralOnLocalSession = errors.New("zk: ephemeral node on local session")
	// ErrNoWatcher is returned by RemoveWatches when there is no such watch.
	ErrNoWatcher = errors.New("zk: no such watcher")
	// ErrRequestTimeout is returned when a request timed out (client side only).
	ErrRequestTimeout = errors.New("zk: request timeout")
	// ErrReconfigDisabled is returned by reconfig while reconfiguration is disabled.
	ErrReconfigDisabled = errors.New("zk: attempts to perform a reconfiguration operation when reconfiguration feature is disabled")
	// ErrSessionClosedRequireSASLAuth is returned when the server requires SASL.
	ErrSessionClosedRequireSASLAuth = errors.New("zk: session closed because client failed to authenticate")
	// ErrQuotaExceeded is returned when a quota is exceeded and enforced.
	ErrQuotaExceeded = errors.New("zk: quota has exceeded")
	// ErrThrottled is returned when the server is overloaded and did not
	// execute the operation.
	ErrThrottled = errors.New("zk: operation throttled")

	// ErrRolledBack is the result of an operation in a failed multi that
	// would have succeeded but was rolled back (code 0 in the multi reply).
	ErrRolledBack = errors.New("zk: rolled back")
)

// Code is a ZooKeeper error code as it appears on the wire
// (KeeperException.Code).
type Code int32

// The ZooKeeper error codes.
const (
	CodeOK                           Code = 0
	CodeSystemError                  Code = -1
	CodeRuntimeInconsistency         Code = -2
	CodeDataInconsistency            Code = -3
	CodeConnectionLoss               Code = -4
	CodeMarshallingError             Code = -5
	CodeUnimplemented                Code = -6
	CodeOperationTimeout             Code = -7
	CodeBadArguments                 Code = -8
	CodeUnknownSession               Code = -12
	CodeNewConfigNoQuorum            Code = -13
	CodeReconfigInProgress           Code = -14
	CodeAPIError                     Code = -100
	CodeNoNode                       Code = -101
	CodeNoAuth                       Code = -102
	CodeBadVersion                   Code = -103
	CodeNoChildrenForEphemerals      Code = -108
	CodeNodeExists                   Code = -110
	CodeNotEmpty                     Code = -111
	CodeSessionExpired               Code = -112
	CodeInvalidCallback              Code = -113
	CodeInvalidACL                   Code = -114
	CodeAuthFailed                   Code = -115
	CodeClosing                      Code = -116
	CodeNothing                      Code = -117
	CodeSessionMoved                 Code = -118
	CodeNotReadOnly                  Code = -119
	CodeEphemeralOnLocalSession      Code = -120
	CodeNoWatcher                    Code = -121
	CodeRequestTimeout               Code = -122
	CodeReconfigDisabled             Code = -123
	CodeSessionClosedRequireSASLAuth Code = -124
	CodeQuotaExceeded                Code = -125
	CodeThrottledOp                  Code = -127
)

var codeErrors = map[Code]error{
	CodeSystemError:                  ErrSystemError,
	CodeRuntimeInconsistency:         ErrRuntimeInconsistency,
	CodeDataInconsistency:            ErrDataInconsistency,
	CodeConnectionLoss:               ErrConnectionLoss,
	CodeMarshallingError:             ErrMarshalling,
	CodeUnimplemented:                ErrUnimplemented,
	CodeOperationTimeout:             ErrOperationTimeout,
	CodeBadArguments:                 ErrBadArguments,
	CodeUnknownSession:               ErrUnknownSession,
	CodeNewConfigNoQuorum:            ErrNewConfigNoQuorum,
	CodeReconfigInProgress:           ErrReconfigInProgress,
	CodeAPIError:                     ErrAPIError,
	CodeNoNode:                       ErrNoNode,
	CodeNoAuth:                       ErrNoAuth,
	CodeBadVersion:                   ErrBadVersion,
	CodeNoChildrenForEphemerals:      ErrNoChildrenForEphemerals,
	CodeNodeExists:                   ErrNodeExists,
	CodeNotEmpty:                     ErrNotEmpty,
	CodeSessionExpired:               ErrSessionExpired,
	CodeInvalidCallback:              ErrInvalidCallback,
	CodeInvalidACL:                   ErrInvalidACL,
	CodeAuthFailed:                   ErrAuthFailed,
	CodeClosing:                      ErrClosing,
	CodeNothing:                      ErrNothing,
	CodeSessionMoved:                 ErrSessionMoved,
	CodeNotReadOnly:                  ErrNotReadOnly,
	CodeEphemeralOnLocalSession:      ErrEphemeralOnLocalSession,
	CodeNoWatcher:                    ErrNoWatcher,
	CodeRequestTimeout:               ErrRequestTimeout,
	CodeReconfigDisabled:             ErrReconfigDisabled,
	CodeSessionClosedRequireSASLAuth: ErrSessionClosedRequireSASLAuth,
	CodeQuotaExceeded:                ErrQuotaExceeded,
	CodeThrottledOp:                  ErrThrottled,
}

var errorCodes = func() map[error]Code {
	m := make(map[error]Code, len(codeErrors)+1)
	for c, e := range codeErrors {
		m[e] = c
	}
	m[ErrRolledBack] = CodeOK
	return m
}()

// ErrorForCode returns the sentinel error for a ZooKeeper error code: nil
// for CodeOK, and an error that names the code for codes it does not know.
func ErrorForCode(c Code) error {
	if c == CodeOK {
		return nil
	}
	if err, ok := codeErrors[c]; ok {
		return err
	}
	return fmt.Errorf("zk: unknown error code %d", int32(c))
}

// CodeOf returns the ZooKeeper error code that err stands for: CodeOK for
// nil and for ErrRolledBack, the code of the first sentinel found in err's
// chain, and CodeSystemError for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if c, ok := errorCodes[e]; ok {
			return c
		}
	}
	// A sentinel may sit below a multi-error or a join.
	for c, s := range codeErrors {
		if errors.Is(err, s) {
			return c
		}
	}
	if errors.Is(err, ErrRolledBack) {
		return CodeOK
	}
	return CodeSystemError
}

// OpError records a failed operation and the path it was applied to.
type OpError struct {
	Op   string // "create", "delete", "get", ...
	Path string
	Err  error
}

func (e *OpError) Error() string {
	if e.Path == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the underlying error, usually one of the sentinels.
func (e *OpError) Unwrap() error { return e.Err }

// MultiError reports which operation of a failed Multi failed, and why.
// Nothing of the multi was applied.
type MultiError struct {
	Index int    // position of the failing operation in the Multi call
	Op    string // its kind: "create", "delete", "set", "check"
	Path  string // its path
	Err   error  // why it failed: one of the sentinels
}

func (e *MultiError) Error() string {
	return fmt.Sprintf("multi: op %d (%s %s): %v", e.Index, e.Op, e.Path, e.Err)
}

// Unwrap returns the reason the failing operation failed.
func (e *MultiError) Unwrap() error { return e.Err }

func opErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Path: path, Err: err}
}
