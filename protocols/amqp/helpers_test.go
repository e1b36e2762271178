package amqp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"go.uber.org/goleak"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allowAll is the trivial auth.Service of these tests: everyone may
// connect; deny, when set, refuses actions on matching patterns.
type allowAll struct {
	deny func(auth.Action, address.Pattern) bool
	// password, when set, is required of every login; noAnonymous refuses
	// clients without one.
	password    string
	noAnonymous bool
}

func (a allowAll) Authenticate(_ context.Context, c auth.Credentials) (auth.Identity, error) {
	if !c.HasUsername {
		if a.noAnonymous {
			return auth.Identity{}, auth.ErrAnonymous
		}
		return auth.Identity{Anonymous: true}, nil
	}
	if a.password != "" && string(c.Password) != a.password {
		return auth.Identity{}, auth.ErrBadCredentials
	}
	return auth.Identity{User: c.Username, ClientID: c.ClientID}, nil
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
	if os.Getenv("AMQP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newBroker starts an exchange and an AMQP server on 127.0.0.1:0; cleanup
// shuts both down.
func newBroker(t testing.TB, mod func(*Config)) *testBroker {
	t.Helper()
	return newBrokerX(t, exchange.Config{}, mod)
}

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

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a go-amqp client; cleanup closes it.
func (b *testBroker) dial(t testing.TB, opts *goamqp.ConnOptions) *goamqp.Conn {
	t.Helper()
	if opts == nil {
		opts = &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}
	}
	c, err := goamqp.Dial(ctxT(t), "amqp://"+b.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// session opens a session on a new connection.
func (b *testBroker) session(t testing.TB) *goamqp.Session {
	t.Helper()
	s, err := b.dial(t, nil).NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sender(t testing.TB, s *goamqp.Session, addr string, opts *goamqp.SenderOptions) *goamqp.Sender {
	t.Helper()
	snd, err := s.NewSender(ctxT(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

func receiver(t testing.TB, s *goamqp.Session, addr string, opts *goamqp.ReceiverOptions) *goamqp.Receiver {
	t.Helper()
	r, err := s.NewReceiver(ctxT(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func send(t testing.TB, s *goamqp.Sender, m *goamqp.Message) {
	t.Helper()
	if err := s.Send(ctxT(t), m, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func recv(t testing.TB, r *goamqp.Receiver) *goamqp.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := r.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return m
}

// noMessage checks that nothing arrives for a short while.
func noMessage(t testing.TB, r *goamqp.Receiver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if m, err := r.Receive(ctx, nil); err == nil {
		t.Fatalf("unexpected message %q", m.GetData())
	}
}

// eventually polls cond for up to 5 seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
