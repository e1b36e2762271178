package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin/sdk"
)

// Content types the plugin reads and writes.
const (
	ContentJSON     = "application/json"
	ContentProtobuf = "application/x-protobuf"
)

// maxDescriptorSize bounds the descriptor file read at configuration.
const maxDescriptorSize = 16 << 20

var version = "0.1.0"

type plugin struct{}

func (plugin) Spec() sdk.Spec {
	return sdk.Spec{
		Name:        "protojson",
		Version:     version,
		Description: "Converts bodies between Protobuf binary and JSON using a descriptor set file.",
		Options: []sdk.Option{
			{Name: "descriptor", Type: "string", Required: true, Description: "Path of a FileDescriptorSet (binary) that defines the message and its imports."},
			{Name: "message", Type: "string", Required: true, Description: "Full name of the message type, for example \"acme.v1.Reading\"."},
			{Name: "to", Type: "string", Default: `""`, Description: "\"json\" or \"protobuf\"; empty converts JSON input to Protobuf and anything else to JSON."},
			{Name: "use_proto_names", Type: "boolean", Default: "false", Description: "JSON output uses the .proto field names instead of lowerCamelCase."},
			{Name: "emit_defaults", Type: "boolean", Default: "false", Description: "JSON output includes fields that hold their default value."},
		},
		InputContentTypes:  []string{ContentProtobuf, "application/protobuf", ContentJSON},
		OutputContentTypes: []string{ContentJSON, ContentProtobuf},
		Examples: []sdk.Example{
			{Title: "Protobuf readings to JSON", Options: `{"descriptor": "/etc/rosetta/schemas.binpb", "message": "acme.v1.Reading", "to": "json"}`},
		},
	}
}

type options struct {
	Descriptor    string `json:"descriptor"`
	Message       string `json:"message"`
	To            string `json:"to"`
	UseProtoNames bool   `json:"use_proto_names"`
	EmitDefaults  bool   `json:"emit_defaults"`
}

// step converts with one message type.
type step struct {
	md      protoreflect.MessageDescriptor
	to      string
	marshal protojson.MarshalOptions
}

func (plugin) NewStep(raw []byte) (transform.Step, error) {
	var o options
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("options: %w", err)
		}
	}
	if o.Descriptor == "" || o.Message == "" {
		return nil, errors.New("options descriptor and message are required")
	}
	switch o.To {
	case "", "json", "protobuf":
	default:
		return nil, fmt.Errorf("option to: %q is neither json nor protobuf", o.To)
	}
	md, err := loadMessage(o.Descriptor, o.Message)
	if err != nil {
		return nil, err
	}
	return &step{md: md, to: o.To, marshal: protojson.MarshalOptions{UseProtoNames: o.UseProtoNames, EmitUnpopulated: o.EmitDefaults}}, nil
}

// loadMessage reads a descriptor set and finds the named message in it.
func loadMessage(path, name string) (protoreflect.MessageDescriptor, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("descriptor: %w", err)
	}
	if fi.Size() > maxDescriptorSize {
		return nil, fmt.Errorf("descriptor %s: %d bytes, more than %d", path, fi.Size(), maxDescriptorSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("descriptor: %w", err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("descriptor %s: not a FileDescriptorSet: %w", path, err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("descriptor %s: %w", path, err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("descriptor %s: message %q: %w", path, name, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("descriptor %s: %q is not a message", path, name)
	}
	return md, nil
}

func (s *step) Apply(ctx context.Context, batch []*message.Message) []transform.Result {
	out := make([]transform.Result, len(batch))
	for i, m := range batch {
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		out[i].Msg, out[i].Err = s.convert(m)
	}
	return out
}

func (s *step) convert(m *message.Message) (*message.Message, error) {
	if m.ContentEncoding != "" && m.ContentEncoding != "identity" {
		return nil, fmt.Errorf("body has content encoding %q", m.ContentEncoding)
	}
	to := s.to
	if to == "" {
		to = "json"
		if mt, _, _ := mime.ParseMediaType(m.ContentType); mt == ContentJSON || strings.HasSuffix(mt, "+json") {
			to = "protobuf"
		}
	}
	pm := dynamicpb.NewMessage(s.md)
	var body []byte
	var err error
	var ct string
	if to == "json" {
		if err = proto.Unmarshal(m.Body, pm); err != nil {
			return nil, fmt.Errorf("decode %s: %w", s.md.FullName(), err)
		}
		body, err = s.marshal.Marshal(pm)
		ct = ContentJSON
	} else {
		if err = (protojson.UnmarshalOptions{}).Unmarshal(m.Body, pm); err != nil {
			return nil, fmt.Errorf("decode JSON as %s: %w", s.md.FullName(), err)
		}
		body, err = proto.MarshalOptions{Deterministic: true}.Marshal(pm)
		ct = ContentProtobuf
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", to, err)
	}
	c := m.Clone()
	c.Body, c.ContentType, c.ContentEncoding = body, ct, ""
	c.Headers.Set("proto-message", message.String(string(s.md.FullName())))
	return c, nil
}
