package plugin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin"
)

// Plugin binaries, built once by TestMain: real child processes, no mocks.
var bin struct {
	test, protojson, units string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rosetta-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	gocmd := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gocmd); err != nil {
		gocmd = "go"
	}
	cmd := exec.Command(gocmd, "build", "-o", dir+string(os.PathSeparator),
		"github.com/rosettamq/rosetta/transform/plugin/internal/testplugin",
		"github.com/rosettamq/rosetta/plugins/protojson",
		"github.com/rosettamq/rosetta/plugins/units")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build plugins:", err)
		_ = os.RemoveAll(dir)
		os.Exit(2)
	}
	bin.test = filepath.Join(dir, "testplugin")
	bin.protojson = filepath.Join(dir, "protojson")
	bin.units = filepath.Join(dir, "units")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func sum(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start starts one plugin on a fresh host, closed (and checked for leaked
// goroutines) when the test ends.
func start(t testing.TB, cfg plugin.Config) (*plugin.Host, *plugin.Plugin) {
	t.Helper()
	if tt, ok := t.(*testing.T); ok { // a benchmark's own goroutines would count as leaks
		t.Cleanup(func() { goleak.VerifyNone(tt) }) // runs last
	}
	if cfg.SHA256 == "" {
		cfg.SHA256 = sum(t, cfg.Path)
	}
	h, err := plugin.New(context.Background(), plugin.HostConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	p, err := h.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func step(t testing.TB, p *plugin.Plugin, opts string) *plugin.Step {
	t.Helper()
	s, err := p.Step(context.Background(), []byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msg(body string) *message.Message {
	return &message.Message{ID: "id-" + body, Address: address.MustParseMQTT("t/1"), Body: []byte(body), ContentType: "text/plain"}
}

func apply1(s transform.Step, body string) transform.Result {
	return s.Apply(context.Background(), []*message.Message{msg(body)})[0]
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestRoundTripAllFields(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test})
	if sp := p.Spec(); p.Name() != "testplugin" || sp.Version != "0.0.1" || len(sp.Options) != 2 {
		t.Fatalf("spec %+v", sp)
	}
	s := step(t, p, `{"mode":"echo"}`)
	uuid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	in := &message.Message{
		ID:              "id-1",
		Address:         address.Address{"a", "b/c", "", "ü"},
		Body:            []byte{0, 1, 2, 'x'},
		ContentType:     "application/octet-stream",
		ContentEncoding: "gzip",
		CorrelationID:   []byte{9, 8},
		ReplyTo:         "$queue/r",
		Subject:         "subj",
		UserID:          "user",
		GroupID:         "grp",
		CreatedAt:       time.Unix(1700000000, 123456789).UTC(),
		Headers: message.Headers{
			{Key: "s", Value: message.String("v")}, {Key: "s", Value: message.String("again")},
			{Key: "i", Value: message.Int(-42)}, {Key: "f", Value: message.Float(1.5)},
			{Key: "b", Value: message.Bool(true)}, {Key: "y", Value: message.Bytes([]byte{0xff})},
			{Key: "t", Value: message.Time(time.UnixMilli(1700000000123))}, {Key: "u", Value: message.UUID(uuid)},
			{Key: "n", Value: message.Null()},
		},
		Durable:       true,
		Priority:      7,
		Expires:       time.Unix(1800000000, 0).UTC(),
		FirstAcquirer: true,
		Annotations: message.Annotations{
			Origin: message.Origin{Protocol: message.ProtocolMQTT, ClientID: "c", ConnID: "k", User: "u"},
			Retain: true, QoS: 1, Trace: "00-tp",
			DeadLetter: &message.DeadLetter{Reason: "x"},
			Native:     message.Headers{{Key: "mqtt.payload-format", Value: message.Int(1)}},
		},
	}
	r := s.Apply(context.Background(), []*message.Message{in})
	if len(r) != 1 || r[0].Err != nil {
		t.Fatalf("results %+v", r)
	}
	got := r[0].Msg
	if got == in {
		t.Fatal("the input came back, not a decoded copy")
	}
	if got.ID != in.ID || !got.Address.Equal(in.Address) || !bytes.Equal(got.Body, in.Body) ||
		got.ContentType != in.ContentType || got.ContentEncoding != in.ContentEncoding ||
		!bytes.Equal(got.CorrelationID, in.CorrelationID) || got.ReplyTo != in.ReplyTo || got.Subject != in.Subject ||
		got.UserID != in.UserID || got.GroupID != in.GroupID || !got.CreatedAt.Equal(in.CreatedAt) ||
		got.Durable != in.Durable || got.Priority != in.Priority || !got.Expires.Equal(in.Expires) ||
		got.FirstAcquirer != in.FirstAcquirer {
		t.Fatalf("got  %+v\nwant %+v", got, in)
	}
	if len(got.Headers) != len(in.Headers) {
		t.Fatalf("headers %v", got.Headers)
	}
	for i, h := range in.Headers {
		if got.Headers[i].Key != h.Key || !got.Headers[i].Value.Equal(h.Value) {
			t.Errorf("header %d: got %v %v, want %v %v", i, got.Headers[i].Key, got.Headers[i].Value, h.Key, h.Value)
		}
	}
	a := got.Annotations
	if a.Origin != in.Annotations.Origin || !a.Retain || a.QoS != 1 || a.Trace != "00-tp" ||
		a.DeadLetter == nil || a.DeadLetter == in.Annotations.DeadLetter || a.DeadLetter.Reason != "x" ||
		len(a.Native) != 1 || !a.Native[0].Value.Equal(message.Int(1)) {
		t.Fatalf("annotations %+v", a)
	}
	st := p.Status()
	if st.State != plugin.StateRunning || st.PID == 0 || !alive(st.PID) || st.Calls != 1 || st.Messages != 1 || st.Errors != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestPerMessageOutcomes(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test})
	s := step(t, p, `{"mode":"mixed"}`)
	r := s.Apply(context.Background(), []*message.Message{msg("a"), msg("drop"), msg("fail"), msg("b")})
	if string(r[0].Msg.Body) != "A" || string(r[3].Msg.Body) != "B" || r[0].Err != nil || r[3].Err != nil {
		t.Fatalf("transformed: %+v %+v", r[0], r[3])
	}
	if r[1].Msg != nil || r[1].Err != nil {
		t.Fatalf("drop: %+v", r[1])
	}
	var me *plugin.MessageError
	if r[2].Msg != nil || !errors.As(r[2].Err, &me) || me.Reason != "fail requested" {
		t.Fatalf("fail: %+v", r[2])
	}
	st := p.Status()
	if st.Drops != 1 || st.MessageErrors != 1 || st.Errors != 0 {
		t.Fatalf("status %+v", st)
	}
	if r := s.Apply(context.Background(), nil); len(r) != 0 {
		t.Fatalf("empty batch: %v", r)
	}
}

func TestBadOptionsRefused(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test})
	if _, err := p.Step(context.Background(), []byte(`{"mode":"nope"}`)); err == nil || !strings.Contains(err.Error(), "unknown mode") {
		t.Fatalf("err = %v", err)
	}
}

func TestExamplePlugins(t *testing.T) {
	t.Run("units", func(t *testing.T) {
		_, p := start(t, plugin.Config{Path: bin.units})
		if p.Name() != "units" {
			t.Fatalf("name %q", p.Name())
		}
		if _, err := p.Step(context.Background(), []byte(`{"fields":{"a":{"convert":"nope"}}}`)); err == nil {
			t.Fatal("bad options accepted")
		}
		// Through the Factory a transform.Registry would call.
		s, err := p.Factory()(map[string]any{"fields": map[string]any{"temp_f": map[string]any{"to": "temp_c", "convert": "f_to_c", "round": 1}}})
		if err != nil {
			t.Fatal(err)
		}
		m := msg("")
		m.Body, m.ContentType = []byte(`{"temp_f":98.6,"id":"s1"}`), "application/json"
		r := s.Apply(context.Background(), []*message.Message{m, msg("not json")})
		if r[0].Err != nil || string(r[0].Msg.Body) != `{"id":"s1","temp_c":37}` || r[0].Msg.ID != m.ID {
			t.Fatalf("result %+v", r[0])
		}
		var me *plugin.MessageError
		if !errors.As(r[1].Err, &me) {
			t.Fatalf("non-JSON body: %+v", r[1])
		}
	})
	t.Run("protojson", func(t *testing.T) {
		_, p := start(t, plugin.Config{Path: bin.protojson})
		desc, err := filepath.Abs("../../plugins/protojson/testdata/sensor.binpb")
		if err != nil {
			t.Fatal(err)
		}
		opts := `{"descriptor":"` + desc + `","message":"rosetta.example.v1.Reading"`
		toPB := step(t, p, opts+`,"to":"protobuf"}`)
		toJSON := step(t, p, opts+`,"to":"json","use_proto_names":true}`)
		m := msg("")
		m.Body, m.ContentType = []byte(`{"sensorId":"s1","tempC":21.5,"tags":["x"]}`), "application/json"
		r := toPB.Apply(context.Background(), []*message.Message{m})
		if r[0].Err != nil || r[0].Msg.ContentType != "application/x-protobuf" {
			t.Fatalf("to protobuf: %+v", r[0])
		}
		r = toJSON.Apply(context.Background(), []*message.Message{r[0].Msg})
		if r[0].Err != nil || string(bytes.ReplaceAll(r[0].Msg.Body, []byte(" "), nil)) != `{"sensor_id":"s1","temp_c":21.5,"tags":["x"]}` {
			t.Fatalf("to JSON: %v %s", r[0].Err, r[0].Msg.Body)
		}
	})
}

func TestBatching(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test, MaxInFlight: 1})
	s := step(t, p, `{"mode":"upper"}`)
	const callers, each = 50, 40
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("g%d-%d", g, i)
				r := apply1(s, body)
				if r.Err != nil || string(r.Msg.Body) != strings.ToUpper(body) || r.Msg.ID != "id-"+body {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d wrong results", bad.Load())
	}
	st := p.Status()
	t.Logf("%d messages in %d calls (mean %.1f, max %d)", st.Messages, st.Calls, st.MeanBatch, st.MaxBatch)
	if st.Messages != callers*each || st.Calls*4 > st.Messages || st.MaxBatch < 4 {
		t.Fatalf("no batching: %+v", st)
	}
}

func TestBatchWaitAndLimits(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test, MaxBatch: 10, BatchWait: 50 * time.Millisecond})
	s := step(t, p, `{"mode":"upper"}`)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if r := apply1(s, fmt.Sprint(i)); r.Err != nil {
				t.Error(r.Err)
			}
		})
	}
	wg.Wait()
	// One Apply larger than MaxBatch is split, each part at most 10.
	big := make([]*message.Message, 25)
	for i := range big {
		big[i] = msg(fmt.Sprint("big", i))
	}
	for i, r := range s.Apply(context.Background(), big) {
		if r.Err != nil || string(r.Msg.Body) != fmt.Sprint("BIG", i) {
			t.Fatalf("big %d: %+v", i, r)
		}
	}
	st := p.Status()
	t.Logf("%+v", st)
	if st.MaxBatch > 10 || st.Calls > 3+3+3 { // 30 single calls wait for company: about 3 calls
		t.Fatalf("status %+v", st)
	}
}

func TestChecksumMismatchRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := plugin.New(context.Background(), plugin.HostConfig{Plugins: []plugin.Config{{
		Path: bin.test, SHA256: strings.Repeat("ab", 32),
	}}})
	if !errors.Is(err, plugin.ErrChecksum) {
		t.Fatalf("err = %v", err)
	}
	_, err = plugin.New(context.Background(), plugin.HostConfig{Plugins: []plugin.Config{{Path: bin.test}}})
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("no checksum: err = %v", err)
	}
}

func TestHangTimesOutAndRestarts(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test, CallTimeout: 200 * time.Millisecond, HangRestarts: 2, RestartBackoff: 10 * time.Millisecond})
	s := step(t, p, `{"mode":"hang"}`)
	pid := p.Status().PID
	for range 2 {
		t0 := time.Now()
		r := s.Apply(context.Background(), []*message.Message{msg("a"), msg("b")})
		for _, x := range r {
			if !errors.Is(x.Err, plugin.ErrTimeout) || x.Msg != nil {
				t.Fatalf("result %+v", x)
			}
		}
		if d := time.Since(t0); d < 150*time.Millisecond || d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	}
	waitFor(t, "restart after the hang", func() bool {
		st := p.Status()
		return st.Restarts == 1 && st.State == plugin.StateRunning
	})
	st := p.Status()
	if st.PID == pid || alive(pid) || st.Timeouts != 2 || st.Errors != 2 || !strings.Contains(st.LastError, "timed out") {
		t.Fatalf("status %+v (old pid %d)", st, pid)
	}
}

func TestKilledMidStream(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test, RestartBackoff: 20 * time.Millisecond, CallTimeout: 2 * time.Second})
	s := step(t, p, `{"mode":"slow","delay_ms":20}`)
	old := p.Status().PID
	var ok, failed, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("g%d-%d", g, i)
				r := apply1(s, body)
				switch {
				case r.Err != nil && r.Msg == nil && (errors.Is(r.Err, plugin.ErrCallFailed) || errors.Is(r.Err, plugin.ErrUnavailable)):
					failed.Add(1)
				case r.Err == nil && r.Msg != nil && string(r.Msg.Body) == strings.ToUpper(body):
					ok.Add(1)
				default:
					wrong.Add(1)
					t.Errorf("result %+v", r)
				}
			}
		})
	}
	time.Sleep(150 * time.Millisecond)
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart", func() bool {
		st := p.Status()
		return st.State == plugin.StateRunning && st.PID != old
	})
	before := ok.Load()
	waitFor(t, "calls to succeed again", func() bool { return ok.Load() > before+20 })
	close(stop)
	wg.Wait()
	st := p.Status()
	t.Logf("ok %d, failed %d; %+v", ok.Load(), failed.Load(), st)
	if failed.Load() == 0 || wrong.Load() != 0 || st.Restarts != 1 || alive(old) {
		t.Fatalf("ok %d failed %d wrong %d, status %+v", ok.Load(), failed.Load(), wrong.Load(), st)
	}
	r := apply1(s, "after")
	if r.Err != nil || r.Msg.Headers.GetString("pid") != fmt.Sprint(st.PID) {
		t.Fatalf("after restart: %+v", r)
	}
}

func TestGarbageFailsTheWholeCall(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test})
	for i, mode := range []string{"count", "badmsg", "empty"} {
		s := step(t, p, `{"mode":"`+mode+`"}`)
		r := s.Apply(context.Background(), []*message.Message{msg("a"), msg("b"), msg("c")})
		for _, x := range r {
			if x.Msg != nil || !errors.Is(x.Err, plugin.ErrBadResponse) {
				t.Fatalf("%s: result %+v", mode, x)
			}
		}
		if st := p.Status(); st.BadResponses != uint64(i+1) || st.State != plugin.StateRunning {
			t.Fatalf("%s: status %+v", mode, st)
		}
	}
}

func TestCrashLoopGivesUp(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test, MaxRestarts: 2, RestartBackoff: 5 * time.Millisecond, CallTimeout: time.Second})
	s := step(t, p, `{"mode":"crash"}`)
	if r := apply1(s, "fine"); r.Err != nil {
		t.Fatal(r.Err)
	}
	waitFor(t, "failed state", func() bool {
		r := apply1(s, "crash")
		if r.Err == nil {
			t.Fatal("crash message transformed")
		}
		return p.Status().State == plugin.StateFailed
	})
	r := apply1(s, "fine")
	if !errors.Is(r.Err, plugin.ErrUnavailable) {
		t.Fatalf("after giving up: %+v", r)
	}
	if st := p.Status(); st.Restarts != 2 || st.PID != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestCloseKillsChildren(t *testing.T) {
	defer goleak.VerifyNone(t)
	h, err := plugin.New(context.Background(), plugin.HostConfig{Plugins: []plugin.Config{
		{Path: bin.test, SHA256: sum(t, bin.test)},
		{Path: bin.units, SHA256: sum(t, bin.units)},
		{Name: "hung", Path: bin.test, SHA256: sum(t, bin.test)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, st := range h.Status() {
		if !alive(st.PID) {
			t.Fatalf("%s not running", st.Name)
		}
		pids = append(pids, st.PID)
	}
	if _, ok := h.Plugin("units"); !ok {
		t.Fatal("no plugin named units")
	}
	hung, _ := h.Plugin("hung")
	s := step(t, hung, `{"mode":"hang"}`)
	res := make(chan transform.Result)
	go func() { res <- apply1(s, "x") }()
	time.Sleep(50 * time.Millisecond) // let the call reach the plugin
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %v", time.Since(t0))
	if r := <-res; !errors.Is(r.Err, plugin.ErrClosed) {
		t.Fatalf("in-flight call: %+v", r)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still alive", pid)
		}
	}
	if r := apply1(s, "y"); !errors.Is(r.Err, plugin.ErrClosed) {
		t.Fatalf("after close: %+v", r)
	}
	if st := h.Status(); len(st) != 0 {
		t.Fatalf("status after close: %+v", st)
	}
}

func TestStepClose(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test})
	s := step(t, p, `{"mode":"upper"}`)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := apply1(s, "x"); !errors.Is(r.Err, plugin.ErrClosed) {
		t.Fatalf("%+v", r)
	}
	if r := apply1(step(t, p, `{"mode":"upper"}`), "x"); r.Err != nil {
		t.Fatal(r.Err)
	}
}

func TestCallerContext(t *testing.T) {
	_, p := start(t, plugin.Config{Path: bin.test})
	s := step(t, p, `{"mode":"slow","delay_ms":500}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := s.Apply(ctx, []*message.Message{msg("a")})
	if !errors.Is(r[0].Err, context.DeadlineExceeded) {
		t.Fatalf("%+v", r[0])
	}
}
