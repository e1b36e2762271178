package exchange

import (
	"time"
)

// sweeper removes expired messages every ExpiryInterval until Close. The
// dispatch loop also skips expired messages, so the sweep only bounds how
// long an expired message occupies memory and limits.
func (x *Exchange) sweeper() {
	defer close(x.sweeperDone)
	t := time.NewTicker(x.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-t.C:
			x.sweep()
		}
	}
}

// sweep removes every expired ready message and retained message and
// returns how many queue messages expired.
func (x *Exchange) sweep() int {
	now := x.now().UnixNano()
	x.mu.RLock()
	qs := make([]*queue, 0, len(x.queues))
	for _, q := range x.queues {
		qs = append(qs, q)
	}
	x.mu.RUnlock()
	total := 0
	for _, q := range qs {
		var gone chain
		q.mu.Lock()
		if q.expiring > 0 {
			for p := range q.lanes {
				for e := q.lanes[p].head; e != nil; {
					next := e.next
					if e.expiredAt(now) {
						q.removeReady(e)
						q.bytes -= e.size
						gone.push(e)
					}
					e = next
				}
			}
		}
		q.mu.Unlock()
		total += gone.n
		q.finishExpired(&gone)
	}
	x.sweepRetained(now)
	return total
}

// finishExpired counts the expired entries in gone, which are out of the
// queue already, and drops or dead-letters them (Config.DeadLetterExpired).
// Called without q.mu.
func (q *queue) finishExpired(gone *chain) {
	if gone.n == 0 {
		return
	}
	x := q.x
	q.expired.Add(uint64(gone.n))
	x.expired.Add(uint64(gone.n))
	persist := x.store != nil && x.gate.enter()
	if persist {
		defer x.gate.leave()
	}
	toDLQ := x.cfg.DeadLetterExpired && q.deadLetter != ""
	var ops []Op
	for e := gone.head; e != nil; {
		next := e.next
		e.next = nil
		if toDLQ {
			if err := x.deadLetter(q, e, "expired", "", e.count, persist); err != nil {
				x.log.Error("dead-letter of an expired message failed", "queue", q.name, "seq", e.seq, "err", err)
			}
		} else {
			q.dropped.Add(1)
			x.drop(dropExpired, 1)
			if e.persisted && persist {
				ops = append(ops, Op{Kind: OpDeleteMessage, Queue: q.name, Seq: e.seq})
			}
		}
		e = next
	}
	*gone = chain{}
	if persist {
		x.commitBackground(&Batch{Ops: ops}, "expire")
	}
}
