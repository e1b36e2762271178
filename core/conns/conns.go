// Package conns is the registry of open client connections that the
// protocol front-ends share with the admin API: who is connected, over
// which protocol, since when, how many messages went each way, and a hook
// to close a connection from outside its front-end.
//
// A front-end calls Registry.Add once a connection is authenticated,
// Handle.CountIn and Handle.CountOut as messages are read and written, and
// Handle.Remove when the connection ends. Every Handle method is a no-op
// on a nil Handle, and Registry.Add on a nil Registry returns a nil
// Handle, so a front-end configured without a registry needs no checks.
package conns

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

// ErrNotFound is returned by Close for an ID that is not registered.
var ErrNotFound = errors.New("conns: connection not found")

// Info describes a connection. It does not change once registered.
type Info struct {
	Protocol message.Protocol
	// ID is the broker-assigned connection identifier (message.Origin.ConnID),
	// unique among open connections.
	ID string
	// ClientID is the MQTT client identifier, the STOMP client-id or
	// session, or the AMQP container-id.
	ClientID string
	User     string // authenticated user; empty for anonymous
	Remote   string // the peer's address
	// Transport is "tcp", "tls" or "ws"; empty when the front-end does not
	// say.
	Transport   string
	ConnectedAt time.Time
}

// Conn is a snapshot of one registered connection.
type Conn struct {
	Info
	MessagesIn  uint64 // messages the client published
	MessagesOut uint64 // messages delivered to the client
}

// CloseFunc ends a connection with the protocol's goodbye (MQTT 5
// DISCONNECT, a STOMP ERROR, an AMQP close). It must not block for long
// and must be safe to call from any goroutine, more than once.
type CloseFunc func(reason string)

// Registry holds the open connections. The zero value is ready to use;
// it is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]*Handle // by Info.ID (guarded by mu)
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

// Handle is one registered connection. Its front-end keeps it for the
// connection's lifetime.
type Handle struct {
	r     *Registry
	info  Info
	close CloseFunc
	in    atomic.Uint64
	out   atomic.Uint64
}

// Add registers a connection and returns its handle. A zero ConnectedAt
// is set to now. An ID already registered is replaced: the old handle's
// Remove then leaves the new one in place. On a nil Registry Add returns
// nil.
func (r *Registry) Add(info Info, closeFn CloseFunc) *Handle {
	if r == nil {
		return nil
	}
	if info.ConnectedAt.IsZero() {
		info.ConnectedAt = time.Now()
	}
	h := &Handle{r: r, info: info, close: closeFn}
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[string]*Handle)
	}
	r.m[info.ID] = h
	r.mu.Unlock()
	return h
}

// CountIn counts one message read from the client.
func (h *Handle) CountIn() {
	if h != nil {
		h.in.Add(1)
	}
}

// CountOut counts one message written to the client.
func (h *Handle) CountOut() {
	if h != nil {
		h.out.Add(1)
	}
}

// Remove unregisters the connection. Calling it again does nothing.
func (h *Handle) Remove() {
	if h == nil {
		return
	}
	h.r.mu.Lock()
	if h.r.m[h.info.ID] == h {
		delete(h.r.m, h.info.ID)
	}
	h.r.mu.Unlock()
}

func (h *Handle) snapshot() Conn {
	return Conn{Info: h.info, MessagesIn: h.in.Load(), MessagesOut: h.out.Load()}
}

// Len returns the number of registered connections.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// List returns every connection, oldest first (then by ID).
func (r *Registry) List() []Conn {
	r.mu.RLock()
	out := make([]Conn, 0, len(r.m))
	for _, h := range r.m {
		out = append(out, h.snapshot())
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Conn) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Get returns the connection with the given ID.
func (r *Registry) Get(id string) (Conn, bool) {
	r.mu.RLock()
	h := r.m[id]
	r.mu.RUnlock()
	if h == nil {
		return Conn{}, false
	}
	return h.snapshot(), true
}

// Close asks the connection's front-end to close it with reason. It
// returns once the request is made, not when the connection is gone: the
// front-end removes it when it ends. An unknown ID is ErrNotFound.
func (r *Registry) Close(id, reason string) error {
	r.mu.RLock()
	h := r.m[id]
	r.mu.RUnlock()
	if h == nil {
		return ErrNotFound
	}
	if h.close != nil {
		h.close(reason)
	}
	return nil
}
