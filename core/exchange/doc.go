// Package exchange is the routing core of Rosetta (DESIGN.md §4): it takes
// canonical messages from every protocol front-end, routes them by address
// to the queues bound to matching patterns, and delivers them to consumers
// within their credit, with outcomes, redelivery, dead-lettering, TTL,
// limits, priorities and a retained (last-value) store shared by all
// protocols.
//
// The exchange never blocks on a socket: a consumer's Handler must return
// quickly (front-ends hand deliveries to their own bounded writer), and the
// credit a consumer grants bounds what it can be handed.
//
// The package declares the Store it persists through; storage/memory and
// storage/badger implement it.
//
// # Delivery
//
// Each queue has at most one goroutine handing its messages out at a time.
// Whoever changes a queue (Publish, Settle, AddCredit, Consume) calls
// dispatch afterwards; if another goroutine is already dispatching, it
// simply returns, because the dispatcher re-examines the queue under the
// queue lock before it stops, and so sees the change. Handlers are called
// with no lock held, so a Handler may Settle or grant credit; the nested
// dispatch finds the queue busy and returns at once. A publisher does at
// most a bounded number of deliveries for others before handing the rest
// to a goroutine owned by the Exchange, so that one publisher is not held
// hostage by a busy queue.
//
// # Persistence
//
// A durable message bound for a durable queue is committed to the Store
// before it becomes visible in memory, so no settlement (a delete) can reach
// the store before the message itself. Store operations for one message are
// therefore ordered: put, then count changes, then delete. Operations on a
// queue the store no longer holds are ignored by the store, which makes a
// race between DeleteQueue and an in-flight Publish or Settle harmless; a
// Publish that finds its queue deleted after the commit deletes what it put.
// Deliveries are not recorded, so every message recovered on start is
// handed out as a redelivery (Delivery.Redelivered) with its stored count.
//
// # Locks
//
// Lock order: Exchange.declMu, then Exchange.mu, then queue.mu, one queue
// at a time; the retained store's commitMu, then its mu, are taken alone. No
// lock is held while calling a Handler, a Closed callback or Store.Commit,
// except declMu (declarations, deletions and bindings are serialized across
// their commit) and the retained commitMu (retained updates reach the store
// in the order memory applies them). Filters run under queue.mu and must not
// call the exchange.
//
// # Goroutines
//
// The Exchange owns one expiry sweeper, started by New, and short-lived
// dispatch goroutines started when a publisher's delivery budget runs out.
// Close stops the sweeper, refuses new work, closes every consumer and waits
// for all of them.
package exchange
