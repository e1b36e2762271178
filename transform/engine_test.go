package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

const cborDoc = "\xa2\x61t\xf9\x4d\x60\x62ok\xf5" // {"ok":true,"t":21.5}

func newEngine(t testing.TB, cfg EngineConfig) *Engine {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func addrMsg(id, topic, ct, body string) *message.Message {
	return &message.Message{ID: id, Address: address.MustParseMQTT(topic), ContentType: ct, Body: []byte(body)}
}

func TestNegotiation(t *testing.T) {
	e := newEngine(t, EngineConfig{Pipelines: []NamedPipeline{{Name: "summary", Steps: []any{"cbor-to-json", map[string]any{"jq": "{t}"}}}}})
	for _, tc := range []struct {
		name, ct, body, accept string
		wantCT, want, plan     string // want "" with wantCT "" means identity; plan "" means none computed
		err                    error
	}{
		{"no accept", ctCBOR, cborDoc, "", "", "", "", nil},
		{"any", ctCBOR, cborDoc, "*/*", "", "", "", nil},
		{"cbor to json", ctCBOR, cborDoc, "json", ctJSON, `{"ok":true,"t":21.5}`, "cbor-to-json", nil},
		{"cbor to xml composes", ctCBOR, cborDoc, "application/xml", ctXML, `<root><ok>true</ok><t>21.5</t></root>`, "cbor-to-json | json-to-xml", nil},
		{"alias", ctCBOR, cborDoc, "application/x-msgpack", ctMsgpack, "\x82\xa2ok\xc3\xa1t\xcb\x40\x35\x80\x00\x00\x00\x00\x00", "cbor-to-json | json-to-msgpack", nil},
		{"already json", ctJSON, `{}`, "application/json", "", "", "identity", nil},
		{"text/xml message", "text/xml", `<a/>`, "xml", "", "", "identity", nil},
		{"q-values", ctJSON, `{"a":1}`, "application/xml;q=0.5, application/cbor;q=0.9, text/plain", ctCBOR, "\xa1\x61a\x01", "json-to-cbor", nil},
		{"order among equals", ctJSON, `{"a":1}`, "cbor, xml", ctCBOR, "\xa1\x61a\x01", "json-to-cbor", nil},
		{"q=0 never", ctJSON, `{"a":1}`, "cbor;q=0, xml;q=0.1", ctXML, "<root><a>1</a></root>", "json-to-xml", nil},
		{"csv in", ctCSV, "a\n1\n", "json", ctJSON, `[{"a":"1"}]`, "csv-to-json", nil},
		{"csv to cbor", ctCSV, "a\n1\n", "cbor", ctCBOR, "\x81\xa1\x61a\x611", "csv-to-json | json-to-cbor", nil},
		{"range covers", ctCBOR, cborDoc, "application/*", "", "", "identity", nil},
		{"range converts", ctCSV, "a\n1\n", "application/*", ctJSON, `[{"a":"1"}]`, "csv-to-json", nil},
		{"vendor json", "application/vnd.acme+json", `{"a":1}`, "json", "", "", "identity", nil},
		{"vendor json to cbor", "application/vnd.acme+json; v=2", `{"a":1}`, "cbor", ctCBOR, "\xa1\x61a\x01", "json-to-cbor", nil},
		{"opaque", "image/png", "\x89PNG", "json", "", "", "no conversion", ErrNoConversion},
		{"opaque own type", "image/png", "\x89PNG", "image/png", "", "", "identity", nil},
		{"opaque fallback", "image/png", "\x89PNG", "json, */*;q=0.1", "", "", "identity", nil},
		{"no type no sniff", "", `{"a":1}`, "cbor", "", "", "no conversion", ErrNoConversion},
		{"named pipeline", ctCBOR, cborDoc, "summary", ctJSON, `{"t":21.5}`, "summary", nil},
		{"bad cbor", ctCBOR, "\xff", "json", "", "parse cbor", "cbor-to-json", errors.New("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := addrMsg("id-"+tc.name, "a/b", tc.ct, tc.body)
			got, err := e.Transform(context.Background(), m, exchange.Receiver{Protocol: message.ProtocolSTOMP, Accept: tc.accept})
			if tc.err != nil {
				if err == nil || got != nil {
					t.Fatalf("got %v %v, want an error", got, err)
				}
				if tc.err.Error() != "" && !errors.Is(err, tc.err) {
					t.Fatalf("error %v is not %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v does not contain %q", err, tc.want)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.err != nil:
			case tc.wantCT == "":
				if got != m {
					t.Fatalf("got a new message %q %q, want the input itself", got.ContentType, got.Body)
				}
			case got.ContentType != tc.wantCT || string(got.Body) != tc.want:
				t.Fatalf("got %q %q, want %q %q", got.ContentType, got.Body, tc.wantCT, tc.want)
			}
			ex := e.Explain(context.Background(), m, exchange.Receiver{Accept: tc.accept})
			if tc.plan != "" && ex.Plan != tc.plan {
				t.Fatalf("plan %q, want %q", ex.Plan, tc.plan)
			}
		})
	}
}

func TestSniffJSON(t *testing.T) {
	e := newEngine(t, EngineConfig{SniffJSON: true})
	for _, body := range []string{` {"a":1}`, `[1]`} {
		got, err := e.Transform(context.Background(), addrMsg("", "a", "", body), exchange.Receiver{Accept: "cbor"})
		if err != nil || got.ContentType != ctCBOR {
			t.Fatalf("%s: %v %v", body, got, err)
		}
	}
	for _, body := range []string{`"a"`, `{"a":`, `12`, ``} {
		if _, err := e.Transform(context.Background(), addrMsg("", "a", "", body), exchange.Receiver{Accept: "cbor"}); !errors.Is(err, ErrNoConversion) {
			t.Fatalf("%q: %v", body, err)
		}
	}
}

func TestCheck(t *testing.T) {
	e := newEngine(t, EngineConfig{Pipelines: []NamedPipeline{{Name: "summary", Steps: map[string]any{"jq": "{t}"}}}})
	for _, tc := range []struct {
		accept string
		want   string // "" means accepted
	}{
		{"", ""}, {"json", ""}, {"application/json", ""}, {"cbor, msgpack;q=0.5, xml;q=0.1", ""},
		{"application/x-msgpack", ""}, {"text/xml", ""}, {"*/*", ""}, {"text/*", ""}, {"summary", ""},
		{"JSON", ""},
		{"application/protobuf", `unknown format "application/protobuf" (known: json, application/json, cbor`},
		{"json, yaml", `unknown format "yaml"`},
		{"text/csv", "csv is read, never produced"},
		{"json;q=2", "q must be"},
		{"json;q=0.1234", "q must be"},
		{"*/json", "wildcard"},
		{"a/b/c", "type/subtype"},
		{"js on", "unexpected character"},
		{strings.Repeat("json,", 300), "longer than"},
		{strings.Repeat("json,", 40), "more than 32"},
	} {
		err := e.Check(exchange.Receiver{Protocol: message.ProtocolAMQP, Accept: tc.accept})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.accept, err)
			}
			continue
		}
		if !errors.Is(err, exchange.ErrUnknownFormat) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want ErrUnknownFormat containing %q", tc.accept, err, tc.want)
		}
	}
	// A registry without json-to-xml cannot produce XML.
	r := Builtins()
	small := NewRegistry()
	for _, n := range []string{"json-to-cbor", "cbor-to-json"} {
		s, _ := r.Lookup(n)
		if err := small.Register(s, func(opts map[string]any) (Step, error) { return r.Build(n, opts) }); err != nil {
			t.Fatal(err)
		}
	}
	e2 := newEngine(t, EngineConfig{Registry: small})
	if err := e2.Check(exchange.Receiver{Accept: "xml"}); err == nil || !strings.Contains(err.Error(), "no step produces xml") {
		t.Fatalf("got %v", err)
	}
	if err := e2.Check(exchange.Receiver{Accept: "cbor"}); err != nil {
		t.Fatal(err)
	}
}

// countStep counts its calls and can be slow, fail or drop.
type countStep struct {
	calls atomic.Int64
	delay time.Duration
	err   error
	drop  bool
}

func (c *countStep) Apply(ctx context.Context, batch []*message.Message) []Result {
	c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	out := make([]Result, len(batch))
	for i, m := range batch {
		switch {
		case c.err != nil:
			out[i].Err = c.err
		case c.drop:
		default:
			out[i].Msg = withBody(m, append([]byte("counted:"), m.Body...), "text/plain")
		}
	}
	return out
}

func registryWith(t testing.TB, name string, s Step) *Registry {
	t.Helper()
	r := Builtins()
	if err := r.Register(Spec{Name: name, Summary: "test"}, func(map[string]any) (Step, error) { return s, nil }); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoutes(t *testing.T) {
	drop := &countStep{drop: true}
	r := registryWith(t, "drop", drop)
	e := newEngine(t, EngineConfig{Registry: r, Routes: []Route{
		{Match: "sensors/+/raw", To: RouteTarget{Protocol: message.ProtocolAMQP}, Transform: []any{
			map[string]any{"when": "cbor", "do": "cbor-to-json"},
			map[string]any{"jq": "{t}"},
		}},
		{Name: "quiet", Match: "noise/#", Transform: "drop"},
		{Match: "q/#", To: RouteTarget{Queue: "audit"}, Transform: map[string]any{"redact": ".secret"}},
	}})
	ctx := context.Background()
	amqp := exchange.Receiver{Protocol: message.ProtocolAMQP}

	m := addrMsg("1", "sensors/k1/raw", ctCBOR, cborDoc)
	got, err := e.Transform(ctx, m, amqp)
	if err != nil || string(got.Body) != `{"t":21.5}` {
		t.Fatalf("route: %v %v", got, err)
	}
	// Route first, then negotiation on the route's output (JSON).
	got, err = e.Transform(ctx, m, exchange.Receiver{Protocol: message.ProtocolAMQP, Accept: "xml"})
	if err != nil || string(got.Body) != `<root><t>21.5</t></root>` {
		t.Fatalf("route then accept: %v %v", got, err)
	}
	ex := e.Explain(ctx, m, exchange.Receiver{Protocol: message.ProtocolAMQP, Accept: "xml"})
	if ex.Route != "sensors/+/raw" || ex.Plan != "route sensors/+/raw | json-to-xml" || len(ex.Steps) != 3 ||
		ex.Steps[0].Name != "when" || ex.Steps[2].Name != "json-to-xml" || !strings.Contains(ex.Steps[2].Why, "json to xml") ||
		!strings.Contains(ex.Source, "json") || ex.Chosen != "xml" || !ex.Cached {
		t.Fatalf("explain: %+v", ex)
	}
	// Other protocols, other addresses: untouched.
	for _, tc := range []struct {
		m *message.Message
		r exchange.Receiver
	}{
		{m, exchange.Receiver{Protocol: message.ProtocolMQTT}},
		{addrMsg("2", "sensors/k1/cooked", ctCBOR, cborDoc), amqp},
		{addrMsg("3", "q/x", ctJSON, `{"secret":1}`), exchange.Receiver{Queue: "other"}},
	} {
		if got, err := e.Transform(ctx, tc.m, tc.r); err != nil || got != tc.m {
			t.Errorf("%v %v: got %v %v", tc.m.Address, tc.r, got, err)
		}
	}
	if got, err := e.Transform(ctx, addrMsg("3", "q/x", ctJSON, `{"secret":1}`), exchange.Receiver{Queue: "audit"}); err != nil || string(got.Body) != `{}` {
		t.Errorf("queue route: %v %v", got, err)
	}
	// A dead letter is not rewritten by routes: its reader wants what
	// failed.
	dl := addrMsg("5", "noise/a", "", "x")
	dl.Annotations.DeadLetter = &message.DeadLetter{Reason: "transform", Queue: "q"}
	if got, err := e.Transform(ctx, dl, amqp); err != nil || got != dl {
		t.Fatalf("dead letter: %v %v", got, err)
	}
	// A drop is nil, nil.
	if got, err := e.Transform(ctx, addrMsg("4", "noise/a", "", "x"), amqp); got != nil || err != nil {
		t.Fatalf("drop: %v %v", got, err)
	}
	if ex := e.Explain(ctx, addrMsg("4", "noise/a", "", "x"), amqp); !ex.Dropped || ex.Plan != "route quiet" {
		t.Fatalf("explain drop: %+v", ex)
	}
	s := e.Stats()
	var plans []string
	for _, p := range s.Plans {
		plans = append(plans, fmt.Sprintf("%s:%d/%d/%d", p.Plan, p.Calls, p.Errors, p.Drops))
	}
	if want := "route q/#:1/0/0 route quiet:1/0/1 route sensors/+/raw:1/0/0 route sensors/+/raw | json-to-xml:1/0/0"; strings.Join(plans, " ") != want {
		t.Fatalf("plans %q\nwant  %q", strings.Join(plans, " "), want)
	}
}

func TestCacheSingleFlight(t *testing.T) {
	slow := &countStep{delay: 30 * time.Millisecond}
	e := newEngine(t, EngineConfig{
		Registry:  registryWith(t, "slow", slow),
		Pipelines: []NamedPipeline{{Name: "slow-fmt", Steps: "slow"}},
	})
	m := addrMsg("m-1", "a", ctCBOR, cborDoc)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 100 {
		wg.Go(func() {
			got, err := e.Transform(context.Background(), m, exchange.Receiver{Protocol: message.ProtocolMQTT, Accept: "slow-fmt"})
			if err != nil || string(got.Body) != "counted:"+cborDoc {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 || slow.calls.Load() != 1 {
		t.Fatalf("%d bad results, %d computations", bad.Load(), slow.calls.Load())
	}
	s := e.Stats()
	if s.CacheMisses != 1 || s.CacheHits != 99 || s.CacheEntries != 1 {
		t.Fatalf("stats %+v", s)
	}
	if len(s.Plans) != 1 || s.Plans[0].Plan != "slow-fmt" || s.Plans[0].CacheHits != 99 || s.Plans[0].CacheMisses != 1 || s.Plans[0].Calls != 1 {
		t.Fatalf("plans %+v", s.Plans)
	}
}

// TestFanOut: 100 receivers in 3 formats cost 3 transformations.
func TestFanOut(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	m := addrMsg("m-2", "a", ctCBOR, cborDoc)
	accepts := []string{"json", "application/xml", "msgpack"}
	var wg sync.WaitGroup
	results := make([]*message.Message, 100)
	for i := range 100 {
		wg.Go(func() {
			got, err := e.Transform(context.Background(), m, exchange.Receiver{Accept: accepts[i%3]})
			if err != nil {
				t.Error(err)
			}
			results[i] = got
		})
	}
	wg.Wait()
	for i, r := range results {
		if r != results[i%3] {
			t.Fatalf("receiver %d got a different copy than receiver %d", i, i%3)
		}
	}
	s := e.Stats()
	if s.CacheMisses != 3 || s.CacheHits != 97 {
		t.Fatalf("misses %d hits %d", s.CacheMisses, s.CacheHits)
	}
	calls := map[string]uint64{}
	for _, st := range s.Steps {
		calls[st.Step] = st.Calls
	}
	// cbor-to-json runs once per format (each chain starts with it), the
	// encoders once each.
	if calls["cbor-to-json"] != 3 || calls["json-to-xml"] != 1 || calls["json-to-msgpack"] != 1 {
		t.Fatalf("step calls %v", calls)
	}
}

func TestCacheErrors(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	m := addrMsg("bad-1", "a", ctCBOR, "\xff\xff")
	_, err1 := e.Transform(context.Background(), m, exchange.Receiver{Accept: "json"})
	_, err2 := e.Transform(context.Background(), m, exchange.Receiver{Accept: "json"})
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v, %v: want the same cached error", err1, err2)
	}
	if s := e.Stats(); s.CacheMisses != 1 || s.CacheHits != 1 || s.Steps[0].Errors == 0 {
		t.Fatalf("stats %+v", s)
	}

	// A timeout is not cached: the next receiver tries again.
	slow := &countStep{delay: 50 * time.Millisecond}
	e2 := newEngine(t, EngineConfig{Registry: registryWith(t, "slow", slow), Timeout: 10 * time.Millisecond,
		Routes: []Route{{Match: "#", Transform: []any{"slow", map[string]any{"jq": "."}}}}})
	for range 2 {
		if _, err := e2.Transform(context.Background(), addrMsg("t-1", "a", ctJSON, "{}"), exchange.Receiver{}); err == nil {
			t.Fatal("no timeout")
		}
	}
	if slow.calls.Load() != 2 {
		t.Fatalf("%d computations, want 2 (timeouts are not cached)", slow.calls.Load())
	}
}

func TestCacheWaiterCancelled(t *testing.T) {
	slow := &countStep{delay: 200 * time.Millisecond}
	e := newEngine(t, EngineConfig{Registry: registryWith(t, "slow", slow), Routes: []Route{{Match: "#", Transform: "slow"}}})
	m := addrMsg("w-1", "a", "", "x")
	done := make(chan error, 1)
	go func() {
		_, err := e.Transform(context.Background(), m, exchange.Receiver{})
		done <- err
	}()
	for slow.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := e.Transform(ctx, m, exchange.Receiver{}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("waiter: %v after %v", err, time.Since(start))
	}
	if err := <-done; err != nil {
		t.Fatalf("the computing caller failed: %v", err)
	}
}

func TestCacheEviction(t *testing.T) {
	e := newEngine(t, EngineConfig{CacheEntries: 2})
	for i := range 5 {
		if _, err := e.Transform(context.Background(), addrMsg(fmt.Sprint(i), "a", ctCBOR, cborDoc), exchange.Receiver{Accept: "json"}); err != nil {
			t.Fatal(err)
		}
	}
	s := e.Stats()
	if s.CacheEntries != 2 || s.CacheEvictions != 3 || s.CacheBytes <= 0 {
		t.Fatalf("stats %+v", s)
	}
	e2 := newEngine(t, EngineConfig{CacheBytes: 1})
	if _, err := e2.Transform(context.Background(), addrMsg("x", "a", ctCBOR, cborDoc), exchange.Receiver{Accept: "json"}); err != nil {
		t.Fatal(err)
	}
	if s := e2.Stats(); s.CacheEntries != 0 || s.CacheBytes != 0 || s.CacheEvictions != 1 {
		t.Fatalf("byte limit: %+v", s)
	}
	e3 := newEngine(t, EngineConfig{CacheEntries: -1})
	for range 2 {
		if _, err := e3.Transform(context.Background(), addrMsg("x", "a", ctCBOR, cborDoc), exchange.Receiver{Accept: "json"}); err != nil {
			t.Fatal(err)
		}
	}
	if s := e3.Stats(); s.CacheMisses != 2 || s.CacheHits != 0 {
		t.Fatalf("disabled cache: %+v", s)
	}
}

func TestExplainLeavesStats(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	m := addrMsg("e-1", "a", ctCBOR, cborDoc)
	ex := e.Explain(context.Background(), m, exchange.Receiver{Accept: "xml;q=0.5, yaml;q=0.1"})
	if ex.Err != nil || ex.Result == nil || ex.Result.ContentType != ctXML || ex.Cached || len(ex.Accept) != 2 || ex.Chosen != "xml" {
		t.Fatalf("%+v", ex)
	}
	s := e.Stats()
	for _, st := range s.Steps {
		if st.Calls != 0 {
			t.Fatalf("explain counted %+v", st)
		}
	}
	if len(s.Plans) != 0 {
		t.Fatalf("explain counted plans %+v", s.Plans)
	}
	ex = e.Explain(context.Background(), m, exchange.Receiver{Accept: "image/png"})
	if !errors.Is(ex.Err, ErrNoConversion) || ex.Result != nil || ex.Plan != "no conversion" {
		t.Fatalf("%+v", ex)
	}
}

func TestStatsCounters(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	for i := range 3 {
		_, _ = e.Transform(context.Background(), addrMsg(fmt.Sprint(i), "a", ctCBOR, cborDoc), exchange.Receiver{Accept: "json"})
	}
	_, _ = e.Transform(context.Background(), addrMsg("bad", "a", ctCBOR, "\xff"), exchange.Receiver{Accept: "json"})
	_, _ = e.Transform(context.Background(), addrMsg("p", "a", ctCBOR, cborDoc), exchange.Receiver{})
	s := e.Stats()
	if s.Passthrough != 1 {
		t.Fatalf("passthrough %d", s.Passthrough)
	}
	var c2j StepStats
	for _, st := range s.Steps {
		if st.Step == "cbor-to-json" {
			c2j = st
		}
	}
	if c2j.Calls != 4 || c2j.Errors != 1 || c2j.Latency.Count != 4 || c2j.Latency.Sum <= 0 || c2j.Latency.Buckets[len(c2j.Latency.Buckets)-1] != 4 {
		t.Fatalf("cbor-to-json %+v", c2j)
	}
	if len(LatencyBuckets()) != len(c2j.Latency.Buckets) {
		t.Fatal("bucket bounds and counts differ")
	}
}

func TestNewEngineErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  EngineConfig
		want string
	}{
		{"bad match", EngineConfig{Routes: []Route{{Match: "a/#/b"}}}, `route 0 (a/#/b): match "a/#/b"`},
		{"bad route steps", EngineConfig{Routes: []Route{{Name: "r", Match: "#", Transform: "nope"}}}, `route 0 (r): pipeline item 0: unknown step "nope"`},
		{"bad pipeline name", EngineConfig{Pipelines: []NamedPipeline{{Name: "Bad"}}}, "name must be"},
		{"format name", EngineConfig{Pipelines: []NamedPipeline{{Name: "json"}}}, "is a format name"},
		{"step name", EngineConfig{Pipelines: []NamedPipeline{{Name: "jq"}}}, "already registered"},
		{"bad pipeline", EngineConfig{Pipelines: []NamedPipeline{{Name: "p", Steps: map[string]any{"jq": "."}}, {Name: "q", Steps: []any{"p", "x"}}}}, `pipeline "q": pipeline item 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEngine(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// Named pipelines compose.
	e := newEngine(t, EngineConfig{
		Pipelines: []NamedPipeline{{Name: "to-json", Steps: "cbor-to-json"}, {Name: "pick", Steps: []any{"to-json", map[string]any{"jq": ".t"}}}},
		Routes: []Route{
			{Match: "w/#", Transform: map[string]any{"when": "cbor", "do": "pick"}}, // when sees named pipelines too
			{Match: "#", Transform: "pick"},
		},
	})
	got, err := e.Transform(context.Background(), addrMsg("w", "w/a", ctCBOR, cborDoc), exchange.Receiver{})
	if err != nil || string(got.Body) != "21.5" {
		t.Fatalf("when with a named pipeline: %v %v", got, err)
	}
	got, err = e.Transform(context.Background(), addrMsg("n", "a", ctCBOR, cborDoc), exchange.Receiver{})
	if err != nil || string(got.Body) != "21.5" {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestParseAccept(t *testing.T) {
	items, err := ParseAccept(" text/xml;q=0.3 , application/json ; charset=utf-8,cbor;q=0.3;level=1, ,*/*;q=0")
	if err != nil {
		t.Fatal(err)
	}
	want := []AcceptItem{{"application/json", 1}, {"text/xml", 0.3}, {"cbor", 0.3}, {"*/*", 0}}
	if fmt.Sprint(items) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", items, want)
	}
}
