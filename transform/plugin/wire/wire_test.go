package wire

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
)

func TestValueRoundTrip(t *testing.T) {
	for _, v := range []message.Value{
		message.Null(), message.String(""), message.String("s"), message.Int(-1), message.Float(2.5),
		message.Bool(true), message.Bool(false), message.Bytes([]byte{1}), message.Time(time.UnixMilli(12345)),
		message.UUID([16]byte{15: 1}),
	} {
		t.Run(v.Kind().String(), func(t *testing.T) {
			// Through the wire bytes, as the plugin sees it.
			b, err := proto.Marshal(&pluginpb.Header{Key: "k", Value: ValueToProto(v)})
			if err != nil {
				t.Fatal(err)
			}
			var h pluginpb.Header
			if err := proto.Unmarshal(b, &h); err != nil {
				t.Fatal(err)
			}
			got, err := ValueFromProto(h.GetValue())
			if err != nil || !got.Equal(v) {
				t.Fatalf("got %v (%v), want %v", got, err, v)
			}
		})
	}
}

func TestFromProtoChecks(t *testing.T) {
	for name, p := range map[string]*pluginpb.Message{
		"nil":            nil,
		"wildcard topic": {Address: "a/#"},
		"empty address":  {},
		"nul segment":    {AddressSegments: []string{"a\x00"}},
		"priority":       {Address: "a", Priority: 10},
		"uuid length":    {Address: "a", Headers: []*pluginpb.Header{{Key: "u", Value: &pluginpb.Value{Kind: &pluginpb.Value_Uuid{Uuid: []byte{1}}}}}},
		"native uuid":    {Address: "a", Native: []*pluginpb.Header{{Key: "u", Value: &pluginpb.Value{Kind: &pluginpb.Value_Uuid{Uuid: []byte{1}}}}}},
	} {
		if _, err := FromProto(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSegmentsWinOverMQTTForm(t *testing.T) {
	m := &message.Message{Address: address.Address{"a/b", "c"}, CreatedAt: time.Unix(0, 1).UTC()}
	got, err := FromProto(ToProto(m))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Address.Equal(m.Address) || !got.CreatedAt.Equal(m.CreatedAt) || !got.Expires.IsZero() {
		t.Fatalf("got %+v", got)
	}
	// A plugin that only sets the MQTT form gets it parsed.
	got, err = FromProto(&pluginpb.Message{Address: "x/y"})
	if err != nil || !got.Address.Equal(address.Address{"x", "y"}) {
		t.Fatalf("%v %v", got, err)
	}
}
