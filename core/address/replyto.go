package address

import (
	"errors"
	"strings"
)

// Canonical reply-to (docs/mapping.md "Reply-to", ADR 0002).
//
// message.Message.ReplyTo holds an address in one form that every front-end
// understands: the address's MQTT topic rendering, prefixed with
// ReplyQueuePrefix when the requester means a queue (a shared, named queue
// that competing consumers drain) rather than a topic. That is the string an
// MQTT 5 responder finds in the Response Topic and publishes to as is (the
// MQTT front-end accepts "$queue/<name>" topics, as EMQX does), and each
// other front-end renders it in its own syntax: STOMP "/queue/x" or
// "/topic/x", AMQP "/queues/x" or "/topics/x".
const (
	// ReplyQueuePrefix marks queue intent in a canonical reply-to.
	ReplyQueuePrefix = "$queue/"
	// TempRoot is the first segment of every temporary reply queue's
	// address ("$tmp/<protocol>/<connection>/<name>"). "$" keeps such
	// addresses out of reach of wildcard subscriptions (MQTT-4.7.2-1).
	// The connection part is random, so holding the address is the
	// capability to reply: front-ends let any client publish to it without a
	// publish permission, and never create a queue there.
	TempRoot = "$tmp"
)

// ErrReplyTo is returned by ParseReplyTo for a value that is not a
// canonical reply-to.
var ErrReplyTo = errors.New("address: not a canonical reply-to")

// FormatReplyTo renders a as a canonical reply-to, with queue intent when
// queue is set. ok is false when a has no reversible MQTT rendering (a
// segment holding "/", "+" or "#", or an empty topic): such an address
// cannot travel in canonical form.
func FormatReplyTo(a Address, queue bool) (s string, ok bool) {
	if !a.MQTTSafe() {
		return "", false
	}
	if queue {
		return ReplyQueuePrefix + a.MQTT(), true
	}
	return a.MQTT(), true
}

// ParseReplyTo reads a canonical reply-to: the address and whether it names
// a queue. The queue prefix is matched without regard to case, as the MQTT
// front-end matches "$queue/" in a topic.
func ParseReplyTo(s string) (a Address, queue bool, err error) {
	if len(s) >= len(ReplyQueuePrefix) && strings.EqualFold(s[:len(ReplyQueuePrefix)], ReplyQueuePrefix) {
		s, queue = s[len(ReplyQueuePrefix):], true
	}
	a, err = ParseMQTTTopic(s)
	if err != nil {
		return nil, false, errors.Join(ErrReplyTo, err)
	}
	return a, queue, nil
}

// IsTemp reports whether a lies under TempRoot.
func IsTemp(a Address) bool { return len(a) > 0 && a[0] == TempRoot }
