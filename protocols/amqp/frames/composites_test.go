package frames

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

type composite interface {
	encoding.Marshaler
	Unmarshal([]byte) error
	Descriptor() uint64
}

// allComposites has every generated composite with every field set, so each
// field's encode and decode path runs.
func allComposites() []composite {
	fields := Fields{{Key: encoding.Symbol("k"), Value: int64(-1)}}
	syms := []encoding.Symbol{"a", "b"}
	err := &Error{Condition: AMQPErrorNotFound, Description: "d", Info: fields}
	return []composite{
		&Open{ContainerID: "c", Hostname: "h", MaxFrameSize: encoding.Some[uint32](1024), ChannelMax: encoding.Some[uint16](0),
			IdleTimeOut: encoding.Some[Milliseconds](0), OutgoingLocales: []IETFLanguageTag{"en"}, IncomingLocales: []IETFLanguageTag{"de", "fr"},
			OfferedCapabilities: syms, DesiredCapabilities: syms, Properties: fields},
		&Begin{RemoteChannel: encoding.Some[uint16](0), NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3,
			HandleMax: encoding.Some[Handle](7), OfferedCapabilities: syms, DesiredCapabilities: syms, Properties: fields},
		&Attach{Name: "n", Handle: 1, Role: RoleSender, SndSettleMode: encoding.Some(SenderSettleModeSettled),
			RcvSettleMode: ReceiverSettleModeSecond,
			Source: &Source{Address: "s", Durable: TerminusDurabilityUnsettledState, ExpiryPolicy: TerminusExpiryPolicyNever,
				Timeout: 5, Dynamic: true, DynamicNodeProperties: Fields{{Key: encoding.Symbol("lifetime-policy"),
					Value: encoding.Described{Descriptor: DescriptorDeleteOnClose, Value: []any(nil)}}},
				DistributionMode: StdDistModeMove, Filter: encoding.Map{{Key: encoding.Symbol("f"),
					Value: encoding.Described{Descriptor: encoding.Symbol("apache.org:selector-filter:string"), Value: "x = 1"}}},
				DefaultOutcome: &Released{}, Outcomes: syms, Capabilities: syms},
			Target:              &Coordinator{Capabilities: []TxnCapability{TxnCapabilityLocalTransactions}},
			Unsettled:           encoding.Map{{Key: []byte{1}, Value: encoding.Described{Descriptor: DescriptorAccepted, Value: []any(nil)}}},
			IncompleteUnsettled: true, InitialDeliveryCount: encoding.Some[SequenceNo](0), MaxMessageSize: encoding.Some[uint64](1 << 40),
			OfferedCapabilities: syms, DesiredCapabilities: syms, Properties: fields},
		&Flow{NextIncomingID: encoding.Some[TransferNumber](1), IncomingWindow: 2, NextOutgoingID: 3, OutgoingWindow: 4,
			Handle: encoding.Some[Handle](5), DeliveryCount: encoding.Some[SequenceNo](6), LinkCredit: encoding.Some[uint32](7),
			Available: encoding.Some[uint32](8), Drain: true, Echo: true, Properties: fields},
		&Transfer{Handle: 1, DeliveryID: encoding.Some[DeliveryNumber](2), DeliveryTag: DeliveryTag{3}, MessageFormat: encoding.Some[MessageFormat](4),
			Settled: encoding.Some(true), More: true, RcvSettleMode: encoding.Some(ReceiverSettleModeFirst),
			State: &TransactionalState{TxnID: TransactionID{9}, Outcome: &Accepted{}}, Resume: true, Aborted: true, Batchable: true},
		&Disposition{Role: RoleReceiver, First: 1, Last: encoding.Some[DeliveryNumber](2), Settled: true,
			State: &Modified{DeliveryFailed: encoding.Some(true), UndeliverableHere: encoding.Some(false), MessageAnnotations: fields}, Batchable: true},
		&Detach{Handle: 1, Closed: true, Error: err},
		&End{Error: err},
		&Close{Error: err},
		err,
		&Received{SectionNumber: 1, SectionOffset: 2},
		&Accepted{},
		&Rejected{Error: err},
		&Released{},
		&Modified{},
		&Source{},
		&Target{Address: "t", Durable: TerminusDurabilityConfiguration, ExpiryPolicy: TerminusExpiryPolicyLinkDetach, Timeout: 1,
			Dynamic: true, DynamicNodeProperties: fields, Capabilities: syms},
		&DeleteOnClose{}, &DeleteOnNoLinks{}, &DeleteOnNoMessages{}, &DeleteOnNoLinksOrMessages{},
		&SASLMechanisms{SASLServerMechanisms: syms},
		&SASLInit{Mechanism: "PLAIN", InitialResponse: []byte{}, Hostname: "h"},
		&SASLChallenge{Challenge: []byte{1}},
		&SASLResponse{Response: []byte{2}},
		&SASLOutcome{Code: SASLCodeSysTemp, AdditionalData: []byte{3}},
		&Coordinator{Capabilities: []TxnCapability{TxnCapabilityMultiTxnsPerSsn}},
		&Declare{GlobalID: encoding.Described{Descriptor: uint64(0x1234), Value: []any{"xid"}}},
		&Discharge{TxnID: TransactionID{1}, Fail: encoding.Some(true)},
		&Declared{TxnID: TransactionID{2}},
		&TransactionalState{TxnID: TransactionID{3}},
	}
}

func TestCompositeRoundTrip(t *testing.T) {
	for _, c := range allComposites() {
		name := reflect.TypeOf(c).Elem().Name()
		t.Run(name, func(t *testing.T) {
			raw, err := c.Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(c).Elem()).Interface().(composite)
			if err := got.Unmarshal(raw); err != nil {
				t.Fatalf("% x: %v", raw, err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip:\ngot  %#v\nwant %#v", got, c)
			}
			// The descriptor is the one the XML assigns, and the symbolic
			// form decodes too (§1.5).
			if raw[0] != 0x00 || got.Descriptor() != c.Descriptor() {
				t.Fatal("descriptor")
			}
			// Every prefix fails cleanly.
			for i := range raw {
				if err := got.Unmarshal(raw[:i]); err == nil {
					t.Fatalf("prefix of %d bytes decoded", i)
				}
			}
		})
	}
}

func TestCompositeWrongDescriptor(t *testing.T) {
	raw, _ := (&Accepted{}).Marshal(nil)
	var r Rejected
	if err := r.Unmarshal(raw); !errors.Is(err, encoding.ErrTypeMismatch) {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownTrailingFieldsSkipped(t *testing.T) {
	// end with its error field and two extra fields a newer peer might send.
	raw := b(0x00, 0x53, 0x17, 0xc0, 0x04, 0x03, 0x40, 0x41, 0x43)
	var e End
	if err := e.Unmarshal(raw); err != nil || e.Error != nil {
		t.Fatalf("%v %v", e, err)
	}
}

func TestMandatoryMultipleEmpty(t *testing.T) {
	if _, err := (&SASLMechanisms{}).Marshal(nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := (&SASLMechanisms{}).Marshal(nil)
	var m SASLMechanisms
	if err := m.Unmarshal(raw); !errors.Is(err, encoding.ErrMissingField) {
		t.Fatalf("null sasl-server-mechanisms accepted: %v", err)
	}
}

func TestTimestampFieldsAreUTC(t *testing.T) {
	// No composite in transport carries a timestamp; message properties do
	// (see package message). This guards the value model's convention.
	v, _ := encoding.NewDecoder(b(0x83, 0, 0, 0, 0, 0, 0, 0, 1)).Value()
	if v.(time.Time).Location() != time.UTC {
		t.Fatal("timestamp not UTC")
	}
}
