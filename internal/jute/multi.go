package jute

import "fmt"

// MultiOp is one operation of a multi or multiRead request. Req is the
// op's request record, by Type:
//
//	OpCreate, OpCreate2, OpCreateContainer   *CreateRequest
//	OpCreateTTL                              *CreateTTLRequest
//	OpDelete                                 *DeleteRequest
//	OpSetData                                *SetDataRequest
//	OpCheck                                  *CheckVersionRequest
//	OpGetData, OpGetChildren (multiRead)     *PathWatchRequest
type MultiOp struct {
	Type int32
	Req  Record
}

// MultiRequest is the body of multi (14) and multiRead (22) (§8.1).
type MultiRequest struct {
	Ops []MultiOp
}

// newMultiOpRequest returns an empty request record for an op type that
// may appear in a multi or multiRead, or nil. Without knowing the record
// the rest of the multi cannot be framed, hence ErrBadOp.
func newMultiOpRequest(t int32) Record {
	switch t {
	case OpCreate, OpCreate2, OpCreateContainer:
		return &CreateRequest{}
	case OpCreateTTL:
		return &CreateTTLRequest{}
	case OpDelete:
		return &DeleteRequest{}
	case OpSetData:
		return &SetDataRequest{}
	case OpCheck:
		return &CheckVersionRequest{}
	case OpGetData, OpGetChildren:
		return &PathWatchRequest{}
	}
	return nil
}

// Encode writes each op behind a MultiHeader{Type, false, -1}, then the
// terminator MultiHeader{-1, true, -1}, as ZooKeeper's clients do. An op
// with a nil Req contributes only its header.
func (m *MultiRequest) Encode(e *Encoder) {
	for _, op := range m.Ops {
		h := MultiHeader{Type: op.Type, Err: -1}
		h.Encode(e)
		if op.Req != nil {
			op.Req.Encode(e)
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(e)
}

// Decode reads ops until a header with Done set, whatever that header's
// type and err, as ZooKeeper does. An op type that has no record in a
// multi fails with ErrBadOp. Whether the ops suit multi or multiRead is
// left to Validate, because the opcode is in the request header.
func (m *MultiRequest) Decode(d *Decoder) {
	m.Ops = nil
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		req := newMultiOpRequest(h.Type)
		if req == nil {
			d.Fail(fmt.Errorf("%w: %s", ErrBadOp, OpName(h.Type)))
			return
		}
		req.Decode(d)
		m.Ops = append(m.Ops, MultiOp{Type: h.Type, Req: req})
	}
}

// Validate reports, wrapping ErrBadOp, an op that may not appear in a
// request with opcode op (OpMulti or OpMultiRead), or a Req whose record
// type does not match its Type. ZooKeeper answers such a request with
// MARSHALLINGERROR (§8.1); an empty multi is valid.
func (m *MultiRequest) Validate(op int32) error {
	for i, o := range m.Ops {
		var ok bool
		switch op {
		case OpMulti:
			switch o.Type {
			case OpCreate, OpCreate2, OpCreateContainer:
				_, ok = o.Req.(*CreateRequest)
			case OpCreateTTL:
				_, ok = o.Req.(*CreateTTLRequest)
			case OpDelete:
				_, ok = o.Req.(*DeleteRequest)
			case OpSetData:
				_, ok = o.Req.(*SetDataRequest)
			case OpCheck:
				_, ok = o.Req.(*CheckVersionRequest)
			}
		case OpMultiRead:
			switch o.Type {
			case OpGetData, OpGetChildren:
				_, ok = o.Req.(*PathWatchRequest)
			}
		}
		if !ok {
			return fmt.Errorf("%w: op %d is %s in %s", ErrBadOp, i, OpName(o.Type), OpName(op))
		}
	}
	return nil
}

// MultiResult is one result of a multi or multiRead response. Which fields
// travel depends on Type (§8.3):
//
//	OpCreate                                 Path
//	OpCreate2 (also OpCreateContainer,
//	           OpCreateTTL; see Encode)      Path, Stat
//	OpDelete, OpCheck                        nothing
//	OpSetData                                Stat
//	OpGetData                                Data, Stat
//	OpGetChildren                            Children
//	OpError                                  Err
//
// Err is meaningful only for OpError; a successful result always carries
// err 0 in its header, as in ZooKeeper.
type MultiResult struct {
	Type     int32
	Err      int32
	Path     string
	Stat     Stat
	Data     []byte
	Children []string
}

// MultiResponse is the reply body of multi and multiRead (§8.3). A failed
// write multi still has header err 0; its failure is in the results.
type MultiResponse struct {
	Results []MultiResult
}

// Encode writes each result behind its MultiHeader, then the terminator
// MultiHeader{-1, true, -1}. Results of type OpCreateContainer and
// OpCreateTTL are written as OpCreate2, which is what ZooKeeper sends for
// them, so a server can pass the op's own type. An OpError result carries
// its code twice, in the header and as an ErrorResponse body. A result of
// any other type contributes only its header.
func (m *MultiResponse) Encode(e *Encoder) {
	for i := range m.Results {
		r := &m.Results[i]
		t := r.Type
		if t == OpCreateContainer || t == OpCreateTTL {
			t = OpCreate2
		}
		h := MultiHeader{Type: t}
		if t == OpError {
			h.Err = r.Err
		}
		h.Encode(e)
		switch t {
		case OpCreate:
			e.String(r.Path)
		case OpCreate2:
			e.String(r.Path)
			r.Stat.Encode(e)
		case OpSetData:
			r.Stat.Encode(e)
		case OpGetData:
			e.Buffer(r.Data)
			r.Stat.Encode(e)
		case OpGetChildren:
			e.Strings(r.Children)
		case OpError:
			e.Int(r.Err)
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(e)
}

// Decode reads results until a header with Done set. It accepts the result
// types the Java client accepts (1, 15, 2, 5, 13, 8, 4, -1); anything else
// fails with ErrBadOp because its body cannot be framed. For an error
// result Err is taken from the body, as the Java client does.
func (m *MultiResponse) Decode(d *Decoder) {
	m.Results = nil
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		r := MultiResult{Type: h.Type}
		switch h.Type {
		case OpCreate:
			r.Path = d.String()
		case OpCreate2:
			r.Path = d.String()
			r.Stat.Decode(d)
		case OpDelete, OpCheck:
		case OpSetData:
			r.Stat.Decode(d)
		case OpGetData:
			r.Data = d.Buffer()
			r.Stat.Decode(d)
		case OpGetChildren:
			r.Children = d.Strings()
		case OpError:
			r.Err = d.Int()
		default:
			d.Fail(fmt.Errorf("%w: result %s", ErrBadOp, OpName(h.Type)))
			return
		}
		m.Results = append(m.Results, r)
	}
}
