package exchange_test

import (
	"slices"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
)

func retainedBodies(x *exchange.Exchange, filter string) []string {
	var out []string
	for _, m := range x.Retained(address.MustParseFilter(filter)) {
		if !m.Annotations.RetainedDelivery {
			panic("retained copy not marked RetainedDelivery")
		}
		out = append(out, m.Address.MQTT()+"="+string(m.Body))
	}
	slices.Sort(out)
	return out
}

func TestRetained(t *testing.T) {
	clk := newClock()
	x := newExchange(t, exchange.Config{Now: clk.Now})
	pub := func(topic, body string, expires time.Duration) {
		m := msg(topic, body)
		m.Annotations.Retain = true
		if expires > 0 {
			m.Expires = clk.Now().Add(expires)
		}
		publish(t, x, m)
	}
	pub("home/kitchen/temp", "20", 0)
	pub("home/kitchen/temp", "21", 0) // replaces
	pub("home/hall/temp", "18", 0)
	pub("home/hall/light", "on", 0)
	pub("home", "root", 0)
	pub("$SYS/version", "1.0", 0)
	pub("home/hall/light", "", 0) // an empty body clears (MQTT-3.3.1-10)
	pub("tmp/x", "soon", time.Minute)
	publish(t, x, msg("home/garage/temp", "not retained"))

	tests := []struct {
		filter string
		want   []string
	}{
		{"home/kitchen/temp", []string{"home/kitchen/temp=21"}},
		{"home/+/temp", []string{"home/hall/temp=18", "home/kitchen/temp=21"}},
		{"home/#", []string{"home/hall/temp=18", "home/kitchen/temp=21", "home=root"}},
		{"#", []string{"home/hall/temp=18", "home/kitchen/temp=21", "home=root", "tmp/x=soon"}},
		{"+/+", []string{"tmp/x=soon"}},
		{"$SYS/#", []string{"$SYS/version=1.0"}},
		{"home/hall/light", nil},
		{"nothing/here", nil},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			if got := retainedBodies(x, tc.filter); !slices.Equal(got, tc.want) {
				t.Fatalf("Retained(%q) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
	if n := x.Stats().Retained; n != 5 {
		t.Fatalf("Stats.Retained %d", n)
	}
	clk.Advance(2 * time.Minute)
	if got := retainedBodies(x, "tmp/#"); got != nil {
		t.Fatalf("expired retained message returned: %v", got)
	}
	x.Sweep()
	if n := x.Stats().Retained; n != 4 {
		t.Fatalf("after sweep Stats.Retained %d", n)
	}
}
