package exchange

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/core/trie"
)

// Errors returned by the exchange. Front-ends map them to protocol errors.
var (
	ErrClosed        = errors.New("exchange: closed")
	ErrQueueNotFound = errors.New("exchange: queue not found")
	ErrQueueFull     = errors.New("exchange: queue full") // reject-publish overflow
	ErrExclusive     = errors.New("exchange: queue has an exclusive consumer")
	ErrSettled       = errors.New("exchange: delivery already settled")
	ErrInvalid       = errors.New("exchange: invalid argument")
	// ErrQueueDeleted is the reason given to a consumer's Closed callback
	// when its queue is deleted.
	ErrQueueDeleted = errors.New("exchange: queue deleted")
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
	// Dead-letter queues are still created on demand.
	DisableAutoCreate bool
	// DefaultQueue is applied to auto-created named queues.
	DefaultQueue QueueConfig
	// ExpiryInterval is how often queues are swept for expired messages; 0
	// means DefaultExpiryInterval.
	ExpiryInterval time.Duration
	// DeadLetterExpired moves expired messages to the dead-letter queue
	// instead of dropping them.
	DeadLetterExpired bool
	// ResidentBytes is how many message bytes a queue keeps in memory
	// before further persisted messages are paged out to the store
	// (paging.go); 0 means DefaultResidentBytes, negative never pages. It
	// applies only with a Store that implements Loader.
	ResidentBytes int64
	// Transformer rewrites messages per receiver at delivery; nil means
	// every receiver gets the message as published.
	Transformer Transformer
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ExpiryInterval <= 0 {
		c.ExpiryInterval = DefaultExpiryInterval
	}
	if c.ResidentBytes == 0 {
		c.ResidentBytes = DefaultResidentBytes
	}
	return c
}

// Validate reports a configuration the exchange cannot run with.
func (c Config) Validate() error {
	if err := c.DefaultQueue.validate(); err != nil {
		return fmt.Errorf("default queue: %w", err)
	}
	return nil
}

// Exchange is the broker core. Create it with New.
type Exchange struct {
	cfg    Config // with defaults applied; read-only after New
	log    *slog.Logger
	now    func() time.Time
	store  Store  // nil when nothing is persisted
	loader Loader // the store, when it can read a message back (paging)

	// declMu serializes declarations, deletions, binds and unbinds, across
	// their store commit, so that the store sees them in memory order.
	declMu sync.Mutex

	mu     sync.RWMutex      // guards queues and routes; taken before queue.mu
	queues map[string]*queue // by name
	routes trie.Trie[*queue] // binding patterns to queues

	retained retainedStore
	states   stateTable

	gate        gate          // counts in-flight operations; closed by Close
	bg          background    // commits nobody waits for
	stop        chan struct{} // closed by Close to stop the sweeper
	sweeperDone chan struct{} // closed when the sweeper returns
	closeOnce   sync.Once

	seq         atomic.Uint64 // last message sequence number handed out, exchange-wide
	consumerIDs atomic.Uint64
	queueIDs    atomic.Uint64
	ids         idGen

	in, out         protoCounters
	unroutable      atomic.Uint64
	expired         atomic.Uint64
	deadLettered    atomic.Uint64
	transformFailed atomic.Uint64
	pagedOut        atomic.Uint64
	pagedIn         atomic.Uint64
	loadErrors      atomic.Uint64
	dropped         [numDropReasons]atomic.Uint64
	lossy           lossyCounters
}

// Reasons a message is dropped, as reported in Stats.Dropped.
type dropReason uint8

const (
	dropOverflow dropReason = iota
	dropExpired
	dropDeadLetter
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"overflow", "expired", "dead-letter-dropped"}

// New creates an exchange and recovers what cfg.Store holds.
func New(ctx context.Context, cfg Config) (*Exchange, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	cfg = cfg.withDefaults()
	x := &Exchange{
		cfg:         cfg,
		log:         cfg.Logger,
		now:         cfg.Now,
		store:       cfg.Store,
		loader:      loaderOf(cfg.Store),
		queues:      make(map[string]*queue),
		stop:        make(chan struct{}),
		sweeperDone: make(chan struct{}),
		ids:         newIDGen(),
	}
	x.gate.init()
	x.states.m = make(map[string][]byte)
	if x.store != nil {
		r := &recovery{x: x}
		if err := x.store.Recover(ctx, r); err != nil {
			return nil, fmt.Errorf("exchange: recover: %w", err)
		}
		x.log.Info("exchange recovered", "queues", len(x.queues), "messages", r.messages,
			"retained", x.retained.len())
	}
	go x.sweeper()
	return x, nil
}

// Close stops background work, closes every consumer and waits for pending
// store commits. It does not close the Store: its owner does. Calling Close
// again waits again and returns nil once idle.
func (x *Exchange) Close(ctx context.Context) error {
	idle := x.gate.close()
	x.closeOnce.Do(func() {
		close(x.stop)
		x.mu.RLock()
		qs := make([]*queue, 0, len(x.queues))
		for _, q := range x.queues {
			qs = append(qs, q)
		}
		x.mu.RUnlock()
		for _, q := range qs {
			q.closeConsumers(ErrClosed, false)
		}
	})
	select {
	case <-idle:
	case <-ctx.Done():
		return fmt.Errorf("exchange: close: %w", ctx.Err())
	}
	select {
	case <-x.sweeperDone:
	case <-ctx.Done():
		return fmt.Errorf("exchange: close: %w", ctx.Err())
	}
	return nil
}

// commit writes b to the store, if there is one and b has operations.
func (x *Exchange) commit(ctx context.Context, b *Batch) error {
	if x.store == nil || len(b.Ops) == 0 {
		return nil
	}
	return x.store.Commit(ctx, b)
}

// commitBackground commits changes that follow a settlement or a sweep:
// nobody waits for them (with an AsyncStore, not even the caller:
// background.go) and a failure leaves the message in the store, so it
// comes back after a restart (at least once), which is logged.
func (x *Exchange) commitBackground(b *Batch, what string) {
	if x.store == nil || len(b.Ops) == 0 {
		return
	}
	x.bg.commit(x, b, what)
}

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
	// TransformFailed counts deliveries dead-lettered because their
	// transformation failed (Delivery.Transformed).
	TransformFailed uint64
	// Paging counters (paging.go).
	PagedOut, PagedIn, PageLoadErrors uint64
}

// Stats returns a snapshot of the counters.
func (x *Exchange) Stats() Stats {
	s := Stats{
		In:         x.in.snapshot(),
		Out:        x.out.snapshot(),
		Unroutable: x.unroutable.Load(),
		Dropped:    make(map[string]uint64, numDropReasons),
		Expired:    x.expired.Load(),
		DeadLetter: x.deadLettered.Load(),
		Retained:   x.retained.len(),

		TransformFailed: x.transformFailed.Load(),
		PagedOut:        x.pagedOut.Load(),
		PagedIn:         x.pagedIn.Load(),
		PageLoadErrors:  x.loadErrors.Load(),
	}
	for i := range x.dropped {
		s.Dropped[dropReasonNames[i]] = x.dropped[i].Load()
	}
	x.mu.RLock()
	s.Queues = len(x.queues)
	x.mu.RUnlock()
	return s
}

func (x *Exchange) drop(r dropReason, n int) {
	if n > 0 {
		x.dropped[r].Add(uint64(n))
	}
}

// protoCounters counts per protocol without a lock: the protocols Rosetta
// speaks have a fixed slot; anything else (including "") goes to a map
// that is only written the first time a name is seen.
type protoCounters struct {
	known [len(knownProtocols)]atomic.Uint64
	other sync.Map // message.Protocol -> *atomic.Uint64
}

var knownProtocols = [...]message.Protocol{
	message.ProtocolMQTT, message.ProtocolSTOMP, message.ProtocolAMQP,
	message.ProtocolHTTP, message.ProtocolCore,
}

// counter returns the counter for p; callers on hot paths keep it.
func (pc *protoCounters) counter(p message.Protocol) *atomic.Uint64 {
	for i, k := range knownProtocols {
		if k == p {
			return &pc.known[i]
		}
	}
	if c, ok := pc.other.Load(p); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := pc.other.LoadOrStore(p, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

func (pc *protoCounters) snapshot() map[message.Protocol]uint64 {
	m := make(map[message.Protocol]uint64)
	for i, k := range knownProtocols {
		if n := pc.known[i].Load(); n > 0 {
			m[k] = n
		}
	}
	pc.other.Range(func(k, v any) bool {
		if n := v.(*atomic.Uint64).Load(); n > 0 {
			m[k.(message.Protocol)] = n
		}
		return true
	})
	return m
}

// gate counts in-flight operations so that Close can refuse new ones and
// wait for the rest, without a lock on the hot path: the count lives in the
// low bits of state and the closed flag in a high bit.
type gate struct {
	state atomic.Int64
	once  sync.Once
	idle  chan struct{} // closed once the gate is closed and nothing is in flight
}

const gateClosed = 1 << 62

func (g *gate) init() { g.idle = make(chan struct{}) }

// enter registers an operation; false means the gate is closed.
func (g *gate) enter() bool {
	if g.state.Add(1)&gateClosed != 0 {
		g.leave()
		return false
	}
	return true
}

func (g *gate) leave() {
	if g.state.Add(-1) == gateClosed {
		g.once.Do(func() { close(g.idle) })
	}
}

// close refuses new operations and returns a channel closed when the last
// one in flight leaves.
func (g *gate) close() <-chan struct{} {
	if g.state.Or(gateClosed)|gateClosed == gateClosed {
		g.once.Do(func() { close(g.idle) })
	}
	return g.idle
}

func (g *gate) closed() bool { return g.state.Load()&gateClosed != 0 }

// idGen makes message IDs: a random per-process prefix, so that IDs are
// unique across restarts and across nodes, and a counter.
type idGen struct {
	prefix string
	n      atomic.Uint64
}

func newIDGen() idGen {
	return idGen{prefix: rand.Text()[:16] + "-"}
}

func (g *idGen) next() string {
	var buf [40]byte
	b := append(buf[:0], g.prefix...)
	b = strconv.AppendUint(b, g.n.Add(1), 36)
	return string(b)
}
