package address

import (
	"errors"
	"testing"
)

func TestReplyTo(t *testing.T) {
	for _, tc := range []struct {
		a     Address
		queue bool
		want  string // "" when the address has no canonical form
	}{
		{Address{"replies", "c1"}, false, "replies/c1"},
		{Address{"orders"}, true, "$queue/orders"},
		{Address{TempRoot, "stomp", "ab-1-cd", "r"}, true, "$queue/$tmp/stomp/ab-1-cd/r"},
		{Address{"", "lead"}, false, "/lead"},
		{Address{"rates", "50%"}, false, "rates/50%"},
		{Address{"a/b"}, false, ""},
		{Address{"a", "+"}, true, ""},
		{Address{""}, false, ""},
	} {
		got, ok := FormatReplyTo(tc.a, tc.queue)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("FormatReplyTo(%q, %v) = %q, %v; want %q", tc.a, tc.queue, got, ok, tc.want)
			continue
		}
		if !ok {
			continue
		}
		a, queue, err := ParseReplyTo(got)
		if err != nil || !a.Equal(tc.a) || queue != tc.queue {
			t.Errorf("ParseReplyTo(%q) = %q, %v, %v; want %q, %v", got, a, queue, err, tc.a, tc.queue)
		}
	}
	for _, tc := range []struct {
		in    string
		a     Address
		queue bool
	}{
		{"$QUEUE/x", Address{"x"}, true}, // the MQTT front-end matches the prefix without case
		{"$queuex", Address{"$queuex"}, false},
		{"$queue", Address{"$queue"}, false},
	} {
		a, queue, err := ParseReplyTo(tc.in)
		if err != nil || !a.Equal(tc.a) || queue != tc.queue {
			t.Errorf("ParseReplyTo(%q) = %q, %v, %v", tc.in, a, queue, err)
		}
	}
	for _, bad := range []string{"", "$queue/", "a/#", "$queue/a/+", "a\x00"} {
		if _, _, err := ParseReplyTo(bad); !errors.Is(err, ErrReplyTo) {
			t.Errorf("ParseReplyTo(%q): err %v, want ErrReplyTo", bad, err)
		}
	}
}

func TestIsTemp(t *testing.T) {
	if !IsTemp(Address{TempRoot, "stomp", "x", "r"}) || IsTemp(Address{"tmp"}) || IsTemp(nil) {
		t.Fatal("IsTemp")
	}
}
