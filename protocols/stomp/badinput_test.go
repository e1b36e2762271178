package stomp

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBadInput sends each kind of bad input on its own raw connection and
// checks the ERROR frame (or the close), the log line, and that a
// well-behaved client on another connection is unaffected.
func TestBadInput(t *testing.T) {
	logs := &syncBuffer{}
	b := newBroker(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		c.MaxHeaderLine = 1024
		c.MaxHeaders = 16
		c.MaxBodySize = 64 << 10
		c.MaxFrameSize = 80 << 10
		c.FrameTimeout = 300 * time.Millisecond
		c.ConnectTimeout = 500 * time.Millisecond
	})
	good := b.dial(t)
	s, err := good.Subscribe("/queue/good", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		connect string // "" means CONNECT 1.2 first; "-" means none
		input   string
		msg     string // the ERROR message header
		log     string // expected in the log
	}{
		{"garbage before CONNECT", "-", "\x01\x02garbage\r\nfoo:bar\n\n\x00", msgNotConnected, "protocol error"},
		{"SEND before CONNECT", "-", "SEND\ndestination:/queue/a\n\nx\x00", msgNotConnected, "protocol error"},
		{"endless garbage line", "-", strings.Repeat("x", 2000), msgFrameTooLarge, "header line too long"},
		{"binary garbage", "", string(randomBytes(4096)), msgFrameTooLarge, "protocol error"},
		{"no NUL after content-length", "", "SEND\ndestination:/queue/a\ncontent-length:2\n\nabcdef\x00", msgMalformed, "frame not terminated by NUL"},
		{"oversized content-length", "", "SEND\ndestination:/queue/a\ncontent-length:1073741824\n\nabc", msgFrameTooLarge, "body too large"},
		{"invalid content-length", "", "SEND\ndestination:/queue/a\ncontent-length:12x\n\nabc\x00", msgMalformed, "invalid content-length"},
		{"lying content-length", "", "SEND\ndestination:/queue/a\ncontent-length:100\n\nabc", msgTimeout, "frame not completed"},
		{"body without NUL over the limit", "", "SEND\ndestination:/queue/a\n\n" + strings.Repeat("y", 70<<10), msgFrameTooLarge, "body too large"},
		{"too many headers", "", "SEND\n" + strings.Repeat("h:v\n", 17) + "\n\x00", msgFrameTooLarge, "too many headers"},
		{"undefined escape", "", "SEND\ndestination:/queue/a\nk:\\t\n\n\x00", msgMalformed, "undefined escape"},
		{"unknown command", "", "FLY\n\n\x00", msgUnknownCommand, "protocol error"},
		{"server command from client", "", "MESSAGE\ndestination:/queue/a\n\n\x00", msgUnknownCommand, "protocol error"},
		{"second CONNECT", "", "CONNECT\naccept-version:1.2\n\n\x00", msgMalformed, "already connected"},
		{"SEND without destination", "", "SEND\nreceipt:9\n\nx\x00", msgMissingHeader, "SEND without a destination"},
		{"SEND to an unknown prefix", "", "SEND\ndestination:/exchange/x\n\nx\x00", msgDestination, "destination must start"},
		{"SEND with a wildcard", "", "SEND\ndestination:/topic/a/+\n\nx\x00", msgDestination, "wildcard"},
		{"bad priority", "", "SEND\ndestination:/topic/a\npriority:high\n\nx\x00", msgBadHeader, "priority"},
		{"SUBSCRIBE without id", "", "SUBSCRIBE\ndestination:/queue/a\n\n\x00", msgMissingHeader, "without an id"},
		{"SUBSCRIBE with a bad ack mode", "", "SUBSCRIBE\nid:1\ndestination:/queue/a\nack:sometimes\n\n\x00", msgBadHeader, "ack"},
		{"SUBSCRIBE with a bad filter", "", "SUBSCRIBE\nid:1\ndestination:/topic/a/#/b\n\n\x00", msgDestination, "wildcard"},
		{"duplicate subscription id", "", "SUBSCRIBE\nid:1\ndestination:/topic/a\n\n\x00SUBSCRIBE\nid:1\ndestination:/topic/b\n\n\x00", msgSubscription, "already in use"},
		{"UNSUBSCRIBE unknown", "", "UNSUBSCRIBE\nid:7\n\n\x00", msgSubscription, "no subscription"},
		{"ACK of an unknown id", "", "ACK\nid:12345\n\n\x00", msgUnknownAck, "no unacknowledged message"},
		{"NACK of an unknown id", "", "NACK\nid:12345\n\n\x00", msgUnknownAck, "no unacknowledged message"},
		{"COMMIT unknown transaction", "", "COMMIT\ntransaction:nope\n\n\x00", msgTransaction, "no transaction"},
		{"BEGIN twice", "", "BEGIN\ntransaction:t\n\n\x00BEGIN\ntransaction:t\n\n\x00", msgTransaction, "already open"},
		{"BEGIN without id", "", "BEGIN\n\n\x00", msgMissingHeader, "without a transaction"},
		{"bad heart-beat", "-", "CONNECT\naccept-version:1.2\nheart-beat:fast\n\n\x00", msgBadHeader, "heart-beat"},
		{"CONNECT never completed", "-", "CONNECT\naccept-version:1.2\n", msgTimeout, "CONNECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.raw(t)
			if tc.connect == "" {
				r.connect("accept-version:1.2")
			}
			r.send(tc.input)
			f := r.expectError(tc.msg)
			if strings.Contains(tc.input, "receipt:9") && f.Value(hReceiptID) != "9" {
				t.Fatalf("ERROR without receipt-id: %s", f)
			}
			eventually(t, "log line "+tc.log, func() bool { return strings.Contains(logs.String(), tc.log) })
		})
	}
	// The well-behaved client saw none of it.
	if err := good.Send("/queue/good", "", []byte("still here"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s); string(m.Body) != "still here" {
		t.Fatalf("got %q", m.Body)
	}
	// The last case's error may be counted just after its ERROR frame
	// reached the client.
	eventually(t, "30 protocol errors counted", func() bool { return b.srv.Stats().Errors >= 30 })
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
		if b[i] == '\n' || b[i] == 0 {
			b[i] = 'z' // one endless line
		}
	}
	return b
}

// TestByteAtATime drives a whole session one byte per write.
func TestByteAtATime(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.nc.(interface{ SetNoDelay(bool) error }).SetNoDelay(true)
	script := "CONNECT\r\naccept-version:1.2\r\n\r\n\x00\n" +
		"SUBSCRIBE\nid:0\ndestination:/topic/b\n\n\x00\r\n" +
		"SEND\ndestination:/topic/b\ncontent-length:3\nk:a\\cb\n\na\x00b\x00"
	for i := range len(script) {
		r.send(script[i : i+1])
	}
	if f := r.read(); f.Command != frame.CONNECTED {
		t.Fatalf("got %s", f)
	}
	m := r.read()
	if m.Command != frame.MESSAGE || string(m.Body) != "a\x00b" || m.Value("k") != "a:b" {
		t.Fatalf("got %s", m)
	}
}

// TestFrameTimeoutIsPerFrame streams frames back to back so that every
// read ends inside one: the frame timeout must restart with each frame.
func TestFrameTimeoutIsPerFrame(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.FrameTimeout = 300 * time.Millisecond })
	r := b.raw(t)
	r.connect("accept-version:1.2")
	one := "SEND\ndestination:/topic/nobody\n\n" + strings.Repeat("x", 100<<10) + "\x00"
	stream := strings.Repeat(one, 8)
	const chunk = 30 << 10 // misaligned with the frames
	for i := 0; i < len(stream); i += chunk {
		r.send(stream[i:min(i+chunk, len(stream))])
		time.Sleep(40 * time.Millisecond)
	}
	r.send("DISCONNECT\nreceipt:ok\n\n\x00")
	if f := r.read(); f.Command != frame.RECEIPT {
		t.Fatalf("got %s", f)
	}
}
