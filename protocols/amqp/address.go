package amqp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

// AMQP addresses (DESIGN.md §3; docs/mapping.md, AMQP section):
//
//	/queues/<name>                  a shared queue (created on demand)
//	/topics/<address or pattern>    publish to an address; receive from a private queue bound to a pattern
//	/exchanges/amq.topic/<a.b.c>    RabbitMQ's topic exchange: dots separate levels, * is one level
//	/exchanges/amq.topic            (target only) the message's subject is the routing key
//	<name>                          a queue, or a topic when the link has the "topic" capability
//
// Levels are separated by "/" and percent-decoded ("%2F" is a "/" inside
// a level, "%25" a "%"); in a pattern "+" or "*" is one level and a final
// "#" the rest.
const (
	prefixQueues        = "/queues/"
	prefixTopics        = "/topics/"
	prefixExchangeTopic = "/exchanges/amq.topic"

	capTopic encoding.Symbol = "topic"
)

type nodeKind uint8

const (
	nodeQueue nodeKind = iota + 1
	nodeTopic
)

// target is where a receiving link publishes.
type target struct {
	anonymous  bool // null target: each message's to is the address (anonymous relay)
	subjectKey bool // /exchanges/amq.topic: each message's subject is the routing key
	kind       nodeKind
	addr       address.Address
	ensure     bool // a queue: create it if needed so messages wait for a consumer
	temp       bool // a dynamic queue: holding its address is the capability
}

// source is what a sending link consumes.
type source struct {
	kind    nodeKind
	addr    address.Address // nodeQueue: the queue's address
	queue   string          // nodeQueue: the queue's name
	pattern address.Pattern // nodeTopic
	temp    bool
}

var errAddress = errors.New("address must be /queues/<name>, /topics/<address>, /exchanges/amq.topic/<key> or a queue name")

// parseTarget parses a target address (or a message's to).
func parseTarget(s string, caps []encoding.Symbol) (target, error) {
	switch {
	case strings.HasPrefix(s, prefixQueues):
		a, err := parseQueueName(s[len(prefixQueues):])
		if err != nil {
			return target{}, err
		}
		temp := a[0] == address.TempRoot
		// Replies to a dynamic queue never create one: it exists while its
		// owner is connected.
		return target{kind: nodeQueue, addr: a, ensure: !temp, temp: temp}, nil
	case strings.HasPrefix(s, prefixTopics):
		a, err := parseAddress(s[len(prefixTopics):])
		if err != nil {
			return target{}, err
		}
		return target{kind: nodeTopic, addr: a}, nil
	case s == prefixExchangeTopic || s == prefixExchangeTopic+"/":
		return target{kind: nodeTopic, subjectKey: true}, nil
	case strings.HasPrefix(s, prefixExchangeTopic+"/"):
		a, err := parseRoutingKey(s[len(prefixExchangeTopic)+1:], false)
		if err != nil {
			return target{}, err
		}
		return target{kind: nodeTopic, addr: a}, nil
	case strings.HasPrefix(s, "/"):
		return target{}, fmt.Errorf("%q: %w", s, errAddress)
	case slices.Contains(caps, capTopic):
		a, err := parseAddress(s)
		if err != nil {
			return target{}, err
		}
		return target{kind: nodeTopic, addr: a}, nil
	}
	a, err := parseQueueName(s)
	if err != nil {
		return target{}, err
	}
	temp := a[0] == address.TempRoot
	return target{kind: nodeQueue, addr: a, ensure: !temp, temp: temp}, nil
}

// parseSource parses a source address.
func parseSource(s string, caps []encoding.Symbol) (source, error) {
	queue := func(rest string) (source, error) {
		a, err := parseQueueName(rest)
		if err != nil {
			return source{}, err
		}
		return source{kind: nodeQueue, addr: a, queue: a.MQTT(), temp: a[0] == address.TempRoot}, nil
	}
	topic := func(p address.Pattern, err error) (source, error) {
		if err != nil {
			return source{}, err
		}
		return source{kind: nodeTopic, pattern: p, temp: p[0] == address.TempRoot}, nil
	}
	switch {
	case strings.HasPrefix(s, prefixQueues):
		return queue(s[len(prefixQueues):])
	case strings.HasPrefix(s, prefixTopics):
		return topic(parsePattern(s[len(prefixTopics):]))
	case strings.HasPrefix(s, prefixExchangeTopic+"/"):
		a, err := parseRoutingKey(s[len(prefixExchangeTopic)+1:], true)
		return topic(address.Pattern(a), err)
	case strings.HasPrefix(s, "/"), s == "":
		return source{}, fmt.Errorf("%q: %w", s, errAddress)
	case slices.Contains(caps, capTopic):
		return topic(parsePattern(s))
	}
	return queue(s)
}

// parseAddress reads levels separated by "/", each percent-decoded.
// Wildcards are refused in a published address (DESIGN.md §3).
func parseAddress(rest string) (address.Address, error) {
	if rest == "" {
		return nil, address.ErrEmpty
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		if s == "*" {
			return nil, fmt.Errorf("%w: %q", address.ErrWildcard, rest)
		}
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

// parseQueueName reads a queue's address; its levels cannot hold "/",
// "+" or "#", which the exchange's queue naming (the MQTT rendering) could
// not tell apart.
func parseQueueName(rest string) (address.Address, error) {
	a, err := parseAddress(rest)
	if err != nil {
		return nil, err
	}
	if !a.MQTTSafe() {
		return nil, fmt.Errorf("queue %q: a queue name level cannot contain /, + or #", rest)
	}
	return a, nil
}

// parsePattern reads a subscription pattern: "+" or "*" is one level, a
// final "#" the rest; other levels are percent-decoded, and a decoded "+"
// or "#" is refused (no address holds one).
func parsePattern(rest string) (address.Pattern, error) {
	if rest == "" {
		return nil, address.ErrEmpty
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		switch s {
		case "*":
			segs[i] = address.SingleLevel
			continue
		case address.SingleLevel, address.MultiLevel:
			continue
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

// parseRoutingKey reads a RabbitMQ topic routing key or binding key:
// levels separated by "."; in a binding key (pattern) "*" is one level and
// "#" the rest.
func parseRoutingKey(key string, pattern bool) (address.Address, error) {
	if key == "" {
		return nil, address.ErrEmpty
	}
	segs := strings.Split(key, ".")
	for i, s := range segs {
		if pattern {
			switch s {
			case "*", address.SingleLevel:
				segs[i] = address.SingleLevel
				continue
			case address.MultiLevel:
				continue
			}
		}
		if strings.ContainsAny(s, "+#") || s == "*" {
			return nil, fmt.Errorf("%w: %q", address.ErrWildcard, key)
		}
	}
	if pattern {
		p, err := address.PatternFromSegments(segs...)
		return address.Address(p), err
	}
	return address.FromSegments(segs...)
}

// renderQueue and renderTopic are the parsers' inverses.
func renderQueue(a address.Address) string { return prefixQueues + renderLevels(a) }
func renderTopic(a address.Address) string { return prefixTopics + renderLevels(a) }

// renderLevels joins the levels with "/", percent-encoding "%", "/" and
// the wildcard characters inside a level, so that the result parses back
// to the same levels.
func renderLevels(a address.Address) string {
	plain := true
	n := 0
	for _, s := range a {
		n += len(s) + 1
		if strings.ContainsAny(s, "%/+#") || s == "*" {
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
		if s == "*" {
			b.WriteString("%2A")
			continue
		}
		for j := 0; j < len(s); j++ {
			switch c := s[j]; c {
			case '%', '/', '+', '#':
				fmt.Fprintf(&b, "%%%02X", c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// readReplyTo reads an AMQP reply-to into the canonical form (ADR 0002,
// docs/mapping.md "Reply-to"): a queue address ("/queues/x" or a bare
// "x") as "$queue/x", a topic ("/topics/a/b", "/exchanges/amq.topic/a.b")
// as "a/b". A value that names no such address is kept as written.
func readReplyTo(v string) string {
	t, err := parseTarget(v, nil)
	if err != nil || t.subjectKey {
		return v
	}
	if s, ok := address.FormatReplyTo(t.addr, t.kind == nodeQueue); ok {
		return s
	}
	return v
}

// renderReplyTo renders a canonical reply-to as an AMQP address: "$queue/x"
// as "/queues/x", a topic as "/topics/..."; a value that is not canonical
// as written.
func renderReplyTo(v string) string {
	a, queue, err := address.ParseReplyTo(v)
	switch {
	case err != nil:
		return v
	case queue:
		return renderQueue(a)
	}
	return renderTopic(a)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
