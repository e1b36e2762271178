package mqtt

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/address"
)

// The session writer encodes its PUBLISH packets itself, into one buffer
// per batch, and writes the batch with one call (session.writeOut):
// mochi's Client.WritePacket allocates a buffer per packet and makes one
// write system call per packet, which was most of the broker's CPU under
// load. Only PUBLISH is encoded here; every other packet still goes
// through mochi.

// MQTT 5 PUBLISH property identifiers (§3.3.2.3).
const (
	propPayloadFormat  = 0x01
	propMessageExpiry  = 0x02
	propContentType    = 0x03
	propResponseTopic  = 0x08
	propCorrelation    = 0x09
	propSubscriptionID = 0x0B
	propTopicAlias     = 0x23
	propUser           = 0x26
)

// maxRemaining is the largest Remaining Length a Variable Byte Integer
// can state (MQTT 5 §1.5.5).
const maxRemaining = 268_435_455

// varintLen is the size of n as a Variable Byte Integer.
func varintLen(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

func appendVarint(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func appendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString appends s as an MQTT UTF-8 Encoded String (or Binary Data):
// a two-byte length, then the bytes. Callers keep s within 65,535 bytes.
func appendString[T string | []byte](b []byte, s T) []byte {
	b = appendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// topicLen is the length of the MQTT rendering of a (Address.MQTT)
// without building it.
func topicLen(a address.Address) int {
	if len(a) == 0 {
		return 0
	}
	n := len(a) - 1
	for _, s := range a {
		n += len(s)
	}
	return n
}

// appendTopic appends the MQTT rendering of a as a UTF-8 Encoded String.
func appendTopic(b []byte, a address.Address) []byte {
	b = appendUint16(b, uint16(topicLen(a)))
	for i, s := range a {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, s...)
	}
	return b
}

// publishProps returns the length of pk's MQTT 5 PUBLISH properties, user
// properties included or not.
func publishProps(p *packets.Properties, user bool) int {
	n := 0
	if p.PayloadFormatFlag {
		n += 2
	}
	if p.MessageExpiryInterval > 0 {
		n += 5
	}
	if p.TopicAliasFlag && p.TopicAlias > 0 {
		n += 3
	}
	if p.ResponseTopic != "" {
		n += 3 + len(p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		n += 3 + len(p.CorrelationData)
	}
	if user {
		for _, u := range p.User {
			n += 5 + len(u.Key) + len(u.Val)
		}
	}
	for _, id := range p.SubscriptionIdentifier {
		if id > 0 {
			n += 1 + varintLen(id)
		}
	}
	if p.ContentType != "" {
		n += 3 + len(p.ContentType)
	}
	return n
}

func appendProps(b []byte, p *packets.Properties, user bool) []byte {
	if p.PayloadFormatFlag {
		b = append(b, propPayloadFormat, p.PayloadFormat)
	}
	if p.MessageExpiryInterval > 0 {
		b = appendUint32(append(b, propMessageExpiry), p.MessageExpiryInterval)
	}
	if p.TopicAliasFlag && p.TopicAlias > 0 {
		b = appendUint16(append(b, propTopicAlias), p.TopicAlias)
	}
	if p.ResponseTopic != "" {
		b = appendString(append(b, propResponseTopic), p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		b = appendString(append(b, propCorrelation), p.CorrelationData)
	}
	if user {
		for _, u := range p.User {
			b = appendString(appendString(append(b, propUser), u.Key), u.Val)
		}
	}
	for _, id := range p.SubscriptionIdentifier {
		if id > 0 {
			b = appendVarint(append(b, propSubscriptionID), id)
		}
	}
	if p.ContentType != "" {
		b = appendString(append(b, propContentType), p.ContentType)
	}
	return b
}

// appendPublish appends pk, a PUBLISH, encoded for a client of protocol
// version 5 (v5) or 3.1.1, and returns the buffer and the packet's size.
// The topic is pk.TopicName, or the rendering of topic when it is not nil
// (so that the common case builds no topic string). max is the client's
// Maximum Packet Size (0: none): a packet over it drops its user
// properties (as mochi does, MQTT 5 §3.1.2.11.4), and when still over it
// is not appended and fits is false (MQTT-3.1.2-25). The caller has
// checked the strings (publishFromMessage) and gives QoS>0 packets an
// identifier.
func appendPublish(b []byte, pk *packets.Packet, topic address.Address, v5 bool, max uint32) (out []byte, size int, fits, userDropped bool) {
	tl := len(pk.TopicName)
	if topic != nil {
		tl = topicLen(topic)
	}
	rem := 2 + tl + len(pk.Payload)
	if pk.FixedHeader.Qos > 0 {
		rem += 2
	}
	user := true
	props := 0
	if v5 {
		props = publishProps(&pk.Properties, true)
		if max > 0 && len(pk.Properties.User) > 0 && packetSize(rem+varintLen(props)+props) > int(max) {
			user, userDropped = false, true
			props = publishProps(&pk.Properties, false)
		}
		rem += varintLen(props) + props
	}
	size = packetSize(rem)
	if rem > maxRemaining || max > 0 && size > int(max) {
		return b, 0, false, userDropped
	}
	fh := pk.FixedHeader
	first := byte(packets.Publish<<4) | fh.Qos<<1
	if fh.Dup {
		first |= 0x08
	}
	if fh.Retain {
		first |= 0x01
	}
	b = appendVarint(append(b, first), rem)
	if topic != nil {
		b = appendTopic(b, topic)
	} else {
		b = appendString(b, pk.TopicName)
	}
	if fh.Qos > 0 {
		b = appendUint16(b, pk.PacketID)
	}
	if v5 {
		b = appendProps(appendVarint(b, props), &pk.Properties, user)
	}
	return append(b, pk.Payload...), size, true, userDropped
}

// packetSize is the size of a packet whose Remaining Length is rem.
func packetSize(rem int) int { return 1 + varintLen(rem) + rem }
