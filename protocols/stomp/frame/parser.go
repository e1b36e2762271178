package frame

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Parser.Feed, wrapped with details; test with errors.Is.
// Every one of them is fatal for the connection (STOMP 1.2 "Size Limits":
// send ERROR, then close).
var (
	ErrFrameTooLarge     = errors.New("frame too large")
	ErrBodyTooLarge      = errors.New("body too large")
	ErrHeaderLineTooLong = errors.New("header line too long")
	ErrTooManyHeaders    = errors.New("too many headers")
	ErrMalformedHeader   = errors.New("malformed header")
	ErrBadEscape         = errors.New("undefined escape sequence")
	ErrBadContentLength  = errors.New("invalid content-length")
	ErrMissingNUL        = errors.New("frame not terminated by NUL")
)

// Default limits, used when a Limits field is zero.
const (
	DefaultMaxBodySize   = 1 << 20                     // 1 MiB
	DefaultMaxFrameSize  = DefaultMaxBodySize + 64<<10 // body plus 64 KiB of command and headers
	DefaultMaxHeaders    = 128
	DefaultMaxHeaderLine = 16 << 10 // room for a JWT in a header
)

// Limits bound what a Parser accepts. Zero fields take the defaults; there
// is no way to turn a limit off.
type Limits struct {
	// MaxFrameSize is the most bytes from the first byte of the command to
	// the terminating NUL.
	MaxFrameSize int
	// MaxBodySize is the most bytes in a body, with or without
	// content-length.
	MaxBodySize int
	// MaxHeaders is the most header lines in a frame (the command line is
	// not counted).
	MaxHeaders int
	// MaxHeaderLine is the most bytes in one command or header line,
	// escapes and a CR included, the LF excluded.
	MaxHeaderLine int
}

// WithDefaults returns l with zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxFrameSize <= 0 {
		l.MaxFrameSize = DefaultMaxFrameSize
	}
	if l.MaxBodySize <= 0 {
		l.MaxBodySize = DefaultMaxBodySize
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxHeaderLine <= 0 {
		l.MaxHeaderLine = DefaultMaxHeaderLine
	}
	return l
}

type phase uint8

const (
	phaseIdle    phase = iota // between frames: skipping EOLs (heart-beats)
	phaseHeaders              // scanning command and header lines
	phaseBody                 // headers parsed, waiting for the body and NUL
)

// maxRetain is the buffer capacity kept between frames; a larger buffer,
// grown for one big frame, is released once that frame is done.
const maxRetain = 64 << 10

// Parser is an incremental STOMP frame parser. Feed it bytes as they
// arrive; it calls emit once per complete frame. Its result — the frames
// and the error, if any — is the same however the stream is split,
// because every decision depends only on the bytes at or before the
// position it concerns, and every limit is phrased as a fact about a
// prefix of the frame ("no LF within the first MaxHeaderLine+1 bytes of
// this line"), which stays true as more bytes arrive.
//
// The Parser buffers only an incomplete frame, and never more than it has
// received: a content-length is checked against the limits, then the body
// is collected as it arrives, so a lying content-length costs nothing.
//
// A Parser is not safe for concurrent use.
type Parser struct {
	lim     Limits
	version Version

	buf []byte // the incomplete frame (or a lone CR), starting at its first byte

	// Scan state, as offsets from the start of the current frame.
	ph        phase
	lineStart int // start of the line being scanned
	scan      int // bytes before scan are known not to hold the terminator sought
	lines     int // completed lines, the command line included
	bodyStart int
	clen      int // content-length, or -1

	frame  Frame
	frames uint64 // frames emitted
	err    error  // sticky: once failed, Feed returns it again
}

// NewParser returns a parser for a connection that has not negotiated a
// version yet (VersionNone).
func NewParser(l Limits) *Parser {
	return &Parser{lim: l.WithDefaults(), clen: -1}
}

// SetVersion sets the version that decides escaping and line endings of
// the frames that follow. Sessions call it from emit, after CONNECT, so
// the rest of the same Feed call is already parsed with it.
func (p *Parser) SetVersion(v Version) { p.version = v }

// Version returns the version set with SetVersion.
func (p *Parser) Version() Version { return p.version }

// Pending reports whether an incomplete frame is buffered.
func (p *Parser) Pending() bool { return len(p.buf) > 0 }

// Frames returns the number of frames emitted so far.
func (p *Parser) Frames() uint64 { return p.frames }

// Buffered returns the number of bytes held for an incomplete frame.
func (p *Parser) Buffered() int { return len(p.buf) }

// Feed parses b and calls emit for each complete frame. The Frame passed
// to emit, and its Body, are valid only until emit returns. When emit
// returns an error, Feed stops and returns it. After an error the Parser
// is unusable: every later Feed returns the same error.
func (p *Parser) Feed(b []byte, emit func(*Frame) error) error {
	if p.err != nil {
		return p.err
	}
	data := b
	fromBuf := len(p.buf) > 0
	if fromBuf {
		p.buf = append(p.buf, b...)
		data = p.buf
	}
	off := 0
	for off < len(data) {
		if p.ph == phaseIdle {
			// The NUL "can be optionally followed by multiple EOLs", and a
			// heart-beat is an EOL (STOMP 1.2 "Augmented BNF",
			// "Heart-beating"): skip them between frames.
			c := data[off]
			if c == '\n' {
				off++
				continue
			}
			if c == '\r' {
				if off+1 == len(data) {
					break // CR LF split across reads: wait
				}
				if data[off+1] == '\n' {
					off += 2
					continue
				}
			}
			p.startFrame()
		}
		n, err := p.next(data[off:])
		if err != nil {
			p.err = err
			p.buf = nil
			return err
		}
		if n == 0 {
			break
		}
		p.frames++
		err = emit(&p.frame)
		off += n
		p.endFrame()
		if err != nil {
			p.err = err
			p.buf = nil
			return err
		}
	}
	rest := data[off:]
	switch {
	case len(rest) == 0 && cap(p.buf) > maxRetain:
		p.buf = nil
	case fromBuf:
		n := copy(p.buf, rest)
		p.buf = p.buf[:n]
	default:
		p.buf = append(p.buf[:0], rest...)
	}
	return nil
}

func (p *Parser) startFrame() {
	p.ph = phaseHeaders
	p.lineStart, p.scan, p.lines, p.bodyStart, p.clen = 0, 0, 0, 0, -1
}

func (p *Parser) endFrame() {
	p.ph = phaseIdle
	clear(p.frame.Headers) // drop references to the header block
	p.frame = Frame{Headers: p.frame.Headers[:0]}
}

// next continues the frame that starts at d[0]. It returns the frame's
// length (through the NUL) once the frame is complete, 0 when it needs
// more bytes.
func (p *Parser) next(d []byte) (int, error) {
	maxFrame := p.lim.MaxFrameSize
	if p.ph == phaseHeaders {
		for {
			// The LF that ends this line must lie within MaxHeaderLine
			// bytes of its start, and before the frame limit.
			lineEnd := p.lineStart + p.lim.MaxHeaderLine + 1
			end := min(lineEnd, maxFrame)
			avail := min(end, len(d))
			i := bytes.IndexByte(d[p.scan:avail], '\n')
			if i < 0 {
				p.scan = avail
				if len(d) < end {
					return 0, nil
				}
				if lineEnd <= maxFrame {
					return 0, fmt.Errorf("%w: line %d exceeds %d bytes", ErrHeaderLineTooLong, p.lines+1, p.lim.MaxHeaderLine)
				}
				return 0, fmt.Errorf("%w: headers exceed %d bytes", ErrFrameTooLarge, maxFrame)
			}
			lf := p.scan + i
			line := d[p.lineStart:lf]
			p.lineStart, p.scan = lf+1, lf+1
			if p.lines > 0 && (len(line) == 0 || (len(line) == 1 && line[0] == '\r')) {
				// The blank line: headers end, the body starts.
				p.bodyStart = lf + 1
				if err := p.parseHeaders(d[:p.lineStart-1-len(line)]); err != nil {
					return 0, err
				}
				p.ph = phaseBody
				p.scan = p.bodyStart
				break
			}
			p.lines++
			if p.lines-1 > p.lim.MaxHeaders {
				return 0, fmt.Errorf("%w: more than %d", ErrTooManyHeaders, p.lim.MaxHeaders)
			}
		}
	}
	// phaseBody
	if p.clen >= 0 {
		end := p.bodyStart + p.clen // index of the NUL
		if len(d) <= end {
			return 0, nil
		}
		if d[end] != 0 {
			return 0, fmt.Errorf("%w: byte %d after a body of content-length %d", ErrMissingNUL, d[end], p.clen)
		}
		p.frame.Body = d[p.bodyStart:end:end]
		return end + 1, nil
	}
	bodyEnd := p.bodyStart + p.lim.MaxBodySize + 1 // the NUL must come before
	end := min(bodyEnd, maxFrame)
	avail := min(end, len(d))
	i := bytes.IndexByte(d[p.scan:avail], 0)
	if i < 0 {
		p.scan = avail
		if len(d) < end {
			return 0, nil
		}
		if bodyEnd <= maxFrame {
			return 0, fmt.Errorf("%w: no NUL within %d bytes", ErrBodyTooLarge, p.lim.MaxBodySize)
		}
		return 0, fmt.Errorf("%w: no NUL within %d bytes", ErrFrameTooLarge, maxFrame)
	}
	nul := p.scan + i
	p.frame.Body = d[p.bodyStart:nul:nul]
	return nul + 1, nil
}

// parseHeaders decodes the command and header lines in block (without the
// blank line) into p.frame and sets p.clen. The whole block becomes one
// string, so that the header keys and values are substrings of it: one
// allocation per frame however many headers it has, plus one per value
// that actually holds an escape.
func (p *Parser) parseHeaders(block []byte) error {
	s := string(block)
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		i = len(s) // a frame with no header lines
	}
	cmd := strings.TrimRight(s[:i], "\r")
	if cmd == "" {
		return fmt.Errorf("%w: empty command", ErrMalformedHeader)
	}
	p.frame.Command = internCommand(cmd)
	esc := EscapingFor(cmd, p.version)
	stripCR := StripsCR(p.version)
	s = s[min(i+1, len(s)):]
	hs := p.frame.Headers[:0]
	for n := 1; len(s) > 0; n++ {
		var line string
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			line, s = s[:j], s[j+1:]
		} else {
			line, s = s, ""
		}
		if stripCR {
			// EOL is [CR] LF; a raw CR cannot end a 1.2 value (it is
			// escaped as \r), so every trailing CR is line ending.
			line = strings.TrimRight(line, "\r")
		}
		c := strings.IndexByte(line, ':')
		if c < 0 {
			p.frame.Headers = hs
			return fmt.Errorf("%w: line %d has no colon", ErrMalformedHeader, n+1)
		}
		k, err := unescape(line[:c], esc)
		if err != nil {
			p.frame.Headers = hs
			return fmt.Errorf("line %d: %w", n+1, err)
		}
		v, err := unescape(line[c+1:], esc)
		if err != nil {
			p.frame.Headers = hs
			return fmt.Errorf("line %d: %w", n+1, err)
		}
		hs = append(hs, Header{k, v})
		if p.clen < 0 && k == "content-length" {
			// The first entry wins (STOMP 1.2 "Repeated Header Entries").
			cl, err := parseContentLength(v, p.lim.MaxBodySize)
			if err != nil {
				p.frame.Headers = hs
				return err
			}
			p.clen = cl
		}
	}
	p.frame.Headers = hs
	if p.clen >= 0 && p.bodyStart+p.clen+1 > p.lim.MaxFrameSize {
		return fmt.Errorf("%w: content-length %d makes a frame over %d bytes", ErrFrameTooLarge, p.clen, p.lim.MaxFrameSize)
	}
	return nil
}

// parseContentLength parses a decimal octet count; it checks max before
// the value can overflow. Spaces and tabs around the digits are accepted
// (STOMP 1.0 examples pad header values).
func parseContentLength(v string, max int) (int, error) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return 0, fmt.Errorf("%w: empty", ErrBadContentLength)
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadContentLength, v)
		}
		n = n*10 + int(c-'0')
		if n > max {
			return 0, fmt.Errorf("%w: content-length %s exceeds %d", ErrBodyTooLarge, v, max)
		}
	}
	return n, nil
}

// internCommand returns the constant for a known command (so a frame kept
// past emit does not pin its header block through Command alone).
func internCommand(c string) string {
	switch c {
	case SEND:
		return SEND
	case ACK:
		return ACK
	case NACK:
		return NACK
	case SUBSCRIBE:
		return SUBSCRIBE
	case UNSUBSCRIBE:
		return UNSUBSCRIBE
	case BEGIN:
		return BEGIN
	case COMMIT:
		return COMMIT
	case ABORT:
		return ABORT
	case CONNECT:
		return CONNECT
	case STOMP:
		return STOMP
	case DISCONNECT:
		return DISCONNECT
	case MESSAGE:
		return MESSAGE
	case RECEIPT:
		return RECEIPT
	case ERROR:
		return ERROR
	case CONNECTED:
		return CONNECTED
	}
	return c
}

// unescape decodes header escapes (STOMP 1.2 and 1.1 "Value Encoding").
func unescape(s string, esc Escaping) (string, error) {
	if esc == EscapeNone || strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%w: trailing backslash", ErrBadEscape)
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'c':
			b.WriteByte(':')
		case '\\':
			b.WriteByte('\\')
		case 'r':
			if esc != Escape12 {
				return "", fmt.Errorf("%w: \\r is not defined before STOMP 1.2", ErrBadEscape)
			}
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("%w: \\%c", ErrBadEscape, s[i])
		}
	}
	return b.String(), nil
}
