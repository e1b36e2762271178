package sdk

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
)

// fake is a plugin whose step behaviour is chosen by its options.
type fake struct{ built *int }

func (fake) Spec() Spec { return Spec{Name: "fake", Version: "1"} }

func (f fake) NewStep(opts []byte) (transform.Step, error) {
	*f.built++
	switch string(opts) {
	case "bad":
		return nil, errors.New("bad options")
	case "panic":
		return transform.StepFunc(func(context.Context, *message.Message) (*message.Message, error) { panic("boom") }), nil
	case "short":
		return shortStep{}, nil
	}
	return transform.StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
		switch string(m.Body) {
		case "drop":
			return nil, nil
		case "fail":
			return nil, errors.New("nope")
		}
		c := m.Clone()
		c.Body = bytes.ToUpper(c.Body)
		return c, nil
	}), nil
}

type shortStep struct{}

func (shortStep) Apply(context.Context, []*message.Message) []transform.Result { return nil }

func req(opts string, bodies ...string) *pluginpb.TransformRequest {
	r := &pluginpb.TransformRequest{Options: []byte(opts)}
	for _, b := range bodies {
		r.Messages = append(r.Messages, &pluginpb.Message{Address: "a/b", Body: []byte(b)})
	}
	return r
}

func TestServer(t *testing.T) {
	built := 0
	s := newServer(fake{&built})
	ctx := context.Background()
	resp, err := s.Transform(ctx, req("", "x", "drop", "fail"))
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetResults()
	if len(r) != 3 || string(r[0].GetMessage().GetBody()) != "X" || r[1].GetDrop() == nil || r[2].GetError() != "nope" {
		t.Fatalf("results %v", r)
	}
	// An undecodable input fails only that message.
	bad := req("", "y")
	bad.Messages = append(bad.Messages, &pluginpb.Message{Address: "a/+"})
	resp, err = s.Transform(ctx, bad)
	if err != nil || string(resp.GetResults()[0].GetMessage().GetBody()) != "Y" || resp.GetResults()[1].GetError() == "" {
		t.Fatalf("%v %v", resp, err)
	}
	if built != 1 {
		t.Fatalf("step built %d times, want once per options", built)
	}
	for _, opts := range []string{"panic", "short", "bad"} {
		_, err := s.Transform(ctx, req(opts, "x"))
		if c := status.Code(err); c != codes.Internal && c != codes.InvalidArgument {
			t.Errorf("%s: err %v", opts, err)
		}
	}
	v, err := s.Validate(ctx, &pluginpb.ValidateRequest{Options: []byte("bad")})
	if err != nil || v.GetError() == "" {
		t.Fatalf("validate: %v %v", v, err)
	}
	d, _ := s.Describe(ctx, &pluginpb.DescribeRequest{})
	if d.GetName() != "fake" {
		t.Fatalf("describe %v", d)
	}
}
