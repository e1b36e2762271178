package transform

import (
	"context"
	"strconv"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// benchDoc is a ~200-byte sensor reading, the size the brief's figures use.
const benchDoc = `{"device":"sensor-0042","site":"plant-7","ts":1700000000123,"temp":21.54,"humidity":48.2,` +
	`"ok":true,"tags":["north","roof"],"password":"hunter2","reading":{"unit":"C","raw":2154,"scale":-2}}`

const benchCSV = "device,site,ts,temp,humidity,ok\nsensor-0042,plant-7,1700000000123,21.54,48.2,true\n" +
	"sensor-0043,plant-7,1700000000456,19.02,51.9,true\nsensor-0044,plant-8,1700000000789,22.70,44.1,false\n"

func encoded(b *testing.B, step string) string {
	out, err := convert(mustBuild(b, step), ctJSON, []byte(benchDoc))
	if err != nil {
		b.Fatal(err)
	}
	return string(out.Body)
}

func BenchmarkBuiltins(b *testing.B) {
	cases := []struct {
		name string
		cfg  any
		ct   string
		in   string
	}{
		{"json-to-cbor", "json-to-cbor", ctJSON, benchDoc},
		{"cbor-to-json", "cbor-to-json", ctCBOR, encoded(b, "json-to-cbor")},
		{"json-to-msgpack", "json-to-msgpack", ctJSON, benchDoc},
		{"msgpack-to-json", "msgpack-to-json", ctMsgpack, encoded(b, "json-to-msgpack")},
		{"json-to-xml", "json-to-xml", ctJSON, benchDoc},
		{"xml-to-json", "xml-to-json", ctXML, encoded(b, "json-to-xml")},
		{"csv-to-json", "csv-to-json", ctCSV, benchCSV},
		{"charset", map[string]any{"charset": map[string]any{"to": "utf-16"}}, "application/json; charset=utf-8", benchDoc},
		{"base64-encode", "base64-encode", ctJSON, benchDoc},
		{"base64-decode", "base64-decode", "text/plain", encoded(b, "base64-encode")},
		{"jq", map[string]any{"jq": "{device, t: .temp, unit: .reading.unit}"}, ctJSON, benchDoc},
		{"redact", map[string]any{"redact": []any{".password", ".reading.raw"}}, ctJSON, benchDoc},
		{"headers", map[string]any{"headers": map[string]any{"set": map[string]any{"source": "gw"}, "remove": []any{"x"}}}, ctJSON, benchDoc},
		{"when-skip", map[string]any{"when": "cbor", "do": "cbor-to-json"}, ctJSON, benchDoc},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := mustBuild(b, c.cfg)
			batch := []*message.Message{{ID: "b", ContentType: c.ct, Body: []byte(c.in)}}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				if r := s.Apply(ctx, batch); r[0].Err != nil {
					b.Fatal(r[0].Err)
				}
			}
		})
	}
}

// BenchmarkEngine compares a delivery that needs nothing with one that
// converts (a new message each time, so the cache never answers) and one
// the cache answers.
func BenchmarkEngine(b *testing.B) {
	e, err := NewEngine(EngineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	m := &message.Message{ID: "m", ContentType: ctJSON, Body: []byte(benchDoc)}
	b.Run("passthrough", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got, _ := e.Transform(ctx, m, exchange.Receiver{Protocol: message.ProtocolMQTT}); got != m {
				b.Fatal("transformed")
			}
		}
	})
	b.Run("json-to-cbor-miss", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchDoc)))
		i := 0
		for b.Loop() {
			i++
			c := *m
			c.ID = strconv.Itoa(i)
			if _, err := e.Transform(ctx, &c, exchange.Receiver{Accept: "cbor"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-to-cbor-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Transform(ctx, m, exchange.Receiver{Accept: "cbor"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFanOut delivers one message to 100 receivers asking for three
// formats: with the cache, 3 transformations per message; without, 100.
func BenchmarkFanOut(b *testing.B) {
	accepts := []string{"cbor", "msgpack", "xml"}
	for _, bc := range []struct {
		name    string
		entries int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEngine(EngineConfig{CacheEntries: bc.entries})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				m := &message.Message{ID: strconv.Itoa(i), ContentType: ctJSON, Body: []byte(benchDoc)}
				for r := range 100 {
					if _, err := e.Transform(ctx, m, exchange.Receiver{Accept: accepts[r%3]}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
