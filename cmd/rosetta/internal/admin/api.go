package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func (h *Handler) routes() {
	m := h.mux
	m.Handle("GET /api/v1/overview", h.api(h.overview))
	m.Handle("GET /api/v1/connections", h.api(h.listConns))
	m.Handle("GET /api/v1/connections/{id}", h.api(h.getConn))
	m.Handle("DELETE /api/v1/connections/{id}", h.api(h.closeConn))
	m.Handle("GET /api/v1/consumers", h.api(h.listConsumers))
	m.Handle("GET /api/v1/queues", h.api(h.listQueues))
	m.Handle("POST /api/v1/queues", h.api(h.createQueue))
	m.Handle("GET /api/v1/queues/{name}", h.api(h.getQueue))
	m.Handle("PUT /api/v1/queues/{name}", h.api(h.createQueue))
	m.Handle("DELETE /api/v1/queues/{name}", h.api(h.deleteQueue))
	m.Handle("POST /api/v1/queues/{name}/purge", h.api(h.purgeQueue))
	m.Handle("GET /api/v1/queues/{name}/messages", h.api(h.peek))
	m.Handle("POST /api/v1/queues/{name}/get", h.api(h.get))
	m.Handle("POST /api/v1/queues/{name}/move", h.api(h.move))
	m.Handle("POST /api/v1/queues/{name}/bindings", h.api(h.bind))
	m.Handle("DELETE /api/v1/queues/{name}/bindings", h.api(h.unbind))
	m.Handle("GET /api/v1/bindings", h.api(h.listBindings))
	m.Handle("GET /api/v1/addresses", h.api(h.listAddresses))
	m.Handle("GET /api/v1/retained", h.api(h.listRetained))
	m.Handle("DELETE /api/v1/retained", h.api(h.deleteRetained))
	m.Handle("GET /api/v1/transformers", h.api(h.transformers))
	m.Handle("POST /api/v1/reload", h.api(h.reload))
	m.Handle("POST /api/v1/publish", h.api(h.publish))
	m.Handle("POST /api/v1/explain", h.api(h.explain))
	m.Handle("/api/v1/", h.api(func(r *http.Request, _ auth.Identity) (int, any, error) {
		return 0, nil, errorf(http.StatusNotFound, "no endpoint %s %s", r.Method, r.URL.Path)
	}))
	m.Handle("/", dashboard())
}

// --- overview

type overviewJSON struct {
	Version     string                    `json:"version"`
	Commit      string                    `json:"commit"`
	StartedAt   time.Time                 `json:"started_at"`
	Uptime      float64                   `json:"uptime_seconds"`
	Listeners   []Listener                `json:"listeners"`
	Connections map[string]int            `json:"connections"` // by protocol, and "total"
	Rates       map[message.Protocol]Rate `json:"rates"`       // messages per second, by protocol, and "total"
	Messages    messagesJSON              `json:"messages"`
	History     []Point                   `json:"history"`
	Queues      int                       `json:"queues"`
	Ready       int                       `json:"ready"` // messages waiting, all queues
	Retained    int                       `json:"retained"`
	Memory      memoryJSON                `json:"memory"`
	Store       storeJSON                 `json:"store"`
}

type messagesJSON struct {
	In           map[message.Protocol]uint64 `json:"in"`
	Out          map[message.Protocol]uint64 `json:"out"`
	Unroutable   uint64                      `json:"unroutable"`
	DeadLettered uint64                      `json:"dead_lettered"`
	Expired      uint64                      `json:"expired"`
	Dropped      map[string]uint64           `json:"dropped"`
}

type memoryJSON struct {
	RSS        uint64 `json:"rss_bytes"`       // resident set size; 0 where unknown
	Total      uint64 `json:"total_bytes"`     // mapped by the Go runtime
	Heap       uint64 `json:"heap_bytes"`      // live and unswept heap objects
	HeapGoal   uint64 `json:"heap_goal_bytes"` // the next GC's target
	Goroutines uint64 `json:"goroutines"`      // running now
	GCCycles   uint64 `json:"gc_cycles"`       // completed since start
	Limit      int64  `json:"memory_limit"`    // GOMEMLIMIT; math.MaxInt64 when unset
	CPUs       int    `json:"gomaxprocs"`      // Ps
}

type storeJSON struct {
	Engine string `json:"engine,omitempty"`
	Size   int64  `json:"size_bytes"` // on disk; 0 where unknown
	Error  string `json:"error,omitempty"`
}

func (h *Handler) overview(_ *http.Request, _ auth.Identity) (int, any, error) {
	st := h.cfg.Exchange.Stats()
	o := overviewJSON{
		Version: h.cfg.Version, Commit: h.cfg.Commit, StartedAt: h.started,
		Uptime:      h.now().Sub(h.started).Round(time.Millisecond).Seconds(),
		Listeners:   []Listener{},
		Connections: map[string]int{"total": 0, "mqtt": 0, "stomp": 0, "amqp": 0},
		Rates:       h.rates.current(),
		History:     h.rates.history(),
		Messages: messagesJSON{In: st.In, Out: st.Out, Unroutable: st.Unroutable,
			DeadLettered: st.DeadLetter, Expired: st.Expired, Dropped: st.Dropped},
		Queues:   st.Queues,
		Retained: st.Retained,
		Memory:   readMemory(),
		Store:    storeJSON{Engine: h.cfg.Storage},
	}
	if h.cfg.Listeners != nil {
		o.Listeners = append(o.Listeners, h.cfg.Listeners()...)
	}
	if h.cfg.Conns != nil {
		for _, c := range h.cfg.Conns.List() {
			o.Connections[string(c.Protocol)]++
			o.Connections["total"]++
		}
	}
	for _, q := range h.cfg.Exchange.Queues() {
		o.Ready += q.Ready
	}
	if h.cfg.StoreSize != nil {
		n, err := h.cfg.StoreSize()
		o.Store.Size = n
		if err != nil {
			o.Store.Error = err.Error()
		}
	}
	return http.StatusOK, o, nil
}

var memSamples = []string{
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/goal:bytes",
	"/sched/goroutines:goroutines",
	"/gc/cycles/total:gc-cycles",
	"/gc/gomemlimit:bytes",
}

func readMemory() memoryJSON {
	s := make([]metrics.Sample, len(memSamples))
	for i, n := range memSamples {
		s[i].Name = n
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	m := memoryJSON{Total: u(0), Heap: u(1), HeapGoal: u(2), Goroutines: u(3), GCCycles: u(4),
		Limit: int64(min(u(5), 1<<63-1)), CPUs: runtime.GOMAXPROCS(0), RSS: rss()}
	return m
}

// rss reads the resident set size from /proc/self/statm (Linux); 0
// elsewhere.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// --- connections

func (h *Handler) listConns(_ *http.Request, _ auth.Identity) (int, any, error) {
	out := []connJSON{}
	if h.cfg.Conns != nil {
		for _, c := range h.cfg.Conns.List() {
			out = append(out, toConn(c))
		}
	}
	return http.StatusOK, out, nil
}

func (h *Handler) lookupConn(r *http.Request) (conns.Conn, error) {
	id := r.PathValue("id")
	if h.cfg.Conns != nil {
		if c, ok := h.cfg.Conns.Get(id); ok {
			return c, nil
		}
	}
	return conns.Conn{}, errorf(http.StatusNotFound, "connection %q not found", id)
}

func (h *Handler) getConn(r *http.Request, _ auth.Identity) (int, any, error) {
	c, err := h.lookupConn(r)
	if err != nil {
		return 0, nil, err
	}
	d := connDetailJSON{connJSON: toConn(c), Consumers: h.consumers(func(ci exchange.ConsumerInfo) bool {
		return ci.ConnID == c.ID
	})}
	return http.StatusOK, d, nil
}

func (h *Handler) closeConn(r *http.Request, id auth.Identity) (int, any, error) {
	c, err := h.lookupConn(r)
	if err != nil {
		return 0, nil, err
	}
	reason := "closed by an administrator"
	if err := h.cfg.Conns.Close(c.ID, reason); err != nil {
		if errors.Is(err, conns.ErrNotFound) {
			return 0, nil, errorf(http.StatusNotFound, "connection %q not found", c.ID)
		}
		return 0, nil, err
	}
	h.log.Info("connection closed through the admin API", "conn", c.ID, "protocol", c.Protocol, "client", c.ClientID, "by", id.User)
	return http.StatusAccepted, map[string]string{"status": "closing", "id": c.ID}, nil
}

// consumers returns the consumers keep selects, with their queue's bindings.
func (h *Handler) consumers(keep func(exchange.ConsumerInfo) bool) []consumerJSON {
	out := []consumerJSON{}
	bindings := map[string][]string{}
	for _, ci := range h.cfg.Exchange.Consumers() {
		if keep != nil && !keep(ci) {
			continue
		}
		b, ok := bindings[ci.Queue]
		if !ok {
			if qs, found := h.cfg.Exchange.Queue(ci.Queue); found {
				b = patterns(qs)
			}
			bindings[ci.Queue] = b
		}
		out = append(out, consumerJSON{ID: ci.ID, Queue: ci.Queue, Protocol: ci.Protocol, ClientID: ci.ClientID,
			ConnID: ci.ConnID, Credit: ci.Credit, Unsettled: ci.Unsettled, AutoAck: ci.AutoAck,
			Exclusive: ci.Exclusive, Accept: ci.Accept, Bindings: append([]string{}, b...)})
	}
	return out
}

func (h *Handler) listConsumers(r *http.Request, _ auth.Identity) (int, any, error) {
	queue := r.URL.Query().Get("queue")
	return http.StatusOK, h.consumers(func(ci exchange.ConsumerInfo) bool {
		return queue == "" || ci.Queue == queue
	}), nil
}

// --- queues

func (h *Handler) listQueues(_ *http.Request, _ auth.Identity) (int, any, error) {
	rates := h.rates.queueRates()
	out := []queueJSON{}
	for _, q := range h.cfg.Exchange.Queues() {
		out = append(out, toQueue(q, rates[q.Name]))
	}
	return http.StatusOK, out, nil
}

type queueDetailJSON struct {
	queueJSON
	ConsumerList []consumerJSON `json:"consumer_list"`
}

func (h *Handler) getQueue(r *http.Request, _ auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	q, ok := h.cfg.Exchange.Queue(name)
	if !ok {
		return 0, nil, queueNotFound(name)
	}
	d := queueDetailJSON{queueJSON: toQueue(q, h.rates.queueRates()[name]),
		ConsumerList: h.consumers(func(ci exchange.ConsumerInfo) bool { return ci.Queue == name })}
	return http.StatusOK, d, nil
}

func queueNotFound(name string) error {
	return errorf(http.StatusNotFound, "queue %q not found", name)
}

// queueError maps an exchange error about a queue to its status.
func queueError(name string, err error) error {
	switch {
	case errors.Is(err, exchange.ErrQueueNotFound):
		return queueNotFound(name)
	case errors.Is(err, exchange.ErrInvalid):
		return errorf(http.StatusBadRequest, "%v", err)
	case errors.Is(err, exchange.ErrClosed):
		return errorf(http.StatusServiceUnavailable, "%v", err)
	}
	return err
}

// queueSpec is the body of a queue creation.
type queueSpec struct {
	Name          string   `json:"name"` // POST /api/v1/queues only
	Durable       bool     `json:"durable"`
	AutoDelete    bool     `json:"auto_delete"`
	MaxLength     int      `json:"max_length"`
	MaxBytes      int64    `json:"max_bytes"`
	Overflow      string   `json:"overflow"` // "drop-head" (default) or "reject-publish"
	TTL           string   `json:"ttl"`      // a Go duration, "" none
	MaxDeliveries int      `json:"max_deliveries"`
	DeadLetter    string   `json:"dead_letter"` // "" the default, "-" drop
	Bindings      []string `json:"bindings"`    // MQTT filters
}

// decode reads a JSON body into v; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
		}
		return errorf(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "malformed JSON body: more than one value")
	}
	return nil
}

func (h *Handler) createQueue(r *http.Request, id auth.Identity) (int, any, error) {
	var spec queueSpec
	if err := decode(r, &spec); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	if name == "" {
		name = spec.Name
	} else if spec.Name != "" && spec.Name != name {
		return 0, nil, errorf(http.StatusBadRequest, "name %q in the body differs from %q in the path", spec.Name, name)
	}
	if name == "" {
		return 0, nil, errorf(http.StatusBadRequest, "queue name required")
	}
	cfg := exchange.QueueConfig{Durable: spec.Durable, AutoDelete: spec.AutoDelete, MaxLength: spec.MaxLength,
		MaxBytes: spec.MaxBytes, MaxDeliveries: spec.MaxDeliveries, DeadLetter: spec.DeadLetter}
	switch spec.Overflow {
	case "", "drop-head":
	case "reject-publish":
		cfg.Overflow = exchange.RejectPublish
	default:
		return 0, nil, errorf(http.StatusBadRequest, "overflow must be drop-head or reject-publish, not %q", spec.Overflow)
	}
	if spec.TTL != "" {
		d, err := time.ParseDuration(spec.TTL)
		if err != nil || d < 0 {
			return 0, nil, errorf(http.StatusBadRequest, "ttl %q: want a duration such as 30s", spec.TTL)
		}
		cfg.TTL = d
	}
	var pats []address.Pattern
	for _, b := range spec.Bindings {
		p, err := address.ParseMQTTFilter(b)
		if err != nil {
			return 0, nil, errorf(http.StatusBadRequest, "binding %q: %v", b, err)
		}
		pats = append(pats, p)
	}
	_, existed := h.cfg.Exchange.Queue(name)
	if err := h.cfg.Exchange.DeclareQueue(name, cfg); err != nil {
		return 0, nil, queueError(name, err)
	}
	for _, p := range pats {
		if err := h.cfg.Exchange.Bind(name, p); err != nil {
			return 0, nil, queueError(name, err)
		}
	}
	q, ok := h.cfg.Exchange.Queue(name)
	if !ok {
		return 0, nil, queueNotFound(name)
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	} else {
		h.log.Info("queue created through the admin API", "queue", name, "by", id.User)
	}
	return status, toQueue(q, Rate{}), nil
}

func (h *Handler) deleteQueue(r *http.Request, id auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	if err := h.cfg.Exchange.DeleteQueue(name); err != nil {
		return 0, nil, queueError(name, err)
	}
	h.log.Info("queue deleted through the admin API", "queue", name, "by", id.User)
	return http.StatusNoContent, nil, nil
}

func (h *Handler) purgeQueue(r *http.Request, id auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	n, err := h.cfg.Exchange.PurgeQueue(name)
	if err != nil {
		return 0, nil, queueError(name, err)
	}
	h.log.Info("queue purged through the admin API", "queue", name, "messages", n, "by", id.User)
	return http.StatusOK, map[string]int{"purged": n}, nil
}

// count reads ?count=N: def when absent, at most MaxPeek.
func count(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("count")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "count %q: want a number from 0 to %d", s, MaxPeek)
	}
	return min(n, MaxPeek), nil
}

func wantBase64(r *http.Request) (bool, error) {
	switch e := r.URL.Query().Get("encoding"); e {
	case "", "auto", "text":
		return false, nil
	case "base64":
		return true, nil
	default:
		return false, errorf(http.StatusBadRequest, "encoding %q: want auto or base64", e)
	}
}

func (h *Handler) peek(r *http.Request, _ auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	n, err := count(r, 10)
	if err != nil {
		return 0, nil, err
	}
	b64, err := wantBase64(r)
	if err != nil {
		return 0, nil, err
	}
	ps, err := h.cfg.Exchange.Peek(name, n)
	if err != nil {
		return 0, nil, queueError(name, err)
	}
	out := make([]messageJSON, 0, len(ps))
	for _, p := range ps {
		j := toMessage(p.Msg, b64)
		j.Seq, j.DeliveryCount, j.Redelivered = p.Seq, p.DeliveryCount, p.Redelivered
		out = append(out, j)
	}
	return http.StatusOK, out, nil
}

// get consumes up to ?count=N messages (default 1), waiting up to ?wait
// (default 1s, at most 30s) for the first; they are acknowledged.
func (h *Handler) get(r *http.Request, _ auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	n, err := count(r, 1)
	if err != nil {
		return 0, nil, err
	}
	b64, err := wantBase64(r)
	if err != nil {
		return 0, nil, err
	}
	wait := time.Second
	if s := r.URL.Query().Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 {
			return 0, nil, errorf(http.StatusBadRequest, "wait %q: want a duration such as 2s", s)
		}
		wait = min(wait, 30*time.Second)
	}
	if _, ok := h.cfg.Exchange.Queue(name); !ok {
		return 0, nil, queueNotFound(name)
	}
	out := []messageJSON{}
	if n == 0 {
		return http.StatusOK, out, nil
	}
	ch := make(chan *exchange.Delivery, n)
	c, err := h.cfg.Exchange.Consume(name, exchange.ConsumerOptions{
		Protocol: message.ProtocolHTTP, ClientID: "admin", ConnID: "http:" + r.RemoteAddr, Credit: n,
		Handler: func(d *exchange.Delivery) { ch <- d }, // credit n: never more than n
	})
	if err != nil {
		return 0, nil, queueError(name, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	var got []*exchange.Delivery
wait:
	for len(got) < n {
		select {
		case d := <-ch:
			got = append(got, d)
		case <-ctx.Done():
			break wait
		}
	}
	for _, d := range got {
		if err := d.Settle(exchange.Accepted); err != nil {
			continue // the queue was deleted meanwhile
		}
		j := toMessage(d.Msg, b64)
		j.Seq, j.DeliveryCount, j.Redelivered = d.Seq, d.DeliveryCount, d.Redelivered
		out = append(out, j)
	}
	// Close releases what was handed over after the wait ended, so that a
	// delivery that raced the timeout goes back to the queue.
	_ = c.Close()
	return http.StatusOK, out, nil
}

func (h *Handler) move(r *http.Request, id auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	n, err := count(r, 0)
	if err != nil {
		return 0, nil, err
	}
	if r.URL.Query().Get("count") == "" {
		n = 0 // all
	}
	res, err := h.cfg.Exchange.MoveDeadLetters(r.Context(), name, n)
	if err != nil {
		if errors.Is(err, exchange.ErrQueueNotFound) {
			return 0, nil, queueNotFound(name)
		}
		return 0, nil, err
	}
	h.log.Info("dead letters moved through the admin API", "queue", name, "moved", res.Moved,
		"unroutable", res.Unroutable, "skipped", res.Skipped, "by", id.User)
	return http.StatusOK, map[string]int{"moved": res.Moved, "unroutable": res.Unroutable, "skipped": res.Skipped}, nil
}

type bindingSpec struct {
	Pattern string `json:"pattern"`
}

func (h *Handler) bindingPattern(r *http.Request) (address.Pattern, error) {
	var spec bindingSpec
	if r.Method == http.MethodDelete {
		spec.Pattern = r.URL.Query().Get("pattern")
	} else if err := decode(r, &spec); err != nil {
		return nil, err
	}
	p, err := address.ParseMQTTFilter(spec.Pattern)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "pattern %q: %v", spec.Pattern, err)
	}
	return p, nil
}

func (h *Handler) bind(r *http.Request, _ auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	p, err := h.bindingPattern(r)
	if err != nil {
		return 0, nil, err
	}
	if err := h.cfg.Exchange.Bind(name, p); err != nil {
		return 0, nil, queueError(name, err)
	}
	return http.StatusOK, bindingJSON{Queue: name, Pattern: p.MQTT()}, nil
}

func (h *Handler) unbind(r *http.Request, _ auth.Identity) (int, any, error) {
	name := r.PathValue("name")
	p, err := h.bindingPattern(r)
	if err != nil {
		return 0, nil, err
	}
	if err := h.cfg.Exchange.Unbind(name, p); err != nil {
		return 0, nil, queueError(name, err)
	}
	return http.StatusNoContent, nil, nil
}

type bindingJSON struct {
	Queue   string `json:"queue"`
	Pattern string `json:"pattern"`
}

func (h *Handler) listBindings(_ *http.Request, _ auth.Identity) (int, any, error) {
	out := []bindingJSON{}
	for _, q := range h.cfg.Exchange.Queues() {
		for _, p := range q.Bindings {
			out = append(out, bindingJSON{Queue: q.Name, Pattern: p.MQTT()})
		}
	}
	return http.StatusOK, out, nil
}

type addressJSON struct {
	Pattern string   `json:"pattern"`
	Queues  []string `json:"queues"`
}

// listAddresses groups the bindings by pattern: which queues each address
// pattern reaches.
func (h *Handler) listAddresses(_ *http.Request, _ auth.Identity) (int, any, error) {
	by := map[string][]string{}
	for _, q := range h.cfg.Exchange.Queues() {
		for _, p := range q.Bindings {
			by[p.MQTT()] = append(by[p.MQTT()], q.Name)
		}
	}
	out := make([]addressJSON, 0, len(by))
	for p, qs := range by {
		out = append(out, addressJSON{Pattern: p, Queues: qs})
	}
	slices.SortFunc(out, func(a, b addressJSON) int { return strings.Compare(a.Pattern, b.Pattern) })
	return http.StatusOK, out, nil
}

// --- retained

func (h *Handler) listRetained(r *http.Request, _ auth.Identity) (int, any, error) {
	f := r.URL.Query().Get("filter")
	if f == "" {
		f = "#"
	}
	p, err := address.ParseMQTTFilter(f)
	if err != nil {
		return 0, nil, errorf(http.StatusBadRequest, "filter %q: %v", f, err)
	}
	b64, err := wantBase64(r)
	if err != nil {
		return 0, nil, err
	}
	ms := h.cfg.Exchange.Retained(p)
	slices.SortFunc(ms, func(a, b *message.Message) int { return strings.Compare(a.Address.MQTT(), b.Address.MQTT()) })
	out := make([]messageJSON, 0, len(ms))
	for _, m := range ms {
		j := toMessage(m, b64)
		j.Retain = true
		out = append(out, j)
	}
	return http.StatusOK, out, nil
}

func (h *Handler) deleteRetained(r *http.Request, id auth.Identity) (int, any, error) {
	topic := r.URL.Query().Get("topic")
	a, err := address.ParseMQTTTopic(topic)
	if err != nil {
		return 0, nil, errorf(http.StatusBadRequest, "topic %q: %v", topic, err)
	}
	ok, err := h.cfg.Exchange.DeleteRetained(r.Context(), a)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return 0, nil, errorf(http.StatusNotFound, "no retained message at %q", topic)
	}
	h.log.Info("retained message deleted through the admin API", "topic", topic, "by", id.User)
	return http.StatusNoContent, nil, nil
}

// --- transformers, reload

func (h *Handler) transformers(_ *http.Request, _ auth.Identity) (int, any, error) {
	out := []TransformerStatus{}
	if h.cfg.Transformers != nil {
		out = append(out, h.cfg.Transformers()...)
	}
	return http.StatusOK, out, nil
}

func (h *Handler) reload(_ *http.Request, id auth.Identity) (int, any, error) {
	if h.cfg.Reload == nil {
		return 0, nil, errorf(http.StatusNotImplemented, "reload is not available")
	}
	h.log.Info("configuration reload requested through the admin API", "by", id.User)
	if err := h.cfg.Reload(); err != nil {
		return 0, nil, errorf(http.StatusUnprocessableEntity, "reload failed; the running configuration stays: %v", err)
	}
	return http.StatusOK, map[string]string{"status": "reloaded"}, nil
}

// --- publish

// publishSpec is the body of POST /api/v1/publish.
type publishSpec struct {
	Address     string            `json:"address"` // an MQTT topic: "a/b"
	Body        string            `json:"body"`
	BodyBase64  string            `json:"body_base64"` // instead of body, for binary payloads
	ContentType string            `json:"content_type"`
	Headers     map[string]string `json:"headers"`
	Retain      bool              `json:"retain"`
	Durable     bool              `json:"durable"`
	Priority    *uint8            `json:"priority"`
	// Queue makes sure a queue named like the address exists, as a send
	// to a queue destination does.
	Queue bool `json:"queue"`
}

type publishResult struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Queues  int    `json:"queues"`  // queues the message was put on
	Dropped int    `json:"dropped"` // queues that dropped a message to make room
}

func (h *Handler) publish(r *http.Request, id auth.Identity) (int, any, error) {
	var spec publishSpec
	if err := decode(r, &spec); err != nil {
		return 0, nil, err
	}
	m, err := h.messageOf(spec, r, id)
	if err != nil {
		return 0, nil, err
	}
	routed, err := h.cfg.Exchange.Publish(r.Context(), m, exchange.PublishOptions{EnsureQueue: spec.Queue})
	if err != nil {
		switch {
		case errors.Is(err, exchange.ErrQueueFull):
			return 0, nil, errorf(http.StatusConflict, "%v", err)
		case errors.Is(err, exchange.ErrQueueNotFound):
			return 0, nil, errorf(http.StatusNotFound, "%v", err)
		case errors.Is(err, exchange.ErrInvalid):
			return 0, nil, errorf(http.StatusBadRequest, "%v", err)
		}
		return 0, nil, fmt.Errorf("publish: %w", err)
	}
	return http.StatusOK, publishResult{ID: m.ID, Address: m.Address.MQTT(), Queues: routed.Queues, Dropped: routed.Dropped}, nil
}

// messageOf builds the canonical message of a publish or explain request,
// published by the requester over HTTP.
func (h *Handler) messageOf(spec publishSpec, r *http.Request, id auth.Identity) (*message.Message, error) {
	a, err := address.ParseMQTTTopic(spec.Address)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "address %q: %v", spec.Address, err)
	}
	body := []byte(spec.Body)
	if spec.BodyBase64 != "" {
		if spec.Body != "" {
			return nil, errorf(http.StatusBadRequest, "give body or body_base64, not both")
		}
		if body, err = base64.StdEncoding.DecodeString(spec.BodyBase64); err != nil {
			return nil, errorf(http.StatusBadRequest, "body_base64: %v", err)
		}
	}
	m := &message.Message{
		Address: a, Body: body, ContentType: spec.ContentType, Durable: spec.Durable,
		Priority: message.DefaultPriority, CreatedAt: h.now(),
	}
	if spec.Priority != nil {
		if *spec.Priority > message.MaxPriority {
			return nil, errorf(http.StatusBadRequest, "priority %d: want 0 to %d", *spec.Priority, message.MaxPriority)
		}
		m.Priority = *spec.Priority
	}
	keys := make([]string, 0, len(spec.Headers))
	for k := range spec.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.Headers.Add(k, message.String(spec.Headers[k]))
	}
	m.Annotations.Origin = message.Origin{Protocol: message.ProtocolHTTP, ClientID: "admin", ConnID: "http:" + r.RemoteAddr, User: id.User}
	m.Annotations.Retain = spec.Retain
	if spec.Durable {
		m.Annotations.QoS = 1
	}
	return m, nil
}
