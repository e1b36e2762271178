package mqtt

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// Names used by the mapping between MQTT packets and canonical messages
// (docs/mapping.md, MQTT section).
const (
	// nativePayloadFormat keeps the MQTT 5 Payload Format Indicator
	// (§3.3.2.3.2) in Annotations.Native, so that an MQTT→MQTT hop forwards
	// it unaltered (MQTT-3.3.2-4).
	nativePayloadFormat = "mqtt.payload-format"
	// headerPriority is the user property that carries Message.Priority.
	headerPriority = "x-priority"
	// headerTraceparent is the W3C trace context user property.
	headerTraceparent = "traceparent"
	// Provenance user properties added to messages that did not come from
	// MQTT (DESIGN.md §5).
	headerOriginProtocol = "x-origin-protocol"
	headerOriginClientID = "x-origin-client-id"
	headerOriginUser     = "x-origin-user"
)

// maxString is the longest UTF-8 Encoded String or Binary Data MQTT can
// carry (§1.5.4, §1.5.6).
const maxString = math.MaxUint16

// messageFromPublish builds the canonical message for an inbound PUBLISH
// (or a Will, see willPacket) whose topic resolved to a. MQTT 3.1.1
// packets carry no properties, so their zero Properties map to nothing.
// The payload and property slices are kept, not copied: mochi allocates
// them per packet and does not reuse them once the hook returns.
func messageFromPublish(pk *packets.Packet, a address.Address, origin message.Origin, now time.Time) *message.Message {
	qos := pk.FixedHeader.Qos
	m := &message.Message{
		Address:   a,
		Body:      pk.Payload,
		CreatedAt: now,
		// QoS > 0 asks for at-least-once, which the core provides by keeping
		// the message durable (DESIGN.md §5).
		Durable:  qos > 0,
		Priority: message.DefaultPriority,
		Annotations: message.Annotations{
			Origin: origin,
			Retain: pk.FixedHeader.Retain,
			QoS:    qos,
		},
	}
	p := &pk.Properties
	m.ContentType = p.ContentType
	// A Response Topic is already a canonical reply-to (a topic, or
	// "$queue/<name>" for a queue; docs/mapping.md "Reply-to"), kept as
	// written so that an MQTT → MQTT hop is exact.
	m.ReplyTo = p.ResponseTopic
	if len(p.CorrelationData) > 0 {
		m.CorrelationID = p.CorrelationData
	}
	if p.MessageExpiryInterval > 0 {
		m.Expires = now.Add(time.Duration(p.MessageExpiryInterval) * time.Second)
	}
	if p.PayloadFormatFlag {
		m.Annotations.Native = message.Headers{{Key: nativePayloadFormat, Value: message.Int(int64(p.PayloadFormat))}}
	}
	if len(p.User) > 0 {
		// User properties keep their order and duplicates (MQTT-3.3.2-18):
		// they become Headers one for one, x-priority and traceparent
		// included, so that re-rendering them gives the same list.
		m.Headers = make(message.Headers, len(p.User))
		for i, u := range p.User {
			m.Headers[i] = message.Header{Key: u.Key, Value: message.String(u.Val)}
			switch u.Key {
			case headerPriority:
				if n, err := strconv.Atoi(u.Val); err == nil && n >= 0 && n <= message.MaxPriority {
					m.Priority = uint8(n)
				}
			case headerTraceparent:
				if m.Annotations.Trace == "" {
					m.Annotations.Trace = u.Val
				}
			}
		}
	}
	return m
}

// willPacket returns the Will of a CONNECT as the PUBLISH it stands for,
// with its Will Properties (MQTT 5 §3.1.3.2), which mochi's Will struct
// does not keep.
func willPacket(c *packets.ConnectParams) packets.Packet {
	wp := c.WillProperties
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: c.WillQos, Retain: c.WillRetain},
		TopicName:   c.WillTopic,
		Payload:     c.WillPayload,
		Properties: packets.Properties{
			PayloadFormat:         wp.PayloadFormat,
			PayloadFormatFlag:     wp.PayloadFormatFlag,
			MessageExpiryInterval: wp.MessageExpiryInterval,
			ContentType:           wp.ContentType,
			ResponseTopic:         wp.ResponseTopic,
			CorrelationData:       wp.CorrelationData,
			User:                  wp.User,
		},
	}
}

// publishFromMessage renders m as a PUBLISH at qos with the given retain
// flag, for a client speaking MQTT 5 (v5) or 3.1.1. It returns the
// fields the client cannot receive (a non-string header, a Subject, any
// property for a 3.1.1 client...), for the lossy-conversion counter. The
// Message Expiry Interval is the time left at now (MQTT-3.3.2-6); the
// caller has already dropped expired messages (MQTT-3.3.2-5).
func publishFromMessage(m *message.Message, qos byte, retain, v5 bool, now time.Time) (packets.Packet, message.Lost) {
	var pk packets.Packet
	lost := fillPublish(&pk, m, qos, retain, v5, now)
	pk.TopicName = m.Address.MQTT()
	return pk, lost
}

// fillPublish is publishFromMessage into *pk, which must be zero, leaving
// TopicName empty: the session writer encodes the topic from the address
// itself (appendPublish) and builds the string only when it needs one.
func fillPublish(pk *packets.Packet, m *message.Message, qos byte, retain, v5 bool, now time.Time) message.Lost {
	pk.FixedHeader = packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain}
	pk.Payload = m.Body
	var lost message.Lost
	if m.Subject != "" {
		lost |= message.LostSubject
	}
	if m.GroupID != "" {
		lost |= message.LostGroupID
	}
	if m.ContentEncoding != "" {
		lost |= message.LostContentEncoding
	}
	if !v5 {
		// MQTT 3.1.1 has no properties: everything but topic and payload is
		// lost (docs/mapping.md).
		if m.ContentType != "" {
			lost |= message.LostContentType
		}
		if m.ReplyTo != "" {
			lost |= message.LostReplyTo
		}
		if len(m.CorrelationID) > 0 {
			lost |= message.LostCorrelationID
		}
		if !m.Expires.IsZero() {
			lost |= message.LostExpiry
		}
		if len(m.Headers) > 0 {
			lost |= message.LostHeaders
		}
		return lost
	}
	p := &pk.Properties
	if v, ok := m.Annotations.Native.Get(nativePayloadFormat); ok && v.Kind() == message.KindInt {
		if f := v.IntValue(); f == 0 || f == 1 {
			p.PayloadFormat, p.PayloadFormatFlag = byte(f), true
		}
	}
	if !m.Expires.IsZero() {
		p.MessageExpiryInterval = remainingSeconds(m.Expires, now)
	}
	if validString(m.ContentType) {
		p.ContentType = m.ContentType
	} else if m.ContentType != "" {
		lost |= message.LostContentType
	}
	// ReplyTo is canonical: the Response Topic as it stands, which a
	// responder publishes to unchanged. MQTT-3.3.2-14: a Response Topic is
	// a Topic Name, so no wildcards.
	if validString(m.ReplyTo) && !strings.ContainsAny(m.ReplyTo, "+#") {
		p.ResponseTopic = m.ReplyTo
	} else if m.ReplyTo != "" {
		lost |= message.LostReplyTo
	}
	if len(m.CorrelationID) <= maxString {
		p.CorrelationData = m.CorrelationID
	} else {
		lost |= message.LostCorrelationID
	}
	n := len(m.Headers)
	if n > 0 || m.Priority != message.DefaultPriority || m.Annotations.Trace != "" || m.Annotations.Origin.Protocol != message.ProtocolMQTT {
		p.User = make([]packets.UserProperty, 0, n+3)
	}
	var hasPriority, hasTrace bool
	for _, h := range m.Headers {
		val := h.Value.Text()
		if h.Value.Kind() != message.KindString {
			lost |= message.LostHeaderType // the type is lost, the text is kept
		}
		if !validString(h.Key) || !validStringOrEmpty(val) {
			lost |= message.LostHeaders
			continue
		}
		switch h.Key {
		case headerPriority:
			hasPriority = true
		case headerTraceparent:
			hasTrace = true
		}
		p.User = append(p.User, packets.UserProperty{Key: h.Key, Val: val})
	}
	if !hasPriority && m.Priority != message.DefaultPriority {
		p.User = append(p.User, packets.UserProperty{Key: headerPriority, Val: strconv.Itoa(int(m.Priority))})
	}
	if !hasTrace && m.Annotations.Trace != "" && validString(m.Annotations.Trace) {
		p.User = append(p.User, packets.UserProperty{Key: headerTraceparent, Val: m.Annotations.Trace})
	}
	if o := m.Annotations.Origin; o.Protocol != message.ProtocolMQTT && o.Protocol != "" {
		p.User = append(p.User, packets.UserProperty{Key: headerOriginProtocol, Val: string(o.Protocol)})
		if validString(o.ClientID) {
			p.User = append(p.User, packets.UserProperty{Key: headerOriginClientID, Val: o.ClientID})
		}
		if validString(o.User) {
			p.User = append(p.User, packets.UserProperty{Key: headerOriginUser, Val: o.User})
		}
	}
	return lost
}

// remainingSeconds is the Message Expiry Interval to send for a message
// that expires at exp: the whole seconds left, rounded up so that a
// message is never announced as expiring before it does, and at least 1
// (0 would mean "never" on the wire).
func remainingSeconds(exp, now time.Time) uint32 {
	left := exp.Sub(now)
	if left <= time.Second {
		return 1
	}
	s := (left + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// validString reports whether s is a non-empty MQTT UTF-8 Encoded String:
// valid UTF-8, no U+0000 (MQTT-1.5.4-1, MQTT-1.5.4-2), at most 65,535
// bytes.
func validString(s string) bool {
	return s != "" && validStringOrEmpty(s)
}

func validStringOrEmpty(s string) bool {
	return len(s) <= maxString && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
