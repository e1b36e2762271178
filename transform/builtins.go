package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rosettamq/rosetta/core/message"
)

type builtin struct {
	spec    Spec
	factory Factory
}

// builtins is the table Builtins registers.
func builtins() []builtin {
	return []builtin{
		{Spec{
			Name:    "json-to-cbor",
			Summary: "Converts a JSON document to CBOR (RFC 8949), with map keys sorted and floats in their shortest exact form.",
			Input:   []string{ctJSON}, Output: ctCBOR,
			Examples: []Example{{Config: "json-to-cbor", InputType: ctJSON, Input: `{"t":21.5,"ok":true}`,
				OutputType: ctCBOR, Output: "\xa2\x61t\xf9\x4d\x60\x62ok\xf5"}},
		}, codecFactory(ctCBOR, decodeJSON, encodeCBOR)},
		{Spec{
			Name: "cbor-to-json",
			Summary: "Converts a CBOR document to JSON. Byte strings become base64 text, time tags RFC 3339 text, " +
				"bignums numbers, other tags their content; integer map keys become their decimal text; NaN and infinities become null.",
			Input: []string{ctCBOR}, Output: ctJSON,
			Examples: []Example{{Config: "cbor-to-json", InputType: ctCBOR, Input: "\xa2\x61t\xf9\x4d\x60\x62ok\xf5",
				OutputType: ctJSON, Output: `{"ok":true,"t":21.5}`}},
		}, codecFactory(ctJSON, decodeCBOR, encodeJSON)},
		{Spec{
			Name:    "json-to-msgpack",
			Summary: "Converts a JSON document to MessagePack, with map keys sorted and integers in their smallest form.",
			Input:   []string{ctJSON}, Output: ctMsgpack,
			Examples: []Example{{Config: "json-to-msgpack", InputType: ctJSON, Input: `{"t":21,"ok":true}`,
				OutputType: ctMsgpack, Output: "\x82\xa2ok\xc3\xa1t\x15"}},
		}, codecFactory(ctMsgpack, decodeJSON, encodeMsgpack)},
		{Spec{
			Name: "msgpack-to-json",
			Summary: "Converts a MessagePack document to JSON. Binary becomes base64 text, timestamps RFC 3339 text; " +
				"map keys must be strings or integers; other extension types are errors.",
			Input: []string{ctMsgpack}, Output: ctJSON,
			Examples: []Example{{Config: "msgpack-to-json", InputType: ctMsgpack, Input: "\x82\xa2ok\xc3\xa1t\x15",
				OutputType: ctJSON, Output: `{"ok":true,"t":21}`}},
		}, codecFactory(ctJSON, decodeMsgpack, encodeJSON)},
		{Spec{
			Name: "json-to-xml",
			Summary: "Converts a JSON document to XML: object keys become child elements (\"@name\" keys attributes, \"#text\" text), " +
				"arrays repeated elements, null an empty element.",
			Input: []string{ctJSON}, Output: ctXML,
			Options: []Option{
				{Name: "root", Type: TypeString, Default: "root", Description: "Name of the root element."},
				{Name: "item", Type: TypeString, Default: "item", Description: "Element name for the elements of an array that is not under an object key (a top-level array, an array in an array)."},
			},
			Examples: []Example{
				{Config: "json-to-xml", InputType: ctJSON, Input: `{"id":7,"tags":["a","b"],"unit":{"@system":"si","#text":"C"}}`,
					OutputType: ctXML, Output: `<root><id>7</id><tags>a</tags><tags>b</tags><unit system="si">C</unit></root>`},
				{Title: "A top-level array", Config: map[string]any{"json-to-xml": map[string]any{"root": "readings", "item": "r"}}, InputType: ctJSON, Input: `[1,2]`,
					OutputType: ctXML, Output: `<readings><r>1</r><r>2</r></readings>`},
			},
		}, newJSONToXML},
		{Spec{
			Name: "xml-to-json",
			Summary: "Converts an XML document to JSON, reversing json-to-xml: the root element's content becomes the document, " +
				"a leaf element its text, repeated elements an array, attributes \"@name\" keys. Namespaces, comments and the DOCTYPE are dropped.",
			Input: []string{ctXML}, Output: ctJSON,
			Options: []Option{
				{Name: "keep_root", Type: TypeBool, Default: false, Description: "Wrap the result in an object keyed by the root element's name."},
				{Name: "infer_types", Type: TypeBool, Default: false, Description: "Turn text that is a JSON number, true or false into that value, and empty leaves into null; otherwise all text stays a string."},
			},
			Examples: []Example{
				{Config: "xml-to-json", InputType: ctXML, Input: `<root><id>7</id><tags>a</tags><tags>b</tags><unit system="si">C</unit></root>`,
					OutputType: ctJSON, Output: `{"id":"7","tags":["a","b"],"unit":{"@system":"si","#text":"C"}}`},
				{Title: "Typed values", Config: map[string]any{"xml-to-json": map[string]any{"infer_types": true, "keep_root": true}}, InputType: ctXML, Input: `<r><n>1.5</n><ok>true</ok><none/></r>`,
					OutputType: ctJSON, Output: `{"r":{"n":1.5,"ok":true,"none":null}}`},
			},
		}, newXMLToJSON},
		{Spec{
			Name:    "csv-to-json",
			Summary: "Converts CSV (RFC 4180) to a JSON array: with a header row, one object per row keyed by the header's names in column order; without, one array of strings per row.",
			Input:   []string{ctCSV}, Output: ctJSON,
			Options: []Option{
				{Name: "delimiter", Type: TypeString, Default: ",", Description: "Field separator: one character, or \"tab\"."},
				{Name: "header", Type: TypeBool, Default: true, Description: "The first row names the columns."},
			},
			Examples: []Example{
				{Config: "csv-to-json", InputType: ctCSV, Input: "id,temp\n1,21.5\n2,19\n",
					OutputType: ctJSON, Output: `[{"id":"1","temp":"21.5"},{"id":"2","temp":"19"}]`},
				{Title: "Semicolons, no header", Config: map[string]any{"csv-to-json": map[string]any{"delimiter": ";", "header": false}}, InputType: ctCSV, Input: "1;21.5\n",
					OutputType: ctJSON, Output: `[["1","21.5"]]`},
			},
		}, newCSVToJSON},
		{Spec{
			Name: "charset",
			Summary: "Re-encodes text between utf-8, iso-8859-1 (latin1), us-ascii, utf-16, utf-16be and utf-16le, " +
				"and sets the charset parameter of the content type (text/plain when there was none).",
			Options: []Option{
				{Name: "from", Type: TypeString, Description: "Encoding of the input; default: the content type's charset parameter, else utf-8."},
				{Name: "to", Type: TypeString, Default: "utf-8", Description: "Encoding of the output. utf-16 is written big-endian with a byte order mark."},
				{Name: "on_error", Type: TypeString, Default: "fail", Description: "fail: a byte or character that cannot be converted is an error; replace: it becomes U+FFFD (decoding) or ? (encoding)."},
			},
			Examples: []Example{{Config: map[string]any{"charset": map[string]any{"to": "latin1"}}, InputType: "text/plain; charset=utf-8", Input: "café",
				OutputType: "text/plain; charset=iso-8859-1", Output: "caf\xe9"}},
		}, newCharsetStep},
		{Spec{
			Name:    "base64-encode",
			Summary: "Encodes the body as base64 text.",
			Options: []Option{
				{Name: "encoding", Type: TypeString, Default: "std", Description: "Alphabet and padding: std, url (RFC 4648 §5), raw-std or raw-url (no padding)."},
				{Name: "content_type", Type: TypeString, Default: "text/plain", Description: "Content type of the result."},
			},
			Examples: []Example{{Config: "base64-encode", InputType: "application/octet-stream", Input: "\x00\x01\xfe\xff",
				OutputType: "text/plain", Output: "AAH+/w=="}},
		}, newBase64Step(true)},
		{Spec{
			Name:    "base64-decode",
			Summary: "Decodes a base64 body; line breaks are ignored.",
			Options: []Option{
				{Name: "encoding", Type: TypeString, Default: "std", Description: "Alphabet and padding: std, url, raw-std or raw-url."},
				{Name: "content_type", Type: TypeString, Default: "application/octet-stream", Description: "Content type of the result."},
			},
			Examples: []Example{{Config: map[string]any{"base64-decode": map[string]any{"content_type": ctJSON}}, InputType: "text/plain", Input: "eyJhIjoxfQ==",
				OutputType: ctJSON, Output: `{"a":1}`}},
		}, newBase64Step(false)},
		{Spec{
			Name: "jq",
			Summary: "Maps a JSON document with a jq program (gojq dialect). The program must produce exactly one value; " +
				"the process environment is not visible to it.",
			Input: []string{ctJSON}, Output: ctJSON,
			Shorthand: "program",
			Options: []Option{
				{Name: "program", Type: TypeString, Required: true, Description: "The jq program, compiled when the pipeline is built."},
				{Name: "timeout", Type: TypeDuration, Default: "1s", Description: "Longest run per message; 0 means only the engine's timeout."},
			},
			Examples: []Example{
				{Config: map[string]any{"jq": "{t: .temp, at: .ts}"}, InputType: ctJSON, Input: `{"temp":21.5,"ts":1700000000,"debug":{}}`,
					OutputType: ctJSON, Output: `{"at":1700000000,"t":21.5}`},
			},
		}, newJQStep},
		{Spec{
			Name: "redact",
			Summary: "Removes fields from a JSON body and headers from the message. A path is .key, .\"quoted key\", [\"quoted key\"] " +
				"or [] (every array element), chained; it must end with a key. A body with nothing to remove is passed on unchanged.",
			Shorthand: "paths",
			Options: []Option{
				{Name: "paths", Type: TypeStrings, Description: "JSON paths to remove, such as .password, .user.ssn or .items[].secret."},
				{Name: "headers", Type: TypeStrings, Description: "Application headers to remove."},
			},
			Examples: []Example{
				{Config: map[string]any{"redact": map[string]any{"paths": []any{".password", ".items[].secret"}}}, InputType: ctJSON,
					Input: `{"user":"ann","password":"x","items":[{"id":1,"secret":"s"}]}`, OutputType: ctJSON, Output: `{"items":[{"id":1}],"user":"ann"}`},
			},
		}, newRedactStep},
		{Spec{
			Name:    "headers",
			Summary: "Removes, renames and sets application headers (in that order) and may set the content type.",
			Options: []Option{
				{Name: "set", Type: TypeMap, Description: "Headers to set, replacing any of the same name; values keep their YAML type (string, integer, float, boolean, null)."},
				{Name: "rename", Type: TypeMap, Description: "Old name to new name."},
				{Name: "remove", Type: TypeStrings, Description: "Headers to remove."},
				{Name: "content_type", Type: TypeString, Description: "New content type of the message (the body is not changed)."},
			},
			Examples: []Example{
				{Config: map[string]any{"headers": map[string]any{"set": map[string]any{"source": "gateway-1"}, "content_type": "application/vnd.acme+json"}},
					InputType: ctJSON, Input: `{}`, OutputType: "application/vnd.acme+json", Output: `{}`},
			},
		}, newHeadersStep},
		{Spec{
			Name: "when",
			Summary: "Runs steps only for messages whose content type matches; others pass unchanged. " +
				"Usually written as {when: TYPE, do: [steps]}.",
			Options: []Option{
				{Name: "type", Type: TypeStrings, Required: true, Description: "Content types to match: application/cbor, a format name (cbor), a range (application/*, */*); aliases match their format, parameters are ignored."},
				{Name: "do", Type: TypePipeline, Required: true, Description: "The steps to run, as a pipeline."},
			},
			Examples: []Example{
				{Config: map[string]any{"when": "application/cbor", "do": []any{"cbor-to-json"}}, InputType: ctCBOR, Input: "\xa1\x61a\x01",
					OutputType: ctJSON, Output: `{"a":1}`},
				{Title: "A message that does not match passes unchanged", Config: map[string]any{"when": "application/cbor", "do": []any{"cbor-to-json"}},
					InputType: "text/plain", Input: `a=1`, OutputType: "text/plain", Output: `a=1`},
			},
		}, newWhenStep},
	}
}

func codecFactory(out string, decode func([]byte) (any, error), encode func(any) ([]byte, error)) Factory {
	return func(map[string]any) (Step, error) { return convertStep(out, decode, encode), nil }
}

func newJSONToXML(opts map[string]any) (Step, error) {
	root, item := optString(opts, "root"), optString(opts, "item")
	for _, n := range []string{root, item} {
		if !validXMLName(n) {
			return nil, fmt.Errorf("%q is not a valid XML element name", n)
		}
	}
	return convertStep(ctXML, decodeJSON, func(v any) ([]byte, error) { return encodeXML(v, root, item) }), nil
}

func newXMLToJSON(opts map[string]any) (Step, error) {
	keep, infer := optBool(opts, "keep_root"), optBool(opts, "infer_types")
	return convertStep(ctJSON, func(b []byte) (any, error) { return decodeXML(b, keep, infer) }, encodeJSON), nil
}

func newCSVToJSON(opts map[string]any) (Step, error) {
	delim, err := csvDelimiter(optString(opts, "delimiter"))
	if err != nil {
		return nil, err
	}
	header := optBool(opts, "header")
	return StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
		if err := plainBody(m); err != nil {
			return nil, err
		}
		b, err := csvToJSON(m.Body, delim, header)
		if err != nil {
			return nil, err
		}
		return withBody(m, b, ctJSON), nil
	}), nil
}

// whenStep runs its pipeline on the messages whose content type matches.
type whenStep struct {
	types []string
	p     *Pipeline
}

func newWhenStep(opts map[string]any) (Step, error) {
	types := optStrings(opts, "type")
	if len(types) == 0 {
		return nil, errors.New("type: give at least one content type")
	}
	for _, t := range types {
		if err := checkRange(mediaType(t)); err != nil {
			return nil, fmt.Errorf("type %q: %w", t, err)
		}
	}
	return &whenStep{types: types, p: optPipeline(opts, "do")}, nil
}

func (w *whenStep) matches(ct string) bool {
	for _, t := range w.types {
		if mediaMatches(t, ct) {
			return true
		}
	}
	return false
}

func (w *whenStep) Apply(ctx context.Context, batch []*message.Message) []Result {
	out := make([]Result, len(batch))
	var idx []int
	var sub []*message.Message
	for i, m := range batch {
		if w.matches(m.ContentType) {
			idx = append(idx, i)
			sub = append(sub, m)
			continue
		}
		out[i].Msg = m
	}
	if len(sub) > 0 {
		for j, r := range w.p.Apply(ctx, sub) {
			out[idx[j]] = r
		}
	}
	return out
}

// Close closes the wrapped steps.
func (w *whenStep) Close(ctx context.Context) error { return w.p.Close(ctx) }

// String describes the step for Explain.
func (w *whenStep) String() string {
	return "when " + strings.Join(w.types, ", ") + " do " + w.p.String()
}
