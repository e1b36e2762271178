// Package auth is the core's authentication and authorization service
// (DESIGN.md §8), shared by every protocol front-end: users come from the
// configuration (bcrypt hashes) and permissions are rules of (action,
// address pattern) with {username} and {client_id} variables.
package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// Errors returned by Authenticate. Front-ends map them to their protocol's
// codes (MQTT CONNACK 0x86/0x87 or 0x04/0x05, STOMP ERROR, AMQP SASL
// outcome auth).
var (
	ErrBadCredentials = errors.New("auth: bad user name or password")
	ErrAnonymous      = errors.New("auth: anonymous access is not allowed")
)

// Action is what a permission allows.
type Action uint8

// Actions.
const (
	Publish Action = iota + 1
	Subscribe
	Admin
)

func (a Action) String() string {
	switch a {
	case Publish:
		return "publish"
	case Subscribe:
		return "subscribe"
	case Admin:
		return "admin"
	}
	return "unknown"
}

// Credentials are what a client presented.
type Credentials struct {
	Protocol    message.Protocol
	Username    string
	Password    []byte
	HasUsername bool // MQTT distinguishes an empty name from none
	ClientID    string
	Remote      net.Addr
	TLS         *tls.ConnectionState // nil on plain connections
}

// Identity is an authenticated principal.
type Identity struct {
	User      string // empty when Anonymous
	Anonymous bool
	ClientID  string
}

// Service authenticates clients and authorizes their actions. It must be
// safe for concurrent use; a configuration reload swaps the rules
// atomically.
type Service interface {
	Authenticate(ctx context.Context, c Credentials) (Identity, error)
	// Authorize reports whether id may perform action on p: for Publish, p
	// is the exact address published to; for Subscribe, the filter, which
	// must lie inside a permitted pattern (address.Pattern.Covers).
	Authorize(id Identity, action Action, p address.Pattern) bool
}
