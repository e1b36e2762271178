package frames

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

// parsed is a frame with its body decoded, for comparisons.
type parsed struct {
	typ     Type
	channel uint16
	body    any
	payload []byte
}

func parseFrame(f Frame) (parsed, error) {
	p := parsed{typ: f.Type, channel: f.Channel}
	if f.Type == TypeSASL {
		body, err := ParseSASLBody(f.Body)
		p.body = body
		return p, err
	}
	if f.Empty() {
		return p, nil
	}
	perf, payload, err := ParseBody(f.Body)
	p.body, p.payload = perf, bytes.Clone(payload)
	return p, err
}

// readAll reads frames until EOF or an error, with a large limit.
func readAll(r io.Reader, max uint32) ([]parsed, error) {
	fr := NewReader(r, max)
	var out []parsed
	for {
		f, err := fr.ReadFrame()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p, err := parseFrame(f)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

func TestReadGolden(t *testing.T) {
	for _, g := range frameGoldens {
		t.Run(g.name, func(t *testing.T) {
			got, err := readAll(bytes.NewReader(g.raw), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d frames", len(got))
			}
			want := parsed{typ: g.typ, channel: g.channel, body: g.body, payload: g.payload}
			if g.body == nil {
				want.body = nil
			}
			if got[0].typ != want.typ || got[0].channel != want.channel || !bytes.Equal(got[0].payload, want.payload) {
				t.Fatalf("got %+v, want %+v", got[0], want)
			}
			if !reflect.DeepEqual(got[0].body, want.body) && !(got[0].body == nil && g.body == nil) {
				t.Fatalf("body:\ngot  %#v\nwant %#v", got[0].body, want.body)
			}
		})
	}
}

func encodeGolden(g frameGolden) ([]byte, error) {
	switch body := g.body.(type) {
	case nil:
		return AppendEmptyFrame(nil), nil
	case SASLBody:
		return AppendSASLFrame(nil, body)
	case Performative:
		return AppendFrame(nil, g.channel, body, g.payload)
	}
	panic("bad golden")
}

func TestEncodeGolden(t *testing.T) {
	for _, g := range frameGoldens {
		t.Run(g.name, func(t *testing.T) {
			raw, err := encodeGolden(g)
			if err != nil {
				t.Fatal(err)
			}
			if g.canonical && !bytes.Equal(raw, g.raw) {
				t.Fatalf("got  % x\nwant % x", raw, g.raw)
			}
			// Every encoding reads back to the same frame.
			got, err := readAll(bytes.NewReader(raw), 0)
			if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].body, g.body) && g.body != nil {
				t.Fatalf("re-read: %+v, %v", got, err)
			}
		})
	}
}

func TestBadFrames(t *testing.T) {
	for _, c := range badFrames {
		t.Run(c.name, func(t *testing.T) {
			_, err := readAll(bytes.NewReader(c.raw), 1024)
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Condition == "" || fe.Clause == "" {
				t.Fatalf("not a *FrameError with condition and clause: %#v", err)
			}
		})
	}
}

// TestByteAtATime reads the whole golden stream one byte per Read.
func TestByteAtATime(t *testing.T) {
	var stream []byte
	var want []parsed
	for _, g := range frameGoldens {
		stream = append(stream, g.raw...)
		w, err := readAll(bytes.NewReader(g.raw), 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, w...)
	}
	got, err := readAll(iotest.OneByteReader(bytes.NewReader(stream)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("byte-at-a-time read differs")
	}
}

func TestTruncatedFrame(t *testing.T) {
	raw := frameGoldens[1].raw
	for i := 1; i < len(raw); i++ {
		_, err := readAll(bytes.NewReader(raw[:i]), 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v", i, err)
		}
	}
}

func TestMaxFrameSizeBeforeAllocating(t *testing.T) {
	// A header announcing 1 GiB must be refused without reading or allocating.
	hdr := b(0x40, 0, 0, 0, 2, 0, 0, 0)
	// Count bytes, not allocations: the race detector adds small
	// allocations of its own, while the property that matters is that
	// nothing near the announced size is allocated.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 50 {
		r := NewReader(bytes.NewReader(hdr), 1<<20)
		if _, err := r.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 50; per > 64<<10 {
		t.Fatalf("%d bytes allocated per refused frame", per)
	}
	r := NewReader(bytes.NewReader(nil), 100)
	if r.MaxFrameSize() != MinMaxFrameSize {
		t.Fatalf("limit below 512 accepted: %d", r.MaxFrameSize())
	}
}

func TestLargeFrameGrowsBuffer(t *testing.T) {
	payload := bytes.Repeat([]byte{7}, 100_000)
	raw, err := AppendFrame(nil, 3, &Transfer{Handle: 1, More: true}, payload)
	if err != nil {
		t.Fatal(err)
	}
	raw = AppendEmptyFrame(raw)
	r := NewReader(iotest.HalfReader(bytes.NewReader(raw)), 200_000)
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	perf, got, err := ParseBody(f.Body)
	if err != nil || !bytes.Equal(got, payload) || !perf.(*Transfer).More || f.Channel != 3 {
		t.Fatalf("%v %v", perf, err)
	}
	if f, err = r.ReadFrame(); err != nil || !f.Empty() {
		t.Fatalf("heartbeat: %v %v", f, err)
	}
	if _, err = r.ReadFrame(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestProtocolHeaders(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
		want ProtocolHeader
		err  error
	}{
		{"AMQP §2.2", b("AMQP", 0, 1, 0, 0), HeaderAMQP, nil},
		{"TLS §5.2", b("AMQP", 2, 1, 0, 0), HeaderTLS, nil},
		{"SASL §5.3", b("AMQP", 3, 1, 0, 0), HeaderSASL, nil},
		{"future version", b("AMQP", 0, 1, 1, 0), ProtocolHeader{0, 1, 1, 0}, nil},
		{"HTTP", b("GET / HT"), ProtocolHeader{}, ErrProtocolHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(c.raw), 0)
			h, err := r.ReadProtocolHeader()
			if !errors.Is(err, c.err) || h != c.want {
				t.Fatalf("got %v, %v", h, err)
			}
			if c.err == nil && !bytes.Equal(h.Append(nil), c.raw) {
				t.Fatalf("Append = % x", h.Append(nil))
			}
		})
	}
	// A header followed by frames in one read.
	stream := append(HeaderSASL.Append(nil), frameGoldens[len(frameGoldens)-1].raw...)
	r := NewReader(bytes.NewReader(stream), 0)
	if h, err := r.ReadProtocolHeader(); err != nil || h != HeaderSASL {
		t.Fatal(h, err)
	}
	if f, err := r.ReadFrame(); err != nil || f.Type != TypeSASL {
		t.Fatal(f, err)
	}
}

func TestDefaults(t *testing.T) {
	var o Open
	if err := o.Unmarshal(frameGoldens[1].raw[8:]); err != nil {
		t.Fatal(err)
	}
	if o.MaxFrameSizeOrDefault() != 4294967295 || o.ChannelMaxOrDefault() != 65535 {
		t.Fatalf("defaults: %d %d", o.MaxFrameSizeOrDefault(), o.ChannelMaxOrDefault())
	}
	var a Attach
	if a.SndSettleModeOrDefault() != SenderSettleModeMixed || a.RcvSettleMode != ReceiverSettleModeFirst {
		t.Fatal("attach defaults")
	}
	var s Source
	if s.ExpiryPolicyOrDefault() != TerminusExpiryPolicySessionEnd || s.Durable != TerminusDurabilityNone {
		t.Fatal("source defaults")
	}
}

// TestTrailingNullsTrimmed checks §1.4: a composite encodes no trailing
// nulls, and an explicit false default equals its absence.
func TestTrailingNullsTrimmed(t *testing.T) {
	full := b(0x00, 0x53, 0x16, 0xc0, 0x04, 0x03, 0x43, 0x42, 0x40) // detach{0, false, null}
	var d Detach
	if err := d.Unmarshal(full); err != nil {
		t.Fatal(err)
	}
	got, err := d.Marshal(nil)
	if err != nil || !bytes.Equal(got, b(0x00, 0x53, 0x16, 0xc0, 0x02, 0x01, 0x43)) {
		t.Fatalf("% x %v", got, err)
	}
}

func TestMultipleAcceptsSingleOrArray(t *testing.T) {
	single := b(0x00, 0x53, 0x40, 0xc0, 0x08, 0x01, 0xa3, 0x05, "PLAIN")
	var m SASLMechanisms
	if err := m.Unmarshal(single); err != nil || len(m.SASLServerMechanisms) != 1 {
		t.Fatal(m, err)
	}
	enc, _ := m.Marshal(nil)
	if enc[6] != encoding.CodeArray8 {
		t.Fatalf("multiple field not encoded as array: % x", enc)
	}
}

func TestErrorIsError(t *testing.T) {
	var err error = &Error{Condition: AMQPErrorNotFound, Description: "no queue"}
	if err.Error() != "amqp: amqp:not-found: no queue" {
		t.Fatal(err)
	}
}

func TestTransferOverhead(t *testing.T) {
	tr := &Transfer{Handle: 1, DeliveryID: encoding.Some[DeliveryNumber](7), DeliveryTag: DeliveryTag("tag")}
	n, err := TransferOverhead(tr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := AppendFrame(nil, 0, tr, []byte("xyz"))
	if n != len(raw)-3 {
		t.Fatalf("overhead %d, frame %d", n, len(raw))
	}
}

func TestStartFinishFrame(t *testing.T) {
	tr := &Transfer{Handle: 2}
	want, _ := AppendFrame([]byte{9}, 7, tr, []byte("body"))
	got, start, err := StartFrame([]byte{9}, 7, tr)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, "body"...)
	if got, err = FinishFrame(got, start); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("% x\n% x %v", got, want, err)
	}
}
