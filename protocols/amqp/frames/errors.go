package frames

import (
	"errors"
	"fmt"
)

// Error implements the error interface so that an AMQP error received in a
// close, end, detach or rejected outcome can be returned as a Go error.
func (e *Error) Error() string {
	if e.Description == "" {
		return "amqp: " + string(e.Condition)
	}
	return "amqp: " + string(e.Condition) + ": " + e.Description
}

// Sentinel errors of the frame layer, wrapped by *FrameError.
var (
	// ErrMalformedFrame means a frame header violates §2.3.1: SIZE below 8,
	// DOFF below 2, or a data offset beyond the frame.
	ErrMalformedFrame = errors.New("amqp: malformed frame")
	// ErrFrameTooLarge means a frame's SIZE exceeds the maximum frame size
	// in force (§2.3, §2.4.1, §5.3.1).
	ErrFrameTooLarge = errors.New("amqp: frame larger than max-frame-size")
	// ErrProtocolHeader means the 8 bytes read where a protocol header was
	// expected are not "AMQP" followed by a protocol id (§2.2).
	ErrProtocolHeader = errors.New("amqp: invalid protocol header")
	// ErrEmptySASLFrame means a SASL frame had no body (§5.3.1: receipt of
	// an empty frame is an irrecoverable error).
	ErrEmptySASLFrame = errors.New("amqp: empty SASL frame")
)

// FrameError is a framing violation. Condition is the AMQP error condition
// a connection closes with, and Clause the section of the specification
// that the input violates; the session layer turns it into a close frame.
type FrameError struct {
	Condition ErrorCondition // e.g. ConnectionErrorFramingError
	Clause    string         // e.g. "§2.3.1"
	Err       error          // sentinel or underlying decode error
	Detail    string
}

func (e *FrameError) Error() string {
	s := e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return fmt.Sprintf("%s (%s %s)", s, e.Condition, e.Clause)
}

func (e *FrameError) Unwrap() error { return e.Err }
