// Package confirm is the per-connection confirmer the STOMP and AMQP
// front-ends share for pipelined durable publishes: the read goroutine
// pushes each publish in flight and reads on; one goroutine per connection
// handles them in push order (waiting for each store commit, then queuing
// the RECEIPT or disposition), so answers keep frame order without a
// goroutine per message. The window is bounded: once full, Push waits,
// and the reader stops reading the socket.
package confirm

import "sync/atomic"

// Pipeline confirms values of T in push order. Push, Busy, Drain and Stop
// are for the connection's read goroutine only. Set Size and Handle before
// the first Push.
type Pipeline[T any] struct {
	// Size bounds the values pushed and not yet handled.
	Size int
	// Handle is called on the confirmer goroutine for each value, in push
	// order; more says whether further values are already queued (a
	// handler may hold its answers back until there are none).
	Handle func(v T, more bool)
	// Flush, when set, is called on the confirmer goroutine before a
	// Drain returns and when the confirmer ends, to send what Handle held
	// back.
	Flush func()

	ch       chan item[T]
	inflight atomic.Int64 // pushed values not handled yet
	done     chan struct{}
}

type item[T any] struct {
	v       T
	barrier chan struct{} // Drain's: closed once everything before it is handled
}

// Busy reports whether values are in flight: a new publish then follows
// them through the confirmer, so that answers stay in order.
func (p *Pipeline[T]) Busy() bool { return p.inflight.Load() > 0 }

// Push hands v to the confirmer, starting it on first use, and waits while
// the window is full.
func (p *Pipeline[T]) Push(v T) {
	if p.ch == nil {
		p.ch = make(chan item[T], p.Size)
		p.done = make(chan struct{})
		go p.run()
	}
	p.inflight.Add(1)
	p.ch <- item[T]{v: v}
}

// Drain waits until every value pushed so far is handled (and flushed).
func (p *Pipeline[T]) Drain() {
	if !p.Busy() {
		return
	}
	b := make(chan struct{})
	p.ch <- item[T]{barrier: b}
	<-b
}

// Stop waits for the values in flight and ends the confirmer.
func (p *Pipeline[T]) Stop() {
	if p.ch == nil {
		return
	}
	close(p.ch)
	<-p.done
}

func (p *Pipeline[T]) run() {
	defer close(p.done)
	flush := func() {
		if p.Flush != nil {
			p.Flush()
		}
	}
	for it := range p.ch {
		if it.barrier != nil {
			flush()
			close(it.barrier)
			continue
		}
		p.Handle(it.v, len(p.ch) > 0)
		p.inflight.Add(-1)
	}
	flush()
}
