package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMQTTFilter(t *testing.T) {
	tests := []struct {
		in   string
		want Pattern
		err  error
	}{
		{"a/b", Pattern{"a", "b"}, nil},
		{"+", Pattern{"+"}, nil},
		{"#", Pattern{"#"}, nil},
		{"a/+/c", Pattern{"a", "+", "c"}, nil},
		{"a/#", Pattern{"a", "#"}, nil},
		{"+/+/#", Pattern{"+", "+", "#"}, nil},
		{"/+", Pattern{"", "+"}, nil},
		{"a/*", Pattern{"a", "*"}, nil}, // "*" is not a wildcard in MQTT
		{"$share/g/a", Pattern{"$share", "g", "a"}, nil},
		{"a/#/b", nil, ErrBadWildcard}, // MQTT-4.7.1-1: "#" last
		{"a#", nil, ErrBadWildcard},
		{"a/b+", nil, ErrBadWildcard}, // MQTT-4.7.1-2: "+" a whole level
		{"++", nil, ErrBadWildcard},
		{"", nil, ErrEmpty},
		{"a\x00", nil, ErrNUL},
		{"\xfe", nil, ErrInvalidUTF8},
		{strings.Repeat("+/", MaxLevels) + "#", nil, ErrTooDeep},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 20 {
			name = name[:20] + "..."
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseMQTTFilter(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %q, want %q", []string(got), []string(tc.want))
			}
			if err == nil && got.MQTT() != tc.in {
				t.Fatalf("MQTT() = %q", got.MQTT())
			}
		})
	}
}

func TestParseFilterStar(t *testing.T) {
	tests := []struct {
		in   string
		want Pattern
		err  error
	}{
		{"a/*/c", Pattern{"a", "+", "c"}, nil},
		{"*", Pattern{"+"}, nil},
		{"a*/b", Pattern{"a*", "b"}, nil},
		{"a/+/#", Pattern{"a", "+", "#"}, nil},
		{"a/#/*", nil, ErrBadWildcard},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFilter(tc.in)
			if !errors.Is(err, tc.err) || !got.Equal(tc.want) {
				t.Fatalf("got %q %v, want %q %v", []string(got), err, []string(tc.want), tc.err)
			}
		})
	}
}

func TestPatternFromSegments(t *testing.T) {
	tests := []struct {
		name string
		segs []string
		err  error
	}{
		{"canonical segments may hold a slash", []string{"a/b", "+", "#"}, nil},
		{"empty segments", []string{"", "+"}, nil},
		{"none", nil, ErrEmpty},
		{"hash not last", []string{"#", "a"}, ErrBadWildcard},
		{"mixed wildcard", []string{"a+"}, ErrBadWildcard},
		{"NUL", []string{"\x00"}, ErrNUL},
		{"too long", []string{strings.Repeat("x", 40000), strings.Repeat("y", 40000)}, ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]string(nil), tc.segs...)
			p, err := PatternFromSegments(in...)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil {
				in[0] = "changed"
				if p[0] == "changed" {
					t.Fatal("kept the caller's slice")
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a", false},
		{"a/+", "a/", true}, // "+" matches an empty level
		{"a/+", "a/b/c", false},
		{"+/+", "/a", true},
		{"a/#", "a", true}, // MQTT-4.7.1-2: "#" includes the parent
		{"a/#", "a/b/c", true},
		{"a/#", "b", false},
		{"#", "a/b", true},
		{"+", "a", true},
		{"#", "$SYS/x", false}, // MQTT-4.7.2-1
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/#", "$SYS", true},
		{"a/+", "a/$x", true}, // only the first level is protected
		{"+/#", "a", true},
	}
	for _, tc := range tests {
		t.Run(tc.filter+" "+tc.topic, func(t *testing.T) {
			if got := MustParseFilter(tc.filter).Match(MustParseMQTT(tc.topic)); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		p, q string
		want bool
	}{
		{"#", "a/b", true},
		{"#", "#", true},
		{"#", "+/#", true},
		{"#", "$SYS/#", false},
		{"+/#", "$x/y", false},
		{"$SYS/#", "$SYS/+", true},
		{"a/#", "a", true},
		{"a/#", "a/+/c", true},
		{"a/#", "b/#", false},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false}, // "a/#" matches a/b/c
		{"a/+", "a", false},
		{"a/+/#", "a/#", false}, // "a/#" matches "a", "a/+/#" does not
		{"a/b", "a/+", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"+", "+", true},
		{"+/b", "$x/b", false},
	}
	for _, tc := range tests {
		t.Run(tc.p+" covers "+tc.q, func(t *testing.T) {
			if got := MustParseFilter(tc.p).Covers(MustParseFilter(tc.q)); got != tc.want {
				t.Fatalf("Covers = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"client_id": "dev-7", "username": "alice"}
	tests := []struct {
		pattern string
		vars    map[string]string
		want    string // "" means no match
	}{
		{"devices/{client_id}/#", vars, "devices/dev-7/#"},
		{"users/{username}/{client_id}", vars, "users/alice/dev-7"},
		{"pre-{username}-post/+", vars, "pre-alice-post/+"},
		{"plain/+", vars, "plain/+"},
		{"devices/{unknown}/#", vars, ""},
		{"devices/{client_id}/#", map[string]string{"client_id": "a/b"}, ""},
		{"devices/{client_id}/#", map[string]string{"client_id": "+"}, ""},
		{"devices/{client_id}/#", map[string]string{"client_id": "#"}, ""},
		{"devices/{client_id}/#", map[string]string{"client_id": ""}, ""},
		// A name may not pull in another variable: the result would depend
		// on map order.
		{"x/{a}", map[string]string{"a": "{b}", "b": "y"}, ""},
		// A name may not turn a first level into a "$" level that the
		// pattern's author never granted.
		{"{client_id}/#", map[string]string{"client_id": "$SYS"}, ""},
		{"devices/{client_id}", map[string]string{"client_id": "$x"}, "devices/$x"},
		{"$share/{client_id}", map[string]string{"client_id": "$x"}, "$share/$x"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			got, ok := MustParseFilter(tc.pattern).Expand(tc.vars)
			if ok != (tc.want != "") || ok && got.MQTT() != tc.want {
				t.Fatalf("Expand = %q %v, want %q", got.MQTT(), ok, tc.want)
			}
		})
	}
}

func TestPatternHelpers(t *testing.T) {
	p := MustParseFilter("a/+")
	if !p.HasWildcard() || MustParseFilter("a/b").HasWildcard() {
		t.Fatal("HasWildcard")
	}
	if _, ok := p.Address(); ok {
		t.Fatal("a wildcard pattern is not an address")
	}
	if a, ok := MustParseFilter("a/b").Address(); !ok || a.MQTT() != "a/b" {
		t.Fatal("Address")
	}
	e := Exact(MustParseMQTT("x/y"))
	if e.String() != "x/y" || !e.Match(MustParseMQTT("x/y")) {
		t.Fatal("Exact")
	}
}
