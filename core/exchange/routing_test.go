package exchange_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func TestRouting(t *testing.T) {
	bindings := map[string][]string{
		"exact":   {"devices/1/temp"},
		"plus":    {"devices/+/temp"},
		"hash":    {"devices/#"},
		"overlap": {"devices/1/temp", "devices/+/temp", "devices/#", "#"}, // all match: once
		"all":     {"#"},
		"sys":     {"$SYS/#"},
		"other":   {"factory/+"},
	}
	tests := []struct {
		topic string
		want  []string // queues that get the message once each
	}{
		{"devices/1/temp", []string{"all", "exact", "hash", "overlap", "plus"}},
		{"devices/2/temp", []string{"all", "hash", "overlap", "plus"}},
		{"devices", []string{"all", "hash", "overlap"}}, // "#" matches the parent level
		{"devices/1/temp/x", []string{"all", "hash", "overlap"}},
		{"$SYS/uptime", []string{"sys"}}, // not "#" (MQTT-4.7.2-1)
		{"factory/a", []string{"all", "other", "overlap"}},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			x := newExchange(t, exchange.Config{})
			for _, q := range slices.Sorted(maps.Keys(bindings)) {
				declare(t, x, q, exchange.QueueConfig{}, bindings[q]...)
			}
			r := publish(t, x, msg(tc.topic, "m"))
			if r.Queues != len(tc.want) {
				t.Fatalf("Routed.Queues %d, want %d", r.Queues, len(tc.want))
			}
			var got []string
			for _, s := range x.Queues() {
				switch s.Ready {
				case 0:
				case 1:
					got = append(got, s.Name)
				default:
					t.Fatalf("queue %q got the message %d times", s.Name, s.Ready)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("routed to %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnroutableAndUnbind(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "a/+")
	if r := publish(t, x, msg("b/c", "x")); r.Queues != 0 {
		t.Fatalf("routed %+v", r)
	}
	if err := x.Bind("q", address.MustParseFilter("a/+")); err != nil { // twice: no-op
		t.Fatal(err)
	}
	if s := queueStats(t, x, "q"); len(s.Bindings) != 1 {
		t.Fatalf("bindings %v", s.Bindings)
	}
	if err := x.Unbind("q", address.MustParseFilter("a/+")); err != nil {
		t.Fatal(err)
	}
	if err := x.Unbind("q", address.MustParseFilter("never")); err != nil {
		t.Fatalf("Unbind of a missing binding: %v", err)
	}
	publish(t, x, msg("a/b", "x"))
	if got := x.Stats().Unroutable; got != 2 {
		t.Fatalf("Unroutable %d, want 2", got)
	}
	if err := x.Bind("nope", address.MustParseFilter("a")); !errors.Is(err, exchange.ErrQueueNotFound) {
		t.Fatalf("Bind to a missing queue: %v", err)
	}
	if err := x.Bind("q", nil); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("Bind with no pattern: %v", err)
	}
}

func TestPublishStampsIDAndUser(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "#")
	seen := map[string]bool{}
	for range 100 {
		m := msg("a", "x")
		m.UserID = "mallory" // a client's claim is never kept
		m.Annotations.Origin = message.Origin{Protocol: message.ProtocolSTOMP, User: "alice"}
		publish(t, x, m)
		if m.UserID != "alice" {
			t.Fatalf("UserID %q, want the authenticated user", m.UserID)
		}
		if m.ID == "" || seen[m.ID] {
			t.Fatalf("ID %q empty or repeated", m.ID)
		}
		seen[m.ID] = true
	}
	m := msg("a", "x")
	m.ID = "mine"
	publish(t, x, m)
	if m.ID != "mine" {
		t.Fatalf("a given ID was replaced by %q", m.ID)
	}
	if _, err := x.Publish(context.Background(), &message.Message{}, exchange.PublishOptions{}); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("Publish without address: %v", err)
	}
}

func TestAutoCreate(t *testing.T) {
	tests := []struct {
		name    string
		disable bool
	}{{"on", false}, {"off", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, exchange.Config{DisableAutoCreate: tc.disable, DefaultQueue: exchange.QueueConfig{MaxLength: 7}})
			_, err := x.Publish(context.Background(), msg("orders", "1"), exchange.PublishOptions{EnsureQueue: true})
			var s sink
			_, cerr := x.Consume("jobs", exchange.ConsumerOptions{Handler: s.handler, Credit: 10})
			if tc.disable {
				if !errors.Is(err, exchange.ErrQueueNotFound) || !errors.Is(cerr, exchange.ErrQueueNotFound) {
					t.Fatalf("with auto-create off: Publish %v, Consume %v", err, cerr)
				}
				if n := len(x.Queues()); n != 0 {
					t.Fatalf("%d queues created", n)
				}
				return
			}
			if err != nil || cerr != nil {
				t.Fatalf("Publish %v, Consume %v", err, cerr)
			}
			q := queueStats(t, x, "orders")
			if q.Ready != 1 || q.Config.MaxLength != 7 {
				t.Fatalf("orders: %+v", q)
			}
			// The consumer-created queue is bound to its own name, so a plain
			// publish reaches it.
			publish(t, x, msg("jobs", "j"))
			if got := s.bodies(); !slices.Equal(got, []string{"j"}) {
				t.Fatalf("jobs consumer got %v", got)
			}
			// A queue that exists but is bound to nothing still gets
			// EnsureQueue sends.
			declare(t, x, "a/b", exchange.QueueConfig{})
			r, err := x.Publish(context.Background(), msg("a/b", "x"), exchange.PublishOptions{EnsureQueue: true})
			if err != nil || r.Queues != 1 {
				t.Fatalf("EnsureQueue to an unbound queue: %+v %v", r, err)
			}
		})
	}
}

func TestDeleteAndPurge(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "a")
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1})
	for range 3 {
		publish(t, x, msg("a", "x"))
	}
	n, err := x.PurgeQueue("q")
	if err != nil || n != 2 {
		t.Fatalf("PurgeQueue %d %v, want the 2 ready ones", n, err)
	}
	if q := queueStats(t, x, "q"); q.Ready != 0 || q.Unsettled != 1 {
		t.Fatalf("after purge: %+v", q)
	}
	if err := x.DeleteQueue("q"); err != nil {
		t.Fatal(err)
	}
	if len(s.closed) != 1 || !errors.Is(s.closed[0], exchange.ErrQueueDeleted) {
		t.Fatalf("Closed callbacks %v", s.closed)
	}
	if err := s.last(t).Settle(exchange.Accepted); !errors.Is(err, exchange.ErrSettled) {
		t.Fatalf("settling after the queue was deleted: %v", err)
	}
	if r := publish(t, x, msg("a", "x")); r.Queues != 0 {
		t.Fatal("a deleted queue still routed")
	}
	if err := x.DeleteQueue("q"); !errors.Is(err, exchange.ErrQueueNotFound) {
		t.Fatalf("second DeleteQueue: %v", err)
	}
	if _, err := x.PurgeQueue("q"); !errors.Is(err, exchange.ErrQueueNotFound) {
		t.Fatalf("PurgeQueue of a missing queue: %v", err)
	}
	if err := x.Enqueue(context.Background(), "q", msg("a", "x")); !errors.Is(err, exchange.ErrQueueNotFound) {
		t.Fatalf("Enqueue to a missing queue: %v", err)
	}
}

func TestEnqueueBypassesRouting(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}) // bound to nothing
	declare(t, x, "other", exchange.QueueConfig{}, "#")
	m := msg("somewhere/else", "x")
	if err := x.Enqueue(context.Background(), "q", m); err != nil {
		t.Fatal(err)
	}
	if m.ID == "" {
		t.Fatal("Enqueue did not assign an ID")
	}
	if q, o := queueStats(t, x, "q"), queueStats(t, x, "other"); q.Ready != 1 || o.Ready != 0 {
		t.Fatalf("q %d, other %d", q.Ready, o.Ready)
	}
}

func TestStats(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "#")
	var a, b sink
	consume(t, x, "q", &a, exchange.ConsumerOptions{Protocol: message.ProtocolAMQP, Credit: 2, AutoAck: true})
	for _, p := range []message.Protocol{message.ProtocolMQTT, message.ProtocolMQTT, message.ProtocolSTOMP, "custom"} {
		m := msg("t", "x")
		m.Annotations.Origin.Protocol = p
		publish(t, x, m)
	}
	consume(t, x, "q", &b, exchange.ConsumerOptions{Protocol: message.ProtocolMQTT, Credit: 10})
	s := x.Stats()
	wantIn := map[message.Protocol]uint64{message.ProtocolMQTT: 2, message.ProtocolSTOMP: 1, "custom": 1}
	wantOut := map[message.Protocol]uint64{message.ProtocolAMQP: 2, message.ProtocolMQTT: 2}
	if !maps.Equal(s.In, wantIn) || !maps.Equal(s.Out, wantOut) || s.Queues != 1 {
		t.Fatalf("Stats %+v", s)
	}
	q := queueStats(t, x, "q")
	if q.Enqueued != 4 || q.Delivered != 4 || q.Acked != 2 || q.Unsettled != 2 || q.Consumers != 2 || q.Bytes <= 0 {
		t.Fatalf("QueueStats %+v", q)
	}
	if !strings.Contains(q.Bindings[0].String(), "#") {
		t.Fatalf("bindings %v", q.Bindings)
	}
}
