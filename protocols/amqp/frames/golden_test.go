package frames

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

// frameGolden is the frame layer's golden byte table, hand-computed from
// OASIS AMQP 1.0 §2.3 (framing), §2.7 (performatives), §5.3 (SASL) and the
// encodings of Part 1. Each case feeds TestReadGolden, TestEncodeGolden
// and the fuzz corpus.
type frameGolden struct {
	name      string
	raw       []byte // whole frame
	typ       Type
	channel   uint16
	body      any    // Performative, SASLBody, or nil for an empty frame
	payload   []byte // after an AMQP performative
	canonical bool   // encoding body (and payload) gives raw
}

var frameGoldens = []frameGolden{
	{name: "heartbeat §2.3.2", raw: b(0, 0, 0, 8, 2, 0, 0, 0), canonical: true},
	{name: "open §2.7.1", raw: b(0, 0, 0, 0x11, 2, 0, 0, 0,
		0x00, 0x53, 0x10, 0xc0, 0x04, 0x01, 0xa1, 0x01, "c"),
		body: &Open{ContainerID: "c"}, canonical: true},
	{name: "open full", raw: b(0, 0, 0, 0x35, 2, 0, 0, 0,
		0x00, 0x53, 0x10, 0xc0, 0x28, 0x0a,
		0xa1, 0x01, "c", // container-id
		0xa1, 0x04, "host", // hostname
		0x70, 0x00, 0x01, 0x00, 0x00, // max-frame-size 65536
		0x60, 0x00, 0xff, // channel-max 255
		0x70, 0x00, 0x00, 0x75, 0x30, // idle-time-out 30000
		0x40, 0x40, // locales
		0xa3, 0x03, "ANO", // offered-capabilities: a single symbol (§1.4)
		0x40,                                                // desired-capabilities
		0xc1, 0x07, 0x02, 0xa3, 0x01, "k", 0xa1, 0x01, "v"), // properties
		body: &Open{ContainerID: "c", Hostname: "host", MaxFrameSize: encoding.Some[uint32](65536),
			ChannelMax: encoding.Some[uint16](255), IdleTimeOut: encoding.Some[Milliseconds](30000),
			OfferedCapabilities: []encoding.Symbol{"ANO"}, Properties: Fields{{Key: encoding.Symbol("k"), Value: "v"}}}},
	{name: "open symbolic descriptor §1.5", raw: b(0, 0, 0, 0x1f, 2, 0, 0, 0,
		0x00, 0xa3, 0x0e, "amqp:open:list", 0xc0, 0x04, 0x01, 0xa1, 0x01, "c"),
		body: &Open{ContainerID: "c"}},
	{name: "begin §2.7.2", raw: b(0, 0, 0, 0x14, 2, 0, 0, 1,
		0x00, 0x53, 0x11, 0xc0, 0x07, 0x04, 0x40, 0x43, 0x52, 0x64, 0x52, 0x64),
		channel: 1, body: &Begin{IncomingWindow: 100, OutgoingWindow: 100}, canonical: true},
	{name: "attach §2.7.3", raw: b(0, 0, 0, 0x23, 2, 0, 0, 0,
		0x00, 0x53, 0x12, 0xc0, 0x16, 0x07,
		0xa1, 0x02, "l1", // name
		0x43,       // handle 0
		0x41,       // role receiver
		0x40, 0x40, // settle modes: defaults
		0x00, 0x53, 0x28, 0xc0, 0x04, 0x01, 0xa1, 0x01, "q", // source{address "q"}
		0x00, 0x53, 0x29, 0x45), // target{}
		body: &Attach{Name: "l1", Role: RoleReceiver, Source: &Source{Address: "q"}, Target: &Target{}}, canonical: true},
	{name: "flow §2.7.4", raw: b(0, 0, 0, 0x1b, 2, 0, 0, 0,
		0x00, 0x53, 0x13, 0xc0, 0x0e, 0x07,
		0x43, 0x52, 0x0a, 0x43, 0x70, 0x7f, 0xff, 0xff, 0xff, 0x43, 0x43, 0x52, 0x32),
		body: &Flow{NextIncomingID: encoding.Some[TransferNumber](0), IncomingWindow: 10, OutgoingWindow: 0x7fffffff,
			Handle: encoding.Some[Handle](0), DeliveryCount: encoding.Some[SequenceNo](0), LinkCredit: encoding.Some[uint32](50)}, canonical: true},
	{name: "transfer §2.7.5 with payload", raw: b(0, 0, 0, 0x1a, 2, 0, 0, 0,
		0x00, 0x53, 0x14, 0xc0, 0x08, 0x05, 0x43, 0x43, 0xa0, 0x01, 0x01, 0x43, 0x42,
		0x00, 0x53, 0x75, 0xa0, 0x00), // payload: an empty data section
		body: &Transfer{DeliveryID: encoding.Some[DeliveryNumber](0), DeliveryTag: DeliveryTag{1},
			MessageFormat: encoding.Some[MessageFormat](0), Settled: encoding.Some(false)},
		payload: b(0x00, 0x53, 0x75, 0xa0, 0x00), canonical: true},
	{name: "disposition §2.7.6", raw: b(0, 0, 0, 0x16, 2, 0, 0, 0,
		0x00, 0x53, 0x15, 0xc0, 0x09, 0x05, 0x41, 0x43, 0x40, 0x41, 0x00, 0x53, 0x24, 0x45),
		body: &Disposition{Role: RoleReceiver, Settled: true, State: &Accepted{}}, canonical: true},
	{name: "disposition rejected §3.4.3", raw: b(0, 0, 0, 0x29, 2, 0, 0, 0,
		0x00, 0x53, 0x15, 0xc0, 0x1c, 0x05, 0x41, 0x52, 0x02, 0x52, 0x03, 0x41,
		0x00, 0x53, 0x25, 0xc0, 0x10, 0x01, 0x00, 0x53, 0x1d, 0xc0, 0x0a, 0x01, 0xa3, 0x07, "x:error"),
		body: &Disposition{Role: RoleReceiver, First: 2, Last: encoding.Some[DeliveryNumber](3), Settled: true,
			State: &Rejected{Error: &Error{Condition: "x:error"}}}, canonical: true},
	{name: "detach §2.7.7", raw: b(0, 0, 0, 0x11, 2, 0, 0, 0, 0x00, 0x53, 0x16, 0xc0, 0x04, 0x02, 0x52, 0x05, 0x41),
		body: &Detach{Handle: 5, Closed: true}, canonical: true},
	{name: "end §2.7.8", raw: b(0, 0, 0, 0x0c, 2, 0, 0, 0, 0x00, 0x53, 0x17, 0x45), body: &End{}, canonical: true},
	{name: "close with error §2.7.9", raw: b(0, 0, 0, 0x31, 2, 0, 0, 0,
		0x00, 0x53, 0x18, 0xc0, 0x24, 0x01,
		0x00, 0x53, 0x1d, 0xc0, 0x1e, 0x02, 0xa3, 0x16, "amqp:connection:forced", 0xa1, 0x03, "bye"),
		body: &Close{Error: &Error{Condition: ConnectionErrorForced, Description: "bye"}}, canonical: true},
	{name: "extended header skipped §2.3.1", raw: b(0, 0, 0, 0x10, 3, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x53, 0x17, 0x45),
		channel: 2, body: &End{}},
	{name: "sasl-mechanisms §5.3.3.1", raw: b(0, 0, 0, 0x22, 2, 1, 0, 0,
		0x00, 0x53, 0x40, 0xc0, 0x15, 0x01, 0xe0, 0x12, 0x02, 0xa3, 0x05, "PLAIN", 0x09, "ANONYMOUS"),
		typ: TypeSASL, body: &SASLMechanisms{SASLServerMechanisms: []encoding.Symbol{"PLAIN", "ANONYMOUS"}}, canonical: true},
	{name: "sasl-init §5.3.3.2", raw: b(0, 0, 0, 0x21, 2, 1, 0, 0,
		0x00, 0x53, 0x41, 0xc0, 0x14, 0x02, 0xa3, 0x05, "PLAIN", 0xa0, 0x0a, 0, "user", 0, "pass"),
		typ: TypeSASL, body: &SASLInit{Mechanism: "PLAIN", InitialResponse: b(0, "user", 0, "pass")}, canonical: true},
	{name: "sasl-response §5.3.3.4", raw: b(0, 0, 0, 0x11, 2, 1, 0, 0, 0x00, 0x53, 0x43, 0xc0, 0x04, 0x01, 0xa0, 0x01, "r"),
		typ: TypeSASL, body: &SASLResponse{Response: []byte("r")}, canonical: true},
	{name: "sasl-outcome §5.3.3.5", raw: b(0, 0, 0, 0x10, 2, 1, 0, 0, 0x00, 0x53, 0x44, 0xc0, 0x03, 0x01, 0x50, 0x00),
		typ: TypeSASL, body: &SASLOutcome{Code: SASLCodeOK}, canonical: true},
}

// badFrames must fail in the reader or the body parser.
var badFrames = []struct {
	name string
	raw  []byte
	err  error
}{
	{"SIZE below 8", b(0, 0, 0, 7, 2, 0, 0, 0), ErrMalformedFrame},
	{"DOFF below 2", b(0, 0, 0, 8, 1, 0, 0, 0), ErrMalformedFrame},
	{"DOFF beyond SIZE", b(0, 0, 0, 8, 3, 0, 0, 0), ErrMalformedFrame},
	{"SIZE above max", b(0, 0, 0x10, 0, 2, 0, 0, 0), ErrFrameTooLarge},
	{"SIZE huge", b(0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0), ErrFrameTooLarge},
	{"open missing container-id §2.7.1", b(0, 0, 0, 0x0c, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0x45), encoding.ErrMissingField},
	{"open null container-id", b(0, 0, 0, 0x0f, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xc0, 0x02, 0x01, 0x40), encoding.ErrMissingField},
	{"unknown performative", b(0, 0, 0, 0x0c, 2, 0, 0, 0, 0x00, 0x53, 0x70, 0x45), encoding.ErrTypeMismatch},
	{"handle of wrong type", b(0, 0, 0, 0x0f, 2, 0, 0, 0, 0x00, 0x53, 0x16, 0xc0, 0x02, 0x01, 0x41), encoding.ErrTypeMismatch},
	{"empty sasl frame §5.3.1", b(0, 0, 0, 8, 2, 1, 0, 0), ErrEmptySASLFrame},
	{"sasl-mechanisms empty array §1.4", b(0, 0, 0, 0x12, 2, 1, 0, 0, 0x00, 0x53, 0x40, 0xc0, 0x05, 0x01, 0xe0, 0x02, 0x00, 0xa3), encoding.ErrMissingField},
}
