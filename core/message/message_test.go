package message

import (
	"math"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
)

func TestValues(t *testing.T) {
	ts := time.Date(2026, 5, 6, 7, 8, 9, 123_456_789, time.FixedZone("X", 3600))
	uuid := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := []struct {
		name string
		v    Value
		kind Kind
		text string
		ok   func(Value) bool // the typed accessor gives the value back
	}{
		{"null", Null(), KindNull, "", func(v Value) bool { return v.Equal(Value{}) }},
		{"string", String("héllo"), KindString, "héllo", func(v Value) bool { return v.Str() == "héllo" }},
		{"int", Int(-42), KindInt, "-42", func(v Value) bool { return v.IntValue() == -42 }},
		{"int min", Int(math.MinInt64), KindInt, "-9223372036854775808", func(v Value) bool { return v.IntValue() == math.MinInt64 }},
		{"float", Float(2.5), KindFloat, "2.5", func(v Value) bool { return v.FloatValue() == 2.5 }},
		{"bool true", Bool(true), KindBool, "true", func(v Value) bool { return v.BoolValue() }},
		{"bool false", Bool(false), KindBool, "false", func(v Value) bool { return !v.BoolValue() }},
		{"bytes", Bytes([]byte("ab")), KindBytes, "ab", func(v Value) bool { return string(v.BytesValue()) == "ab" }},
		{"time keeps milliseconds in UTC", Time(ts), KindTime, "1778047689123", func(v Value) bool {
			return v.TimeValue().Equal(ts.Truncate(time.Millisecond)) && v.TimeValue().Location() == time.UTC
		}},
		{"uuid", UUID(uuid), KindUUID, "deadbeef-0102-0304-0506-0708090a0b0c", func(v Value) bool { return len(v.BytesValue()) == 16 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v.Kind() != tc.kind {
				t.Fatalf("Kind %v, want %v", tc.v.Kind(), tc.kind)
			}
			if got := tc.v.Text(); got != tc.text {
				t.Fatalf("Text %q, want %q", got, tc.text)
			}
			if !tc.ok(tc.v) {
				t.Fatal("accessor did not return the value")
			}
			if !tc.v.Equal(tc.v.clone()) {
				t.Fatal("a clone is not Equal")
			}
			// Accessors of the wrong kind return zero values.
			if tc.kind != KindInt && tc.v.IntValue() != 0 || tc.kind != KindFloat && tc.v.FloatValue() != 0 ||
				tc.kind != KindBool && tc.v.BoolValue() || tc.kind != KindTime && !tc.v.TimeValue().IsZero() {
				t.Fatal("a wrong-kind accessor returned something")
			}
		})
	}
	if Int(1).Equal(Float(1)) || String("1").Equal(Int(1)) || Bytes([]byte{1}).Equal(Bytes([]byte{2})) {
		t.Fatal("Equal across kinds or contents")
	}
	if Kind(200).String() != "kind(200)" || KindUUID.String() != "uuid" {
		t.Fatal("Kind.String")
	}
}

func TestHeaders(t *testing.T) {
	var h Headers
	h.Add("a", String("1"))
	h.Add("b", Int(2))
	h.Add("a", String("3")) // repeated keys keep order (MQTT-3.3.2-18)
	if v, ok := h.Get("a"); !ok || v.Str() != "1" {
		t.Fatalf("Get returned %v %v, want the first", v, ok)
	}
	if _, ok := h.Get("zzz"); ok || h.GetString("zzz") != "" || h.GetString("b") != "2" {
		t.Fatal("Get/GetString of missing or typed values")
	}
	tests := []struct {
		name string
		do   func(*Headers)
		want []string
	}{
		{"Set replaces all, keeps the first position", func(h *Headers) { h.Set("a", String("x")) }, []string{"a=x", "b=2"}},
		{"Set appends a new key", func(h *Headers) { h.Set("c", Bool(true)) }, []string{"a=1", "b=2", "a=3", "c=true"}},
		{"Del removes every copy", func(h *Headers) { h.Del("a") }, []string{"b=2"}},
		{"Del of a missing key", func(h *Headers) { h.Del("zzz") }, []string{"a=1", "b=2", "a=3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := h.Clone()
			tc.do(&c)
			var got []string
			for _, x := range c {
				got = append(got, x.Key+"="+x.Value.Text())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			if len(h) != 3 || h[0].Value.Str() != "1" {
				t.Fatal("changing a clone changed the original")
			}
		})
	}
	if Headers(nil).Clone() != nil {
		t.Fatal("Clone of nil")
	}
}

func TestMessageClone(t *testing.T) {
	m := &Message{
		ID:            "1",
		Address:       address.MustParseMQTT("a/b"),
		Body:          []byte("body"),
		CorrelationID: []byte("c"),
		Headers:       Headers{{Key: "k", Value: Bytes([]byte("v"))}},
		Annotations: Annotations{
			Native:     Headers{{Key: "mqtt.x", Value: String("y")}},
			DeadLetter: &DeadLetter{Reason: "rejected"},
		},
	}
	c := m.Clone()
	c.Address[0] = "z"
	c.Body[0] = 'B'
	c.CorrelationID[0] = 'C'
	c.Headers[0].Value.BytesValue()[0] = 'V'
	c.Annotations.Native[0].Key = "changed"
	c.Annotations.DeadLetter.Reason = "changed"
	if m.Address[0] != "a" || string(m.Body) != "body" || string(m.CorrelationID) != "c" ||
		string(m.Headers[0].Value.BytesValue()) != "v" || m.Annotations.Native[0].Key != "mqtt.x" ||
		m.Annotations.DeadLetter.Reason != "rejected" {
		t.Fatalf("the clone shares memory with the original: %+v", m)
	}
	if (*Message)(nil).Clone() != nil {
		t.Fatal("Clone of nil")
	}
	bare := (&Message{}).Clone()
	if bare.Body != nil || bare.Headers != nil || bare.Annotations.DeadLetter != nil {
		t.Fatal("Clone invented fields")
	}
}

func TestMessageSizeAndExpiry(t *testing.T) {
	m := &Message{Address: address.Address{"ab", "c"}, Body: make([]byte, 10), ID: "id"}
	base := m.Size()
	if base != 10+3+2 {
		t.Fatalf("Size %d", base)
	}
	m.Headers.Add("key", String("value"))
	if got := m.Size(); got != base+3+5+8 {
		t.Fatalf("Size with a header %d", got)
	}
	now := time.Now()
	tests := []struct {
		name    string
		expires time.Time
		want    bool
	}{
		{"never", time.Time{}, false},
		{"future", now.Add(time.Second), false},
		{"exactly now", now, true},
		{"past", now.Add(-time.Second), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.Expires = tc.expires
			if m.Expired(now) != tc.want {
				t.Fatalf("Expired = %v", !tc.want)
			}
		})
	}
}
