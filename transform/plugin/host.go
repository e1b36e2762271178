// Package plugin is the broker side of out-of-process transformer plugins:
// it starts plugin binaries (hashicorp/go-plugin over gRPC, contract in
// proto/rosetta/transform/v1), verifies their checksum first, supervises
// them (restart with bounded exponential backoff after a crash or a hang,
// kill on Close) and exposes each as transform.Step values that batch
// concurrent calls into one round trip.
//
// Subpackages: sdk is what a plugin binary imports; wire holds the
// handshake and message conversion both sides share; pluginpb is the
// generated code. The host and the SDK are separate packages so that a
// plugin links none of the supervisor and the broker none of the server.
//
// Failure semantics: a call that fails as a whole (the plugin crashed,
// hung past CallTimeout, answered with the wrong number of results or an
// undecodable message, or is down) gives every message of that call an
// error result, which the core dead-letters with the reason. A message is
// never dropped silently and never half transformed.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// HostConfig configures a Host.
type HostConfig struct {
	// Plugins are started by New, in order.
	Plugins []Config
	// Logger is the default for plugins whose Config.Logger is nil; nil
	// means discard.
	Logger *slog.Logger
}

// Host owns a set of plugins: it starts them and kills them all on Close.
type Host struct {
	log *slog.Logger

	mu      sync.Mutex
	plugins []*Plugin // guarded by mu
	closed  bool      // guarded by mu
}

// New starts every configured plugin. If one fails to start (a missing
// binary, a checksum mismatch, a failed handshake) the ones already started
// are stopped and the error is returned. ctx bounds the starts.
func New(ctx context.Context, cfg HostConfig) (*Host, error) {
	h := &Host{log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, pc := range cfg.Plugins {
		if _, err := h.Start(ctx, pc); err != nil {
			return nil, errors.Join(err, h.Close(context.WithoutCancel(ctx)))
		}
	}
	return h, nil
}

// Start starts one more plugin. ctx bounds its first start only; the
// plugin then runs until Close.
func (h *Host) Start(ctx context.Context, cfg Config) (*Plugin, error) {
	if cfg.Logger == nil {
		cfg.Logger = h.log
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	p, err := start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.Join(ErrClosed, p.Close(ctx))
	}
	if slices.ContainsFunc(h.plugins, func(q *Plugin) bool { return q.name == p.name }) {
		return nil, errors.Join(fmt.Errorf("plugin %s: name already in use", p.name), p.Close(ctx))
	}
	h.plugins = append(h.plugins, p)
	return p, nil
}

// Plugin returns the plugin with the given name.
func (h *Host) Plugin(name string) (*Plugin, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.plugins {
		if p.name == name {
			return p, true
		}
	}
	return nil, false
}

// Status reports every plugin, in start order.
func (h *Host) Status() []Status {
	h.mu.Lock()
	ps := slices.Clone(h.plugins)
	h.mu.Unlock()
	out := make([]Status, len(ps))
	for i, p := range ps {
		out[i] = p.Status()
	}
	return out
}

// Close stops every plugin concurrently (see Plugin.Close): processes that
// have not exited when ctx ends are killed. It returns when all of them
// are gone.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	ps := h.plugins
	h.plugins = nil
	h.mu.Unlock()
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = p.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
