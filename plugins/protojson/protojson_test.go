package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

func newStep(t *testing.T, opts string) *step {
	t.Helper()
	s, err := plugin{}.NewStep([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	return s.(*step)
}

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	const in = `{"sensorId":"s1","tempC":21.5,"seq":"7","tags":["a","b"],"takenAt":"2026-01-02T03:04:05Z","location":{"lat":1.5,"lon":-2},"unit":"UNIT_FAHRENHEIT"}`
	toProto := newStep(t, `{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Reading"}`)
	m := &message.Message{ID: "m1", Address: address.MustParseMQTT("s/1"), Body: []byte(in), ContentType: "application/json"}
	r := toProto.Apply(context.Background(), []*message.Message{m})
	if r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	pb := r[0].Msg
	if pb.ContentType != ContentProtobuf || pb.Headers.GetString("proto-message") != "rosetta.example.v1.Reading" {
		t.Fatalf("content type %q, headers %v", pb.ContentType, pb.Headers)
	}
	if string(m.Body) != in {
		t.Fatal("input changed")
	}
	toJSON := newStep(t, `{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Reading","to":"json"}`)
	r = toJSON.Apply(context.Background(), []*message.Message{pb})
	if r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	jsonEqual(t, string(r[0].Msg.Body), in)

	names := newStep(t, `{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Reading","use_proto_names":true,"emit_defaults":true}`)
	r = names.Apply(context.Background(), []*message.Message{pb})
	if r[0].Err != nil || !strings.Contains(string(r[0].Msg.Body), `"sensor_id"`) {
		t.Fatalf("proto names: %v %s", r[0].Err, r[0].Msg.Body)
	}
}

func TestErrors(t *testing.T) {
	for _, opts := range []string{
		`{}`,
		`{"descriptor":"testdata/missing.binpb","message":"x.Y"}`,
		`{"descriptor":"testdata/sensor.proto","message":"rosetta.example.v1.Reading"}`,
		`{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Nope"}`,
		`{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Unit"}`,
		`{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Reading","to":"xml"}`,
		`{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Reading","typo":1}`,
	} {
		if _, err := (plugin{}).NewStep([]byte(opts)); err == nil {
			t.Errorf("%s: no error", opts)
		}
	}
	s := newStep(t, `{"descriptor":"testdata/sensor.binpb","message":"rosetta.example.v1.Reading"}`)
	batch := []*message.Message{
		{Body: []byte(`{"nope":1}`), ContentType: "application/json"},
		{Body: []byte{0xff, 0xff}, ContentType: ContentProtobuf},
		{Body: []byte(`{}`), ContentType: "application/json", ContentEncoding: "gzip"},
		{Body: []byte(`{"seq":"1"}`), ContentType: "application/vnd.x+json"},
	}
	r := s.Apply(context.Background(), batch)
	for i := range 3 {
		if r[i].Err == nil {
			t.Errorf("message %d: no error", i)
		}
	}
	if r[3].Err != nil || r[3].Msg.ContentType != ContentProtobuf {
		t.Errorf("message 3: %v", r[3].Err)
	}
}
