package badger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/storage/storetest"
)

// openTest opens a store in dir with the default options and closes it
// when the test ends.
func openTest(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	// The policies differ in the committer only, so the tests that cost
	// most (a 5 MB batch under -race; hundreds of commits, each with its
	// own fsync under always) run under the default policy alone;
	// TestGroupCommit covers concurrency under every policy.
	skip := map[SyncPolicy][]string{
		SyncAlways: {"LargeBatch", "ConcurrentCommits", "ConcurrentCommitsReopen"},
		SyncNone:   {"LargeBatch"},
	}
	for _, p := range []SyncPolicy{SyncBatch, SyncAlways, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel() // they wait on fsyncs more than they compute
			var mu sync.Mutex
			dirs := map[*testing.T]string{}
			storetest.Run(t, func(t *testing.T) exchange.Store {
				if slices.Contains(skip[p], path.Base(t.Name())) {
					t.Skipf("run under the %v policy", SyncBatch)
				}
				mu.Lock()
				dir, ok := dirs[t]
				if !ok {
					dir = t.TempDir()
					dirs[t] = dir
				}
				mu.Unlock()
				// An 8 MiB memtable makes transactions of 1.2 MB and 13k
				// entries, so that the suite's large batches split.
				return openTest(t, dir, Options{Sync: p, MemTableSize: 8 << 20})
			})
		})
	}
}

func put(q string, seq uint64) exchange.Op {
	return exchange.Op{Kind: exchange.OpPutMessage, Queue: q, Seq: seq,
		Msg: &message.Message{Address: address.Address{"a"}, Body: []byte(fmt.Sprint(seq)), Durable: true}}
}

func declare(q string) exchange.Op {
	return exchange.Op{Kind: exchange.OpPutQueue, Queue: q, QueueConfig: exchange.QueueConfig{Durable: true}}
}

func mustCommit(t testing.TB, s *Store, ops ...exchange.Op) {
	t.Helper()
	if err := s.Commit(context.Background(), &exchange.Batch{Ops: ops}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// counter is an exchange.Recovery that counts what it is given.
type counter struct {
	queues, bindings, messages, retained int
	seqs                                 map[uint64]bool
}

func (c *counter) Queue(string, exchange.QueueConfig) error { c.queues++; return nil }
func (c *counter) Binding(string, address.Pattern) error    { c.bindings++; return nil }
func (c *counter) Message(_ string, seq uint64, _ *message.Message, _ int) error {
	c.messages++
	if c.seqs != nil {
		c.seqs[seq] = true
	}
	return nil
}
func (c *counter) Retained(*message.Message) error { c.retained++; return nil }
func (c *counter) State(string, []byte) error      { return nil }

func TestCommitAfterClose(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	mustCommit(t, s, declare("q"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{put("q", 1)}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	if err := s.Recover(context.Background(), &counter{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recover after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCloseDrainsPending: commits waiting when Close is called are
// written before the database closes, and their callers get nil.
func TestCloseDrainsPending(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{Sync: SyncAlways}) // slow, so that commits queue up
	mustCommit(t, s, declare("q"))
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	confirmed := map[uint64]bool{}
	for i := range n {
		wg.Go(func() {
			err := s.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{put("q", uint64(i+1))}})
			if err == nil {
				mu.Lock()
				confirmed[uint64(i+1)] = true
				mu.Unlock()
			} else if !errors.Is(err, ErrClosed) {
				t.Errorf("Commit: %v", err)
			}
		})
	}
	time.Sleep(2 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = openTest(t, dir, Options{})
	c := &counter{seqs: map[uint64]bool{}}
	if err := s.Recover(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	for seq := range confirmed {
		if !c.seqs[seq] {
			t.Fatalf("confirmed seq %d lost over Close", seq)
		}
	}
	if len(confirmed) == 0 {
		t.Log("no commit got in before Close")
	}
}

// TestCommitContextCancelledWhileWaiting: the caller stops waiting, the
// write goes on, and the store keeps working.
func TestCommitContextCancelledWhileWaiting(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{Sync: SyncAlways})
	mustCommit(t, s, declare("q"))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			err := s.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{put("q", uint64(i+1))}})
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Commit: %v", err)
			}
		})
	}
	cancel()
	wg.Wait()
	mustCommit(t, s, put("q", 100))
	c := &counter{seqs: map[uint64]bool{}}
	if err := s.Recover(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if !c.seqs[100] {
		t.Fatal("the store stopped working after cancelled commits")
	}
}

// TestGroupCommit: concurrent commits share transactions under the batch
// policy, and never under always.
func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		policy SyncPolicy
		shared bool
	}{{SyncBatch, true}, {SyncAlways, false}, {SyncNone, true}} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			s := openTest(t, t.TempDir(), Options{Sync: tc.policy})
			mustCommit(t, s, declare("q"))
			const workers, each = 16, 20
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						mustCommit(t, s, put("q", uint64(w*each+i+1)))
					}
				})
			}
			wg.Wait()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			reqs, groups, txns := s.stats.requests.Load(), s.stats.groups.Load(), s.stats.txns.Load()
			t.Logf("%d commits in %d groups, %d transactions", reqs, groups, txns)
			if reqs != workers*each+1 {
				t.Fatalf("%d requests completed", reqs)
			}
			if shared := txns < reqs; shared != tc.shared {
				t.Fatalf("%d transactions for %d commits", txns, reqs)
			}
		})
	}
}

// TestLoneCommitNotDelayed: with a long BatchDelay, a commit on an idle
// store is still written at once.
func TestLoneCommitNotDelayed(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{BatchDelay: time.Hour})
	mustCommit(t, s, declare("q"))
	start := time.Now()
	for i := range 20 {
		mustCommit(t, s, put("q", uint64(i+1)))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("20 sequential commits took %v", d)
	}
}

// TestBadOpFailsOnlyItsCommit: a malformed op is refused before it
// reaches the committer, and an op badger refuses (a key over its limit)
// fails its own commit only, not the others of its group.
func TestBadOpFailsOnlyItsCommit(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	err := s.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{declare("q"), {Kind: 99}}})
	if err == nil {
		t.Fatal("unknown op kind committed")
	}
	tooLong := string(make([]byte, 70_000))
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			q := fmt.Sprint("q", i)
			if i == 7 {
				q = tooLong
			}
			errs[i] = s.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{declare(q)}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 7) {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	c := &counter{}
	if err := s.Recover(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if c.queues != 15 {
		t.Fatalf("recovered %d queues, want 15", c.queues)
	}
}

// TestLargeGroupSplits: a group larger than a transaction is split, and a
// single commit larger than a transaction too.
func TestLargeGroupSplits(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{MemTableSize: 8 << 20}) // 1.2 MB transactions
	mustCommit(t, s, declare("q"))
	body := make([]byte, 3000)
	var ops []exchange.Op
	for i := range 1000 { // 3 MB
		ops = append(ops, exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: uint64(i + 1),
			Msg: &message.Message{Address: address.Address{"a"}, Body: body}})
	}
	before := s.stats.txns.Load()
	mustCommit(t, s, ops...)
	if txns := s.stats.txns.Load() - before; txns < 3 {
		t.Fatalf("a 3 MB commit took %d transactions", txns)
	}
	c := &counter{}
	if err := s.Recover(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if c.messages != 1000 {
		t.Fatalf("recovered %d", c.messages)
	}
}

// TestDeletedQueueKeysCleaned: the janitor removes what a deleted queue
// left, and an orphan left by a crash is swept on the next Open.
func TestDeletedQueueKeysCleaned(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	ops := []exchange.Op{declare("q"), {Kind: exchange.OpPutBinding, Queue: "q", Pattern: address.Pattern{"x"}}}
	for i := range 100 {
		ops = append(ops, put("q", uint64(i+1)), exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: uint64(i + 1), DeliveryCount: 1})
	}
	mustCommit(t, s, ops...)
	mustCommit(t, s, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "q"})
	waitFor(t, func() bool { return countKeys(t, s.db, "") == 2 }) // v/format and v/next-queue
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Simulate a crash between the delete and the cleanup: keys of an id
	// below v/next-queue with no q/ record.
	db, err := badgerdb.Open(Options{}.withDefaults().badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badgerdb.Txn) error {
		return errors.Join(txn.Set(appendSeqKey(nil, prefixMessage, 1, 5), appendMessage(nil, &message.Message{})),
			txn.Set(appendSeqKey(nil, prefixCount, 1, 5), []byte{1}),
			txn.Set(appendBindingKey(nil, 1, address.Pattern{"y"}), nil))
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	waitFor(t, func() bool { return countKeys(t, s.db, "") == 2 })
	c := &counter{}
	if err := s.Recover(context.Background(), c); err != nil || c.messages+c.bindings+c.queues != 0 {
		t.Fatalf("recovered %+v, %v", c, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countKeys(t *testing.T, db *badgerdb.DB, prefix string) int {
	n := 0
	err := db.View(func(txn *badgerdb.Txn) error {
		it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCountKeysOnlyWhileNeeded: a message that was never redelivered has
// no c/ key, and a count goes away with its message or when set to 0; a
// count for a message that is gone is not written.
func TestCountKeysOnlyWhileNeeded(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	setCount := func(seq uint64, n int) exchange.Op {
		return exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: seq, DeliveryCount: n}
	}
	del := func(seq uint64) exchange.Op { return exchange.Op{Kind: exchange.OpDeleteMessage, Queue: "q", Seq: seq} }
	mustCommit(t, s, declare("q"), put("q", 1), put("q", 2), put("q", 3))
	if n := countKeys(t, s.db, prefixCount); n != 0 {
		t.Fatalf("%d count keys without any redelivery", n)
	}
	mustCommit(t, s, setCount(1, 1), setCount(2, 1), setCount(9, 1))
	if n := countKeys(t, s.db, prefixCount); n != 2 {
		t.Fatalf("%d count keys, want 2 (none for a missing message)", n)
	}
	mustCommit(t, s, del(1), setCount(2, 0), del(3), setCount(3, 4))
	if n := countKeys(t, s.db, prefixCount); n != 0 {
		t.Fatalf("%d count keys left", n)
	}
}

func TestOpenRefusesOtherFormats(t *testing.T) {
	t.Run("newer format", func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, dir, Options{})
		_ = s.Close()
		db, err := badgerdb.Open(Options{}.withDefaults().badgerOptions(dir))
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(txn *badgerdb.Txn) error { return txn.Set([]byte(keyFormat), []byte{2}) })
		if err := errors.Join(err, db.Close()); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrVersion) {
			t.Fatalf("Open of format 2: %v", err)
		}
	})
	t.Run("foreign data", func(t *testing.T) {
		dir := t.TempDir()
		db, err := badgerdb.Open(Options{}.withDefaults().badgerOptions(dir))
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(txn *badgerdb.Txn) error { return txn.Set([]byte("CL_x"), []byte("{}")) })
		if err := errors.Join(err, db.Close()); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); err == nil {
			t.Fatal("opened a database that is not a store")
		}
	})
	t.Run("locked", func(t *testing.T) {
		dir := t.TempDir()
		openTest(t, dir, Options{})
		if s, err := Open(dir, Options{}); err == nil {
			_ = s.Close()
			t.Fatal("opened a directory another store holds")
		}
	})
}

func TestRecoverCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	mustCommit(t, s, declare("q"), put("q", 1))
	_ = s.Close()
	db, err := badgerdb.Open(Options{}.withDefaults().badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badgerdb.Txn) error {
		return txn.Set(appendSeqKey(nil, prefixMessage, 1, 2), []byte{1, 0xff})
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	err = s.Recover(context.Background(), &counter{})
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Recover over a corrupt record: %v", err)
	}
}

func TestRecoverHonoursContext(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ops := []exchange.Op{declare("q")}
	for i := range 1000 {
		ops = append(ops, put("q", uint64(i+1)))
	}
	mustCommit(t, s, ops...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Recover(ctx, &counter{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recover with a cancelled context: %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SyncPolicy
		ok   bool
	}{{"", SyncBatch, true}, {"batch", SyncBatch, true}, {"ALWAYS", SyncAlways, true}, {"none", SyncNone, true}, {"fsync", 0, false}} {
		got, err := ParseSyncPolicy(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && tc.in != "" && got.String() != tc.want.String() {
			t.Errorf("String of %v", got)
		}
	}
	bad := []Options{
		{Sync: 7},
		{MemTableSize: 1 << 20, ValueThreshold: 1 << 20},
		{ValueLogFileSize: 1 << 10},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) passed", o)
		}
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	if err := (Options{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValueLogGC exercises the janitor's GC loop with bodies that go to
// the value log, and checks that Close stops it.
func TestValueLogGC(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{GCInterval: 5 * time.Millisecond, ValueLogFileSize: 1 << 20})
	mustCommit(t, s, declare("q"))
	body := make([]byte, 8<<10) // over the 4 KiB value threshold
	for i := range 300 {
		m := &message.Message{Address: address.Address{"a"}, Body: body}
		mustCommit(t, s, exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: uint64(i + 1), Msg: m})
		if i%2 == 0 {
			mustCommit(t, s, exchange.Op{Kind: exchange.OpDeleteMessage, Queue: "q", Seq: uint64(i + 1)})
		}
	}
	time.Sleep(30 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverSkipsUnknownIDs: keys of a queue id that was never allocated
// (the largest id, here) are skipped without looping back to the start.
func TestRecoverSkipsUnknownIDs(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	mustCommit(t, s, declare("q"), put("q", 1))
	_ = s.Close()
	db, err := badgerdb.Open(Options{}.withDefaults().badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badgerdb.Txn) error {
		return errors.Join(txn.Set(appendSeqKey(nil, prefixMessage, math.MaxUint64, 1), appendMessage(nil, &message.Message{})),
			txn.Set(appendBindingKey(nil, math.MaxUint64, address.Pattern{"y"}), nil))
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	c := &counter{}
	if err := s.Recover(context.Background(), c); err != nil || c.queues != 1 || c.messages != 1 || c.bindings != 0 {
		t.Fatalf("recovered %+v, %v", c, err)
	}
}

// TestStatsAndReady: the exported counters follow the commits, Syncs
// follows the sync policy, and Ready turns to ErrClosed with Close.
func TestStatsAndReady(t *testing.T) {
	for _, p := range []SyncPolicy{SyncBatch, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{Sync: p})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Ready(); err != nil {
				t.Fatalf("Ready on an open store: %v", err)
			}
			mustCommit(t, s, declare("q"))
			mustCommit(t, s, put("q", 1), put("q", 2))
			st := s.Stats()
			if st.Commits != 2 || st.Ops != 3 || st.Groups < 1 || st.Groups > 2 || st.Transactions < st.Groups {
				t.Fatalf("stats %+v after 2 commits of 3 ops", st)
			}
			wantSyncs := st.Transactions
			if p == SyncNone {
				wantSyncs = 0
			}
			if st.Syncs != wantSyncs {
				t.Fatalf("syncs %d, want %d under %v", st.Syncs, wantSyncs, p)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Ready(); !errors.Is(err, ErrClosed) {
				t.Fatalf("Ready after Close = %v, want ErrClosed", err)
			}
			if got := s.Stats(); got != st {
				t.Fatalf("stats changed by Close: %+v, was %+v", got, st)
			}
		})
	}
}
