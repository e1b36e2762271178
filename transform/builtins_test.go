package transform

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/message"
)

func unhex(t testing.TB, s string) string {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBuiltins covers each built-in with good and bad input. A bad input
// must give an error, never a panic, and never a half-made message.
func TestBuiltins(t *testing.T) {
	r := Builtins()
	type tc struct {
		name   string
		cfg    any
		ct     string
		in     string
		wantCT string
		want   string // body; with err set, a substring of the error
		err    bool
	}
	cases := []tc{
		// json-to-cbor
		{"j2c numbers", "json-to-cbor", ctJSON, `[1,-1,1.5,18446744073709551615,1e300,0.1]`, ctCBOR,
			unhex(t, "86 01 20 f93e00 1bffffffffffffffff fb7e37e43c8800759c fb3fb999999999999a"), false},
		{"j2c nested", "json-to-cbor", ctJSON, `{"b":[null,"x"],"a":{}}`, ctCBOR, unhex(t, "a2 6161 a0 6162 82 f6 6178"), false},
		{"j2c bad json", "json-to-cbor", ctJSON, `{"a":`, "", "parse json", true},
		{"j2c trailing", "json-to-cbor", ctJSON, `{} {}`, "", "data after the first value", true},
		{"j2c empty", "json-to-cbor", ctJSON, ``, "", "empty body", true},
		{"j2c too deep", "json-to-cbor", ctJSON, strings.Repeat("[", 1500) + strings.Repeat("]", 1500), "", "nested deeper", true},
		{"j2c huge number", "json-to-cbor", ctJSON, `1e999`, "", "out of range", true},
		// cbor-to-json
		{"c2j bytes and tags", "cbor-to-json", ctCBOR, unhex(t, "a3 6162 43010203 6174 c074323032342d30312d30325430333a30343a30355a 6175 d82018ff"), ctJSON,
			`{"b":"AQID","t":"2024-01-02T03:04:05Z","u":255}`, false},
		{"c2j int keys", "cbor-to-json", ctCBOR, unhex(t, "a2 01 61 61 20 61 62"), ctJSON, `{"-1":"b","1":"a"}`, false},
		{"c2j bignum", "cbor-to-json", ctCBOR, unhex(t, "c2 49 010000000000000000"), ctJSON, `18446744073709551616`, false},
		{"c2j nan", "cbor-to-json", ctCBOR, unhex(t, "82 f97e00 f97c00"), ctJSON, `[null,null]`, false},
		{"c2j undefined simple", "cbor-to-json", ctCBOR, unhex(t, "82 f7 f0"), ctJSON, `[null,null]`, false},
		{"c2j array key", "cbor-to-json", ctCBOR, unhex(t, "a1 80 01"), "", "parse cbor", true},
		{"c2j float key", "cbor-to-json", ctCBOR, unhex(t, "a1 f93c00 01"), "", "cannot be a JSON object key", true},
		{"c2j truncated", "cbor-to-json", ctCBOR, unhex(t, "82 01"), "", "parse cbor", true},
		{"c2j trailing", "cbor-to-json", ctCBOR, unhex(t, "01 02"), "", "parse cbor", true},
		{"c2j bad utf8", "cbor-to-json", ctCBOR, unhex(t, "61 ff"), "", "parse cbor", true},
		{"c2j huge length", "cbor-to-json", ctCBOR, unhex(t, "9b 00ffffffffffffff"), "", "parse cbor", true},
		{"c2j empty", "cbor-to-json", ctCBOR, "", "", "empty body", true},
		{"c2j gzip", "cbor-to-json", ctCBOR, "", "", "content-encoding", true},
		// json-to-msgpack
		{"j2m numbers", "json-to-msgpack", ctJSON, `[1,-1,300,1.5,18446744073709551615]`, ctMsgpack,
			unhex(t, "95 01 ff cd012c cb3ff8000000000000 cfffffffffffffffff"), false},
		{"j2m bad json", "json-to-msgpack", ctJSON, `nope`, "", "parse json", true},
		// msgpack-to-json
		{"m2j types", "msgpack-to-json", ctMsgpack, unhex(t, "84 a162 c403010203 a169 d0ff a166 ca3fc00000 01 c3"), ctJSON,
			`{"1":true,"b":"AQID","f":1.5,"i":-1}`, false},
		{"m2j timestamp", "msgpack-to-json", ctMsgpack, unhex(t, "d6ff 65936d85"), ctJSON, `"2024-01-02T01:57:25Z"`, false},
		{"m2j bin key", "msgpack-to-json", ctMsgpack, unhex(t, "81 c40101 01"), "", "not a string or an integer", true},
		{"m2j array key", "msgpack-to-json", ctMsgpack, unhex(t, "81 90 01"), "", "not a string or an integer", true},
		{"m2j huge array", "msgpack-to-json", ctMsgpack, unhex(t, "dd ffffffff"), "", "exceeds the body", true},
		{"m2j lying array", "msgpack-to-json", ctMsgpack, unhex(t, "dd 00000003 01"), "", "declares more items", true},
		{"m2j truncated str", "msgpack-to-json", ctMsgpack, unhex(t, "a5 6869"), "", "truncated", true},
		{"m2j trailing", "msgpack-to-json", ctMsgpack, unhex(t, "01 02"), "", "1 bytes after", true},
		{"m2j reserved", "msgpack-to-json", ctMsgpack, unhex(t, "c1"), "", "reserved", true},
		{"m2j unknown ext", "msgpack-to-json", ctMsgpack, unhex(t, "d4 05 00"), "", "ext", true},
		{"m2j too deep", "msgpack-to-json", ctMsgpack, strings.Repeat("\x91", 1500) + "\x01", "", "nested deeper", true},
		{"m2j empty", "msgpack-to-json", ctMsgpack, "", "", "empty body", true},
		// json-to-xml
		{"j2x escaping", "json-to-xml", ctJSON, `{"a":"<&>\"\r\u0001","@id":"x\"y"}`, ctXML, `<root id="x&quot;y"><a>&lt;&amp;&gt;&quot;&#xD;` + "\uFFFD" + `</a></root>`, false},
		{"j2x nested arrays", "json-to-xml", ctJSON, `{"m":[[1,2],[]],"e":[],"n":null,"t":true}`, ctXML, `<root><m><item>1</item><item>2</item></m><m></m><n/><t>true</t></root>`, false},
		{"j2x scalar", "json-to-xml", ctJSON, `"hi"`, ctXML, `<root>hi</root>`, false},
		{"j2x bad key", "json-to-xml", ctJSON, `{"a b":1}`, "", `key "a b" is not a valid XML element name`, true},
		{"j2x bad attribute", "json-to-xml", ctJSON, `{"@a":{}}`, "", "want a scalar", true},
		{"j2x bad json", "json-to-xml", ctJSON, `[`, "", "parse json", true},
		// xml-to-json
		{"x2j mixed", "xml-to-json", ctXML, `<?xml version="1.0"?><!-- c --><r xmlns="urn:x" a="1"> t <b>x</b><c/><b>y</b></r>`, ctJSON,
			`{"@a":"1","b":["x","y"],"c":"","#text":"t"}`, false},
		{"x2j namespaces", "xml-to-json", ctXML, `<p:r xmlns:p="urn:p"><p:a p:k="v">1</p:a></p:r>`, ctJSON, `{"a":{"@k":"v","#text":"1"}}`, false},
		{"x2j entities", "xml-to-json", ctXML, `<r>&lt;&#65;&amp;</r>`, ctJSON, `"<A&"`, false},
		{"x2j unknown entity", "xml-to-json", ctXML, `<r>&x;</r>`, "", "parse xml", true},
		{"x2j unclosed", "xml-to-json", ctXML, `<r><a></r>`, "", "parse xml", true},
		{"x2j two roots", "xml-to-json", ctXML, `<a/><b/>`, "", "more than one root", true},
		{"x2j no root", "xml-to-json", ctXML, `<!-- -->`, "", "no root element", true},
		{"x2j text outside", "xml-to-json", ctXML, `<a/>x`, "", "text outside", true},
		{"x2j latin1 decl", "xml-to-json", ctXML, `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, "", "parse xml", true},
		{"x2j too deep", "xml-to-json", ctXML, strings.Repeat("<a>", 1100) + strings.Repeat("</a>", 1100), "", "nested deeper", true},
		// csv-to-json
		{"csv quoted", "csv-to-json", ctCSV, "\ufeffname,note\n\"a, b\",\"say \"\"hi\"\"\"\n", ctJSON, `[{"name":"a, b","note":"say \"hi\""}]`, false},
		{"csv header only", "csv-to-json", ctCSV, "a,b\n", ctJSON, `[]`, false},
		{"csv empty", "csv-to-json", ctCSV, "", ctJSON, `[]`, false},
		{"csv crlf", "csv-to-json", ctCSV, "a\r\n1\r\n", ctJSON, `[{"a":"1"}]`, false},
		{"csv column order", "csv-to-json", ctCSV, "z,a\n1,2\n", ctJSON, `[{"z":"1","a":"2"}]`, false},
		{"csv ragged", "csv-to-json", ctCSV, "a,b\n1\n", "", "wrong number of fields", true},
		{"csv bare quote", "csv-to-json", ctCSV, "a\nx\"y\n", "", "parse csv", true},
		{"csv duplicate header", "csv-to-json", ctCSV, "a,a\n1,2\n", "", `column "a" twice`, true},
		{"csv tab", map[string]any{"csv-to-json": map[string]any{"delimiter": "tab"}}, ctCSV, "a\tb\n1\t2\n", ctJSON, `[{"a":"1","b":"2"}]`, false},
		// charset
		{"latin1 to utf8", map[string]any{"charset": map[string]any{"from": "latin1"}}, "text/plain", "caf\xe9", "text/plain; charset=utf-8", "café", false},
		{"from content type", "charset", "text/plain; charset=ISO-8859-1", "\xe9", "text/plain; charset=utf-8", "é", false},
		{"utf16 bom le", map[string]any{"charset": map[string]any{"from": "utf-16"}}, "text/plain", "\xff\xfeh\x00\x3d\xd8\x00\xde", "text/plain; charset=utf-8", "h\U0001F600", false},
		{"to utf16", map[string]any{"charset": map[string]any{"to": "utf-16"}}, "", "h\U0001F600", "text/plain; charset=utf-16", "\xfe\xff\x00h\xd8\x3d\xde\x00", false},
		{"to utf16le", map[string]any{"charset": map[string]any{"to": "utf-16le"}}, "", "hé", "text/plain; charset=utf-16le", "h\x00\xe9\x00", false},
		{"utf16be no bom", map[string]any{"charset": map[string]any{"from": "utf-16be"}}, "", "\x00h", "text/plain; charset=utf-8", "h", false},
		{"to ascii replace", map[string]any{"charset": map[string]any{"to": "ascii", "on_error": "replace"}}, "", "café", "text/plain; charset=us-ascii", "caf?", false},
		{"to latin1 fails", map[string]any{"charset": map[string]any{"to": "latin1"}}, "", "€", "", "has no iso-8859-1 form", true},
		{"bad utf8", "charset", "", "a\xffb", "", "not utf-8", true},
		{"bad utf8 replaced", map[string]any{"charset": map[string]any{"on_error": "replace"}}, "", "a\xffb", "text/plain; charset=utf-8", "a\uFFFDb", false},
		{"odd utf16", map[string]any{"charset": map[string]any{"from": "utf-16le"}}, "", "a", "", "odd number", true},
		{"lone surrogate", map[string]any{"charset": map[string]any{"from": "utf-16be"}}, "", "\xd8\x00", "", "unpaired surrogate", true},
		{"unknown charset in type", "charset", "text/plain; charset=koi8-r", "x", "", `charset "koi8-r"`, true},
		// base64
		{"b64 url raw", map[string]any{"base64-encode": map[string]any{"encoding": "raw-url"}}, "", "\xfb\xff", "text/plain", "-_8", false},
		{"b64 decode wrapped", "base64-decode", "text/plain", "YWJj\r\nZA==", "application/octet-stream", "abcd", false},
		{"b64 decode bad", "base64-decode", "text/plain", "YW*j", "", "decode base64", true},
		// jq
		{"jq shorthand", map[string]any{"jq": "{t: .temp}"}, ctJSON, `{"temp":21.5}`, ctJSON, `{"t":21.5}`, false},
		{"jq keeps big ints", map[string]any{"jq": ".n"}, ctJSON, `{"n":123456789012345678901234567890}`, ctJSON, `123456789012345678901234567890`, false},
		{"jq no value", map[string]any{"jq": "empty"}, ctJSON, `{}`, "", "produced no value", true},
		{"jq two values", map[string]any{"jq": ".[]"}, ctJSON, `[1,2]`, "", "more than one value", true},
		{"jq error", map[string]any{"jq": `error("no")`}, ctJSON, `{}`, "", "no", true},
		{"jq type error", map[string]any{"jq": `.a + 1`}, ctJSON, `{"a":"x"}`, "", "cannot add", true},
		{"jq env hidden", map[string]any{"jq": `$ENV | length`}, ctJSON, `{}`, ctJSON, `0`, false},
		{"jq bad input", map[string]any{"jq": "."}, ctJSON, `{`, "", "parse json", true},
		// redact
		{"redact paths", map[string]any{"redact": []any{".password", ".user.ssn", ".items[].secret", `.["odd key"]`}}, ctJSON,
			`{"password":"p","user":{"ssn":"1","name":"n"},"items":[{"secret":1},{"x":2},3],"odd key":0}`, ctJSON,
			`{"items":[{},{"x":2},3],"user":{"name":"n"}}`, false},
		{"redact nothing keeps bytes", map[string]any{"redact": ".nope"}, ctJSON, `{"b": 1, "a": 2}`, ctJSON, `{"b": 1, "a": 2}`, false},
		{"redact not json", map[string]any{"redact": ".a"}, ctJSON, `a=1`, "", "parse json", true},
		// headers: body unchanged
		{"headers ct", map[string]any{"headers": map[string]any{"content_type": "text/x"}}, ctJSON, `{}`, "text/x", `{}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := msg(c.ct, c.in)
			if c.name == "c2j gzip" {
				m.ContentEncoding = "gzip"
			}
			orig := m.Clone()
			got, err := run(t, r, c.cfg, m)
			if !reflect.DeepEqual(m, orig) {
				t.Fatal("the step changed its input message")
			}
			if c.err {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v (%q), want an error containing %q", err, got.Body, c.want)
				}
				if got != nil {
					t.Fatal("a message came with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Body) != c.want || got.ContentType != c.wantCT {
				t.Fatalf("got %q %q\nwant %q %q", got.ContentType, got.Body, c.wantCT, c.want)
			}
		})
	}
}

func TestHeadersAndRedactHeaders(t *testing.T) {
	r := Builtins()
	m := msg(ctJSON, `{}`)
	m.Headers = message.Headers{
		{Key: "a", Value: message.String("1")},
		{Key: "secret", Value: message.String("s")},
		{Key: "old", Value: message.Int(2)},
		{Key: "secret", Value: message.String("t")},
	}
	orig := m.Clone()
	got, err := run(t, r, []any{
		map[string]any{"redact": map[string]any{"headers": []any{"secret"}}},
		map[string]any{"headers": map[string]any{
			"remove": []any{"a"},
			"rename": map[string]any{"old": "new"},
			"set":    map[string]any{"n": 3, "f": 1.5, "b": true, "s": "x", "z": nil, "j": json.Number("7")},
		}},
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	want := message.Headers{
		{Key: "new", Value: message.Int(2)},
		{Key: "b", Value: message.Bool(true)},
		{Key: "f", Value: message.Float(1.5)},
		{Key: "j", Value: message.Int(7)},
		{Key: "n", Value: message.Int(3)},
		{Key: "s", Value: message.String("x")},
		{Key: "z", Value: message.Null()},
	}
	if !reflect.DeepEqual(got.Headers, want) {
		t.Fatalf("headers %+v\nwant %+v", got.Headers, want)
	}
	if !reflect.DeepEqual(m, orig) {
		t.Fatal("input changed")
	}
}

func TestWhen(t *testing.T) {
	r := Builtins()
	cfg := []any{map[string]any{"when": []any{"cbor", "application/x-msgpack"}, "do": []any{
		map[string]any{"when": "application/cbor", "do": "cbor-to-json"},
		map[string]any{"when": "msgpack", "do": "msgpack-to-json"},
	}}}
	for _, tc := range []struct{ ct, in, wantCT, want string }{
		{"application/cbor", "\x01", ctJSON, "1"},
		{"application/cbor; foo=bar", "\x01", ctJSON, "1"},
		{"application/msgpack", "\x02", ctJSON, "2"},
		{ctJSON, "3", ctJSON, "3"},
		{"", "\x04", "", "\x04"},
	} {
		m := msg(tc.ct, tc.in)
		got, err := run(t, r, cfg, m)
		if err != nil {
			t.Fatal(err)
		}
		if got.ContentType != tc.wantCT || string(got.Body) != tc.want {
			t.Errorf("%s: got %q %q", tc.ct, got.ContentType, got.Body)
		}
		if tc.ct == ctJSON && got != m {
			t.Error("a message that did not match was copied")
		}
	}
	for _, tc := range []struct {
		pattern, ct string
		want        bool
	}{
		{"*/*", "", true}, {"application/*", "application/cbor", true}, {"text/*", "application/cbor", false},
		{"xml", "text/xml", true}, {"application/xml", "text/xml; charset=utf-8", true}, {"json", "application/vnd.x+json", true},
		{"json", "", false}, {"text/plain", "TEXT/PLAIN", true},
	} {
		if got := mediaMatches(tc.pattern, tc.ct); got != tc.want {
			t.Errorf("mediaMatches(%q, %q) = %v", tc.pattern, tc.ct, got)
		}
	}
}

// TestAppendJSON checks the JSON writer against encoding/json for what
// both write.
func TestAppendJSON(t *testing.T) {
	for _, v := range []any{
		"plain", "quote\" back\\ nl\n tab\t cr\r ctl\x01 del\x7f é \u2028 <&>", 0.1, 1e21, 1e20, 1e-7, 123456789.0, math.Copysign(0, -1),
		float32(0.1), float32(1e-7), int64(-5), uint64(1 << 63), []any{nil, true, false}, map[string]any{"b": 1.0, "a": []any{}},
	} {
		got, err := encodeJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(buf.String(), "\n")
		want = strings.ReplaceAll(want, `\u2028`, "\u2028")
		if string(got) != want {
			t.Errorf("%#v: got %s, want %s", v, got, want)
		}
	}
	if got, _ := encodeJSON("bad\xffutf8"); string(got) != `"bad\ufffdutf8"` {
		t.Errorf("invalid UTF-8: %s", got)
	}
	if _, err := encodeJSON(struct{}{}); err == nil {
		t.Error("unknown type rendered")
	}
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-1": true, "1.5": true, "1e5": true, "1E+5": true, "-0.0e-1": true,
		"": false, "01": false, "1.": false, ".5": false, "1e": false, "+1": false, "0x1": false, "NaN": false, "-": false,
	} {
		if got := isJSONNumber(s); got != want {
			t.Errorf("isJSONNumber(%q) = %v", s, got)
		}
	}
}
