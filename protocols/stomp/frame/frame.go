// Package frame is Rosetta's STOMP 1.0/1.1/1.2 codec: the Frame type, an
// incremental, size-limited Parser and an allocation-free encoder. It
// imports only the standard library (DESIGN.md §1: codec sub-packages stay
// dependency-free).
//
// Why not go-stomp's frame package: its Reader allocates whatever a
// content-length claims before the bytes arrive and reads header lines and
// bodies without bounds; its Writer escapes headers on every version,
// CONNECT and CONNECTED included (STOMP 1.2 "Value Encoding" forbids that,
// and 1.0 has no escaping at all), and flushes after every frame. Our
// Parser checks every limit before it buffers more than it has received,
// and our encoder applies the escaping of the negotiated version.
//
// Escaping (STOMP 1.2 "Value Encoding", 1.1 "Value Encoding"): 1.2 decodes
// \r \n \c \\, 1.1 decodes \n \c \\; any other escape is a fatal protocol
// error (ErrBadEscape). STOMP 1.0, and the CONNECT, STOMP and CONNECTED
// frames of every version, are not escaped. Lines may end with CRLF in 1.2
// and before a version is negotiated (the CONNECT frame); in 1.0 and 1.1 a
// header line ends at LF and a CR before it belongs to the value, which is
// what those specifications say (sessions trim 1.0 values themselves).
package frame

import (
	"strconv"
	"strings"
)

// Commands (STOMP 1.2 "Augmented BNF").
const (
	CONNECT     = "CONNECT"
	STOMP       = "STOMP"
	CONNECTED   = "CONNECTED"
	SEND        = "SEND"
	SUBSCRIBE   = "SUBSCRIBE"
	UNSUBSCRIBE = "UNSUBSCRIBE"
	ACK         = "ACK"
	NACK        = "NACK"
	BEGIN       = "BEGIN"
	COMMIT      = "COMMIT"
	ABORT       = "ABORT"
	DISCONNECT  = "DISCONNECT"
	MESSAGE     = "MESSAGE"
	RECEIPT     = "RECEIPT"
	ERROR       = "ERROR"
)

// Version is a STOMP protocol version. The zero value, VersionNone, is the
// state before negotiation: only CONNECT/STOMP frames are expected, lines
// may end with CRLF and nothing is escaped.
type Version uint8

// Protocol versions.
const (
	VersionNone Version = iota
	V10
	V11
	V12
)

// String returns "1.0", "1.1", "1.2", or "" for VersionNone.
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return ""
}

// ParseVersion parses "1.0", "1.1" or "1.2".
func ParseVersion(s string) (Version, bool) {
	switch s {
	case "1.0":
		return V10, true
	case "1.1":
		return V11, true
	case "1.2":
		return V12, true
	}
	return VersionNone, false
}

// Header is one header entry, unescaped.
type Header struct {
	Key, Value string
}

// Frame is one STOMP frame. Headers keep wire order and repeats; Get
// applies the rule that the first entry wins (STOMP 1.2 "Repeated Header
// Entries").
//
// A Frame handed out by Parser.Feed is valid only until the emit callback
// returns: the Parser reuses the Frame and Body points into its buffer.
// The header strings are immutable and may be kept; Clone keeps the rest.
type Frame struct {
	Command string
	Headers []Header
	Body    []byte
}

// New returns a frame with the given command and key, value pairs.
func New(command string, kv ...string) *Frame {
	f := &Frame{Command: command}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers = append(f.Headers, Header{kv[i], kv[i+1]})
	}
	return f
}

// Get returns the value of the first header named key.
func (f *Frame) Get(key string) (string, bool) {
	for i := range f.Headers {
		if f.Headers[i].Key == key {
			return f.Headers[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of the first header named key, or "".
func (f *Frame) Value(key string) string {
	v, _ := f.Get(key)
	return v
}

// Add appends a header.
func (f *Frame) Add(key, value string) { f.Headers = append(f.Headers, Header{key, value}) }

// Clone returns a copy that shares nothing mutable with f.
func (f *Frame) Clone() *Frame {
	c := &Frame{Command: f.Command}
	if f.Headers != nil {
		c.Headers = append([]Header(nil), f.Headers...)
	}
	if f.Body != nil {
		c.Body = append([]byte{}, f.Body...)
	}
	return c
}

// String renders the frame for logs and test failures (headers escaped as
// in 1.2, the body quoted and cut at 64 bytes).
func (f *Frame) String() string {
	var b strings.Builder
	b.WriteString(f.Command)
	for _, h := range f.Headers {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(h.Key + ":" + h.Value))
	}
	body := f.Body
	if len(body) > 64 {
		body = body[:64]
	}
	b.WriteString(" body=")
	b.WriteString(strconv.Quote(string(body)))
	if len(f.Body) > 64 {
		b.WriteString("...")
	}
	return b.String()
}

// Escaping says how header keys and values are escaped on the wire.
type Escaping uint8

// Escapings.
const (
	EscapeNone Escaping = iota // STOMP 1.0, CONNECT, STOMP and CONNECTED frames
	Escape11                   // \n \c \\ (STOMP 1.1)
	Escape12                   // \r \n \c \\ (STOMP 1.2)
)

// EscapingFor returns the escaping of a frame with command cmd in version v.
func EscapingFor(cmd string, v Version) Escaping {
	switch cmd {
	case CONNECT, STOMP, CONNECTED:
		return EscapeNone
	}
	switch v {
	case V11:
		return Escape11
	case V12:
		return Escape12
	}
	return EscapeNone
}

// IsConnect reports whether cmd is CONNECT or STOMP.
func IsConnect(cmd string) bool { return cmd == CONNECT || cmd == STOMP }
