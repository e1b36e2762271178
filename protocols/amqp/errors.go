package amqp

import (
	"errors"
	"fmt"

	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("amqp: server closed")

// Scope is the endpoint an Error ends: the connection (close), a session
// (end) or a link (detach with closed=true).
type Scope uint8

// Scopes, from the widest.
const (
	ScopeConnection Scope = iota
	ScopeSession
	ScopeLink
)

func (s Scope) String() string {
	switch s {
	case ScopeSession:
		return "session"
	case ScopeLink:
		return "link"
	}
	return "connection"
}

// Error is a failure with a wire form: an AMQP error condition (§2.8.15–
// §2.8.18) sent in the close, end or detach that Scope names, plus the
// specification clause it enforces. Only the connection's frame dispatch
// turns errors into frames; everything below returns wrapped errors that
// it reads with errors.As.
type Error struct {
	Condition frames.ErrorCondition
	Scope     Scope
	// Clause names the section enforced ("§2.6.7"), when there is one.
	Clause string
	// Err is the cause: the close/end/detach description and the log line.
	Err error

	handle uint32   // ScopeLink: the peer's handle of the link
	sess   *session // the session a session or link error ends
	link   *link    // the link a link error ends
}

func (e *Error) Error() string {
	s := "amqp: " + string(e.Condition)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Clause != "" {
		s += " (" + e.Clause + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// wire returns the error as carried in a close, end, detach or rejected
// outcome.
func (e *Error) wire() *frames.Error {
	fe := &frames.Error{Condition: e.Condition}
	if e.Err != nil {
		fe.Description = e.Err.Error()
	}
	if e.Clause != "" {
		if fe.Description != "" {
			fe.Description += " "
		}
		fe.Description += "(" + e.Clause + ")"
	}
	return fe
}

func newErr(scope Scope, cond frames.ErrorCondition, clause, format string, args ...any) *Error {
	var err error
	if format != "" {
		err = fmt.Errorf(format, args...)
	}
	return &Error{Condition: cond, Scope: scope, Clause: clause, Err: err}
}

// connErr is an error that closes the connection.
func connErr(cond frames.ErrorCondition, clause, format string, args ...any) *Error {
	return newErr(ScopeConnection, cond, clause, format, args...)
}

// sessErr is an error that ends the session.
func sessErr(cond frames.ErrorCondition, clause, format string, args ...any) *Error {
	return newErr(ScopeSession, cond, clause, format, args...)
}

// linkErr is an error that detaches the link with the given peer handle.
func linkErr(h uint32, cond frames.ErrorCondition, clause, format string, args ...any) *Error {
	e := newErr(ScopeLink, cond, clause, format, args...)
	e.handle = h
	return e
}

// asError returns err as an *Error, turning anything else (a decode or
// framing error from the codec) into a connection error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var fe *frames.FrameError
	if errors.As(err, &fe) {
		return &Error{Condition: fe.Condition, Scope: ScopeConnection, Clause: fe.Clause, Err: err}
	}
	return &Error{Condition: frames.AMQPErrorInternalError, Scope: ScopeConnection, Err: err}
}
