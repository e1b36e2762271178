// Package admin is the broker's HTTP admin API (/api/v1, JSON) and the
// dashboard served at /. The Handler is built from small interfaces
// (Exchange, Conns, the auth service, a reload function and status
// functions), so that it can be tested with httptest and the binary wires
// the concrete types. docs/api.md describes every endpoint.
//
// Every /api/v1 request is authenticated with HTTP Basic credentials
// against the auth service and needs the admin permission on "#". A
// request without credentials is anonymous: it is admin only when the auth
// service accepts anonymous clients and either grants them admin, or
// Config.AnonymousLocal is set (the HTTP listener is loopback-only) and
// the request comes from a loopback address. The dashboard's static files
// need no credentials: they hold no data, and the browser asks for
// credentials when the API answers 401.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Exchange is what the API needs from *exchange.Exchange.
type Exchange interface {
	Stats() exchange.Stats
	Queues() []exchange.QueueStats
	Queue(name string) (exchange.QueueStats, bool)
	DeclareQueue(name string, cfg exchange.QueueConfig) error
	DeleteQueue(name string) error
	PurgeQueue(name string) (int, error)
	Bind(queue string, p address.Pattern) error
	Unbind(queue string, p address.Pattern) error
	Peek(queue string, n int) ([]exchange.Peeked, error)
	MoveDeadLetters(ctx context.Context, queue string, n int) (exchange.MoveResult, error)
	Consume(queue string, opts exchange.ConsumerOptions) (*exchange.Consumer, error)
	Consumers() []exchange.ConsumerInfo
	Retained(p address.Pattern) []*message.Message
	DeleteRetained(ctx context.Context, a address.Address) (bool, error)
	Publish(ctx context.Context, m *message.Message, opts exchange.PublishOptions) (exchange.Routed, error)
}

var _ Exchange = (*exchange.Exchange)(nil)

// Conns is what the API needs from *conns.Registry.
type Conns interface {
	List() []conns.Conn
	Get(id string) (conns.Conn, bool)
	Close(id, reason string) error
}

var _ Conns = (*conns.Registry)(nil)

// Listener is one bound listener, as the overview reports it.
type Listener struct {
	Name string `json:"name"` // "mqtt", "stomp_tls", "http"...
	Addr string `json:"addr"` // the address actually bound
}

// TransformerStatus describes one transformer or plugin.
type TransformerStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`            // "builtin" or "plugin"
	Status string `json:"status"`          // "ok", "failed", "stopped"...
	Error  string `json:"error,omitempty"` // the last error, if any
	// Calls and Failures count transformations since start.
	Calls    uint64 `json:"calls"`
	Failures uint64 `json:"failures"`
}

// Config configures a Handler.
type Config struct {
	Exchange Exchange     // required
	Auth     auth.Service // required
	// Conns lists and closes connections; nil means none are listed.
	Conns Conns
	// AnonymousLocal makes anonymous requests from a loopback address
	// admin, when the auth service accepts anonymous clients. Set it only
	// when the HTTP listener is bound to loopback.
	AnonymousLocal bool
	// Reload re-reads the configuration, as SIGHUP does; nil means
	// POST /api/v1/reload answers 501.
	Reload func() error
	// Version and Commit are reported by the overview.
	Version, Commit string
	// Started is when the broker started; zero means when New ran.
	Started time.Time
	// Listeners returns the bound listeners; nil means none reported.
	Listeners func() []Listener
	// Storage names the store engine ("badger", "memory") for the overview.
	Storage string
	// StoreSize returns the store's size on disk in bytes; nil means
	// unknown.
	StoreSize func() (int64, error)
	// Transformers returns the transform engine's status; nil means no
	// transform engine is wired, and the list is empty.
	Transformers func() []TransformerStatus
	// Explain backs POST /api/v1/explain; nil means it answers 501.
	Explain ExplainFunc
	// SampleInterval is how often counters are sampled for rates; 0
	// means one second.
	SampleInterval time.Duration
	// Logger; nil means discard.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Limits of the API.
const (
	// MaxPeek is the most messages one peek, get or move request handles.
	MaxPeek = 1000
	// maxBody bounds a request body.
	maxBody = 4 << 20
	// historyLen is how many rate samples the overview returns.
	historyLen = 120
)

// Handler serves /api/v1/ and the dashboard. Create it with New.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	rates   *sampler
	started time.Time
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Exchange == nil {
		return nil, errors.New("admin: config: Exchange is required")
	}
	if cfg.Auth == nil {
		return nil, errors.New("admin: config: Auth is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = time.Second
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, now: cfg.Now, started: cfg.Started}
	if h.started.IsZero() {
		h.started = h.now()
	}
	h.rates = newSampler(cfg.Exchange, cfg.Now, cfg.SampleInterval)
	h.mux = http.NewServeMux()
	h.routes()
	return h, nil
}

// Run samples the counters every SampleInterval until ctx ends, so that
// rates are fresh whenever they are asked for. Without it, rates are
// sampled when requested.
func (h *Handler) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.rates.sample()
		}
	}
}

// ServeHTTP routes /api/v1/ and the dashboard.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// apiFunc is an API endpoint: it returns the value to encode with the
// status, or an error (an *apiError, or any other error as a 500).
type apiFunc func(r *http.Request, id auth.Identity) (int, any, error)

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if v == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encode: " + err.Error(), Status: status})
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="rosetta", charset="UTF-8"`)
	}
	writeJSON(w, status, errorBody{Error: msg, Status: status})
}

// api wraps an endpoint with authentication, the admin check and the
// JSON encoding of its result.
func (h *Handler) api(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, status, msg := h.authenticate(r)
		if status != 0 {
			writeError(w, status, msg)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		code, v, err := f(r, id)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				writeError(w, ae.status, ae.msg)
				return
			}
			h.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if code == http.StatusNoContent {
			w.WriteHeader(code)
			return
		}
		writeJSON(w, code, v)
	})
}

// adminScope is the pattern global admin is checked on (docs/configuration.md).
var adminScope = address.Pattern{address.MultiLevel}

// authenticate checks the request's credentials; a non-zero status is
// the refusal.
func (h *Handler) authenticate(r *http.Request) (auth.Identity, int, string) {
	user, pass, hasUser := r.BasicAuth()
	creds := auth.Credentials{
		Protocol:    message.ProtocolHTTP,
		Username:    user,
		Password:    []byte(pass),
		HasUsername: hasUser,
		TLS:         r.TLS,
	}
	if addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		creds.Remote = addr
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	id, err := h.cfg.Auth.Authenticate(ctx, creds)
	cancel()
	switch {
	case errors.Is(err, auth.ErrAnonymous):
		return id, http.StatusUnauthorized, "credentials required"
	case err != nil:
		h.log.Info("admin authentication failed", "user", user, "remote", r.RemoteAddr, "err", err)
		return id, http.StatusUnauthorized, "bad user name or password"
	}
	if h.cfg.Auth.Authorize(id, auth.Admin, adminScope) {
		return id, 0, ""
	}
	if id.Anonymous {
		if h.cfg.AnonymousLocal && isLoopback(r.RemoteAddr) {
			return id, 0, ""
		}
		return id, http.StatusUnauthorized, "credentials required: anonymous clients are not admin"
	}
	return id, http.StatusForbidden, fmt.Sprintf("user %q lacks the admin permission", id.User)
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	host, _, _ = strings.Cut(host, "%")
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
