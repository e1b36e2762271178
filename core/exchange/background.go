package exchange

import (
	"context"
	"sync"
)

// maxBackground bounds the background commits handed to an AsyncStore and
// not yet answered; the next one waits for the oldest beyond it.
const maxBackground = 1024

// background tracks the commits that nobody waits for (auto-ack deletes,
// expiry), so that their failures are still logged without a goroutine
// per commit: each new one first collects the answers already in.
type background struct {
	mu      sync.Mutex
	waiting []bgCommit // oldest first; guarded by mu
}

type bgCommit struct {
	ch   <-chan error
	what string
	ops  int
}

// commit hands b to the store without waiting when it is an AsyncStore,
// and with Commit otherwise.
func (bg *background) commit(x *Exchange, b *Batch, what string) {
	as, ok := x.store.(AsyncStore)
	if !ok {
		if err := x.store.Commit(context.Background(), b); err != nil {
			x.log.Error("store commit failed", "op", what, "ops", len(b.Ops), "err", err)
		}
		return
	}
	ch := as.CommitAsync(context.Background(), b)
	bg.mu.Lock()
	defer bg.mu.Unlock()
	bg.waiting = append(bg.waiting, bgCommit{ch: ch, what: what, ops: len(b.Ops)})
	n := 0
scan:
	for _, c := range bg.waiting {
		var err error
		if len(bg.waiting)-n > maxBackground {
			err = <-c.ch
		} else {
			select {
			case err = <-c.ch:
			default:
				break scan // answers come in order: the rest are not in either
			}
		}
		if err != nil {
			x.log.Error("store commit failed", "op", c.what, "ops", c.ops, "err", err)
		}
		n++
	}
	k := copy(bg.waiting, bg.waiting[n:])
	clear(bg.waiting[k:])
	bg.waiting = bg.waiting[:k]
}
