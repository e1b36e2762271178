package message

import (
	"errors"
	"fmt"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

// BodyKind says which of the three body forms a message uses (§3.2).
type BodyKind uint8

// Body kinds. The zero value, BodyNone, lets Marshal infer the kind from
// the body fields that are set.
const (
	BodyNone     BodyKind = iota
	BodyData              // one or more data sections (§3.2.6)
	BodySequence          // one or more amqp-sequence sections (§3.2.7)
	BodyValue             // a single amqp-value section (§3.2.8)
)

func (k BodyKind) String() string {
	switch k {
	case BodyData:
		return "data"
	case BodySequence:
		return "amqp-sequence"
	case BodyValue:
		return "amqp-value"
	}
	return "none"
}

// ErrSectionOrder means a message's sections are out of the order §3.2
// requires, repeated, or mix body kinds.
var ErrSectionOrder = errors.New("amqp: message sections out of order")

// Message is an annotated AMQP message (§3.2): the bare message (Properties,
// ApplicationProperties and the body) with the annotations carried before
// it (Header, DeliveryAnnotations, MessageAnnotations) and after it
// (Footer). A nil pointer, map or slice means the section is absent.
type Message struct {
	Header              *Header     // §3.2.1
	DeliveryAnnotations Annotations // §3.2.2; consumed by the next node
	MessageAnnotations  Annotations // §3.2.3

	Properties            *Properties  // §3.2.4
	ApplicationProperties encoding.Map // §3.2.5; keys are strings

	// BodyKind is the body form. Decoding sets it; when encoding, BodyNone
	// means: data if Data is non-nil, else amqp-sequence if Sequence is
	// non-nil, else amqp-value if Value is non-nil, else no body section.
	BodyKind BodyKind
	Data     [][]byte // data sections, when BodyKind is BodyData
	Sequence [][]any  // amqp-sequence sections, when BodyKind is BodySequence
	Value    any      // the amqp-value, when BodyKind is BodyValue; may be nil (AMQP null)

	Footer Annotations // §3.2.9

	// Bare is the exact encoding of the bare message as decoded: the
	// properties, application-properties and body sections (§3.2). The bare
	// message is immutable (§3.2), so while Bare is non-nil Marshal writes it
	// verbatim instead of encoding Properties, ApplicationProperties and the
	// body, and a forwarded message stays byte-identical. Set it to nil after
	// changing any of those fields.
	Bare []byte
}

// Unmarshal decodes an annotated message from b, typically the payload of a
// transfer or the concatenated payloads of a multi-frame delivery (§2.6.12).
// The message aliases b: Bare and the Data sections are sub-slices of it,
// so b must not be modified while m is in use (UnmarshalBinary copies).
// Sections must come in the order of §3.2; each appears at most once except
// data and amqp-sequence, which repeat, and the body forms do not mix.
func (m *Message) Unmarshal(b []byte) error {
	*m = Message{}
	var dec encoding.Decoder
	dec.Reset(b)
	dec.Alias = true
	d := &dec
	bareStart, bareEnd := -1, -1
	rank := -1 // order of the last section (§3.2): header 0 ... footer 6
	for d.Len() > 0 {
		start := d.Offset()
		code, name, err := d.PeekDescriptor()
		if err != nil {
			return fmt.Errorf("message section at offset %d: %w", start, err)
		}
		var r int
		switch {
		case code == DescriptorHeader || name == SymbolHeader:
			r = 0
		case code == DescriptorDeliveryAnnotations || name == SymbolDeliveryAnnotations:
			r = 1
		case code == DescriptorMessageAnnotations || name == SymbolMessageAnnotations:
			r = 2
		case code == DescriptorProperties || name == SymbolProperties:
			r = 3
		case code == DescriptorApplicationProperties || name == SymbolApplicationProperties:
			r = 4
		case code == DescriptorData || name == SymbolData:
			r = 5
		case code == DescriptorAMQPSequence || name == SymbolAMQPSequence:
			r = 6
		case code == DescriptorAMQPValue || name == SymbolAMQPValue:
			r = 7
		case code == DescriptorFooter || name == SymbolFooter:
			r = 8
		default:
			return &encoding.Error{Offset: start, Err: encoding.ErrTypeMismatch,
				Detail: fmt.Sprintf("unknown message section %#x %q", code, name)}
		}
		repeatable := (r == 5 || r == 6) && r == rank
		if r <= rank && !repeatable || (rank >= 5 && rank <= 7 && r >= 5 && r <= 7 && r != rank) {
			return &encoding.Error{Offset: start, Err: ErrSectionOrder, Detail: fmt.Sprintf("section %#x after %#x", code, rank)}
		}
		rank = r
		if r >= 3 && r <= 7 && bareStart < 0 {
			bareStart = start
		}
		if err := m.decodeSection(d, r); err != nil {
			return err
		}
		if r >= 3 && r <= 7 {
			bareEnd = d.Offset()
		}
	}
	if bareStart >= 0 {
		m.Bare = b[bareStart:bareEnd:bareEnd]
	}
	return nil
}

func (m *Message) decodeSection(d *encoding.Decoder, r int) error {
	var err error
	switch r {
	case 0:
		m.Header = new(Header)
		return m.Header.DecodeFrom(d)
	case 3:
		m.Properties = new(Properties)
		return m.Properties.DecodeFrom(d)
	}
	// The remaining sections are restricted types: a descriptor and a value.
	if _, _, err = d.ReadDescriptor(); err != nil {
		return err
	}
	switch r {
	case 1:
		m.DeliveryAnnotations, err = mapOrNull(d, "delivery-annotations")
	case 2:
		m.MessageAnnotations, err = mapOrNull(d, "message-annotations")
	case 4:
		m.ApplicationProperties, err = mapOrNull(d, "application-properties")
	case 5:
		var b []byte
		if b, err = d.Binary(); err == nil {
			m.BodyKind = BodyData
			m.Data = append(m.Data, b)
		}
		err = encoding.WithField(err, "data")
	case 6:
		var l []any
		if l, err = d.List(); err == nil {
			m.BodyKind = BodySequence
			m.Sequence = append(m.Sequence, l)
		}
		err = encoding.WithField(err, "amqp-sequence")
	case 7:
		m.BodyKind = BodyValue
		m.Value, err = d.Value()
		err = encoding.WithField(err, "amqp-value")
	case 8:
		m.Footer, err = mapOrNull(d, "footer")
	}
	return err
}

// mapOrNull decodes a map section; a null map is read as an empty one.
func mapOrNull(d *encoding.Decoder, field string) (encoding.Map, error) {
	if d.TryNull() {
		return encoding.Map{}, nil
	}
	v, err := d.Map()
	return v, encoding.WithField(err, field)
}

// UnmarshalBinary is Unmarshal on a copy of b (encoding.BinaryUnmarshaler).
func (m *Message) UnmarshalBinary(b []byte) error {
	return m.Unmarshal(append([]byte(nil), b...))
}

// Marshal appends the encoding of m to dst: its sections in the order of
// §3.2, with Bare written verbatim when set.
func (m *Message) Marshal(dst []byte) ([]byte, error) {
	var err error
	if m.Header != nil {
		if dst, err = m.Header.Marshal(dst); err != nil {
			return dst, err
		}
	}
	if dst, err = appendMapSection(dst, DescriptorDeliveryAnnotations, m.DeliveryAnnotations); err != nil {
		return dst, encoding.WithField(err, "delivery-annotations")
	}
	if dst, err = appendMapSection(dst, DescriptorMessageAnnotations, m.MessageAnnotations); err != nil {
		return dst, encoding.WithField(err, "message-annotations")
	}
	if m.Bare != nil {
		dst = append(dst, m.Bare...)
	} else if dst, err = m.appendBare(dst); err != nil {
		return dst, err
	}
	if dst, err = appendMapSection(dst, DescriptorFooter, m.Footer); err != nil {
		return dst, encoding.WithField(err, "footer")
	}
	return dst, nil
}

// AppendBare appends the encoding of the bare message built from
// Properties, ApplicationProperties and the body, ignoring Bare.
func (m *Message) AppendBare(dst []byte) ([]byte, error) { return m.appendBare(dst) }

func (m *Message) appendBare(dst []byte) ([]byte, error) {
	var err error
	if m.Properties != nil {
		if dst, err = m.Properties.Marshal(dst); err != nil {
			return dst, err
		}
	}
	if dst, err = appendMapSection(dst, DescriptorApplicationProperties, m.ApplicationProperties); err != nil {
		return dst, encoding.WithField(err, "application-properties")
	}
	kind := m.BodyKind
	if kind == BodyNone {
		switch {
		case m.Data != nil:
			kind = BodyData
		case m.Sequence != nil:
			kind = BodySequence
		case m.Value != nil:
			kind = BodyValue
		}
	}
	switch kind {
	case BodyData:
		for _, b := range m.Data {
			dst = encoding.AppendBinary(encoding.AppendDescriptor(dst, DescriptorData), b)
		}
	case BodySequence:
		for _, l := range m.Sequence {
			if dst, err = encoding.AppendValue(encoding.AppendDescriptor(dst, DescriptorAMQPSequence), l); err != nil {
				return dst, encoding.WithField(err, "amqp-sequence")
			}
		}
	case BodyValue:
		if dst, err = encoding.AppendValue(encoding.AppendDescriptor(dst, DescriptorAMQPValue), m.Value); err != nil {
			return dst, encoding.WithField(err, "amqp-value")
		}
	}
	return dst, nil
}

func appendMapSection(dst []byte, desc uint64, m encoding.Map) ([]byte, error) {
	if m == nil {
		return dst, nil
	}
	return encoding.AppendMap(encoding.AppendDescriptor(dst, desc), m)
}

// MarshalBinary returns the encoding of m (encoding.BinaryMarshaler).
func (m *Message) MarshalBinary() ([]byte, error) { return m.Marshal(nil) }
