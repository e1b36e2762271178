package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/admin"
	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin"
)

// transformer is the broker's exchange.Transformer: the engine built from
// the transform section, swapped whole on reload, in front of the plugin
// host, which starts the configured plugins once.
//
// A replaced engine is closed only at shutdown: deliveries that started
// with it may still be running its steps.
type transformer struct {
	log  *slog.Logger
	host *plugin.Host
	cur  atomic.Pointer[transform.Engine]

	mu   sync.Mutex // serializes reloads; guards old
	old  []*transform.Engine
	plug []*plugin.Plugin
}

var _ exchange.Transformer = (*transformer)(nil)

// newTransformer starts the plugins and builds the engine. ctx bounds the
// plugins' first start.
func newTransformer(ctx context.Context, cfg config.Transform, log *slog.Logger) (*transformer, error) {
	t := &transformer{log: log.With("component", "transform")}
	hc := plugin.HostConfig{Logger: t.log}
	for _, p := range cfg.Plugins {
		hc.Plugins = append(hc.Plugins, plugin.Config{
			Name: p.Name, Path: p.Path, Args: p.Args, SHA256: p.SHA256, Env: p.Env,
			CallTimeout: p.CallTimeout, MaxBatch: p.MaxBatch, BatchWait: p.BatchWait,
			MaxInFlight: p.MaxInFlight, MaxRestarts: p.MaxRestarts,
		})
	}
	host, err := plugin.New(ctx, hc)
	if err != nil {
		return nil, fmt.Errorf("transform plugins: %w", err)
	}
	t.host = host
	for _, st := range host.Status() {
		if pl, ok := host.Plugin(st.Name); ok {
			t.plug = append(t.plug, pl)
		}
	}
	e, err := t.build(cfg)
	if err != nil {
		return nil, errors.Join(err, host.Close(context.WithoutCancel(ctx)))
	}
	t.cur.Store(e)
	return t, nil
}

// build makes an engine: the built-in steps, one step per plugin (under
// its name, its options as the plugin describes them, checked by the
// plugin), the named pipelines and the routes.
func (t *transformer) build(cfg config.Transform) (*transform.Engine, error) {
	reg := transform.Builtins()
	for _, p := range t.plug {
		spec := p.Spec()
		ts := transform.Spec{Name: p.Name(), Summary: spec.Description, Input: spec.InputContentTypes}
		if len(spec.OutputContentTypes) > 0 {
			ts.Output = spec.OutputContentTypes[0]
		}
		for _, o := range spec.Options {
			ts.Options = append(ts.Options, transform.Option{Name: o.Name, Type: transform.TypeJSON, Description: o.Description, Required: o.Required})
		}
		if err := reg.Register(ts, p.Factory()); err != nil {
			return nil, fmt.Errorf("transform plugin %s: %w", p.Name(), err)
		}
	}
	ec := transform.EngineConfig{
		Registry:     reg,
		CacheEntries: cfg.CacheEntries,
		CacheBytes:   cfg.CacheBytes,
		Timeout:      cfg.Timeout,
		SniffJSON:    cfg.SniffJSON,
		Logger:       t.log,
	}
	for _, p := range cfg.Pipelines {
		ec.Pipelines = append(ec.Pipelines, transform.NamedPipeline{Name: p.Name, Steps: p.Steps})
	}
	for _, r := range cfg.Routes {
		ec.Routes = append(ec.Routes, transform.Route{
			Name: r.Name, Match: r.Match, Transform: r.Transform,
			To: transform.RouteTarget{Protocol: message.Protocol(r.To.Protocol), Queue: r.To.Queue},
		})
	}
	e, err := transform.NewEngine(ec)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	return e, nil
}

// Reload builds an engine from cfg and puts it in place for deliveries
// from now on. Plugins are not restarted: a plugin added or removed in
// cfg needs a restart.
func (t *transformer) Reload(cfg config.Transform) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.build(cfg)
	if err != nil {
		return err
	}
	t.old = append(t.old, t.cur.Swap(e))
	return nil
}

func (t *transformer) engine() *transform.Engine { return t.cur.Load() }

// Check implements exchange.Transformer.
func (t *transformer) Check(r exchange.Receiver) error { return t.engine().Check(r) }

// Transform implements exchange.Transformer.
func (t *transformer) Transform(ctx context.Context, m *message.Message, r exchange.Receiver) (*message.Message, error) {
	return t.engine().Transform(ctx, m, r)
}

// Explain says what r would get for m.
func (t *transformer) Explain(ctx context.Context, m *message.Message, r exchange.Receiver) transform.Explanation {
	return t.engine().Explain(ctx, m, r)
}

// Stats is the current engine's counters.
func (t *transformer) Stats() transform.Stats { return t.engine().Stats() }

// Plugins is the plugins' status.
func (t *transformer) Plugins() []plugin.Status { return t.host.Status() }

// Status is what the admin API lists: each step that ran, then each plugin.
func (t *transformer) Status() []admin.TransformerStatus {
	var out []admin.TransformerStatus
	st := t.Stats()
	for _, s := range st.Steps {
		out = append(out, admin.TransformerStatus{Name: s.Step, Kind: "step", Status: "ok",
			Calls: s.Calls, Failures: s.Errors})
	}
	for _, p := range t.Plugins() {
		out = append(out, admin.TransformerStatus{Name: p.Name, Kind: "plugin", Status: string(p.State),
			Error: p.LastError, Calls: p.Messages, Failures: p.Errors + p.MessageErrors})
	}
	return out
}

// Close closes every engine built and stops the plugins.
func (t *transformer) Close(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, e := range append(t.old, t.cur.Load()) {
		errs = append(errs, e.Close(ctx))
	}
	t.old = nil
	errs = append(errs, t.host.Close(ctx))
	return errors.Join(errs...)
}

// explain is the admin API's explain endpoint: the subscribe-time check,
// then the engine's explanation.
func (t *transformer) explain(ctx context.Context, m *message.Message, r exchange.Receiver) (admin.Explained, error) {
	if err := t.Check(r); err != nil {
		return admin.Explained{}, err
	}
	ex := t.Explain(ctx, m, r)
	out := admin.Explained{
		Route: ex.Route, Source: ex.Source, Chosen: ex.Chosen, Plan: ex.Plan,
		Cached: ex.Cached, Dropped: ex.Dropped, Result: ex.Result,
	}
	for _, a := range ex.Accept {
		out.Accept = append(out.Accept, fmt.Sprintf("%s;q=%g", a.Range, a.Q))
	}
	for _, s := range ex.Steps {
		out.Steps = append(out.Steps, admin.ExplainedStep{Name: s.Name, Why: s.Why})
	}
	if ex.Err != nil {
		out.Error = ex.Err.Error()
	}
	return out, nil
}
