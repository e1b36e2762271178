package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// OptionType is the type of a step option, as config writes it. The
// registry converts what a YAML or JSON decoder produced into the Go type
// named in each constant before the factory sees it.
type OptionType string

// Option types.
const (
	TypeString   OptionType = "string"          // string
	TypeInt      OptionType = "int"             // int
	TypeBool     OptionType = "bool"            // bool
	TypeDuration OptionType = "duration"        // time.Duration, written "250ms", "2s"
	TypeStrings  OptionType = "list of strings" // []string; a single string is a list of one
	TypeMap      OptionType = "map"             // map[string]any with scalar values
	TypePipeline OptionType = "pipeline"        // *Pipeline, built by the registry from a pipeline config
	// TypeJSON passes the decoded value through as it is: for options whose
	// owner checks them itself (a plugin validates its own options).
	TypeJSON OptionType = "json"
)

// Option describes one option of a step.
type Option struct {
	Name        string
	Type        OptionType
	Default     any // nil means no default (the option is absent unless given)
	Required    bool
	Description string
}

// Example shows a step at work. The docs render it and a test runs it, so
// the documentation cannot drift from the code.
type Example struct {
	Title      string
	Config     any    // the pipeline item as config writes it: "cbor-to-json" or map[string]any{"jq": "..."}
	InputType  string // content type of the input message
	Input      string // body; may hold binary bytes
	OutputType string // content type of the result
	Output     string // body of the result; may hold binary bytes
}

// Spec declares a step: what it does and how it is configured. The
// reference in docs/transforms.md is generated from the specs.
type Spec struct {
	Name    string // lowercase, with dashes: "cbor-to-json"
	Summary string // one sentence
	// Input lists the content types the step reads; nil means any. Output
	// is the content type it writes; "" means it keeps the input's. A step
	// whose Input is one well-known format and whose Output another, with
	// no required option, is a conversion the engine may use for accept
	// negotiation.
	Input  []string
	Output string
	// Shorthand names the option a bare value sets: with Shorthand
	// "program", the item {"jq": ".a"} means {"jq": {"program": ".a"}}.
	Shorthand string
	Options   []Option
	Examples  []Example
}

// Factory builds a step from options that the registry has already checked
// against the spec: unknown names are refused, defaults are filled in, and
// every value has the Go type its OptionType names.
type Factory func(opts map[string]any) (Step, error)

// Validator is implemented by steps that can check themselves once they
// are built (a plugin that must be reachable, for example). The registry
// calls Validate once, at build time, never on the hot path.
type Validator interface {
	Validate() error
}

// Closer is implemented by steps that hold resources. Pipeline.Close and
// Engine.Close call it.
type Closer interface {
	Close(ctx context.Context) error
}

// Registry maps step names to their spec and factory. It is a value: the
// binary fills one with the built-ins and the configured plugins, and
// tests build their own. It is safe for concurrent use, though it is
// normally filled at start-up and only read afterwards.
type Registry struct {
	mu    sync.RWMutex
	steps map[string]registered // guarded by mu
}

type registered struct {
	spec    Spec
	factory Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{steps: make(map[string]registered)}
}

// Builtins returns a new registry holding every built-in step.
func Builtins() *Registry {
	r := NewRegistry()
	for _, b := range builtins() {
		if err := r.Register(b.spec, b.factory); err != nil {
			// The built-in table is fixed at compile time and its test
			// registers it, so this is a programming error, not input.
			panic(fmt.Sprintf("transform: built-in %q: %v", b.spec.Name, err))
		}
	}
	return r
}

// Register adds a step. It refuses a duplicate or malformed name and
// defaults that do not fit their option's type.
func (r *Registry) Register(spec Spec, f Factory) error {
	if !validStepName(spec.Name) {
		return fmt.Errorf("register step %q: name must be lowercase letters, digits and dashes", spec.Name)
	}
	if f == nil {
		return fmt.Errorf("register step %q: nil factory", spec.Name)
	}
	seen := map[string]bool{}
	for _, o := range spec.Options {
		if o.Name == "" || seen[o.Name] {
			return fmt.Errorf("register step %q: empty or repeated option name %q", spec.Name, o.Name)
		}
		seen[o.Name] = true
		if o.Default != nil {
			if o.Type == TypePipeline {
				return fmt.Errorf("register step %q: option %q: a pipeline option cannot have a default", spec.Name, o.Name)
			}
			if _, err := coerce(o.Type, o.Default); err != nil {
				return fmt.Errorf("register step %q: default of option %q: %w", spec.Name, o.Name, err)
			}
		}
	}
	if spec.Shorthand != "" && !seen[spec.Shorthand] {
		return fmt.Errorf("register step %q: shorthand names unknown option %q", spec.Name, spec.Shorthand)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.steps[spec.Name]; dup {
		return fmt.Errorf("register step %q: already registered", spec.Name)
	}
	r.steps[spec.Name] = registered{spec: spec, factory: f}
	return nil
}

// Clone returns a registry with the same steps, to which more can be
// added without changing r.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := NewRegistry()
	for k, v := range r.steps {
		c.steps[k] = v
	}
	return c
}

// Lookup returns the spec of the named step.
func (r *Registry) Lookup(name string) (Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.steps[name]
	return s.spec, ok
}

// Specs returns every spec, sorted by name.
func (r *Registry) Specs() []Spec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Spec, 0, len(r.steps))
	for _, s := range r.steps {
		out = append(out, s.spec)
	}
	slices.SortFunc(out, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Names returns the registered step names, sorted.
func (r *Registry) Names() []string {
	specs := r.Specs()
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// Build makes the named step with the given options (nil means all
// defaults). Options are checked against the spec first, so that a typo in
// config is an error at load time, not a silently ignored key.
func (r *Registry) Build(name string, opts map[string]any) (Step, error) {
	r.mu.RLock()
	reg, ok := r.steps[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown step %q (known: %s)", name, strings.Join(r.Names(), ", "))
	}
	norm, err := r.normalize(reg.spec, opts)
	if err != nil {
		return nil, fmt.Errorf("step %q: %w", name, err)
	}
	s, err := reg.factory(norm)
	if err != nil {
		closePipelines(norm)
		return nil, fmt.Errorf("step %q: %w", name, err)
	}
	if s == nil {
		return nil, fmt.Errorf("step %q: factory returned no step", name)
	}
	if v, ok := s.(Validator); ok {
		if err := v.Validate(); err != nil {
			closeStep(s)
			return nil, fmt.Errorf("step %q: validate: %w", name, err)
		}
	}
	return s, nil
}

// normalize checks opts against the spec and returns a new map with
// defaults filled in and every value converted to its option's Go type.
// Pipeline options are built here, from r, so that a step wrapping others
// ("when") sees the same steps as the pipeline it sits in (an engine's
// named pipelines included).
func (r *Registry) normalize(s Spec, opts map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(s.Options))
	for k := range opts {
		if !slices.ContainsFunc(s.Options, func(o Option) bool { return o.Name == k }) {
			names := make([]string, len(s.Options))
			for i, o := range s.Options {
				names[i] = o.Name
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("unknown option %q: the step takes no options", k)
			}
			return nil, fmt.Errorf("unknown option %q (valid: %s)", k, strings.Join(names, ", "))
		}
	}
	for _, o := range s.Options {
		v, given := opts[o.Name]
		if !given || v == nil {
			if o.Required {
				return nil, fmt.Errorf("option %q is required", o.Name)
			}
			if o.Default == nil {
				continue
			}
			v = o.Default
		}
		var c any
		var err error
		if o.Type == TypePipeline {
			c, err = r.Pipeline(v)
		} else {
			c, err = coerce(o.Type, v)
		}
		if err != nil {
			closePipelines(out)
			return nil, fmt.Errorf("option %q: %w", o.Name, err)
		}
		out[o.Name] = c
	}
	return out, nil
}

// coerce converts a decoded config value to the Go type of t.
func coerce(t OptionType, v any) (any, error) {
	switch t {
	case TypeJSON:
		return v, nil
	case TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case TypeBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case TypeInt:
		switch n := v.(type) {
		case int:
			return n, nil
		case int64:
			if n >= math.MinInt && n <= math.MaxInt {
				return int(n), nil
			}
		case uint64:
			if n <= math.MaxInt {
				return int(n), nil
			}
		case float64: // encoding/json numbers
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return int(n), nil
			}
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return int(i), nil
			}
		}
	case TypeDuration:
		switch d := v.(type) {
		case time.Duration:
			return d, nil
		case string:
			p, err := time.ParseDuration(d)
			if err != nil {
				return nil, fmt.Errorf("want a duration such as \"250ms\": %w", err)
			}
			if p < 0 {
				return nil, fmt.Errorf("negative duration %s", d)
			}
			return p, nil
		}
		return nil, fmt.Errorf("want a duration string such as \"250ms\", got %T", v)
	case TypeStrings:
		switch l := v.(type) {
		case string:
			return []string{l}, nil
		case []string:
			return slices.Clone(l), nil
		case []any:
			out := make([]string, len(l))
			for i, x := range l {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("item %d: want a string, got %T", i, x)
				}
				out[i] = s
			}
			return out, nil
		}
	case TypeMap:
		m, err := stringMap(v)
		if err != nil {
			return nil, err
		}
		for k, x := range m {
			switch x.(type) {
			case nil, string, bool, int, int64, uint64, float64, json.Number:
			default:
				return nil, fmt.Errorf("key %q: want a scalar, got %T", k, x)
			}
		}
		return m, nil
	default:
		return nil, fmt.Errorf("unknown option type %q", t)
	}
	return nil, fmt.Errorf("want %s, got %T", t, v)
}

// stringMap accepts the map shapes config decoders produce.
func stringMap(v any) (map[string]any, error) {
	switch m := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(m))
		for k, x := range m {
			c[k] = x
		}
		return c, nil
	case map[string]string:
		c := make(map[string]any, len(m))
		for k, x := range m {
			c[k] = x
		}
		return c, nil
	case map[any]any:
		c := make(map[string]any, len(m))
		for k, x := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v: want a string, got %T", k, k)
			}
			c[ks] = x
		}
		return c, nil
	}
	return nil, fmt.Errorf("want a map, got %T", v)
}

func validStepName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Typed option getters for factories; the registry has already converted
// every value, so a failed assertion means the option was absent.

func optString(opts map[string]any, k string) string {
	s, _ := opts[k].(string)
	return s
}

func optBool(opts map[string]any, k string) bool {
	b, _ := opts[k].(bool)
	return b
}

func optDuration(opts map[string]any, k string) time.Duration {
	d, _ := opts[k].(time.Duration)
	return d
}

func optStrings(opts map[string]any, k string) []string {
	l, _ := opts[k].([]string)
	return l
}

func optMap(opts map[string]any, k string) map[string]any {
	m, _ := opts[k].(map[string]any)
	return m
}

// closePipelines closes the pipelines built for options whose step was
// never made.
func closePipelines(opts map[string]any) {
	for _, v := range opts {
		if p, ok := v.(*Pipeline); ok {
			_ = p.Close(context.Background())
		}
	}
}

func optPipeline(opts map[string]any, k string) *Pipeline {
	p, _ := opts[k].(*Pipeline)
	return p
}

func closeStep(s Step) error {
	if c, ok := s.(Closer); ok {
		return c.Close(context.Background())
	}
	return nil
}
