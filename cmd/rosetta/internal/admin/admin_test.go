package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

type fixture struct {
	h      *Handler
	x      *exchange.Exchange
	reg    *conns.Registry
	closed []string
	reload int
}

func newFixture(t *testing.T, mod func(*Config, *auth.StaticConfig)) *fixture {
	t.Helper()
	hash := func(pw string) string {
		h, err := auth.HashPassword([]byte(pw), 4)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	sc := auth.StaticConfig{
		Users: []auth.User{
			{Name: "root", PasswordHash: hash("secret"), Permissions: []auth.Permission{{Action: auth.Admin, Pattern: "#"}}},
			{Name: "bob", PasswordHash: hash("pw"), Permissions: []auth.Permission{{Action: auth.Publish, Pattern: "#"}}},
		},
	}
	x, err := exchange.New(context.Background(), exchange.Config{ExpiryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close(context.Background()) })
	f := &fixture{x: x, reg: conns.New()}
	cfg := Config{
		Exchange: x, Conns: f.reg, Version: "test", Storage: "memory",
		Reload:    func() error { f.reload++; return nil },
		Listeners: func() []Listener { return []Listener{{Name: "mqtt", Addr: "127.0.0.1:1883"}} },
	}
	if mod != nil {
		mod(&cfg, &sc)
	}
	a, err := auth.NewStatic(sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = a
	if f.h, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends a request as root unless user is given ("-" means none).
func (f *fixture) do(t *testing.T, method, path, body string, user ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	switch {
	case len(user) == 0:
		r.SetBasicAuth("root", "secret")
	case user[0] == "-":
	default:
		u, p, _ := strings.Cut(user[0], ":")
		r.SetBasicAuth(u, p)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func decodeAs[T any](t *testing.T, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

func wantError(t *testing.T, w *httptest.ResponseRecorder, status int) errorBody {
	t.Helper()
	e := decodeAs[errorBody](t, w, status)
	if e.Status != status || e.Error == "" {
		t.Fatalf("error body %+v", e)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return e
}

func TestAuth(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		user   string
		remote string
		status int
	}{
		{"admin user", "root:secret", "", http.StatusOK},
		{"no credentials", "-", "", http.StatusUnauthorized},
		{"wrong password", "root:nope", "", http.StatusUnauthorized},
		{"unknown user", "eve:x", "", http.StatusUnauthorized},
		{"user without admin", "bob:pw", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, "GET", "/api/v1/overview", "", tt.user)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != http.StatusOK {
				wantError(t, w, tt.status)
			}
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("401 without WWW-Authenticate: %v", w.Header())
			}
		})
	}
}

func TestAnonymous(t *testing.T) {
	tests := []struct {
		name   string
		allow  bool // the auth service accepts anonymous clients
		local  bool // Config.AnonymousLocal
		remote string
		perms  []auth.Permission
		status int
	}{
		{"anonymous refused by auth", false, true, "127.0.0.1:5000", nil, http.StatusUnauthorized},
		{"anonymous, not loopback-only", true, false, "127.0.0.1:5000", nil, http.StatusUnauthorized},
		{"anonymous, loopback-only, local", true, true, "127.0.0.1:5000", nil, http.StatusOK},
		{"anonymous, loopback-only, ipv6 local", true, true, "[::1]:5000", nil, http.StatusOK},
		{"anonymous, loopback-only, remote", true, true, "192.0.2.1:5000", nil, http.StatusUnauthorized},
		{"anonymous granted admin", true, false, "192.0.2.1:5000", []auth.Permission{{Action: auth.Admin, Pattern: "#"}}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config, sc *auth.StaticConfig) {
				c.AnonymousLocal = tt.local
				sc.AllowAnonymous = tt.allow
				sc.AnonymousPermissions = tt.perms
			})
			r := httptest.NewRequest("GET", "/api/v1/queues", nil)
			r.RemoteAddr = tt.remote
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
}

func TestOverview(t *testing.T) {
	f := newFixture(t, func(c *Config, _ *auth.StaticConfig) {
		c.StoreSize = func() (int64, error) { return 4096, nil }
	})
	h := f.reg.Add(conns.Info{Protocol: message.ProtocolMQTT, ID: "m1"}, nil)
	defer h.Remove()
	f.h.rates.sample()
	publishTo(t, f.x, "a/b", "x")
	time.Sleep(5 * time.Millisecond)
	f.h.rates.sample()
	o := decodeAs[overviewJSON](t, f.do(t, "GET", "/api/v1/overview", ""), http.StatusOK)
	if o.Version != "test" || o.Connections["mqtt"] != 1 || o.Connections["total"] != 1 ||
		len(o.Listeners) != 1 || o.Store.Size != 4096 || o.Store.Engine != "memory" {
		t.Fatalf("overview %+v", o)
	}
	if o.Rates[message.ProtocolHTTP].In <= 0 || o.Rates["total"].In <= 0 || len(o.History) == 0 {
		t.Fatalf("rates %+v history %d", o.Rates, len(o.History))
	}
	if o.Memory.Heap == 0 || o.Memory.Goroutines == 0 {
		t.Fatalf("memory %+v", o.Memory)
	}
}

func publishTo(t *testing.T, x *exchange.Exchange, topic, body string) {
	t.Helper()
	m := &message.Message{Address: address.MustParseMQTT(topic), Body: []byte(body)}
	m.Annotations.Origin.Protocol = message.ProtocolHTTP
	if _, err := x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestConnections(t *testing.T) {
	f := newFixture(t, nil)
	h := f.reg.Add(conns.Info{Protocol: message.ProtocolSTOMP, ID: "s1", ClientID: "tool", User: "root", Remote: "127.0.0.1:9"},
		func(reason string) { f.closed = append(f.closed, reason) })
	defer h.Remove()
	h.CountIn()
	if err := f.x.DeclareQueue("work", exchange.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := f.x.Bind("work", address.MustParseFilter("jobs/+")); err != nil {
		t.Fatal(err)
	}
	c, err := f.x.Consume("work", exchange.ConsumerOptions{Protocol: message.ProtocolSTOMP, ConnID: "s1", Handler: func(*exchange.Delivery) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()

	list := decodeAs[[]connJSON](t, f.do(t, "GET", "/api/v1/connections", ""), http.StatusOK)
	if len(list) != 1 || list[0].ID != "s1" || list[0].MessagesIn != 1 || list[0].ClientID != "tool" {
		t.Fatalf("list %+v", list)
	}
	d := decodeAs[connDetailJSON](t, f.do(t, "GET", "/api/v1/connections/s1", ""), http.StatusOK)
	if len(d.Consumers) != 1 || d.Consumers[0].Queue != "work" || len(d.Consumers[0].Bindings) != 1 || d.Consumers[0].Bindings[0] != "jobs/+" {
		t.Fatalf("detail %+v", d)
	}
	cs := decodeAs[[]consumerJSON](t, f.do(t, "GET", "/api/v1/consumers", ""), http.StatusOK)
	if len(cs) != 1 {
		t.Fatalf("consumers %+v", cs)
	}
	wantError(t, f.do(t, "GET", "/api/v1/connections/nope", ""), http.StatusNotFound)
	wantError(t, f.do(t, "DELETE", "/api/v1/connections/nope", ""), http.StatusNotFound)
	if w := f.do(t, "DELETE", "/api/v1/connections/s1", ""); w.Code != http.StatusAccepted {
		t.Fatalf("close: %d %s", w.Code, w.Body)
	}
	if len(f.closed) != 1 {
		t.Fatalf("close hook calls %v", f.closed)
	}
}

func TestQueues(t *testing.T) {
	f := newFixture(t, nil)
	// Create with PUT and with POST.
	q := decodeAs[queueJSON](t, f.do(t, "PUT", "/api/v1/queues/orders",
		`{"durable":false,"max_length":10,"overflow":"reject-publish","ttl":"1m","bindings":["orders/+"]}`), http.StatusCreated)
	if q.Name != "orders" || q.MaxLength != 10 || q.Overflow != "reject-publish" || q.TTL != "1m0s" || len(q.Bindings) != 1 {
		t.Fatalf("created %+v", q)
	}
	decodeAs[queueJSON](t, f.do(t, "PUT", "/api/v1/queues/orders", ""), http.StatusOK) // exists
	decodeAs[queueJSON](t, f.do(t, "POST", "/api/v1/queues", `{"name":"other"}`), http.StatusCreated)

	for i := range 3 {
		publishTo(t, f.x, "orders/1", []string{"one", "two", "\x00\x01"}[i])
	}
	list := decodeAs[[]queueJSON](t, f.do(t, "GET", "/api/v1/queues", ""), http.StatusOK)
	if len(list) != 2 || list[0].Name != "orders" || list[0].Ready != 3 || list[0].DeadLetterTo != exchange.DefaultDeadLetter {
		t.Fatalf("list %+v", list)
	}
	d := decodeAs[queueDetailJSON](t, f.do(t, "GET", "/api/v1/queues/orders", ""), http.StatusOK)
	if d.Ready != 3 {
		t.Fatalf("detail %+v", d)
	}

	msgs := decodeAs[[]messageJSON](t, f.do(t, "GET", "/api/v1/queues/orders/messages?count=3", ""), http.StatusOK)
	if len(msgs) != 3 || msgs[0].Body != "one" || msgs[0].BodyEncoding != "text" ||
		msgs[2].BodyEncoding != "base64" || msgs[2].Body != base64.StdEncoding.EncodeToString([]byte("\x00\x01")) {
		t.Fatalf("peek %+v", msgs)
	}
	msgs = decodeAs[[]messageJSON](t, f.do(t, "GET", "/api/v1/queues/orders/messages?count=1&encoding=base64", ""), http.StatusOK)
	if len(msgs) != 1 || msgs[0].BodyEncoding != "base64" {
		t.Fatalf("peek base64 %+v", msgs)
	}
	got := decodeAs[[]messageJSON](t, f.do(t, "POST", "/api/v1/queues/orders/get?count=1", ""), http.StatusOK)
	if len(got) != 1 || got[0].Body != "one" {
		t.Fatalf("get %+v", got)
	}
	got = decodeAs[[]messageJSON](t, f.do(t, "POST", "/api/v1/queues/other/get?wait=10ms", ""), http.StatusOK)
	if len(got) != 0 {
		t.Fatalf("get from empty %+v", got)
	}
	p := decodeAs[map[string]int](t, f.do(t, "POST", "/api/v1/queues/orders/purge", ""), http.StatusOK)
	if p["purged"] != 2 {
		t.Fatalf("purge %+v", p)
	}
	// Bindings and addresses.
	decodeAs[bindingJSON](t, f.do(t, "POST", "/api/v1/queues/other/bindings", `{"pattern":"x/#"}`), http.StatusOK)
	bs := decodeAs[[]bindingJSON](t, f.do(t, "GET", "/api/v1/bindings", ""), http.StatusOK)
	as := decodeAs[[]addressJSON](t, f.do(t, "GET", "/api/v1/addresses", ""), http.StatusOK)
	if len(bs) != 2 || len(as) != 2 || as[0].Pattern != "orders/+" || as[1].Queues[0] != "other" {
		t.Fatalf("bindings %+v addresses %+v", bs, as)
	}
	if w := f.do(t, "DELETE", "/api/v1/queues/other/bindings?pattern=x/%23", ""); w.Code != http.StatusNoContent {
		t.Fatalf("unbind %d %s", w.Code, w.Body)
	}
	if w := f.do(t, "DELETE", "/api/v1/queues/orders", ""); w.Code != http.StatusNoContent {
		t.Fatalf("delete %d %s", w.Code, w.Body)
	}

	bad := []struct {
		name, method, path, body string
		status                   int
	}{
		{"unknown queue", "GET", "/api/v1/queues/nope", "", http.StatusNotFound},
		{"delete unknown", "DELETE", "/api/v1/queues/nope", "", http.StatusNotFound},
		{"purge unknown", "POST", "/api/v1/queues/nope/purge", "", http.StatusNotFound},
		{"peek unknown", "GET", "/api/v1/queues/nope/messages", "", http.StatusNotFound},
		{"get unknown", "POST", "/api/v1/queues/nope/get", "", http.StatusNotFound},
		{"move unknown", "POST", "/api/v1/queues/nope/move", "", http.StatusNotFound},
		{"bind unknown", "POST", "/api/v1/queues/nope/bindings", `{"pattern":"a"}`, http.StatusNotFound},
		{"malformed body", "PUT", "/api/v1/queues/x", `{"durable":`, http.StatusBadRequest},
		{"unknown field", "PUT", "/api/v1/queues/x", `{"durabel":true}`, http.StatusBadRequest},
		{"bad overflow", "PUT", "/api/v1/queues/x", `{"overflow":"spill"}`, http.StatusBadRequest},
		{"bad ttl", "PUT", "/api/v1/queues/x", `{"ttl":"soon"}`, http.StatusBadRequest},
		{"bad binding", "PUT", "/api/v1/queues/x", `{"bindings":["a/#/b"]}`, http.StatusBadRequest},
		{"name mismatch", "PUT", "/api/v1/queues/x", `{"name":"y"}`, http.StatusBadRequest},
		{"no name", "POST", "/api/v1/queues", `{}`, http.StatusBadRequest},
		{"bad count", "GET", "/api/v1/queues/other/messages?count=-1", "", http.StatusBadRequest},
		{"bad encoding", "GET", "/api/v1/queues/other/messages?encoding=hex", "", http.StatusBadRequest},
		{"bad pattern", "POST", "/api/v1/queues/other/bindings", `{"pattern":""}`, http.StatusBadRequest},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", http.StatusNotFound},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.do(t, tt.method, tt.path, tt.body), tt.status)
		})
	}
}

func TestMoveDeadLetters(t *testing.T) {
	f := newFixture(t, nil)
	decodeAs[queueJSON](t, f.do(t, "PUT", "/api/v1/queues/jobs", `{"bindings":["jobs/#"]}`), http.StatusCreated)
	publishTo(t, f.x, "jobs/1", "payload")
	ds := make(chan *exchange.Delivery, 1)
	c, err := f.x.Consume("jobs", exchange.ConsumerOptions{Credit: 1, Handler: func(d *exchange.Delivery) { ds <- d }})
	if err != nil {
		t.Fatal(err)
	}
	if err := (<-ds).Settle(exchange.Rejected); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	dlq := "/api/v1/queues/" + strings.ReplaceAll(exchange.DefaultDeadLetter, "$", "%24")
	msgs := decodeAs[[]messageJSON](t, f.do(t, "GET", dlq+"/messages", ""), http.StatusOK)
	if len(msgs) != 1 || msgs[0].DeadLetter == nil || msgs[0].DeadLetter.Address != "jobs/1" || msgs[0].DeadLetter.Reason != "rejected" {
		t.Fatalf("dlq %+v", msgs)
	}
	res := decodeAs[map[string]int](t, f.do(t, "POST", dlq+"/move", ""), http.StatusOK)
	if res["moved"] != 1 {
		t.Fatalf("move %+v", res)
	}
	back := decodeAs[[]messageJSON](t, f.do(t, "GET", "/api/v1/queues/jobs/messages", ""), http.StatusOK)
	if len(back) != 1 || back[0].Body != "payload" || back[0].DeadLetter != nil {
		t.Fatalf("jobs after move %+v", back)
	}
}

func TestRetained(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(t, "POST", "/api/v1/publish", `{"address":"status/a","body":"up","retain":true}`)
	decodeAs[publishResult](t, w, http.StatusOK)
	f.do(t, "POST", "/api/v1/publish", `{"address":"other/b","body":"x","retain":true}`)
	rs := decodeAs[[]messageJSON](t, f.do(t, "GET", "/api/v1/retained?filter=status/%23", ""), http.StatusOK)
	if len(rs) != 1 || rs[0].Address != "status/a" || rs[0].Body != "up" || rs[0].Origin.Protocol != message.ProtocolHTTP {
		t.Fatalf("retained %+v", rs)
	}
	all := decodeAs[[]messageJSON](t, f.do(t, "GET", "/api/v1/retained", ""), http.StatusOK)
	if len(all) != 2 {
		t.Fatalf("all retained %+v", all)
	}
	if w := f.do(t, "DELETE", "/api/v1/retained?topic=status/a", ""); w.Code != http.StatusNoContent {
		t.Fatalf("delete %d %s", w.Code, w.Body)
	}
	wantError(t, f.do(t, "DELETE", "/api/v1/retained?topic=status/a", ""), http.StatusNotFound)
	wantError(t, f.do(t, "DELETE", "/api/v1/retained?topic=a/%23", ""), http.StatusBadRequest)
	wantError(t, f.do(t, "GET", "/api/v1/retained?filter=a/%23/b", ""), http.StatusBadRequest)
}

func TestPublish(t *testing.T) {
	f := newFixture(t, nil)
	decodeAs[queueJSON](t, f.do(t, "PUT", "/api/v1/queues/in", `{"bindings":["in/+"]}`), http.StatusCreated)
	r := decodeAs[publishResult](t, f.do(t, "POST", "/api/v1/publish",
		`{"address":"in/x","body_base64":"AAE=","headers":{"k":"v"},"priority":7}`), http.StatusOK)
	if r.Queues != 1 || r.ID == "" {
		t.Fatalf("publish %+v", r)
	}
	msgs := decodeAs[[]messageJSON](t, f.do(t, "GET", "/api/v1/queues/in/messages", ""), http.StatusOK)
	if len(msgs) != 1 || msgs[0].Body != "AAE=" || msgs[0].Priority != 7 || len(msgs[0].Headers) != 1 ||
		msgs[0].Origin.User != "root" || msgs[0].UserID != "root" {
		t.Fatalf("published %+v", msgs)
	}
	r = decodeAs[publishResult](t, f.do(t, "POST", "/api/v1/publish", `{"address":"q1","body":"x","queue":true}`), http.StatusOK)
	if r.Queues != 1 {
		t.Fatalf("publish to a queue %+v", r)
	}
	for _, body := range []string{`{`, `{"address":"a/+"}`, `{"address":""}`, `{"address":"a","body":"x","body_base64":"eA=="}`,
		`{"address":"a","body_base64":"!!"}`, `{"address":"a","priority":12}`} {
		wantError(t, f.do(t, "POST", "/api/v1/publish", body), http.StatusBadRequest)
	}
}

func TestReloadAndTransformers(t *testing.T) {
	f := newFixture(t, nil)
	decodeAs[map[string]string](t, f.do(t, "POST", "/api/v1/reload", ""), http.StatusOK)
	if f.reload != 1 {
		t.Fatalf("reload called %d times", f.reload)
	}
	ts := decodeAs[[]TransformerStatus](t, f.do(t, "GET", "/api/v1/transformers", ""), http.StatusOK)
	if len(ts) != 0 {
		t.Fatalf("transformers %+v", ts)
	}

	failing := newFixture(t, func(c *Config, _ *auth.StaticConfig) {
		c.Reload = func() error { return errors.New("bad file") }
		c.Transformers = func() []TransformerStatus { return []TransformerStatus{{Name: "jq", Kind: "builtin", Status: "ok"}} }
	})
	wantError(t, failing.do(t, "POST", "/api/v1/reload", ""), http.StatusUnprocessableEntity)
	ts = decodeAs[[]TransformerStatus](t, failing.do(t, "GET", "/api/v1/transformers", ""), http.StatusOK)
	if len(ts) != 1 || ts[0].Name != "jq" {
		t.Fatalf("transformers %+v", ts)
	}
	none := newFixture(t, func(c *Config, _ *auth.StaticConfig) { c.Reload = nil })
	wantError(t, none.do(t, "POST", "/api/v1/reload", ""), http.StatusNotImplemented)
}

func TestDashboard(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		w := f.do(t, "GET", p, "", "-") // no credentials needed
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
	}
}

func TestRunSamples(t *testing.T) {
	f := newFixture(t, func(c *Config, _ *auth.StaticConfig) { c.SampleInterval = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.h.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.h.rates.history()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no samples")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestExplain(t *testing.T) {
	f := newFixture(t, nil)
	wantError(t, f.do(t, "POST", "/api/v1/explain", `{"message":{"address":"a"},"receiver":{"protocol":"mqtt"}}`), http.StatusNotImplemented)

	var got exchange.Receiver
	f = newFixture(t, func(c *Config, _ *auth.StaticConfig) {
		c.Explain = func(_ context.Context, m *message.Message, r exchange.Receiver) (Explained, error) {
			got = r
			if r.Accept == "nope" {
				return Explained{}, fmt.Errorf("accept %q: %w", r.Accept, exchange.ErrUnknownFormat)
			}
			out := m.Clone()
			out.Body = []byte(strings.ToUpper(string(m.Body)))
			return Explained{Plan: "upper", Steps: []ExplainedStep{{Name: "upper", Why: "asked"}}, Result: out}, nil
		}
	})
	ex := decodeAs[explainJSON](t, f.do(t, "POST", "/api/v1/explain",
		`{"message":{"address":"a/b","body":"hi","content_type":"text/plain"},"receiver":{"protocol":"stomp","accept":"x-upper","queue":"q"}}`), http.StatusOK)
	if ex.Plan != "upper" || len(ex.Steps) != 1 || ex.Result == nil || ex.Result.Body != "HI" || ex.Result.Address != "a/b" {
		t.Fatalf("explain %+v", ex)
	}
	if got.Protocol != message.ProtocolSTOMP || got.Accept != "x-upper" || got.Queue != "q" {
		t.Fatalf("receiver %+v", got)
	}
	wantError(t, f.do(t, "POST", "/api/v1/explain", `{"message":{"address":"a"},"receiver":{"protocol":"stomp","accept":"nope"}}`), http.StatusUnprocessableEntity)
	for _, body := range []string{`{`, `{"message":{"address":"a"},"receiver":{}}`, `{"message":{"address":"a"},"receiver":{"protocol":"smtp"}}`,
		`{"message":{"address":"a/#"},"receiver":{"protocol":"mqtt"}}`} {
		wantError(t, f.do(t, "POST", "/api/v1/explain", body), http.StatusBadRequest)
	}
}
