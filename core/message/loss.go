package message

import "math/bits"

// Lost is the set of fields a conversion from the canonical message to one
// protocol's frame could not carry (DESIGN.md §2: a cross-protocol hop
// counts what it drops). It is a bit set so that a front-end can compute it
// on every delivery without allocating.
type Lost uint32

// Fields a conversion can lose. The names (FieldName) are the values of
// the field label of rosetta_conversion_lossy_total.
const (
	LostSubject         Lost = 1 << iota // no Subject in the target protocol
	LostGroupID                          // no group id
	LostContentEncoding                  // no content encoding
	LostContentType                      // no content type (MQTT 3.1.1) or not representable
	LostReplyTo                          // no reply-to, or not representable
	LostCorrelationID                    // no correlation, or binary where only text fits
	LostExpiry                           // no expiry
	LostHeaders                          // application headers dropped
	LostHeaderType                       // typed header values rendered as text
	LostPriority                         // no priority
	LostTooLarge                         // the whole message exceeded the receiver's limit
	LostPayloadFormat                    // MQTT 5 payload format indicator, where the target has none
	LostBodyType                         // the body's type (an AMQP amqp-value string) where only bytes fit
	// Fields only an ingress conversion (protocol → canonical) can drop;
	// it is counted with the core as the receiving side.
	LostDeliveryAnnotations // AMQP delivery-annotations (for the next hop only)
	LostMessageAnnotations  // AMQP message-annotations without a canonical field
	LostAppProperties       // AMQP application-properties values of compound types
	LostFooter              // AMQP footer
	lostEnd
)

var lostNames = [...]string{
	"subject", "group-id", "content-encoding", "content-type", "reply-to",
	"correlation-id", "expiry", "headers", "header-type", "priority", "too-large",
	"payload-format", "body-type",
	"delivery-annotations", "message-annotations", "application-properties", "footer",
}

// NumLostFields is the number of distinct fields Lost can name.
const NumLostFields = len(lostNames)

// Count returns how many fields were lost.
func (l Lost) Count() int { return bits.OnesCount32(uint32(l & (lostEnd - 1))) }

// Each calls fn with the index (0 ≤ i < NumLostFields) and name of every
// lost field.
func (l Lost) Each(fn func(i int, name string)) {
	for i, name := range lostNames {
		if l&(1<<i) != 0 {
			fn(i, name)
		}
	}
}

// FieldName returns the name of field index i, or "".
func FieldName(i int) string {
	if i < 0 || i >= len(lostNames) {
		return ""
	}
	return lostNames[i]
}
