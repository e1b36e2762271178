package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/core/address"
)

// Variables a permission pattern may use. They are replaced, per client, by
// the authenticated user name and the client ID.
const (
	VarUsername = "username"
	VarClientID = "client_id"
)

// ErrBadPermission is wrapped by every error about a malformed permission.
var ErrBadPermission = errors.New("auth: invalid permission")

// Permission allows one action on the addresses a pattern matches. The
// pattern uses MQTT filter syntax ("+" one level, "#" the rest, including
// the parent) and may contain the variables {username} and {client_id}.
type Permission struct {
	Action  Action
	Pattern string
}

// ParseAction parses "publish", "subscribe" or "admin".
func ParseAction(s string) (Action, error) {
	switch s {
	case "publish":
		return Publish, nil
	case "subscribe":
		return Subscribe, nil
	case "admin":
		return Admin, nil
	}
	return 0, fmt.Errorf("%w: unknown action %q (want publish, subscribe or admin)", ErrBadPermission, s)
}

// MarshalText renders the action as ParseAction reads it.
func (a Action) MarshalText() ([]byte, error) {
	if a < Publish || a > Admin {
		return nil, fmt.Errorf("%w: unknown action %d", ErrBadPermission, uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText parses an action with ParseAction.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParsePermissionPattern parses a permission pattern: an MQTT topic filter
// whose levels may contain {username} and {client_id}. Braces are allowed
// only as part of one of those variables, so a typo such as {user} or an
// unclosed brace is an error at load time rather than a rule that silently
// matches nothing.
func ParsePermissionPattern(s string) (address.Pattern, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty pattern", ErrBadPermission)
	}
	p, err := address.ParseMQTTFilter(s)
	if err != nil {
		return nil, fmt.Errorf("%w: pattern %q: %w", ErrBadPermission, s, err)
	}
	for _, seg := range p {
		if err := checkVariables(seg); err != nil {
			return nil, fmt.Errorf("%w: pattern %q: %w", ErrBadPermission, s, err)
		}
	}
	return p, nil
}

// checkVariables accepts a level in which every "{" opens a known variable
// and every "}" closes one.
func checkVariables(seg string) error {
	for seg != "" {
		i := strings.IndexAny(seg, "{}")
		if i < 0 {
			return nil
		}
		if seg[i] == '}' {
			return fmt.Errorf("unexpected '}' in level %q", seg)
		}
		rest := seg[i+1:]
		j := strings.IndexAny(rest, "{}")
		if j < 0 || rest[j] != '}' {
			return fmt.Errorf("unclosed '{' in level %q", seg)
		}
		switch name := rest[:j]; name {
		case VarUsername, VarClientID:
		default:
			return fmt.Errorf("unknown variable {%s} (want {%s} or {%s})", name, VarUsername, VarClientID)
		}
		seg = rest[j+1:]
	}
	return nil
}

// rule is a parsed permission, ready for matching.
type rule struct {
	action  Action
	pattern address.Pattern
	hasVars bool // pattern holds {username} or {client_id}: expand per identity
}

func compileRules(perms []Permission) ([]rule, error) {
	out := make([]rule, 0, len(perms))
	var errs []error
	for i, pm := range perms {
		if pm.Action < Publish || pm.Action > Admin {
			errs = append(errs, fmt.Errorf("permission %d: %w: unknown action %d", i, ErrBadPermission, uint8(pm.Action)))
			continue
		}
		p, err := ParsePermissionPattern(pm.Pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("permission %d: %w", i, err))
			continue
		}
		out = append(out, rule{action: pm.Action, pattern: p, hasVars: strings.Contains(pm.Pattern, "{")})
	}
	return out, errors.Join(errs...)
}

// allows reports whether the rule lets id perform action on p.
func (r *rule) allows(id Identity, action Action, p address.Pattern) bool {
	if r.action != action {
		return false
	}
	pat := r.pattern
	if r.hasVars {
		var ok bool
		if pat, ok = expand(pat, id); !ok {
			return false
		}
	}
	if action == Publish {
		// A publish names one address; a wildcard in it is not an address.
		a, ok := p.Address()
		if !ok {
			return false
		}
		return pat.Match(a)
	}
	// Subscribe (and admin scopes): the requested filter must stay inside
	// the permitted pattern.
	return pat.Covers(p)
}

// expand substitutes the identity's variables. A value that could change
// the meaning of the pattern makes the rule match nothing: one with braces
// (so a client ID of "{username}" cannot be substituted a second time,
// whatever order the substitution runs in), and, checked by Expand, "/",
// "+", "#" and the empty string. Front-ends validate names as UTF-8, but a
// value that is not, or holds NUL, is refused here too. A variable that turns the first level into
// a "$" level ("{client_id}/#" for client "$SYS") also matches nothing:
// "$" topics are the broker's, and a wildcard would not reach them either.
func expand(p address.Pattern, id Identity) (address.Pattern, bool) {
	out, ok := p.Expand(map[string]string{VarUsername: safeValue(id.User), VarClientID: safeValue(id.ClientID)})
	if !ok {
		return nil, false
	}
	if len(out) > 0 && strings.HasPrefix(out[0], "$") && !strings.HasPrefix(p[0], "$") {
		return nil, false
	}
	return out, true
}

// safeValue returns v, or "" (which Expand refuses) when v may not be
// substituted into a pattern.
func safeValue(v string) string {
	if strings.ContainsAny(v, "{}\x00") || !utf8.ValidString(v) {
		return ""
	}
	return v
}
