package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/itchyny/gojq"
	"github.com/rosettamq/rosetta/core/message"
)

// jq: a JSON-to-JSON mapping. The program is compiled once, when the step
// is built; gojq's compiled code is safe for concurrent runs. The process
// environment is not visible to programs ($ENV is empty), as gojq does by
// default.
func newJQStep(opts map[string]any) (Step, error) {
	src := optString(opts, "program")
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("program %q: %w", src, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("program %q: %w", src, err)
	}
	timeout := optDuration(opts, "timeout")
	return StepFunc(func(ctx context.Context, m *message.Message) (*message.Message, error) {
		if err := plainBody(m); err != nil {
			return nil, err
		}
		v, err := decodeJSON(m.Body)
		if err != nil {
			return nil, err
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		it := code.RunWithContext(ctx, v)
		out, ok := it.Next()
		if !ok {
			return nil, errors.New("program produced no value; want exactly one")
		}
		if err, ok := out.(error); ok {
			return nil, fmt.Errorf("run: %w", err)
		}
		if extra, ok := it.Next(); ok {
			if err, ok := extra.(error); ok {
				return nil, fmt.Errorf("run: %w", err)
			}
			return nil, errors.New("program produced more than one value; want exactly one (wrap it in [...] to collect them)")
		}
		b, err := encodeJSON(out)
		if err != nil {
			return nil, err
		}
		return withBody(m, b, ctJSON), nil
	}), nil
}

// redact drops fields from a JSON body and headers from the message.
//
// A path is a chain of selectors: ".name" or ."quoted name" or ["quoted
// name"] picks an object key, "[]" every element of an array. The last
// selector must pick a key: that key is removed wherever the path reaches
// it. A path that reaches nothing changes nothing.
type redactStep struct {
	paths   [][]selector
	headers []string
}

type selector struct {
	key  string
	each bool // "[]"
}

func parseRedactPath(p string) ([]selector, error) {
	if !strings.HasPrefix(p, ".") && !strings.HasPrefix(p, "[") {
		return nil, fmt.Errorf("path %q: must start with . or [", p)
	}
	var out []selector
	for i := 0; i < len(p); {
		switch {
		case strings.HasPrefix(p[i:], ".["):
			i++ // jq writes .["key"] and .[] too
		case strings.HasPrefix(p[i:], "[]"):
			out = append(out, selector{each: true})
			i += 2
		case strings.HasPrefix(p[i:], `["`) || strings.HasPrefix(p[i:], `."`):
			j := i + 1
			n, key, err := quoted(p[j:])
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", p, err)
			}
			j += n
			if p[i] == '[' {
				if j >= len(p) || p[j] != ']' {
					return nil, fmt.Errorf("path %q: missing ] after %q", p, key)
				}
				j++
			}
			out = append(out, selector{key: key})
			i = j
		case p[i] == '.':
			j := i + 1
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("path %q: empty key at byte %d", p, i)
			}
			out = append(out, selector{key: p[i+1 : j]})
			i = j
		default:
			return nil, fmt.Errorf("path %q: unexpected %q at byte %d", p, p[i], i)
		}
	}
	if len(out) == 0 || out[len(out)-1].each {
		return nil, fmt.Errorf("path %q: must end with a key", p)
	}
	return out, nil
}

// quoted reads a JSON string at the start of s, returning its length and
// value.
func quoted(s string) (int, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return 0, "", fmt.Errorf("bad quoted key %s", s[:i+1])
			}
			return i + 1, v, nil
		}
	}
	return 0, "", errors.New("unterminated quoted key")
}

func newRedactStep(opts map[string]any) (Step, error) {
	s := &redactStep{headers: optStrings(opts, "headers")}
	for _, p := range optStrings(opts, "paths") {
		sel, err := parseRedactPath(p)
		if err != nil {
			return nil, err
		}
		s.paths = append(s.paths, sel)
	}
	if len(s.paths) == 0 && len(s.headers) == 0 {
		return nil, errors.New("give paths, headers or both")
	}
	return StepFunc(s.apply), nil
}

func (s *redactStep) apply(_ context.Context, m *message.Message) (*message.Message, error) {
	out := m
	if len(s.paths) > 0 {
		if err := plainBody(m); err != nil {
			return nil, err
		}
		v, err := decodeJSON(m.Body)
		if err != nil {
			return nil, err
		}
		removed := false
		for _, p := range s.paths {
			removed = drop(v, p) || removed
		}
		// Unchanged bodies are passed on as they are, key order and all.
		if removed {
			b, err := encodeJSON(v)
			if err != nil {
				return nil, err
			}
			ct := m.ContentType
			if ct == "" {
				ct = ctJSON
			}
			out = withBody(m, b, ct)
		}
	}
	if len(s.headers) > 0 {
		var hs message.Headers
		for _, h := range m.Headers {
			if !containsString(s.headers, h.Key) {
				hs = append(hs, h)
			}
		}
		if len(hs) != len(m.Headers) {
			if out == m {
				out = withBody(m, m.Body, m.ContentType)
			}
			out.Headers = hs
		}
	}
	return out, nil
}

// drop removes the path's last key wherever the path reaches it in v.
func drop(v any, p []selector) bool {
	if len(p) == 0 {
		return false
	}
	sel := p[0]
	if sel.each {
		l, ok := v.([]any)
		if !ok {
			return false
		}
		removed := false
		for _, e := range l {
			removed = drop(e, p[1:]) || removed
		}
		return removed
	}
	o, ok := v.(map[string]any)
	if !ok {
		return false
	}
	child, ok := o[sel.key]
	if !ok {
		return false
	}
	if len(p) == 1 {
		delete(o, sel.key)
		return true
	}
	return drop(child, p[1:])
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// headers sets, renames and removes application headers, and may set the
// content type. The order is: remove, rename, set, content type.
func newHeadersStep(opts map[string]any) (Step, error) {
	set := optMap(opts, "set")
	rename := map[string]string{}
	for k, v := range optMap(opts, "rename") {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("rename %q: want a non-empty header name, got %v", k, v)
		}
		rename[k] = s
	}
	remove := optStrings(opts, "remove")
	ct, setCT := opts["content_type"].(string)
	if len(set) == 0 && len(rename) == 0 && len(remove) == 0 && !setCT {
		return nil, errors.New("give set, rename, remove or content_type")
	}
	values := make(map[string]message.Value, len(set))
	for k, v := range set {
		hv, err := headerValue(v)
		if err != nil {
			return nil, fmt.Errorf("set %q: %w", k, err)
		}
		values[k] = hv
	}
	// Sorted keys, so that the resulting header order is the same on
	// every run.
	setKeys := sortedKeys(values)
	return StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
		c := withBody(m, m.Body, m.ContentType)
		c.Headers = m.Headers.Clone()
		for _, k := range remove {
			c.Headers.Del(k)
		}
		for i := range c.Headers {
			if to, ok := rename[c.Headers[i].Key]; ok {
				c.Headers[i].Key = to
			}
		}
		for _, k := range setKeys {
			c.Headers.Set(k, values[k])
		}
		if setCT {
			c.ContentType = ct
		}
		return c, nil
	}), nil
}

func headerValue(v any) (message.Value, error) {
	switch x := v.(type) {
	case nil:
		return message.Null(), nil
	case string:
		return message.String(x), nil
	case bool:
		return message.Bool(x), nil
	case int:
		return message.Int(int64(x)), nil
	case int64:
		return message.Int(x), nil
	case uint64:
		if x > 1<<63-1 {
			return message.Value{}, fmt.Errorf("%d is out of range", x)
		}
		return message.Int(int64(x)), nil
	case float64:
		return message.Float(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return message.Int(i), nil
		}
		f, err := x.Float64()
		if err != nil {
			return message.Value{}, err
		}
		return message.Float(f), nil
	case time.Time:
		return message.Time(x), nil
	}
	return message.Value{}, fmt.Errorf("want a scalar, got %T", v)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
