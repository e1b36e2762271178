// Package wire is what the plugin host (transform/plugin) and the plugin
// SDK (transform/plugin/sdk) must agree on besides the generated gRPC code
// in pluginpb: the go-plugin handshake and the conversion between
// message.Message and its protobuf form. It sits apart from both so that
// neither imports the other: the host does not link the SDK's server, and a
// plugin does not link the host's supervisor.
package wire

import (
	"errors"
	"fmt"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
)

// ProtocolVersion is the go-plugin protocol version of the Transformer
// service. It changes only when rosetta.transform.v1 breaks compatibility
// (a new package version), so an old plugin is refused at the handshake
// instead of misbehaving.
const ProtocolVersion = 1

// PluginName is the name the Transformer service is dispensed under.
const PluginName = "transformer"

// Handshake is the go-plugin handshake. The magic cookie is not a secret:
// it only stops a plugin binary started by hand from waiting for a host
// that will never come, with a message that says so.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "ROSETTA_TRANSFORM_PLUGIN",
	MagicCookieValue: "8d1f6c0e-rosetta-transform-v1",
}

// MaxMessageSize is the largest gRPC message either side accepts, in
// bytes. gRPC's own default of 4 MiB is smaller than one large broker
// message; the host keeps batches below its MaxBatchBytes.
const MaxMessageSize = 64 << 20

// Window is the gRPC flow-control window, per stream and per connection,
// in bytes. gRPC starts at 64 KiB and grows it by probing; a batch is
// usually larger than that, and on a local socket waiting for window
// updates only adds round trips.
const Window = 8 << 20

// ServerOptions are the gRPC server options a plugin should use (the SDK
// does): message size and window to match the host's.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(Window), grpc.InitialConnWindowSize(Window),
	}
}

// DialOptions are the host's gRPC dial options, the counterpart of
// ServerOptions.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(Window), grpc.WithInitialConnWindowSize(Window),
	}
}

// ToProto converts m to its protobuf form. Bodies and byte fields are
// shared, not copied: the result is marshalled and dropped at once.
func ToProto(m *message.Message) *pluginpb.Message {
	p := &pluginpb.Message{
		Id:                m.ID,
		Address:           m.Address.MQTT(),
		AddressSegments:   []string(m.Address),
		Body:              m.Body,
		ContentType:       m.ContentType,
		ContentEncoding:   m.ContentEncoding,
		CorrelationId:     m.CorrelationID,
		ReplyTo:           m.ReplyTo,
		Subject:           m.Subject,
		UserId:            m.UserID,
		GroupId:           m.GroupID,
		CreatedAtUnixNano: unixNano(m.CreatedAt),
		Headers:           headersToProto(m.Headers),
		Durable:           m.Durable,
		Priority:          uint32(m.Priority),
		ExpiresUnixNano:   unixNano(m.Expires),
		FirstAcquirer:     m.FirstAcquirer,
		Native:            headersToProto(m.Annotations.Native),
	}
	if o := m.Annotations.Origin; o != (message.Origin{}) {
		p.Origin = &pluginpb.Origin{Protocol: string(o.Protocol), ClientId: o.ClientID, ConnId: o.ConnID, User: o.User}
	}
	return p
}

// FromProto converts p to a message. It checks what the canonical message
// promises (a valid address, priority 0–9, well-formed header values), so
// that a broken plugin cannot put an invalid message into the broker. The
// result shares p's byte slices.
func FromProto(p *pluginpb.Message) (*message.Message, error) {
	if p == nil {
		return nil, errors.New("no message")
	}
	m := &message.Message{
		ID:              p.GetId(),
		Body:            p.GetBody(),
		ContentType:     p.GetContentType(),
		ContentEncoding: p.GetContentEncoding(),
		CorrelationID:   p.GetCorrelationId(),
		ReplyTo:         p.GetReplyTo(),
		Subject:         p.GetSubject(),
		UserID:          p.GetUserId(),
		GroupID:         p.GetGroupId(),
		CreatedAt:       fromUnixNano(p.GetCreatedAtUnixNano()),
		Durable:         p.GetDurable(),
		Expires:         fromUnixNano(p.GetExpiresUnixNano()),
		FirstAcquirer:   p.GetFirstAcquirer(),
	}
	var err error
	if segs := p.GetAddressSegments(); len(segs) > 0 {
		m.Address, err = address.FromSegments(segs...)
	} else {
		m.Address, err = address.ParseMQTTTopic(p.GetAddress())
	}
	if err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	if p.GetPriority() > message.MaxPriority {
		return nil, fmt.Errorf("priority %d out of range 0-%d", p.GetPriority(), message.MaxPriority)
	}
	m.Priority = uint8(p.GetPriority())
	if m.Headers, err = headersFromProto(p.GetHeaders()); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	if m.Annotations.Native, err = headersFromProto(p.GetNative()); err != nil {
		return nil, fmt.Errorf("native headers: %w", err)
	}
	if o := p.GetOrigin(); o != nil {
		m.Annotations.Origin = message.Origin{
			Protocol: message.Protocol(o.GetProtocol()),
			ClientID: o.GetClientId(),
			ConnID:   o.GetConnId(),
			User:     o.GetUser(),
		}
	}
	return m, nil
}

// unixNano maps the zero time to 0 ("unknown", "never"), which is what the
// proto fields document; time.Time's own UnixNano of the zero time is
// undefined.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func headersToProto(h message.Headers) []*pluginpb.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*pluginpb.Header, len(h))
	for i, x := range h {
		out[i] = &pluginpb.Header{Key: x.Key, Value: ValueToProto(x.Value)}
	}
	return out
}

func headersFromProto(h []*pluginpb.Header) (message.Headers, error) {
	if len(h) == 0 {
		return nil, nil
	}
	out := make(message.Headers, len(h))
	for i, x := range h {
		v, err := ValueFromProto(x.GetValue())
		if err != nil {
			return nil, fmt.Errorf("%q: %w", x.GetKey(), err)
		}
		out[i] = message.Header{Key: x.GetKey(), Value: v}
	}
	return out, nil
}

// ValueToProto converts a header value; null becomes nil.
func ValueToProto(v message.Value) *pluginpb.Value {
	switch v.Kind() {
	case message.KindString:
		return &pluginpb.Value{Kind: &pluginpb.Value_String_{String_: v.Str()}}
	case message.KindInt:
		return &pluginpb.Value{Kind: &pluginpb.Value_Int{Int: v.IntValue()}}
	case message.KindFloat:
		return &pluginpb.Value{Kind: &pluginpb.Value_Float{Float: v.FloatValue()}}
	case message.KindBool:
		return &pluginpb.Value{Kind: &pluginpb.Value_Bool{Bool: v.BoolValue()}}
	case message.KindBytes:
		return &pluginpb.Value{Kind: &pluginpb.Value_Bytes{Bytes: v.BytesValue()}}
	case message.KindTime:
		return &pluginpb.Value{Kind: &pluginpb.Value_TimestampUnixMilli{TimestampUnixMilli: v.TimeValue().UnixMilli()}}
	case message.KindUUID:
		return &pluginpb.Value{Kind: &pluginpb.Value_Uuid{Uuid: v.BytesValue()}}
	default:
		return nil
	}
}

// ValueFromProto converts a header value; nil or an empty Value is null.
func ValueFromProto(v *pluginpb.Value) (message.Value, error) {
	switch k := v.GetKind().(type) {
	case nil:
		return message.Null(), nil
	case *pluginpb.Value_String_:
		return message.String(k.String_), nil
	case *pluginpb.Value_Int:
		return message.Int(k.Int), nil
	case *pluginpb.Value_Float:
		return message.Float(k.Float), nil
	case *pluginpb.Value_Bool:
		return message.Bool(k.Bool), nil
	case *pluginpb.Value_Bytes:
		return message.Bytes(k.Bytes), nil
	case *pluginpb.Value_TimestampUnixMilli:
		return message.Time(time.UnixMilli(k.TimestampUnixMilli)), nil
	case *pluginpb.Value_Uuid:
		if len(k.Uuid) != 16 {
			return message.Value{}, fmt.Errorf("uuid of %d bytes, want 16", len(k.Uuid))
		}
		return message.UUID([16]byte(k.Uuid)), nil
	default:
		return message.Value{}, fmt.Errorf("unknown value kind %T", k)
	}
}
