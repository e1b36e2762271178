package exchange

import (
	"context"
	"fmt"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

// Paging.
//
// A durable queue can hold far more than memory: once a queue's messages
// take more than Config.ResidentBytes, each further persisted message that
// arrives (or is recovered) keeps only its entry in memory (sequence,
// size, priority, expiry: what ordering, limits and expiry need) and
// leaves its body and properties to the store. It is read back when it is
// handed out, when a consumer's filter must see it, when it is
// dead-lettered, or when the admin API peeks at it. The head of a queue,
// the part consumers reach first, stays resident; limits (MaxLength,
// MaxBytes) count paged messages like any other, so they hold on disk too.
//
// Only a store that implements Loader can page; non-persisted messages
// never page (they exist nowhere else).

// Loader is implemented by a Store that can read one persisted message
// back, for paging.
type Loader interface {
	Load(ctx context.Context, queue string, seq uint64) (*message.Message, error)
}

// DefaultResidentBytes is Config.ResidentBytes when zero.
const DefaultResidentBytes = 64 << 20

// loadTimeout bounds one read of a paged message.
const loadTimeout = 30 * time.Second

// pageOut drops the body of e, just added to q's ready lanes, when q is
// over its resident budget. Caller holds q.mu.
func (q *queue) pageOut(e *entry) {
	x := q.x
	if x.loader == nil || !e.persisted || x.cfg.ResidentBytes < 0 || e.msg == nil {
		return
	}
	if q.bytes > x.cfg.ResidentBytes {
		e.msg = nil
		x.pagedOut.Add(1)
	}
}

// message returns e's message, reading it from the store when it is paged
// out. The read does not make it resident again: whoever needs it keeps
// it (a Delivery, a dead letter). Caller holds q.mu, which keeps e on q.
func (q *queue) message(e *entry) (*message.Message, error) {
	if e.msg != nil {
		return e.msg, nil
	}
	x := q.x
	if x.loader == nil {
		return nil, fmt.Errorf("queue %q seq %d: %w: paged out without a loader", q.name, e.seq, ErrInvalid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	m, err := x.loader.Load(ctx, q.name, e.seq)
	if err != nil {
		return nil, fmt.Errorf("load queue %q seq %d: %w", q.name, e.seq, err)
	}
	x.pagedIn.Add(1)
	return m, nil
}

// PagingStats says how many messages were paged out and read back.
type PagingStats struct {
	PagedOut   uint64 // messages whose body was left to the store
	PagedIn    uint64 // reads of a paged message from the store
	LoadErrors uint64 // paged messages that could not be read back (dropped)
}

// Paging returns the paging counters.
func (x *Exchange) Paging() PagingStats {
	return PagingStats{PagedOut: x.pagedOut.Load(), PagedIn: x.pagedIn.Load(), LoadErrors: x.loadErrors.Load()}
}

func loaderOf(s Store) Loader {
	l, _ := s.(Loader)
	return l
}
