package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMQTTTopic(t *testing.T) {
	tests := []struct {
		in   string
		want Address
		err  error
	}{
		{"a", Address{"a"}, nil},
		{"a/b/c", Address{"a", "b", "c"}, nil},
		{"/", Address{"", ""}, nil},
		{"a//b", Address{"a", "", "b"}, nil},
		{"/a/", Address{"", "a", ""}, nil},
		{"$SYS/x", Address{"$SYS", "x"}, nil},
		{"spBv1.0/g/NBIRTH/n", Address{"spBv1.0", "g", "NBIRTH", "n"}, nil},
		{"héllo/wörld", Address{"héllo", "wörld"}, nil},
		{"", nil, ErrEmpty},
		{"a/+", nil, ErrWildcard},
		{"a/#", nil, ErrWildcard},
		{"a+b", nil, ErrWildcard}, // MQTT-3.3.2-2: no wildcard character anywhere
		{"a\x00b", nil, ErrNUL},
		{"\xff", nil, ErrInvalidUTF8},
		{strings.Repeat("a", MaxLength+1), nil, ErrTooLong},
		{strings.Repeat("a/", MaxLevels), nil, ErrTooDeep},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 20 {
			name = name[:20] + "..."
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseMQTTTopic(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %q, want %q", []string(got), []string(tc.want))
			}
			if err == nil && got.MQTT() != tc.in {
				t.Fatalf("MQTT() = %q, want %q", got.MQTT(), tc.in)
			}
		})
	}
}

func TestFromSegments(t *testing.T) {
	tests := []struct {
		name     string
		segs     []string
		err      error
		mqttSafe bool
	}{
		{"plain", []string{"a", "b"}, nil, true},
		{"slash inside a segment", []string{"a/b", "c"}, nil, false},
		{"wildcard characters are data", []string{"a+", "#"}, nil, false},
		{"empty segments", []string{"", ""}, nil, true},
		{"one empty segment renders as an empty topic", []string{""}, nil, false},
		{"none", nil, ErrEmpty, false},
		{"NUL", []string{"a\x00"}, ErrNUL, false},
		{"bad UTF-8", []string{"\xc3"}, ErrInvalidUTF8, false},
		{"too long", []string{strings.Repeat("x", MaxLength)}, ErrTooLong, false},
		{"too deep", make([]string, MaxLevels+1), ErrTooDeep, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]string(nil), tc.segs...)
			a, err := FromSegments(in...)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			in[0] = "changed"
			if a[0] == "changed" {
				t.Fatal("FromSegments kept the caller's slice")
			}
			if a.MQTTSafe() != tc.mqttSafe {
				t.Fatalf("MQTTSafe %v, want %v", a.MQTTSafe(), tc.mqttSafe)
			}
			back, err := ParseMQTTTopic(a.MQTT())
			if roundTrips := err == nil && back.Equal(a); roundTrips != tc.mqttSafe {
				t.Fatalf("MQTTSafe %v but the rendering round-trips: %v", tc.mqttSafe, roundTrips)
			}
		})
	}
}

func TestAddressHelpers(t *testing.T) {
	a := MustParseMQTT("$SYS/broker")
	if !a.IsSystem() || MustParseMQTT("a/$SYS").IsSystem() || (Address{}).IsSystem() {
		t.Fatal("IsSystem")
	}
	c := a.Clone()
	c[0] = "x"
	if a[0] != "$SYS" || Address(nil).Clone() != nil {
		t.Fatal("Clone shares")
	}
	if a.String() != "$SYS/broker" || a.Equal(c) || !a.Equal(Address{"$SYS", "broker"}) || a.Equal(Address{"$SYS"}) {
		t.Fatal("String/Equal")
	}
	if (Address{}).MQTTSafe() {
		t.Fatal("an empty address renders as an empty topic")
	}
}

func TestMustParsePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"MustParseMQTT":   func() { MustParseMQTT("a/+") },
		"MustParseFilter": func() { MustParseFilter("a/#/b") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}
