package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
	"github.com/rosettamq/rosetta/transform/plugin/wire"
)

// Step is a transform.Step served by a plugin with one set of options.
//
// A call to the plugin costs a round trip (about 150 µs) whatever its size,
// so Step coalesces: concurrent Apply calls queue, and one goroutine per
// step (run) gathers what has queued into one Transform call of up to
// MaxBatch messages and MaxBatchBytes, taking a slot of the plugin's
// MaxInFlight first, so that while all slots are busy the next batch
// grows (group commit). Each caller gets back exactly its own results.
type Step struct {
	p       *Plugin
	options []byte
	reqs    chan *call // queued Apply chunks, bounded: a full queue blocks Apply
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when run returns
}

var (
	_ transform.Step   = (*Step)(nil)
	_ transform.Closer = (*Step)(nil)
)

// call is one chunk of one Apply: at most MaxBatch messages, filled in by
// the goroutine that sends the batch holding it.
type call struct {
	ctx  context.Context // the caller's: a chunk whose caller left is not sent
	msgs []*message.Message
	res  []transform.Result // len(msgs); written before done is signalled
	size int                // message.Size sum
	enq  time.Time          // when queued; only read when BatchWait > 0
	done chan<- struct{}    // one send per chunk; buffered for every chunk of the Apply
}

func newStep(p *Plugin, options []byte) *Step {
	s := &Step{p: p, options: options, reqs: make(chan *call, p.cfg.MaxBatch), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(p.ctx)
	return s
}

// Apply sends the batch to the plugin, merged with other callers' messages,
// and returns one result per message. When the call as a whole fails
// (plugin crashed, hung past CallTimeout, answered garbage, or is down)
// every message gets an error result wrapping ErrCallFailed, ErrTimeout,
// ErrBadResponse or ErrUnavailable; when ctx ends first, every message gets
// ctx's error. A batch larger than MaxBatch goes in several calls.
func (s *Step) Apply(ctx context.Context, batch []*message.Message) []transform.Result {
	if len(batch) == 0 {
		return nil
	}
	cfg := s.p.cfg
	res := make([]transform.Result, len(batch))
	var calls []*call
	for i := 0; i < len(batch); {
		c := &call{ctx: ctx}
		j := i
		for j < len(batch) && j-i < cfg.MaxBatch {
			sz := batch[j].Size()
			if j > i && c.size+sz > cfg.MaxBatchBytes {
				break
			}
			c.size += sz
			j++
		}
		c.msgs, c.res = batch[i:j], res[i:j]
		calls = append(calls, c)
		i = j
	}
	done := make(chan struct{}, len(calls))
	var now time.Time
	if cfg.BatchWait > 0 {
		now = time.Now()
	}
	for _, c := range calls {
		c.done, c.enq = done, now
		select {
		case s.reqs <- c:
		case <-ctx.Done():
			return errResults(len(batch), ctx.Err())
		case <-s.ctx.Done():
			return errResults(len(batch), fmt.Errorf("plugin %s: %w", s.p.name, ErrClosed))
		}
	}
	for range calls {
		select {
		case <-done:
		case <-ctx.Done():
			// The batch may still be in flight and write into res: hand
			// back a fresh slice.
			return errResults(len(batch), ctx.Err())
		case <-s.ctx.Done():
			return errResults(len(batch), fmt.Errorf("plugin %s: %w", s.p.name, ErrClosed))
		}
	}
	return res
}

func errResults(n int, err error) []transform.Result {
	out := make([]transform.Result, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// Close stops the step: queued messages get ErrClosed results, and later
// Apply calls too. The plugin keeps running for its other steps.
func (s *Step) Close(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("plugin %s: close step: %w", s.p.name, ctx.Err())
	}
}

// run gathers queued calls into batches until the step or plugin closes.
func (s *Step) run() {
	defer close(s.done)
	cfg := s.p.cfg
	var carry *call // taken from the queue but did not fit the last batch
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.reqs:
			case <-s.ctx.Done():
				s.drain()
				return
			}
		}
		// Take a call slot first: while every slot is busy, more calls
		// queue and join this batch.
		select {
		case s.p.sem <- struct{}{}:
		case <-s.ctx.Done():
			s.fail([]*call{first}, fmt.Errorf("plugin %s: %w", s.p.name, ErrClosed))
			s.drain()
			return
		}
		batch := []*call{first}
		n, size := len(first.msgs), first.size
		var timer *time.Timer
		var expired <-chan time.Time
		if cfg.BatchWait > 0 {
			if d := cfg.BatchWait - time.Since(first.enq); d > 0 {
				timer = time.NewTimer(d)
				expired = timer.C
			}
		}
	gather:
		for n < cfg.MaxBatch {
			var c *call
			if expired == nil {
				select {
				case c = <-s.reqs:
				default:
					break gather
				}
			} else {
				select {
				case c = <-s.reqs:
				case <-expired:
					break gather
				case <-s.ctx.Done():
					break gather
				}
			}
			if n+len(c.msgs) > cfg.MaxBatch || size+c.size > cfg.MaxBatchBytes {
				carry = c
				break
			}
			batch = append(batch, c)
			n += len(c.msgs)
			size += c.size
		}
		if timer != nil {
			timer.Stop()
		}
		s.p.wg.Go(func() {
			defer func() { <-s.p.sem }()
			s.send(batch)
		})
	}
}

// drain fails every queued call after the step closed.
func (s *Step) drain() {
	err := fmt.Errorf("plugin %s: %w", s.p.name, ErrClosed)
	for {
		select {
		case c := <-s.reqs:
			s.fail([]*call{c}, err)
		default:
			return
		}
	}
}

func (s *Step) fail(calls []*call, err error) {
	for _, c := range calls {
		for i := range c.res {
			c.res[i] = transform.Result{Err: err}
		}
		c.done <- struct{}{}
	}
}

// send makes one Transform call for the batch and routes the results.
// Failure is all or nothing: unless the plugin answered with one decodable
// result per message, every message gets the same error, so no caller ever
// sees half a batch transformed.
func (s *Step) send(batch []*call) {
	p := s.p
	live := make([]*call, 0, len(batch))
	n := 0
	for _, c := range batch {
		if c.ctx.Err() != nil {
			c.done <- struct{}{} // the caller has left with its own errors
			continue
		}
		live = append(live, c)
		n += len(c.msgs)
	}
	if n == 0 {
		return
	}
	msgs := make([]*pluginpb.Message, 0, n)
	for _, c := range live {
		for _, m := range c.msgs {
			msgs = append(msgs, wire.ToProto(m))
		}
	}
	p.calls.Add(1)
	p.messages.Add(uint64(n))
	for {
		old := p.maxBatch.Load()
		if int64(n) <= old || p.maxBatch.CompareAndSwap(old, int64(n)) {
			break
		}
	}

	ctx, cancel := context.WithTimeout(s.ctx, p.cfg.CallTimeout)
	defer cancel()
	inst, err := p.current(ctx)
	if err != nil {
		s.callFailed(live, n, err)
		return
	}
	resp, err := inst.rpc.Transform(ctx, &pluginpb.TransformRequest{Options: s.options, Messages: msgs})
	if err != nil {
		switch {
		case s.ctx.Err() != nil:
			err = fmt.Errorf("plugin %s: %w", p.name, ErrClosed)
		case errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
			p.timedOut.Add(1)
			err = fmt.Errorf("plugin %s (pid %d): no answer within %v: %w", p.name, inst.pid, p.cfg.CallTimeout, ErrTimeout)
			if int(p.timeouts.Add(1)) >= p.cfg.HangRestarts {
				p.timeouts.Store(0)
				p.reportDown(inst, fmt.Sprintf("%d calls in a row timed out", p.cfg.HangRestarts))
			}
		default:
			if status.Code(err) == codes.Unavailable {
				// The plugin's local socket refuses or dropped the
				// connection: the process is dead or dying. Restart now
				// rather than fail every call until the exit is noticed;
				// later calls wait for the new process instead.
				p.reportDown(inst, "unreachable: "+status.Convert(err).Message())
			}
			err = fmt.Errorf("plugin %s (pid %d): %w: %w", p.name, inst.pid, ErrCallFailed, err)
		}
		s.callFailed(live, n, err)
		return
	}
	p.timeouts.Store(0)
	out, drops, msgErrs, err := s.decode(resp.GetResults(), live, n)
	if err != nil {
		p.garbage.Add(1)
		s.callFailed(live, n, fmt.Errorf("plugin %s (pid %d): %w: %w", p.name, inst.pid, ErrBadResponse, err))
		return
	}
	p.loop.Store(0) // it works: the next crash starts the backoff afresh
	p.drops.Add(uint64(drops))
	p.msgErrors.Add(uint64(msgErrs))
	k := 0
	for _, c := range live {
		k += copy(c.res, out[k:k+len(c.msgs)])
		c.done <- struct{}{}
	}
}

func (s *Step) callFailed(live []*call, n int, err error) {
	if errors.Is(err, ErrClosed) {
		s.fail(live, err) // shutting down: not the plugin's failure
		return
	}
	s.p.failed.Add(1)
	s.p.noteError(err)
	s.p.log.Warn("plugin call failed", "messages", n, "err", err)
	s.fail(live, err)
}

// decode turns the plugin's results into step results. A result the host
// cannot decode fails the whole call. The broker's facts about a message
// (ID, annotations but the protocol-native ones) are kept from the input:
// a plugin transforms content, it cannot forge where a message came from.
func (s *Step) decode(results []*pluginpb.Result, live []*call, n int) (out []transform.Result, drops, msgErrs int, err error) {
	if len(results) != n {
		return nil, 0, 0, fmt.Errorf("%d results for %d messages", len(results), n)
	}
	out = make([]transform.Result, n)
	i := 0
	for _, c := range live {
		for _, in := range c.msgs {
			switch o := results[i].GetOutcome().(type) {
			case *pluginpb.Result_Message:
				m, err := wire.FromProto(o.Message)
				if err != nil {
					return nil, 0, 0, fmt.Errorf("result %d: %w", i, err)
				}
				m.ID = in.ID
				native := m.Annotations.Native
				m.Annotations = in.Annotations
				if in.Annotations.DeadLetter != nil {
					dl := *in.Annotations.DeadLetter
					m.Annotations.DeadLetter = &dl
				}
				m.Annotations.Native = native
				out[i].Msg = m
			case *pluginpb.Result_Drop:
				drops++
			case *pluginpb.Result_Error:
				msgErrs++
				out[i].Err = &MessageError{Plugin: s.p.name, Reason: o.Error}
			default:
				return nil, 0, 0, fmt.Errorf("result %d has no outcome", i)
			}
			i++
		}
	}
	return out, drops, msgErrs, nil
}
