package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin/sdk"
)

var version = "0.1.0"

// Conversions are the named unit conversions.
var Conversions = map[string]func(float64) float64{
	"f_to_c":      func(v float64) float64 { return (v - 32) * 5 / 9 },
	"c_to_f":      func(v float64) float64 { return v*9/5 + 32 },
	"c_to_k":      func(v float64) float64 { return v + 273.15 },
	"k_to_c":      func(v float64) float64 { return v - 273.15 },
	"f_to_k":      func(v float64) float64 { return (v-32)*5/9 + 273.15 },
	"k_to_f":      func(v float64) float64 { return (v-273.15)*9/5 + 32 },
	"mph_to_kmh":  func(v float64) float64 { return v * 1.609344 },
	"kmh_to_mph":  func(v float64) float64 { return v / 1.609344 },
	"ms_to_kmh":   func(v float64) float64 { return v * 3.6 },
	"kmh_to_ms":   func(v float64) float64 { return v / 3.6 },
	"mi_to_km":    func(v float64) float64 { return v * 1.609344 },
	"km_to_mi":    func(v float64) float64 { return v / 1.609344 },
	"ft_to_m":     func(v float64) float64 { return v * 0.3048 },
	"m_to_ft":     func(v float64) float64 { return v / 0.3048 },
	"lb_to_kg":    func(v float64) float64 { return v * 0.45359237 },
	"kg_to_lb":    func(v float64) float64 { return v / 0.45359237 },
	"psi_to_kpa":  func(v float64) float64 { return v * 6.894757293168 },
	"kpa_to_psi":  func(v float64) float64 { return v / 6.894757293168 },
	"inhg_to_hpa": func(v float64) float64 { return v * 33.8638866667 },
	"hpa_to_inhg": func(v float64) float64 { return v / 33.8638866667 },
}

type plugin struct{}

func (plugin) Spec() sdk.Spec {
	names := make([]string, 0, len(Conversions))
	for n := range Conversions {
		names = append(names, n)
	}
	slices.Sort(names)
	return sdk.Spec{
		Name:        "units",
		Version:     version,
		Description: "Renames fields of JSON bodies and converts their units.",
		Options: []sdk.Option{
			{Name: "fields", Type: "object", Required: true, Description: "Dotted field path to {to, convert, scale, offset, round}; convert is one of " + strings.Join(names, ", ") + "."},
			{Name: "strict", Type: "boolean", Default: "false", Description: "Fail a message that lacks a mapped field instead of leaving it alone."},
		},
		InputContentTypes: []string{"application/json", "application/*+json"},
		Examples: []sdk.Example{
			{Title: "Fahrenheit sensor to Celsius", Options: `{"fields": {"temp_f": {"to": "temp_c", "convert": "f_to_c", "round": 1}}}`},
		},
	}
}

type fieldOptions struct {
	To      string   `json:"to"`
	Convert string   `json:"convert"`
	Scale   *float64 `json:"scale"`
	Offset  float64  `json:"offset"`
	Round   *int     `json:"round"`
}

type options struct {
	Fields map[string]fieldOptions `json:"fields"`
	Strict bool                    `json:"strict"`
}

// rule is one field's mapping, compiled.
type rule struct {
	from, to []string
	convert  func(float64) float64 // nil when the value is only moved
	scale    float64
	offset   float64
	round    int // decimals; -1 means none
	numeric  bool
}

type step struct {
	rules  []rule
	strict bool
}

func (plugin) NewStep(raw []byte) (transform.Step, error) {
	var o options
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if len(o.Fields) == 0 {
		return nil, errors.New("option fields: no field mapped")
	}
	s := &step{strict: o.Strict}
	// Sorted, so that the outcome does not depend on map order when two
	// rules touch the same object.
	paths := make([]string, 0, len(o.Fields))
	for p := range o.Fields {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		f := o.Fields[p]
		r := rule{from: split(p), to: split(p), scale: 1, offset: f.Offset, round: -1}
		if slices.Contains(r.from, "") {
			return nil, fmt.Errorf("field %q: empty path segment", p)
		}
		if f.To != "" {
			if r.to = split(f.To); slices.Contains(r.to, "") {
				return nil, fmt.Errorf("field %q: to %q has an empty path segment", p, f.To)
			}
		}
		if f.Convert != "" {
			if r.convert = Conversions[f.Convert]; r.convert == nil {
				return nil, fmt.Errorf("field %q: unknown conversion %q", p, f.Convert)
			}
			r.numeric = true
		}
		if f.Scale != nil {
			r.scale, r.numeric = *f.Scale, true
		}
		if f.Offset != 0 {
			r.numeric = true
		}
		if f.Round != nil {
			if *f.Round < 0 || *f.Round > 15 {
				return nil, fmt.Errorf("field %q: round %d out of 0-15", p, *f.Round)
			}
			r.round, r.numeric = *f.Round, true
		}
		if !r.numeric && slices.Equal(r.from, r.to) {
			return nil, fmt.Errorf("field %q: neither renamed nor converted", p)
		}
		s.rules = append(s.rules, r)
	}
	return s, nil
}

func split(p string) []string { return strings.Split(p, ".") }

func (s *step) Apply(ctx context.Context, batch []*message.Message) []transform.Result {
	out := make([]transform.Result, len(batch))
	for i, m := range batch {
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		out[i].Msg, out[i].Err = s.transform(m)
	}
	return out
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func (s *step) transform(m *message.Message) (*message.Message, error) {
	if m.ContentType != "" && !isJSON(m.ContentType) {
		return nil, fmt.Errorf("content type %q is not JSON", m.ContentType)
	}
	dec := json.NewDecoder(bytes.NewReader(m.Body))
	dec.UseNumber() // numbers not converted keep their exact text
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("body has data after the JSON object")
	}
	for _, r := range s.rules {
		if err := r.apply(doc, s.strict); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	c := m.Clone()
	c.Body = body
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	return c, nil
}

// lookup finds the object holding the last segment of path.
func lookup(doc map[string]any, path []string, create bool) (map[string]any, bool) {
	obj := doc
	for _, seg := range path[:len(path)-1] {
		next, ok := obj[seg].(map[string]any)
		if !ok {
			if !create || obj[seg] != nil {
				return nil, false
			}
			next = map[string]any{}
			obj[seg] = next
		}
		obj = next
	}
	return obj, true
}

func (r rule) apply(doc map[string]any, strict bool) error {
	name := strings.Join(r.from, ".")
	parent, ok := lookup(doc, r.from, false)
	var v any
	if ok {
		v, ok = parent[r.from[len(r.from)-1]]
	}
	if !ok {
		if strict {
			return fmt.Errorf("field %s: missing", name)
		}
		return nil
	}
	if r.numeric {
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("field %s: %T is not a number", name, v)
		}
		f, err := n.Float64()
		if err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		if r.convert != nil {
			f = r.convert(f)
		}
		f = f*r.scale + r.offset
		if r.round >= 0 {
			p := math.Pow(10, float64(r.round))
			f = math.Round(f*p) / p
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("field %s: result is not a finite number", name)
		}
		v = json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	delete(parent, r.from[len(r.from)-1])
	dst, ok := lookup(doc, r.to, true)
	if !ok {
		return fmt.Errorf("field %s: cannot write %s: a parent is not an object", name, strings.Join(r.to, "."))
	}
	dst[r.to[len(r.to)-1]] = v
	return nil
}
