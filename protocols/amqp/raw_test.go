package amqp

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// rawConn is a client on a plain socket, written with our codec, for what
// go-amqp cannot send (bad input) or does not show (exact bytes).
type rawConn struct {
	t  testing.TB
	nc net.Conn
	rd *frames.Reader
}

func (b *testBroker) raw(t testing.TB) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rd: frames.NewReader(nc, 1<<20)}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	_ = r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) frame(ch uint16, p frames.Performative, payload []byte) []byte {
	r.t.Helper()
	b, err := frames.AppendFrame(nil, ch, p, payload)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rawConn) send(ch uint16, p frames.Performative, payload []byte) {
	r.t.Helper()
	r.write(r.frame(ch, p, payload))
}

func (r *rawConn) readHeader() frames.ProtocolHeader {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := r.rd.ReadProtocolHeader()
	if err != nil {
		r.t.Fatalf("read header: %v", err)
	}
	return h
}

// next reads the next non-empty AMQP frame.
func (r *rawConn) next() (uint16, frames.Performative, []byte) {
	r.t.Helper()
	ch, p, payload, err := r.tryNext(5 * time.Second)
	if err != nil {
		r.t.Fatalf("read frame: %v", err)
	}
	return ch, p, payload
}

func (r *rawConn) tryNext(timeout time.Duration) (uint16, frames.Performative, []byte, error) {
	for {
		_ = r.nc.SetReadDeadline(time.Now().Add(timeout))
		f, err := r.rd.ReadFrame()
		if err != nil {
			return 0, nil, nil, err
		}
		if f.Empty() {
			continue
		}
		p, payload, err := frames.ParseBody(f.Body)
		if err != nil {
			return 0, nil, nil, err
		}
		return f.Channel, p, append([]byte(nil), payload...), nil
	}
}

// expect reads frames until one of type T arrives (skipping flows and
// dispositions when skip is set) and returns it.
func expect[T frames.Performative](r *rawConn, skip bool) T {
	r.t.Helper()
	for {
		_, p, _ := r.next()
		if v, ok := p.(T); ok {
			return v
		}
		switch p.(type) {
		case *frames.Flow, *frames.Disposition:
			if skip {
				continue
			}
		}
		var zero T
		r.t.Fatalf("got %T, want %T", p, zero)
	}
}

// expectEOF reads until the server closes the socket.
func (r *rawConn) expectEOF() {
	r.t.Helper()
	for {
		_, _, _, err := r.tryNext(5 * time.Second)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatal("server did not close the connection")
		}
		return // reset
	}
}

// open negotiates AMQP without SASL and exchanges open frames.
func (r *rawConn) open(o *frames.Open) *frames.Open {
	r.t.Helper()
	if o == nil {
		o = &frames.Open{ContainerID: "raw", MaxFrameSize: encoding.Some[uint32](1 << 20)}
	}
	r.write(frames.HeaderAMQP.Append(nil))
	r.send(0, o, nil)
	if h := r.readHeader(); h != frames.HeaderAMQP {
		r.t.Fatalf("header %v", h)
	}
	return expect[*frames.Open](r, false)
}

// begin begins a session on channel ch and returns the server's begin.
func (r *rawConn) begin(ch uint16) *frames.Begin {
	r.t.Helper()
	r.send(ch, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 1000, OutgoingWindow: 1000}, nil)
	return expect[*frames.Begin](r, false)
}

// attachSender attaches a link on which the raw client sends to addr and
// returns the credit the server grants.
func (r *rawConn) attachSender(ch uint16, h uint32, name, addr string, settled bool) uint32 {
	r.t.Helper()
	a := &frames.Attach{Name: name, Handle: frames.Handle(h), Role: frames.RoleSender,
		Source: &frames.Source{Address: "raw"}, Target: &frames.Target{Address: addr},
		InitialDeliveryCount: encoding.Some[frames.SequenceNo](0)}
	if settled {
		a.SndSettleMode = encoding.Some(frames.SenderSettleModeSettled)
	}
	r.send(ch, a, nil)
	reply := expect[*frames.Attach](r, false)
	if reply.Target == nil {
		r.t.Fatalf("attach refused: %+v", expect[*frames.Detach](r, true).Error)
	}
	f := expect[*frames.Flow](r, false)
	return f.LinkCredit.Value
}

// attachReceiver attaches a link on which the raw client receives from
// addr and grants it credit.
func (r *rawConn) attachReceiver(ch uint16, h uint32, name, addr string, credit uint32) {
	r.t.Helper()
	r.send(ch, &frames.Attach{Name: name, Handle: frames.Handle(h), Role: frames.RoleReceiver,
		Source: &frames.Source{Address: addr}, Target: &frames.Target{Address: "raw"}}, nil)
	reply := expect[*frames.Attach](r, false)
	if reply.Source == nil {
		r.t.Fatalf("attach refused: %+v", expect[*frames.Detach](r, true).Error)
	}
	r.send(ch, &frames.Flow{NextIncomingID: encoding.Some[frames.TransferNumber](0), IncomingWindow: 1000,
		OutgoingWindow: 1000, Handle: encoding.Some(frames.Handle(h)),
		DeliveryCount: encoding.Some[frames.SequenceNo](0), LinkCredit: encoding.Some(credit)}, nil)
}

// transfer sends a whole message in one transfer.
func (r *rawConn) transfer(ch uint16, h, id uint32, settled bool, payload []byte) {
	r.t.Helper()
	r.send(ch, &frames.Transfer{Handle: frames.Handle(h), DeliveryID: encoding.Some(frames.DeliveryNumber(id)),
		DeliveryTag: []byte{byte(id >> 8), byte(id)}, MessageFormat: encoding.Some[frames.MessageFormat](0),
		Settled: encoding.Some(settled)}, payload)
}

// delivery reads transfer frames until a delivery is complete and returns
// its payload.
func (r *rawConn) delivery() (*frames.Transfer, []byte) {
	r.t.Helper()
	var first *frames.Transfer
	var payload []byte
	for {
		_, p, b := r.next()
		t, ok := p.(*frames.Transfer)
		if !ok {
			continue
		}
		if first == nil {
			first = t
		}
		payload = append(payload, b...)
		if !t.More {
			return first, payload
		}
	}
}

func symbolKey(s string) any { return encoding.Symbol(s) }
