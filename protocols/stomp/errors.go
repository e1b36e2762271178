package stomp

import (
	"errors"
	"fmt"

	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("stomp: server closed")

// ProtocolError is a failure with a wire form: the session answers it with
// an ERROR frame (message header Message, receipt-id Receipt, the details
// in the body) and then closes the connection (STOMP 1.2 "ERROR"). Only
// the session boundary turns errors into frames; everything below returns
// wrapped errors that the session reads with errors.As.
type ProtocolError struct {
	// Message is the short description sent as the message header.
	Message string
	// Clause names the specification section enforced, when there is one
	// ("STOMP 1.2 SUBSCRIBE id Header").
	Clause string
	// Receipt is the receipt header of the frame that failed, echoed as
	// receipt-id so the client can tell which frame it was.
	Receipt string
	// Err is the cause, for the ERROR body and the log.
	Err error

	extra []frame.Header // more ERROR headers (version, on a failed negotiation)
}

func (e *ProtocolError) Error() string {
	s := "stomp: " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// protoErr builds a ProtocolError; format and args describe the cause.
func protoErr(msg, clause string, format string, args ...any) *ProtocolError {
	var err error
	if format != "" {
		err = fmt.Errorf(format, args...)
	}
	return &ProtocolError{Message: msg, Clause: clause, Err: err}
}

// wrapErr builds a ProtocolError around an existing error.
func wrapErr(msg, clause string, err error) *ProtocolError {
	return &ProtocolError{Message: msg, Clause: clause, Err: err}
}

// Short ERROR messages, shared by the session and the tests.
const (
	msgMalformed      = "malformed frame received"
	msgFrameTooLarge  = "frame too large"
	msgUnknownCommand = "unknown command"
	msgNotConnected   = "not connected"
	msgVersion        = "unsupported protocol version"
	msgAuth           = "authentication failed"
	msgDenied         = "access refused"
	msgMissingHeader  = "missing header"
	msgBadHeader      = "invalid header"
	msgDestination    = "invalid destination"
	msgNotFound       = "destination not found"
	msgQueueFull      = "queue full"
	msgUnknownAck     = "unknown message to acknowledge"
	msgSubscription   = "subscription failed"
	msgFormat         = "unknown format"
	msgTransaction    = "transaction error"
	msgLimit          = "limit exceeded"
	msgShutdown       = "server shutting down"
	msgInternal       = "internal error"
	msgTimeout        = "timeout"
)
