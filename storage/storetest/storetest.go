// Package storetest is the conformance suite every exchange.Store passes
// (storage/memory, storage/badger): what a store must give back to
// Recover after a series of commits, including across a reopen.
//
// A store's test calls Run with an open function:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) exchange.Store { ... })
//	}
//
// Run calls open with each subtest's t. The first call for a given t must
// return an empty store; later calls with the same t must return a store
// over the same data, as reopening the same directory does (the suite
// closes the previous store first). A store whose Close keeps its data can
// return the same value each time.
//
// Beside the semantics of each operation, the suite checks durability
// (durability.go): a reopened store recovers exactly what the open one
// did; commits from 32 goroutines at once all survive a reopen; a deleted
// queue stays deleted across a reopen and comes back empty when declared
// again; a batch larger than a disk store's transaction limit is applied
// whole; a Commit with a done context applies nothing.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) exchange.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) exchange.Store)
	}{
		{"Empty", testEmpty},
		{"QueuesAndBindings", testQueuesAndBindings},
		{"MessagesInOrder", testMessagesInOrder},
		{"DeliveryCountAndDelete", testCountAndDelete},
		{"MessageFidelity", testMessageFidelity},
		{"DeleteQueueDropsItsState", testDeleteQueue},
		{"OpsOnUnknownQueueIgnored", testUnknownQueue},
		{"Retained", testRetained},
		{"OpsApplyInBatchOrder", testBatchOrder},
		{"Reopen", testReopen},
		{"RecoveryOrder", testRecoveryOrder},
		{"RecoveryError", testRecoveryError},
		{"ConcurrentCommits", testConcurrentCommits},
		{"CommitCancelled", testCommitCancelled},
		{"CommitAsync", testCommitAsync},
		{"ReopenKeepsEverything", testReopenKeepsEverything},
		{"ConcurrentCommitsReopen", testConcurrentCommitsReopen},
		{"DeleteQueueReopen", testDeleteQueueReopen},
		{"LargeBatch", testLargeBatch},
		{"StateRecords", testStateRecords},
		{"Load", testLoad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// state is what a store gave back to Recover, in the order it came.
type state struct {
	events   []string // "queue", "binding", "message", "retained", for order checks
	queues   []string
	configs  map[string]exchange.QueueConfig
	bindings map[string][]string // queue -> patterns in MQTT form, sorted
	msgs     map[string][]recMsg // queue -> messages in the order recovered
	retained map[string]*message.Message
	states   map[string]string
	failAt   int // return errFail on this event (1-based); 0 never
}

type recMsg struct {
	seq   uint64
	count int
	m     *message.Message
}

var errFail = errors.New("storetest: recovery refused")

func newState() *state {
	return &state{
		configs:  map[string]exchange.QueueConfig{},
		bindings: map[string][]string{},
		msgs:     map[string][]recMsg{},
		retained: map[string]*message.Message{},
		states:   map[string]string{},
	}
}

func (s *state) event(kind string) error {
	s.events = append(s.events, kind)
	if len(s.events) == s.failAt {
		return errFail
	}
	return nil
}

func (s *state) Queue(name string, cfg exchange.QueueConfig) error {
	s.queues = append(s.queues, name)
	s.configs[name] = cfg
	return s.event("queue")
}

func (s *state) Binding(queue string, p address.Pattern) error {
	s.bindings[queue] = append(s.bindings[queue], p.MQTT())
	slices.Sort(s.bindings[queue])
	return s.event("binding")
}

func (s *state) Message(queue string, seq uint64, m *message.Message, count int) error {
	s.msgs[queue] = append(s.msgs[queue], recMsg{seq, count, m})
	return s.event("message")
}

func (s *state) Retained(m *message.Message) error {
	s.retained[m.Address.MQTT()] = m
	return s.event("retained")
}

func (s *state) State(key string, value []byte) error {
	s.states[key] = string(value)
	return s.event("state")
}

func (s *state) seqs(queue string) []uint64 {
	var out []uint64
	for _, m := range s.msgs[queue] {
		out = append(out, m.seq)
	}
	return out
}

func recoverAll(t *testing.T, st exchange.Store) *state {
	t.Helper()
	s := newState()
	if err := st.Recover(context.Background(), s); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return s
}

func commit(t *testing.T, st exchange.Store, ops ...exchange.Op) {
	t.Helper()
	if err := st.Commit(context.Background(), &exchange.Batch{Ops: ops}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func closeStore(t *testing.T, st exchange.Store) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func putQueue(name string, cfg exchange.QueueConfig) exchange.Op {
	return exchange.Op{Kind: exchange.OpPutQueue, Queue: name, QueueConfig: cfg}
}

func putBinding(queue, filter string) exchange.Op {
	return exchange.Op{Kind: exchange.OpPutBinding, Queue: queue, Pattern: address.MustParseFilter(filter)}
}

func putMsg(queue string, seq uint64, body string, count int) exchange.Op {
	return exchange.Op{Kind: exchange.OpPutMessage, Queue: queue, Seq: seq, Msg: msg(body), DeliveryCount: count}
}

func delMsg(queue string, seq uint64) exchange.Op {
	return exchange.Op{Kind: exchange.OpDeleteMessage, Queue: queue, Seq: seq}
}

func msg(body string) *message.Message {
	return &message.Message{
		ID:      "id-" + body,
		Address: address.MustParseMQTT("t/" + body),
		Body:    []byte(body),
		Durable: true,
	}
}

func testEmpty(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	s := recoverAll(t, st)
	if len(s.events) != 0 {
		t.Fatalf("a new store recovered %v", s.events)
	}
}

func testQueuesAndBindings(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	full := exchange.QueueConfig{
		Durable: true, AutoDelete: true, Owner: "mqtt/c1", MaxLength: 10, MaxBytes: 1 << 20,
		Overflow: exchange.RejectPublish, TTL: 90 * time.Second, MaxDeliveries: 3, DeadLetter: "dead",
	}
	commit(t, st, putQueue("a", exchange.QueueConfig{Durable: true}), putQueue("b", full))
	commit(t, st, putBinding("a", "x/+"), putBinding("a", "x/#"), putBinding("b", "$SYS/#"))
	commit(t, st, putBinding("a", "x/+")) // again: still one
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteBinding, Queue: "a", Pattern: address.MustParseFilter("x/#")})
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteBinding, Queue: "a", Pattern: address.MustParseFilter("nope")})
	// Segments are canonical: a "/" inside one is not a separator.
	odd := address.Pattern{"a/b", "+", ""}
	commit(t, st, exchange.Op{Kind: exchange.OpPutBinding, Queue: "b", Pattern: odd})

	s := recoverAll(t, st)
	if got := slices.Sorted(slices.Values(s.queues)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("queues %v", got)
	}
	if s.configs["b"] != full || s.configs["a"] != (exchange.QueueConfig{Durable: true}) {
		t.Fatalf("configs %+v", s.configs)
	}
	if got := s.bindings["a"]; !slices.Equal(got, []string{"x/+"}) {
		t.Fatalf("bindings of a: %q", got)
	}
	if got := s.bindings["b"]; !slices.Equal(got, []string{"$SYS/#", odd.MQTT()}) {
		t.Fatalf("bindings of b: %q", got)
	}
	// The pattern must come back segment for segment, not re-parsed.
	var segs []address.Pattern
	rec := &patternRecorder{state: newState(), out: &segs}
	if err := st.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(segs, odd.Equal) {
		t.Fatalf("pattern %q not recovered as segments: %q", []string(odd), segs)
	}

	// Declaring again replaces the configuration and keeps the bindings.
	commit(t, st, putQueue("a", exchange.QueueConfig{Durable: true, MaxLength: 5}))
	s = recoverAll(t, st)
	if s.configs["a"].MaxLength != 5 || !slices.Equal(s.bindings["a"], []string{"x/+"}) {
		t.Fatalf("after redeclare: %+v, %q", s.configs["a"], s.bindings["a"])
	}
}

type patternRecorder struct {
	*state
	out *[]address.Pattern
}

func (r *patternRecorder) Binding(queue string, p address.Pattern) error {
	*r.out = append(*r.out, p)
	return r.state.Binding(queue, p)
}

func testMessagesInOrder(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}), putQueue("r", exchange.QueueConfig{Durable: true}))
	commit(t, st, putMsg("q", 5, "five", 0))
	commit(t, st, putMsg("q", 2, "two", 0), putMsg("r", 3, "three", 0))
	commit(t, st, putMsg("q", 300, "big", 0), putMsg("q", 9, "nine", 0))
	commit(t, st, putMsg("q", 1<<40, "huge", 0)) // sequence order is numeric, not lexical
	s := recoverAll(t, st)
	if got, want := s.seqs("q"), []uint64{2, 5, 9, 300, 1 << 40}; !slices.Equal(got, want) {
		t.Fatalf("q recovered %v, want %v", got, want)
	}
	if got := s.seqs("r"); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("r recovered %v", got)
	}
	for _, m := range s.msgs["q"] {
		if string(m.m.Body) == "" || m.m.ID != "id-"+string(m.m.Body) {
			t.Fatalf("message %d came back as %+v", m.seq, m.m)
		}
	}
}

func testCountAndDelete(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}))
	commit(t, st, putMsg("q", 1, "a", 0), putMsg("q", 2, "b", 4), putMsg("q", 3, "c", 0))
	commit(t, st, exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: 1, DeliveryCount: 2})
	commit(t, st, exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: 1, DeliveryCount: 3})
	commit(t, st, delMsg("q", 3))
	// Changes to what is not there are not errors: settlements may race a
	// queue deletion.
	commit(t, st, delMsg("q", 3), delMsg("q", 77),
		exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: 77, DeliveryCount: 1})
	s := recoverAll(t, st)
	if got := s.seqs("q"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("recovered %v", got)
	}
	if c0, c1 := s.msgs["q"][0].count, s.msgs["q"][1].count; c0 != 3 || c1 != 4 {
		t.Fatalf("counts %d %d, want 3 4", c0, c1)
	}
}

// fullMessage sets every field a store must keep.
func fullMessage() *message.Message {
	m := &message.Message{
		ID:              "01J-full",
		Address:         address.Address{"devices", "a/b", "", "$x"},
		Body:            []byte{0, 1, 2, 0xff},
		ContentType:     "application/json",
		ContentEncoding: "gzip",
		CorrelationID:   []byte{9, 8},
		ReplyTo:         "/queue/replies",
		Subject:         "subject",
		UserID:          "alice",
		GroupID:         "g1",
		CreatedAt:       time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
		Durable:         true,
		Priority:        7,
		Expires:         time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		FirstAcquirer:   true,
	}
	m.Headers.Add("s", message.String("v"))
	m.Headers.Add("s", message.String("again")) // repeated keys keep order
	m.Headers.Add("i", message.Int(-42))
	m.Headers.Add("f", message.Float(2.5))
	m.Headers.Add("b", message.Bool(true))
	m.Headers.Add("raw", message.Bytes([]byte{1, 2}))
	m.Headers.Add("t", message.Time(time.UnixMilli(1_700_000_000_123)))
	m.Headers.Add("u", message.UUID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}))
	m.Headers.Add("n", message.Null())
	m.Annotations = message.Annotations{
		Origin:           message.Origin{Protocol: message.ProtocolAMQP, ClientID: "c", ConnID: "k", User: "alice"},
		Retain:           true,
		RetainedDelivery: false,
		QoS:              1,
		Trace:            "00-abc-def-01",
		DeadLetter: &message.DeadLetter{
			Reason: "rejected", Queue: "q", Address: "devices/x", DeliveryCount: 2, Detail: "bad",
			Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		},
	}
	m.Annotations.Native.Add("amqp.section", message.String("value"))
	return m
}

func testMessageFidelity(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	m := fullMessage()
	want := m.Clone()
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}),
		exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: 1, Msg: m})
	m.Body[0] = 0x55 // the store must have taken its own copy
	s := recoverAll(t, st)
	if len(s.msgs["q"]) != 1 {
		t.Fatalf("recovered %d messages", len(s.msgs["q"]))
	}
	if diff := Diff(want, s.msgs["q"][0].m); diff != "" {
		t.Fatalf("message changed in the store: %s", diff)
	}
	// And a message with nothing set but an address.
	bare := &message.Message{Address: address.Address{"x"}}
	commit(t, st, exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: 2, Msg: bare})
	s = recoverAll(t, st)
	if diff := Diff(bare, s.msgs["q"][1].m); diff != "" {
		t.Fatalf("bare message changed: %s", diff)
	}
}

func testDeleteQueue(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}), putQueue("keep", exchange.QueueConfig{Durable: true}),
		putBinding("q", "a/#"), putBinding("keep", "k"),
		putMsg("q", 1, "a", 0), putMsg("keep", 2, "k", 0))
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "q"})
	s := recoverAll(t, st)
	if !slices.Equal(s.queues, []string{"keep"}) || len(s.bindings["q"]) != 0 || len(s.msgs["q"]) != 0 {
		t.Fatalf("after delete: queues %v, bindings %v, messages %v", s.queues, s.bindings, s.seqs("q"))
	}
	if !slices.Equal(s.seqs("keep"), []uint64{2}) || !slices.Equal(s.bindings["keep"], []string{"k"}) {
		t.Fatalf("the other queue lost state: %v %v", s.seqs("keep"), s.bindings["keep"])
	}
	// Declared again, the queue starts empty.
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}))
	s = recoverAll(t, st)
	if len(s.bindings["q"]) != 0 || len(s.msgs["q"]) != 0 {
		t.Fatalf("redeclared queue not empty: %v %v", s.bindings["q"], s.seqs("q"))
	}
	// Deleting a queue that does not exist is not an error.
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "never"})
}

func testUnknownQueue(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	// A Publish or Settle racing a DeleteQueue may write for a queue that
	// is gone; the store must neither fail nor bring it back.
	commit(t, st, putMsg("gone", 1, "x", 0), putBinding("gone", "a"), delMsg("gone", 1),
		exchange.Op{Kind: exchange.OpSetCount, Queue: "gone", Seq: 1, DeliveryCount: 1})
	s := recoverAll(t, st)
	if len(s.events) != 0 {
		t.Fatalf("recovered %v for a queue never declared", s.events)
	}
}

func testRetained(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	put := func(topic, body string) exchange.Op {
		m := msg(body)
		m.Address = address.MustParseMQTT(topic)
		return exchange.Op{Kind: exchange.OpPutRetained, Msg: m, Address: m.Address}
	}
	del := func(topic string) exchange.Op {
		return exchange.Op{Kind: exchange.OpDeleteRetained, Address: address.MustParseMQTT(topic)}
	}
	commit(t, st, put("a/b", "1"), put("a/c", "2"), put("$SYS/x", "3"), put("a", "4"))
	commit(t, st, put("a/b", "5")) // replaces
	commit(t, st, del("a/c"), del("never/there"))
	// Addresses are segment lists: ["a/b"] is not ["a","b"].
	one := msg("6")
	one.Address = address.Address{"a/b"}
	commit(t, st, exchange.Op{Kind: exchange.OpPutRetained, Msg: one, Address: one.Address})
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteRetained, Address: address.Address{"a", "b", "c"}})

	var got []*message.Message
	rec := &retainedRecorder{state: newState(), out: &got}
	if err := st.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for _, m := range got {
		bodies[strings.Join(m.Address, "|")] = string(m.Body)
	}
	want := map[string]string{"a|b": "5", "$SYS|x": "3", "a": "4", "a/b": "6"}
	if !reflect.DeepEqual(bodies, want) {
		t.Fatalf("retained %v, want %v", bodies, want)
	}
}

type retainedRecorder struct {
	*state
	out *[]*message.Message
}

func (r *retainedRecorder) Retained(m *message.Message) error {
	*r.out = append(*r.out, m)
	return r.state.Retained(m)
}

func testBatchOrder(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	commit(t, st,
		putQueue("q", exchange.QueueConfig{Durable: true}),
		putMsg("q", 1, "a", 0), delMsg("q", 1), putMsg("q", 2, "b", 0),
		exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "q"},
		putQueue("q", exchange.QueueConfig{Durable: true, MaxLength: 7}),
		putMsg("q", 3, "c", 0),
	)
	s := recoverAll(t, st)
	if !slices.Equal(s.seqs("q"), []uint64{3}) || s.configs["q"].MaxLength != 7 {
		t.Fatalf("recovered %v %+v, want [3] and the second config", s.seqs("q"), s.configs["q"])
	}
}

func testReopen(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true, TTL: time.Minute}), putBinding("q", "a/+"),
		putMsg("q", 1, "a", 0), putMsg("q", 2, "b", 1), putMsg("q", 3, "c", 0))
	commit(t, st, delMsg("q", 2), exchange.Op{Kind: exchange.OpSetCount, Queue: "q", Seq: 3, DeliveryCount: 5})
	m := fullMessage()
	commit(t, st, exchange.Op{Kind: exchange.OpPutRetained, Msg: m, Address: m.Address})
	closeStore(t, st)

	st = open(t)
	defer closeStore(t, st)
	var got []*message.Message
	rec := &retainedRecorder{state: newState(), out: &got}
	if err := st.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	s := rec.state
	if !slices.Equal(s.queues, []string{"q"}) || s.configs["q"].TTL != time.Minute ||
		!slices.Equal(s.bindings["q"], []string{"a/+"}) || !slices.Equal(s.seqs("q"), []uint64{1, 3}) ||
		s.msgs["q"][1].count != 5 || len(got) != 1 {
		t.Fatalf("after reopen: queues %v %+v bindings %v messages %v retained %d",
			s.queues, s.configs, s.bindings, s.seqs("q"), len(got))
	}
	if diff := Diff(m, got[0]); diff != "" {
		t.Fatalf("retained message changed: %s", diff)
	}
	// The reopened store keeps working.
	commit(t, st, delMsg("q", 1))
	if s := recoverAll(t, st); !slices.Equal(s.seqs("q"), []uint64{3}) {
		t.Fatalf("after a commit on the reopened store: %v", s.seqs("q"))
	}
}

func testRecoveryOrder(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	r := msg("r")
	// Committed in an order opposite to the one Recover must use.
	commit(t, st, exchange.Op{Kind: exchange.OpPutRetained, Msg: r, Address: r.Address})
	commit(t, st, putQueue("b", exchange.QueueConfig{Durable: true}))
	commit(t, st, putMsg("b", 1, "x", 0), putBinding("b", "x"))
	commit(t, st, putQueue("a", exchange.QueueConfig{Durable: true}), putBinding("a", "y"), putMsg("a", 2, "y", 0))
	s := recoverAll(t, st)
	rank := map[string]int{"queue": 0, "binding": 1, "message": 2, "retained": 3}
	for i := 1; i < len(s.events); i++ {
		if rank[s.events[i]] < rank[s.events[i-1]] {
			t.Fatalf("recovery order %v: queues, then bindings, then messages, then retained", s.events)
		}
	}
	if len(s.events) != 7 {
		t.Fatalf("recovered %v", s.events)
	}
}

func testRecoveryError(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}), putMsg("q", 1, "a", 0), putMsg("q", 2, "b", 0))
	for fail := 1; fail <= 3; fail++ {
		s := newState()
		s.failAt = fail
		err := st.Recover(context.Background(), s)
		if !errors.Is(err, errFail) {
			t.Fatalf("Recover with the recovery failing at event %d returned %v, want it wrapped", fail, err)
		}
		if len(s.events) != fail {
			t.Fatalf("Recover went on after an error: %v", s.events)
		}
	}
}

func testConcurrentCommits(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}))
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seq := uint64(w*each + i + 1)
				b := &exchange.Batch{Ops: []exchange.Op{putMsg("q", seq, fmt.Sprint(seq), 0)}}
				if err := st.Commit(context.Background(), b); err != nil {
					errs <- err
					return
				}
				if i%2 == 1 { // delete every other one again
					b := &exchange.Batch{Ops: []exchange.Op{delMsg("q", seq)}}
					if err := st.Commit(context.Background(), b); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := recoverAll(t, st)
	var want []uint64
	for seq := uint64(1); seq <= workers*each; seq++ {
		if (seq-1)%each%2 == 0 {
			want = append(want, seq)
		}
	}
	if got := s.seqs("q"); !slices.Equal(got, want) {
		t.Fatalf("recovered %d messages, want %d", len(got), len(want))
	}
}

// Diff describes how got differs from want, field by field, or returns ""
// when a store kept the message. Times compare with Equal (a store may
// drop the monotonic reading and the location), and an empty slice equals
// a nil one.
func Diff(want, got *message.Message) string {
	if want == nil || got == nil {
		if want == got {
			return ""
		}
		return fmt.Sprintf("want %v, got %v", want, got)
	}
	var d []string
	cmp := func(name string, ok bool, w, g any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s: want %v, got %v", name, w, g))
		}
	}
	cmp("ID", want.ID == got.ID, want.ID, got.ID)
	cmp("Address", want.Address.Equal(got.Address), []string(want.Address), []string(got.Address))
	cmp("Body", bytes.Equal(want.Body, got.Body), want.Body, got.Body)
	cmp("ContentType", want.ContentType == got.ContentType, want.ContentType, got.ContentType)
	cmp("ContentEncoding", want.ContentEncoding == got.ContentEncoding, want.ContentEncoding, got.ContentEncoding)
	cmp("CorrelationID", bytes.Equal(want.CorrelationID, got.CorrelationID), want.CorrelationID, got.CorrelationID)
	cmp("ReplyTo", want.ReplyTo == got.ReplyTo, want.ReplyTo, got.ReplyTo)
	cmp("Subject", want.Subject == got.Subject, want.Subject, got.Subject)
	cmp("UserID", want.UserID == got.UserID, want.UserID, got.UserID)
	cmp("GroupID", want.GroupID == got.GroupID, want.GroupID, got.GroupID)
	cmp("CreatedAt", want.CreatedAt.Equal(got.CreatedAt), want.CreatedAt, got.CreatedAt)
	cmp("Headers", headersEqual(want.Headers, got.Headers), want.Headers, got.Headers)
	cmp("Durable", want.Durable == got.Durable, want.Durable, got.Durable)
	cmp("Priority", want.Priority == got.Priority, want.Priority, got.Priority)
	cmp("Expires", want.Expires.Equal(got.Expires), want.Expires, got.Expires)
	cmp("FirstAcquirer", want.FirstAcquirer == got.FirstAcquirer, want.FirstAcquirer, got.FirstAcquirer)
	wa, ga := want.Annotations, got.Annotations
	cmp("Origin", wa.Origin == ga.Origin, wa.Origin, ga.Origin)
	cmp("Retain", wa.Retain == ga.Retain, wa.Retain, ga.Retain)
	cmp("RetainedDelivery", wa.RetainedDelivery == ga.RetainedDelivery, wa.RetainedDelivery, ga.RetainedDelivery)
	cmp("QoS", wa.QoS == ga.QoS, wa.QoS, ga.QoS)
	cmp("Trace", wa.Trace == ga.Trace, wa.Trace, ga.Trace)
	cmp("Native", headersEqual(wa.Native, ga.Native), wa.Native, ga.Native)
	switch {
	case wa.DeadLetter == nil || ga.DeadLetter == nil:
		cmp("DeadLetter", wa.DeadLetter == ga.DeadLetter, wa.DeadLetter, ga.DeadLetter)
	default:
		w, g := *wa.DeadLetter, *ga.DeadLetter
		cmp("DeadLetter.Time", w.Time.Equal(g.Time), w.Time, g.Time)
		w.Time, g.Time = time.Time{}, time.Time{}
		cmp("DeadLetter", w == g, w, g)
	}
	return strings.Join(d, "; ")
}

func headersEqual(a, b message.Headers) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !a[i].Value.Equal(b[i].Value) {
			return false
		}
	}
	return true
}

// testStateRecords checks front-end state records: put, overwrite,
// delete, an empty value, keys that share a prefix, their place after
// retained messages in recovery, and that they survive a reopen.
func testStateRecords(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	put := func(k, v string) exchange.Op { return exchange.Op{Kind: exchange.OpPutState, Key: k, Value: []byte(v)} }
	commit(t, st, put("mqtt/session/a", "one"), put("mqtt/session/ab", "two"), put("mqtt/session/c", "three"))
	commit(t, st, put("mqtt/session/a", "uno"), exchange.Op{Kind: exchange.OpDeleteState, Key: "mqtt/session/c"},
		put("empty", ""), exchange.Op{Kind: exchange.OpDeleteState, Key: "never-there"})
	m := fullMessage()
	commit(t, st, exchange.Op{Kind: exchange.OpPutRetained, Msg: m, Address: m.Address})
	if err := st.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{{Kind: exchange.OpPutState}}}); err == nil {
		t.Fatal("a state record without a key was committed")
	}
	want := map[string]string{"mqtt/session/a": "uno", "mqtt/session/ab": "two", "empty": ""}
	check := func(s *state) {
		t.Helper()
		if len(s.states) != len(want) {
			t.Fatalf("states %q, want %q", s.states, want)
		}
		for k, v := range want {
			if got, ok := s.states[k]; !ok || got != v {
				t.Fatalf("states %q, want %q", s.states, want)
			}
		}
		if i := slices.Index(s.events, "state"); i < slices.Index(s.events, "retained") {
			t.Fatalf("states recovered before retained messages: %v", s.events)
		}
	}
	check(recoverAll(t, st))
	closeStore(t, st)
	st = open(t)
	defer closeStore(t, st)
	check(recoverAll(t, st))
}

// testLoad checks exchange.Loader, for paging: a persisted message reads
// back whole; a deleted message, an unknown queue and a deleted queue's
// message are errors; a queue declared again does not see the old
// incarnation's messages. A store that does not page skips it.
func testLoad(t *testing.T, open func(t *testing.T) exchange.Store) {
	st := open(t)
	defer closeStore(t, st)
	l, ok := st.(exchange.Loader)
	if !ok {
		t.Skip("the store does not implement exchange.Loader")
	}
	ctx := context.Background()
	m := fullMessage()
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}),
		exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: 7, Msg: m}, putMsg("q", 8, "eight", 0))
	got, err := l.Load(ctx, "q", 7)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := Diff(m, got); diff != "" {
		t.Fatalf("loaded message differs: %s", diff)
	}
	commit(t, st, delMsg("q", 8))
	if _, err := l.Load(ctx, "q", 8); err == nil {
		t.Fatal("a deleted message loaded")
	}
	if _, err := l.Load(ctx, "nope", 7); err == nil {
		t.Fatal("a message of an unknown queue loaded")
	}
	commit(t, st, exchange.Op{Kind: exchange.OpDeleteQueue, Queue: "q"})
	if _, err := l.Load(ctx, "q", 7); err == nil {
		t.Fatal("a deleted queue's message loaded")
	}
	commit(t, st, putQueue("q", exchange.QueueConfig{Durable: true}))
	if _, err := l.Load(ctx, "q", 7); err == nil {
		t.Fatal("a queue declared again sees its old incarnation's message")
	}
}
