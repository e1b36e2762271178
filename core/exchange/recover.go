package exchange

import (
	"fmt"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// recovery rebuilds the exchange from Store.Recover, before New returns.
// State for a queue the store did not define is skipped with a warning:
// the store should not have it, and it must not stop the broker starting.
type recovery struct {
	x        *Exchange
	messages int
	now      int64 // UnixNano, for queue TTLs; read on first need
}

var _ Recovery = (*recovery)(nil)

func (r *recovery) Queue(name string, cfg QueueConfig) error {
	if name == "" {
		return fmt.Errorf("recover queue: %w: empty name", ErrInvalid)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("recover queue %q: %w", name, err)
	}
	x := r.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.queues[name]; !ok {
		x.queues[name] = newQueue(x, name, cfg)
	}
	return nil
}

func (r *recovery) Binding(queue string, p address.Pattern) error {
	x := r.x
	if len(p) == 0 {
		return fmt.Errorf("recover binding of %q: %w: empty pattern", queue, ErrInvalid)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	q := x.queues[queue]
	if q == nil {
		x.log.Warn("recovered binding for an unknown queue skipped", "queue", queue, "pattern", p.String())
		return nil
	}
	for _, b := range q.bindings {
		if b.Equal(p) {
			return nil
		}
	}
	p = address.Pattern(address.Address(p).Clone())
	x.routes.Add(p, q)
	q.bindings = append(q.bindings, p)
	return nil
}

func (r *recovery) Message(queue string, seq uint64, m *message.Message, deliveryCount int) error {
	x := r.x
	if m == nil || len(m.Address) == 0 {
		return fmt.Errorf("recover message %d of %q: %w: no message or address", seq, queue, ErrInvalid)
	}
	q := x.lookup(queue)
	if q == nil {
		x.log.Warn("recovered message for an unknown queue skipped", "queue", queue, "seq", seq)
		return nil
	}
	// The store does not record deliveries (that would cost a write per
	// delivery), so any recovered message may have been handed out before
	// the restart, its settlement lost with the process: it is marked as a
	// redelivery (STOMP redelivered, MQTT DUP, JMS's "may have been
	// delivered before"). Its delivery count is the stored one.
	e := &entry{
		msg:       m,
		seq:       seq,
		size:      int64(m.Size()),
		prio:      min(m.Priority, message.MaxPriority),
		count:     max(deliveryCount, 0),
		persisted: true,
		handedOut: true,
	}
	if !m.Expires.IsZero() {
		e.expires = m.Expires.UnixNano()
	}
	if q.ttl > 0 {
		if r.now == 0 {
			r.now = x.now().UnixNano()
		}
		if t := r.now + int64(q.ttl); e.expires == 0 || t < e.expires {
			e.expires = t
		}
	}
	q.mu.Lock()
	q.addReady(e, false)
	q.pageOut(e)
	q.mu.Unlock()
	for {
		cur := x.seq.Load()
		if seq <= cur || x.seq.CompareAndSwap(cur, seq) {
			break
		}
	}
	r.messages++
	return nil
}

func (r *recovery) Retained(m *message.Message) error {
	if m == nil || len(m.Address) == 0 {
		return fmt.Errorf("recover retained: %w: no message or address", ErrInvalid)
	}
	rs := &r.x.retained
	rs.mu.Lock()
	rs.idx.Set(m.Address, retainedMsg{m: m, persisted: true})
	rs.mu.Unlock()
	return nil
}

func (r *recovery) State(key string, value []byte) error {
	if key == "" {
		return fmt.Errorf("recover state: %w: empty key", ErrInvalid)
	}
	r.x.states.mu.Lock()
	r.x.states.m[key] = value
	r.x.states.mu.Unlock()
	return nil
}
