package stomp

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// STOMP header names this package reads or writes. docs/mapping.md (STOMP
// section) is the table; mapping_test.go holds its golden cases.
const (
	hDestination   = "destination"
	hReceipt       = "receipt"
	hReceiptID     = "receipt-id"
	hTransaction   = "transaction"
	hContentLength = "content-length"
	hContentType   = "content-type"
	hContentEnc    = "content-encoding"
	hMessageID     = "message-id"
	hSubscription  = "subscription"
	hAck           = "ack"
	hAccept        = "accept" // SUBSCRIBE: the payload format wanted (DESIGN §6)
	hID            = "id"
	hMessage       = "message"
	hCorrelationID = "correlation-id"
	hReplyTo       = "reply-to"
	hExpires       = "expires"    // absolute, ms since the epoch (ActiveMQ)
	hExpiration    = "expiration" // relative, ms (RabbitMQ)
	hPriority      = "priority"
	hPersistent    = "persistent"
	hRetained      = "x-retained"
	hRedelivered   = "redelivered"
	hTraceparent   = "traceparent"
	hUserID        = "user-id"
	hOriginProto   = "x-origin-protocol"
	hOriginClient  = "x-origin-client-id"
	hOriginUser    = "x-origin-user"
	originPrefix   = "x-origin-"
	hRequeue       = "requeue"
	// Dead letters say why they were dead-lettered (like RabbitMQ's
	// x-death, flattened into STOMP headers).
	hDeathReason  = "x-death-reason"
	hDeathQueue   = "x-death-queue"
	hDeathAddress = "x-death-address"
	hDeathCount   = "x-death-count"
	hDeathDetail  = "x-death-detail"
	deathPrefix   = "x-death-"
)

// brokerHeader reports whether a header belongs to the broker: taken from
// a SEND it would let a client forge routing, framing or provenance, and
// rendered from message.Headers it would override what the broker states.
// Such headers never travel as application headers in either direction.
func brokerHeader(k string) bool {
	switch k {
	case hDestination, hSubscription, hMessageID, hAck, hReceipt, hReceiptID,
		hContentLength, hTransaction, hRedelivered, hUserID:
		return true
	}
	return strings.HasPrefix(k, originPrefix) || strings.HasPrefix(k, deathPrefix)
}

// mappedHeader reports whether a header is carried in a message field
// rather than in message.Headers.
func mappedHeader(k string) bool {
	switch k {
	case hContentType, hContentEnc, hCorrelationID, hReplyTo, hExpires, hExpiration,
		hPriority, hPersistent, hRetained, hTraceparent:
		return true
	}
	return false
}

// sendInput is what messageFromSend needs besides the frame.
type sendInput struct {
	Addr    address.Address
	Origin  message.Origin // from the authenticated connection, never from headers
	Now     time.Time
	Version frame.Version
	// ReplyTo rewrites a reply-to value (a /temp-queue/ becomes the address
	// of this connection's reply queue); nil keeps it as written.
	ReplyTo func(string) (string, error)
}

// messageFromSend maps a SEND frame to a canonical message (docs/mapping.md,
// STOMP → canonical). For the headers the broker interprets, the first
// entry wins (STOMP 1.2 "Repeated Header Entries"); application headers
// are kept in order, repeats included, as string values. The body is
// copied: the frame's is only valid during the parser's emit.
func messageFromSend(f *frame.Frame, in sendInput) (*message.Message, error) {
	m := &message.Message{
		Address:   in.Addr,
		Priority:  message.DefaultPriority,
		CreatedAt: in.Now.Truncate(time.Millisecond),
	}
	if len(f.Body) > 0 {
		m.Body = append([]byte(nil), f.Body...)
	}
	m.Annotations.Origin = in.Origin
	var seen uint16 // one bit per mapped header: first wins
	var expires, expiration time.Time
	for _, h := range f.Headers {
		k, v := h.Key, h.Value
		if brokerHeader(k) {
			continue
		}
		if !mappedHeader(k) {
			m.Headers = append(m.Headers, message.Header{Key: k, Value: message.String(v)})
			continue
		}
		bit := mappedBit(k)
		if seen&bit != 0 {
			continue
		}
		seen |= bit
		if in.Version == frame.V10 {
			v = strings.TrimSpace(v) // 1.0 examples pad values
		}
		switch k {
		case hContentType:
			m.ContentType = v
		case hContentEnc:
			m.ContentEncoding = v
		case hCorrelationID:
			m.CorrelationID = []byte(v)
		case hReplyTo:
			if in.ReplyTo != nil {
				r, err := in.ReplyTo(v)
				if err != nil {
					return nil, wrapErr(msgBadHeader, "", err)
				}
				v = r
			}
			// The header as written (after the temp-queue rewrite) goes back
			// to STOMP subscribers verbatim, so a STOMP → STOMP hop is
			// lossless even for an alias (/amq/queue/) or another broker's
			// naming; every other protocol reads the canonical form.
			m.ReplyTo = canonicalReplyTo(v)
			m.Annotations.Native = append(m.Annotations.Native, message.Header{Key: nativeReplyTo, Value: message.String(v)})
		case hExpires:
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 {
				return nil, protoErr(msgBadHeader, "", "expires %q: want milliseconds since the epoch", v)
			}
			if ms > 0 { // 0 means never (ActiveMQ)
				expires = time.UnixMilli(ms).UTC()
			}
		case hExpiration:
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 {
				return nil, protoErr(msgBadHeader, "", "expiration %q: want a relative time in milliseconds", v)
			}
			expiration = in.Now.Add(time.Duration(ms) * time.Millisecond).UTC()
		case hPriority:
			p, err := strconv.Atoi(v)
			if err != nil || p < 0 {
				return nil, protoErr(msgBadHeader, "", "priority %q: want 0-9", v)
			}
			m.Priority = uint8(min(p, message.MaxPriority))
		case hPersistent:
			m.Durable = v == "true"
		case hRetained:
			m.Annotations.Retain = v == "true"
		case hTraceparent:
			m.Annotations.Trace = v
		}
	}
	// Both expiry forms: the earlier wins.
	switch {
	case expires.IsZero():
		m.Expires = expiration
	case expiration.IsZero() || expires.Before(expiration):
		m.Expires = expires
	default:
		m.Expires = expiration
	}
	if m.Durable {
		// A durable message enters MQTT at QoS 1 (DESIGN.md §5).
		m.Annotations.QoS = 1
	}
	return m, nil
}

func mappedBit(k string) uint16 {
	switch k {
	case hContentType:
		return 1 << 0
	case hContentEnc:
		return 1 << 1
	case hCorrelationID:
		return 1 << 2
	case hReplyTo:
		return 1 << 3
	case hExpires:
		return 1 << 4
	case hExpiration:
		return 1 << 5
	case hPriority:
		return 1 << 6
	case hPersistent:
		return 1 << 7
	case hRetained:
		return 1 << 8
	case hTraceparent:
		return 1 << 9
	}
	return 0
}

// messageMeta is what a MESSAGE states about one delivery, beside the
// message itself.
type messageMeta struct {
	Dest        string // in the subscriber's form
	Sub         string // subscription id; omitted when !HasSub (1.0 without id)
	HasSub      bool
	Ack         string // the ack id, 1.2 client modes only
	Redelivered bool
}

// appendMessage renders a MESSAGE frame (docs/mapping.md, canonical →
// STOMP): the broker's headers first, then the application headers in
// order, then content-length, always, so binary bodies are safe (STOMP 1.2
// "Header content-length"). It allocates nothing beyond dst's growth and
// the text of non-string header values.
func appendMessage(dst []byte, m *message.Message, md messageMeta, v frame.Version) []byte {
	esc := frame.EscapingFor(frame.MESSAGE, v)
	strip := frame.StripsCR(v)
	h := func(k, val string) { dst = frame.AppendHeader(dst, k, val, esc, strip) }
	dst = append(dst, "MESSAGE\n"...)
	h(hDestination, md.Dest)
	h(hMessageID, m.ID)
	if md.HasSub {
		h(hSubscription, md.Sub)
	}
	if md.Ack != "" {
		h(hAck, md.Ack)
	}
	if md.Redelivered {
		h(hRedelivered, "true")
	}
	if m.ContentType != "" {
		h(hContentType, m.ContentType)
	}
	if m.ContentEncoding != "" {
		h(hContentEnc, m.ContentEncoding)
	}
	if len(m.CorrelationID) > 0 {
		h(hCorrelationID, string(m.CorrelationID))
	}
	if m.ReplyTo != "" {
		h(hReplyTo, stompReplyTo(m))
	}
	if !m.Expires.IsZero() {
		dst = append(dst, "expires:"...)
		dst = strconv.AppendInt(dst, m.Expires.UnixMilli(), 10)
		dst = append(dst, '\n')
	}
	if m.Priority != message.DefaultPriority {
		dst = append(dst, "priority:"...)
		dst = strconv.AppendUint(dst, uint64(m.Priority), 10)
		dst = append(dst, '\n')
	}
	if m.Durable {
		h(hPersistent, "true")
	}
	if m.Annotations.RetainedDelivery {
		h(hRetained, "true")
	}
	o := m.Annotations.Origin
	if o.Protocol != "" {
		h(hOriginProto, string(o.Protocol))
	}
	if o.ClientID != "" {
		h(hOriginClient, o.ClientID)
	}
	if o.User != "" {
		h(hOriginUser, o.User)
	}
	if m.Annotations.Trace != "" {
		h(hTraceparent, m.Annotations.Trace)
	}
	if dl := m.Annotations.DeadLetter; dl != nil {
		h(hDeathReason, dl.Reason)
		h(hDeathQueue, dl.Queue)
		h(hDeathAddress, dl.Address)
		dst = append(dst, hDeathCount...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(dl.DeliveryCount), 10)
		dst = append(dst, '\n')
		if dl.Detail != "" {
			h(hDeathDetail, dl.Detail)
		}
	}
	for _, x := range m.Headers {
		if brokerHeader(x.Key) || mappedHeader(x.Key) && !(x.Key == hTraceparent && m.Annotations.Trace == "") {
			// The broker's statement above is the one that counts. A
			// traceparent kept only as a header (another front-end's
			// choice) still travels.
			continue
		}
		h(x.Key, x.Value.Text())
	}
	dst = append(dst, "content-length:"...)
	dst = strconv.AppendInt(dst, int64(len(m.Body)), 10)
	dst = append(dst, '\n', '\n')
	dst = append(dst, m.Body...)
	return append(dst, 0)
}

// nativeReplyTo keeps a SEND's reply-to header as written in
// Annotations.Native, for STOMP subscribers only.
const nativeReplyTo = "stomp.reply-to"

// canonicalReplyTo maps a reply-to header to the canonical form of
// Message.ReplyTo (docs/mapping.md "Reply-to"): /topic/a/b becomes "a/b",
// /queue/x and /amq/queue/x become "$queue/x" (a /temp-queue/ has been
// rewritten to its /queue/$tmp/... address before). A value that names no
// Rosetta address (another prefix, a wildcard, a level holding "/") is kept
// as written: it means something only to its writer's peers, and a STOMP
// subscriber gets it back unchanged.
func canonicalReplyTo(v string) string {
	d, err := parseDestination(v)
	if err != nil || d.kind == destTemp {
		return v
	}
	a, err := parseAddress(d.rest)
	if err != nil {
		return v
	}
	if s, ok := address.FormatReplyTo(a, d.kind == destQueue); ok {
		return s
	}
	return v
}

// stompReplyTo renders a message's ReplyTo as a destination a STOMP client
// can SEND to. A STOMP sender's header is returned as written; otherwise
// ReplyTo is in canonical form, "$queue/x" → /queue/x and "a/b" → /topic/a/b,
// each level escaped as in a destination. A value that is not canonical (it
// holds a wildcard) passes as written.
func stompReplyTo(m *message.Message) string {
	if v, ok := m.Annotations.Native.Get(nativeReplyTo); ok && v.Kind() == message.KindString {
		return v.Str()
	}
	a, queue, err := address.ParseReplyTo(m.ReplyTo)
	switch {
	case err != nil:
		return m.ReplyTo
	case queue:
		return prefixQueue + renderAddress(a)
	}
	return prefixTopic + renderAddress(a)
}

// stompLoss returns what a MESSAGE frame cannot carry of m (docs/mapping.md,
// canonical → STOMP): STOMP headers are UTF-8 text, so typed header values
// become text and binary correlation data that is not UTF-8 is mangled;
// there is no header for the subject or group id. The caller counts them
// in rosetta_conversion_lossy_total.
func stompLoss(m *message.Message) message.Lost {
	var lost message.Lost
	if m.Subject != "" {
		lost |= message.LostSubject
	}
	if m.GroupID != "" {
		lost |= message.LostGroupID
	}
	if len(m.CorrelationID) > 0 && !utf8.Valid(m.CorrelationID) {
		lost |= message.LostCorrelationID
	}
	for _, h := range m.Headers {
		if h.Value.Kind() != message.KindString {
			lost |= message.LostHeaderType
			break
		}
	}
	return lost
}
