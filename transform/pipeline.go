package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

// Pipeline is a chain of steps. It is itself a Step: a batch flows through
// each step in turn; a message that a step drops or fails leaves the
// batch there, and the others go on.
type Pipeline struct {
	stages []stage
}

type stage struct {
	name  string
	step  Step
	stats *counters // nil unless the engine observes this stage
}

var _ Step = (*Pipeline)(nil)

// NewPipeline chains already built steps; names label them in errors,
// Explain and metrics.
func NewPipeline(names []string, steps []Step) (*Pipeline, error) {
	if len(names) != len(steps) {
		return nil, fmt.Errorf("new pipeline: %d names for %d steps", len(names), len(steps))
	}
	p := &Pipeline{}
	for i, s := range steps {
		if s == nil {
			return nil, fmt.Errorf("new pipeline: step %d (%s) is nil", i, names[i])
		}
		p.stages = append(p.stages, stage{name: names[i], step: s})
	}
	return p, nil
}

// Pipeline builds a pipeline from its config value:
//
//   - a string names a step with default options: "cbor-to-json";
//   - a one-key map gives a step its options: {"jq": {"program": ".a"}},
//     or, for a step with a shorthand option, the bare value: {"jq": ".a"};
//   - a map with the keys "when" and "do" runs the steps under "do" only
//     for messages whose content type matches "when";
//   - a list chains any of these; nil or an empty list is a pipeline that
//     does nothing.
func (r *Registry) Pipeline(cfg any) (*Pipeline, error) {
	var items []any
	switch v := cfg.(type) {
	case nil:
	case []any:
		items = v
	case []string:
		for _, s := range v {
			items = append(items, s)
		}
	case []map[string]any:
		for _, m := range v {
			items = append(items, m)
		}
	default:
		items = []any{v}
	}
	p := &Pipeline{}
	for i, it := range items {
		name, s, err := r.buildItem(it)
		if err != nil {
			_ = p.Close(context.Background())
			return nil, fmt.Errorf("pipeline item %d: %w", i, err)
		}
		p.stages = append(p.stages, stage{name: name, step: s})
	}
	return p, nil
}

func (r *Registry) buildItem(it any) (string, Step, error) {
	if s, ok := it.(string); ok {
		st, err := r.Build(s, nil)
		return s, st, err
	}
	m, err := stringMap(it)
	if err != nil {
		return "", nil, fmt.Errorf("want a step name or a one-key map, got %T", it)
	}
	if w, ok := m["when"]; ok {
		// The two-key form {"when": TYPE, "do": [...]} is the one people
		// write; {"when": {"type": ..., "do": ...}} also works, below.
		if _, err := stringMap(w); err != nil || len(m) > 1 {
			for k := range m {
				if k != "when" && k != "do" {
					return "", nil, fmt.Errorf("when: unexpected key %q beside when and do", k)
				}
			}
			st, err := r.Build("when", map[string]any{"type": w, "do": m["do"]})
			return "when", st, err
		}
	}
	if len(m) != 1 {
		return "", nil, fmt.Errorf("a step map must have exactly one key, the step name; got %d keys", len(m))
	}
	var name string
	var v any
	for name, v = range m {
	}
	var opts map[string]any
	if v != nil {
		if o, err := stringMap(v); err == nil {
			opts = o
		} else {
			spec, ok := r.Lookup(name)
			if !ok {
				st, err := r.Build(name, nil) // reports the unknown name
				return name, st, err
			}
			if spec.Shorthand == "" {
				return "", nil, fmt.Errorf("step %q: options must be a map (the step has no shorthand), got %T", name, v)
			}
			opts = map[string]any{spec.Shorthand: v}
		}
	}
	st, err := r.Build(name, opts)
	return name, st, err
}

// Len reports the number of steps.
func (p *Pipeline) Len() int {
	if p == nil {
		return 0
	}
	return len(p.stages)
}

// Names returns the step names in order.
func (p *Pipeline) Names() []string {
	if p == nil {
		return nil
	}
	out := make([]string, len(p.stages))
	for i, s := range p.stages {
		out[i] = s.name
	}
	return out
}

// String renders the chain as "a | b | c".
func (p *Pipeline) String() string { return strings.Join(p.Names(), " | ") }

// Apply runs the batch through every step.
func (p *Pipeline) Apply(ctx context.Context, batch []*message.Message) []Result {
	return p.run(ctx, batch, true)
}

// run is Apply; observe false keeps the metrics out of it (Explain).
func (p *Pipeline) run(ctx context.Context, batch []*message.Message, observe bool) []Result {
	out := make([]Result, len(batch))
	for i, m := range batch {
		out[i].Msg = m
	}
	if p == nil || len(p.stages) == 0 {
		return out
	}
	live := make([]int, len(batch)) // indices into out still flowing
	for i := range live {
		live[i] = i
	}
	sub := make([]*message.Message, 0, len(batch))
	for _, st := range p.stages {
		if len(live) == 0 {
			break
		}
		sub = sub[:0]
		for _, i := range live {
			sub = append(sub, out[i].Msg)
		}
		res := st.apply(ctx, sub, observe)
		next := live[:0]
		for j, i := range live {
			out[i] = res[j]
			if res[j].Err != nil {
				out[i].Msg = nil
				continue
			}
			if res[j].Msg != nil {
				next = append(next, i)
			}
		}
		live = next
	}
	return out
}

// apply calls the stage's step, turning a wrong result count or a panic
// into per-message errors (a step is code we may not own; a broker must
// not crash because one transformation misbehaved), and records metrics.
func (st *stage) apply(ctx context.Context, batch []*message.Message, observe bool) (res []Result) {
	stats := st.stats
	if !observe {
		stats = nil
	}
	var start time.Time
	if stats != nil {
		start = time.Now()
	}
	defer func() {
		if v := recover(); v != nil {
			res = fail(len(batch), fmt.Errorf("step %s panicked: %v", st.name, v))
		}
		if stats != nil {
			stats.observe(res, time.Since(start))
		}
	}()
	res = st.step.Apply(ctx, batch)
	if len(res) != len(batch) {
		return fail(len(batch), fmt.Errorf("step %s returned %d results for %d messages", st.name, len(res), len(batch)))
	}
	for i := range res {
		if res[i].Err != nil {
			res[i].Err = fmt.Errorf("%s: %w", st.name, res[i].Err)
		}
	}
	return res
}

func fail(n int, err error) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// applyOneObserved runs one message through p.
func (p *Pipeline) applyOneObserved(ctx context.Context, m *message.Message, observe bool) (*message.Message, error) {
	if p.Len() == 0 {
		return m, nil
	}
	r := p.run(ctx, []*message.Message{m}, observe)
	return r[0].Msg, r[0].Err
}

// Close closes every step that holds resources.
func (p *Pipeline) Close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	var errs []error
	for _, st := range p.stages {
		if c, ok := st.step.(Closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", st.name, err))
			}
		}
	}
	return errors.Join(errs...)
}
