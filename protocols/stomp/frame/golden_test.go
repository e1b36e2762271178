package frame

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// golden is one wire case. The table feeds the decode tests, the encode
// tests and the fuzz seeds.
type golden struct {
	name   string
	v      Version
	lim    Limits // zero: defaults
	raw    string
	frames []*Frame
	err    error // expected after the frames, if any
	// enc is the encoding of frames when it differs from raw (raw is not
	// canonical: CRLF, padding EOLs, heart-beats); "-" skips the encode test.
	enc string
}

func fr(cmd string, body string, kv ...string) *Frame {
	f := New(cmd, kv...)
	if f.Headers == nil {
		f.Headers = []Header{}
	}
	f.Body = []byte(body)
	return f
}

var small = Limits{MaxFrameSize: 64, MaxBodySize: 16, MaxHeaders: 3, MaxHeaderLine: 20}

var goldens = []golden{
	{name: "connect 1.2", raw: "CONNECT\naccept-version:1.2\nhost:h\n\n\x00",
		frames: []*Frame{fr(CONNECT, "", "accept-version", "1.2", "host", "h")}},
	{name: "connect crlf", raw: "CONNECT\r\naccept-version:1.0,1.1,1.2\r\nlogin:a:b\r\n\r\n\x00\r\n",
		frames: []*Frame{fr(CONNECT, "", "accept-version", "1.0,1.1,1.2", "login", "a:b")},
		enc:    "CONNECT\naccept-version:1.0,1.1,1.2\nlogin:a:b\n\n\x00"},
	{name: "connect not unescaped", v: V12, raw: "CONNECT\npasscode:a\\cb\\\\\n\n\x00",
		frames: []*Frame{fr(CONNECT, "", "passcode", `a\cb\\`)}},
	{name: "stomp 1.0 no headers", raw: "STOMP\n\n\x00", frames: []*Frame{fr(STOMP, "")}},
	{name: "send with content-length and NUL in body", v: V12,
		raw:    "SEND\ndestination:/queue/a\ncontent-length:5\n\na\x00b\x00c\x00",
		frames: []*Frame{fr(SEND, "a\x00b\x00c", "destination", "/queue/a", "content-length", "5")}},
	{name: "send without content-length", v: V12, raw: "SEND\ndestination:/topic/x\n\nhello\x00",
		frames: []*Frame{fr(SEND, "hello", "destination", "/topic/x")}},
	{name: "heart-beats and EOLs between frames", v: V12,
		raw:    "\n\r\n\nBEGIN\ntransaction:t\n\n\x00\n\n\r\nCOMMIT\ntransaction:t\n\n\x00\n",
		frames: []*Frame{fr(BEGIN, "", "transaction", "t"), fr(COMMIT, "", "transaction", "t")},
		enc:    "BEGIN\ntransaction:t\n\n\x00COMMIT\ntransaction:t\n\n\x00"},
	{name: "1.2 escapes", v: V12, raw: "SEND\nk\\c1:a\\nb\\rc\\\\d\\ce\n\n\x00",
		frames: []*Frame{fr(SEND, "", "k:1", "a\nb\rc\\d:e")}},
	{name: "1.2 crlf lines", v: V12, raw: "ACK\r\nid:7\r\n\r\n\x00",
		frames: []*Frame{fr(ACK, "", "id", "7")}, enc: "ACK\nid:7\n\n\x00"},
	{name: "1.1 escapes", v: V11, raw: "SEND\nk:a\\nb\\c\\\\\n\n\x00",
		frames: []*Frame{fr(SEND, "", "k", "a\nb:\\")}},
	{name: "1.1 keeps CR", v: V11, raw: "SEND\nk:v\r\n\n\x00",
		frames: []*Frame{fr(SEND, "", "k", "v\r")}},
	{name: "1.1 rejects \\r", v: V11, raw: "SEND\nk:\\r\n\n\x00", err: ErrBadEscape},
	{name: "1.2 rejects \\t", v: V12, raw: "SEND\nk:\\t\n\n\x00", err: ErrBadEscape},
	{name: "1.2 rejects trailing backslash", v: V12, raw: "SEND\nk:a\\\n\n\x00", err: ErrBadEscape},
	{name: "1.0 no escaping", v: V10, raw: "SEND\ndestination: /queue/a\nk:a\\nb:c\n\n\x00",
		frames: []*Frame{fr(SEND, "", "destination", " /queue/a", "k", `a\nb:c`)}},
	{name: "repeated headers kept in order", v: V12, raw: "SEND\nfoo:World\nfoo:Hello\n\n\x00",
		frames: []*Frame{fr(SEND, "", "foo", "World", "foo", "Hello")}},
	{name: "first content-length wins", v: V12, raw: "SEND\ncontent-length:2\ncontent-length:9\n\nab\x00",
		frames: []*Frame{fr(SEND, "ab", "content-length", "2", "content-length", "9")}},
	{name: "empty value and key", v: V12, raw: "SEND\na:\n:b\n\n\x00",
		frames: []*Frame{fr(SEND, "", "a", "", "", "b")}},
	{name: "unknown command is parsed", v: V12, raw: "FOO\n\n\x00", frames: []*Frame{fr("FOO", "")}},
	{name: "header without colon", v: V12, raw: "SEND\nnocolon\n\n\x00", err: ErrMalformedHeader},
	{name: "empty command", v: V12, raw: "\r\r\n\n\x00", err: ErrMalformedHeader},
	{name: "bad content-length", v: V12, raw: "SEND\ncontent-length:-1\n\n\x00", err: ErrBadContentLength},
	{name: "content-length then no NUL", v: V12, raw: "SEND\ncontent-length:1\n\nab\x00", err: ErrMissingNUL},
	{name: "content-length over body limit", v: V12, lim: small,
		raw: "SEND\ncontent-length:17\n\n", err: ErrBodyTooLarge},
	{name: "huge content-length", v: V12,
		raw: "SEND\ncontent-length:1073741824\n\nabc", err: ErrBodyTooLarge},
	{name: "content-length over frame limit", v: V12, lim: small,
		raw: "SEND\ncontent-length:16\nxxxxxxxxxxxxxxxx:y\nyyyyyyyyyyyyy:z\n\n", err: ErrFrameTooLarge},
	{name: "body without NUL over body limit", v: V12, lim: small,
		raw: "SEND\n\n0123456789abcdefg", err: ErrBodyTooLarge},
	{name: "body of exactly the limit", v: V12, lim: small,
		raw: "SEND\n\n0123456789abcdef\x00", frames: []*Frame{fr(SEND, "0123456789abcdef")}},
	{name: "header line too long", v: V12, lim: small,
		raw: "SEND\nk:0123456789abcdefghij\n\n\x00", err: ErrHeaderLineTooLong},
	{name: "header line of exactly the limit", v: V12, lim: small,
		raw: "SEND\nk:0123456789abcdefgh\n\n\x00", frames: []*Frame{fr(SEND, "", "k", "0123456789abcdefgh")}},
	{name: "garbage without LF", v: V12, lim: small,
		raw: "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16", err: ErrHeaderLineTooLong},
	{name: "too many headers", v: V12, lim: small, raw: "SEND\na:1\nb:2\nc:3\nd:4\n\n\x00", err: ErrTooManyHeaders},
	{name: "headers over frame limit", v: V12, lim: small,
		raw: "SEND\na:0123456789abcdefg\nb:0123456789abcdef\nc:0123456789abcdef\n\n\x00", err: ErrFrameTooLarge},
	{name: "frame then error", v: V12, raw: "BEGIN\ntransaction:1\n\n\x00SEND\nbad\n\n\x00",
		frames: []*Frame{fr(BEGIN, "", "transaction", "1")}, err: ErrMalformedHeader, enc: "-"},
	{name: "message with everything", v: V12,
		raw: "MESSAGE\ndestination:/topic/a/b\nmessage-id:m1\nsubscription:0\nack:1\ncontent-type:text/plain\ncontent-length:2\n\nhi\x00",
		frames: []*Frame{fr(MESSAGE, "hi", "destination", "/topic/a/b", "message-id", "m1", "subscription", "0", "ack", "1",
			"content-type", "text/plain", "content-length", "2")}},
}

// parseAll feeds raw to a fresh parser in pieces cut at the given offsets
// and returns clones of the frames and the error.
func parseAll(lim Limits, v Version, raw []byte, cuts ...int) ([]*Frame, error) {
	p := NewParser(lim)
	p.SetVersion(v)
	var out []*Frame
	emit := func(f *Frame) error {
		out = append(out, f.Clone())
		return nil
	}
	prev := 0
	for _, c := range cuts {
		c = max(prev, min(c, len(raw)))
		if err := p.Feed(raw[prev:c], emit); err != nil {
			return out, err
		}
		prev = c
	}
	return out, p.Feed(raw[prev:], emit)
}

func sameFrames(a, b []*Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFrame(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameFrame(a, b *Frame) bool {
	ha, hb := a.Headers, b.Headers
	if len(ha) == 0 && len(hb) == 0 {
		ha, hb = nil, nil
	}
	return a.Command == b.Command && reflect.DeepEqual(ha, hb) && bytes.Equal(a.Body, b.Body)
}

func dump(fs []*Frame) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func TestDecodeGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			raw := []byte(g.raw)
			check := func(how string, got []*Frame, err error) {
				t.Helper()
				if !sameFrames(got, g.frames) {
					t.Fatalf("%s: frames\n got %s\nwant %s", how, dump(got), dump(g.frames))
				}
				if g.err == nil && err != nil || g.err != nil && !errors.Is(err, g.err) {
					t.Fatalf("%s: error %v, want %v", how, err, g.err)
				}
			}
			got, err := parseAll(g.lim, g.v, raw)
			check("whole", got, err)
			for cut := 0; cut <= len(raw); cut++ {
				got, err := parseAll(g.lim, g.v, raw, cut)
				check("split", got, err)
			}
			cuts := make([]int, len(raw))
			for i := range cuts {
				cuts[i] = i
			}
			got, err = parseAll(g.lim, g.v, raw, cuts...)
			check("byte at a time", got, err)
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, g := range goldens {
		if g.err != nil || g.enc == "-" {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			want := g.enc
			if want == "" {
				want = g.raw
			}
			var got []byte
			for _, f := range g.frames {
				got = AppendFrame(got, f, g.v)
			}
			if string(got) != want {
				t.Fatalf("encode\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestEncodeEscaping(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *Frame
		v    Version
		want string
	}{
		{"1.2 escapes", fr(MESSAGE, "", "a:b", "c\r\n\\"), V12, "MESSAGE\na\\cb:c\\r\\n\\\\\n\n\x00"},
		{"1.1 leaves CR", fr(MESSAGE, "", "a", "c\r\n:"), V11, "MESSAGE\na:c\r\\n\\c\n\n\x00"},
		{"1.0 keeps the framing", fr(MESSAGE, "", "a:b\n", "c\nd:e"), V10, "MESSAGE\na_b :c d:e\n\n\x00"},
		{"CONNECTED not escaped", fr(CONNECTED, "", "server", "x:y\\z"), V12, "CONNECTED\nserver:x:y\\z\n\n\x00"},
		{"CONNECTED drops trailing CR", fr(CONNECTED, "", "session", "s\r"), V12, "CONNECTED\nsession:s\n\n\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendFrame(nil, tc.f, tc.v))
			if got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
}

func TestParserStickyError(t *testing.T) {
	p := NewParser(Limits{})
	p.SetVersion(V12)
	err := p.Feed([]byte("SEND\nx\n\n\x00"), func(*Frame) error { return nil })
	if !errors.Is(err, ErrMalformedHeader) {
		t.Fatal(err)
	}
	if err2 := p.Feed([]byte("SEND\n\n\x00"), func(*Frame) error { t.Fatal("emit after error"); return nil }); err2 != err {
		t.Fatalf("second Feed: %v", err2)
	}
}

func TestParserEmitError(t *testing.T) {
	stop := errors.New("stop")
	p := NewParser(Limits{})
	n := 0
	err := p.Feed([]byte("A\n\n\x00B\n\n\x00"), func(*Frame) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d frames", err, n)
	}
}

// TestParserBoundedBuffer checks that a lying content-length costs only
// the bytes that arrived.
func TestParserBoundedBuffer(t *testing.T) {
	p := NewParser(Limits{})
	p.SetVersion(V12)
	err := p.Feed([]byte("SEND\ncontent-length:1000000\n\nabc"), func(*Frame) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := cap(p.buf); c > 4096 {
		t.Fatalf("buffer capacity %d after 3 body bytes", c)
	}
	if !p.Pending() {
		t.Fatal("not pending")
	}
}

func TestParserReleasesBigBuffer(t *testing.T) {
	p := NewParser(Limits{})
	body := strings.Repeat("x", 200<<10)
	raw := []byte("SEND\n\n" + body + "\x00")
	var got int
	emit := func(f *Frame) error { got = len(f.Body); return nil }
	if err := p.Feed(raw[:10], emit); err != nil {
		t.Fatal(err)
	}
	if err := p.Feed(raw[10:], emit); err != nil {
		t.Fatal(err)
	}
	if got != len(body) || p.buf != nil {
		t.Fatalf("body %d, buffer cap %d", got, cap(p.buf))
	}
}

func TestVersionSwitchInsideFeed(t *testing.T) {
	// The session sets the version while handling CONNECT; the SEND that
	// follows in the same read must be parsed with 1.2 escaping.
	p := NewParser(Limits{})
	var got []*Frame
	err := p.Feed([]byte("CONNECT\naccept-version:1.2\n\n\x00SEND\nk:a\\cb\n\n\x00"), func(f *Frame) error {
		if IsConnect(f.Command) {
			p.SetVersion(V12)
		}
		got = append(got, f.Clone())
		return nil
	})
	if err != nil || len(got) != 2 || got[1].Value("k") != "a:b" {
		t.Fatalf("%v %s", err, dump(got))
	}
}
