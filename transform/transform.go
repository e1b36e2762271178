// Package transform rewrites canonical messages for their receivers: the
// step contract, a registry of named steps, pipelines (chains of steps),
// the built-in steps, and the engine that implements core's
// exchange.Transformer (receiver-driven negotiation and config routes,
// with a per-(message, pipeline) cache so that a fan-out transforms once
// per format). Out-of-process plugin steps live in transform/plugin.
package transform

import (
	"context"

	"github.com/rosettamq/rosetta/core/message"
)

// Step is one transformation. It is batch-first, because an out-of-process
// step costs a round trip per call: Apply gets a batch and returns exactly
// one Result per input message, in the same order. A step never changes
// its input messages (other receivers share them): it returns new ones
// (message.Clone) or the input itself when nothing changes. Apply must be
// safe for concurrent use.
type Step interface {
	Apply(ctx context.Context, batch []*message.Message) []Result
}

// Result is what a step made of one input message: a message, a drop
// (Msg nil, Err nil: the receiver gets nothing), or an error (the message
// is dead-lettered with the error as the reason, never delivered
// half-transformed).
type Result struct {
	Msg *message.Message
	Err error
}

// StepFunc adapts a per-message function to a Step.
type StepFunc func(ctx context.Context, m *message.Message) (*message.Message, error)

// Apply calls f for each message of the batch.
func (f StepFunc) Apply(ctx context.Context, batch []*message.Message) []Result {
	out := make([]Result, len(batch))
	for i, m := range batch {
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		out[i].Msg, out[i].Err = f(ctx, m)
	}
	return out
}
