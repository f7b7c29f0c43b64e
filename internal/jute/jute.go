// Package jute is ZooKeeper's jute binary encoding and the records of the
// client protocol (see protocol.md §1, §3–§6, §8, §9).
//
// Every integer is big-endian. Strings and buffers are an int length then
// the bytes; vectors are an int count then the elements; records are their
// fields in order with no tags or padding.
//
// Null handling, chosen for compatibility with the clients in protocol.md:
//
//   - a string of length -1 decodes as "" (kazoo sends -1 for empty
//     strings); "" always encodes as length 0.
//   - a buffer of length -1 decodes as nil and nil encodes as -1, because
//     ZooKeeper distinguishes null data from empty data.
//   - a vector of count -1 or 0 decodes as nil, and nil encodes as count 0:
//     go-zk cannot decode a count of -1 (it would allocate 2³²−1 elements)
//     and the Java client would hand a null list to user code, while no
//     ZooKeeper consumer treats a null vector differently from an empty one.
//     Collapsing both to nil also keeps decode∘encode the identity.
package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxLength is the longest string or buffer, and the largest vector count,
// that a Decoder accepts. It is ZooKeeper's default jute.maxbuffer plus
// jute.maxbuffer.extrasize, the bound ZooKeeper itself applies (§1).
const MaxLength = 2 * 1048575

var (
	// ErrShort means the input ended inside a value. A server answers a
	// request body that fails this way with MARSHALLINGERROR.
	ErrShort = errors.New("jute: input too short")
	// ErrBadLength means a string, buffer or vector length was below -1 or
	// above MaxLength; ZooKeeper rejects those before reading the body.
	ErrBadLength = errors.New("jute: bad length")
	// ErrBadOp means a multi request or response held an operation type that
	// cannot appear there, so the rest of it cannot be framed.
	ErrBadOp = errors.New("jute: bad operation type in multi")
)

// Record is a jute record: a value that knows its own field order.
type Record interface {
	Encode(*Encoder)
	Decode(*Decoder)
}

// Marshal returns the encoding of r.
func Marshal(r Record) []byte { return AppendRecord(nil, r) }

// AppendRecord appends the encoding of r to b, so that a frame header or a
// reply header can be written into the same buffer without copying.
func AppendRecord(b []byte, r Record) []byte {
	e := Encoder{Buf: b}
	r.Encode(&e)
	return e.Buf
}

// Unmarshal decodes r from b and returns the decoder's error. Bytes left
// over after r are allowed, because ZooKeeper ignores them too (clients and
// servers of different versions append optional trailing fields).
func Unmarshal(b []byte, r Record) error {
	d := NewDecoder(b)
	r.Decode(d)
	return d.Err()
}

// Encoder appends jute encodings to Buf. Encoding cannot fail, so records
// can be written without error plumbing.
type Encoder struct{ Buf []byte }

// Byte appends one byte.
func (e *Encoder) Byte(b byte) { e.Buf = append(e.Buf, b) }

// Bool appends 1 for true and 0 for false, the only values ZooKeeper writes.
func (e *Encoder) Bool(b bool) {
	if b {
		e.Buf = append(e.Buf, 1)
	} else {
		e.Buf = append(e.Buf, 0)
	}
}

// Int appends a 4-byte big-endian int.
func (e *Encoder) Int(v int32) { e.Buf = binary.BigEndian.AppendUint32(e.Buf, uint32(v)) }

// Long appends an 8-byte big-endian long.
func (e *Encoder) Long(v int64) { e.Buf = binary.BigEndian.AppendUint64(e.Buf, uint64(v)) }

// String appends a length-prefixed string. The empty string is written as
// length 0, never as null, since that is what ZooKeeper itself sends.
func (e *Encoder) String(s string) {
	e.Int(int32(len(s)))
	e.Buf = append(e.Buf, s...)
}

// Buffer appends a length-prefixed byte buffer; nil is written as length -1
// so that null znode data survives a round trip.
func (e *Encoder) Buffer(b []byte) {
	if b == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(b)))
	e.Buf = append(e.Buf, b...)
}

// Strings appends a vector<ustring>. nil is written as count 0, not -1: see
// the package comment.
func (e *Encoder) Strings(s []string) {
	e.Int(int32(len(s)))
	for _, v := range s {
		e.String(v)
	}
}

// Decoder reads jute encodings from a byte slice. The first error sticks:
// later reads return zero values and Err reports it, so a record's Decode
// can read all its fields and let the caller check once.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b. The Decoder does not copy b;
// Buffer and String copy out of it, Rest aliases it.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns nil or the first error, which wraps ErrShort, ErrBadLength,
// ErrBadOp or an error passed to Fail.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not yet read; 0 once an error occurred,
// so that optional trailing fields are not read after a failure.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Rest returns the bytes not yet read. It aliases the input, so the caller
// must copy it if the input buffer will be reused.
func (d *Decoder) Rest() []byte { return d.b[d.off:] }

// Fail records err as the decoder's error unless one is already set, and
// stops further reads. Records use it to report semantic errors (such as
// ErrBadOp) through the same sticky error as encoding errors.
func (d *Decoder) Fail(err error) {
	if d.err == nil && err != nil {
		d.err = err
		d.off = len(d.b)
	}
}

// take returns the next n bytes, or nil after recording ErrShort.
func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.off {
		d.Fail(fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShort, n, d.off, len(d.b)-d.off))
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// Bool reads one byte; any non-zero value is true, as in ZooKeeper's
// BinaryInputArchive.
func (d *Decoder) Bool() bool { return d.Byte() != 0 }

// Int reads a 4-byte big-endian int.
func (d *Decoder) Int() int32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(p))
}

// Long reads an 8-byte big-endian long.
func (d *Decoder) Long() int64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(p))
}

// length reads a string/buffer length or vector count and validates it
// before anything is allocated, so that hostile input cannot make the
// decoder reserve memory the input does not back. It returns -1 for null
// (and on error).
func (d *Decoder) length() int {
	n := d.Int()
	if d.err != nil {
		return -1
	}
	if n < -1 || n > MaxLength {
		d.Fail(fmt.Errorf("%w: %d at offset %d", ErrBadLength, n, d.off-4))
		return -1
	}
	return int(n)
}

// String reads a length-prefixed string; null (length -1) reads as "",
// since Go has no null string and ZooKeeper treats the two alike.
func (d *Decoder) String() string {
	n := d.length()
	if n <= 0 {
		return ""
	}
	return string(d.take(n))
}

// Buffer reads a length-prefixed buffer. Null (length -1) reads as nil,
// empty as a non-nil empty slice. The result is a copy, so it stays valid
// after the input buffer is reused for the next frame.
func (d *Decoder) Buffer() []byte {
	n := d.length()
	if n < 0 {
		return nil
	}
	p := d.take(n)
	if p == nil {
		return nil
	}
	return append(make([]byte, 0, n), p...)
}

// Count reads a vector count: 0 for both null and empty vectors (see the
// package comment). Records with vectors of their own element type use it.
func (d *Decoder) Count() int {
	n := d.length()
	if n < 0 {
		return 0
	}
	return n
}

// capFor bounds a preallocation for n elements of at least minSize bytes
// each by what the remaining input can hold, so that a forged count cannot
// allocate more than the input justifies.
func (d *Decoder) capFor(n, minSize int) int {
	return min(n, d.Len()/minSize)
}

// Strings reads a vector<ustring>; null and empty both read as nil.
func (d *Decoder) Strings() []string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	s := make([]string, 0, d.capFor(n, 4))
	for i := 0; i < n && d.err == nil; i++ {
		s = append(s, d.String())
	}
	return s
}
