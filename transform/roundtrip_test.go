package transform

import (
	"encoding/json"
	"reflect"
	"testing"
)

// sameJSON reports whether a and b hold the same JSON value (numbers
// compared as float64, key order ignored).
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

var roundTripDocs = []string{
	`{"temp":21.5,"unit":"C","ok":true,"tags":["a","b"],"n":null}`,
	`[1,-1,0,1.5,-2.25,1e300,5e-324,9007199254740993,18446744073709551615,-9223372036854775808]`,
	`{"nested":{"deeper":{"list":[{"a":1},{"a":2}]}},"empty":{},"none":[]}`,
	`"just a string with unicode é ✓ 😀 and \"quotes\""`,
	`{"big":123456789012345678901234567890}`,
	`true`,
	`null`,
}

func TestRoundTripBinary(t *testing.T) {
	r := Builtins()
	for _, pair := range [][2]string{{"json-to-cbor", "cbor-to-json"}, {"json-to-msgpack", "msgpack-to-json"}} {
		for _, doc := range roundTripDocs {
			t.Run(pair[0]+"/"+doc, func(t *testing.T) {
				if pair[0] == "json-to-msgpack" && doc == `{"big":123456789012345678901234567890}` {
					t.Skip("MessagePack has no integers beyond 64 bits: the value becomes a float")
				}
				got, err := run(t, r, []any{pair[0], pair[1]}, msg(ctJSON, doc))
				if err != nil {
					t.Fatal(err)
				}
				if !sameJSON(t, got.Body, []byte(doc)) {
					t.Fatalf("got %s\nwant %s", got.Body, doc)
				}
				if doc == roundTripDocs[4] && string(got.Body) != doc {
					t.Fatalf("bignum lost precision: %s", got.Body)
				}
			})
		}
	}
}

// TestRoundTripXML covers the subset of JSON the XML mapping keeps with
// infer_types: a top-level object with XML-name keys, arrays of two or
// more elements, and strings that do not read as numbers, booleans or
// nothing.
func TestRoundTripXML(t *testing.T) {
	r := Builtins()
	cfg := []any{"json-to-xml", map[string]any{"xml-to-json": map[string]any{"infer_types": true}}}
	for _, doc := range []string{
		`{"temp":21.5,"unit":"C","ok":true,"tags":["a","b"],"n":null}`,
		`{"reading":{"@id":"r1","@unit":"C","#text":"21.5 degrees"},"list":[{"a":1},{"a":2,"b":"x y"}]}`,
		`{"deep":{"er":{"est":"<&>\"'"}},"neg":-1.5e-7}`,
		`{"rows":[[1,2],[3,4]]}`,
	} {
		t.Run(doc, func(t *testing.T) {
			got, err := run(t, r, cfg, msg(ctJSON, doc))
			if err != nil {
				t.Fatal(err)
			}
			want := doc
			if doc == `{"rows":[[1,2],[3,4]]}` {
				want = `{"rows":[{"item":[1,2]},{"item":[3,4]}]}` // arrays in arrays gain their item element
			}
			if !sameJSON(t, got.Body, []byte(want)) {
				t.Fatalf("got %s\nwant %s", got.Body, want)
			}
		})
	}
}

func TestRoundTripCharset(t *testing.T) {
	r := Builtins()
	text := "h\u00e9llo w\u00f6rld \U0001F600 \u2028"
	for _, cs := range []string{"utf-16", "utf-16le", "utf-16be", "utf-8"} {
		got, err := run(t, r, []any{
			map[string]any{"charset": map[string]any{"to": cs}},
			"charset", // from the content type's charset parameter back to utf-8
		}, msg("text/plain", text))
		if err != nil {
			t.Fatal(cs, err)
		}
		if string(got.Body) != text || got.ContentType != "text/plain; charset=utf-8" {
			t.Errorf("%s: got %q %q", cs, got.ContentType, got.Body)
		}
	}
	latin := "caf\u00e9 \u00ff"
	got, err := run(t, r, []any{map[string]any{"charset": map[string]any{"to": "latin1"}}, "charset"}, msg("text/plain", latin))
	if err != nil || string(got.Body) != latin {
		t.Errorf("latin1: %q %v", got.Body, err)
	}
}
