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
package exchange

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// Errors returned by the exchange. Front-ends map them to protocol errors.
var (
	ErrClosed        = errors.New("exchange: closed")
	ErrQueueNotFound = errors.New("exchange: queue not found")
	ErrQueueFull     = errors.New("exchange: queue full") // reject-publish overflow
	ErrExclusive     = errors.New("exchange: queue has an exclusive consumer")
	ErrSettled       = errors.New("exchange: delivery already settled")
	ErrInvalid       = errors.New("exchange: invalid argument")
)

// Defaults applied when a Config or QueueConfig field is zero.
const (
	DefaultMaxLength      = 1_000_000       // messages per queue
	DefaultMaxBytes       = 256 << 20       // bytes per queue
	DefaultMaxDeliveries  = 20              // then dead-letter (RabbitMQ quorum queues' default)
	DefaultDeadLetter     = "$dlq"          // the default dead-letter queue's name
	DefaultExpiryInterval = 1 * time.Second // how often expired messages are swept
)

// Config configures an Exchange. The zero value works.
type Config struct {
	// Store persists durable queues, bindings, durable messages and retained
	// messages. nil means nothing is persisted.
	Store Store
	// Logger; nil means discard.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
	// DisableAutoCreate turns off creating a named queue on first send or
	// subscribe (PublishOptions.EnsureQueue, Consume on a missing queue).
	DisableAutoCreate bool
	// DefaultQueue is applied to auto-created named queues.
	DefaultQueue QueueConfig
	// ExpiryInterval is how often queues are swept for expired messages; 0
	// means DefaultExpiryInterval.
	ExpiryInterval time.Duration
	// DeadLetterExpired moves expired messages to the dead-letter queue
	// instead of dropping them.
	DeadLetterExpired bool
}

// Overflow says what a full queue does with the next message.
type Overflow uint8

// Overflow policies (RabbitMQ's names).
const (
	DropHead      Overflow = iota // drop the oldest message and count it
	RejectPublish                 // refuse the new message: Publish returns ErrQueueFull
)

// QueueConfig configures a queue. Zero fields take the defaults.
type QueueConfig struct {
	Durable    bool // definition and durable messages are persisted
	AutoDelete bool // deleted when its last consumer leaves
	// Owner names the session that owns a private subscription queue
	// ("mqtt/<client-id>"), for listing; empty for shared queues.
	Owner string
	// MaxLength in messages; 0 means DefaultMaxLength, negative unlimited.
	MaxLength int
	// MaxBytes in message bytes (message.Size); 0 means DefaultMaxBytes,
	// negative unlimited.
	MaxBytes int64
	Overflow Overflow
	// TTL applied to every message on enqueue (the earlier of it and the
	// message's own Expires wins); 0 means none.
	TTL time.Duration
	// MaxDeliveries before a message is dead-lettered; 0 means
	// DefaultMaxDeliveries, negative unlimited.
	MaxDeliveries int
	// DeadLetter is the queue that receives dead letters; "" means
	// DefaultDeadLetter, "-" means dead letters are dropped (and counted).
	DeadLetter string
}

// PublishOptions modify one Publish.
type PublishOptions struct {
	// EnsureQueue declares a named queue for the message's address (named by
	// its MQTT rendering) with Config.DefaultQueue if none exists, so that a
	// send to a queue destination waits for a consumer. When auto-creation is
	// disabled and the queue does not exist, Publish returns
	// ErrQueueNotFound.
	EnsureQueue bool
}

// Routed reports what Publish did.
type Routed struct {
	Queues  int // queues the message was enqueued on
	Dropped int // queues that dropped a message because of drop-head overflow
}

// Publish routes m to every queue bound to a pattern matching m.Address,
// at most once per queue even when several of its patterns match. It
// assigns m.ID when empty and stamps m.UserID from m.Annotations.Origin.User.
// When m.Durable and at least one target queue is durable, Publish returns
// only after the store has committed the message. A retained message
// (Annotations.Retain) replaces the address's last value; an empty body
// clears it (MQTT-3.3.1-10). m must not be changed after the call.
func (x *Exchange) Publish(ctx context.Context, m *message.Message, opts PublishOptions) (Routed, error) {
	panic("exchange: Publish not implemented")
}

// DeclareQueue creates a queue, bound to nothing, or returns nil when it
// exists already (its configuration is kept).
func (x *Exchange) DeclareQueue(name string, cfg QueueConfig) error {
	panic("exchange: DeclareQueue not implemented")
}

// DeleteQueue removes a queue, its bindings and its messages; its
// consumers are closed (their Closed callback says why).
func (x *Exchange) DeleteQueue(name string) error { panic("exchange: not implemented") }

// PurgeQueue removes every ready message and returns how many.
func (x *Exchange) PurgeQueue(name string) (int, error) { panic("exchange: not implemented") }

// Bind routes messages whose address matches p to the queue.
// Binding the same pattern twice is a no-op.
func (x *Exchange) Bind(queue string, p address.Pattern) error { panic("exchange: not implemented") }

// Unbind removes a binding; a missing binding is not an error.
func (x *Exchange) Unbind(queue string, p address.Pattern) error { panic("exchange: not implemented") }

// Enqueue puts m on one queue directly, bypassing routing (retained
// messages for a new subscription, moves out of a dead-letter queue).
func (x *Exchange) Enqueue(ctx context.Context, queue string, m *message.Message) error {
	panic("exchange: not implemented")
}

// Retained returns the retained messages whose address matches p, in no
// particular order.
func (x *Exchange) Retained(p address.Pattern) []*message.Message { panic("exchange: not implemented") }

// ConsumerOptions configure a consumer.
type ConsumerOptions struct {
	Protocol message.Protocol // for metrics: deliveries out per protocol
	ClientID string
	ConnID   string
	// Credit is the initial number of deliveries the consumer may be handed
	// before it grants more with AddCredit or SetCredit.
	Credit int
	// AutoAck settles every delivery as accepted when it is handed over
	// (at-most-once). Otherwise each Delivery must be settled.
	AutoAck bool
	// Exclusive refuses other consumers on the queue (ErrExclusive).
	Exclusive bool
	// Filter, when set, is a selector: messages it refuses stay on the
	// queue for other consumers.
	Filter func(*message.Message) bool
	// Handler receives deliveries, in queue order for this consumer. It is
	// called without exchange locks held, from any goroutine, one call at a
	// time per consumer; it must not block (hand the delivery to your own
	// writer). It may call Settle, AddCredit and SetCredit.
	Handler func(*Delivery)
	// Closed, when set, is called once when the exchange closes the
	// consumer (queue deleted, exchange closed), with the reason.
	Closed func(error)
}

// Consume attaches a consumer to a queue, creating the queue with
// Config.DefaultQueue when auto-creation is on. Consumers of one queue
// compete: each message goes to one of them, round-robin among those with
// credit.
func (x *Exchange) Consume(queue string, opts ConsumerOptions) (*Consumer, error) {
	panic("exchange: not implemented")
}

// Consumer is one receiver attached to a queue.
type Consumer struct{}

// AddCredit grants n more deliveries.
func (c *Consumer) AddCredit(n int) { panic("exchange: not implemented") }

// SetCredit sets the remaining credit to n (AMQP flow sets it absolutely).
func (c *Consumer) SetCredit(n int) { panic("exchange: not implemented") }

// Credit returns the remaining credit.
func (c *Consumer) Credit() int { panic("exchange: not implemented") }

// Drain hands over what is ready now within the credit, then sets the
// credit to zero; it returns the credit that was left unused (AMQP drain).
func (c *Consumer) Drain() int { panic("exchange: not implemented") }

// Unsettled returns how many deliveries are handed over and not settled.
func (c *Consumer) Unsettled() int { panic("exchange: not implemented") }

// Close detaches the consumer. Its unsettled deliveries are released back
// to the queue (redelivered with their count unchanged). An AutoDelete queue
// whose last consumer leaves is deleted.
func (c *Consumer) Close() error { panic("exchange: not implemented") }

// Delivery is one message handed to one consumer.
type Delivery struct {
	Msg   *message.Message
	Queue string
	// Seq identifies the message in its queue; stable across redelivery.
	Seq uint64
	// DeliveryCount is the number of earlier failed attempts (AMQP
	// header.delivery-count); Redelivered is true when the message was handed
	// out before (it may have been released without a count).
	DeliveryCount int
	Redelivered   bool
}

// Settle ends the delivery with an outcome. Settling twice returns
// ErrSettled. Settle on an AutoAck delivery is a no-op.
func (d *Delivery) Settle(o Outcome) error { panic("exchange: not implemented") }

// OutcomeKind is the result of a delivery (AMQP 1.0 §3.4).
type OutcomeKind uint8

// Outcomes, as AMQP names them.
const (
	OutcomeAccepted OutcomeKind = iota // processed: remove
	OutcomeReleased                    // not processed: requeue, count unchanged
	OutcomeModified                    // failed: requeue with count+1 (or dead-letter past MaxDeliveries)
	OutcomeRejected                    // invalid: dead-letter
)

// Outcome is how a consumer settles a delivery.
type Outcome struct {
	Kind OutcomeKind
	// UndeliverableHere (Modified) asks that this consumer not get the
	// message again.
	UndeliverableHere bool
	// Reason (Rejected) is recorded in the dead letter.
	Reason string
}

// Common outcomes.
var (
	Accepted = Outcome{Kind: OutcomeAccepted}
	Released = Outcome{Kind: OutcomeReleased}
	Modified = Outcome{Kind: OutcomeModified}
	Rejected = Outcome{Kind: OutcomeRejected}
)

// QueueStats describes a queue for the admin API and metrics.
type QueueStats struct {
	Name       string
	Config     QueueConfig
	Bindings   []address.Pattern
	Ready      int   // messages waiting
	Unsettled  int   // handed out, not settled
	Bytes      int64 // of ready and unsettled messages
	Consumers  int
	Enqueued   uint64
	Delivered  uint64
	Acked      uint64
	Dropped    uint64 // overflow, expired or dead-letter dropped
	Expired    uint64
	DeadLetter uint64 // messages this queue sent to its dead-letter queue
}

// Queues returns a snapshot of every queue.
func (x *Exchange) Queues() []QueueStats { panic("exchange: not implemented") }

// Queue returns one queue's snapshot.
func (x *Exchange) Queue(name string) (QueueStats, bool) { panic("exchange: not implemented") }

// Stats are exchange-wide counters, per protocol where it applies.
type Stats struct {
	In         map[message.Protocol]uint64 // messages published, by origin
	Out        map[message.Protocol]uint64 // deliveries handed to consumers, by consumer protocol
	Unroutable uint64                      // published to an address no queue is bound to
	Dropped    map[string]uint64           // by reason: "overflow", "expired", "dead-letter-dropped"
	Expired    uint64
	DeadLetter uint64
	Retained   int
	Queues     int
}

// Stats returns a snapshot of the counters.
func (x *Exchange) Stats() Stats { panic("exchange: not implemented") }

// Exchange is the broker core. Create it with New.
type Exchange struct{}

// New creates an exchange and recovers what cfg.Store holds.
func New(ctx context.Context, cfg Config) (*Exchange, error) { panic("exchange: not implemented") }

// Close stops background work, closes every consumer and waits for pending
// store commits. It does not close the Store: its owner does.
func (x *Exchange) Close(ctx context.Context) error { panic("exchange: not implemented") }
