// Package address defines canonical addresses and patterns (DESIGN.md §3).
//
// A canonical address is a list of segments. Each protocol renders it in its
// own syntax with reversible escaping, so a segment may hold any character,
// including the other protocols' separators. Patterns use MQTT semantics
// everywhere: "+" matches one segment, "#" (last only) matches the rest
// including the parent, and a "$"-prefixed first segment is not matched by a
// wildcard in first position (MQTT-4.7.2-1).
package address

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Address is a canonical address: a non-empty list of segments. Segments
// may be empty ("a//b" has three segments) and may contain any valid UTF-8
// except NUL.
type Address []string

// Errors returned when parsing addresses and patterns.
var (
	ErrEmpty       = errors.New("address: empty")
	ErrInvalidUTF8 = errors.New("address: invalid UTF-8")
	ErrNUL         = errors.New("address: contains NUL")
	ErrWildcard    = errors.New("address: wildcard in a published address")
	ErrBadWildcard = errors.New("address: wildcard must be a whole level, and # the last level")
	ErrTooLong     = errors.New("address: too long")
	ErrTooDeep     = errors.New("address: too many levels")
)

// MaxLength is the longest rendered address accepted, in bytes (MQTT's
// limit for a UTF-8 string, MQTT-1.5.4).
const MaxLength = 65535

// MaxLevels bounds the number of segments so that matching is cheap.
const MaxLevels = 128

// Wildcards.
const (
	SingleLevel = "+"
	MultiLevel  = "#"
)

// ParseMQTTTopic parses an MQTT topic name as used in PUBLISH: levels
// separated by "/", no wildcards (MQTT-3.3.2-2), valid UTF-8 without NUL
// (MQTT-1.5.4-1, MQTT-1.5.4-2).
func ParseMQTTTopic(topic string) (Address, error) {
	if err := checkString(topic); err != nil {
		return nil, err
	}
	segs := strings.Split(topic, "/")
	if len(segs) > MaxLevels {
		return nil, ErrTooDeep
	}
	for _, s := range segs {
		if strings.ContainsAny(s, "+#") {
			return nil, fmt.Errorf("%w: %q", ErrWildcard, topic)
		}
	}
	return Address(segs), nil
}

// MustParseMQTT parses a topic and panics on error; for tests and constants.
func MustParseMQTT(topic string) Address {
	a, err := ParseMQTTTopic(topic)
	if err != nil {
		panic(err)
	}
	return a
}

// FromSegments builds an address from segments after checking them.
func FromSegments(segs ...string) (Address, error) {
	if len(segs) == 0 {
		return nil, ErrEmpty
	}
	if len(segs) > MaxLevels {
		return nil, ErrTooDeep
	}
	n := 0
	for _, s := range segs {
		if !utf8.ValidString(s) {
			return nil, ErrInvalidUTF8
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, ErrNUL
		}
		n += len(s) + 1
	}
	if n > MaxLength {
		return nil, ErrTooLong
	}
	return Address(append([]string(nil), segs...)), nil
}

// MQTT renders the address as an MQTT topic name. A segment that contains
// "/" cannot be rendered reversibly in MQTT; it is kept as is, and the
// caller that cares checks MQTTSafe first.
func (a Address) MQTT() string { return strings.Join(a, "/") }

// MQTTSafe reports whether the MQTT rendering parses back to a. Besides
// segments holding "/", "+" or "#", that rules out an address that renders
// as the empty topic (no segment, or one empty segment), which MQTT
// forbids (MQTT-4.7.3-1), and one past the length and level limits.
func (a Address) MQTTSafe() bool {
	if len(a) == 0 || len(a) == 1 && a[0] == "" || len(a) > MaxLevels {
		return false
	}
	n := len(a) - 1 // separators
	for _, s := range a {
		if strings.ContainsAny(s, "/+#\x00") || !utf8.ValidString(s) {
			return false
		}
		n += len(s)
	}
	return n <= MaxLength
}

// String renders the address in MQTT form, for logs.
func (a Address) String() string { return a.MQTT() }

// Equal reports whether a and b have the same segments.
func (a Address) Equal(b Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy that shares nothing with a.
func (a Address) Clone() Address {
	if a == nil {
		return nil
	}
	return append(Address(nil), a...)
}

// IsSystem reports whether the first segment starts with "$".
func (a Address) IsSystem() bool { return len(a) > 0 && strings.HasPrefix(a[0], "$") }

func checkString(s string) error {
	if s == "" {
		return ErrEmpty
	}
	if len(s) > MaxLength {
		return ErrTooLong
	}
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return ErrNUL
	}
	return nil
}
