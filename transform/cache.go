package transform

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/message"
)

// cacheKey identifies one transformation of one message: the message, the
// route that matched (-1 for none) and the receiver's accept value. The
// message's content type, the only other input, is part of the message.
type cacheKey struct {
	id     string
	route  int
	accept string
}

// outcome is a finished transformation.
type outcome struct {
	msg      *message.Message // the result; nil for a drop, an error or identity
	identity bool             // nothing to do: the receiver gets the message itself
	err      error
	plan     *planStats
	size     int64 // bytes held by msg, for the cache's byte limit
}

type cacheEntry struct {
	key  cacheKey
	done chan struct{} // closed when out is set
	out  outcome       // written once, before done is closed
	elem *list.Element // position in cache.order; nil once removed; guarded by cache.mu
	size int64         // guarded by cache.mu
}

// cache holds recent transformations, bounded by entry count and bytes,
// evicting the oldest first. It is also a single-flight group: the first
// caller for a key computes, later callers wait for its result, so that a
// fan-out to many receivers in one format transforms once.
type cache struct {
	maxEntries int
	maxBytes   int64

	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry // guarded by mu
	order   *list.List               // of *cacheEntry, oldest first; guarded by mu
	bytes   int64                    // guarded by mu

	evictions atomic.Uint64
}

func newCache(maxEntries int, maxBytes int64) *cache {
	return &cache{maxEntries: maxEntries, maxBytes: maxBytes, entries: make(map[cacheKey]*cacheEntry), order: list.New()}
}

// do returns the outcome for k, computing it with fn unless it is cached or
// being computed. hit reports whether another computation served it. err
// is set only when ctx ended while waiting for someone else's computation.
func (c *cache) do(ctx context.Context, k cacheKey, fn func() outcome) (out outcome, hit bool, err error) {
	c.mu.Lock()
	if e, ok := c.entries[k]; ok {
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.out, true, nil
		case <-ctx.Done():
			return outcome{}, true, ctx.Err()
		}
	}
	e := &cacheEntry{key: k, done: make(chan struct{})}
	c.entries[k] = e
	e.elem = c.order.PushBack(e)
	c.evict()
	c.mu.Unlock()

	out = fn()
	e.out = out
	close(e.done)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e.elem == nil {
		return out, false, nil // evicted while computing
	}
	if transient(out.err) {
		// A timeout or cancellation says nothing about the message: let
		// the next receiver try again.
		c.remove(e)
		return out, false, nil
	}
	e.size = out.size
	c.bytes += out.size
	c.evict()
	return out, false, nil
}

// evict removes the oldest entries until both limits hold. A pending
// entry may be evicted: its waiters still get its result.
func (c *cache) evict() {
	for c.order.Len() > c.maxEntries || c.bytes > c.maxBytes && c.order.Len() > 0 {
		c.remove(c.order.Front().Value.(*cacheEntry))
		c.evictions.Add(1)
	}
}

func (c *cache) remove(e *cacheEntry) {
	c.order.Remove(e.elem)
	e.elem = nil
	c.bytes -= e.size
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
}

func (c *cache) has(k cacheKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return false
	}
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

func (c *cache) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}

func transient(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
