package bench

import (
	"errors"
	"math/bits"
	"sync"
)

// maxSeq bounds the sequence numbers a Tracker keeps a bit for (512 MiB of
// bits per publisher would be the worst case otherwise); a larger one is
// counted corrupt: no run sends 2^32 messages per publisher.
const maxSeq = 1 << 32

// Tracker counts what one delivery unit received from each publisher of
// one run: in fan-out mode a unit is one subscriber, which must get every
// message; in compete mode it is the group of subscribers of one --sub URL,
// which together must get every message once. It is safe for concurrent
// use by the unit's subscribers.
type Tracker struct {
	runID uint64

	mu      sync.Mutex
	pubs    map[uint32]*pubSeen // guarded by mu
	dups    int64               // guarded by mu
	corrupt int64               // guarded by mu
	foreign int64               // guarded by mu
}

// pubSeen is the set of sequence numbers received from one publisher.
type pubSeen struct {
	seen   []uint64
	unique int64
}

// NewTracker returns a tracker for the run runID.
func NewTracker(runID uint64) *Tracker {
	return &Tracker{runID: runID, pubs: make(map[uint32]*pubSeen)}
}

// Order is one subscriber's view for reorder counting: a message that
// arrives after a later one of the same publisher on the same subscriber
// is reordered. Each subscriber owns one; it is not safe for concurrent use.
type Order struct {
	next      map[uint32]uint64 // highest seq seen + 1, per publisher
	Reordered int64
}

// NewOrder returns an empty Order.
func NewOrder() *Order { return &Order{next: make(map[uint32]uint64)} }

// Verdict is what Receive made of one payload.
type Verdict uint8

// Verdicts.
const (
	Fresh     Verdict = iota // first copy of a message of this run
	Duplicate                // a copy of a message this unit already had
	Corrupt                  // a bench payload damaged on the way
	Foreign                  // not a bench payload, or one of another run
)

// Receive decodes payload, counts it and returns the verdict and header;
// o, when not nil, counts reordering.
func (t *Tracker) Receive(payload []byte, o *Order) (Verdict, Header) {
	h, err := DecodePayload(payload)
	switch {
	case errors.Is(err, ErrNotBench) || (err == nil && h.RunID != t.runID):
		t.mu.Lock()
		t.foreign++
		t.mu.Unlock()
		return Foreign, h
	case err != nil || h.Seq >= maxSeq:
		t.mu.Lock()
		t.corrupt++
		t.mu.Unlock()
		return Corrupt, h
	}
	t.mu.Lock()
	p := t.pubs[h.Publisher]
	if p == nil {
		p = &pubSeen{}
		t.pubs[h.Publisher] = p
	}
	w, bit := h.Seq/64, uint64(1)<<(h.Seq%64)
	if w >= uint64(len(p.seen)) {
		nb := make([]uint64, max(w+1, 2*uint64(len(p.seen)), 1024))
		copy(nb, p.seen)
		p.seen = nb
	}
	dup := p.seen[w]&bit != 0
	if dup {
		t.dups++
	} else {
		p.seen[w] |= bit
		p.unique++
	}
	t.mu.Unlock()
	if dup {
		return Duplicate, h
	}
	if o != nil {
		if n := o.next[h.Publisher]; h.Seq+1 < n {
			o.Reordered++
		} else {
			o.next[h.Publisher] = h.Seq + 1
		}
	}
	return Fresh, h
}

// Counts is a Tracker's result against what was sent.
type Counts struct {
	Unique     int64 // distinct messages of this run received
	Lost       int64 // sent but never received
	Duplicated int64 // received more than once (each extra copy counts)
	Corrupt    int64
	Foreign    int64
	Unexpected int64 // distinct messages beyond what the publisher says it sent
}

// Result compares what t received with sent, the number of messages each
// publisher sent (publisher i sent sequence numbers 0..sent[i]-1).
func (t *Tracker) Result(sent []int64) Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Duplicated: t.dups, Corrupt: t.corrupt, Foreign: t.foreign}
	for id, p := range t.pubs {
		c.Unique += p.unique
		if int(id) >= len(sent) {
			c.Unexpected += p.unique
		}
	}
	for id, n := range sent {
		p := t.pubs[uint32(id)]
		var got int64
		if p != nil {
			// Count the bits below n: those are the messages that count
			// against n; any above it are unexpected.
			full := n / 64
			for w := int64(0); w < full && w < int64(len(p.seen)); w++ {
				got += int64(bits.OnesCount64(p.seen[w]))
			}
			if rem := n % 64; rem != 0 && full < int64(len(p.seen)) {
				got += int64(bits.OnesCount64(p.seen[full] & (1<<rem - 1)))
			}
			c.Unexpected += p.unique - got
		}
		c.Lost += n - got
	}
	return c
}
