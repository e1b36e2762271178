package amqp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// body returns an encoded message with a data body.
func body(t testing.TB, data string) []byte {
	t.Helper()
	m := amqpmsg.Message{Data: [][]byte{[]byte(data)}}
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadProtocolHeader(t *testing.T) {
	b := newBroker(t, nil)
	for _, tc := range []struct {
		name string
		in   []byte
		want frames.ProtocolHeader
	}{
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), frames.HeaderSASL},
		{"amqp 1.1", []byte{'A', 'M', 'Q', 'P', 0, 1, 1, 0}, frames.HeaderAMQP},
		{"amqp 0-9-1", []byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1}, frames.HeaderAMQP},
		{"tls", frames.HeaderTLS.Append(nil), frames.HeaderSASL},
		{"sasl 2.0", []byte{'A', 'M', 'Q', 'P', 3, 2, 0, 0}, frames.HeaderSASL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.raw(t)
			r.write(tc.in)
			if h := r.readHeader(); h != tc.want {
				t.Fatalf("answer %v, want %v", h, tc.want)
			}
			r.expectEOF()
		})
	}
}

func TestSASLRequired(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.Auth = allowAll{noAnonymous: true} })
	r := b.raw(t)
	r.write(frames.HeaderAMQP.Append(nil))
	if h := r.readHeader(); h != frames.HeaderSASL {
		t.Fatalf("answer %v, want the SASL header", h)
	}
	r.expectEOF()
}

// expectClose reads until a close and checks its condition, then EOF.
func expectClose(t *testing.T, r *rawConn, cond frames.ErrorCondition) {
	t.Helper()
	for {
		_, p, _ := r.next()
		if c, ok := p.(*frames.Close); ok {
			if c.Error == nil || c.Error.Condition != cond {
				t.Fatalf("close %+v, want %s", c.Error, cond)
			}
			r.send(0, &frames.Close{}, nil)
			r.expectEOF()
			return
		}
	}
}

func TestBadFrames(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.MaxFrameSize = 1024; c.MaxSessions = 4; c.MaxLinks = 4 })
	cases := []struct {
		name string
		do   func(r *rawConn)
		cond frames.ErrorCondition
	}{
		{"frame over max-frame-size", func(r *rawConn) {
			r.open(nil)
			r.send(0, &frames.Begin{IncomingWindow: 10, OutgoingWindow: 10,
				Properties: encoding.Map{{Key: encoding.Symbol("pad"), Value: string(make([]byte, 2000))}}}, nil)
		}, frames.ConnectionErrorFramingError},
		{"open over 512 bytes", func(r *rawConn) {
			r.write(frames.HeaderAMQP.Append(nil))
			r.send(0, &frames.Open{ContainerID: string(make([]byte, 600))}, nil)
			if h := r.readHeader(); h != frames.HeaderAMQP {
				t.Fatalf("header %v", h)
			}
			expect[*frames.Open](r, false)
		}, frames.ConnectionErrorFramingError},
		{"malformed frame header", func(r *rawConn) {
			r.open(nil)
			r.write([]byte{0, 0, 0, 8, 1, 0, 0, 0}) // DOFF 1
		}, frames.ConnectionErrorFramingError},
		{"unknown descriptor", func(r *rawConn) {
			r.open(nil)
			body := encoding.AppendDescriptor(nil, 0x99)
			body = append(body, encoding.CodeList0)
			f := append([]byte{0, 0, 0, 0, 2, 0, 0, 0}, body...)
			binary.BigEndian.PutUint32(f, uint32(len(f)))
			r.write(f)
		}, frames.AMQPErrorDecodeError},
		{"truncated performative", func(r *rawConn) {
			r.open(nil)
			f := []byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x11, 0xc0}
			r.write(f)
		}, frames.AMQPErrorDecodeError},
		{"attach without a session", func(r *rawConn) {
			r.open(nil)
			r.send(0, &frames.Attach{Name: "x", Role: frames.RoleSender, Target: &frames.Target{Address: "q"}}, nil)
		}, frames.AMQPErrorIllegalState},
		{"second open", func(r *rawConn) {
			r.open(nil)
			r.send(0, &frames.Open{ContainerID: "again"}, nil)
		}, frames.AMQPErrorIllegalState},
		{"first frame not open", func(r *rawConn) {
			r.write(frames.HeaderAMQP.Append(nil))
			r.send(0, &frames.Begin{IncomingWindow: 1, OutgoingWindow: 1}, nil)
			r.readHeader()
			expect[*frames.Open](r, false)
		}, frames.AMQPErrorIllegalState},
		{"channel beyond channel-max", func(r *rawConn) {
			r.open(nil)
			r.send(9, &frames.Begin{IncomingWindow: 1, OutgoingWindow: 1}, nil)
		}, frames.ConnectionErrorFramingError},
		{"begin on a channel in use", func(r *rawConn) {
			r.open(nil)
			r.begin(1)
			r.send(1, &frames.Begin{IncomingWindow: 1, OutgoingWindow: 1}, nil)
		}, frames.AMQPErrorIllegalState},
		{"handle beyond handle-max", func(r *rawConn) {
			r.open(nil)
			r.begin(0)
			r.send(0, &frames.Attach{Name: "x", Handle: 9, Role: frames.RoleSender, Target: &frames.Target{Address: "q"}}, nil)
		}, frames.ConnectionErrorFramingError},
		{"sasl frame after open", func(r *rawConn) {
			r.open(nil)
			f, _ := frames.AppendSASLFrame(nil, &frames.SASLResponse{Response: []byte("x")})
			r.write(f)
		}, frames.ConnectionErrorFramingError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.raw(t)
			tc.do(r)
			expectClose(t, r, tc.cond)
		})
	}
	eventually(t, "connections closed", func() bool { return b.srv.Stats().Connections == 0 })
}

// expectEnd reads until an end on channel ch with the condition.
func expectEnd(t *testing.T, r *rawConn, cond frames.ErrorCondition) {
	t.Helper()
	for {
		_, p, _ := r.next()
		switch v := p.(type) {
		case *frames.End:
			if v.Error == nil || v.Error.Condition != cond {
				t.Fatalf("end %+v, want %s", v.Error, cond)
			}
			return
		case *frames.Close:
			t.Fatalf("close %+v, want end %s", v.Error, cond)
		}
	}
}

// expectDetach reads until a detach and checks its condition.
func expectDetach(t *testing.T, r *rawConn, cond frames.ErrorCondition) *frames.Detach {
	t.Helper()
	for {
		_, p, _ := r.next()
		switch v := p.(type) {
		case *frames.Detach:
			if v.Error == nil || v.Error.Condition != cond {
				t.Fatalf("detach %+v, want %s", v.Error, cond)
			}
			return v
		case *frames.End, *frames.Close:
			t.Fatalf("%T, want detach %s", p, cond)
		}
	}
}

// expectAccepted reads until a disposition accepting delivery id.
func expectAccepted(t *testing.T, r *rawConn, id uint32) {
	t.Helper()
	for {
		_, p, _ := r.next()
		if d, ok := p.(*frames.Disposition); ok && uint32(d.First) <= id && id <= uint32(d.Last.Or(d.First)) {
			if _, ok := d.State.(*frames.Accepted); !ok {
				t.Fatalf("delivery %d: state %T", id, d.State)
			}
			return
		}
	}
}

func TestSessionAndLinkErrors(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.LinkCredit = 2; c.SessionWindow = 4 })
	t.Run("transfer on an unattached handle", func(t *testing.T) {
		r := b.raw(t)
		r.open(nil)
		r.begin(0)
		r.transfer(0, 5, 0, false, body(t, "x"))
		expectEnd(t, r, frames.SessionErrorUnattachedHandle)
		// Frames are discarded until our end; then the channel is free.
		r.transfer(0, 5, 1, false, body(t, "y"))
		r.send(0, &frames.End{}, nil)
		r.begin(0)
		r.attachSender(0, 0, "after", "/queues/bad1", false)
		r.transfer(0, 0, 0, false, body(t, "ok"))
		expectAccepted(t, r, 0)
	})
	t.Run("handle in use", func(t *testing.T) {
		r := b.raw(t)
		r.open(nil)
		r.begin(0)
		r.attachSender(0, 1, "a", "/queues/bad2", false)
		r.send(0, &frames.Attach{Name: "b", Handle: 1, Role: frames.RoleSender, Target: &frames.Target{Address: "q"}}, nil)
		expectEnd(t, r, frames.SessionErrorHandleInUse)
	})
	t.Run("transfer beyond link credit", func(t *testing.T) {
		r := b.raw(t)
		r.open(nil)
		r.begin(0)
		if credit := r.attachSender(0, 0, "greedy", "/queues/bad3", false); credit != 2 {
			t.Fatalf("credit %d", credit)
		}
		r.attachSender(0, 1, "polite", "/queues/bad3", false)
		var burst []byte
		for i := range 3 {
			burst = append(burst, r.frame(0, &frames.Transfer{Handle: 0, DeliveryID: encoding.Some(frames.DeliveryNumber(i)),
				DeliveryTag: []byte{byte(i)}, MessageFormat: encoding.Some[frames.MessageFormat](0)}, body(t, "m"))...)
		}
		r.write(burst)
		d := expectDetach(t, r, frames.LinkErrorTransferLimitExceeded)
		if d.Handle != 0 || !d.Closed {
			t.Fatalf("detach %+v", d)
		}
		r.send(0, &frames.Detach{Handle: 0, Closed: true}, nil)
		// The other link goes on.
		r.transfer(0, 1, 3, false, body(t, "still here"))
		expectAccepted(t, r, 3)
		if q, _ := b.x.Queue("bad3"); q.Ready != 3 {
			t.Fatalf("queue holds %d, want 2 from the greedy link and 1 from the polite one", q.Ready)
		}
	})
	t.Run("session window", func(t *testing.T) {
		r := b.raw(t)
		r.open(nil)
		if bg := r.begin(0); bg.IncomingWindow != 4 {
			t.Fatalf("incoming-window %d", bg.IncomingWindow)
		}
		for h := range 3 {
			r.attachSender(0, uint32(h), "w"+string(rune('a'+h)), "/queues/bad4", true)
		}
		var burst []byte
		for i := range 5 { // 5 transfers, window 4; each link has credit 2
			burst = append(burst, r.frame(0, &frames.Transfer{Handle: frames.Handle(i % 3), DeliveryID: encoding.Some(frames.DeliveryNumber(i)),
				DeliveryTag: []byte{byte(i)}, Settled: encoding.Some(true)}, body(t, "m"))...)
		}
		r.write(burst)
		expectEnd(t, r, frames.SessionErrorWindowViolation)
	})
	t.Run("message too large", func(t *testing.T) {
		b := newBroker(t, func(c *Config) { c.MaxMessageSize = 100 })
		r := b.raw(t)
		r.open(nil)
		r.begin(0)
		r.attachSender(0, 0, "big", "/queues/bad5", false)
		r.send(0, &frames.Transfer{Handle: 0, DeliveryID: encoding.Some[frames.DeliveryNumber](0), DeliveryTag: []byte{0}, More: true}, make([]byte, 80))
		r.send(0, &frames.Transfer{Handle: 0, More: false}, make([]byte, 80))
		expectDetach(t, r, frames.LinkErrorMessageSizeExceeded)
	})
	t.Run("aborted delivery", func(t *testing.T) {
		r := b.raw(t)
		r.open(nil)
		r.begin(0)
		r.attachSender(0, 0, "abort", "/queues/bad6", false)
		m := body(t, "whole message")
		r.send(0, &frames.Transfer{Handle: 0, DeliveryID: encoding.Some[frames.DeliveryNumber](0), DeliveryTag: []byte{0}, More: true}, m[:5])
		r.send(0, &frames.Transfer{Handle: 0, Aborted: true}, nil)
		r.transfer(0, 0, 1, false, m)
		expectAccepted(t, r, 1)
		if q, _ := b.x.Queue("bad6"); q.Ready != 1 {
			t.Fatalf("queue holds %d", q.Ready)
		}
	})
	t.Run("undecodable message", func(t *testing.T) {
		r := b.raw(t)
		r.open(nil)
		r.begin(0)
		r.attachSender(0, 0, "junk", "/queues/bad7", false)
		r.transfer(0, 0, 0, false, []byte{0x00, 0x53, 0x75, 0xa0, 0x10})
		for {
			_, p, _ := r.next()
			if d, ok := p.(*frames.Disposition); ok {
				rej, ok := d.State.(*frames.Rejected)
				if !ok || rej.Error == nil || rej.Error.Condition != frames.AMQPErrorDecodeError {
					t.Fatalf("disposition state %+v", d.State)
				}
				break
			}
		}
	})
	// Other connections were never disturbed.
	s := b.session(t)
	send(t, sender(t, s, "/queues/fine", nil), goamqp.NewMessage([]byte("fine")))
	if got := recv(t, receiver(t, s, "/queues/fine", nil)).GetData(); string(got) != "fine" {
		t.Fatalf("got %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	r := b.raw(t)
	o := r.open(&frames.Open{ContainerID: "idle", IdleTimeOut: encoding.Some[frames.Milliseconds](100)})
	if v, _ := o.IdleTimeOut.Get(); v != 100 {
		t.Fatalf("server idle-time-out %d ms, want half of 200", v)
	}
	// The server keeps us alive: empty frames at least every 50 ms.
	_ = r.nc.SetReadDeadline(time.Now().Add(time.Second))
	f, err := r.rd.ReadFrame()
	if err != nil || !f.Empty() {
		t.Fatalf("heartbeat: %v %v", f, err)
	}
	// We stay silent: the server closes after 200 ms.
	expectClose(t, r, frames.AMQPErrorResourceLimitExceeded)
}

// TestPeerIncomingWindow: we never send more transfer frames than the
// peer's incoming window allows (§2.5.6), and continue, mid-message
// included, when its flow opens the window.
func TestPeerIncomingWindow(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.open(&frames.Open{ContainerID: "win", MaxFrameSize: encoding.Some[uint32](512)})
	r.send(0, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 2, OutgoingWindow: 100}, nil)
	expect[*frames.Begin](r, false)
	s := b.session(t)
	snd := sender(t, s, "/queues/win", nil)
	big := make([]byte, 1200) // three frames of at most 512 bytes
	for i := range big {
		big[i] = byte(i)
	}
	send(t, snd, goamqp.NewMessage([]byte("small")))
	send(t, snd, goamqp.NewMessage(big))
	send(t, snd, goamqp.NewMessage([]byte("last")))
	r.send(0, &frames.Attach{Name: "w", Handle: 0, Role: frames.RoleReceiver,
		Source: &frames.Source{Address: "/queues/win"}, Target: &frames.Target{}}, nil)
	expect[*frames.Attach](r, false)
	r.send(0, &frames.Flow{NextIncomingID: encoding.Some[frames.TransferNumber](0), IncomingWindow: 2, OutgoingWindow: 100,
		Handle: encoding.Some[frames.Handle](0), DeliveryCount: encoding.Some[frames.SequenceNo](0), LinkCredit: encoding.Some[uint32](10)}, nil)
	// Window 2: the small message and the first frame of the big one.
	frameCount := func(max int) int {
		n := 0
		for n < max {
			_, p, _, err := r.tryNext(300 * time.Millisecond)
			if err != nil {
				break
			}
			if _, ok := p.(*frames.Transfer); ok {
				n++
			}
		}
		return n
	}
	if n := frameCount(10); n != 2 {
		t.Fatalf("%d transfer frames within a window of 2", n)
	}
	// Open the window by 10 from the next-incoming-id 2.
	r.send(0, &frames.Flow{NextIncomingID: encoding.Some[frames.TransferNumber](2), IncomingWindow: 10, OutgoingWindow: 100}, nil)
	if n := frameCount(10); n != 3 { // two more frames of the big message, then the last one
		t.Fatalf("%d transfer frames after the window opened, want 3", n)
	}
}

// TestDispositionRanges: our dispositions for a burst of deliveries come
// as one range, and a range from the peer settles every delivery in it
// (§2.7.6).
func TestDispositionRanges(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachSender(0, 0, "burst", "/queues/ranges", false)
	var burst []byte
	for i := range 5 {
		burst = append(burst, r.frame(0, &frames.Transfer{Handle: 0, DeliveryID: encoding.Some(frames.DeliveryNumber(i)),
			DeliveryTag: []byte{byte(i)}, MessageFormat: encoding.Some[frames.MessageFormat](0)}, body(t, "m"))...)
	}
	r.write(burst)
	d := expect[*frames.Disposition](r, false)
	if d.First != 0 || d.Last.Or(0) != 4 || !d.Settled || d.Role != frames.RoleReceiver {
		t.Fatalf("disposition %+v, want one settled range 0..4", d)
	}
	if _, ok := d.State.(*frames.Accepted); !ok {
		t.Fatalf("state %T", d.State)
	}
	// Receive the five unsettled and accept them with one range.
	r.attachReceiver(0, 1, "take", "/queues/ranges", 5)
	ids := map[uint32]bool{}
	for range 5 {
		tr, _ := r.delivery()
		ids[uint32(tr.DeliveryID.Value)] = true
	}
	first, last := uint32(1<<32-1), uint32(0)
	for id := range ids {
		first, last = min(first, id), max(last, id)
	}
	if len(ids) != 5 || last-first != 4 {
		t.Fatalf("delivery ids %v", ids)
	}
	r.send(0, &frames.Disposition{Role: frames.RoleReceiver, First: frames.DeliveryNumber(first),
		Last: encoding.Some(frames.DeliveryNumber(last)), Settled: true, State: &frames.Accepted{}}, nil)
	eventually(t, "five accepted", func() bool {
		q, _ := b.x.Queue("ranges")
		return q.Acked == 5 && q.Unsettled == 0
	})
}

func TestDistributionModeCopy(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	_, err := s.NewReceiver(ctxT(t), "/queues/browse", &goamqp.ReceiverOptions{SourceDistributionMode: goamqp.SourceDistributionModeCopy})
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotImplemented || !strings.Contains(ae.Description, "browsing") {
		t.Fatalf("copy on a queue: %v", err)
	}
	// On a topic every subscriber gets a copy anyway: accepted.
	receiver(t, s, "/topics/browse", &goamqp.ReceiverOptions{SourceDistributionMode: goamqp.SourceDistributionModeCopy})
}

// TestSlowConsumer: a peer that grants credit and stops reading is closed
// once a write waits longer than WriteTimeout; its unsettled deliveries go
// back to the queue.
func TestSlowConsumer(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond; c.MaxPending = 100 })
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachReceiver(0, 0, "slow", "/queues/slow", 100000)
	body := make([]byte, 8<<10)
	for range 2000 {
		m := &message.Message{Address: address.Address{"slow"}, Body: body}
		if _, err := b.x.Publish(context.Background(), m, exchange.PublishOptions{EnsureQueue: true}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "slow consumer closed", func() bool { return b.srv.Stats().SlowConsumers == 1 })
	eventually(t, "deliveries released", func() bool {
		q, _ := b.x.Queue("slow")
		return q.Ready == 2000 && q.Unsettled == 0 && q.Consumers == 0
	})
}

// TestDurableDetachNotClosed: a detach with closed=false keeps a durable
// subscription (§2.6.4), a closing one removes it (§2.6.6).
func TestDurableDetachNotClosed(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.open(&frames.Open{ContainerID: "raw-app"})
	r.begin(0)
	attach := func() {
		r.send(0, &frames.Attach{Name: "sub", Handle: 0, Role: frames.RoleReceiver,
			Source: &frames.Source{Address: "/topics/d/#", Durable: frames.TerminusDurabilityUnsettledState,
				ExpiryPolicy: frames.TerminusExpiryPolicyNever}, Target: &frames.Target{}}, nil)
		if a := expect[*frames.Attach](r, false); a.Source == nil || a.Source.Durable != frames.TerminusDurabilityUnsettledState {
			t.Fatalf("attach %+v", a.Source)
		}
	}
	attach()
	r.send(0, &frames.Detach{Handle: 0, Closed: false}, nil)
	if d := expect[*frames.Detach](r, true); d.Closed {
		t.Fatal("detach answered as closed")
	}
	queue := durablePrefix + "raw-app:sub"
	m := &message.Message{Address: address.Address{"d", "x"}, Body: []byte("kept")}
	if _, err := b.x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if q, ok := b.x.Queue(queue); !ok || q.Ready != 1 {
		t.Fatalf("durable queue after a non-closing detach: %v %+v", ok, q)
	}
	attach()
	r.send(0, &frames.Flow{NextIncomingID: encoding.Some[frames.TransferNumber](0), IncomingWindow: 100, OutgoingWindow: 100,
		Handle: encoding.Some[frames.Handle](0), DeliveryCount: encoding.Some[frames.SequenceNo](0), LinkCredit: encoding.Some[uint32](1)}, nil)
	if _, payload := r.delivery(); !bytes.Contains(payload, []byte("kept")) {
		t.Fatalf("payload % x", payload)
	}
	r.send(0, &frames.Detach{Handle: 0, Closed: true}, nil)
	expect[*frames.Detach](r, true)
	eventually(t, "durable queue deleted", func() bool { _, ok := b.x.Queue(queue); return !ok })
}

// TestFlowAvailable checks that a sending link's flow tells the receiver
// how many messages wait for credit (§2.6.7 available) when the receiver
// asks for our flow state with echo.
func TestFlowAvailable(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachSender(0, 0, "fill", "/queues/avail", true)
	for i := range 3 {
		r.transfer(0, 0, uint32(i), true, body(t, "m"))
	}
	eventually(t, "three ready", func() bool {
		q, _ := b.x.Queue("avail")
		return q.Ready == 3
	})
	r.attachReceiver(0, 1, "take", "/queues/avail", 1)
	r.delivery()
	r.send(0, &frames.Flow{NextIncomingID: encoding.Some[frames.TransferNumber](1), IncomingWindow: 100, OutgoingWindow: 100,
		Handle: encoding.Some[frames.Handle](1), DeliveryCount: encoding.Some[frames.SequenceNo](1),
		LinkCredit: encoding.Some[uint32](0), Echo: true}, nil)
	f := expect[*frames.Flow](r, true)
	if !f.Available.Set || f.Available.Value != 2 {
		t.Fatalf("flow available %+v, want 2", f.Available)
	}
}
