package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

func msg(ct, body string) *message.Message {
	m := &message.Message{ID: "m1", ContentType: ct}
	if body != "" {
		m.Body = []byte(body)
	}
	return m
}

// run builds a pipeline from cfg and applies it to one message.
func run(t testing.TB, r *Registry, cfg any, m *message.Message) (*message.Message, error) {
	t.Helper()
	p, err := r.Pipeline(cfg)
	if err != nil {
		t.Fatalf("build %v: %v", cfg, err)
	}
	res := p.Apply(context.Background(), []*message.Message{m})
	if len(res) != 1 {
		t.Fatalf("got %d results", len(res))
	}
	return res[0].Msg, res[0].Err
}

// TestExamples runs every example of every built-in spec: the docs show
// exactly what the code does.
func TestExamples(t *testing.T) {
	r := Builtins()
	for _, s := range r.Specs() {
		if len(s.Examples) == 0 {
			t.Errorf("%s: no example", s.Name)
		}
		for i, ex := range s.Examples {
			t.Run(fmt.Sprintf("%s/%d", s.Name, i), func(t *testing.T) {
				got, err := run(t, r, ex.Config, msg(ex.InputType, ex.Input))
				if err != nil {
					t.Fatal(err)
				}
				if string(got.Body) != ex.Output || got.ContentType != ex.OutputType {
					t.Fatalf("got %q %q, want %q %q", got.ContentType, got.Body, ex.OutputType, ex.Output)
				}
			})
		}
	}
}

func TestRegister(t *testing.T) {
	f := func(map[string]any) (Step, error) { return StepFunc(nil), nil }
	for _, tc := range []struct {
		name string
		spec Spec
		f    Factory
		want string
	}{
		{"bad name", Spec{Name: "Bad_Name"}, f, "name must be"},
		{"nil factory", Spec{Name: "x"}, nil, "nil factory"},
		{"duplicate option", Spec{Name: "x", Options: []Option{{Name: "a", Type: TypeString}, {Name: "a", Type: TypeString}}}, f, "repeated option"},
		{"bad default", Spec{Name: "x", Options: []Option{{Name: "a", Type: TypeInt, Default: "one"}}}, f, "default of option"},
		{"bad shorthand", Spec{Name: "x", Shorthand: "b"}, f, "shorthand"},
		{"duplicate", Spec{Name: "jq"}, f, "already registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Builtins().Register(tc.spec, tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	r := NewRegistry()
	if err := r.Register(Spec{Name: "x"}, f); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("x"); !ok || len(r.Names()) != 1 {
		t.Fatal("registered step not found")
	}
	if _, ok := Builtins().Lookup("x"); ok {
		t.Fatal("registries share state")
	}
}

func TestBuildOptions(t *testing.T) {
	r := Builtins()
	for _, tc := range []struct {
		name string
		step string
		opts map[string]any
		want string // "" means success
	}{
		{"defaults", "json-to-xml", nil, ""},
		{"unknown step", "nope", nil, `unknown step "nope"`},
		{"unknown option", "json-to-xml", map[string]any{"rot": "x"}, `unknown option "rot" (valid: root, item)`},
		{"no options", "json-to-cbor", map[string]any{"x": 1}, "takes no options"},
		{"wrong type", "csv-to-json", map[string]any{"header": "yes"}, `option "header": want bool, got string`},
		{"required", "jq", nil, `option "program" is required`},
		{"bad jq", "jq", map[string]any{"program": ".a |"}, `program ".a |"`},
		{"duration", "jq", map[string]any{"program": ".", "timeout": "2s"}, ""},
		{"bad duration", "jq", map[string]any{"program": ".", "timeout": "soon"}, "want a duration"},
		{"duration as number", "jq", map[string]any{"program": ".", "timeout": 5}, "want a duration string"},
		{"bad root", "json-to-xml", map[string]any{"root": "1x"}, "not a valid XML element name"},
		{"bad delimiter", "csv-to-json", map[string]any{"delimiter": `"`}, "delimiter"},
		{"tab delimiter", "csv-to-json", map[string]any{"delimiter": "tab"}, ""},
		{"bad charset", "charset", map[string]any{"to": "ebcdic"}, `charset "ebcdic"`},
		{"bad on_error", "charset", map[string]any{"on_error": "skip"}, "on_error"},
		{"bad base64", "base64-encode", map[string]any{"encoding": "hex"}, "encoding"},
		{"empty redact", "redact", nil, "give paths, headers or both"},
		{"bad path", "redact", map[string]any{"paths": "password"}, "must start with"},
		{"path ends in []", "redact", map[string]any{"paths": ".a[]"}, "must end with a key"},
		{"path list from yaml", "redact", map[string]any{"paths": []any{".a", `.b["c d"]`}}, ""},
		{"path list bad item", "redact", map[string]any{"paths": []any{".a", 1}}, "item 1: want a string"},
		{"empty headers", "headers", nil, "give set"},
		{"headers map from yaml", "headers", map[string]any{"set": map[any]any{"a": 1, "b": 2.5, "c": true}}, ""},
		{"headers nested value", "headers", map[string]any{"set": map[string]any{"a": []any{1}}}, "want a scalar"},
		{"rename to nothing", "headers", map[string]any{"rename": map[string]any{"a": ""}}, "non-empty header name"},
		{"when without do", "when", map[string]any{"type": "json"}, `option "do" is required`},
		{"when bad type", "when", map[string]any{"type": "a/b/c", "do": "cbor-to-json"}, "type"},
		{"when bad do", "when", map[string]any{"type": "cbor", "do": "nope"}, `option "do": pipeline item 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.Build(tc.step, tc.opts)
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPipelineConfig(t *testing.T) {
	r := Builtins()
	for _, tc := range []struct {
		name  string
		cfg   any
		steps string
		want  string
	}{
		{"nil", nil, "", ""},
		{"one name", "cbor-to-json", "cbor-to-json", ""},
		{"list", []any{"cbor-to-json", map[string]any{"jq": "{t: .temp}"}}, "cbor-to-json | jq", ""},
		{"string list", []string{"json-to-cbor", "cbor-to-json"}, "json-to-cbor | cbor-to-json", ""},
		{"options map", []any{map[string]any{"jq": map[string]any{"program": "."}}}, "jq", ""},
		{"yaml map", []any{map[any]any{"jq": "."}}, "jq", ""},
		{"when form", []any{map[string]any{"when": "application/cbor", "do": []any{"cbor-to-json"}}}, "when", ""},
		{"when as a step", []any{map[string]any{"when": map[string]any{"type": "cbor", "do": "cbor-to-json"}}}, "when", ""},
		{"null options", []any{map[string]any{"json-to-xml": nil}}, "json-to-xml", ""},
		{"two keys", []any{map[string]any{"jq": ".", "redact": ".a"}}, "", "exactly one key"},
		{"when extra key", []any{map[string]any{"when": "cbor", "do": "cbor-to-json", "x": 1}}, "", `unexpected key "x"`},
		{"no shorthand", []any{map[string]any{"json-to-xml": "r"}}, "", "has no shorthand"},
		{"unknown in map", []any{map[string]any{"nope": "x"}}, "", `unknown step "nope"`},
		{"not a step", []any{42}, "", "want a step name"},
		{"second item", []any{"cbor-to-json", "nope"}, "", "pipeline item 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := r.Pipeline(tc.cfg)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tc.steps {
				t.Fatalf("steps %q, want %q", p.String(), tc.steps)
			}
		})
	}
}

// TestPipelineBatch: drops and errors stop their message; the others go
// on through the later steps.
func TestPipelineBatch(t *testing.T) {
	r := Builtins()
	p, err := r.Pipeline([]any{
		map[string]any{"when": "text/plain", "do": []any{"base64-decode"}}, // drop-free, may fail
		"json-to-cbor",
	})
	if err != nil {
		t.Fatal(err)
	}
	drop := StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
		if string(m.Body) == "drop" {
			return nil, nil
		}
		return m, nil
	})
	p.stages = append([]stage{{name: "drop", step: drop}}, p.stages...)
	batch := []*message.Message{
		msg("application/json", `{"a":1}`),
		msg("text/plain", "!!"), // not base64
		msg("", "drop"),
		msg("text/plain", "eyJhIjoxfQ=="), // {"a":1}
	}
	res := p.Apply(context.Background(), batch)
	if len(res) != 4 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].Err != nil || res[0].Msg.ContentType != ctCBOR {
		t.Errorf("0: %+v", res[0])
	}
	if res[1].Err == nil || res[1].Msg != nil || !strings.Contains(res[1].Err.Error(), "when: base64-decode:") {
		t.Errorf("1: %+v", res[1])
	}
	if res[2].Err != nil || res[2].Msg != nil {
		t.Errorf("2: %+v", res[2])
	}
	if res[3].Err != nil || res[3].Msg.ContentType != ctCBOR {
		t.Errorf("3: %+v", res[3])
	}
	if string(batch[3].Body) != "eyJhIjoxfQ==" || batch[3].ContentType != "text/plain" {
		t.Error("input message changed")
	}
}

type badStep struct{ n int }

func (b badStep) Apply(context.Context, []*message.Message) []Result {
	if b.n < 0 {
		panic("boom")
	}
	return make([]Result, b.n)
}

func TestPipelineMisbehavingStep(t *testing.T) {
	for _, tc := range []struct {
		step Step
		want string
	}{
		{badStep{n: 0}, "returned 0 results for 2 messages"},
		{badStep{n: -1}, "panicked: boom"},
	} {
		p, err := NewPipeline([]string{"bad"}, []Step{tc.step})
		if err != nil {
			t.Fatal(err)
		}
		res := p.Apply(context.Background(), []*message.Message{msg("", ""), msg("", "")})
		for _, r := range res {
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) {
				t.Errorf("got %v, want %q", r.Err, tc.want)
			}
		}
	}
}

func TestStepFuncContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := StepFunc(func(context.Context, *message.Message) (*message.Message, error) {
		t.Fatal("called with a cancelled context")
		return nil, nil
	}).Apply(ctx, []*message.Message{msg("", "")})
	if !errors.Is(res[0].Err, context.Canceled) {
		t.Fatal(res[0].Err)
	}
}

type closer struct {
	StepFunc
	closed *int
}

func (c closer) Close(context.Context) error { *c.closed++; return nil }
func (c closer) Validate() error {
	if *c.closed < 0 {
		return errors.New("unreachable")
	}
	return nil
}

func TestLifecycle(t *testing.T) {
	n := 0
	r := Builtins()
	if err := r.Register(Spec{Name: "res"}, func(map[string]any) (Step, error) { return closer{closed: &n}, nil }); err != nil {
		t.Fatal(err)
	}
	p, err := r.Pipeline([]any{"res", map[string]any{"when": "json", "do": "res"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil || n != 2 {
		t.Fatalf("closed %d, %v", n, err)
	}
	n = -1
	if _, err := r.Build("res", nil); err == nil || !strings.Contains(err.Error(), "validate: unreachable") {
		t.Fatalf("got %v", err)
	}
	if n != 0 {
		t.Fatal("a step that failed validation was not closed")
	}
}

func TestJQTimeout(t *testing.T) {
	r := Builtins()
	_, err := run(t, r, map[string]any{"jq": map[string]any{"program": "def f: f; f", "timeout": "20ms"}}, msg(ctJSON, "{}"))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	p, _ := r.Pipeline(map[string]any{"jq": map[string]any{"program": "[range(1e12)] | length", "timeout": "0s"}})
	res := p.Apply(ctx, []*message.Message{msg(ctJSON, "{}")})
	if res[0].Err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v", res[0].Err, time.Since(start))
	}
}
