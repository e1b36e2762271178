package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Recover replays the store into r from one consistent snapshot: queue
// definitions in declaration order, then bindings, then each queue's
// messages in seq order with their delivery counts, then retained
// messages. Messages are streamed from an iterator, one decoded at a time;
// only the queue directory is held in memory. It stops at the first error
// r returns, wrapped.
//
// Keys left behind by a deleted queue (see doc.go) belong to no live queue
// id and are skipped.
func (s *Store) Recover(ctx context.Context, r exchange.Recovery) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.isClosed() {
		return ErrClosed
	}
	return s.db.View(func(txn *badgerdb.Txn) error {
		type def struct {
			name string
			id   uint64
			cfg  exchange.QueueConfig
		}
		var defs []def
		err := scanQueues(txn, func(name string, id uint64, cfg exchange.QueueConfig) error {
			defs = append(defs, def{name, id, cfg})
			return nil
		})
		if err != nil {
			return err
		}
		// Ids are allocated in declaration order.
		slices.SortFunc(defs, func(a, b def) int { return cmpUint64(a.id, b.id) })
		names := make(map[uint64]string, len(defs))
		for _, d := range defs {
			names[d.id] = d.name
			if err := r.Queue(d.name, d.cfg); err != nil {
				return fmt.Errorf("badger: recover queue %q: %w", d.name, err)
			}
		}
		if err := recoverBindings(ctx, txn, names, r); err != nil {
			return err
		}
		if err := recoverMessages(ctx, txn, names, r); err != nil {
			return err
		}
		if err := recoverRetained(ctx, txn, r); err != nil {
			return err
		}
		return recoverStates(ctx, txn, r)
	})
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scanQueues calls fn for every q/ record, in name order.
func scanQueues(txn *badgerdb.Txn, fn func(name string, id uint64, cfg exchange.QueueConfig) error) error {
	it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixQueue), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		name := string(item.Key()[prefixLen:])
		var id uint64
		var cfg exchange.QueueConfig
		err := item.Value(func(v []byte) error {
			var err error
			id, cfg, err = decodeQueue(v)
			return err
		})
		if err != nil {
			return fmt.Errorf("badger: read queue %q: %w", name, err)
		}
		if err := fn(name, id, cfg); err != nil {
			return err
		}
	}
	return nil
}

// checkEvery is how many items a scan handles between looks at ctx.
const checkEvery = 256

func recoverBindings(ctx context.Context, txn *badgerdb.Txn, names map[uint64]string, r exchange.Recovery) error {
	it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixBinding)})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); {
		if n++; n%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("badger: recover: %w", ctx.Err())
		}
		id, p, err := decodeBindingKey(it.Item().Key())
		if err != nil {
			return fmt.Errorf("badger: recover binding: %w", err)
		}
		name, ok := names[id]
		if !ok {
			if !skipID(it, prefixBinding, id) { // a deleted queue's
				break
			}
			continue
		}
		if err := r.Binding(name, p); err != nil {
			return fmt.Errorf("badger: recover binding %q of %q: %w", p, name, err)
		}
		it.Next()
	}
	return nil
}

// recoverMessages walks the m/ keys and, beside them, the c/ keys: both
// sort by (queue id, seq), so one pass over each pairs every message with
// its delivery count.
func recoverMessages(ctx context.Context, txn *badgerdb.Txn, names map[uint64]string, r exchange.Recovery) error {
	it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixMessage), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	counts := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixCount), PrefetchValues: true, PrefetchSize: 16})
	defer counts.Close()
	counts.Rewind()
	n := 0
	for it.Rewind(); it.Valid(); {
		if n++; n%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("badger: recover: %w", ctx.Err())
		}
		item := it.Item()
		id, seq, ok := parseSeqKey(item.Key())
		if !ok {
			return fmt.Errorf("badger: recover: %w: message key %x", ErrCorrupt, item.Key())
		}
		name, live := names[id]
		if !live {
			if !skipID(it, prefixMessage, id) {
				break
			}
			continue
		}
		var m *message.Message
		err := item.Value(func(v []byte) error {
			var err error
			m, err = decodeMessage(v)
			return err
		})
		if err != nil {
			return fmt.Errorf("badger: recover message %d of %q: %w", seq, name, err)
		}
		count, err := countFor(counts, item.Key()[prefixLen:])
		if err != nil {
			return fmt.Errorf("badger: recover count of message %d of %q: %w", seq, name, err)
		}
		if err := r.Message(name, seq, m, count); err != nil {
			return fmt.Errorf("badger: recover message %d of %q: %w", seq, name, err)
		}
		it.Next()
	}
	return nil
}

// countFor advances the c/ iterator to the id+seq suffix of a message key
// and returns that message's count, or 0 if it has none.
func countFor(counts *badgerdb.Iterator, idSeq []byte) (int, error) {
	for ; counts.Valid(); counts.Next() {
		c := bytes.Compare(counts.Item().Key()[prefixLen:], idSeq)
		if c > 0 {
			return 0, nil
		}
		if c < 0 {
			continue
		}
		var count uint64
		err := counts.Item().Value(func(v []byte) error {
			var n int
			count, n = binary.Uvarint(v)
			if n != len(v) || count > 1<<31 {
				return fmt.Errorf("%w: count %x", ErrCorrupt, v)
			}
			return nil
		})
		counts.Next()
		return int(count), err
	}
	return 0, nil
}

func recoverRetained(ctx context.Context, txn *badgerdb.Txn, r exchange.Recovery) error {
	it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixRetained), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("badger: recover: %w", ctx.Err())
		}
		item := it.Item()
		var m *message.Message
		err := item.Value(func(v []byte) error {
			var err error
			m, err = decodeMessage(v)
			return err
		})
		if err == nil && len(m.Address) == 0 {
			err = fmt.Errorf("%w: retained message without an address", ErrCorrupt)
		}
		if err != nil {
			return fmt.Errorf("badger: recover retained %x: %w", item.Key(), err)
		}
		if err := r.Retained(m); err != nil {
			return fmt.Errorf("badger: recover retained %q: %w", m.Address, err)
		}
	}
	return nil
}

func recoverStates(ctx context.Context, txn *badgerdb.Txn, r exchange.Recovery) error {
	it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefixState), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("badger: recover: %w", ctx.Err())
		}
		item := it.Item()
		key := string(item.Key()[prefixLen:])
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("badger: recover state %q: %w", key, err)
		}
		if err := r.State(key, v); err != nil {
			return fmt.Errorf("badger: recover state %q: %w", key, err)
		}
	}
	return nil
}

var _ exchange.Loader = (*Store)(nil)

// Load reads one persisted message back, for the exchange's paging: the
// queue's id from its q/ record, then the m/ record. Both reads come from
// one snapshot, so a queue deleted and declared again in between cannot
// mix incarnations.
func (s *Store) Load(ctx context.Context, queue string, seq uint64) (*message.Message, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("badger: load: %w", err)
	}
	var m *message.Message
	err := s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get(appendQueueKey(nil, queue))
		if err != nil {
			return fmt.Errorf("queue %q: %w", queue, err)
		}
		var id uint64
		if err := item.Value(func(v []byte) error {
			var err error
			id, _, err = decodeQueue(v)
			return err
		}); err != nil {
			return fmt.Errorf("queue %q: %w", queue, err)
		}
		item, err = txn.Get(appendSeqKey(nil, prefixMessage, id, seq))
		if err != nil {
			return fmt.Errorf("queue %q seq %d: %w", queue, seq, err)
		}
		return item.Value(func(v []byte) error {
			var err error
			m, err = decodeMessage(v)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("badger: load: %w", err)
	}
	return m, nil
}
