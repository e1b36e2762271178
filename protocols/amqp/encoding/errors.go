package encoding

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by *Error; test for them with errors.Is.
var (
	// ErrTruncated means the input ended inside a value.
	ErrTruncated = errors.New("amqp: truncated input")
	// ErrInvalidCode means a format code is reserved or not defined (§1.2).
	ErrInvalidCode = errors.New("amqp: invalid format code")
	// ErrInvalidSize means a size or count field is inconsistent with the
	// bytes present (§1.2.3, §1.2.4), such as a count larger than the size.
	ErrInvalidSize = errors.New("amqp: invalid size or count")
	// ErrTooDeep means nesting exceeded the decoder's MaxDepth.
	ErrTooDeep = errors.New("amqp: nesting too deep")
	// ErrTypeMismatch means a value had a different type than required.
	ErrTypeMismatch = errors.New("amqp: unexpected type")
	// ErrInvalidValue means a value is malformed for its type, such as a
	// map with an odd number of items (§1.6.23).
	ErrInvalidValue = errors.New("amqp: invalid value")
	// ErrMissingField means a mandatory composite field was null or absent
	// (§1.3.4, §1.4).
	ErrMissingField = errors.New("amqp: mandatory field missing")
	// ErrUnsupportedType is returned by AppendValue for Go values outside
	// the value model.
	ErrUnsupportedType = errors.New("amqp: unsupported Go type")
)

// Error describes a decoding or encoding failure.
type Error struct {
	Offset int    // byte offset of the fault in the decoder's input; -1 when encoding
	Code   byte   // format code being decoded, when relevant
	Field  string // composite field or type being decoded ("open.container-id"), if known
	Err    error  // one of the sentinel errors
	Detail string // extra context, may be empty
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Field != "" {
		s += " in " + e.Field
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// WithField returns err (nil if err is nil) with field prepended to the Field of an *Error, so
// that nested composite errors read "attach.source.address".
func WithField(err error, field string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		ne := *e
		if ne.Field == "" {
			ne.Field = field
		} else {
			ne.Field = field + "." + ne.Field
		}
		return &ne
	}
	return err
}
