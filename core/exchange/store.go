package exchange

import (
	"context"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// Store persists what must survive a restart. The exchange calls Commit
// with every change to durable state, batched; an implementation may
// group-commit concurrent batches, but Commit returns only once its batch is
// durable according to the store's sync policy.
type Store interface {
	// Commit applies b atomically.
	Commit(ctx context.Context, b *Batch) error
	// Recover replays the persisted state into r: queue definitions first,
	// then bindings, then messages in queue order, then retained messages,
	// then state records.
	Recover(ctx context.Context, r Recovery) error
	// Close flushes and releases the store.
	Close() error
}

// AsyncStore is a Store that can take a batch without making its caller
// wait for the disk. The exchange uses it when the store implements it, so
// that PublishPending returns before the commit; otherwise it calls Commit.
type AsyncStore interface {
	Store
	// CommitAsync hands b over as Commit does and returns at once. The
	// channel is buffered and receives exactly one value: what Commit
	// would have returned, once b is durable according to the sync policy
	// or has failed. Nobody has to read it. Cancelling ctx after the call
	// has no effect on the commit.
	CommitAsync(ctx context.Context, b *Batch) <-chan error
}

// OpKind names a change in a Batch.
type OpKind uint8

// Batch operations.
const (
	OpPutQueue       OpKind = iota + 1 // Queue, QueueConfig
	OpDeleteQueue                      // Queue: its bindings and messages go too
	OpPutBinding                       // Queue, Pattern
	OpDeleteBinding                    // Queue, Pattern
	OpPutMessage                       // Queue, Seq, Msg, DeliveryCount
	OpDeleteMessage                    // Queue, Seq
	OpSetCount                         // Queue, Seq, DeliveryCount
	OpPutRetained                      // Msg (keyed by Msg.Address)
	OpDeleteRetained                   // Address
	OpPutState                         // Key, Value: a front-end's opaque record (SaveState)
	OpDeleteState                      // Key
)

// Op is one change.
type Op struct {
	Kind          OpKind
	Queue         string
	QueueConfig   QueueConfig
	Pattern       address.Pattern
	Address       address.Address
	Seq           uint64
	Msg           *message.Message
	DeliveryCount int
	Key           string // OpPutState, OpDeleteState
	Value         []byte // OpPutState
}

// Batch is a set of changes committed together.
type Batch struct {
	Ops []Op
}

// Recovery receives the persisted state on start.
type Recovery interface {
	Queue(name string, cfg QueueConfig) error
	Binding(queue string, p address.Pattern) error
	Message(queue string, seq uint64, m *message.Message, deliveryCount int) error
	Retained(m *message.Message) error
	State(key string, value []byte) error
}
