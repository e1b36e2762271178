package mqtt

import (
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// propAccept is the MQTT 5 user property of a SUBSCRIBE that asks for a
// payload format (DESIGN §6) for every filter of that SUBSCRIBE. Its value
// goes to the transformer as written (trimmed). MQTT 3.1.1 has no
// properties, so a 3.1.1 subscriber gets messages as they were published.
const propAccept = "accept"

// acceptOf returns the first accept user property of a SUBSCRIBE; "" when
// there is none.
func acceptOf(pk packets.Packet) string {
	for _, p := range pk.Properties.User {
		if p.Key == propAccept {
			return strings.TrimSpace(p.Val)
		}
	}
	return ""
}

// receiverFor is the exchange.Receiver of a subscription of this session
// asking for accept.
func (ss *session) receiverFor(accept string, pf parsedFilter) exchange.Receiver {
	q := ss.queue
	if pf.kind != subPrivate {
		q = pf.queue
	}
	return exchange.Receiver{Protocol: message.ProtocolMQTT, Accept: accept, Queue: q}
}

// checkAccept validates a SUBSCRIBE's accept for one of its filters: nil
// when it asked for nothing or for a format the transformer can produce.
func (ss *session) checkAccept(accept string, pf parsedFilter) error {
	if accept == "" {
		return nil
	}
	return ss.srv.x.CheckReceiver(ss.receiverFor(accept, pf))
}

// transformed returns the message to publish for a delivery whose
// matching subscriptions chose accept (egressLocked). On an error the
// delivery is settled (dead-lettered with reason transform, or accepted
// when the transformation dropped it) and nothing is to be sent. Called
// without ss.mu: a transformation may take long, and dead-lettering calls
// the exchange.
func (ss *session) transformed(it item, accept string) (*message.Message, error) {
	return it.d.TransformedFor(ss.srv.ctx, exchange.Receiver{Protocol: message.ProtocolMQTT, Accept: accept})
}

// acceptWins reports whether s's accept applies rather than cur's when
// both subscriptions match a delivery, which goes out once
// (MQTT-3.3.4-2): the one granting the higher QoS wins, as it sets the
// delivery's QoS; on a tie the filter that sorts first (byte order), so
// that the choice does not depend on map order.
func acceptWins(s, cur *subscription) bool {
	if s.qos != cur.qos {
		return s.qos > cur.qos
	}
	return s.filter < cur.filter
}
