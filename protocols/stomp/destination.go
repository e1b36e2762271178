package stomp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rosettamq/rosetta/core/address"
)

// Destination prefixes (DESIGN.md §3). A STOMP destination is opaque to
// the specification ("SEND": "STOMP treats this destination as an opaque
// string"); these are the names RabbitMQ and ActiveMQ users already write.
const (
	prefixTopic     = "/topic/"
	prefixQueue     = "/queue/"
	prefixAMQQueue  = "/amq/queue/" // RabbitMQ's name for an existing queue; an alias here
	prefixTempQueue = "/temp-queue/"
)

// tempRoot is the first segment of every temporary reply queue's address.
// "$" keeps them out of reach of "#" and "+" subscriptions (MQTT-4.7.2-1),
// so replies are not copied to wildcard subscribers. It is the core's
// constant because other front-ends let their clients reply there too.
const tempRoot = address.TempRoot

type destKind uint8

const (
	destTopic destKind = iota + 1
	destQueue
	destTemp
)

// destination is a parsed destination header.
type destination struct {
	kind destKind
	raw  string // as the client wrote it
	rest string // after the prefix
}

var errDestination = errors.New("destination must start with /topic/, /queue/, /amq/queue/ or /temp-queue/")

func parseDestination(s string) (destination, error) {
	d := destination{raw: s}
	switch {
	case strings.HasPrefix(s, prefixTopic):
		d.kind, d.rest = destTopic, s[len(prefixTopic):]
	case strings.HasPrefix(s, prefixQueue):
		d.kind, d.rest = destQueue, s[len(prefixQueue):]
	case strings.HasPrefix(s, prefixAMQQueue):
		d.kind, d.rest = destQueue, s[len(prefixAMQQueue):]
	case strings.HasPrefix(s, prefixTempQueue):
		d.kind, d.rest = destTemp, s[len(prefixTempQueue):]
	default:
		return d, fmt.Errorf("%q: %w", s, errDestination)
	}
	if d.rest == "" {
		return d, fmt.Errorf("%q: empty name", s)
	}
	return d, nil
}

// parseAddress reads the part after the prefix as a canonical address:
// "/" separates segments, and "%XX" decodes a byte so that a segment can
// hold "/" ("%2F") or "%" ("%25"); a "%" not followed by two hex digits is
// literal. Wildcards are refused in a published address (DESIGN.md §3).
func parseAddress(rest string) (address.Address, error) {
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		s = address.PercentDecode(s)
		if strings.ContainsAny(s, "+#") {
			return nil, fmt.Errorf("%w: %q", address.ErrWildcard, rest)
		}
		segs[i] = s
	}
	a, err := address.FromSegments(segs...)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", rest, err)
	}
	return a, nil
}

// parsePattern reads a subscription filter: "+" or "*" matches one level,
// a final "#" the rest (address.ParseFilter's rules), segments decoded as
// in parseAddress. A decoded "+" or "#" cannot be matched literally (no
// address holds one), so it is refused rather than read as a wildcard.
func parsePattern(rest string) (address.Pattern, error) {
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		switch s {
		case "*":
			segs[i] = address.SingleLevel
			continue
		case address.SingleLevel, address.MultiLevel:
			continue
		}
		if strings.ContainsAny(s, "+#") {
			return nil, fmt.Errorf("%w: %q", address.ErrBadWildcard, rest)
		}
		s = address.PercentDecode(s)
		if strings.ContainsAny(s, "+#") {
			return nil, fmt.Errorf("%w: %q", address.ErrBadWildcard, rest)
		}
		segs[i] = s
	}
	p, err := address.PatternFromSegments(segs...)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", rest, err)
	}
	return p, nil
}

// renderAddress is parseAddress's inverse: segments joined by "/", with
// "%" and "/" inside a segment percent-encoded.
func renderAddress(a address.Address) string {
	n := 0
	plain := true
	for _, s := range a {
		n += len(s) + 1
		if strings.ContainsAny(s, "%/") {
			plain = false
		}
	}
	if plain {
		return strings.Join(a, "/")
	}
	var b strings.Builder
	b.Grow(n + 8)
	for i, s := range a {
		if i > 0 {
			b.WriteByte('/')
		}
		for j := 0; j < len(s); j++ {
			switch s[j] {
			case '%':
				b.WriteString("%25")
			case '/':
				b.WriteString("%2F")
			default:
				b.WriteByte(s[j])
			}
		}
	}
	return b.String()
}

// isTemp reports whether a is under the temporary queues' root.
func isTemp(a address.Address) bool { return len(a) > 0 && a[0] == tempRoot }
