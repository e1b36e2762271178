package amqp

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// The mapping between AMQP messages (§3.2) and canonical messages
// (DESIGN.md §2, §5). docs/mapping.md (AMQP section) is the table;
// mapping_test.go holds its golden cases.
//
// A message published over AMQP keeps the exact bytes of its bare message:
// the properties and application-properties sections in Native
// "amqp.bare-head", the body as Body plus, when the body is one data
// section or an amqp-value holding a string or binary, the bytes that
// precede its content in "amqp.body-header". Other bodies (amqp-sequence,
// other amqp-values, several data sections) are carried as their encoded
// sections in Body, marked by "amqp.body". An AMQP receiver then gets the
// bare message byte for byte (§3.2: the bare message is immutable), and
// other protocols get the mapped fields.

// Native keys (message.Annotations.Native) of this package.
const (
	nativeBareHead    = "amqp.bare-head"           // bytes: properties + application-properties sections as received
	nativeBody        = "amqp.body"                // string: body form, see the body* constants; absent = one data section
	nativeBodyHeader  = "amqp.body-header"         // bytes: the section bytes before the content (descriptor, constructor, size)
	nativeAppProps    = "amqp.app-props"           // int: how many leading Headers are application-properties (when annotations follow)
	nativeMessageID   = "amqp.message-id"          // string or bytes: properties.message-id
	nativeMsgIDType   = "amqp.message-id-type"     // string: "ulong" or "uuid" when message-id was one
	nativeCorrIDType  = "amqp.correlation-id-type" // string: "ulong", "uuid" or "binary"; absent = string
	nativeGroupSeq    = "amqp.group-sequence"      // int
	nativeReplyGroup  = "amqp.reply-to-group-id"   // string
	nativeReplyTo     = "amqp.reply-to"            // string: reply-to as written, when its canonical form renders otherwise
	nativePrefix      = "amqp."
	annotationPrefix  = "x-"
	annOriginProtocol = "x-origin-protocol"
	annOriginClient   = "x-origin-client-id"
	annOriginUser     = "x-origin-user"
	annOriginPrefix   = "x-origin-"
	annRetained       = "x-retained" // egress: a retained value delivered on attach; ingress: retain this message
	annRetain         = "x-retain"   // ingress: retain this message
	annDeadReason     = "x-death-reason"
	annDeadQueue      = "x-death-queue"
	propTraceparent   = "traceparent"
)

// Body forms in Native "amqp.body". With the value forms, Body holds the
// content (UTF-8 text or bytes); with the others, the encoded sections.
const (
	bodyNone         = "none"              // no body section
	bodyValueString  = "amqp-value:string" // an amqp-value holding a string
	bodyValueBinary  = "amqp-value:binary" // an amqp-value holding a binary
	bodyValue        = "amqp-value"        // any other amqp-value: Body is the encoded section
	bodySequence     = "amqp-sequence"     // Body is the encoded amqp-sequence sections
	bodyDataSections = "data-sections"     // several data sections: Body is the encoded sections
)

// lossSink collects what a conversion drops as message.Lost bits; the
// caller reports them once per message with exchange.CountLossy, the
// broker-wide counter (rosetta_conversion_lossy_total). A nil sink
// discards.
type lossSink struct{ l *message.Lost }

func (s lossSink) lost(f message.Lost) {
	if s.l != nil {
		*s.l |= f
	}
}

// nativeLoss is what an AMQP receiver loses of another protocol's native
// field (message.Annotations.Native) with no AMQP counterpart.
func nativeLoss(key string) message.Lost {
	switch key {
	case "mqtt.payload-format": // protocols/mqtt; no AMQP property says "UTF-8 text"
		return message.LostPayloadFormat
	}
	// stomp.reply-to is carried by the canonical ReplyTo, which is rendered
	// as an AMQP address; other protocols' keys are not known to lose
	// anything.
	return 0
}

// ingress is what messageFromAMQP needs besides the message.
type ingress struct {
	Addr   address.Address
	Origin message.Origin // from the authenticated connection
	Now    time.Time
	Lost   lossSink
}

// messageFromAMQP maps a decoded AMQP message to a canonical one
// (docs/mapping.md, AMQP → canonical). am must have been decoded with
// aliasing (amqpmsg.Message.Unmarshal) from a buffer the message then
// owns: Body and the Native bytes are slices of it. user-id is checked by
// the caller.
func messageFromAMQP(am *amqpmsg.Message, in ingress) (*message.Message, error) {
	m := &message.Message{
		Address:   in.Addr,
		Priority:  message.DefaultPriority,
		CreatedAt: in.Now.Truncate(time.Millisecond),
	}
	m.Annotations.Origin = in.Origin
	m.Annotations.Native = make(message.Headers, 0, 4)

	head, body, err := splitBare(am.Bare)
	if err != nil {
		return nil, err
	}
	m.Annotations.Native.Add(nativeBareHead, message.Bytes(head))
	switch {
	case am.BodyKind == amqpmsg.BodyData && len(am.Data) == 1:
		m.Body = suffixContent(body, am.Data[0], &m.Annotations.Native, "")
	case am.BodyKind == amqpmsg.BodyValue:
		switch v := am.Value.(type) {
		case string:
			m.Body = suffixContent(body, []byte(v), &m.Annotations.Native, bodyValueString)
		case []byte:
			m.Body = suffixContent(body, v, &m.Annotations.Native, bodyValueBinary)
		default:
			m.Body = body
			m.Annotations.Native.Add(nativeBody, message.String(bodyValue))
		}
	case am.BodyKind == amqpmsg.BodySequence:
		m.Body = body
		m.Annotations.Native.Add(nativeBody, message.String(bodySequence))
	case am.BodyKind == amqpmsg.BodyData:
		m.Body = body
		m.Annotations.Native.Add(nativeBody, message.String(bodyDataSections))
	default:
		m.Annotations.Native.Add(nativeBody, message.String(bodyNone))
	}

	var expires time.Time
	if h := am.Header; h != nil {
		m.Durable = h.Durable
		prio := h.PriorityOrDefault()
		if prio > message.MaxPriority {
			in.Lost.lost(message.LostPriority)
			prio = message.MaxPriority
		}
		m.Priority = prio
		if ttl, ok := h.TTL.Get(); ok {
			expires = in.Now.Add(time.Duration(ttl) * time.Millisecond)
		}
		m.FirstAcquirer = h.FirstAcquirer
	}
	if m.Durable {
		m.Annotations.QoS = 1
	}
	if p := am.Properties; p != nil {
		if p.MessageID != nil {
			v, typ := idText(p.MessageID)
			m.Annotations.Native.Add(nativeMessageID, v)
			if typ != "" {
				m.Annotations.Native.Add(nativeMsgIDType, message.String(typ))
			}
		}
		if p.CorrelationID != nil {
			v, typ := idText(p.CorrelationID)
			if v.Kind() == message.KindBytes {
				m.CorrelationID = v.BytesValue()
				typ = "binary"
			} else {
				m.CorrelationID = []byte(v.Str())
			}
			if typ != "" {
				m.Annotations.Native.Add(nativeCorrIDType, message.String(typ))
			}
		}
		m.Subject = p.Subject
		if p.ReplyTo != "" {
			m.ReplyTo = readReplyTo(p.ReplyTo)
			if renderReplyTo(m.ReplyTo) != p.ReplyTo {
				m.Annotations.Native.Add(nativeReplyTo, message.String(p.ReplyTo))
			}
		}
		m.ContentType = string(p.ContentType)
		m.ContentEncoding = string(p.ContentEncoding)
		if t := p.AbsoluteExpiryTime; !t.IsZero() && (expires.IsZero() || t.Before(expires)) {
			expires = t
		}
		if !p.CreationTime.IsZero() {
			m.CreatedAt = p.CreationTime
		}
		m.GroupID = p.GroupID
		if v, ok := p.GroupSequence.Get(); ok {
			m.Annotations.Native.Add(nativeGroupSeq, message.Int(int64(v)))
		}
		if p.ReplyToGroupID != "" {
			m.Annotations.Native.Add(nativeReplyGroup, message.String(p.ReplyToGroupID))
		}
	}
	m.Expires = expires

	if len(am.ApplicationProperties) > 0 {
		m.Headers = make(message.Headers, 0, len(am.ApplicationProperties))
	}
	for _, p := range am.ApplicationProperties {
		k, ok := mapKey(p.Key)
		if !ok {
			in.Lost.lost(message.LostAppProperties)
			continue
		}
		v, ok := headerValue(p.Value)
		if !ok {
			in.Lost.lost(message.LostAppProperties)
			continue
		}
		if k == propTraceparent && m.Annotations.Trace == "" && v.Kind() == message.KindString {
			m.Annotations.Trace = v.Str()
		}
		m.Headers = append(m.Headers, message.Header{Key: k, Value: v})
	}
	nApp := len(m.Headers)
	for _, p := range am.MessageAnnotations {
		k, ok := mapKey(p.Key)
		if !ok || !strings.HasPrefix(k, annotationPrefix) {
			// Keys without x- are reserved for the specification (§3.2.10).
			in.Lost.lost(message.LostMessageAnnotations)
			continue
		}
		switch {
		case strings.HasPrefix(k, annOriginPrefix):
			continue // the broker's, never the client's
		case k == annRetain || k == annRetained:
			if b, ok := p.Value.(bool); ok {
				m.Annotations.Retain = b
				continue
			}
		}
		v, ok := headerValue(p.Value)
		if !ok {
			in.Lost.lost(message.LostMessageAnnotations)
			continue
		}
		m.Headers = append(m.Headers, message.Header{Key: k, Value: v})
	}
	if len(m.Headers) > nApp {
		m.Annotations.Native.Add(nativeAppProps, message.Int(int64(nApp)))
	}
	if len(am.DeliveryAnnotations) > 0 {
		in.Lost.lost(message.LostDeliveryAnnotations)
	}
	if len(am.Footer) > 0 {
		in.Lost.lost(message.LostFooter)
	}
	return m, nil
}

// splitBare splits an encoded bare message into its properties and
// application-properties sections (head) and its body sections.
func splitBare(bare []byte) (head, body []byte, err error) {
	d := encoding.NewDecoder(bare)
	for d.Len() > 0 {
		code, name, err := d.PeekDescriptor()
		if err != nil {
			return nil, nil, err
		}
		if code != amqpmsg.DescriptorProperties && name != amqpmsg.SymbolProperties &&
			code != amqpmsg.DescriptorApplicationProperties && name != amqpmsg.SymbolApplicationProperties {
			break
		}
		if err := d.Skip(); err != nil {
			return nil, nil, err
		}
	}
	off := d.Offset()
	return bare[:off:off], bare[off:], nil
}

// suffixContent returns content as a slice of the encoded section (whose
// end it is) and records the bytes before it and the body form.
func suffixContent(section, content []byte, native *message.Headers, form string) []byte {
	n := len(section) - len(content)
	if n < 0 || string(section[n:]) != string(content) {
		// Not the section's tail (cannot happen with our decoder): keep the
		// content, without the header that would restore the section.
		if form != "" {
			native.Add(nativeBody, message.String(form))
		}
		return content
	}
	native.Add(nativeBodyHeader, message.Bytes(section[:n:n]))
	if form != "" {
		native.Add(nativeBody, message.String(form))
	}
	return section[n:]
}

// idText renders a message-id or correlation-id (§3.2.11–§3.2.14): a
// string as is, a binary as bytes, a ulong in decimal and a uuid in its
// 8-4-4-4-12 form, with the type that restores it.
func idText(v any) (message.Value, string) {
	switch x := v.(type) {
	case string:
		return message.String(x), ""
	case []byte:
		return message.Bytes(x), ""
	case uint64:
		return message.String(strconv.FormatUint(x, 10)), "ulong"
	case encoding.UUID:
		return message.String(x.String()), "uuid"
	case encoding.Symbol:
		return message.String(string(x)), ""
	}
	return message.String(""), ""
}

// idValue is idText's inverse: the AMQP value of an id rendered as text
// (or bytes) with its type marker.
func idValue(text []byte, typ string, isBytes bool) any {
	switch typ {
	case "ulong":
		if n, err := strconv.ParseUint(string(text), 10, 64); err == nil {
			return n
		}
	case "uuid":
		if u, ok := parseUUID(string(text)); ok {
			return u
		}
	case "binary":
		return text
	}
	if isBytes || !utf8.Valid(text) {
		return text
	}
	return string(text)
}

func parseUUID(s string) (encoding.UUID, bool) {
	var u encoding.UUID
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return u, false
	}
	for i := range u {
		if !isHex(s[2*i]) || !isHex(s[2*i+1]) {
			return u, false
		}
		u[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return u, true
}

func mapKey(k any) (string, bool) {
	switch s := k.(type) {
	case string:
		return s, true
	case encoding.Symbol:
		return string(s), true
	}
	return "", false
}

// headerValue maps an AMQP simple value to a typed header value; lists,
// maps, arrays, decimals and described values have no canonical form.
// Symbols and chars become strings, unsigned integers above the int64
// range do not map.
func headerValue(v any) (message.Value, bool) {
	switch x := v.(type) {
	case nil:
		return message.Null(), true
	case string:
		return message.String(x), true
	case encoding.Symbol:
		return message.String(string(x)), true
	case encoding.Char:
		return message.String(string(rune(x))), true
	case bool:
		return message.Bool(x), true
	case int8:
		return message.Int(int64(x)), true
	case int16:
		return message.Int(int64(x)), true
	case int32:
		return message.Int(int64(x)), true
	case int64:
		return message.Int(x), true
	case uint8:
		return message.Int(int64(x)), true
	case uint16:
		return message.Int(int64(x)), true
	case uint32:
		return message.Int(int64(x)), true
	case uint64:
		if x > math.MaxInt64 {
			return message.Value{}, false
		}
		return message.Int(int64(x)), true
	case float32:
		return message.Float(float64(x)), true
	case float64:
		return message.Float(x), true
	case time.Time:
		return message.Time(x), true
	case encoding.UUID:
		return message.UUID(x), true
	case []byte:
		return message.Bytes(x), true
	}
	return message.Value{}, false
}

// appendHeaderValue encodes a header value: string, long, double,
// boolean, binary, timestamp, uuid or null.
func appendHeaderValue(dst []byte, v message.Value) []byte {
	switch v.Kind() {
	case message.KindString:
		return encoding.AppendString(dst, v.Str())
	case message.KindInt:
		return encoding.AppendLong(dst, v.IntValue())
	case message.KindFloat:
		return encoding.AppendDouble(dst, v.FloatValue())
	case message.KindBool:
		return encoding.AppendBool(dst, v.BoolValue())
	case message.KindBytes:
		return encoding.AppendBinary(dst, v.BytesValue())
	case message.KindTime:
		return encoding.AppendTimestamp(dst, v.TimeValue())
	case message.KindUUID:
		var u encoding.UUID
		copy(u[:], v.BytesValue())
		return encoding.AppendUUID(dst, u)
	}
	return encoding.AppendNull(dst)
}

// egress is what appendMessage needs besides the message.
type egress struct {
	// DeliveryCount is the delivery's failed attempts (header.delivery-count).
	DeliveryCount uint32
	// FirstDelivery says the message was never handed out before: header
	// first-acquirer is then true, "this message has not been acquired by
	// any other link" (§3.2.1). Otherwise (released earlier, or recovered
	// after a restart that lost its settlement) it is false, "MAY have
	// previously been acquired": AMQP's redelivered signal. The
	// publisher's first-acquirer says nothing about this broker's
	// deliveries, so it is not forwarded.
	FirstDelivery bool
	// To renders the message's address as properties.to when the bare
	// message is built rather than forwarded; nil leaves to out.
	To   func(address.Address) string
	Lost lossSink
	// Now is the time ttl is computed from; zero means time.Now.
	Now time.Time
	// Rebuild says m is a transformation of the delivered message
	// (exchange.Delivery.Transformed): the bare message is built from its
	// fields, never forwarded from the bytes an AMQP publisher sent
	// (Native "amqp.bare-head"), which describe the original.
	Rebuild bool
	// NewBody, with Rebuild, says the transformation changed the body: it
	// goes out as one data section whatever the original's body form was.
	NewBody bool
}

// appendMessage encodes m as an AMQP message (docs/mapping.md, canonical
// → AMQP): a header and message-annotations of our own, then the bare
// message, forwarded byte for byte when m came from AMQP and its body is
// intact, else built from the canonical fields.
func appendMessage(dst []byte, m *message.Message, e egress) ([]byte, error) {
	var err error
	if dst, err = appendHeader(dst, m, e); err != nil {
		return dst, err
	}
	fromAMQP := m.Annotations.Origin.Protocol == message.ProtocolAMQP
	head, hasHead := m.Annotations.Native.Get(nativeBareHead)
	form := m.Annotations.Native.GetString(nativeBody)
	if e.Rebuild && e.NewBody {
		form = ""
	}
	bodyHeader, _ := m.Annotations.Native.Get(nativeBodyHeader)
	exact := !e.Rebuild && hasHead && bodyIntact(form, bodyHeader.BytesValue(), len(m.Body))
	nApp := len(m.Headers)
	if exact {
		if v, ok := m.Annotations.Native.Get(nativeAppProps); ok && v.IntValue() >= 0 && v.IntValue() <= int64(len(m.Headers)) {
			nApp = int(v.IntValue())
		}
	}
	dst = appendAnnotations(dst, m, exact, nApp)
	if exact {
		dst = append(dst, head.BytesValue()...)
		return appendBody(dst, m, form, bodyHeader.BytesValue(), e.Lost), nil
	}
	if !fromAMQP {
		for _, h := range m.Annotations.Native {
			if !strings.HasPrefix(h.Key, nativePrefix) {
				e.Lost.lost(nativeLoss(h.Key))
			}
		}
	}
	if dst, err = appendProperties(dst, m, e); err != nil {
		return dst, err
	}
	dst = appendApplicationProperties(dst, m, e.Lost)
	return appendBody(dst, m, form, nil, e.Lost), nil
}

// appendHeader writes the header section when a field differs from its
// default (§3.2.1).
func appendHeader(dst []byte, m *message.Message, e egress) ([]byte, error) {
	h := amqpmsg.Header{
		Durable:       m.Durable,
		FirstAcquirer: e.FirstDelivery,
		DeliveryCount: e.DeliveryCount,
	}
	if m.Priority != message.DefaultPriority {
		h.Priority = encoding.Some(m.Priority)
	}
	if !m.Expires.IsZero() {
		now := e.Now
		if now.IsZero() {
			now = time.Now()
		}
		left := m.Expires.Sub(now).Milliseconds()
		h.TTL = encoding.Some(uint32(min(max(left, 1), math.MaxUint32)))
	}
	if !h.Durable && !h.FirstAcquirer && h.DeliveryCount == 0 && !h.Priority.Set && !h.TTL.Set {
		return dst, nil
	}
	return h.Marshal(dst)
}

// appendAnnotations writes the message-annotations section (§3.2.3):
// provenance, a retained delivery, a dead letter's reason, and the x-
// headers (those after the first nApp when the bare message is
// forwarded, since the others are in it).
func appendAnnotations(dst []byte, m *message.Message, exact bool, nApp int) []byte {
	start := len(dst)
	dst = encoding.AppendDescriptor(dst, amqpmsg.DescriptorMessageAnnotations)
	dst, c := encoding.BeginMap(dst)
	n := 0
	add := func(k string) {
		dst = encoding.AppendSymbol(dst, encoding.Symbol(k))
		n++
	}
	o := m.Annotations.Origin
	if o.Protocol != "" {
		add(annOriginProtocol)
		dst = encoding.AppendString(dst, string(o.Protocol))
	}
	if o.ClientID != "" {
		add(annOriginClient)
		dst = encoding.AppendString(dst, o.ClientID)
	}
	if o.User != "" {
		add(annOriginUser)
		dst = encoding.AppendString(dst, o.User)
	}
	if m.Annotations.RetainedDelivery {
		add(annRetained)
		dst = encoding.AppendBool(dst, true)
	}
	if dl := m.Annotations.DeadLetter; dl != nil {
		add(annDeadReason)
		dst = encoding.AppendString(dst, dl.Reason)
		add(annDeadQueue)
		dst = encoding.AppendString(dst, dl.Queue)
	}
	for i, h := range m.Headers {
		if exact && i < nApp || !strings.HasPrefix(h.Key, annotationPrefix) || strings.HasPrefix(h.Key, annOriginPrefix) {
			continue
		}
		add(h.Key)
		dst = appendHeaderValue(dst, h.Value)
	}
	if n == 0 {
		return dst[:start]
	}
	return c.End(dst, 2*n)
}

// appendProperties builds the properties section (§3.2.4).
func appendProperties(dst []byte, m *message.Message, e egress) ([]byte, error) {
	nat := m.Annotations.Native
	p := amqpmsg.Properties{
		Subject:            m.Subject,
		ReplyTo:            egressReplyTo(m),
		ContentType:        encoding.Symbol(m.ContentType),
		ContentEncoding:    encoding.Symbol(m.ContentEncoding),
		AbsoluteExpiryTime: m.Expires,
		CreationTime:       m.CreatedAt,
		GroupID:            m.GroupID,
		ReplyToGroupID:     nat.GetString(nativeReplyGroup),
	}
	if v, ok := nat.Get(nativeMessageID); ok {
		if v.Kind() == message.KindBytes {
			p.MessageID = idValue(v.BytesValue(), "binary", true)
		} else {
			p.MessageID = idValue([]byte(v.Str()), nat.GetString(nativeMsgIDType), false)
		}
	} else if m.ID != "" {
		p.MessageID = m.ID
	}
	if m.UserID != "" {
		p.UserID = []byte(m.UserID)
	}
	if e.To != nil && len(m.Address) > 0 {
		p.To = e.To(m.Address)
	}
	if len(m.CorrelationID) > 0 {
		p.CorrelationID = idValue(m.CorrelationID, nat.GetString(nativeCorrIDType), false)
	}
	if v, ok := nat.Get(nativeGroupSeq); ok && v.IntValue() >= 0 && v.IntValue() <= math.MaxUint32 {
		p.GroupSequence = encoding.Some(uint32(v.IntValue()))
	}
	return p.Marshal(dst)
}

// egressReplyTo is an AMQP sender's reply-to as written, else the
// canonical reply-to rendered as an AMQP address.
func egressReplyTo(m *message.Message) string {
	if v, ok := m.Annotations.Native.Get(nativeReplyTo); ok && v.Kind() == message.KindString {
		return v.Str()
	}
	return renderReplyTo(m.ReplyTo)
}

// appendApplicationProperties builds the application-properties section
// (§3.2.5) from the headers without the x- prefix (those are
// message-annotations); a key that repeats keeps its first value, and the
// trace context is added as traceparent when no header carries it.
func appendApplicationProperties(dst []byte, m *message.Message, lost lossSink) []byte {
	start := len(dst)
	dst = encoding.AppendDescriptor(dst, amqpmsg.DescriptorApplicationProperties)
	dst, c := encoding.BeginMap(dst)
	n := 0
	hasTrace := false
	for i, h := range m.Headers {
		if strings.HasPrefix(h.Key, annotationPrefix) {
			continue
		}
		if dup(m.Headers[:i], h.Key) {
			lost.lost(message.LostHeaders)
			continue
		}
		hasTrace = hasTrace || h.Key == propTraceparent
		dst = encoding.AppendString(dst, h.Key)
		dst = appendHeaderValue(dst, h.Value)
		n++
	}
	if t := m.Annotations.Trace; t != "" && !hasTrace {
		dst = encoding.AppendString(dst, propTraceparent)
		dst = encoding.AppendString(dst, t)
		n++
	}
	if n == 0 {
		return dst[:start]
	}
	return c.End(dst, 2*n)
}

// dup reports whether key is among hs (headers without the x- prefix).
func dup(hs message.Headers, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}

// bodyIntact reports whether the body still matches the section header
// recorded at ingress: the recorded size must be the body's.
func bodyIntact(form string, hdr []byte, n int) bool {
	switch form {
	case "", bodyValueString, bodyValueBinary:
		return contentSize(hdr) == n
	case bodyNone:
		return n == 0
	}
	return true // encoded sections, carried whole
}

// contentSize reads the size at the end of a section header: a vbin8/str8
// or vbin32/str32 constructor and its size (§1.6.19, §1.6.20); -1 when
// there is none.
func contentSize(h []byte) int {
	if n := len(h); n >= 2 && (h[n-2] == encoding.CodeVbin8 || h[n-2] == encoding.CodeStr8) {
		return int(h[n-1])
	}
	if n := len(h); n >= 5 && (h[n-5] == encoding.CodeVbin32 || h[n-5] == encoding.CodeStr32) {
		return int(binary.BigEndian.Uint32(h[n-4:]))
	}
	return -1
}

// appendBody writes the body sections: the recorded section header and
// the content, or a section built for the form.
func appendBody(dst []byte, m *message.Message, form string, hdr []byte, lost lossSink) []byte {
	if hdr != nil {
		dst = append(dst, hdr...)
		return append(dst, m.Body...)
	}
	switch form {
	case bodyNone:
		if len(m.Body) == 0 {
			return dst
		}
	case bodyValue, bodySequence, bodyDataSections:
		return append(dst, m.Body...)
	case bodyValueString:
		dst = encoding.AppendDescriptor(dst, amqpmsg.DescriptorAMQPValue)
		if utf8.Valid(m.Body) {
			return encoding.AppendString(dst, string(m.Body))
		}
		lost.lost(message.LostBodyType)
		return encoding.AppendBinary(dst, m.Body)
	case bodyValueBinary:
		dst = encoding.AppendDescriptor(dst, amqpmsg.DescriptorAMQPValue)
		return encoding.AppendBinary(dst, m.Body)
	}
	dst = encoding.AppendDescriptor(dst, amqpmsg.DescriptorData)
	return encoding.AppendBinary(dst, m.Body)
}
