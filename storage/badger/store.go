package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
)

var _ exchange.AsyncStore = (*Store)(nil)

// ErrClosed is returned by Commit and Recover after Close.
var ErrClosed = errors.New("badger: store closed")

// errBadOp is wrapped by the error for a malformed operation; nothing of
// its batch is written.
var errBadOp = errors.New("badger: invalid operation")

// Store is a durable exchange.Store on a badger database. Its methods are
// safe for concurrent use.
type Store struct {
	db   *badgerdb.DB
	opts Options
	log  *slog.Logger

	// life guards the database against Close: Recover holds it shared,
	// Close exclusively before closing the database.
	life sync.RWMutex

	mu         sync.Mutex
	pending    []*request // waiting for the committer; guarded by mu
	pendingOps int        // operations in pending; guarded by mu
	closed     bool       // no new commits; guarded by mu
	wake       chan struct{}
	committed  chan struct{} // closed when the committer has drained and exited

	// Committer state: touched only by the committer goroutine (and by
	// Open before it starts).
	queues map[string]*queueState // live queues by name
	nextID uint64                 // next queue id to allocate
	undo   []undoRec              // in-memory changes of the open transaction
	dead   []uint64               // queue ids deleted by the open transaction
	stats  stats

	// Janitor: deletes what deleted queues left and runs value-log GC.
	quit      chan struct{}
	janitorWG sync.WaitGroup
	deadMu    sync.Mutex
	deadIDs   []uint64 // committed deletions not yet cleaned; guarded by deadMu
	deadWake  chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// queueState is what the committer knows of a live queue.
type queueState struct {
	id uint64
	// counted holds the seqs that have a c/ key, so that acking a message
	// that was never redelivered writes no extra tombstone.
	counted map[uint64]struct{}
}

// stats count what the committer did; Stats reads them.
type stats struct {
	groups   atomic.Uint64 // groups collected
	txns     atomic.Uint64 // transactions committed
	requests atomic.Uint64 // Commit calls completed
	ops      atomic.Uint64 // operations of the completed Commit calls
}

// Stats are counters of the store's work since Open. They only grow, so
// rates and ratios of two readings are meaningful: Commits/Groups is the
// mean group size, the number of callers that shared one fsync under
// SyncBatch.
type Stats struct {
	Commits      uint64 // Commit calls completed, failed ones included
	Ops          uint64 // operations in those calls
	Groups       uint64 // groups the committer gathered
	Transactions uint64 // badger transactions committed
	// Syncs is the number of fsyncs the commits cost: one per transaction,
	// none under SyncNone. badger's own background writes (memtable
	// flushes, compactions) are not counted.
	Syncs uint64
}

// Stats returns the counters. It is cheap (a few atomic loads) and safe
// to call at any time, Close included.
func (s *Store) Stats() Stats {
	st := Stats{
		Commits:      s.stats.requests.Load(),
		Ops:          s.stats.ops.Load(),
		Groups:       s.stats.groups.Load(),
		Transactions: s.stats.txns.Load(),
	}
	if s.opts.Sync != SyncNone {
		st.Syncs = st.Transactions
	}
	return st
}

// Ready returns nil while the store accepts commits and ErrClosed once
// Close has begun; a health check reads it.
func (s *Store) Ready() error {
	if s.isClosed() {
		return ErrClosed
	}
	return nil
}

// request is one Commit call waiting for the committer.
type request struct {
	ops  []op
	done chan error // buffered: the committer never blocks on a caller that gave up
	at   time.Time  // when Commit handed it over: lingering ends BatchDelay after
}

// op is an exchange.Op checked and encoded by the caller, so that the
// committer only builds keys and writes.
type op struct {
	kind  exchange.OpKind
	queue string
	seq   uint64
	count int
	cfg   exchange.QueueConfig
	segs  []byte // encoded pattern (bindings) or address (retained)
	val   []byte // message record (puts)
}

// Open opens (creating if needed) the store in dir. It fails if another
// process has dir open.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	db, err := badgerdb.Open(opts.badgerOptions(dir))
	if err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", dir, err)
	}
	s := &Store{
		db:        db,
		opts:      opts,
		log:       opts.Logger.With("component", "store"),
		wake:      make(chan struct{}, 1),
		committed: make(chan struct{}),
		queues:    make(map[string]*queueState),
		quit:      make(chan struct{}),
		deadWake:  make(chan struct{}, 1),
	}
	if err := s.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	go s.commitLoop()
	s.janitorWG.Add(1)
	go s.janitor()
	return s, nil
}

// load checks the format version (writing it into a new database) and
// reads the queue directory and the delivery-count keys into memory.
func (s *Store) load() error {
	var format []byte
	err := s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get([]byte(keyFormat))
		if errors.Is(err, badgerdb.ErrKeyNotFound) {
			it := txn.NewIterator(badgerdb.IteratorOptions{})
			defer it.Close()
			if it.Rewind(); it.Valid() {
				return fmt.Errorf("badger: %s holds data without a format version", s.db.Opts().Dir)
			}
			return nil
		}
		if err != nil {
			return err
		}
		format, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("badger: read format: %w", err)
	}
	if format == nil {
		s.nextID = 1
		err := s.db.Update(func(txn *badgerdb.Txn) error {
			return errors.Join(
				txn.Set([]byte(keyFormat), []byte{formatVersion}),
				txn.Set([]byte(keyNextQueue), binary.BigEndian.AppendUint64(nil, s.nextID)))
		})
		if err != nil {
			return fmt.Errorf("badger: initialize: %w", err)
		}
		return nil
	}
	if len(format) != 1 || format[0] != formatVersion {
		return fmt.Errorf("badger: %w: data format %v, this build reads %d", ErrVersion, format, formatVersion)
	}
	return s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get([]byte(keyNextQueue))
		if err != nil {
			return fmt.Errorf("badger: read next queue id: %w", err)
		}
		err = item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: next queue id of %d bytes", ErrCorrupt, len(v))
			}
			s.nextID = binary.BigEndian.Uint64(v)
			return nil
		})
		if err != nil {
			return fmt.Errorf("badger: read next queue id: %w", err)
		}
		byID := map[uint64]*queueState{}
		err = scanQueues(txn, func(name string, id uint64, _ exchange.QueueConfig) error {
			q := &queueState{id: id}
			s.queues[name] = q
			byID[id] = q
			return nil
		})
		if err != nil {
			return err
		}
		it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixCount)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, seq, ok := parseSeqKey(it.Item().Key())
			if q := byID[id]; ok && q != nil {
				q.count(seq, true)
			}
		}
		return nil
	})
}

func (q *queueState) count(seq uint64, on bool) {
	if on {
		if q.counted == nil {
			q.counted = make(map[uint64]struct{})
		}
		q.counted[seq] = struct{}{}
	} else {
		delete(q.counted, seq)
	}
}

// Commit applies b atomically and returns once it is durable according to
// the sync policy. Concurrent calls are group-committed: one goroutine
// writes what all waiting callers handed in with one transaction and one
// fsync.
//
// Cancelling ctx stops the wait, not the write: a batch handed to the
// committer may still be written after Commit returned ctx's error, so a
// caller must treat that error as "unknown", as with a lost connection to
// a database. A ctx already done when Commit is called writes nothing.
//
// A batch larger than badger's transaction limit (15 % of MemTableSize)
// is written in several transactions, in order; a crash in between leaves
// a prefix of it applied. The exchange's batches of that size are expiry
// deletes (idempotent) and wide fan-outs of a publish that was not yet
// confirmed (so the publisher resends it: at-least-once).
func (s *Store) Commit(ctx context.Context, b *exchange.Batch) error {
	r, err := s.submit(ctx, b)
	if r == nil || err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("badger: commit (the batch may still be written): %w", ctx.Err())
	}
}

// CommitAsync is Commit without the wait (exchange.AsyncStore): b is
// checked, encoded and handed to the committer before it returns, and the
// channel receives the result once the group holding b is written. Batches
// handed over one after the other are written in that order.
func (s *Store) CommitAsync(ctx context.Context, b *exchange.Batch) <-chan error {
	r, err := s.submit(ctx, b)
	if r != nil && err == nil {
		return r.done
	}
	ch := make(chan error, 1)
	ch <- err
	return ch
}

// submit checks and encodes b and queues it for the committer. It returns
// a nil request when there is nothing to write or b was refused.
func (s *Store) submit(ctx context.Context, b *exchange.Batch) (*request, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("badger: commit: %w", err)
	}
	if b == nil || len(b.Ops) == 0 {
		return nil, nil
	}
	r := &request{ops: make([]op, len(b.Ops)), done: make(chan error, 1), at: time.Now()}
	for i, o := range b.Ops {
		if err := prepare(&r.ops[i], o); err != nil {
			return nil, fmt.Errorf("badger: commit op %d: %w", i, err)
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.pending = append(s.pending, r)
	s.pendingOps += len(r.ops)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return r, nil
}

// prepare checks o and encodes what it carries into p.
func prepare(p *op, o exchange.Op) error {
	*p = op{kind: o.Kind, queue: o.Queue, seq: o.Seq, count: o.DeliveryCount, cfg: o.QueueConfig}
	switch o.Kind {
	case exchange.OpPutQueue, exchange.OpDeleteQueue, exchange.OpDeleteMessage, exchange.OpSetCount:
		if o.Queue == "" {
			return fmt.Errorf("%w: kind %d without a queue", errBadOp, o.Kind)
		}
	case exchange.OpPutBinding, exchange.OpDeleteBinding:
		if o.Queue == "" || len(o.Pattern) == 0 {
			return fmt.Errorf("%w: binding without a queue or pattern", errBadOp)
		}
		p.segs = appendSegments(nil, o.Pattern)
	case exchange.OpPutMessage:
		if o.Queue == "" || o.Msg == nil {
			return fmt.Errorf("%w: message put without a queue or message", errBadOp)
		}
		p.val = appendMessage(make([]byte, 0, messageSizeHint(o.Msg)), o.Msg)
	case exchange.OpPutRetained:
		if o.Msg == nil || len(o.Msg.Address) == 0 {
			return fmt.Errorf("%w: retained put without a message address", errBadOp)
		}
		p.segs = appendSegments(nil, o.Msg.Address)
		p.val = appendMessage(make([]byte, 0, messageSizeHint(o.Msg)), o.Msg)
	case exchange.OpDeleteRetained:
		if len(o.Address) == 0 {
			return fmt.Errorf("%w: retained delete without an address", errBadOp)
		}
		p.segs = appendSegments(nil, o.Address)
	case exchange.OpPutState, exchange.OpDeleteState:
		if o.Key == "" {
			return fmt.Errorf("%w: state record without a key", errBadOp)
		}
		p.segs = []byte(o.Key)
		p.val = slices.Clone(o.Value)
	default:
		return fmt.Errorf("%w: unknown kind %d", errBadOp, o.Kind)
	}
	return nil
}

// commitLoop is the committer goroutine: it gathers waiting commits into
// groups and writes them until Close, then drains what is left.
func (s *Store) commitLoop() {
	defer close(s.committed)
	last := 1
	for {
		g := s.collect(last)
		if g == nil {
			return
		}
		s.stats.groups.Add(1)
		if s.opts.Sync == SyncAlways {
			for i := range g {
				s.writeGroup(g[i : i+1])
			}
		} else {
			s.writeGroup(g)
		}
		last = len(g)
	}
}

// collect waits for commits and takes a group of them (at least one, at
// most BatchMax operations unless one commit alone is larger). It returns
// nil once the store is closed and nothing is pending. last is the size of
// the previous group: see Options.BatchDelay.
func (s *Store) collect(last int) []*request {
	linger := s.opts.Sync == SyncBatch && s.opts.BatchDelay > 0 && last > 1
	var timer *time.Timer
	var expired <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		n := len(s.pending)
		if n > 0 && (!linger || s.closed || n >= last || s.pendingOps >= s.opts.BatchMax) {
			g := s.take()
			s.mu.Unlock()
			return g
		}
		if n == 0 && s.closed {
			s.mu.Unlock()
			return nil
		}
		var wait time.Duration
		if n > 0 && timer == nil {
			// The oldest commit waits BatchDelay at most, counted from
			// its Commit call, which may have been during the last write.
			wait = time.Until(s.pending[0].at.Add(s.opts.BatchDelay))
		}
		s.mu.Unlock()
		if n > 0 && timer == nil {
			if wait <= 0 {
				linger = false
				continue
			}
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		select {
		case <-s.wake:
		case <-expired:
			linger = false
		}
	}
}

// take removes a group from the front of pending. Caller holds s.mu.
func (s *Store) take() []*request {
	ops, k := 0, 0
	for k < len(s.pending) && (k == 0 || ops+len(s.pending[k].ops) <= s.opts.BatchMax) {
		ops += len(s.pending[k].ops)
		k++
	}
	g := make([]*request, k)
	copy(g, s.pending)
	n := copy(s.pending, s.pending[k:])
	clear(s.pending[n:])
	s.pending = s.pending[:n]
	s.pendingOps -= ops
	return g
}

// writeGroup writes g in as few transactions as fit and completes every
// request in it.
func (s *Store) writeGroup(g []*request) {
	for len(g) > 0 {
		n, err := s.writeTxn(g)
		ops := 0
		for _, r := range g[:n] {
			ops += len(r.ops)
			r.done <- err
		}
		s.stats.ops.Add(uint64(ops))
		s.stats.requests.Add(uint64(n))
		g = g[n:]
	}
}

// writeTxn writes a prefix of reqs in one transaction and returns its
// length and the result. If the next request does not fit (badger's
// ErrTxnTooBig) the transaction is rebuilt without it; a request that does
// not fit alone is written by writeSplit. If a request's operation fails
// (a key badger refuses), the requests before it are written and it fails
// alone, so that one caller's error never fails another's commit.
func (s *Store) writeTxn(reqs []*request) (int, error) {
	txn := s.db.NewTransaction(true)
	a := &arena{buf: make([]byte, 0, 24*len(reqs))}
	for i, r := range reqs {
		for j := range r.ops {
			err := s.apply(txn, &r.ops[j], a)
			if err == nil {
				continue
			}
			txn.Discard()
			s.rollback()
			switch {
			case i > 0:
				return s.writeTxn(reqs[:i])
			case errors.Is(err, badgerdb.ErrTxnTooBig):
				return 1, s.writeSplit(r)
			default:
				return 1, fmt.Errorf("badger: commit: %w", err)
			}
		}
	}
	if err := s.commitTxn(txn); err != nil {
		return len(reqs), err
	}
	return len(reqs), nil
}

// writeSplit writes r's operations in consecutive transactions, each as
// full as badger allows. Rebuilding a transaction to end it before the op
// that overflowed costs applying those ops twice, which only oversized
// batches pay.
func (s *Store) writeSplit(r *request) error {
	for start := 0; start < len(r.ops); {
		end, err := s.fit(r.ops[start:])
		if err != nil {
			return fmt.Errorf("badger: commit op %d: %w", start+end, err)
		}
		txn := s.db.NewTransaction(true)
		a := &arena{}
		for j := start; j < start+end; j++ {
			if err = s.apply(txn, &r.ops[j], a); err != nil {
				txn.Discard()
				s.rollback()
				return fmt.Errorf("badger: commit op %d: %w", j, err)
			}
		}
		if err := s.commitTxn(txn); err != nil {
			return err
		}
		start += end
	}
	return nil
}

// fit returns how many of ops fit one transaction (at least one), by
// applying them to a transaction that is then discarded.
func (s *Store) fit(ops []op) (int, error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	defer s.rollback()
	a := &arena{}
	for j := range ops {
		if err := s.apply(txn, &ops[j], a); err != nil {
			if errors.Is(err, badgerdb.ErrTxnTooBig) && j > 0 {
				return j, nil
			}
			return j, err
		}
	}
	return len(ops), nil
}

// commitTxn commits txn (one fsync unless SyncNone), then keeps or rolls
// back the in-memory changes made while building it.
func (s *Store) commitTxn(txn *badgerdb.Txn) error {
	if err := txn.Commit(); err != nil {
		s.rollback()
		return fmt.Errorf("badger: commit: %w", err)
	}
	s.stats.txns.Add(1)
	s.undo = s.undo[:0]
	if len(s.dead) > 0 {
		s.deadMu.Lock()
		s.deadIDs = append(s.deadIDs, s.dead...)
		s.deadMu.Unlock()
		s.dead = s.dead[:0]
		select {
		case s.deadWake <- struct{}{}:
		default:
		}
	}
	return nil
}

// undoRec reverts one in-memory change of an uncommitted transaction.
type undoRec struct {
	name    string
	q       *queueState // the queue before the change; nil if it did not exist
	nextID  uint64
	seq     uint64
	counted bool // for a count change: whether seq was counted before
	isCount bool
}

// rollback reverts the in-memory changes of a transaction that was
// discarded or failed to commit.
func (s *Store) rollback() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		u := s.undo[i]
		switch {
		case u.isCount:
			u.q.count(u.seq, u.counted)
		case u.q == nil:
			delete(s.queues, u.name)
			s.nextID = u.nextID
		default:
			s.queues[u.name] = u.q
		}
	}
	s.undo = s.undo[:0]
	s.dead = s.dead[:0]
}

// setCounted records that seq has (or has not) a c/ key, undoably.
func (s *Store) setCounted(q *queueState, seq uint64, on bool) {
	_, was := q.counted[seq]
	if was == on {
		return
	}
	s.undo = append(s.undo, undoRec{q: q, seq: seq, counted: was, isCount: true})
	q.count(seq, on)
}

// arena holds the keys of one transaction in few allocations. A key is
// never changed once handed to badger, which keeps it until the commit:
// when buf grows, earlier keys stay in the old array.
type arena struct{ buf []byte }

// key returns what was appended to buf since mark, capped so that nobody
// can append into the rest of the arena through it.
func (a *arena) key(mark int) []byte { return a.buf[mark:len(a.buf):len(a.buf)] }

func (a *arena) seqKey(prefix string, id, seq uint64) []byte {
	mark := len(a.buf)
	a.buf = appendSeqKey(a.buf, prefix, id, seq)
	return a.key(mark)
}

func (a *arena) queueKey(name string) []byte {
	mark := len(a.buf)
	a.buf = appendQueueKey(a.buf, name)
	return a.key(mark)
}

// segsKey appends a b/ key (id and pattern), an r/ key (address) or an
// s/ key (state key).
func (a *arena) segsKey(prefix string, id uint64, segs []byte) []byte {
	mark := len(a.buf)
	if prefix == prefixBinding {
		a.buf = appendIDKey(a.buf, prefix, id)
	} else {
		a.buf = append(a.buf, prefix...)
	}
	a.buf = append(a.buf, segs...)
	return a.key(mark)
}

// apply adds one operation to txn, with keys from a. Operations on a queue
// the store does not hold are ignored (exchange doc: Persistence).
// In-memory state changes only once the transaction accepted every write
// of the operation, and is recorded for rollback.
func (s *Store) apply(txn *badgerdb.Txn, o *op, a *arena) error {
	var q *queueState
	if o.queue != "" {
		q = s.queues[o.queue]
	}
	switch o.kind {
	case exchange.OpPutQueue:
		id := s.nextID
		if q != nil {
			id = q.id
		} else {
			next := binary.BigEndian.AppendUint64(nil, id+1)
			if err := txn.Set([]byte(keyNextQueue), next); err != nil {
				return err
			}
		}
		if err := txn.Set(a.queueKey(o.queue), appendQueue(nil, id, o.cfg)); err != nil {
			return err
		}
		if q == nil {
			s.undo = append(s.undo, undoRec{name: o.queue, nextID: s.nextID})
			s.queues[o.queue] = &queueState{id: id}
			s.nextID++
		}
	case exchange.OpDeleteQueue:
		if q == nil {
			return nil
		}
		if err := txn.Delete(a.queueKey(o.queue)); err != nil {
			return err
		}
		// The queue's bindings, messages and counts are found by its id,
		// which is never reused: deleting the q/ key deletes the queue
		// atomically, and the janitor removes the rest later.
		s.undo = append(s.undo, undoRec{name: o.queue, q: q})
		delete(s.queues, o.queue)
		s.dead = append(s.dead, q.id)
	case exchange.OpPutBinding:
		if q == nil {
			return nil
		}
		return txn.Set(a.segsKey(prefixBinding, q.id, o.segs), nil)
	case exchange.OpDeleteBinding:
		if q == nil {
			return nil
		}
		return txn.Delete(a.segsKey(prefixBinding, q.id, o.segs))
	case exchange.OpPutMessage:
		if q == nil {
			return nil
		}
		if err := txn.Set(a.seqKey(prefixMessage, q.id, o.seq), o.val); err != nil {
			return err
		}
		return s.writeCount(txn, a, q, o.seq, o.count)
	case exchange.OpDeleteMessage:
		if q == nil {
			return nil
		}
		if err := txn.Delete(a.seqKey(prefixMessage, q.id, o.seq)); err != nil {
			return err
		}
		return s.writeCount(txn, a, q, o.seq, 0)
	case exchange.OpSetCount:
		if q == nil {
			return nil
		}
		// A count for a message that is gone (settled, expired) must not
		// be written: it would outlive the message and attach to a later
		// message with the same seq. The read sees this transaction's own
		// writes.
		if _, err := txn.Get(a.seqKey(prefixMessage, q.id, o.seq)); errors.Is(err, badgerdb.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return s.writeCount(txn, a, q, o.seq, o.count)
	case exchange.OpPutRetained:
		return txn.Set(a.segsKey(prefixRetained, 0, o.segs), o.val)
	case exchange.OpDeleteRetained:
		return txn.Delete(a.segsKey(prefixRetained, 0, o.segs))
	case exchange.OpPutState:
		if o.val == nil {
			o.val = []byte{} // badger keeps nil and empty alike; be explicit
		}
		return txn.Set(a.segsKey(prefixState, 0, o.segs), o.val)
	case exchange.OpDeleteState:
		return txn.Delete(a.segsKey(prefixState, 0, o.segs))
	}
	return nil
}

// writeCount sets seq's c/ key to count, or deletes it for a count of 0
// if it exists. Counts are written only while positive, so most messages
// never have one.
func (s *Store) writeCount(txn *badgerdb.Txn, a *arena, q *queueState, seq uint64, count int) error {
	if count > 0 {
		if err := txn.Set(a.seqKey(prefixCount, q.id, seq), binary.AppendUvarint(nil, uint64(count))); err != nil {
			return err
		}
		s.setCounted(q, seq, true)
		return nil
	}
	if _, ok := q.counted[seq]; !ok {
		return nil
	}
	if err := txn.Delete(a.seqKey(prefixCount, q.id, seq)); err != nil {
		return err
	}
	s.setCounted(q, seq, false)
	return nil
}

// Close stops accepting commits, waits for the pending ones to be
// written, stops the background work and closes the database. Calling it
// again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.committed
		close(s.quit)
		s.janitorWG.Wait()
		s.life.Lock()
		defer s.life.Unlock()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("badger: close: %w", err)
		}
	})
	return s.closeErr
}

// isClosed reports whether Close has started.
func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// decodeBindingKey returns the queue id and pattern of a b/ key.
func decodeBindingKey(k []byte) (uint64, address.Pattern, error) {
	id, rest, ok := parseIDKey(k)
	if !ok {
		return 0, nil, fmt.Errorf("%w: binding key of %d bytes", ErrCorrupt, len(k))
	}
	segs, err := parseSegments(rest, "binding key")
	return id, address.Pattern(segs), err
}
