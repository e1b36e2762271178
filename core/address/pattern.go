package address

import (
	"fmt"
	"strings"
)

// Pattern is a subscription filter: segments where "+" matches exactly one
// segment and a final "#" matches zero or more trailing segments (so
// "a/#" matches "a" too, MQTT-4.7.1-2).
type Pattern []string

// ParseMQTTFilter parses an MQTT topic filter (MQTT-4.7.1). Shared
// subscription prefixes ($share/group/) are not understood here: the MQTT
// front-end strips them first.
func ParseMQTTFilter(filter string) (Pattern, error) {
	if err := checkString(filter); err != nil {
		return nil, err
	}
	segs := strings.Split(filter, "/")
	return newPattern(segs, false)
}

// ParseFilter parses a filter written with "/" separators where "*" is also
// accepted for "+" (STOMP and AMQP users write either).
func ParseFilter(filter string) (Pattern, error) {
	if err := checkString(filter); err != nil {
		return nil, err
	}
	return newPattern(strings.Split(filter, "/"), true)
}

// PatternFromSegments builds a pattern from segments, validating wildcards.
func PatternFromSegments(segs ...string) (Pattern, error) {
	if len(segs) == 0 {
		return nil, ErrEmpty
	}
	n := 0
	for _, s := range segs {
		if err := checkSegment(s); err != nil {
			return nil, err
		}
		n += len(s) + 1
	}
	if n > MaxLength {
		return nil, ErrTooLong
	}
	return newPattern(append([]string(nil), segs...), false)
}

// MustParseFilter parses an MQTT filter and panics on error; for tests.
func MustParseFilter(f string) Pattern {
	p, err := ParseMQTTFilter(f)
	if err != nil {
		panic(err)
	}
	return p
}

func checkSegment(s string) error {
	if s == "" {
		return nil
	}
	return checkString(s)
}

func newPattern(segs []string, starIsPlus bool) (Pattern, error) {
	if len(segs) > MaxLevels {
		return nil, ErrTooDeep
	}
	for i, s := range segs {
		if starIsPlus && s == "*" {
			segs[i] = SingleLevel
			continue
		}
		switch {
		case s == SingleLevel:
		case s == MultiLevel:
			if i != len(segs)-1 {
				return nil, fmt.Errorf("%w: %q", ErrBadWildcard, strings.Join(segs, "/"))
			}
		case strings.ContainsAny(s, "+#"):
			return nil, fmt.Errorf("%w: %q", ErrBadWildcard, strings.Join(segs, "/"))
		}
	}
	return Pattern(segs), nil
}

// Exact returns the pattern that matches only a.
func Exact(a Address) Pattern { return Pattern(a.Clone()) }

// MQTT renders the pattern as an MQTT filter.
func (p Pattern) MQTT() string { return strings.Join(p, "/") }

// String renders the pattern in MQTT form.
func (p Pattern) String() string { return p.MQTT() }

// HasWildcard reports whether the pattern contains "+" or "#".
func (p Pattern) HasWildcard() bool {
	for _, s := range p {
		if s == SingleLevel || s == MultiLevel {
			return true
		}
	}
	return false
}

// Address returns the pattern as an address when it has no wildcard.
func (p Pattern) Address() (Address, bool) {
	if p.HasWildcard() {
		return nil, false
	}
	return Address(p), true
}

// Equal reports whether the two patterns are the same.
func (p Pattern) Equal(q Pattern) bool { return Address(p).Equal(Address(q)) }

// Match reports whether the pattern matches the address.
func (p Pattern) Match(a Address) bool {
	if len(a) > 0 && len(p) > 0 && strings.HasPrefix(a[0], "$") &&
		(p[0] == SingleLevel || p[0] == MultiLevel) {
		return false // MQTT-4.7.2-1
	}
	i := 0
	for ; i < len(p); i++ {
		switch p[i] {
		case MultiLevel:
			return true
		case SingleLevel:
			if i >= len(a) {
				return false
			}
		default:
			if i >= len(a) || a[i] != p[i] {
				return false
			}
		}
	}
	return i == len(a)
}

// Covers reports whether every address that q matches is also matched by
// p; authorization uses it to decide whether a subscription filter q stays
// inside a permitted pattern p.
func (p Pattern) Covers(q Pattern) bool {
	if len(q) > 0 && len(p) > 0 && (p[0] == SingleLevel || p[0] == MultiLevel) &&
		strings.HasPrefix(q[0], "$") {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case MultiLevel:
			return true
		case SingleLevel:
			if i >= len(q) || q[i] == MultiLevel {
				return false
			}
		default:
			if i >= len(q) || q[i] != p[i] {
				return false
			}
		}
	}
	return len(q) == len(p)
}

// Expand replaces "{name}" variables in every segment using vars; it is
// used for permission patterns such as "devices/{client_id}/#". A variable
// whose value is empty or contains a wildcard, "/", "{" or "}" makes the
// pattern match nothing, so a client cannot widen its own permission by
// choosing its name; nor can a value turn the first level into a "$" level
// (MQTT-4.7.2-1 keeps those apart) that the pattern did not name itself.
func (p Pattern) Expand(vars map[string]string) (Pattern, bool) {
	out := make(Pattern, len(p))
	for i, s := range p {
		if !strings.Contains(s, "{") {
			out[i] = s
			continue
		}
		orig := s
		for k, v := range vars {
			if strings.Contains(orig, "{"+k+"}") {
				// Values are replaced one by one in map order: a value holding
				// braces could pull in another variable depending on that order.
				if v == "" || strings.ContainsAny(v, "/+#{}") {
					return nil, false
				}
				s = strings.ReplaceAll(s, "{"+k+"}", v)
			}
		}
		if strings.Contains(s, "{") && strings.Contains(s, "}") {
			return nil, false
		}
		if i == 0 && strings.HasPrefix(s, "$") && !strings.HasPrefix(orig, "$") {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}
