package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Defaults for EngineConfig.
const (
	DefaultCacheEntries = 4096
	DefaultCacheBytes   = 64 << 20
	DefaultTimeout      = 5 * time.Second
)

// ErrNoConversion is returned (wrapped) by Transform when no entry of the
// receiver's accept value can be produced from the message's format.
var ErrNoConversion = errors.New("no conversion")

// EngineConfig configures an Engine. The zero value is an engine with the
// built-in steps, no routes and no named pipelines.
type EngineConfig struct {
	Registry  *Registry       // steps to build from; nil means Builtins()
	Pipelines []NamedPipeline // usable by name in routes, in later pipelines and in accept values
	Routes    []Route         // checked in order; the first that matches applies
	// CacheEntries bounds the result cache; 0 means DefaultCacheEntries,
	// negative disables the cache (and with it single-flight).
	CacheEntries int
	CacheBytes   int64         // bytes of cached bodies; 0 means DefaultCacheBytes
	Timeout      time.Duration // per transformation; 0 means DefaultTimeout
	// SniffJSON treats a body with no content type as JSON when it is a
	// JSON object or array, so that accept negotiation can convert it.
	// Off by default: without a content type a body is opaque bytes.
	SniffJSON bool
	Logger    *slog.Logger // nil means discard
}

// NamedPipeline is a pipeline defined once and referred to by name.
type NamedPipeline struct {
	Name  string // lowercase letters, digits and dashes; must not be a step or format name
	Steps any    // pipeline config, as Registry.Pipeline reads it
}

// Route assigns a transformation to deliveries whose message address
// matches and whose receiver fits To, whether or not the receiver asked for
// a format. The route's steps run before accept negotiation.
type Route struct {
	Name      string      // label in metrics and Explain; "" means Match
	Match     string      // address filter, MQTT syntax ("sensors/#"; "*" is accepted for "+")
	To        RouteTarget // which receivers; zero means all
	Transform any         // pipeline config
}

// RouteTarget narrows a route to some receivers. Empty fields match all.
type RouteTarget struct {
	Protocol message.Protocol
	Queue    string
}

type route struct {
	label    string
	pattern  address.Pattern
	to       RouteTarget
	pipeline *Pipeline
}

// Engine implements exchange.Transformer: it applies config routes and
// negotiates each receiver's accept value, caching results per (message,
// route, accept) so a fan-out transforms once per format.
type Engine struct {
	reg       *Registry
	routes    []route
	named     map[string]*Pipeline
	conv      [numFormats][numFormats]*Pipeline // conv[from][to]; nil when unreachable
	pipelines []*Pipeline                       // every pipeline built, for Close
	cache     *cache                            // nil when disabled
	timeout   time.Duration
	sniff     bool
	stats     *engineStats
	log       *slog.Logger
}

var _ exchange.Transformer = (*Engine)(nil)

// NewEngine builds every pipeline of cfg, so that config errors surface at
// start-up with the route or pipeline they belong to.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	reg := cfg.Registry
	if reg == nil {
		reg = Builtins()
	}
	reg = reg.Clone() // named pipelines are added as steps
	e := &Engine{
		reg:     reg,
		named:   map[string]*Pipeline{},
		timeout: cfg.Timeout,
		sniff:   cfg.SniffJSON,
		stats:   newEngineStats(),
		log:     cfg.Logger,
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheEntries >= 0 {
		n, b := cfg.CacheEntries, cfg.CacheBytes
		if n == 0 {
			n = DefaultCacheEntries
		}
		if b <= 0 {
			b = DefaultCacheBytes
		}
		e.cache = newCache(n, b)
	}
	if err := e.build(cfg); err != nil {
		_ = e.Close(context.Background())
		return nil, err
	}
	return e, nil
}

func (e *Engine) build(cfg EngineConfig) error {
	for i, np := range cfg.Pipelines {
		if !validStepName(np.Name) {
			return fmt.Errorf("pipeline %d %q: name must be lowercase letters, digits and dashes", i, np.Name)
		}
		if formatByName(np.Name) >= 0 || np.Name == "when" {
			return fmt.Errorf("pipeline %q: the name is a format name", np.Name)
		}
		p, err := e.reg.Pipeline(np.Steps)
		if err != nil {
			return fmt.Errorf("pipeline %q: %w", np.Name, err)
		}
		e.adopt(p)
		spec := Spec{Name: np.Name, Summary: "Named pipeline: " + p.String() + "."}
		if err := e.reg.Register(spec, func(map[string]any) (Step, error) { return namedStep{p}, nil }); err != nil {
			return fmt.Errorf("pipeline %q: %w", np.Name, err)
		}
		e.named[np.Name] = p
	}
	for i, rc := range cfg.Routes {
		label := rc.Name
		if label == "" {
			label = rc.Match
		}
		pat, err := address.ParseFilter(rc.Match)
		if err != nil {
			return fmt.Errorf("route %d (%s): match %q: %w", i, label, rc.Match, err)
		}
		p, err := e.reg.Pipeline(rc.Transform)
		if err != nil {
			return fmt.Errorf("route %d (%s): %w", i, label, err)
		}
		e.adopt(p)
		e.routes = append(e.routes, route{label: label, pattern: pat, to: rc.To, pipeline: p})
	}
	return e.buildConversions()
}

// namedStep wraps a named pipeline used as a step, so that closing the
// pipeline that uses it does not close the shared named one.
type namedStep struct{ p *Pipeline }

func (n namedStep) Apply(ctx context.Context, b []*message.Message) []Result {
	return n.p.Apply(ctx, b)
}

// adopt instruments p's stages and takes ownership of p for Close.
func (e *Engine) adopt(p *Pipeline) {
	for i := range p.stages {
		p.stages[i].stats = e.stats.step(p.stages[i].name)
	}
	e.pipelines = append(e.pipelines, p)
}

// buildConversions derives the conversion graph from the registry: a step
// whose spec reads one well-known format and writes another, and needs no
// option, is an edge. The shortest chain is used between each pair of
// formats (cbor → xml is cbor-to-json then json-to-xml).
func (e *Engine) buildConversions() error {
	type edge struct {
		to   int
		name string
	}
	var edges [numFormats][]edge
	for _, s := range e.reg.Specs() {
		if len(s.Input) != 1 {
			continue
		}
		from, to := formatByName(s.Input[0]), formatByName(s.Output)
		if from < 0 || to < 0 || from == to || formats[to].InputOnly || hasRequired(s) {
			continue
		}
		edges[from] = append(edges[from], edge{to: to, name: s.Name})
	}
	built := map[string]Step{}
	for from := range numFormats {
		// Breadth-first search; specs are sorted by name, so ties break
		// the same way every time.
		prev := [numFormats]int{}
		via := [numFormats]string{}
		for i := range prev {
			prev[i] = -1
		}
		prev[from] = from
		queue := []int{from}
		for len(queue) > 0 {
			f := queue[0]
			queue = queue[1:]
			for _, ed := range edges[f] {
				if prev[ed.to] < 0 {
					prev[ed.to], via[ed.to] = f, ed.name
					queue = append(queue, ed.to)
				}
			}
		}
		for to := range numFormats {
			if to == from || prev[to] < 0 {
				continue
			}
			var names []string
			for f := to; f != from; f = prev[f] {
				names = append([]string{via[f]}, names...)
			}
			steps := make([]Step, len(names))
			for i, n := range names {
				s, ok := built[n]
				if !ok {
					var err error
					if s, err = e.reg.Build(n, nil); err != nil {
						return fmt.Errorf("conversion %s to %s: %w", formats[from].Name, formats[to].Name, err)
					}
					built[n] = s
				}
				steps[i] = s
			}
			p, err := NewPipeline(names, steps)
			if err != nil {
				return err
			}
			for i := range p.stages {
				p.stages[i].stats = e.stats.step(p.stages[i].name)
			}
			e.conv[from][to] = p
		}
	}
	// Conversion steps are shared between chains: close each once.
	names := sortedKeys(built)
	steps := make([]Step, len(names))
	for i, n := range names {
		steps[i] = built[n]
	}
	all, err := NewPipeline(names, steps)
	if err != nil {
		return err
	}
	e.pipelines = append(e.pipelines, all)
	return nil
}

func hasRequired(s Spec) bool {
	for _, o := range s.Options {
		if o.Required {
			return true
		}
	}
	return false
}

// Close closes every step that holds resources (plugin connections).
func (e *Engine) Close(ctx context.Context) error {
	var errs []error
	for _, p := range e.pipelines {
		errs = append(errs, p.Close(ctx))
	}
	e.pipelines = nil
	return errors.Join(errs...)
}

// Registry returns the engine's registry: the one it was configured with
// plus its named pipelines.
func (e *Engine) Registry() *Registry { return e.reg }

// Check validates a receiver's accept value at subscribe time. Every entry
// must be "*/*", a "type/*" range, a well-known format the engine can
// produce, or a named pipeline; otherwise the error wraps
// exchange.ErrUnknownFormat.
func (e *Engine) Check(r exchange.Receiver) error {
	if r.Accept == "" {
		return nil
	}
	items, err := ParseAccept(r.Accept)
	if err != nil {
		return fmt.Errorf("accept %q: %w: %w", r.Accept, exchange.ErrUnknownFormat, err)
	}
	for _, it := range items {
		switch f := formatByName(it.Range); {
		case it.Range == "*/*" || strings.HasSuffix(it.Range, "/*"):
		case e.named[it.Range] != nil:
		case f >= 0 && formats[f].InputOnly:
			return fmt.Errorf("accept %q: %w %q: %s is read, never produced", r.Accept, exchange.ErrUnknownFormat, it.Range, formats[f].Name)
		case f >= 0 && !e.producible(f):
			return fmt.Errorf("accept %q: %w %q: no step produces %s", r.Accept, exchange.ErrUnknownFormat, it.Range, formats[f].Name)
		case f >= 0:
		default:
			return fmt.Errorf("accept %q: %w %q (known: %s)", r.Accept, exchange.ErrUnknownFormat, it.Range, e.knownFormats())
		}
	}
	return nil
}

func (e *Engine) producible(to int) bool {
	for from := range numFormats {
		if e.conv[from][to] != nil {
			return true
		}
	}
	return false
}

func (e *Engine) knownFormats() string {
	var names []string
	for i, f := range formats {
		if !f.InputOnly && e.producible(i) {
			names = append(names, f.Name, f.ContentType)
		}
	}
	names = append(names, sortedKeys(e.named)...)
	return strings.Join(names, ", ")
}

// matchRoute returns the index of the first route for m and r, or -1.
func (e *Engine) matchRoute(m *message.Message, r exchange.Receiver) int {
	if m.Annotations.DeadLetter != nil {
		// A dead letter keeps its original address, but whoever reads a
		// dead-letter queue wants to see what failed, not the route's
		// rewriting of it (which may well fail again, and a dead-letter
		// queue has nowhere to send its own failures). Only an explicit
		// accept applies to it.
		return -1
	}
	for i := range e.routes {
		rt := &e.routes[i]
		if rt.to.Protocol != "" && rt.to.Protocol != r.Protocol || rt.to.Queue != "" && rt.to.Queue != r.Queue {
			continue
		}
		if rt.pattern.Match(m.Address) {
			return i
		}
	}
	return -1
}

// Transform returns the message r should get: m itself when nothing
// applies, nil and no error when a step dropped it, or an error that
// dead-letters it. Results are cached per (message ID, route, accept);
// concurrent calls for one key wait for a single computation, which runs
// with the engine's timeout and is not cancelled when the caller that
// started it gives up (the others still want it).
func (e *Engine) Transform(ctx context.Context, m *message.Message, r exchange.Receiver) (*message.Message, error) {
	ri := e.matchRoute(m, r)
	if ri < 0 && (r.Accept == "" || r.Accept == "*/*") {
		e.stats.passthrough.Add(1)
		return m, nil
	}
	if e.cache == nil || m.ID == "" {
		ctx, cancel := context.WithTimeout(ctx, e.timeout)
		defer cancel()
		out := e.compute(ctx, m, ri, r.Accept, nil)
		out.plan.misses.Add(1)
		e.stats.misses.Add(1)
		return out.result(m)
	}
	k := cacheKey{id: m.ID, route: ri, accept: r.Accept}
	out, hit, err := e.cache.do(ctx, k, func() outcome {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.timeout)
		defer cancel()
		return e.compute(cctx, m, ri, r.Accept, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("wait for transformation: %w", err)
	}
	if hit {
		out.plan.hits.Add(1)
		e.stats.hits.Add(1)
	} else {
		out.plan.misses.Add(1)
		e.stats.misses.Add(1)
	}
	return out.result(m)
}

func (o outcome) result(m *message.Message) (*message.Message, error) {
	if o.identity {
		return m, nil
	}
	return o.msg, o.err
}

// Explanation says what Transform would do for a message and a receiver:
// the plan, why each step was chosen, and the result. It is the body of
// the explain endpoint.
type Explanation struct {
	Route   string           // label of the matching route; "" when none matched
	Accept  []AcceptItem     // the receiver's accept value, parsed and sorted
	Source  string           // the format negotiation saw (after the route's steps)
	Chosen  string           // the accept entry that was satisfied; "" when none was needed
	Steps   []ExplainedStep  // every step that ran, in order
	Plan    string           // the plan's label in Stats
	Result  *message.Message // nil when dropped or failed
	Dropped bool
	Err     error
	Cached  bool // the cache already holds this result
}

// ExplainedStep is one step of an explained plan.
type ExplainedStep struct {
	Name string
	Why  string
}

// Explain computes what r would get for m, without the cache and without
// touching the metrics.
func (e *Engine) Explain(ctx context.Context, m *message.Message, r exchange.Receiver) Explanation {
	ex := &Explanation{}
	ri := e.matchRoute(m, r)
	if e.cache != nil && m.ID != "" {
		ex.Cached = e.cache.has(cacheKey{id: m.ID, route: ri, accept: r.Accept})
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	out := e.compute(ctx, m, ri, r.Accept, ex)
	ex.Result, ex.Err = out.result(m)
	ex.Dropped = ex.Result == nil && ex.Err == nil
	ex.Plan = out.plan.label
	return *ex
}

// compute runs the route's steps, then negotiates the accept value against
// the result's content type and runs the conversion. With ex set it
// records its reasoning and does not count metrics.
func (e *Engine) compute(ctx context.Context, m *message.Message, ri int, accept string, ex *Explanation) outcome {
	observe := ex == nil
	start := time.Now()
	var label []string
	cur := m
	var err error
	if ri >= 0 {
		rt := &e.routes[ri]
		label = append(label, "route "+rt.label)
		if ex != nil {
			ex.Route = rt.label
			for _, n := range rt.pipeline.Names() {
				ex.Steps = append(ex.Steps, ExplainedStep{Name: n, Why: fmt.Sprintf("route %s matches address %s", rt.label, m.Address)})
			}
		}
		cur, err = rt.pipeline.applyOneObserved(ctx, m, observe)
	}
	if err == nil && cur != nil && accept != "" {
		var c choice
		c, err = e.negotiate(accept, cur, ex)
		if err == nil {
			if c.label != "" {
				label = append(label, c.label)
			}
			if ex != nil {
				for _, n := range c.pipeline.Names() {
					ex.Steps = append(ex.Steps, ExplainedStep{Name: n, Why: c.why})
				}
			}
			cur, err = c.pipeline.applyOneObserved(ctx, cur, observe)
		} else {
			label = append(label, "no conversion")
		}
	}
	if len(label) == 0 {
		label = []string{"identity"}
	}
	var ps *planStats
	if observe {
		ps = e.stats.plan(strings.Join(label, " | "))
	} else {
		ps = &planStats{label: strings.Join(label, " | ")}
	}
	out := outcome{msg: cur, err: err, plan: ps}
	switch {
	case err != nil:
		out.msg = nil
	case cur == m:
		out.msg, out.identity = nil, true
	case cur != nil:
		out.size = int64(cur.Size())
	}
	if observe {
		d := time.Since(start)
		ps.calls.Add(1)
		switch {
		case err != nil:
			ps.errors.Add(1)
			if e.log.Enabled(ctx, slog.LevelDebug) {
				e.log.Debug("transform failed", "id", m.ID, "plan", ps.label, "err", err)
			}
		case cur == nil:
			ps.drops.Add(1)
		}
		ps.latency(d)
	}
	return out
}

// choice is the outcome of negotiation: the conversion to run (empty for
// none), its label in metrics, and why it was chosen.
type choice struct {
	pipeline *Pipeline
	label    string
	why      string
}

// negotiate picks the best entry of accept that m can be turned into.
func (e *Engine) negotiate(accept string, m *message.Message, ex *Explanation) (choice, error) {
	items, err := ParseAccept(accept)
	if err != nil {
		return choice{}, fmt.Errorf("accept %q: %w", accept, err)
	}
	src := formatOf(m.ContentType)
	srcDesc := ""
	switch {
	case src >= 0:
		srcDesc = fmt.Sprintf("%s (content type %q)", formats[src].Name, m.ContentType)
	case m.ContentType == "" && e.sniff && looksJSON(m.Body):
		src = 0
		srcDesc = "json (no content type; the body parses as a JSON object or array)"
	case m.ContentType == "":
		srcDesc = "opaque bytes (no content type)"
	default:
		srcDesc = fmt.Sprintf("opaque bytes (content type %q is no well-known format)", m.ContentType)
	}
	if ex != nil {
		ex.Accept, ex.Source = items, srcDesc
	}
	srcMT := mediaType(m.ContentType)
	chosen := func(it AcceptItem, c choice) (choice, error) {
		if ex != nil {
			ex.Chosen = it.Range
		}
		return c, nil
	}
	for _, it := range items {
		if it.Q == 0 {
			continue
		}
		f := formatByName(it.Range)
		switch {
		case it.Range == "*/*":
			return chosen(it, choice{why: "accept */* takes the message as it is"})
		case f >= 0:
			if formats[f].InputOnly {
				continue
			}
			if f == src {
				return chosen(it, choice{why: "the message is already " + formats[f].Name})
			}
			if src >= 0 && e.conv[src][f] != nil {
				p := e.conv[src][f]
				return chosen(it, choice{pipeline: p, label: p.String(), why: fmt.Sprintf("converts %s to %s (accept %s;q=%g)", formats[src].Name, formats[f].Name, it.Range, it.Q)})
			}
		case e.named[it.Range] != nil:
			return chosen(it, choice{pipeline: e.named[it.Range], label: it.Range, why: "accept names pipeline " + it.Range})
		case strings.HasSuffix(it.Range, "/*"):
			if srcMT != "" && strings.HasPrefix(srcMT, it.Range[:len(it.Range)-1]) {
				return chosen(it, choice{why: fmt.Sprintf("%s covers the message's %s", it.Range, srcMT)})
			}
			if src < 0 {
				continue
			}
			for to, tf := range formats {
				if !tf.InputOnly && mediaMatches(it.Range, tf.ContentType) && e.conv[src][to] != nil {
					p := e.conv[src][to]
					return chosen(it, choice{pipeline: p, label: p.String(), why: fmt.Sprintf("converts %s to %s, the first format %s covers", formats[src].Name, tf.Name, it.Range)})
				}
			}
		case it.Range == srcMT:
			return chosen(it, choice{why: "the message is already " + srcMT})
		}
	}
	return choice{}, fmt.Errorf("%w from %s to accept %q", ErrNoConversion, srcDesc, accept)
}

// looksJSON is the sniffing test of EngineConfig.SniffJSON.
func looksJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

// Stats returns a snapshot of the engine's metrics.
func (e *Engine) Stats() Stats {
	s := e.stats.snapshot()
	if e.cache != nil {
		s.CacheEntries, s.CacheBytes = e.cache.len()
		s.CacheEvictions = e.cache.evictions.Load()
	}
	return s
}

// Conversion is a chain the engine uses to turn one well-known format into
// another during accept negotiation.
type Conversion struct {
	From, To string   // format names
	Steps    []string // step names, in order
}

// Conversions lists every chain between well-known formats, in format
// table order.
func (e *Engine) Conversions() []Conversion {
	var out []Conversion
	for from := range numFormats {
		for to := range numFormats {
			if p := e.conv[from][to]; p != nil {
				out = append(out, Conversion{From: formats[from].Name, To: formats[to].Name, Steps: p.Names()})
			}
		}
	}
	return out
}
