package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp"
	"github.com/rosettamq/rosetta/protocols/mqtt"
	"github.com/rosettamq/rosetta/protocols/stomp"
)

// fakeServer stands in for a protocol front-end: Serve accepts and closes
// connections until Shutdown.
type fakeServer struct {
	name        string // "mqtt" or "stomp": recorded as <name>.Shutdown
	closedErr   error  // what Serve returns after Shutdown (the package's ErrServerClosed)
	rec         *recorder
	serveErr    error         // returned by Serve at once when set
	shutdownErr error         // returned by Shutdown
	blockShut   bool          // Shutdown waits for its context
	closed      chan struct{} // closed by Shutdown
	once        sync.Once
}

func (f *fakeServer) Serve(l net.Listener) error {
	if f.serveErr != nil {
		return f.serveErr
	}
	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-f.closed:
				return f.closedErr
			default:
				return err
			}
		}
		_ = c.Close()
	}
}

func (f *fakeServer) ServeTLS(l net.Listener) error { return f.Serve(l) }

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "fake "+f.name+" websocket")
}

func (f *fakeServer) Shutdown(ctx context.Context) error {
	f.rec.add(f.name + ".Shutdown")
	f.once.Do(func() { close(f.closed) })
	if f.blockShut {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.shutdownErr
}

// fakeMQTT stands in for *mqtt.Server.
type fakeMQTT struct{ *fakeServer }

func newFakeMQTT(rec *recorder) *fakeMQTT {
	return &fakeMQTT{&fakeServer{name: "mqtt", closedErr: mqtt.ErrServerClosed, rec: rec, closed: make(chan struct{})}}
}

func (f *fakeMQTT) Stats() mqtt.Stats { return mqtt.Stats{Connections: 3, QoS0Dropped: 7} }

// fakeSTOMP stands in for *stomp.Server.
type fakeSTOMP struct{ *fakeServer }

func newFakeSTOMP(rec *recorder) *fakeSTOMP {
	return &fakeSTOMP{&fakeServer{name: "stomp", closedErr: stomp.ErrServerClosed, rec: rec, closed: make(chan struct{})}}
}

func (f *fakeSTOMP) Stats() stomp.Stats {
	return stomp.Stats{Connections: 2, Accepted: 5, FramesIn: 11, FramesOut: 13, BytesIn: 100, BytesOut: 200, Errors: 1, SlowConsumers: 1}
}

// fakeAMQP stands in for *amqp.Server.
type fakeAMQP struct{ *fakeServer }

func newFakeAMQP(rec *recorder) *fakeAMQP {
	return &fakeAMQP{&fakeServer{name: "amqp", closedErr: amqp.ErrServerClosed, rec: rec, closed: make(chan struct{})}}
}

func (f *fakeAMQP) Stats() amqp.Stats {
	return amqp.Stats{Connections: 4, Accepted: 6, FramesIn: 21, FramesOut: 23, BytesIn: 300, BytesOut: 400, Errors: 2, SlowConsumers: 3}
}

// fakeBroker stands in for *exchange.Exchange.
type fakeBroker struct {
	rec      *recorder
	closeErr error
	queues   []exchange.QueueStats
	panics   bool
}

func (b *fakeBroker) Stats() exchange.Stats {
	if b.panics {
		panic("exchange: not implemented")
	}
	return exchange.Stats{
		In:      map[message.Protocol]uint64{message.ProtocolMQTT: 10, message.ProtocolSTOMP: 2},
		Out:     map[message.Protocol]uint64{message.ProtocolMQTT: 9},
		Dropped: map[string]uint64{"overflow": 4, "expired": 1},
		Queues:  len(b.queues),
	}
}

func (b *fakeBroker) Lossy() []exchange.LossyCount {
	return []exchange.LossyCount{{From: "amqp", To: "mqtt", Field: "header-type", N: 3}}
}

func (b *fakeBroker) Queues() []exchange.QueueStats {
	return append([]exchange.QueueStats(nil), b.queues...)
}

func (b *fakeBroker) Close(context.Context) error {
	b.rec.add("exchange.Close")
	return b.closeErr
}

// recorder keeps the order of shutdown calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.calls = append(r.calls, s); r.mu.Unlock() }
func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// logSink is a goroutine-safe log buffer that tests read lines from.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}
func (s *logSink) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

// listeners returns listener name -> bound address from the JSON log.
func (s *logSink) listeners() map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var rec struct{ Msg, Listener, Addr string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
			out[rec.Listener] = rec.Addr
		}
	}
	return out
}

func testConfig(t *testing.T) config.Config {
	t.Helper()
	c := config.Defaults(false)
	c.Listeners = config.Listeners{MQTT: "127.0.0.1:0", MQTTTLS: "127.0.0.1:0", STOMP: "127.0.0.1:0", STOMPTLS: "127.0.0.1:0",
		AMQP: "127.0.0.1:0", AMQPTLS: "127.0.0.1:0", HTTP: "127.0.0.1:0"}
	c.DataDir = t.TempDir()
	c.ShutdownTimeout = 5 * time.Second
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

type harness struct {
	app    *app
	mqtt   *fakeMQTT
	stomp  *fakeSTOMP
	amqp   *fakeAMQP
	broker *fakeBroker
	rec    *recorder
	logs   *logSink
	cancel context.CancelFunc
	done   chan error // receives run's result once

	waitOnce sync.Once
	err      error
}

// wait returns run's result, waiting at most 10s; it may be called again.
func (h *harness) wait(t *testing.T) error {
	t.Helper()
	h.waitOnce.Do(func() {
		select {
		case h.err = <-h.done:
		case <-time.After(10 * time.Second):
			h.err = errors.New("app did not stop within 10s")
		}
	})
	return h.err
}

func startApp(t *testing.T, cfg config.Config, setup func(h *harness)) *harness {
	t.Helper()
	rec := &recorder{}
	h := &harness{rec: rec, logs: &logSink{}, mqtt: newFakeMQTT(rec), stomp: newFakeSTOMP(rec), amqp: newFakeAMQP(rec),
		broker: &fakeBroker{rec: rec}, done: make(chan error, 1)}
	if setup != nil {
		setup(h)
	}
	log := slog.New(slog.NewJSONHandler(h.logs, nil))
	h.app = newApp(cfg, log, h.mqtt, h.stomp, h.amqp, h.broker)
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(context.Background())
	go func() { h.done <- h.app.run(ctx) }()
	t.Cleanup(func() {
		h.cancel()
		if err := h.wait(t); err != nil && strings.Contains(err.Error(), "did not stop") {
			t.Error(err)
		}
	})
	return h
}

// waitListeners waits until n listeners have logged their address.
func (h *harness) waitListeners(t *testing.T, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ls := h.logs.listeners(); len(ls) >= n {
			return ls
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("listeners not logged:\n%s", h.logs.String())
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAppServesAndShutsDownInOrder(t *testing.T) {
	h := startApp(t, testConfig(t), nil)
	ls := h.waitListeners(t, 4)
	// mqtt_tls, stomp_tls and amqp_tls are configured but there is no
	// certificate: not started.
	if len(ls) != 4 || ls["mqtt"] == "" || ls["stomp"] == "" || ls["amqp"] == "" || ls["http"] == "" {
		t.Fatalf("listeners = %v", ls)
	}
	for name, addr := range ls {
		if strings.HasSuffix(addr, ":0") {
			t.Fatalf("listener %s logged %q, not the bound port", name, addr)
		}
	}
	if strings.Contains(h.logs.String(), "not built yet") {
		t.Fatalf("stale not-built notice in logs:\n%s", h.logs.String())
	}
	// The MQTT, STOMP and AMQP listeners accept.
	for _, name := range []string{"mqtt", "stomp", "amqp"} {
		c, err := net.Dial("tcp", ls[name])
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	base := "http://" + ls["http"]
	tests := []struct {
		path     string
		wantCode int
		want     []string
	}{
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready"}},
		{"/mqtt", 200, []string{"fake mqtt websocket"}},
		{"/stomp", 200, []string{"fake stomp websocket"}},
		{"/amqp", 200, []string{"fake amqp websocket"}},
		{"/metrics", 200, []string{
			`rosetta_connections{protocol="mqtt"} 3`,
			`rosetta_messages_in_total{protocol="mqtt"} 10`,
			`rosetta_messages_in_total{protocol="stomp"} 2`,
			`rosetta_messages_out_total{protocol="mqtt"} 9`,
			`rosetta_messages_dropped_total{reason="overflow"} 4`,
			`rosetta_mqtt_qos0_dropped_total 7`,
			`rosetta_stats_source_up{source="exchange"} 1`,
			`rosetta_connections{protocol="stomp"} 2`,
			`rosetta_connections_accepted_total{protocol="stomp"} 5`,
			`rosetta_frames_in_total{protocol="stomp"} 11`,
			`rosetta_frames_out_total{protocol="stomp"} 13`,
			`rosetta_bytes_in_total{protocol="stomp"} 100`,
			`rosetta_bytes_out_total{protocol="stomp"} 200`,
			`rosetta_protocol_errors_total{protocol="stomp"} 1`,
			`rosetta_slow_consumers_total{protocol="stomp"} 1`,
			`rosetta_stats_source_up{source="stomp"} 1`,
			`rosetta_connections{protocol="amqp"} 4`,
			`rosetta_connections_accepted_total{protocol="amqp"} 6`,
			`rosetta_frames_in_total{protocol="amqp"} 21`,
			`rosetta_frames_out_total{protocol="amqp"} 23`,
			`rosetta_bytes_in_total{protocol="amqp"} 300`,
			`rosetta_bytes_out_total{protocol="amqp"} 400`,
			`rosetta_protocol_errors_total{protocol="amqp"} 2`,
			`rosetta_slow_consumers_total{protocol="amqp"} 3`,
			`rosetta_stats_source_up{source="amqp"} 1`,
			"go_goroutines",
			"process_cpu_seconds_total",
			`rosetta_build_info{commit="dev"`,
		}},
		{"/nope", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := get(t, base+tt.path)
			if code != tt.wantCode {
				t.Fatalf("GET %s = %d\n%s", tt.path, code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: body lacks %q", tt.path, w)
				}
			}
		})
	}

	h.cancel()
	if err := h.wait(t); err != nil {
		t.Fatalf("run = %v", err)
	}
	if got, want := strings.Join(h.rec.get(), ","), "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close"; got != want {
		t.Fatalf("shutdown order %s, want %s", got, want)
	}
	if h.app.ready.Load() {
		t.Fatal("still ready after shutdown")
	}
	for _, name := range []string{"mqtt", "stomp", "amqp"} {
		if _, err := net.Dial("tcp", ls[name]); err == nil {
			t.Fatalf("%s listener still open", name)
		}
	}
	if !strings.Contains(h.logs.String(), "rosetta stopped") {
		t.Fatalf("no stop line:\n%s", h.logs.String())
	}
}

func TestAppFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name      string
		cfg       func(c *config.Config)
		setup     func(h *harness)
		wantErr   []string
		wantCalls string
	}{
		{
			name:      "port in use",
			cfg:       func(c *config.Config) { c.Listeners.HTTP = busy.Addr().String() },
			wantErr:   []string{"listener http", "address already in use"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name:      "serve fails",
			setup:     func(h *harness) { h.mqtt.serveErr = errors.New("accept: too many open files") },
			wantErr:   []string{"listener mqtt: accept: too many open files"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name: "shutdown errors are joined",
			setup: func(h *harness) {
				h.mqtt.serveErr = errors.New("boom")
				h.mqtt.shutdownErr = errors.New("sessions stuck")
				h.broker.closeErr = errors.New("store flush failed")
			},
			wantErr:   []string{"boom", "mqtt shutdown: sessions stuck", "exchange close: store flush failed"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name:      "stomp serve fails",
			setup:     func(h *harness) { h.stomp.serveErr = errors.New("accept: no buffer space") },
			wantErr:   []string{"listener stomp: accept: no buffer space"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name: "stomp shutdown error is joined",
			setup: func(h *harness) {
				h.stomp.serveErr = errors.New("boom")
				h.stomp.shutdownErr = errors.New("goodbye not written")
			},
			wantErr:   []string{"boom", "stomp shutdown: goodbye not written"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name:      "amqp serve fails",
			setup:     func(h *harness) { h.amqp.serveErr = errors.New("accept: no buffer space") },
			wantErr:   []string{"listener amqp: accept: no buffer space"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name: "amqp shutdown error is joined",
			setup: func(h *harness) {
				h.amqp.serveErr = errors.New("boom")
				h.amqp.shutdownErr = errors.New("close not written")
			},
			wantErr:   []string{"boom", "amqp shutdown: close not written"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
		{
			name: "shutdown timeout",
			cfg:  func(c *config.Config) { c.ShutdownTimeout = 100 * time.Millisecond },
			setup: func(h *harness) {
				h.mqtt.serveErr = errors.New("boom")
				h.mqtt.blockShut = true
			},
			wantErr:   []string{"mqtt shutdown: context deadline exceeded"},
			wantCalls: "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := startApp(t, cfg, tt.setup)
			err := h.wait(t) // no cancel: run must stop by itself
			if err == nil {
				t.Fatal("run returned nil")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := strings.Join(h.rec.get(), ","); got != tt.wantCalls {
				t.Errorf("calls %s, want %s", got, tt.wantCalls)
			}
		})
	}
}

func TestAppReload(t *testing.T) {
	cfg := testConfig(t)
	hup := make(chan os.Signal, 1)
	reloaded := make(chan struct{}, 2)
	fail := true
	rec := &recorder{}
	logs := &logSink{}
	a := newApp(cfg, slog.New(slog.NewJSONHandler(logs, nil)), newFakeMQTT(rec), newFakeSTOMP(rec), newFakeAMQP(rec), &fakeBroker{rec: rec})
	a.reloadC = hup
	a.reload = func() error {
		reloaded <- struct{}{}
		if fail {
			fail = false
			return errors.New("bad users")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	for range 2 {
		hup <- os.Interrupt
		select {
		case <-reloaded:
		case <-time.After(5 * time.Second):
			t.Fatal("reload not called")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v (a failed reload must not stop the broker)", err)
	}
	if !strings.Contains(logs.String(), "configuration reload failed") {
		t.Fatalf("failed reload not logged:\n%s", logs.String())
	}
}

func TestStatsCollector(t *testing.T) {
	rec := &recorder{}
	tests := []struct {
		name    string
		broker  *fakeBroker
		max     int
		want    []string
		notWant []string
		wantErr bool
	}{
		{
			name: "queue series capped to the deepest",
			broker: &fakeBroker{rec: rec, queues: []exchange.QueueStats{
				{Name: "shallow", Ready: 1}, {Name: "deep", Ready: 100}, {Name: "middle", Ready: 50},
			}},
			max: 2,
			want: []string{`rosetta_queue_depth{queue="deep"} 100`, `rosetta_queue_depth{queue="middle"} 50`, "rosetta_queue_depth_omitted 1", "rosetta_queues 3",
				`rosetta_conversion_lossy_total{field="header-type",from="amqp",to="mqtt"} 3`},
			notWant: []string{`queue="shallow"`},
		},
		{
			name:    "invalid label value is skipped, not a panic",
			broker:  &fakeBroker{rec: rec, queues: []exchange.QueueStats{{Name: "ok", Ready: 1}, {Name: "bad\xff", Ready: 2}}},
			max:     10,
			want:    []string{`rosetta_queue_depth{queue="ok"} 1`},
			wantErr: true,
		},
		{
			name:    "a panicking source is reported and the rest served",
			broker:  &fakeBroker{rec: rec, panics: true},
			max:     10,
			want:    []string{`rosetta_connections{protocol="mqtt"} 3`, `rosetta_stats_source_up{source="mqtt"} 1`},
			notWant: []string{"rosetta_messages_in_total"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(newStatsCollector(tt.broker, newFakeMQTT(rec), newFakeSTOMP(rec), newFakeAMQP(rec), tt.max))
			// What promhttp serves with the app's options.
			families, err := reg.Gather()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Gather error = %v, want error %v", err, tt.wantErr)
			}
			var sb strings.Builder
			for _, mf := range families {
				if _, err := expfmt.MetricFamilyToText(&sb, mf); err != nil {
					t.Fatal(err)
				}
			}
			body := sb.String()
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("metrics lack %q\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("metrics have %q", w)
				}
			}
		})
	}
}
