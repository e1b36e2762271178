package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/admin"
	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp"
	"github.com/rosettamq/rosetta/protocols/mqtt"
	"github.com/rosettamq/rosetta/protocols/stomp"
)

// mqttFrontEnd is what the app needs from *mqtt.Server; tests use a fake.
type mqttFrontEnd interface {
	http.Handler // /mqtt WebSocket
	Serve(net.Listener) error
	ServeTLS(net.Listener) error
	Shutdown(context.Context) error
	Stats() mqtt.Stats
}

// stompFrontEnd is what the app needs from *stomp.Server; tests use a fake.
type stompFrontEnd interface {
	http.Handler // /stomp WebSocket
	Serve(net.Listener) error
	ServeTLS(net.Listener) error
	Shutdown(context.Context) error
	Stats() stomp.Stats
}

// amqpFrontEnd is what the app needs from *amqp.Server; tests use a fake.
type amqpFrontEnd interface {
	http.Handler // /amqp WebSocket
	Serve(net.Listener) error
	ServeTLS(net.Listener) error
	Shutdown(context.Context) error
	Stats() amqp.Stats
}

// broker is what the app needs from *exchange.Exchange; tests use a fake.
type broker interface {
	Stats() exchange.Stats
	Queues() []exchange.QueueStats
	Lossy() []exchange.LossyCount
	Close(context.Context) error
}

// durableStore is what the app needs from the store: whether it still
// takes commits, for /readyz, and the last step of shutdown.
type durableStore interface {
	Ready() error
	Close() error
}

// app owns the listeners, the goroutines that serve them and the order in
// which everything stops. Its zero value is not usable; see newApp.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	mqtt    mqttFrontEnd
	stomp   stompFrontEnd
	amqp    amqpFrontEnd
	broker  broker
	metrics *metrics
	// store is closed last, after the exchange; nil with the memory
	// engine. Set before run.
	store durableStore
	// transform is closed after the exchange (its plugins are stopped);
	// nil in tests that build an app without one.
	transform interface{ Close(context.Context) error }

	// reloadC, when set, asks for reload to be called (SIGHUP).
	reloadC <-chan os.Signal
	reload  func() error

	// admin serves /api/v1/ and the dashboard at /; nil means neither.
	// Set before run.
	admin adminAPI

	ready atomic.Bool // listeners are up and shutdown has not begun

	// Set by start, read by run and shutdown on the same goroutine.
	listeners []net.Listener   // the protocol listeners, closed first on shutdown
	bound     []admin.Listener // every bound listener, set before any is served
	http      *http.Server
	wg        sync.WaitGroup // one per serving goroutine
	errc      chan error     // a serving goroutine that stopped unexpectedly
}

func newApp(cfg config.Config, log *slog.Logger, m mqttFrontEnd, s stompFrontEnd, am amqpFrontEnd, b broker) *app {
	return &app{cfg: cfg, log: log, mqtt: m, stomp: s, amqp: am, broker: b, metrics: newMetrics(b, m, s, am)}
}

// run starts every listener, serves until ctx ends or a listener fails,
// then shuts down. It returns nil after a clean shutdown that ctx asked
// for.
func (a *app) run(ctx context.Context) error {
	if err := a.start(); err != nil {
		a.log.Error("start failed; shutting down", "err", err)
		return errors.Join(err, a.shutdown())
	}
	a.ready.Store(true)
	stopSampler := a.startSampler()
	a.log.Info("rosetta ready")
	var cause error
loop:
	for {
		select {
		case <-ctx.Done():
			a.log.Info("shutdown requested", "timeout", a.cfg.ShutdownTimeout.String())
			break loop
		case err := <-a.errc:
			cause = err
			a.log.Error("listener failed; shutting down", "err", err)
			break loop
		case <-a.reloadC:
			if err := a.reload(); err != nil {
				a.log.Error("configuration reload failed; the running configuration stays", "err", err)
			}
		}
	}
	stopSampler()
	err := a.shutdown()
	if err == nil && cause == nil {
		a.log.Info("rosetta stopped")
	}
	return errors.Join(cause, err)
}

// start binds every enabled listener and starts serving. Binding all of
// them before serving any means a port clash fails the start cleanly.
func (a *app) start() error {
	a.errc = make(chan error, 8)
	type bound struct {
		name string
		l    net.Listener
	}
	var ls []bound
	for _, l := range a.cfg.EnabledListeners() {
		nl, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, b := range ls {
				_ = b.l.Close()
			}
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		ls = append(ls, bound{l.Name, nl})
	}
	for _, b := range ls {
		a.bound = append(a.bound, admin.Listener{Name: b.name, Addr: b.l.Addr().String()})
	}
	for _, b := range ls {
		// One parseable line per listener with the address actually
		// bound, which tells tests and operators the port chosen for ":0".
		a.log.Info("listening", "listener", b.name, "addr", b.l.Addr().String())
		switch b.name {
		case "mqtt":
			a.listeners = append(a.listeners, b.l)
			a.serveLoop(b.name, func() error { return a.mqtt.Serve(b.l) })
		case "mqtt_tls":
			a.listeners = append(a.listeners, b.l)
			a.serveLoop(b.name, func() error { return a.mqtt.ServeTLS(b.l) })
		case "stomp":
			a.listeners = append(a.listeners, b.l)
			a.serveLoop(b.name, func() error { return a.stomp.Serve(b.l) })
		case "stomp_tls":
			a.listeners = append(a.listeners, b.l)
			a.serveLoop(b.name, func() error { return a.stomp.ServeTLS(b.l) })
		case "amqp":
			a.listeners = append(a.listeners, b.l)
			a.serveLoop(b.name, func() error { return a.amqp.Serve(b.l) })
		case "amqp_tls":
			a.listeners = append(a.listeners, b.l)
			a.serveLoop(b.name, func() error { return a.amqp.ServeTLS(b.l) })
		case "http":
			a.http = &http.Server{
				Handler: a.handler(),
				// No WriteTimeout: it would cut WebSocket connections;
				// the MQTT, STOMP and AMQP sessions enforce their own
				// write deadlines.
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       2 * time.Minute,
				ErrorLog:          slog.NewLogLogger(a.log.With("listener", "http").Handler(), slog.LevelWarn),
			}
			a.serveLoop(b.name, func() error { return a.http.Serve(b.l) })
		}
	}
	return nil
}

// serveLoop runs serve on its own goroutine. An error other than the
// normal end after shutdown is reported on errc.
func (a *app) serveLoop(name string, serve func() error) {
	a.wg.Go(func() {
		err := serve()
		if err == nil || errors.Is(err, mqtt.ErrServerClosed) || errors.Is(err, stomp.ErrServerClosed) ||
			errors.Is(err, amqp.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) ||
			(errors.Is(err, net.ErrClosed) && !a.ready.Load()) {
			return
		}
		select {
		case a.errc <- fmt.Errorf("listener %s: %w", name, err):
		default: // a shutdown is already under way
		}
	})
}

// handler routes the HTTP listener.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	// Liveness: the process serves HTTP.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	// Readiness: every listener is up, the store (if any) takes commits
	// and shutdown has not begun, so a load balancer stops sending
	// clients as soon as shutdown starts.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !a.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		if a.store == nil {
			_, _ = w.Write([]byte("ready\n"))
			return
		}
		if err := a.store.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready\nstore: %v\n", err)
			return
		}
		_, _ = w.Write([]byte("ready\nstore: open\n"))
	})
	mux.Handle("GET /metrics", a.metrics.handler(a.log))
	mux.Handle("/mqtt", a.mqtt)
	mux.Handle("/stomp", a.stomp)
	mux.Handle("/amqp", a.amqp)
	if a.admin != nil {
		mux.Handle("/", a.admin) // /api/v1/ and the dashboard
	}
	return mux
}

// shutdown stops everything in order under one timeout: protocol
// listeners (no new connections), the MQTT sessions (DISCONNECT 0x8B to
// MQTT 5 clients), the STOMP sessions (an ERROR "server shutting down",
// over TCP and WebSocket alike), the AMQP connections (close with
// amqp:connection:forced, TCP, TLS and WebSocket alike), the HTTP server,
// the exchange, then the store. The sessions end before the exchange closes, so that their
// unacknowledged messages are released to their queues rather than cut
// off, and the exchange before the store, so that its last commits land.
// Every step runs even when an earlier one fails; the errors are joined.
// The store's Close is not bounded by the timeout: it finishes writing
// what was committed.
func (a *app) shutdown() error {
	a.ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, l := range a.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener %s: %w", l.Addr(), err))
		}
	}
	if err := a.mqtt.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("mqtt shutdown: %w", err))
	}
	if err := a.stomp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stomp shutdown: %w", err))
	}
	if err := a.amqp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("amqp shutdown: %w", err))
	}
	if a.http != nil {
		if err := a.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if err := a.broker.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("exchange close: %w", err))
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done: // both were ready; the goroutines did finish
		default:
			errs = append(errs, fmt.Errorf("listeners still serving after %v: %w", a.cfg.ShutdownTimeout, ctx.Err()))
		}
	}
	if a.transform != nil {
		// After the exchange: no delivery transforms any more. The plugins
		// are killed if they do not exit in time.
		if err := a.transform.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("transform close: %w", err))
		}
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Compile-time checks that the real types fit the interfaces.
var (
	_ mqttFrontEnd  = (*mqtt.Server)(nil)
	_ stompFrontEnd = (*stomp.Server)(nil)
	_ amqpFrontEnd  = (*amqp.Server)(nil)
	_ broker        = (*exchange.Exchange)(nil)
)
