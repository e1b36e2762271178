package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/rosettamq/rosetta/core/exchange"
)

// janitor is the store's background goroutine, stopped by Close. It
// deletes the keys of deleted queues (after a deletion is committed, and
// on start for deletions a crash or a Close interrupted) and runs
// value-log garbage collection every GCInterval.
func (s *Store) janitor() {
	defer s.janitorWG.Done()
	if err := s.sweepOrphans(); err != nil && !s.stopping() {
		s.log.Warn("sweep of deleted queues failed", "err", err)
	}
	var tick <-chan time.Time
	if s.opts.GCInterval > 0 {
		t := time.NewTicker(s.opts.GCInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.quit:
			return
		case <-s.deadWake:
			s.deadMu.Lock()
			ids := s.deadIDs
			s.deadIDs = nil
			s.deadMu.Unlock()
			for _, id := range ids {
				if err := s.dropQueueKeys(id); err != nil && !s.stopping() {
					s.log.Warn("cleanup of a deleted queue failed", "queue_id", id, "err", err)
				}
			}
		case <-tick:
			s.gcValueLog()
		}
	}
}

func (s *Store) stopping() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// errStopping ends a cleanup early when Close starts; what is left is
// found again by the next Open's sweep.
var errStopping = errors.New("badger: stopping")

// idPrefixes are the key spaces that hold per-queue state by id.
var idPrefixes = []string{prefixBinding, prefixMessage, prefixCount}

// sweepOrphans finds queue ids that have bindings, messages or counts but
// no q/ record, and deletes their keys. It reads one snapshot: ids
// allocated after it are at least its next-queue value and are left
// alone; queues deleted after it are cleaned through deadIDs.
func (s *Store) sweepOrphans() error {
	var orphans []uint64
	err := s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get([]byte(keyNextQueue))
		if err != nil {
			return err
		}
		var next uint64
		if err := item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: next queue id of %d bytes", ErrCorrupt, len(v))
			}
			next = binary.BigEndian.Uint64(v)
			return nil
		}); err != nil {
			return err
		}
		live := map[uint64]bool{}
		if err := scanQueues(txn, func(_ string, id uint64, _ exchange.QueueConfig) error {
			live[id] = true
			return nil
		}); err != nil {
			return err
		}
		found := map[uint64]bool{}
		for _, p := range idPrefixes {
			it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(p)})
			// One seek per distinct id: skip over each id's keys at once.
			for it.Rewind(); it.Valid(); {
				id, _, ok := parseIDKey(it.Item().Key())
				if !ok {
					it.Next()
					continue
				}
				if !live[id] && id < next && !found[id] {
					found[id] = true
					orphans = append(orphans, id)
				}
				if !skipID(it, p, id) {
					break
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range orphans {
		if err := s.dropQueueKeys(id); err != nil {
			return err
		}
	}
	return nil
}

// dropQueueKeys deletes every b/, m/ and c/ key of queue id. The queue's
// q/ record is already gone, so nobody reads these keys: the deletes need
// no fsync of their own and are not atomic. A WriteBatch splits them into
// transactions as large as badger allows. (DropPrefix would be cheaper in
// writes but blocks all writers while it flushes the memtables.)
func (s *Store) dropQueueKeys(id uint64) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err := s.db.View(func(txn *badgerdb.Txn) error {
		for _, p := range idPrefixes {
			it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: appendIDKey(nil, p, id)})
			for it.Rewind(); it.Valid(); it.Next() {
				if n++; n%1024 == 0 && s.stopping() {
					it.Close()
					return errStopping
				}
				if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("badger: delete keys of queue id %d: %w", id, err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("badger: delete keys of queue id %d: %w", id, err)
	}
	return nil
}

// gcValueLog rewrites value-log files until badger finds none worth it
// (at least half garbage). Only bodies of ValueThreshold or more live in
// the value log, so for small messages this finds nothing.
func (s *Store) gcValueLog() {
	for !s.stopping() {
		err := s.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badgerdb.ErrNoRewrite) && !errors.Is(err, badgerdb.ErrRejected) {
			s.log.Warn("value log GC failed", "err", err)
		}
		return
	}
}
