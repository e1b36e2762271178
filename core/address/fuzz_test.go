package address

import (
	"errors"
	"strings"
	"testing"
)

var topicSeeds = []string{
	"a", "a/b/c", "/", "a//b", "/a/", "$SYS/x", "spBv1.0/g/NBIRTH/n", "héllo", "",
	"a/+", "a/#", "a+b", "a\x00b", "\xff", "#", "+", "+/+/#", "a/*", "$share/g/a",
}

// FuzzParseMQTTTopic: parsing never panics, and an accepted topic renders
// back to itself, reparses to the same address, and is MQTT-safe.
func FuzzParseMQTTTopic(f *testing.F) {
	for _, s := range topicSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseMQTTTopic(s)
		if err != nil {
			if a != nil {
				t.Fatalf("address %q returned with error %v", []string(a), err)
			}
			return
		}
		if a.MQTT() != s {
			t.Fatalf("MQTT() = %q, want %q", a.MQTT(), s)
		}
		if !a.MQTTSafe() {
			t.Fatalf("parsed topic %q is not MQTTSafe", s)
		}
		b, err := ParseMQTTTopic(a.MQTT())
		if err != nil || !b.Equal(a) {
			t.Fatalf("reparse: %q %v", []string(b), err)
		}
		c, err := FromSegments(a...)
		if err != nil || !c.Equal(a) {
			t.Fatalf("FromSegments of a parsed topic: %q %v", []string(c), err)
		}
		// An address has no wildcard, so as a pattern it matches itself only
		// and is covered by "#" unless it is a "$" address.
		e := Exact(a)
		if !e.Match(a) || MustParseFilter("#").Match(a) == a.IsSystem() {
			t.Fatalf("exact or # match wrong for %q", s)
		}
	})
}

// FuzzParseMQTTFilter: parsing never panics; an accepted filter renders
// back to itself and reparses to the same pattern; and Match and Covers
// agree: p covers q only if every address q matches, p matches too, and
// for an address a (a wildcard-free q), covering is matching.
func FuzzParseMQTTFilter(f *testing.F) {
	for i, s := range topicSeeds {
		f.Add(s, topicSeeds[(i+3)%len(topicSeeds)], topicSeeds[(i+5)%len(topicSeeds)])
	}
	f.Add("a/#", "a/+/c", "a/b/c")
	f.Add("#", "$SYS/#", "$SYS/x")
	f.Add("+/#", "a", "a")
	f.Fuzz(func(t *testing.T, filter, other, topic string) {
		p, err := ParseMQTTFilter(filter)
		if err != nil {
			if p != nil {
				t.Fatalf("pattern returned with error %v", err)
			}
			return
		}
		if p.MQTT() != filter {
			t.Fatalf("MQTT() = %q, want %q", p.MQTT(), filter)
		}
		if r, err := ParseMQTTFilter(p.MQTT()); err != nil || !r.Equal(p) {
			t.Fatalf("reparse: %q %v", []string(r), err)
		}
		if r, err := PatternFromSegments(p...); err != nil || !r.Equal(p) {
			t.Fatalf("PatternFromSegments: %q %v", []string(r), err)
		}
		if star, err := ParseFilter(strings.ReplaceAll(filter, "+", "*")); err != nil || !star.Equal(p) {
			// "*" is "+" for STOMP and AMQP users, unless a level was "*" already.
			if !strings.Contains(filter, "*") {
				t.Fatalf("ParseFilter with * for +: %q %v", []string(star), err)
			}
		}
		if !p.Covers(p) {
			t.Fatalf("%q does not cover itself", filter)
		}
		if _, ok := p.Address(); ok == p.HasWildcard() {
			t.Fatal("Address and HasWildcard disagree")
		}
		a, aerr := ParseMQTTTopic(topic)
		if aerr == nil {
			if p.Covers(Exact(a)) != p.Match(a) {
				t.Fatalf("%q: Covers(%q)=%v but Match=%v", filter, topic, p.Covers(Exact(a)), p.Match(a))
			}
		}
		q, err := ParseMQTTFilter(other)
		if err != nil || aerr != nil {
			return
		}
		if p.Covers(q) && q.Match(a) && !p.Match(a) {
			t.Fatalf("%q covers %q, which matches %q, but %q does not", filter, other, topic, filter)
		}
		// Build an address q surely matches, and check the same.
		if w := witness(q); w != nil && p.Covers(q) && !p.Match(w) {
			t.Fatalf("%q covers %q but does not match %q", filter, other, []string(w))
		}
	})
}

// witness returns an address q matches, with wildcards replaced by a
// level ("#" by none, or one level after a first-level "#").
func witness(q Pattern) Address {
	var a Address
	for i, s := range q {
		switch s {
		case SingleLevel:
			a = append(a, "w")
		case MultiLevel:
			if i == 0 {
				a = append(a, "w")
			}
		default:
			a = append(a, s)
		}
	}
	if len(a) == 0 || !q.Match(a) {
		return nil
	}
	return a
}

func FuzzExpand(f *testing.F) {
	f.Add("devices/{client_id}/#", "dev-7")
	f.Add("{client_id}/#", "$SYS")
	f.Add("x/{client_id}", "{client_id}")
	f.Fuzz(func(t *testing.T, filter, value string) {
		p, err := ParseMQTTFilter(filter)
		if err != nil {
			return
		}
		out, ok := p.Expand(map[string]string{"client_id": value})
		if !ok {
			return
		}
		if len(out) != len(p) {
			t.Fatalf("Expand changed the level count: %q", []string(out))
		}
		// Expanding never adds a wildcard or a "$" first level.
		for i, s := range out {
			if (s == SingleLevel || s == MultiLevel) != (p[i] == SingleLevel || p[i] == MultiLevel) {
				t.Fatalf("level %d changed wildcard-ness: %q -> %q", i, p[i], s)
			}
		}
		if strings.HasPrefix(out[0], "$") && !strings.HasPrefix(p[0], "$") {
			t.Fatalf("Expand made a $ level: %q", out[0])
		}
		if _, err := ParseMQTTFilter(out.MQTT()); err != nil && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrNUL) && !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("expanded pattern does not parse: %v", err)
		}
	})
}
