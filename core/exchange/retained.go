package exchange

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/core/trie"
)

// retainedStore keeps the last retained message per address, indexed so
// that a subscription pattern finds its matches without a scan.
type retainedStore struct {
	// commitMu serializes updates that may write to the store, across the
	// commit, so that the store ends with the value memory has.
	commitMu sync.Mutex
	mu       sync.RWMutex // guards idx
	idx      trie.Index[retainedMsg]
}

type retainedMsg struct {
	m         *message.Message
	persisted bool // the store holds it
}

func (rs *retainedStore) len() int {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.idx.Len()
}

// retain makes m the retained value of its address, or clears it when the
// body is empty (MQTT-3.3.1-10). A durable value is committed first; a
// non-durable one that replaces a persisted value deletes it from the store,
// or a restart would bring the old value back.
func (x *Exchange) retain(ctx context.Context, m *message.Message) error {
	rs := &x.retained
	clear := len(m.Body) == 0
	rs.commitMu.Lock()
	defer rs.commitMu.Unlock()
	if x.store != nil {
		rs.mu.RLock()
		old, had := rs.idx.Get(m.Address)
		rs.mu.RUnlock()
		var b Batch
		switch {
		case !clear && m.Durable:
			b.Ops = []Op{{Kind: OpPutRetained, Msg: m, Address: m.Address}}
		case had && old.persisted:
			b.Ops = []Op{{Kind: OpDeleteRetained, Address: m.Address}}
		}
		if err := x.commit(ctx, &b); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	rs.mu.Lock()
	if clear {
		rs.idx.Delete(m.Address)
	} else {
		rs.idx.Set(m.Address, retainedMsg{m: m, persisted: m.Durable && x.store != nil})
	}
	rs.mu.Unlock()
	return nil
}

// Retained returns the retained messages whose address matches p, in no
// particular order. Expired ones are left out. Each is a shallow copy of
// the retained message with Annotations.RetainedDelivery set, ready to
// Enqueue for a new subscription; it shares Body and Headers with the
// retained value, so treat it as immutable like any published message.
func (x *Exchange) Retained(p address.Pattern) []*message.Message {
	now := x.now()
	var out []*message.Message
	rs := &x.retained
	rs.mu.RLock()
	rs.idx.Match(p, func(_ address.Address, r retainedMsg) bool {
		if !r.m.Expired(now) {
			c := *r.m
			c.Annotations.RetainedDelivery = true
			out = append(out, &c)
		}
		return true
	})
	rs.mu.RUnlock()
	return out
}

// sweepRetained removes expired retained messages.
func (x *Exchange) sweepRetained(now int64) {
	rs := &x.retained
	t := time.Unix(0, now)
	var expired []address.Address
	rs.mu.RLock()
	rs.idx.Walk(func(a address.Address, r retainedMsg) bool {
		if r.m.Expired(t) {
			expired = append(expired, a.Clone())
		}
		return true
	})
	rs.mu.RUnlock()
	if len(expired) == 0 {
		return
	}
	rs.commitMu.Lock()
	defer rs.commitMu.Unlock()
	var ops []Op
	rs.mu.Lock()
	for _, a := range expired {
		// Check again: a new value may have replaced it since the walk.
		if r, ok := rs.idx.Get(a); ok && r.m.Expired(t) {
			rs.idx.Delete(a)
			if r.persisted {
				ops = append(ops, Op{Kind: OpDeleteRetained, Address: a})
			}
		}
	}
	rs.mu.Unlock()
	if x.gate.enter() {
		x.commitBackground(&Batch{Ops: ops}, "expire retained")
		x.gate.leave()
	}
}
