package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/rosettamq/rosetta/core/message"
)

func TestUnits(t *testing.T) {
	tests := []struct {
		name, opts, in, want string
		wantErr              bool
	}{
		{"f to c renamed", `{"fields":{"temp_f":{"to":"temp_c","convert":"f_to_c"}}}`, `{"temp_f":212,"id":"a"}`, `{"temp_c":100,"id":"a"}`, false},
		{"round", `{"fields":{"t":{"convert":"f_to_c","round":1}}}`, `{"t":70}`, `{"t":21.1}`, false},
		{"nested rename into new object", `{"fields":{"wind.mph":{"to":"w.kmh","convert":"mph_to_kmh","round":0}}}`, `{"wind":{"mph":10,"dir":"N"}}`, `{"wind":{"dir":"N"},"w":{"kmh":16}}`, false},
		{"rename only keeps value", `{"fields":{"dev":{"to":"device_id"}}}`, `{"dev":{"x":[1,2]}}`, `{"device_id":{"x":[1,2]}}`, false},
		{"scale and offset", `{"fields":{"v":{"scale":2,"offset":1}}}`, `{"v":3}`, `{"v":7}`, false},
		{"big integer untouched", `{"fields":{"a":{"to":"b"}}}`, `{"a":1,"n":12345678901234567890}`, `{"b":1,"n":12345678901234567890}`, false},
		{"missing ignored", `{"fields":{"x":{"convert":"c_to_f"}}}`, `{"y":1}`, `{"y":1}`, false},
		{"missing strict", `{"fields":{"x":{"convert":"c_to_f"}},"strict":true}`, `{"y":1}`, ``, true},
		{"not a number", `{"fields":{"x":{"convert":"c_to_f"}}}`, `{"x":"hot"}`, ``, true},
		{"not an object", `{"fields":{"x":{"to":"y"}}}`, `[1]`, ``, true},
		{"trailing data", `{"fields":{"x":{"to":"y"}}}`, `{"x":1} {}`, ``, true},
		{"parent not object", `{"fields":{"x":{"to":"s.y"}}}`, `{"x":1,"s":"str"}`, ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := plugin{}.NewStep([]byte(tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			m := &message.Message{Body: []byte(tc.in), ContentType: "application/json"}
			r := s.Apply(context.Background(), []*message.Message{m})[0]
			if tc.wantErr {
				if r.Err == nil {
					t.Fatalf("no error, got %s", r.Msg.Body)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			var got, want any
			dec := json.NewDecoder(bytes.NewReader(r.Msg.Body))
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			dec = json.NewDecoder(bytes.NewReader([]byte(tc.want)))
			dec.UseNumber()
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %s, want %s", r.Msg.Body, tc.want)
			}
			if string(m.Body) != tc.in {
				t.Fatal("input changed")
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, opts := range []string{
		``, `{}`, `{"fields":{}}`, `{"fields":{"a":{}}}`, `{"fields":{"a":{"convert":"nope"}}}`,
		`{"fields":{"a..b":{"to":"c"}}}`, `{"fields":{"a":{"to":"b."}}}`, `{"fields":{"a":{"round":99}}}`,
		`{"fields":{"a":{"to":"b"}},"typo":true}`,
	} {
		if _, err := (plugin{}).NewStep([]byte(opts)); err == nil {
			t.Errorf("%q: no error", opts)
		}
	}
}

func TestContentType(t *testing.T) {
	s, err := plugin{}.NewStep([]byte(`{"fields":{"a":{"to":"b"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Apply(context.Background(), []*message.Message{
		{Body: []byte(`{"a":1}`), ContentType: "text/plain"},
		{Body: []byte(`{"a":1}`), ContentType: "application/vnd.acme+json; charset=utf-8"},
	})
	if r[0].Err == nil || r[1].Err != nil {
		t.Fatalf("%v %v", r[0].Err, r[1].Err)
	}
}
