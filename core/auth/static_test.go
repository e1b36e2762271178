package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/rosettamq/rosetta/core/address"
)

// Hashes are made at the minimum cost so the tests stay fast; the cost does
// not change any behaviour under test.
var (
	hashOnce sync.Once
	hashes   map[string]string
)

func hashOf(t testing.TB, pw string) string {
	t.Helper()
	hashOnce.Do(func() {
		hashes = make(map[string]string)
		for _, p := range []string{"alice-pw", "bob-pw", "carol-pw", "new-pw"} {
			h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			hashes[p] = string(h)
		}
	})
	h, ok := hashes[pw]
	if !ok {
		t.Fatalf("no test hash for %q", pw)
	}
	return h
}

func perm(a Action, p string) Permission { return Permission{Action: a, Pattern: p} }

func login(user, pw, client string) Credentials {
	return Credentials{Username: user, HasUsername: true, Password: []byte(pw), ClientID: client}
}

func anon(client string) Credentials { return Credentials{ClientID: client} }

func mustStatic(t testing.TB, cfg StaticConfig) *Static {
	t.Helper()
	s, err := NewStatic(cfg)
	if err != nil {
		t.Fatalf("NewStatic: %v", err)
	}
	return s
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		in      string
		want    Action
		wantErr bool
	}{
		{"publish", Publish, false},
		{"subscribe", Subscribe, false},
		{"admin", Admin, false},
		{"Publish", 0, true},
		{"pub", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAction(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseAction(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadPermission) {
				t.Fatalf("error %v does not wrap ErrBadPermission", err)
			}
			if err == nil {
				b, err := got.MarshalText()
				if err != nil || string(b) != tt.in {
					t.Fatalf("MarshalText = %q, %v", b, err)
				}
				var back Action
				if err := back.UnmarshalText(b); err != nil || back != got {
					t.Fatalf("UnmarshalText(%q) = %v, %v", b, back, err)
				}
			}
		})
	}
}

func TestParsePermissionPattern(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string // substring; "" means valid
	}{
		{"#", ""},
		{"devices/{client_id}/#", ""},
		{"users/{username}/+/state", ""},
		{"pre-{username}-{client_id}-post/x", ""},
		{"$SYS/#", ""},
		{"a//b", ""},
		{"", "empty pattern"},
		{"a/#/b", "wildcard"},
		{"a+/b", "wildcard"},
		{"devices/{user}/#", "unknown variable {user}"},
		{"devices/{client_id/#", "unclosed"},
		{"devices/client_id}/#", "unexpected '}'"},
		{"devices/{{client_id}}", "unclosed"},
		{"devices/{}", "unknown variable {}"},
		{"a\x00b", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePermissionPattern(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParsePermissionPattern(%q): %v", tt.in, err)
				}
				if p.MQTT() != tt.in {
					t.Fatalf("round trip: got %q", p.MQTT())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadPermission) {
				t.Fatalf("ParsePermissionPattern(%q) error = %v; want one containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestNewStaticErrors(t *testing.T) {
	good := hashOf(t, "alice-pw")
	tooCostly := strings.Replace(good, "$04$", "$16$", 1)
	tests := []struct {
		name    string
		cfg     StaticConfig
		wantErr string
	}{
		{"empty name", StaticConfig{Users: []User{{PasswordHash: good}}}, "user 0: empty name"},
		{"duplicate", StaticConfig{Users: []User{{Name: "a", PasswordHash: good}, {Name: "a", PasswordHash: good}}}, `user "a": defined twice`},
		{"plain password", StaticConfig{Users: []User{{Name: "a", PasswordHash: "secret"}}}, "not a bcrypt hash"},
		{"cost too high", StaticConfig{Users: []User{{Name: "a", PasswordHash: tooCostly}}}, "above the maximum"},
		{"bad user permission", StaticConfig{Users: []User{{Name: "a", PasswordHash: good, Permissions: []Permission{perm(Publish, "a/#/b")}}}}, `user "a": permission 0`},
		{"bad action", StaticConfig{DefaultPermissions: []Permission{{Action: 9, Pattern: "#"}}}, "unknown action 9"},
		{"bad default", StaticConfig{DefaultPermissions: []Permission{perm(Subscribe, "{nope}")}}, "default permissions"},
		{"bad anonymous", StaticConfig{AnonymousPermissions: []Permission{perm(Subscribe, "")}}, "anonymous permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStatic(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewStatic error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	users := []User{
		{Name: "alice", PasswordHash: hashOf(t, "alice-pw")},
		{Name: "bob", PasswordHash: hashOf(t, "bob-pw")},
	}
	tests := []struct {
		name    string
		anon    bool
		creds   Credentials
		want    Identity
		wantErr error
	}{
		{"user ok", false, login("alice", "alice-pw", "c1"), Identity{User: "alice", ClientID: "c1"}, nil},
		{"wrong password", false, login("alice", "bob-pw", "c1"), Identity{}, ErrBadCredentials},
		{"empty password", false, login("alice", "", "c1"), Identity{}, ErrBadCredentials},
		{"unknown user", false, login("mallory", "alice-pw", "c1"), Identity{}, ErrBadCredentials},
		{"empty user name given", false, login("", "alice-pw", "c1"), Identity{}, ErrBadCredentials},
		{"name without flag", false, Credentials{Username: "bob", Password: []byte("bob-pw")}, Identity{User: "bob"}, nil},
		{"anonymous refused", false, anon("c2"), Identity{}, ErrAnonymous},
		{"anonymous allowed", true, anon("c2"), Identity{Anonymous: true, ClientID: "c2"}, nil},
		{"user ok with anonymous on", true, login("bob", "bob-pw", "c3"), Identity{User: "bob", ClientID: "c3"}, nil},
		{"wrong password with anonymous on", true, login("bob", "nope", "c3"), Identity{}, ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStatic(t, StaticConfig{AllowAnonymous: tt.anon, Users: users})
			// Twice: the second answer may come from the cache and must
			// be the same.
			for i := range 2 {
				got, err := s.Authenticate(context.Background(), tt.creds)
				if !errors.Is(err, tt.wantErr) || got != tt.want {
					t.Fatalf("try %d: Authenticate = %+v, %v; want %+v, %v", i, got, err, tt.want, tt.wantErr)
				}
			}
		})
	}
}

// TestAuthenticateCertificate: a verified client certificate stands in for
// the password of the configured user its Common Name names.
func TestAuthenticateCertificate(t *testing.T) {
	users := []User{{Name: "alice", PasswordHash: hashOf(t, "alice-pw")}}
	verified := func(cn string) *tls.ConnectionState {
		return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{Subject: pkix.Name{CommonName: cn}}}}}
	}
	withTLS := func(c Credentials, st *tls.ConnectionState) Credentials { c.TLS = st; return c }
	tests := []struct {
		name    string
		creds   Credentials
		want    Identity
		wantErr error
	}{
		{"certificate of a user", withTLS(login("alice", "", "c1"), verified("alice")), Identity{User: "alice", ClientID: "c1"}, nil},
		{"certificate of an unknown user", withTLS(login("mallory", "", "c1"), verified("mallory")), Identity{}, ErrBadCredentials},
		{"name other than the certificate's", withTLS(login("alice", "", "c1"), verified("bob")), Identity{}, ErrBadCredentials},
		{"password still checked", withTLS(login("alice", "bob-pw", "c1"), verified("alice")), Identity{}, ErrBadCredentials},
		{"password with a certificate", withTLS(login("alice", "alice-pw", "c1"), verified("alice")), Identity{User: "alice", ClientID: "c1"}, nil},
		{"certificate not verified", withTLS(login("alice", "", "c1"), &tls.ConnectionState{}), Identity{}, ErrBadCredentials},
		{"certificate without a common name", withTLS(login("", "", "c1"), verified("")), Identity{}, ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStatic(t, StaticConfig{Users: users})
			got, err := s.Authenticate(context.Background(), tt.creds)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAuthenticateCache(t *testing.T) {
	s := mustStatic(t, StaticConfig{Users: []User{{Name: "alice", PasswordHash: hashOf(t, "alice-pw")}}})
	ctx := context.Background()
	if _, err := s.Authenticate(ctx, login("alice", "alice-pw", "")); err != nil {
		t.Fatal(err)
	}
	rs := s.rules.Load()
	if !rs.cached("alice", rs.mac("alice", []byte("alice-pw"))) {
		t.Fatal("a successful verification was not cached")
	}
	if rs.cached("alice", rs.mac("alice", []byte("wrong"))) {
		t.Fatal("cache accepts another password")
	}
	// A wrong password after a cached success still fails and does not
	// evict the good entry.
	if _, err := s.Authenticate(ctx, login("alice", "wrong", "")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password after cache: %v", err)
	}
	if !rs.cached("alice", rs.mac("alice", []byte("alice-pw"))) {
		t.Fatal("failed attempt evicted the cache entry")
	}
	// Unknown users are never cached.
	_, _ = s.Authenticate(ctx, login("ghost", "x", ""))
	rs.mu.RLock()
	n := len(rs.verified)
	rs.mu.RUnlock()
	if n != 1 {
		t.Fatalf("cache has %d entries, want 1", n)
	}
}

func TestAuthenticateCanceled(t *testing.T) {
	s := mustStatic(t, StaticConfig{Users: []User{{Name: "alice", PasswordHash: hashOf(t, "alice-pw")}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Occupy every bcrypt slot so the verification cannot start before
	// the canceled context is noticed.
	for range cap(s.sem) {
		s.sem <- struct{}{}
	}
	_, err := s.Authenticate(ctx, login("alice", "alice-pw", ""))
	for range cap(s.sem) {
		<-s.sem
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Authenticate with canceled ctx = %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	cfg := StaticConfig{
		AllowAnonymous: true,
		Users: []User{
			{Name: "alice", PasswordHash: hashOf(t, "alice-pw"), Permissions: []Permission{
				perm(Publish, "devices/{client_id}/#"),
				perm(Subscribe, "devices/+/status"),
				perm(Subscribe, "users/{username}/#"),
				perm(Admin, "queues/#"),
			}},
			{Name: "bob", PasswordHash: hashOf(t, "bob-pw")}, // gets the defaults
			{Name: "ops", PasswordHash: hashOf(t, "carol-pw"), Permissions: []Permission{
				perm(Admin, "#"), perm(Subscribe, "$SYS/#"), perm(Subscribe, "#"),
			}},
		},
		DefaultPermissions:   []Permission{perm(Subscribe, "public/#"), perm(Publish, "inbox/{username}")},
		AnonymousPermissions: []Permission{perm(Subscribe, "public/+")},
	}
	alice := Identity{User: "alice", ClientID: "dev1"}
	tests := []struct {
		name   string
		id     Identity
		action Action
		p      string
		want   bool
	}{
		// Publish uses Match on the exact address.
		{"publish own device", alice, Publish, "devices/dev1/temp", true},
		{"publish own device parent", alice, Publish, "devices/dev1", true}, // "#" includes the parent
		{"publish other device", alice, Publish, "devices/dev2/temp", false},
		{"publish wildcard is not an address", alice, Publish, "devices/dev1/+", false},
		{"publish without permission", alice, Publish, "users/alice/x", false},
		// Subscribe uses Covers: the filter must stay inside.
		{"subscribe exact inside +", alice, Subscribe, "devices/dev9/status", true},
		{"subscribe + inside +", alice, Subscribe, "devices/+/status", true},
		{"subscribe # wider than +", alice, Subscribe, "devices/#", false},
		{"subscribe # under +", alice, Subscribe, "devices/+/status/#", false},
		{"subscribe own tree", alice, Subscribe, "users/alice/#", true},
		{"subscribe own tree root", alice, Subscribe, "users/alice", true},
		{"subscribe own subtree +", alice, Subscribe, "users/alice/+/x", true},
		{"subscribe other tree", alice, Subscribe, "users/bob/#", false},
		{"subscribe + over users", alice, Subscribe, "users/+/#", false},
		{"subscribe everything", alice, Subscribe, "#", false},
		{"publish permission does not subscribe", alice, Subscribe, "devices/dev1/temp", false},
		{"admin scope inside", alice, Admin, "queues/orders", true},
		{"admin scope outside", alice, Admin, "topics/x", false},
		{"admin global needs #", alice, Admin, "", false},
		// Variables that try to widen the rule match nothing.
		{"client id with wildcard", Identity{User: "alice", ClientID: "+"}, Publish, "devices/x/t", false},
		{"client id with slash", Identity{User: "alice", ClientID: "a/b"}, Publish, "devices/a/b/t", false},
		{"empty client id", Identity{User: "alice"}, Publish, "devices//t", false},
		{"client id naming a variable", Identity{User: "alice", ClientID: "{username}"}, Publish, "devices/alice/t", false},
		// Defaults for a user with no permissions of their own.
		{"default subscribe", Identity{User: "bob"}, Subscribe, "public/news", true},
		{"default subscribe wider", Identity{User: "bob"}, Subscribe, "#", false},
		{"default publish with username", Identity{User: "bob"}, Publish, "inbox/bob", true},
		{"default publish other inbox", Identity{User: "bob"}, Publish, "inbox/alice", false},
		// $ topics are reached only by rules that name them.
		{"# does not cover $SYS", Identity{User: "ops"}, Subscribe, "$SYS/#", true},
		{"admin everywhere", Identity{User: "ops"}, Admin, "", true},
		{"admin anything", Identity{User: "ops"}, Admin, "queues/x", true},
		{"alice no $SYS", alice, Subscribe, "$SYS/broker/load", false},
		// Anonymous: its own rules, never the defaults.
		{"anonymous own rule", Identity{Anonymous: true, ClientID: "x"}, Subscribe, "public/news", true},
		{"anonymous not deeper", Identity{Anonymous: true}, Subscribe, "public/news/today", false},
		{"anonymous no default publish", Identity{Anonymous: true}, Publish, "inbox/", false},
		// Unknown users and empty requests.
		{"unknown user", Identity{User: "mallory"}, Subscribe, "public/news", false},
		{"empty publish", alice, Publish, "", false},
	}
	s := mustStatic(t, cfg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p address.Pattern
			if tt.p != "" {
				var err error
				if p, err = address.ParseMQTTFilter(tt.p); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Authorize(tt.id, tt.action, p); got != tt.want {
				t.Fatalf("Authorize(%+v, %v, %q) = %v, want %v", tt.id, tt.action, tt.p, got, tt.want)
			}
		})
	}
}

func TestAuthorizeNothingConfigured(t *testing.T) {
	tests := []struct {
		name   string
		cfg    StaticConfig
		id     Identity
		action Action
		p      string
		want   bool
	}{
		{"user publishes anywhere", StaticConfig{}, Identity{User: "alice"}, Publish, "a/b/c", true},
		{"user subscribes to #", StaticConfig{}, Identity{User: "alice"}, Subscribe, "#", true},
		{"user no admin", StaticConfig{}, Identity{User: "alice"}, Admin, "#", false},
		{"# is not $SYS", StaticConfig{}, Identity{User: "alice"}, Subscribe, "$SYS/#", false},
		{"anonymous allowed", StaticConfig{AllowAnonymous: true}, Identity{Anonymous: true}, Publish, "a", true},
		{"anonymous refused", StaticConfig{}, Identity{Anonymous: true}, Publish, "a", false},
		{"anonymous no admin", StaticConfig{AllowAnonymous: true}, Identity{Anonymous: true}, Admin, "#", false},
		{
			"one rule anywhere turns the open default off",
			StaticConfig{AllowAnonymous: true, AnonymousPermissions: []Permission{perm(Subscribe, "x")}},
			Identity{User: "alice"}, Publish, "a", false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Users = append(tt.cfg.Users, User{Name: "alice", PasswordHash: hashOf(t, "alice-pw")})
			s := mustStatic(t, tt.cfg)
			if got := s.Authorize(tt.id, tt.action, address.MustParseFilter(tt.p)); got != tt.want {
				t.Fatalf("Authorize = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	s := mustStatic(t, StaticConfig{
		Users: []User{
			{Name: "alice", PasswordHash: hashOf(t, "alice-pw"), Permissions: []Permission{perm(Publish, "a/#")}},
			{Name: "bob", PasswordHash: hashOf(t, "bob-pw")},
		},
	})
	if _, err := s.Authenticate(ctx, login("alice", "alice-pw", "")); err != nil {
		t.Fatal(err)
	}
	alice := Identity{User: "alice"}
	if !s.Authorize(alice, Publish, address.MustParseFilter("a/x")) {
		t.Fatal("before reload: publish refused")
	}

	// A bad configuration is refused and the old one stays.
	if err := s.Reload(StaticConfig{Users: []User{{Name: "alice", PasswordHash: "plain"}}}); err == nil {
		t.Fatal("Reload accepted a bad hash")
	}
	if _, err := s.Authenticate(ctx, login("alice", "alice-pw", "")); err != nil {
		t.Fatalf("after failed reload: %v", err)
	}

	// Change alice's password and rules, remove bob, allow anonymous.
	if err := s.Reload(StaticConfig{
		AllowAnonymous: true,
		Users: []User{{Name: "alice", PasswordHash: hashOf(t, "new-pw"),
			Permissions: []Permission{perm(Publish, "b/#")}}},
	}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		creds   Credentials
		wantErr error
	}{
		{"old password is not served from the cache", login("alice", "alice-pw", ""), ErrBadCredentials},
		{"new password", login("alice", "new-pw", ""), nil},
		{"removed user", login("bob", "bob-pw", ""), ErrBadCredentials},
		{"anonymous now allowed", anon("x"), nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if _, err := s.Authenticate(ctx, st.creds); !errors.Is(err, st.wantErr) {
				t.Fatalf("Authenticate = %v, want %v", err, st.wantErr)
			}
		})
	}
	if s.Authorize(alice, Publish, address.MustParseFilter("a/x")) {
		t.Fatal("after reload: old rule still applies")
	}
	if !s.Authorize(alice, Publish, address.MustParseFilter("b/x")) {
		t.Fatal("after reload: new rule not applied")
	}
	if s.Authorize(Identity{User: "bob"}, Publish, address.MustParseFilter("b/x")) {
		t.Fatal("after reload: removed user still authorized")
	}
}

func TestConcurrentUse(t *testing.T) {
	cfg := StaticConfig{AllowAnonymous: true, Users: []User{
		{Name: "alice", PasswordHash: hashOf(t, "alice-pw")},
		{Name: "bob", PasswordHash: hashOf(t, "bob-pw")},
	}}
	s := mustStatic(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				switch (g + i) % 4 {
				case 0:
					if _, err := s.Authenticate(context.Background(), login("alice", "alice-pw", fmt.Sprint(g))); err != nil {
						errs <- err
					}
				case 1:
					if _, err := s.Authenticate(context.Background(), login("bob", "wrong", "")); !errors.Is(err, ErrBadCredentials) {
						errs <- fmt.Errorf("wrong password: %v", err)
					}
				case 2:
					s.Authorize(Identity{User: "bob"}, Subscribe, address.MustParseFilter("a/+"))
				case 3:
					if err := s.Reload(cfg); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name    string
		pw      string
		cost    int
		wantErr string
	}{
		{"ok", "secret", bcrypt.MinCost, ""},
		{"empty", "", bcrypt.MinCost, "empty password"},
		{"too long", strings.Repeat("x", 73), bcrypt.MinCost, "72 bytes"},
		{"cost too low", "secret", 3, "out of range"},
		{"cost too high", "secret", MaxBcryptCost + 1, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashPassword([]byte(tt.pw), tt.cost)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("HashPassword error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := mustStatic(t, StaticConfig{Users: []User{{Name: "u", PasswordHash: h}}})
			if _, err := s.Authenticate(context.Background(), login("u", tt.pw, "")); err != nil {
				t.Fatalf("the hash does not verify: %v", err)
			}
		})
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	s := mustStatic(b, StaticConfig{Users: []User{{Name: "alice", PasswordHash: hashOf(b, "alice-pw")}}})
	c := login("alice", "alice-pw", "dev1")
	ctx := context.Background()
	if _, err := s.Authenticate(ctx, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	s := mustStatic(b, StaticConfig{Users: []User{{Name: "alice", PasswordHash: hashOf(b, "alice-pw"), Permissions: []Permission{
		perm(Publish, "fleet/+/status"), perm(Publish, "devices/{client_id}/#"),
	}}}})
	id := Identity{User: "alice", ClientID: "dev1"}
	for _, bc := range []struct{ name, p string }{{"static", "fleet/a/status"}, {"variable", "devices/dev1/temp"}} {
		p := address.MustParseFilter(bc.p)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !s.Authorize(id, Publish, p) {
					b.Fatal("refused")
				}
			}
		})
	}
}
