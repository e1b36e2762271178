package exchange

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Front-end state records.
//
// A front-end keeps some state of its own that must survive a restart
// beside the exchange's: MQTT sessions (subscription options, expiry) are
// the case in point. It goes through the exchange's store, so that one
// store (one badger DB) holds everything and a record commits with the
// same group commit and sync policy as messages. The exchange neither reads
// nor interprets the values: keys are namespaced by the front-end
// ("mqtt/session/<client-id>").

// stateTable is the current value of every state record, recovered from
// the store on start and kept up to date by SaveState and DeleteState, so
// that a front-end can look records up without reading the store.
type stateTable struct {
	mu sync.Mutex
	m  map[string][]byte
}

// SaveState stores value under key: in memory at once, and in the store
// (when there is one) before it returns. Saves of one key must not run
// concurrently: the store could apply them in another order.
func (x *Exchange) SaveState(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return fmt.Errorf("save state: %w: empty key", ErrInvalid)
	}
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	v := slices.Clone(value)
	x.states.mu.Lock()
	x.states.m[key] = v
	x.states.mu.Unlock()
	if err := x.commit(ctx, &Batch{Ops: []Op{{Kind: OpPutState, Key: key, Value: v}}}); err != nil {
		return fmt.Errorf("save state %q: %w", key, err)
	}
	return nil
}

// DeleteState removes the record under key; a missing key is not an error.
func (x *Exchange) DeleteState(ctx context.Context, key string) error {
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	x.states.mu.Lock()
	_, ok := x.states.m[key]
	delete(x.states.m, key)
	x.states.mu.Unlock()
	if !ok {
		return nil
	}
	if err := x.commit(ctx, &Batch{Ops: []Op{{Kind: OpDeleteState, Key: key}}}); err != nil {
		return fmt.Errorf("delete state %q: %w", key, err)
	}
	return nil
}

// State returns the record under key. The value must not be changed.
func (x *Exchange) State(key string) ([]byte, bool) {
	x.states.mu.Lock()
	defer x.states.mu.Unlock()
	v, ok := x.states.m[key]
	return v, ok
}

// States returns the keys of every record whose key starts with prefix,
// sorted.
func (x *Exchange) States(prefix string) []string {
	x.states.mu.Lock()
	defer x.states.mu.Unlock()
	keys := slices.Collect(maps.Keys(x.states.m))
	keys = slices.DeleteFunc(keys, func(k string) bool { return !strings.HasPrefix(k, prefix) })
	slices.Sort(keys)
	return keys
}
