// Package message defines the canonical message that every protocol
// front-end produces and consumes (DESIGN.md §2).
//
// A Message is plain data so that a store can persist it and any front-end
// can render it. It is immutable once handed to the exchange: Clone it
// before changing anything. Delivery state (attempt count, settlement) lives
// beside the message in the exchange, never inside it.
package message

import (
	"time"

	"github.com/rosettamq/rosetta/core/address"
)

// Protocol names a front-end. The values are used as metric labels and in
// provenance annotations, so they are short and lowercase.
type Protocol string

// The protocols Rosetta speaks.
const (
	ProtocolMQTT  Protocol = "mqtt"
	ProtocolSTOMP Protocol = "stomp"
	ProtocolAMQP  Protocol = "amqp"
	ProtocolHTTP  Protocol = "http"
	// ProtocolCore marks messages the broker makes itself (dead letters, wills
	// re-published after a delay, admin publishes).
	ProtocolCore Protocol = "core"
)

// Message is the canonical message.
type Message struct {
	// ID is assigned by the exchange on Publish when empty; it is stable
	// across redelivery and across a broker restart.
	ID string
	// Address is where the message was published.
	Address address.Address
	// Body is opaque to the core: it is never decoded there.
	Body            []byte
	ContentType     string
	ContentEncoding string

	// Properties (AMQP 1.0 §3.2.4 names; see docs/mapping.md for MQTT and STOMP).
	CorrelationID []byte // MQTT Correlation Data is binary, so this is too
	ReplyTo       string // canonical: MQTT rendering, "$queue/" for a queue (address.FormatReplyTo, docs/mapping.md)
	Subject       string
	UserID        string // the authenticated user, stamped by the broker
	GroupID       string
	CreatedAt     time.Time // zero when unknown

	// Headers are the application headers: ordered, typed, repeatable.
	Headers Headers

	// Delivery header.
	Durable       bool
	Priority      uint8     // 0–9; 4 when the publisher said nothing (AMQP default)
	Expires       time.Time // absolute; zero means never
	FirstAcquirer bool

	// Annotations is what the broker knows about the message, kept apart from
	// the bare message (body, properties, headers).
	Annotations Annotations
}

// DefaultPriority is the priority of a message whose publisher set none
// (AMQP 1.0 §3.2.1 header.priority default).
const DefaultPriority = 4

// MaxPriority is the highest priority the core distinguishes.
const MaxPriority = 9

// Origin says who published a message. The exchange trusts it: front-ends
// fill it from the authenticated connection, never from client-supplied
// fields.
type Origin struct {
	Protocol Protocol
	ClientID string // MQTT client identifier, AMQP container-id, STOMP session
	ConnID   string // broker-assigned connection identifier
	User     string // authenticated user name; empty for anonymous
}

// Annotations hold broker-side facts about a message.
type Annotations struct {
	Origin Origin
	// Retain is the publisher's retain flag (MQTT RETAIN, STOMP/AMQP
	// x-retained): the exchange keeps the message as the address's last value.
	Retain bool
	// RetainedDelivery is set on the copy handed to a subscriber because it
	// is the retained value of a matching address, not a live publish.
	RetainedDelivery bool
	// QoS is the MQTT QoS the message was published with (0 for other
	// protocols unless Durable, then 1).
	QoS uint8
	// Trace is a W3C traceparent when the publisher sent one.
	Trace string
	// DeadLetter is filled when the exchange moves the message to a
	// dead-letter queue.
	DeadLetter *DeadLetter
	// Native carries protocol-specific fields that only a same-protocol hop
	// can use (for example MQTT payload-format-indicator, an AMQP body
	// section kind). Keys are prefixed with the protocol name ("mqtt.",
	// "amqp.").
	Native Headers
}

// DeadLetter records why and from where a message was dead-lettered, like
// RabbitMQ's x-death.
type DeadLetter struct {
	Reason        string // "rejected", "expired", "maxlen", "delivery-limit", "transform"
	Queue         string // the queue it left
	Address       string // the original address, rendered in MQTT form
	Time          time.Time
	DeliveryCount int
	Detail        string
}

// Clone returns a deep copy of m. Body and CorrelationID are copied too, so
// the clone can be changed freely.
func (m *Message) Clone() *Message {
	if m == nil {
		return nil
	}
	c := *m
	c.Address = m.Address.Clone()
	c.Body = cloneBytes(m.Body)
	c.CorrelationID = cloneBytes(m.CorrelationID)
	c.Headers = m.Headers.Clone()
	c.Annotations.Native = m.Annotations.Native.Clone()
	if m.Annotations.DeadLetter != nil {
		dl := *m.Annotations.DeadLetter
		c.Annotations.DeadLetter = &dl
	}
	return &c
}

// Size is the approximate number of bytes the message occupies, used for
// queue byte limits. It counts body, headers and properties, not Go overhead.
func (m *Message) Size() int {
	n := len(m.Body) + len(m.ContentType) + len(m.ContentEncoding) + len(m.CorrelationID) +
		len(m.ReplyTo) + len(m.Subject) + len(m.UserID) + len(m.GroupID) + len(m.ID)
	for _, s := range m.Address {
		n += len(s)
	}
	for _, h := range m.Headers {
		n += len(h.Key) + h.Value.size()
	}
	return n
}

// Expired reports whether the message has expired at now.
func (m *Message) Expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
