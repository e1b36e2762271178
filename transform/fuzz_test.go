package transform

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// The parser-facing steps must turn any input into a result or an error,
// never a panic; what they produce must be valid in the format they claim,
// and a document that survived one conversion must survive the trip back.

func apply1(t *testing.T, s Step, ct string, body []byte) (*message.Message, error) {
	t.Helper()
	m, err := convert(s, ct, body)
	if m == nil && err == nil {
		t.Fatal("a converter dropped a message")
	}
	return m, err
}

func convert(s Step, ct string, body []byte) (*message.Message, error) {
	res := s.Apply(context.Background(), []*message.Message{{ContentType: ct, Body: body}})
	return res[0].Msg, res[0].Err
}

func mustBuild(t testing.TB, cfg any) Step {
	p, err := Builtins().Pipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func seedExamples(f *testing.F, step string) {
	s, _ := Builtins().Lookup(step)
	for _, ex := range s.Examples {
		f.Add([]byte(ex.Input))
	}
}

// fuzzBinaryToJSON checks decode → JSON → encode → JSON gives the same
// value.
func fuzzBinaryToJSON(f *testing.F, dec, enc, ct string) {
	seedExamples(f, dec)
	for _, doc := range roundTripDocs {
		if out, err := convert(mustBuild(f, enc), ctJSON, []byte(doc)); err == nil {
			f.Add(out.Body)
		}
	}
	decS, encS := mustBuild(f, dec), mustBuild(f, []any{enc, dec})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := apply1(t, decS, ct, data)
		if err != nil {
			return
		}
		if !json.Valid(out.Body) {
			t.Fatalf("invalid JSON %q from %x", out.Body, data)
		}
		back, err := apply1(t, encS, ctJSON, out.Body)
		if err != nil {
			t.Fatalf("JSON %s from %x does not convert back: %v", out.Body, data, err)
		}
		if !sameJSON(t, out.Body, back.Body) {
			t.Fatalf("round trip changed %s into %s", out.Body, back.Body)
		}
	})
}

func FuzzCBORToJSON(f *testing.F) {
	f.Add([]byte("\xa2\x01\x61\x61\x20\x61\x62"))
	f.Add([]byte("\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x9b\x00\xff\xff\xff\xff\xff\xff\xff"))
	fuzzBinaryToJSON(f, "cbor-to-json", "json-to-cbor", ctCBOR)
}

func FuzzMsgpackToJSON(f *testing.F) {
	f.Add([]byte("\x84\xa1b\xc4\x03\x01\x02\x03\xa1i\xd0\xff\xa1f\xca\x3f\xc0\x00\x00\x01\xc3"))
	f.Add([]byte("\xd6\xff\x65\x93\x6d\x85"))
	f.Add([]byte("\xdd\x00\x00\x00\x03\x01"))
	fuzzBinaryToJSON(f, "msgpack-to-json", "json-to-msgpack", ctMsgpack)
}

func FuzzXMLToJSON(f *testing.F) {
	seedExamples(f, "xml-to-json")
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r xmlns:p="u" p:a="1"> t <b>x</b><c/><b>y</b>&amp;</r>`))
	f.Add([]byte(`<a><![CDATA[<x>]]></a>`))
	plain := mustBuild(f, "xml-to-json")
	typed := mustBuild(f, map[string]any{"xml-to-json": map[string]any{"infer_types": true, "keep_root": true}})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []Step{plain, typed} {
			out, err := apply1(t, s, ctXML, data)
			if err == nil && !json.Valid(out.Body) {
				t.Fatalf("invalid JSON %q from %q", out.Body, data)
			}
		}
	})
}

func FuzzCSVToJSON(f *testing.F) {
	seedExamples(f, "csv-to-json")
	f.Add([]byte("\ufeffa,b\n\"x,\"\"y\",2\r\n"))
	f.Add([]byte("a,a\n"))
	steps := []Step{
		mustBuild(f, "csv-to-json"),
		mustBuild(f, map[string]any{"csv-to-json": map[string]any{"header": false, "delimiter": ";"}}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range steps {
			out, err := apply1(t, s, ctCSV, data)
			if err == nil && !json.Valid(out.Body) {
				t.Fatalf("invalid JSON %q from %q", out.Body, data)
			}
		}
	})
}

// FuzzJSONSteps feeds JSON (or not) to every step that parses JSON.
func FuzzJSONSteps(f *testing.F) {
	for _, doc := range roundTripDocs {
		f.Add([]byte(doc))
	}
	f.Add([]byte(`{"password":1,"items":[{"secret":2}],"@a":"x","#text":"y","a b":1}`))
	steps := map[string]Step{}
	for name, cfg := range map[string]any{
		"cbor": "json-to-cbor", "msgpack": "json-to-msgpack", "xml": "json-to-xml",
		"jq": map[string]any{"jq": "."}, "redact": map[string]any{"redact": []any{".password", ".items[].secret"}},
	} {
		steps[name] = mustBuild(f, cfg)
	}
	back := map[string]Step{"cbor": mustBuild(f, "cbor-to-json"), "msgpack": mustBuild(f, "msgpack-to-json")}
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, s := range steps {
			out, err := apply1(t, s, ctJSON, data)
			if err != nil {
				continue
			}
			switch name {
			case "jq", "redact":
				if !json.Valid(out.Body) {
					t.Fatalf("%s: invalid JSON %q", name, out.Body)
				}
			case "cbor", "msgpack":
				if _, err := apply1(t, back[name], out.ContentType, out.Body); err != nil {
					t.Fatalf("%s of %q does not decode: %v", name, data, err)
				}
			}
		}
	})
}

func FuzzCharset(f *testing.F) {
	f.Add([]byte("caf\xc3\xa9"), uint8(0), uint8(1))
	f.Add([]byte("\xff\xfe\x00\xd8"), uint8(3), uint8(5))
	names := []string{"utf-8", "latin1", "us-ascii", "utf-16", "utf-16be", "utf-16le"}
	var steps [][]Step
	for _, from := range names {
		var row []Step
		for _, to := range names {
			row = append(row,
				mustBuild(f, map[string]any{"charset": map[string]any{"from": from, "to": to}}),
				mustBuild(f, map[string]any{"charset": map[string]any{"from": from, "to": to, "on_error": "replace"}}))
		}
		steps = append(steps, row)
	}
	f.Fuzz(func(t *testing.T, data []byte, from, to uint8) {
		row := steps[int(from)%len(steps)]
		i := int(to) % len(row)
		out, err := apply1(t, row[i], "text/plain", data)
		if i%2 == 1 && err != nil {
			t.Fatalf("replace mode failed: %v", err)
		}
		_ = out
	})
}

func FuzzAccept(f *testing.F) {
	for _, s := range []string{"json", "application/xml;q=0.5, application/msgpack", "*/*;q=0", "text/*;q=0.001", "a/b/c", "json;q=1.000;x", ",,", "JSON;Q=0.5"} {
		f.Add(s)
	}
	e, err := NewEngine(EngineConfig{SniffJSON: true})
	if err != nil {
		f.Fatal(err)
	}
	m := &message.Message{ID: "f", ContentType: ctCBOR, Body: []byte(cborDoc)}
	f.Fuzz(func(t *testing.T, s string) {
		items, err := ParseAccept(s)
		if err == nil {
			if len(items) > maxAcceptItems {
				t.Fatalf("%d items", len(items))
			}
			for i, it := range items {
				if it.Q < 0 || it.Q > 1 || it.Range == "" || i > 0 && items[i-1].Q < it.Q {
					t.Fatalf("bad items %v", items)
				}
			}
		}
		r := exchange.Receiver{Accept: s}
		cerr := e.Check(r)
		got, terr := e.Transform(context.Background(), m, r)
		if cerr == nil && s != "" && terr == nil && got == nil {
			t.Fatal("accepted value dropped the message")
		}
	})
}
