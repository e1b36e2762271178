// Package sdk is what a transformer plugin imports. A plugin is its own
// binary: its main implements Plugin and calls Serve, and the broker starts
// it as a child process (transform/plugin is the host side).
//
// The SDK is a subpackage of transform/plugin rather than part of it so a
// plugin binary links only the serving half (go-plugin's server, the
// generated gRPC service, the message conversion in wire) and none of the
// host's supervisor, batching or process management. It speaks the same
// batch-first contract as in-process steps, transform.Step, so a step can
// move between the broker and a plugin without change.
//
//	func main() {
//		sdk.Serve(myPlugin{})
//	}
//
// The plugin must not write to stdout: go-plugin uses it for the
// handshake. Its stderr becomes log lines on the host; Logger writes in the
// format the host parses (levels kept).
package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
	"github.com/rosettamq/rosetta/transform/plugin/wire"
)

// Spec, Option and Example describe a plugin (the Describe RPC).
type (
	Spec    = wire.Spec
	Option  = wire.Option
	Example = wire.Example
)

// Plugin is what a plugin author implements.
type Plugin interface {
	// Spec describes the plugin; it is called once per start.
	Spec() Spec
	// NewStep checks step options, a JSON object (empty when the step has
	// none), and returns a step that applies them. The SDK keeps the step
	// for later batches with the same options, so NewStep should do the
	// expensive work (loading files, compiling) once here.
	NewStep(options []byte) (transform.Step, error)
}

// maxCachedSteps bounds the steps kept per distinct options. A broker has
// a handful of steps per plugin; past this the cache is cleared rather than
// grown without limit.
const maxCachedSteps = 64

// Serve serves p to the host that started this process and returns when
// the host stops it. Run by hand, it prints that it is a plugin and exits
// with status 1 (go-plugin's check of the magic cookie).
func Serve(p Plugin) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         goplugin.PluginSet{wire.PluginName: &grpcPlugin{srv: newServer(p)}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, wire.ServerOptions()...)...)
		},
		// go-plugin's own lines go to stderr as JSON, which the host parses
		// back into levelled log lines; Info keeps its trace chatter out.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr, JSONFormat: true}),
	})
}

// Logger returns a logger that writes to stderr in the JSON form the host
// reads, so a plugin's Warn arrives on the host as a Warn.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "@message"
			case slog.LevelKey:
				a.Key = "@level"
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(hclogLevel(l))
				}
			case slog.TimeKey:
				// go-plugin parses "@timestamp" with one fixed layout and
				// drops the line when it differs; leave time to the host.
				return slog.Attr{}
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

// grpcPlugin is the go-plugin glue on the plugin side; the host has its
// own (it only needs GRPCClient).
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	srv *server
}

func (g *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterTransformerServiceServer(s, g.srv)
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the plugin side has no client")
}

// server implements the Transformer service over a Plugin.
type server struct {
	pluginpb.UnimplementedTransformerServiceServer
	p    Plugin
	spec *pluginpb.DescribeResponse

	mu    sync.Mutex
	steps map[string]transform.Step // by options bytes; guarded by mu
}

func newServer(p Plugin) *server {
	return &server{p: p, spec: wire.SpecToProto(p.Spec()), steps: make(map[string]transform.Step)}
}

func (s *server) Describe(context.Context, *pluginpb.DescribeRequest) (*pluginpb.DescribeResponse, error) {
	return s.spec, nil
}

func (s *server) Validate(_ context.Context, req *pluginpb.ValidateRequest) (*pluginpb.ValidateResponse, error) {
	if _, err := s.step(req.GetOptions()); err != nil {
		return &pluginpb.ValidateResponse{Error: err.Error()}, nil
	}
	return &pluginpb.ValidateResponse{}, nil
}

// step returns the step for options, making it on first use.
func (s *server) step(options []byte) (transform.Step, error) {
	key := string(options)
	s.mu.Lock()
	st, ok := s.steps[key]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.p.NewStep(options)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if st == nil {
		return nil, errors.New("options: plugin returned no step")
	}
	s.mu.Lock()
	if len(s.steps) >= maxCachedSteps {
		clear(s.steps)
	}
	s.steps[key] = st
	s.mu.Unlock()
	return st, nil
}

func (s *server) Transform(ctx context.Context, req *pluginpb.TransformRequest) (resp *pluginpb.TransformResponse, err error) {
	st, err := s.step(req.GetOptions())
	if err != nil {
		// Bad options fail the whole call: the host dead-letters every
		// message with this reason.
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	in := req.GetMessages()
	out := make([]*pluginpb.Result, len(in))
	batch := make([]*message.Message, 0, len(in))
	pos := make([]int, 0, len(in)) // batch index -> request index
	for i, pm := range in {
		m, err := wire.FromProto(pm)
		if err != nil {
			out[i] = errorResult(fmt.Errorf("decode message: %w", err))
			continue
		}
		batch = append(batch, m)
		pos = append(pos, i)
	}
	results, err := apply(ctx, st, batch)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	for j, r := range results {
		i := pos[j]
		switch {
		case r.Err != nil:
			out[i] = errorResult(r.Err)
		case r.Msg == nil:
			out[i] = &pluginpb.Result{Outcome: &pluginpb.Result_Drop{Drop: &pluginpb.Drop{}}}
		default:
			out[i] = &pluginpb.Result{Outcome: &pluginpb.Result_Message{Message: wire.ToProto(r.Msg)}}
		}
	}
	return &pluginpb.TransformResponse{Results: out}, nil
}

// apply runs the author's step and turns a panic or a wrong result count
// into an error for the whole batch: half a batch must never look
// transformed.
func apply(ctx context.Context, st transform.Step, batch []*message.Message) (results []transform.Result, err error) {
	if len(batch) == 0 {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("step panicked: %v\n%s", r, debug.Stack())
		}
	}()
	results = st.Apply(ctx, batch)
	if len(results) != len(batch) {
		return nil, fmt.Errorf("step returned %d results for %d messages", len(results), len(batch))
	}
	return results, nil
}

func errorResult(err error) *pluginpb.Result {
	return &pluginpb.Result{Outcome: &pluginpb.Result_Error{Error: err.Error()}}
}
