// Package znodemodel is ZooKeeper's data model as a porcupine model, for
// checking histories of operations on a few znodes for linearizability:
// one znode per key, without children, partitioned by key. zktest's
// in-process fault tests and internal/chaos's process-level runs share it.
package znodemodel

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Op is the kind of an operation.
type Op uint8

// The operations.
const (
	Read   Op = iota // Sync, then Get
	Create           // a persistent node
	Set              // version -1 is AnyVersion
	Delete           // any version
)

func (o Op) String() string {
	return [...]string{"read", "create", "set", "delete"}[o]
}

// Input is an operation as the model sees it.
type Input struct {
	Op      Op
	Key     int
	Data    string
	Version int32 // Set: the expected version, -1 for any
}

// Output is what the client saw. Unknown: the operation failed with an
// error after which it may or may not have taken effect (connection loss,
// a deadline); give it the end of the history as its return time.
type Output struct {
	Unknown bool
	Err     string // "", "NoNode", "NodeExists", "BadVersion"; or why the outcome is unknown
	Data    string // Read
	Version int32  // Read and Set: the node's data version after
}

// State is one key's znode.
type State struct {
	Exists  bool
	Data    string
	Version int32
}

// Step is porcupine's step function of the model.
func Step(state, input, output any) (bool, any) {
	s := state.(State)
	in := input.(Input)
	out := output.(Output)
	switch in.Op {
	case Read:
		switch {
		case out.Unknown:
			return true, s
		case out.Err == "NoNode":
			return !s.Exists, s
		}
		return out.Err == "" && s.Exists && s.Data == out.Data && s.Version == out.Version, s
	case Create:
		next := State{Exists: true, Data: in.Data}
		switch {
		case out.Unknown:
			// Linearized where it took effect, or, if it never did, after
			// everything else (its return time is the end of the history),
			// where nobody sees its effect.
			if !s.Exists {
				return true, next
			}
			return true, s
		case out.Err == "":
			return !s.Exists, next
		case out.Err == "NodeExists":
			return s.Exists, s
		}
	case Set:
		applies := s.Exists && (in.Version == -1 || in.Version == s.Version)
		next := State{Exists: true, Data: in.Data, Version: s.Version + 1}
		switch {
		case out.Unknown:
			if applies {
				return true, next
			}
			return true, s
		case out.Err == "":
			return applies && out.Version == next.Version, next
		case out.Err == "NoNode":
			return !s.Exists, s
		case out.Err == "BadVersion":
			return s.Exists && in.Version != -1 && in.Version != s.Version, s
		}
	case Delete:
		switch {
		case out.Unknown:
			return true, State{} // absent either way
		case out.Err == "":
			return s.Exists, State{}
		case out.Err == "NoNode":
			return !s.Exists, s
		}
	}
	return false, s
}

// Describe is porcupine's description of an operation.
func Describe(input, output any) string {
	in := input.(Input)
	out := output.(Output)
	var args string
	switch in.Op {
	case Read, Delete:
		args = fmt.Sprintf("k%d", in.Key)
	case Create:
		args = fmt.Sprintf("k%d, %q", in.Key, in.Data)
	case Set:
		args = fmt.Sprintf("k%d, %q, v=%d", in.Key, in.Data, in.Version)
	}
	var res string
	switch {
	case out.Unknown && out.Err != "":
		res = "unknown (" + out.Err + ")"
	case out.Unknown:
		res = "unknown"
	case out.Err != "":
		res = out.Err
	case in.Op == Read:
		res = fmt.Sprintf("%q v=%d", out.Data, out.Version)
	case in.Op == Set:
		res = fmt.Sprintf("ok v=%d", out.Version)
	default:
		res = "ok"
	}
	return fmt.Sprintf("%v(%s) -> %s", in.Op, args, res)
}

// Model returns the model of keys znodes, keys 0 to keys-1.
func Model(keys int) porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := make([][]porcupine.Operation, keys)
			for _, op := range history {
				k := op.Input.(Input).Key
				byKey[k] = append(byKey[k], op)
			}
			var out [][]porcupine.Operation
			for _, ops := range byKey {
				if len(ops) > 0 {
					out = append(out, ops)
				}
			}
			return out
		},
		Init:              func() any { return State{} },
		Step:              Step,
		Equal:             func(a, b any) bool { return a.(State) == b.(State) },
		DescribeOperation: Describe,
		DescribeState: func(state any) string {
			s := state.(State)
			if !s.Exists {
				return "absent"
			}
			return fmt.Sprintf("%q v=%d", s.Data, s.Version)
		},
	}
}
