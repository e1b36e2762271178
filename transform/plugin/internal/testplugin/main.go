// Command testplugin is a plugin that misbehaves on request, for the host's
// tests. It serves the TransformerService directly, without the SDK,
// because the SDK would not let it answer garbage. The step options choose
// the behaviour: {"mode": "..."}.
//
//	echo     return each message unchanged
//	upper    upper-case the body and add header "pid" (which process served it)
//	mixed    body "drop" is dropped, body "fail" fails, others are upper-cased
//	slow     like upper after sleeping "delay_ms" per call
//	hang     never answer
//	count    answer one result too few
//	badmsg   answer a message with priority 42
//	empty    answer a result with no outcome
//	crash    exit at once when a message body is "crash", else upper
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
	"github.com/rosettamq/rosetta/transform/plugin/wire"
)

type options struct {
	Mode    string `json:"mode"`
	DelayMS int    `json:"delay_ms"`
}

var modes = map[string]bool{
	"echo": true, "upper": true, "mixed": true, "slow": true, "hang": true,
	"count": true, "badmsg": true, "empty": true, "crash": true,
}

func parse(b []byte) (options, error) {
	var o options
	if len(b) > 0 {
		if err := json.Unmarshal(b, &o); err != nil {
			return o, err
		}
	}
	if !modes[o.Mode] {
		return o, fmt.Errorf("unknown mode %q", o.Mode)
	}
	return o, nil
}

type server struct {
	pluginpb.UnimplementedTransformerServiceServer
}

func (server) Describe(context.Context, *pluginpb.DescribeRequest) (*pluginpb.DescribeResponse, error) {
	return wire.SpecToProto(wire.Spec{
		Name:        "testplugin",
		Version:     "0.0.1",
		Description: "Misbehaves on request, for tests.",
		Options:     []wire.Option{{Name: "mode", Type: "string", Required: true}, {Name: "delay_ms", Type: "integer"}},
	}), nil
}

func (server) Validate(_ context.Context, r *pluginpb.ValidateRequest) (*pluginpb.ValidateResponse, error) {
	if _, err := parse(r.GetOptions()); err != nil {
		return &pluginpb.ValidateResponse{Error: err.Error()}, nil
	}
	return &pluginpb.ValidateResponse{}, nil
}

func upper(m *pluginpb.Message) *pluginpb.Message {
	m.Body = bytes.ToUpper(m.Body)
	m.Headers = append(m.Headers, &pluginpb.Header{Key: "pid", Value: &pluginpb.Value{Kind: &pluginpb.Value_Int{Int: int64(os.Getpid())}}})
	return m
}

func msg(m *pluginpb.Message) *pluginpb.Result {
	return &pluginpb.Result{Outcome: &pluginpb.Result_Message{Message: m}}
}

func (server) Transform(ctx context.Context, r *pluginpb.TransformRequest) (*pluginpb.TransformResponse, error) {
	o, err := parse(r.GetOptions())
	if err != nil {
		return nil, err
	}
	in := r.GetMessages()
	out := make([]*pluginpb.Result, 0, len(in))
	switch o.Mode {
	case "hang":
		select {} // a plugin stuck for good, deaf to the deadline
	case "slow":
		select {
		case <-time.After(time.Duration(o.DelayMS) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "count":
		in = in[:max(len(in)-1, 0)]
	case "crash":
		for _, m := range in {
			if string(m.GetBody()) == "crash" {
				os.Exit(3)
			}
		}
	}
	for _, m := range in {
		switch o.Mode {
		case "echo":
			out = append(out, msg(m))
		case "mixed":
			switch string(m.GetBody()) {
			case "drop":
				out = append(out, &pluginpb.Result{Outcome: &pluginpb.Result_Drop{Drop: &pluginpb.Drop{}}})
			case "fail":
				out = append(out, &pluginpb.Result{Outcome: &pluginpb.Result_Error{Error: "fail requested"}})
			default:
				out = append(out, msg(upper(m)))
			}
		case "badmsg":
			m.Priority = 42
			out = append(out, msg(m))
		case "empty":
			out = append(out, &pluginpb.Result{})
		default:
			out = append(out, msg(upper(m)))
		}
	}
	return &pluginpb.TransformResponse{Results: out}, nil
}

type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterTransformerServiceServer(s, server{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("no client")
}

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         goplugin.PluginSet{wire.PluginName: grpcPlugin{}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, wire.ServerOptions()...)...)
		},
	})
}
