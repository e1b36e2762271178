package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/rosettamq/rosetta/core/address"
)

// MaxBcryptCost is the highest bcrypt cost accepted in a configured hash.
// Each step doubles the work; at 15 one check takes a few seconds of CPU,
// and a higher cost would let a configuration typo stall every connect.
const MaxBcryptCost = 15

// User is a configured user.
type User struct {
	Name string
	// PasswordHash is a bcrypt hash ("$2a$", "$2b$" or "$2y$"), as printed
	// by `rosetta passwd`.
	PasswordHash string
	// Permissions of this user; empty means StaticConfig.DefaultPermissions.
	Permissions []Permission
}

// StaticConfig is the users and rules of a Static service.
type StaticConfig struct {
	// AllowAnonymous lets clients that present no user name connect.
	AllowAnonymous bool
	Users          []User
	// AnonymousPermissions apply to anonymous clients. They never fall back
	// to DefaultPermissions: rules written for people who logged in are not
	// given to whoever connects.
	AnonymousPermissions []Permission
	// DefaultPermissions apply to users with no permissions of their own.
	DefaultPermissions []Permission
}

// Static is a Service whose users and permissions come from configuration.
// When no permission is configured anywhere, every client that may connect
// may publish and subscribe to every address "#" matches (so not "$"
// addresses), and nobody is admin.
//
// Static is safe for concurrent use. Reload swaps the rules atomically:
// calls in progress finish with the rules they started with.
type Static struct {
	rules atomic.Pointer[ruleSet]
	// sem bounds the bcrypt comparisons running at once, so a storm of
	// logins with wrong passwords cannot take every CPU from the broker.
	sem chan struct{}
	// flight merges identical concurrent verifications: a fleet of devices
	// sharing one account that reconnects at once costs one bcrypt check.
	flight singleflight.Group
	// dummy hashes, by cost, compared against for unknown users so that
	// they take as long as known ones (guarded by dummyMu).
	dummyMu sync.Mutex
	dummy   map[int][]byte
}

var _ Service = (*Static)(nil)

// ruleSet is one immutable configuration plus the verification cache that
// belongs to it, so that a reload drops the cache with the rules.
type ruleSet struct {
	allowAnonymous bool
	users          map[string]*userEntry
	anonymous      []rule
	maxCost        int // highest cost among the users' hashes, for the dummy compare
	// cacheKey keys the HMAC-SHA-256 of verified passwords. It is random
	// per rule set: a memory dump then holds nothing that an offline
	// dictionary attack could test faster than the bcrypt hashes themselves.
	cacheKey []byte
	mu       sync.RWMutex
	verified map[string][sha256.Size]byte // guarded by mu: user name -> MAC of the last password verified
}

type userEntry struct {
	hash  []byte
	rules []rule
}

// allPermissions are the rules used when no permission is configured.
var allPermissions = []rule{
	{action: Publish, pattern: address.Pattern{address.MultiLevel}},
	{action: Subscribe, pattern: address.Pattern{address.MultiLevel}},
}

// NewStatic validates cfg and returns a service using it.
func NewStatic(cfg StaticConfig) (*Static, error) {
	rs, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	n := runtime.GOMAXPROCS(0)
	s := &Static{sem: make(chan struct{}, n), dummy: make(map[int][]byte)}
	s.prepare(rs)
	s.rules.Store(rs)
	return s, nil
}

// Reload validates cfg and, when it is valid, replaces the rules and forgets
// every cached verification. On error the old rules stay in force.
func (s *Static) Reload(cfg StaticConfig) error {
	rs, err := compile(cfg)
	if err != nil {
		return err
	}
	s.prepare(rs)
	s.rules.Store(rs)
	return nil
}

// prepare makes the dummy hash for the rule set's cost now, so that the
// first unknown user does not pay for making it and stand out by taking
// twice as long.
func (s *Static) prepare(rs *ruleSet) {
	if len(rs.users) > 0 {
		s.dummyHash(rs.maxCost)
	}
}

// Validate reports what NewStatic would refuse in c, without the bcrypt
// work NewStatic does.
func (c StaticConfig) Validate() error {
	_, err := compile(c)
	return err
}

func compile(cfg StaticConfig) (*ruleSet, error) {
	rs := &ruleSet{
		allowAnonymous: cfg.AllowAnonymous,
		users:          make(map[string]*userEntry, len(cfg.Users)),
		verified:       make(map[string][sha256.Size]byte),
		cacheKey:       make([]byte, 32),
	}
	if _, err := rand.Read(rs.cacheKey); err != nil {
		return nil, fmt.Errorf("auth: cache key: %w", err)
	}
	var errs []error
	defaults, err := compileRules(cfg.DefaultPermissions)
	if err != nil {
		errs = append(errs, fmt.Errorf("default permissions: %w", err))
	}
	rs.anonymous, err = compileRules(cfg.AnonymousPermissions)
	if err != nil {
		errs = append(errs, fmt.Errorf("anonymous permissions: %w", err))
	}
	configured := len(cfg.DefaultPermissions) > 0 || len(cfg.AnonymousPermissions) > 0
	for i, u := range cfg.Users {
		configured = configured || len(u.Permissions) > 0
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("user %d: empty name", i))
			continue
		}
		if _, dup := rs.users[u.Name]; dup {
			errs = append(errs, fmt.Errorf("user %q: defined twice", u.Name))
			continue
		}
		cost, err := bcrypt.Cost([]byte(u.PasswordHash))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("user %q: password hash is not a bcrypt hash: %w", u.Name, err))
			continue
		case cost > MaxBcryptCost:
			errs = append(errs, fmt.Errorf("user %q: bcrypt cost %d is above the maximum %d", u.Name, cost, MaxBcryptCost))
			continue
		}
		rs.maxCost = max(rs.maxCost, cost)
		own, err := compileRules(u.Permissions)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %q: %w", u.Name, err))
			continue
		}
		if len(u.Permissions) == 0 {
			own = defaults
		}
		rs.users[u.Name] = &userEntry{hash: []byte(u.PasswordHash), rules: own}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if rs.maxCost == 0 {
		rs.maxCost = bcrypt.DefaultCost
	}
	if !configured {
		rs.anonymous = allPermissions
		for _, u := range rs.users {
			u.rules = allPermissions
		}
	}
	return rs, nil
}

// Authenticate checks c against the configured users. A client that
// presents no user name is anonymous: accepted when anonymous access is
// allowed, else ErrAnonymous. Unknown users and wrong passwords both return
// ErrBadCredentials after the same bcrypt work.
//
// A client whose TLS certificate was verified against the configured
// client CAs, and that gives no password, is the configured user its
// certificate's Common Name names, provided it asks for that name (AMQP
// SASL EXTERNAL, or a STOMP login without a passcode): the certificate
// stands in for the password. A Common Name that names no configured user
// is ErrBadCredentials.
func (s *Static) Authenticate(ctx context.Context, c Credentials) (Identity, error) {
	rs := s.rules.Load()
	if !c.HasUsername && c.Username == "" {
		if !rs.allowAnonymous {
			return Identity{}, ErrAnonymous
		}
		return Identity{Anonymous: true, ClientID: c.ClientID}, nil
	}
	if cn, ok := verifiedCommonName(c.TLS); ok && len(c.Password) == 0 {
		if cn != c.Username || rs.users[cn] == nil {
			return Identity{}, ErrBadCredentials
		}
		return Identity{User: cn, ClientID: c.ClientID}, nil
	}
	mac := rs.mac(c.Username, c.Password)
	u := rs.users[c.Username]
	if u != nil && rs.cached(c.Username, mac) {
		return Identity{User: c.Username, ClientID: c.ClientID}, nil
	}
	var hash []byte
	if u != nil {
		hash = u.hash
	} else {
		hash = s.dummyHash(rs.maxCost)
	}
	// The key holds the MAC, never the password; the rule set's address
	// keeps a verification started under old rules from answering for new
	// ones (the MAC key differs too).
	key := fmt.Sprintf("%p\x00%s\x00%x", rs, c.Username, mac)
	ch := s.flight.DoChan(key, func() (any, error) {
		return nil, s.compare(hash, c.Password)
	})
	var err error
	select {
	case r := <-ch:
		err = r.Err
	case <-ctx.Done():
		return Identity{}, fmt.Errorf("auth: %w", ctx.Err())
	}
	if err != nil {
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return Identity{}, ErrBadCredentials
		}
		return Identity{}, fmt.Errorf("auth: verify %q: %w", c.Username, err)
	}
	if u == nil {
		// Only reachable if someone's password matches the dummy hash.
		return Identity{}, ErrBadCredentials
	}
	rs.remember(c.Username, mac)
	return Identity{User: c.Username, ClientID: c.ClientID}, nil
}

// verifiedCommonName returns the Common Name of a client certificate that
// the TLS handshake verified against the configured client CAs.
func verifiedCommonName(st *tls.ConnectionState) (string, bool) {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return "", false
	}
	cn := st.VerifiedChains[0][0].Subject.CommonName
	return cn, cn != ""
}

// compare runs one bcrypt comparison within the concurrency bound. It does
// not give up when the caller's context ends: the result is shared with the
// other callers waiting for the same key.
func (s *Static) compare(hash, password []byte) error {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	return bcrypt.CompareHashAndPassword(hash, password)
}

// dummyHash returns a hash of the given cost that no password is expected
// to match; it is made once per cost.
func (s *Static) dummyHash(cost int) []byte {
	s.dummyMu.Lock()
	defer s.dummyMu.Unlock()
	if h, ok := s.dummy[cost]; ok {
		return h
	}
	pw := make([]byte, 32)
	_, _ = rand.Read(pw) // crypto/rand.Read never fails on supported platforms
	h, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		// Unreachable: the cost was validated. Fall back to an unparsable
		// hash, which fails to compare (faster, but still fails).
		return []byte("$2a$10$invalid")
	}
	s.dummy[cost] = h
	return h
}

func (rs *ruleSet) mac(user string, password []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, rs.cacheKey)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write(password)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func (rs *ruleSet) cached(user string, mac [sha256.Size]byte) bool {
	rs.mu.RLock()
	got, ok := rs.verified[user]
	rs.mu.RUnlock()
	return ok && hmac.Equal(got[:], mac[:])
}

// remember records the last password verified per user: one entry per user
// bounds the cache even though bcrypt ignores bytes past the 72nd, which
// makes endless distinct passwords verify.
func (rs *ruleSet) remember(user string, mac [sha256.Size]byte) {
	rs.mu.Lock()
	rs.verified[user] = mac
	rs.mu.Unlock()
}

// Authorize reports whether id may perform action on p. Rules are looked up
// in the current configuration, so a reload that removes a user or a
// permission takes effect for clients already connected.
func (s *Static) Authorize(id Identity, action Action, p address.Pattern) bool {
	if len(p) == 0 && action != Admin {
		return false
	}
	rs := s.rules.Load()
	var rules []rule
	if id.Anonymous {
		if !rs.allowAnonymous {
			return false
		}
		rules = rs.anonymous
	} else {
		u := rs.users[id.User]
		if u == nil {
			return false
		}
		rules = u.rules
	}
	for i := range rules {
		if rules[i].allows(id, action, p) {
			return true
		}
	}
	return false
}

// HashPassword returns the bcrypt hash of password at cost (0 means
// bcrypt.DefaultCost), for a StaticConfig user. Passwords longer than 72
// bytes are refused, because bcrypt would ignore the rest.
func HashPassword(password []byte, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > MaxBcryptCost {
		return "", fmt.Errorf("auth: bcrypt cost %d out of range [%d, %d]", cost, bcrypt.MinCost, MaxBcryptCost)
	}
	if len(password) == 0 {
		return "", errors.New("auth: empty password")
	}
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}
