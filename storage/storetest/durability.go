package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
)

// The tests in this file are about durability: what a store gives back
// after it was closed and opened again, under concurrent commits, and for
// batches larger than a store's own transaction limit.

// sameState compares two recoveries: queues (as sets), configurations,
// bindings, messages with seq, count and content, and retained messages.
// It returns "" when they agree.
func sameState(want, got *state) string {
	var d []string
	if w, g := slices.Sorted(slices.Values(want.queues)), slices.Sorted(slices.Values(got.queues)); !slices.Equal(w, g) {
		d = append(d, fmt.Sprintf("queues %v, want %v", g, w))
	}
	for q, c := range want.configs {
		if got.configs[q] != c {
			d = append(d, fmt.Sprintf("config of %q %+v, want %+v", q, got.configs[q], c))
		}
	}
	for q, b := range want.bindings {
		if !slices.Equal(got.bindings[q], b) {
			d = append(d, fmt.Sprintf("bindings of %q %v, want %v", q, got.bindings[q], b))
		}
	}
	for q := range got.bindings {
		if _, ok := want.bindings[q]; !ok {
			d = append(d, fmt.Sprintf("unexpected bindings of %q", q))
		}
	}
	for q := range got.msgs {
		if _, ok := want.msgs[q]; !ok {
			d = append(d, fmt.Sprintf("unexpected messages of %q", q))
		}
	}
	for q, ms := range want.msgs {
		gs := got.msgs[q]
		if len(gs) != len(ms) {
			d = append(d, fmt.Sprintf("%q has %d messages, want %d", q, len(gs), len(ms)))
			continue
		}
		for i := range ms {
			if gs[i].seq != ms[i].seq || gs[i].count != ms[i].count {
				d = append(d, fmt.Sprintf("%q message %d: seq %d count %d, want seq %d count %d",
					q, i, gs[i].seq, gs[i].count, ms[i].seq, ms[i].count))
			} else if diff := Diff(ms[i].m, gs[i].m); diff != "" {
				d = append(d, fmt.Sprintf("%q message %d: %s", q, ms[i].seq, diff))
			}
		}
	}
	if len(want.retained) != len(got.retained) {
		d = append(d, fmt.Sprintf("%d retained, want %d", len(got.retained), len(want.retained)))
	}
	for a, m := range want.retained {
		if diff := Diff(m, got.retained[a]); diff != "" {
			d = append(d, fmt.Sprintf("retained %q: %s", a, diff))
		}
	}
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("and %d more", len(d)-10))
	}
	return strings.Join(d, "; ")
}

// testReopenKeepsEverything fills a store with every kind of state,
// including changes that cancel out, and checks that a reopened store
// recovers exactly what the open one did.
func testReopenKeepsEverything(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	full := exchange.QueueConfig{
		Durable: true, AutoDelete: true, Owner: "mqtt/c1", MaxLength: -1, MaxBytes: 1 << 30,
		Overflow: exchange.RejectPublish, TTL: time.Hour, MaxDeliveries: 5, DeadLetter: "dlq",
	}
	// Names that are prefixes of one another, and odd bytes.
	names := []string{"q", "q/1", "q\x00", "qq", "é/#/+", strings.Repeat("long", 100)}
	for i, n := range names {
		cfg := exchange.QueueConfig{Durable: true, MaxLength: i}
		if i == 1 {
			cfg = full
		}
		commit(t, st, putQueue(n, cfg), putBinding(n, "a/"+fmt.Sprint(i)+"/#"), putBinding(n, "+/x"))
	}
	seq := uint64(0)
	for round := range 20 {
		var ops []exchange.Op
		for qi, n := range names {
			seq++
			m := fullMessage()
			m.Body = bytes.Repeat([]byte{byte(round)}, 10+qi*100)
			ops = append(ops, exchange.Op{Kind: exchange.OpPutMessage, Queue: n, Seq: seq, Msg: m, DeliveryCount: round % 3})
			if round%4 == 1 {
				ops = append(ops, delMsg(n, seq-uint64(len(names))))
			}
			if round%5 == 2 {
				ops = append(ops, exchange.Op{Kind: exchange.OpSetCount, Queue: n, Seq: seq, DeliveryCount: 7})
			}
		}
		commit(t, st, ops...)
	}
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteBinding, Queue: "qq", Pattern: address.MustParseFilter("+/x")})
	for i := range 10 {
		m := msg(fmt.Sprint("r", i))
		m.Address = address.Address{"r", fmt.Sprint(i), "/"}
		commit(t, st, exchange.Op{Kind: exchange.OpPutRetained, Msg: m, Address: m.Address})
	}
	before := recoverAll(t, st)
	if len(before.msgs["q"]) == 0 || len(before.retained) != 10 {
		t.Fatalf("the store did not take the state: %d messages, %d retained", len(before.msgs["q"]), len(before.retained))
	}
	closeStore(t, st)

	st = open(t)
	defer closeStore(t, st)
	if d := sameState(before, recoverAll(t, st)); d != "" {
		t.Fatalf("after reopen: %s", d)
	}
	// And once more, after a commit on the reopened store, so that its
	// own bookkeeping (counts, queue directory) was loaded right.
	commit(t, st, delMsg("q", 1), exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: seq - uint64(len(names)) + 1, DeliveryCount: 0})
	want := recoverAll(t, st)
	closeStore(t, st)
	st = open(t)
	if d := sameState(want, recoverAll(t, st)); d != "" {
		t.Fatalf("after a second reopen: %s", d)
	}
}

// testConcurrentCommitsReopen commits from 32 goroutines at once, with a
// mix of single puts and multi-op batches, and checks that a reopened
// store has every one.
func testConcurrentCommitsReopen(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	const workers, each = 32, 20
	var ops []exchange.Op
	for w := range workers {
		ops = append(ops, putQueue(fmt.Sprint("w", w%4), exchange.QueueConfig{Durable: true}))
	}
	commit(t, st, ops...)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			q := fmt.Sprint("w", w%4)
			for i := range each {
				seq := uint64(w*each + i + 1)
				b := &exchange.Batch{Ops: []exchange.Op{putMsg(q, seq, fmt.Sprint(seq), 0)}}
				if i%3 == 2 { // put, redeliver, and retain, together
					b.Ops = append(b.Ops, exchange.Op{Kind: exchange.OpSetCount, Queue: q, Seq: seq, DeliveryCount: 2})
					r := msg(fmt.Sprint(seq))
					b.Ops = append(b.Ops, exchange.Op{Kind: exchange.OpPutRetained, Msg: r, Address: r.Address})
				}
				if err := st.Commit(context.Background(), b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	closeStore(t, st)
	st = open(t)
	defer closeStore(t, st)
	s := recoverAll(t, st)
	total, retained := 0, 0
	for w := range 4 {
		q := fmt.Sprint("w", w)
		got := s.msgs[q]
		total += len(got)
		if !slices.IsSortedFunc(got, func(a, b recMsg) int { return int(a.seq) - int(b.seq) }) {
			t.Fatalf("%s not in seq order", q)
		}
		for _, m := range got {
			wantCount := 0
			if (m.seq-1)%each%3 == 2 {
				wantCount = 2
			}
			if m.count != wantCount || string(m.m.Body) != fmt.Sprint(m.seq) {
				t.Fatalf("%s seq %d: count %d body %q", q, m.seq, m.count, m.m.Body)
			}
		}
	}
	for range s.retained {
		retained++
	}
	if total != workers*each || retained != workers*(each/3) {
		t.Fatalf("recovered %d messages and %d retained, want %d and %d", total, retained, workers*each, workers*(each/3))
	}
}

// testDeleteQueueReopen deletes queues in several ways and checks that
// nothing of them comes back after a reopen, and that a queue declared
// again under the same name starts empty.
func testDeleteQueueReopen(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	var ops []exchange.Op
	for _, q := range []string{"gone", "gone2", "back", "keep"} {
		ops = append(ops, putQueue(q, exchange.QueueConfig{Durable: true}), putBinding(q, q+"/#"))
		for i := range 50 {
			ops = append(ops, putMsg(q, uint64(1000*len(q)+i), q, i%2))
		}
	}
	commit(t, st, ops...)
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "gone"})
	// Deleted and declared again in one batch, with a new message.
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "back"}, putQueue("back", exchange.QueueConfig{Durable: true}),
		putMsg("back", 1, "new", 0))
	closeStore(t, st)

	st = open(t)
	// Deleted right after a reopen, then the store is closed at once.
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "gone2"})
	closeStore(t, st)

	st = open(t)
	s := recoverAll(t, st)
	if got := slices.Sorted(slices.Values(s.queues)); !slices.Equal(got, []string{"back", "keep"}) {
		t.Fatalf("queues %v after reopen", got)
	}
	if len(s.msgs["gone"])+len(s.msgs["gone2"])+len(s.bindings["gone"])+len(s.bindings["gone2"]) != 0 {
		t.Fatalf("a deleted queue came back: %v %v", s.msgs, s.bindings)
	}
	if got := s.seqs("back"); !slices.Equal(got, []uint64{1}) || len(s.bindings["back"]) != 0 {
		t.Fatalf("redeclared queue has %v and bindings %v, want only its new message", got, s.bindings["back"])
	}
	if len(s.msgs["keep"]) != 50 || len(s.bindings["keep"]) != 1 {
		t.Fatalf("the queue kept lost state: %d messages, %v", len(s.msgs["keep"]), s.bindings["keep"])
	}
	// Declared again after the reopen: empty too, and usable.
	commit(t, st, putQueue("gone", exchange.QueueConfig{Durable: true}), putMsg("gone", 9, "x", 0))
	closeStore(t, st)
	st = open(t)
	defer closeStore(t, st)
	if got := recoverAll(t, st).seqs("gone"); !slices.Equal(got, []uint64{9}) {
		t.Fatalf("queue declared after a delete and reopen recovered %v", got)
	}
}

// testLargeBatch commits batches larger than a disk store's transaction
// limit, by bytes and then by entries, and checks each is applied whole.
// badger's limit is 15 % of its memtable: 4.8 MB or 52k entries at the
// default 32 MiB, 1.2 MB or 13k entries at the 8 MiB its tests use.
func testLargeBatch(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	const n, size = 1300, 4000 // 5.2 MB of bodies, below 4 KiB so badger keeps them inline
	ops := []exchange.Op{putQueue("big", exchange.QueueConfig{Durable: true})}
	for i := range n {
		m := msg(fmt.Sprint(i))
		m.Body = bytes.Repeat([]byte{byte(i)}, size)
		ops = append(ops, exchange.Op{Kind: exchange.OpPutMessage, Queue: "big", Seq: uint64(i + 1), Msg: m, DeliveryCount: i % 2})
	}
	commit(t, st, ops...)
	check := func(when string) {
		s := recoverAll(t, st)
		got := s.msgs["big"]
		if len(got) != n {
			t.Fatalf("%s: recovered %d of %d messages", when, len(got), n)
		}
		for i, m := range got {
			if m.seq != uint64(i+1) || m.count != i%2 || len(m.m.Body) != size || m.m.Body[size-1] != byte(i) {
				t.Fatalf("%s: message %d came back as seq %d count %d body of %d", when, i, m.seq, m.count, len(m.m.Body))
			}
		}
	}
	check("before reopen")
	closeStore(t, st)
	st = open(t)
	defer closeStore(t, st)
	check("after reopen")

	// 20k deletes, most of seqs never put: too many entries for one
	// transaction.
	ops = ops[:0]
	for i := range 20_000 {
		ops = append(ops, delMsg("big", uint64(i+1)))
	}
	commit(t, st, ops...)
	if got := recoverAll(t, st).seqs("big"); len(got) != 0 {
		t.Fatalf("%d messages left after deleting all in one batch", len(got))
	}
}

// testCommitCancelled: a Commit whose context is already done fails with
// the context's error and applies nothing.
func testCommitCancelled(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := st.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{putQueue("q", exchange.QueueConfig{Durable: true})}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context returned %v", err)
	}
	if s := recoverAll(t, st); len(s.events) != 0 {
		t.Fatalf("a cancelled commit was applied: %v", s.events)
	}
}

// testCommitAsync hands batches over without waiting (when the store is
// an exchange.AsyncStore), waits for every answer afterwards, and checks
// that each was applied, survives a reopen, and that a refused batch and
// a cancelled context are answered on the channel without being applied.
func testCommitAsync(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	as, ok := st.(exchange.AsyncStore)
	if !ok {
		closeStore(t, st)
		t.Skip("not an exchange.AsyncStore")
	}
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}))
	const n = 200
	answers := make([]<-chan error, 0, n)
	for i := range n {
		seq := uint64(i + 1)
		answers = append(answers, as.CommitAsync(context.Background(), &exchange.Batch{Ops: []exchange.Op{putMsg("q", seq, fmt.Sprint(seq), 0)}}))
	}
	bad := as.CommitAsync(context.Background(), &exchange.Batch{Ops: []exchange.Op{{Kind: exchange.OpPutMessage, Queue: "q", Seq: 999}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cancelled := as.CommitAsync(ctx, &exchange.Batch{Ops: []exchange.Op{putMsg("q", 1000, "x", 0)}})
	for i, ch := range answers {
		if err := <-ch; err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if err := <-bad; err == nil {
		t.Fatal("a put without a message was accepted")
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("CommitAsync with a cancelled context answered %v", err)
	}
	closeStore(t, st)
	st = open(t)
	defer closeStore(t, st)
	got := recoverAll(t, st).seqs("q")
	if len(got) != n || got[0] != 1 || got[n-1] != n {
		t.Fatalf("recovered seqs %v, want 1..%d", got, n)
	}
}
