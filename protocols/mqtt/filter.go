package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rosettamq/rosetta/core/address"
)

// subKind says where a subscription's messages come from.
type subKind uint8

const (
	// subPrivate is an ordinary filter: the session's own queue is bound to
	// it.
	subPrivate subKind = iota
	// subShared is "$share/<group>/<filter>" (MQTT 5 §4.8.2): the session
	// consumes from the group's queue, competing with the other members.
	subShared
	// subQueue is "$queue/<name>" (as in EMQX): the session consumes from
	// the named queue.
	subQueue
)

func (k subKind) String() string {
	switch k {
	case subShared:
		return "shared"
	case subQueue:
		return "queue"
	}
	return "private"
}

// Prefixes of the filters that consume from a shared queue. MQTT matches
// "$share" case-sensitively (MQTT-4.8.2-1); mochi accepts any case, so we
// do too and keep the spelling the client used in the queue name.
const (
	sharePrefix = "$share/"
	queuePrefix = "$queue/"
)

// errBadFilter is wrapped by parseFilter's errors.
var errBadFilter = errors.New("mqtt: invalid topic filter")

// parsedFilter is a SUBSCRIBE topic filter understood.
type parsedFilter struct {
	kind subKind
	// pattern is what the filter matches: the filter itself (private), the
	// filter after the group (shared), or the queue's name as an exact
	// address (queue).
	pattern address.Pattern
	// queue is the core queue a shared or queue subscription consumes from:
	// "$share/<group>/<filter>" or <name>.
	queue string
}

// parseFilter parses a SUBSCRIBE/UNSUBSCRIBE topic filter, including the
// "$share/<group>/" and "$queue/" forms. It never panics, whatever the
// input (it is fuzzed).
func parseFilter(f string) (parsedFilter, error) {
	switch {
	case hasPrefixFold(f, sharePrefix):
		rest := f[len(sharePrefix):]
		group, inner, ok := strings.Cut(rest, "/")
		// MQTT-4.8.2-1: the ShareName is at least one character long.
		// MQTT-4.8.2-2: it contains no "/", "+" or "#" and is followed by
		// "/" and a Topic Filter.
		if !ok || group == "" || strings.ContainsAny(group, "+#") || inner == "" {
			return parsedFilter{}, fmt.Errorf("%w: %q: want $share/<group>/<filter> (MQTT-4.8.2-1, MQTT-4.8.2-2)", errBadFilter, f)
		}
		p, err := address.ParseMQTTFilter(inner)
		if err != nil {
			return parsedFilter{}, fmt.Errorf("%w: %q: %w", errBadFilter, f, err)
		}
		return parsedFilter{kind: subShared, pattern: p, queue: f}, nil
	case hasPrefixFold(f, queuePrefix):
		name := f[len(queuePrefix):]
		a, err := address.ParseMQTTTopic(name)
		if err != nil {
			return parsedFilter{}, fmt.Errorf("%w: %q: the queue name must be a topic name without wildcards: %w", errBadFilter, f, err)
		}
		return parsedFilter{kind: subQueue, pattern: address.Exact(a), queue: name}, nil
	}
	p, err := address.ParseMQTTFilter(f)
	if err != nil {
		return parsedFilter{}, fmt.Errorf("%w: %q: %w", errBadFilter, f, err)
	}
	return parsedFilter{kind: subPrivate, pattern: p}, nil
}

// publishTarget maps a PUBLISH topic to the address the message is routed
// to. "$queue/<name>" sends to the named queue (created on demand,
// DESIGN.md §4), so the message's address is <name> and the exchange is
// asked to ensure the queue. A canonical reply-to is such a topic too
// (docs/mapping.md "Reply-to"), so an MQTT 5 responder publishes to the
// Response Topic as is. A temporary reply queue ("$queue/$tmp/...", another
// front-end's) is never created here: it exists while its requester is
// connected, and re-creating it afterwards would keep replies nobody reads.
func publishTarget(topic string) (a address.Address, ensureQueue bool, err error) {
	if hasPrefixFold(topic, queuePrefix) {
		a, err = address.ParseMQTTTopic(topic[len(queuePrefix):])
		return a, err == nil && !address.IsTemp(a), err
	}
	a, err = address.ParseMQTTTopic(topic)
	return a, false, err
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
