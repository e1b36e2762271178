package mqtt

import (
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in      string
		kind    subKind
		pattern string
		queue   string
		bad     bool
	}{
		{in: "a/b", kind: subPrivate, pattern: "a/b"},
		{in: "a/+/#", kind: subPrivate, pattern: "a/+/#"},
		{in: "#", kind: subPrivate, pattern: "#"},
		{in: "$SYS/#", kind: subPrivate, pattern: "$SYS/#"},
		{in: "$share/g/a/+", kind: subShared, pattern: "a/+", queue: "$share/g/a/+"},
		{in: "$SHARE/g/#", kind: subShared, pattern: "#", queue: "$SHARE/g/#"},
		{in: "$share/g//", kind: subShared, pattern: "/", queue: "$share/g//"},
		{in: "$queue/orders", kind: subQueue, pattern: "orders", queue: "orders"},
		{in: "$queue/a/b", kind: subQueue, pattern: "a/b", queue: "a/b"},
		{in: "$share/g", bad: true},       // MQTT-4.8.2-1: no filter
		{in: "$share//a", bad: true},      // MQTT-4.8.2-1: empty share name
		{in: "$share/g+/a", bad: true},    // MQTT-4.8.2-2
		{in: "$share/g/", bad: true},      // no filter after the group
		{in: "$share/g/a/#/b", bad: true}, // # not last
		{in: "$queue/", bad: true},        // empty queue name
		{in: "$queue/a/+", bad: true},     // wildcard in a queue name
		{in: "a/b#", bad: true},           // MQTT-4.7.1-1
		{in: "a+/b", bad: true},           // MQTT-4.7.1-2
		{in: "", bad: true},               // MQTT-4.7.3-1
		{in: "a/\x00", bad: true},         // MQTT-4.7.3-2
		{in: "\xff", bad: true},           // not UTF-8
		{in: strings.Repeat("a/", 200), bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			pf, err := parseFilter(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", pf)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pf.kind != tc.kind || pf.pattern.MQTT() != tc.pattern || pf.queue != tc.queue {
				t.Errorf("got %v %q %q, want %v %q %q", pf.kind, pf.pattern.MQTT(), pf.queue, tc.kind, tc.pattern, tc.queue)
			}
		})
	}
}

func TestPublishTarget(t *testing.T) {
	for _, tc := range []struct {
		in     string
		addr   string
		ensure bool
		bad    bool
	}{
		{in: "a/b", addr: "a/b"},
		{in: "$queue/orders", addr: "orders", ensure: true},
		{in: "$QUEUE/x/y", addr: "x/y", ensure: true},
		{in: "$queue/$tmp/stomp/c-1/r", addr: "$tmp/stomp/c-1/r"}, // a reply to a temporary queue creates none
		{in: "$tmp/stomp/c-1/r", addr: "$tmp/stomp/c-1/r"},
		{in: "$queue/", bad: true},
		{in: "a/+", bad: true},
		{in: "", bad: true},
	} {
		a, ensure, err := publishTarget(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (a.MQTT() != tc.addr || ensure != tc.ensure)) {
			t.Errorf("%q: %q %v %v", tc.in, a.MQTT(), ensure, err)
		}
	}
}

// FuzzParseFilter checks the filter parser never panics and that what it
// accepts is consistent: the pattern is a valid MQTT filter, a shared
// filter's queue is the filter itself, and a queue filter's pattern is the
// queue name.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/+", "$share/g/a/#", "$share//x", "$queue/q", "$queue/", "a/#/b", "\x00", "$SHARE/G/+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pf, err := parseFilter(s)
		if err != nil {
			return
		}
		if _, perr := address.ParseMQTTFilter(pf.pattern.MQTT()); perr != nil && pf.pattern.MQTT() != "" {
			t.Errorf("%q: pattern %q does not parse: %v", s, pf.pattern.MQTT(), perr)
		}
		switch pf.kind {
		case subShared:
			if pf.queue != s || !strings.HasSuffix(s, "/"+pf.pattern.MQTT()) {
				t.Errorf("%q: shared queue %q pattern %q", s, pf.queue, pf.pattern.MQTT())
			}
		case subQueue:
			if pf.pattern.MQTT() != pf.queue || pf.pattern.HasWildcard() {
				t.Errorf("%q: queue %q pattern %q", s, pf.queue, pf.pattern.MQTT())
			}
		case subPrivate:
			if pf.pattern.MQTT() != s || pf.queue != "" {
				t.Errorf("%q: private pattern %q", s, pf.pattern.MQTT())
			}
		}
	})
}
