package frames

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

// ProtocolID is the protocol id of a protocol header (§2.2, §5.1).
type ProtocolID uint8

// Protocol ids.
const (
	ProtocolAMQP ProtocolID = 0 // plain AMQP (§2.2)
	ProtocolTLS  ProtocolID = 2 // TLS security layer (§5.2)
	ProtocolSASL ProtocolID = 3 // SASL security layer (§5.3)
)

// ProtocolHeaderSize is the length of a protocol header (§2.2 Figure 2.11).
const ProtocolHeaderSize = 8

// ProtocolHeader is the 8-octet header that starts each protocol layer of a
// connection: "AMQP", the protocol id, then major, minor and revision
// (§2.2).
type ProtocolHeader struct {
	ID                     ProtocolID
	Major, Minor, Revision uint8
}

// The protocol headers of AMQP 1.0.0 (§2.2), its TLS layer (§5.2) and its
// SASL layer (§5.3).
var (
	HeaderAMQP = ProtocolHeader{ID: ProtocolAMQP, Major: Major, Minor: Minor, Revision: Revision}
	HeaderTLS  = ProtocolHeader{ID: ProtocolTLS, Major: TLSMajor, Minor: TLSMinor, Revision: TLSRevision}
	HeaderSASL = ProtocolHeader{ID: ProtocolSASL, Major: SASLMajor, Minor: SASLMinor, Revision: SASLRevision}
)

// Append appends the header's 8 octets to dst.
func (h ProtocolHeader) Append(dst []byte) []byte {
	return append(dst, 'A', 'M', 'Q', 'P', byte(h.ID), h.Major, h.Minor, h.Revision)
}

func (h ProtocolHeader) String() string {
	return fmt.Sprintf("AMQP %d %d.%d.%d", h.ID, h.Major, h.Minor, h.Revision)
}

// ParseProtocolHeader parses an 8-octet protocol header. Input that does not
// start with "AMQP" yields ErrProtocolHeader; §2.2 then asks a server to
// send its own protocol header and close the socket.
func ParseProtocolHeader(b []byte) (ProtocolHeader, error) {
	if len(b) < ProtocolHeaderSize || string(b[:4]) != "AMQP" {
		return ProtocolHeader{}, &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.2",
			Err: ErrProtocolHeader, Detail: fmt.Sprintf("% x", b[:min(len(b), ProtocolHeaderSize)])}
	}
	return ProtocolHeader{ID: ProtocolID(b[4]), Major: b[5], Minor: b[6], Revision: b[7]}, nil
}

// Type is a frame type code, byte 5 of the frame header (§2.3.1).
type Type uint8

// Frame types.
const (
	TypeAMQP Type = 0x00 // §2.3.2
	TypeSASL Type = 0x01 // §5.3.1
)

// HeaderSize is the size of the fixed frame header (§2.3.1).
const HeaderSize = 8

// Header is a fixed frame header (§2.3.1 Figure 2.15).
type Header struct {
	Size       uint32 // total frame size, header included
	DataOffset uint8  // DOFF: offset of the body in 4-byte words, at least 2
	Type       Type
	Channel    uint16 // type-specific bytes 6–7: the channel of an AMQP frame; ignored for SASL
}

// ParseHeader parses and validates a frame header: SIZE at least 8, DOFF
// at least 2, and the data offset within the frame (§2.3.1).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.3.1", Err: ErrMalformedFrame, Detail: "short header"}
	}
	h := Header{
		Size:       binary.BigEndian.Uint32(b),
		DataOffset: b[4],
		Type:       Type(b[5]),
		Channel:    binary.BigEndian.Uint16(b[6:]),
	}
	switch {
	case h.Size < HeaderSize:
		return h, &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.3.1", Err: ErrMalformedFrame,
			Detail: fmt.Sprintf("SIZE %d less than 8", h.Size)}
	case h.DataOffset < 2:
		return h, &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.3.1", Err: ErrMalformedFrame,
			Detail: fmt.Sprintf("DOFF %d less than 2", h.DataOffset)}
	case uint32(h.DataOffset)*4 > h.Size:
		return h, &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.3.1", Err: ErrMalformedFrame,
			Detail: fmt.Sprintf("DOFF %d beyond SIZE %d", h.DataOffset, h.Size)}
	}
	return h, nil
}

// Frame is one frame as read by a Reader.
type Frame struct {
	Type    Type
	Channel uint16 // channel of an AMQP frame (§2.3.2); meaningless for SASL frames
	// Body is the frame body; the extended header is skipped (§2.3.1). An
	// AMQP frame with an empty body is a heartbeat (§2.3.2). Body aliases
	// the Reader's buffer and is valid until the next call to the Reader.
	Body []byte
}

// Empty reports whether the frame has no body (§2.3.2: used to keep an
// idle connection alive, §2.4.5).
func (f Frame) Empty() bool { return len(f.Body) == 0 }

// initialBuffer is the Reader's first buffer size; most frames fit.
const initialBuffer = 4096

// Reader reads protocol headers and frames from an io.Reader. It buffers
// input and enforces a maximum frame size before allocating: a frame whose
// SIZE exceeds the limit is a framing error (§2.3, §2.4.1) and its body is
// never read. The buffer grows to at most the maximum frame size.
// A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int    // unread input is buf[start:end]
	max        uint32 // frame size limit in bytes, at least MinMaxFrameSize
}

// NewReader returns a Reader limited to frames of maxFrameSize bytes. Zero
// means MinMaxFrameSize (512), the limit in force before open is exchanged
// and the only limit for SASL frames (§2.4.1, §5.3.1).
func NewReader(r io.Reader, maxFrameSize uint32) *Reader {
	rd := &Reader{r: r}
	rd.SetMaxFrameSize(maxFrameSize)
	return rd
}

// SetMaxFrameSize changes the limit, typically to the max-frame-size this
// side announced in its open (§2.7.1). Values below MinMaxFrameSize,
// including zero, mean MinMaxFrameSize.
func (r *Reader) SetMaxFrameSize(n uint32) {
	r.max = max(n, MinMaxFrameSize)
}

// MaxFrameSize returns the limit in force.
func (r *Reader) MaxFrameSize() uint32 { return r.max }

// Buffered returns the number of bytes read from the underlying reader and
// not yet consumed.
func (r *Reader) Buffered() int { return r.end - r.start }

// fill ensures that at least n bytes are buffered.
func (r *Reader) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if len(r.buf)-r.start < n {
		if n <= len(r.buf) && r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		} else {
			size := max(n, 2*len(r.buf), initialBuffer)
			size = min(size, max(n, int(r.max), initialBuffer))
			nb := make([]byte, size)
			r.end = copy(nb, r.buf[r.start:r.end])
			r.start = 0
			r.buf = nb
		}
	}
	for r.end-r.start < n {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			if r.end-r.start >= n {
				return nil
			}
			if err == io.EOF && r.end-r.start > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Ready reports whether a whole frame (or a frame header that ReadFrame
// will reject) is buffered, so that ReadFrame returns without reading from
// the underlying reader. A connection uses it to flush what it batched
// (dispositions, flows) before it would block.
func (r *Reader) Ready() bool {
	n := r.end - r.start
	if n < HeaderSize {
		return false
	}
	size := binary.BigEndian.Uint32(r.buf[r.start:])
	return size > r.max || uint64(n) >= uint64(size)
}

// ReadProtocolHeader reads an 8-octet protocol header (§2.2). On
// ErrProtocolHeader the bytes are consumed.
func (r *Reader) ReadProtocolHeader() (ProtocolHeader, error) {
	if err := r.fill(ProtocolHeaderSize); err != nil {
		return ProtocolHeader{}, err
	}
	b := r.buf[r.start : r.start+ProtocolHeaderSize]
	r.start += ProtocolHeaderSize
	return ParseProtocolHeader(b)
}

// ReadFrame reads the next frame. It returns io.EOF only when the input
// ends between frames; a frame cut short yields io.ErrUnexpectedEOF.
// Framing violations are *FrameError values wrapping ErrMalformedFrame or
// ErrFrameTooLarge; after one the stream cannot be resynchronised.
func (r *Reader) ReadFrame() (Frame, error) {
	if err := r.fill(HeaderSize); err != nil {
		return Frame{}, err
	}
	h, err := ParseHeader(r.buf[r.start : r.start+HeaderSize])
	if err != nil {
		return Frame{}, err
	}
	if h.Size > r.max {
		return Frame{}, &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.3", Err: ErrFrameTooLarge,
			Detail: fmt.Sprintf("SIZE %d, limit %d", h.Size, r.max)}
	}
	if err := r.fill(int(h.Size)); err != nil {
		return Frame{}, err
	}
	f := Frame{
		Type:    h.Type,
		Channel: h.Channel,
		Body:    r.buf[r.start+int(h.DataOffset)*4 : r.start+int(h.Size) : r.start+int(h.Size)],
	}
	r.start += int(h.Size)
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	return f, nil
}

// AppendFrame appends an AMQP frame (type 0x00, DOFF 2) on channel whose
// body is perf followed by payload (§2.3.2). A nil perf appends an empty
// frame, a heartbeat; payload is then ignored. The caller keeps the frame
// within the peer's max-frame-size (see TransferOverhead).
func AppendFrame(dst []byte, channel uint16, perf Performative, payload []byte) ([]byte, error) {
	if perf == nil {
		return append(dst, 0, 0, 0, 8, 2, byte(TypeAMQP), byte(channel>>8), byte(channel)), nil
	}
	dst, start, err := StartFrame(dst, channel, perf)
	if err != nil {
		return dst, err
	}
	return FinishFrame(append(dst, payload...), start)
}

// StartFrame appends the header of an AMQP frame on channel and the
// performative perf; the caller then appends the payload (for a transfer,
// typically by encoding the message straight into dst) and calls
// FinishFrame with the returned start offset. This avoids the copy that
// AppendFrame makes of a separately encoded payload.
func StartFrame(dst []byte, channel uint16, perf Performative) ([]byte, int, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 2, byte(TypeAMQP), byte(channel>>8), byte(channel))
	dst, err := perf.Marshal(dst)
	if err != nil {
		return dst[:start], start, err
	}
	return dst, start, nil
}

// FinishFrame writes the SIZE of the frame started at start by StartFrame.
func FinishFrame(dst []byte, start int) ([]byte, error) {
	size := len(dst) - start
	if uint64(size) > 0xffffffff {
		return dst[:start], &FrameError{Condition: ConnectionErrorFramingError, Clause: "§2.3.1", Err: ErrFrameTooLarge}
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst, nil
}

// AppendEmptyFrame appends an empty AMQP frame on channel 0: the heartbeat
// of §2.4.5.
func AppendEmptyFrame(dst []byte) []byte {
	return append(dst, 0, 0, 0, 8, 2, byte(TypeAMQP), 0, 0)
}

// AppendSASLFrame appends a SASL frame (type 0x01, DOFF 2, bytes 6–7 zero)
// holding body (§5.3.1).
func AppendSASLFrame(dst []byte, body SASLBody) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 2, byte(TypeSASL), 0, 0)
	dst, err := body.Marshal(dst)
	if err != nil {
		return dst[:start], err
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst, nil
}

// ParseBody decodes the performative at the start of an AMQP frame body and
// returns it with the payload that follows (§2.3.2), which aliases body.
// An empty body (a heartbeat) returns a nil performative and no error.
func ParseBody(body []byte) (Performative, []byte, error) {
	if len(body) == 0 {
		return nil, nil, nil
	}
	var dec encoding.Decoder
	dec.Reset(body)
	d := &dec
	p, err := DecodePerformative(d)
	if err != nil {
		return nil, nil, &FrameError{Condition: AMQPErrorDecodeError, Clause: "§2.3.2", Err: err}
	}
	return p, d.Rest(), nil
}

// ParseSASLBody decodes the body of a SASL frame, which must hold exactly
// one SASL frame body and nothing else (§5.3.1).
func ParseSASLBody(body []byte) (SASLBody, error) {
	if len(body) == 0 {
		return nil, &FrameError{Condition: AMQPErrorDecodeError, Clause: "§5.3.1", Err: ErrEmptySASLFrame}
	}
	d := encoding.NewDecoder(body)
	b, err := DecodeSASLBody(d)
	if err == nil && d.Len() != 0 {
		err = &encoding.Error{Offset: d.Offset(), Err: encoding.ErrInvalidSize, Detail: "bytes after the SASL frame body"}
	}
	if err != nil {
		return nil, &FrameError{Condition: AMQPErrorDecodeError, Clause: "§5.3.1", Err: err}
	}
	return b, nil
}

// TransferOverhead returns the bytes a frame carrying t takes besides its
// payload: the frame header plus the encoded transfer. A sender splitting a
// message over frames of at most maxFrameSize bytes puts at most
// maxFrameSize - TransferOverhead(t) payload bytes in each (§2.6.12).
func TransferOverhead(t *Transfer) (int, error) {
	var scratch [128]byte
	b, err := t.Marshal(scratch[:0])
	return HeaderSize + len(b), err
}
