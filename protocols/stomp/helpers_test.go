package stomp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"go.uber.org/goleak"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allowAll is the trivial auth.Service of these tests: everyone may
// connect; deny, when set, refuses actions on matching patterns.
type allowAll struct {
	deny func(auth.Action, address.Pattern) bool
	// password, when set, is required of every login.
	password string
}

func (a allowAll) Authenticate(_ context.Context, c auth.Credentials) (auth.Identity, error) {
	if a.password != "" && string(c.Password) != a.password {
		return auth.Identity{}, auth.ErrBadCredentials
	}
	return auth.Identity{User: c.Username, Anonymous: !c.HasUsername, ClientID: c.ClientID}, nil
}

func (a allowAll) Authorize(_ auth.Identity, act auth.Action, p address.Pattern) bool {
	return a.deny == nil || !a.deny(act, p)
}

type testBroker struct {
	srv  *Server
	x    *exchange.Exchange
	addr string
	done chan error // Serve's result
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("STOMP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newBroker starts an exchange and a STOMP server on 127.0.0.1:0; cleanup
// shuts both down.
func newBroker(t testing.TB, mod func(*Config)) *testBroker {
	t.Helper()
	return newBrokerX(t, exchange.Config{}, mod)
}

// newBrokerX is newBroker with an exchange configuration.
func newBrokerX(t testing.TB, xcfg exchange.Config, mod func(*Config)) *testBroker {
	t.Helper()
	x, err := exchange.New(context.Background(), xcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Exchange: x, Auth: allowAll{}, Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBroker{srv: srv, x: x, addr: l.Addr().String(), done: make(chan error, 1)}
	go func() { b.done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-b.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		if err := x.Close(ctx); err != nil {
			t.Errorf("exchange close: %v", err)
		}
	})
	return b
}

// dial connects a go-stomp client; cleanup disconnects it.
func (b *testBroker) dial(t testing.TB, opts ...func(*stomp.Conn) error) *stomp.Conn {
	t.Helper()
	opts = append([]func(*stomp.Conn) error{
		stomp.ConnOpt.HeartBeat(0, 0),
		// Generous: under -race with every package's tests at once on 2
		// cores a receipt has been seen to take over 5 s.
		stomp.ConnOpt.UnsubscribeReceiptTimeout(15 * time.Second),
		stomp.ConnOpt.DisconnectReceiptTimeout(15 * time.Second),
		stomp.ConnOpt.RcvReceiptTimeout(15 * time.Second),
		stomp.ConnOpt.Logger(quietLogger{}),
	}, opts...)
	c, err := stomp.Dial("tcp", b.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect() })
	return c
}

// raw is a client on a plain socket, for what go-stomp cannot send.
type raw struct {
	t  testing.TB
	nc net.Conn
	p  *frame.Parser
	q  []*frame.Frame
}

func (b *testBroker) raw(t testing.TB) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p := frame.NewParser(frame.Limits{MaxFrameSize: 64 << 20, MaxBodySize: 32 << 20})
	p.SetVersion(frame.V12)
	return &raw{t: t, nc: nc, p: p}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.nc.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// connect sends CONNECT with extra header lines and expects CONNECTED.
func (r *raw) connect(headers ...string) *frame.Frame {
	r.t.Helper()
	r.send("CONNECT\n" + strings.Join(append(headers, ""), "\n") + "\n\x00")
	f := r.read()
	if f.Command != frame.CONNECTED {
		r.t.Fatalf("got %s, want CONNECTED", f)
	}
	return f
}

// next returns the next frame, or nil and the error (EOF, timeout).
func (r *raw) next(timeout time.Duration) (*frame.Frame, error) {
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(timeout)
	for len(r.q) == 0 {
		_ = r.nc.SetReadDeadline(deadline)
		n, err := r.nc.Read(buf)
		if n > 0 {
			if perr := r.p.Feed(buf[:n], func(f *frame.Frame) error {
				r.q = append(r.q, f.Clone())
				return nil
			}); perr != nil {
				return nil, perr
			}
		}
		if err != nil && len(r.q) == 0 {
			return nil, err
		}
	}
	f := r.q[0]
	r.q = r.q[1:]
	return f, nil
}

func (r *raw) read() *frame.Frame {
	r.t.Helper()
	f, err := r.next(5 * time.Second)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return f
}

// expectError reads an ERROR with the given message header and then the
// end of the connection.
func (r *raw) expectError(msg string) *frame.Frame {
	r.t.Helper()
	f := r.read()
	if f.Command != frame.ERROR || f.Value(hMessage) != msg {
		r.t.Fatalf("got %s, want ERROR %q", f, msg)
	}
	r.expectClosed()
	return f
}

func (r *raw) expectClosed() {
	r.t.Helper()
	for {
		f, err := r.next(5 * time.Second)
		if err == nil {
			r.t.Fatalf("unexpected frame %s", f)
		}
		if errors.Is(err, io.EOF) || isReset(err) {
			return
		}
		r.t.Fatalf("want the connection closed, got %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// recv reads one message from a subscription within a timeout.
func recv(t testing.TB, s *stomp.Subscription) *stomp.Message {
	t.Helper()
	select {
	case m, ok := <-s.C:
		if !ok {
			t.Fatal("subscription closed")
		}
		if m.Err != nil {
			t.Fatalf("subscription error: %v", m.Err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return nil
}

// none checks that nothing arrives on s for d.
func none(t testing.TB, s *stomp.Subscription, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.C:
		if m.Err != nil {
			t.Fatalf("subscription error: %v", m.Err)
		}
		t.Fatalf("unexpected message %q on %s", m.Body, m.Destination)
	case <-time.After(d):
	}
}

// eventually polls cond for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// barrier returns once the server has processed every frame c sent
// before it: a RECEIPT answers frames in order. (go-stomp cannot take a
// receipt header on SUBSCRIBE: it closes the subscription's channel when
// the RECEIPT comes.)
func barrier(t testing.TB, c *stomp.Conn) {
	t.Helper()
	if err := c.Begin().AbortWithReceipt(); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

// quietLogger silences go-stomp's logging.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any)   {}
func (quietLogger) Infof(string, ...any)    {}
func (quietLogger) Warningf(string, ...any) {}
func (quietLogger) Errorf(string, ...any)   {}
func (quietLogger) Debug(string)            {}
func (quietLogger) Info(string)             {}
func (quietLogger) Warning(string)          {}
func (quietLogger) Error(string)            {}

// unsubscribe unsubscribes s and, when its receipt does not come, fails
// with every goroutine's stack: a rare hang of the UNSUBSCRIBE receipt
// under a loaded CI has not been reproduced otherwise.
func unsubscribe(t testing.TB, s *stomp.Subscription) {
	t.Helper()
	if err := s.Unsubscribe(); err != nil {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("unsubscribe: %v\ngoroutines:\n%s", err, buf)
	}
}
