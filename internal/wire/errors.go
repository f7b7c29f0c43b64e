package wire

import (
	"errors"
	"strconv"
)

// ZooKeeper's error codes (KeeperException.Code, protocol.md §10), for
// callers that look at CodeError.Code.
const (
	CodeOK                           int32 = 0
	CodeSystemError                  int32 = -1
	CodeRuntimeInconsistency         int32 = -2
	CodeDataInconsistency            int32 = -3
	CodeConnectionLoss               int32 = -4
	CodeMarshallingError             int32 = -5
	CodeUnimplemented                int32 = -6
	CodeOperationTimeout             int32 = -7
	CodeBadArguments                 int32 = -8
	CodeUnknownSession               int32 = -12
	CodeNewConfigNoQuorum            int32 = -13
	CodeReconfigInProgress           int32 = -14
	CodeAPIError                     int32 = -100
	CodeNoNode                       int32 = -101
	CodeNoAuth                       int32 = -102
	CodeBadVersion                   int32 = -103
	CodeNoChildrenForEphemerals      int32 = -108
	CodeNodeExists                   int32 = -110
	CodeNotEmpty                     int32 = -111
	CodeSessionExpired               int32 = -112
	CodeInvalidCallback              int32 = -113
	CodeInvalidACL                   int32 = -114
	CodeAuthFailed                   int32 = -115
	CodeClosing                      int32 = -116
	CodeNothing                      int32 = -117
	CodeSessionMoved                 int32 = -118
	CodeNotReadOnly                  int32 = -119
	CodeEphemeralOnLocalSession      int32 = -120
	CodeNoWatcher                    int32 = -121
	CodeRequestTimeout               int32 = -122
	CodeReconfigDisabled             int32 = -123
	CodeSessionClosedRequireSASLAuth int32 = -124
	CodeQuotaExceeded                int32 = -125
	CodeThrottledOp                  int32 = -127
)

var codeNames = map[int32]string{
	CodeOK:                           "OK",
	CodeSystemError:                  "SYSTEMERROR",
	CodeRuntimeInconsistency:         "RUNTIMEINCONSISTENCY",
	CodeDataInconsistency:            "DATAINCONSISTENCY",
	CodeConnectionLoss:               "CONNECTIONLOSS",
	CodeMarshallingError:             "MARSHALLINGERROR",
	CodeUnimplemented:                "UNIMPLEMENTED",
	CodeOperationTimeout:             "OPERATIONTIMEOUT",
	CodeBadArguments:                 "BADARGUMENTS",
	CodeUnknownSession:               "UNKNOWNSESSION",
	CodeNewConfigNoQuorum:            "NEWCONFIGNOQUORUM",
	CodeReconfigInProgress:           "RECONFIGINPROGRESS",
	CodeAPIError:                     "APIERROR",
	CodeNoNode:                       "NONODE",
	CodeNoAuth:                       "NOAUTH",
	CodeBadVersion:                   "BADVERSION",
	CodeNoChildrenForEphemerals:      "NOCHILDRENFOREPHEMERALS",
	CodeNodeExists:                   "NODEEXISTS",
	CodeNotEmpty:                     "NOTEMPTY",
	CodeSessionExpired:               "SESSIONEXPIRED",
	CodeInvalidCallback:              "INVALIDCALLBACK",
	CodeInvalidACL:                   "INVALIDACL",
	CodeAuthFailed:                   "AUTHFAILED",
	CodeClosing:                      "CLOSING",
	CodeNothing:                      "NOTHING",
	CodeSessionMoved:                 "SESSIONMOVED",
	CodeNotReadOnly:                  "NOTREADONLY",
	CodeEphemeralOnLocalSession:      "EPHEMERALONLOCALSESSION",
	CodeNoWatcher:                    "NOWATCHER",
	CodeRequestTimeout:               "REQUESTTIMEOUT",
	CodeReconfigDisabled:             "RECONFIGDISABLED",
	CodeSessionClosedRequireSASLAuth: "SESSIONCLOSEDREQUIRESASLAUTH",
	CodeQuotaExceeded:                "QUOTAEXCEEDED",
	CodeThrottledOp:                  "THROTTLEDOP",
}

// CodeError is a ZooKeeper error code: a non-zero ReplyHeader.Err from the
// server, or one of the client-side conditions below that ZooKeeper's
// clients report with a code of their own. It is a comparable value, so
// errors.Is(err, CodeError{Code: CodeNoNode}) works.
type CodeError struct{ Code int32 }

// Error names the code as ZooKeeper does, e.g. "NONODE (-101)".
func (e CodeError) Error() string {
	name, ok := codeNames[e.Code]
	if !ok {
		name = "UNKNOWN"
	}
	return "zk: " + name + " (" + strconv.Itoa(int(e.Code)) + ")"
}

var (
	// ErrConnectionLoss means the connection broke, or was never there,
	// before the reply: the request may or may not have been applied. The
	// engine never retries a request on its own.
	ErrConnectionLoss error = CodeError{Code: CodeConnectionLoss}
	// ErrSessionExpired means the server no longer knows the session; the
	// Client has ended. A server reply with that code is the same error.
	ErrSessionExpired error = CodeError{Code: CodeSessionExpired}
	// ErrClosing means the Client is closing or closed.
	ErrClosing error = CodeError{Code: CodeClosing}
	// ErrAuthFailed means the server refused credentials. As in the Java
	// client this ends the Client: the server drops the connection, and
	// re-sending the same credentials on every reconnect would only repeat
	// that.
	ErrAuthFailed error = CodeError{Code: CodeAuthFailed}
	// ErrPacketTooLarge means a reply was longer than MaxPacket. The
	// request it answered fails with an error that is both this and
	// ErrConnectionLoss, since the connection is dropped to resynchronise.
	ErrPacketTooLarge = errors.New("zk: reply larger than the maximum packet size")
)
