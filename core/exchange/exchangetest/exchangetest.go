// Package exchangetest holds test doubles for code built on the exchange,
// as net/http/httptest does for HTTP: a fake Transformer and a collector
// of dead letters. It is imported by tests only.
package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Accept values UpperTransformer knows.
const (
	AcceptUpper = "text/upper" // upper-cases the body
	AcceptFail  = "x-fail"     // always fails
)

// UpperTransformer is a fake exchange.Transformer. For AcceptUpper it
// upper-cases the body and sets content type text/upper, except that a
// body starting with "!" fails and one starting with "-" is dropped;
// AcceptFail always fails; any other non-empty accept is unknown.
type UpperTransformer struct{}

var _ exchange.Transformer = UpperTransformer{}

// Check implements exchange.Transformer.
func (UpperTransformer) Check(r exchange.Receiver) error {
	switch r.Accept {
	case "", AcceptUpper, AcceptFail:
		return nil
	}
	return fmt.Errorf("accept %q: %w", r.Accept, exchange.ErrUnknownFormat)
}

// Transform implements exchange.Transformer.
func (UpperTransformer) Transform(_ context.Context, m *message.Message, r exchange.Receiver) (*message.Message, error) {
	switch r.Accept {
	case AcceptUpper:
		switch {
		case strings.HasPrefix(string(m.Body), "!"):
			return nil, errors.New("cannot upper-case a shout")
		case strings.HasPrefix(string(m.Body), "-"):
			return nil, nil
		}
		c := m.Clone()
		c.Body = []byte(strings.ToUpper(string(m.Body)))
		c.ContentType = AcceptUpper
		return c, nil
	case AcceptFail:
		return nil, errors.New("always fails")
	}
	return m, nil
}

// DeadLetters collects what reaches an exchange's default dead-letter
// queue.
type DeadLetters struct {
	mu sync.Mutex
	ms []*message.Message
}

// ConsumeDeadLetters attaches a collector to x's default dead-letter
// queue until the test ends.
func ConsumeDeadLetters(t testing.TB, x *exchange.Exchange) *DeadLetters {
	t.Helper()
	q := &DeadLetters{}
	cons, err := x.Consume(exchange.DefaultDeadLetter, exchange.ConsumerOptions{Credit: 1000, AutoAck: true, Handler: func(d *exchange.Delivery) {
		q.mu.Lock()
		q.ms = append(q.ms, d.Msg)
		q.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Close() })
	return q
}

// Wait returns the dead letters once there are n, failing the test after
// 10 s or when there are more.
func (q *DeadLetters) Wait(t testing.TB, n int) []*message.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		out := append([]*message.Message(nil), q.ms...)
		q.mu.Unlock()
		if len(out) >= n {
			if len(out) != n {
				t.Fatalf("%d dead letters, want %d", len(out), n)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters after 10s, want %d", len(out), n)
		}
		time.Sleep(time.Millisecond)
	}
}
