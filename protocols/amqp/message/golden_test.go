package message

import (
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

func b(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			out = append(out, byte(v))
		case string:
			out = append(out, v...)
		case []byte:
			out = append(out, v...)
		}
	}
	return out
}

var (
	secHeader  = b(0x00, 0x53, 0x70, 0xc0, 0x02, 0x01, 0x41)                                    // header{durable} §3.2.1
	secDA      = b(0x00, 0x53, 0x71, 0xc1, 0x05, 0x02, 0xa3, 0x01, "d", 0x43)                   // delivery-annotations{d: 0} §3.2.2
	secMA      = b(0x00, 0x53, 0x72, 0xc1, 0x06, 0x02, 0xa3, 0x01, "m", 0x52, 0x07)             // message-annotations{m: 7} §3.2.3
	secProps   = b(0x00, 0x53, 0x73, 0xc0, 0x09, 0x03, 0xa1, 0x02, "id", 0x40, 0xa1, 0x01, "q") // properties{message-id "id", to "q"} §3.2.4
	secApp     = b(0x00, 0x53, 0x74, 0xc1, 0x07, 0x02, 0xa1, 0x01, "k", 0xa1, 0x01, "v")        // application-properties{k: "v"} §3.2.5
	secData    = b(0x00, 0x53, 0x75, 0xa0, 0x05, "hello")                                       // data §3.2.6
	secSeq     = b(0x00, 0x53, 0x76, 0xc0, 0x03, 0x02, 0x43, 0x41)                              // amqp-sequence [0, true] §3.2.7
	secValue   = b(0x00, 0x53, 0x77, 0xa1, 0x03, "abc")                                         // amqp-value "abc" §3.2.8
	secFooter  = b(0x00, 0x53, 0x78, 0xc1, 0x01, 0x00)                                          // footer{} §3.2.9
	secNullVal = b(0x00, 0x53, 0x77, 0x40)                                                      // amqp-value null
)

// messageGolden is the message codec's golden table, hand-computed from
// §3.2 and the Part 1 encodings; it feeds the decode and encode tests and
// the fuzz corpus.
var messageGoldens = []struct {
	name      string
	raw       []byte
	msg       Message
	bare      []byte
	canonical bool
}{
	{"data only", secData,
		Message{BodyKind: BodyData, Data: [][]byte{[]byte("hello")}}, secData, true},
	{"all sections, data body", b(secHeader, secDA, secMA, secProps, secApp, secData, secData, secFooter),
		Message{
			Header:                &Header{Durable: true},
			DeliveryAnnotations:   Annotations{{Key: encoding.Symbol("d"), Value: uint32(0)}},
			MessageAnnotations:    Annotations{{Key: encoding.Symbol("m"), Value: uint32(7)}},
			Properties:            &Properties{MessageID: "id", To: "q"},
			ApplicationProperties: encoding.Map{{Key: "k", Value: "v"}},
			BodyKind:              BodyData, Data: [][]byte{[]byte("hello"), []byte("hello")},
			Footer: Annotations{},
		}, b(secProps, secApp, secData, secData), true},
	{"amqp-sequence body", b(secSeq, secSeq),
		Message{BodyKind: BodySequence, Sequence: [][]any{{uint32(0), true}, {uint32(0), true}}}, b(secSeq, secSeq), true},
	{"amqp-value body", b(secProps, secValue),
		Message{Properties: &Properties{MessageID: "id", To: "q"}, BodyKind: BodyValue, Value: "abc"}, b(secProps, secValue), true},
	{"amqp-value null", secNullVal, Message{BodyKind: BodyValue}, secNullVal, true},
	{"annotations only", b(secHeader, secMA),
		Message{Header: &Header{Durable: true}, MessageAnnotations: Annotations{{Key: encoding.Symbol("m"), Value: uint32(7)}}}, nil, true},
	{"symbolic section descriptor §1.5", b(0x00, 0xa3, 0x10, "amqp:data:binary", 0xa0, 0x01, "x"),
		Message{BodyKind: BodyData, Data: [][]byte{[]byte("x")}}, b(0x00, 0xa3, 0x10, "amqp:data:binary", 0xa0, 0x01, "x"), false},
}

var badMessages = []struct {
	name string
	raw  []byte
	err  error
}{
	{"header after properties", b(secProps, secHeader), ErrSectionOrder},
	{"two headers", b(secHeader, secHeader), ErrSectionOrder},
	{"data then value", b(secData, secValue), ErrSectionOrder},
	{"two values", b(secValue, secValue), ErrSectionOrder},
	{"section after footer", b(secFooter, secData), ErrSectionOrder},
	{"unknown section", b(0x00, 0x53, 0x79, 0x40), encoding.ErrTypeMismatch},
	{"not described", b(0xa0, 0x01, "x"), encoding.ErrTypeMismatch},
	{"data not binary", b(0x00, 0x53, 0x75, 0xa1, 0x01, "x"), encoding.ErrTypeMismatch},
	{"truncated", secData[:len(secData)-1], encoding.ErrTruncated},
}
