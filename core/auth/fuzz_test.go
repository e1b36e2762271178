package auth

import (
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
)

// FuzzParsePermissionPattern checks that parsing never panics, that an
// accepted pattern renders back to its input, and that expanding it for any
// identity yields either nothing or a valid MQTT filter with no variable
// left and no level that the identity injected a wildcard into.
func FuzzParsePermissionPattern(f *testing.F) {
	for _, s := range []string{
		"#", "+", "a/b", "devices/{client_id}/#", "users/{username}/+/x",
		"pre-{username}-{client_id}", "{", "}", "{user}", "a/{client_id", "$SYS/#",
		"a/#/b", "a//b", "",
	} {
		f.Add(s, "alice", "dev1")
	}
	f.Add("{client_id}/#", "u", "$SYS")
	f.Add("{client_id}", "u", "{username}")
	f.Fuzz(func(t *testing.T, pattern, user, client string) {
		p, err := ParsePermissionPattern(pattern)
		if err != nil {
			return
		}
		if p.MQTT() != pattern {
			t.Fatalf("render %q != input %q", p.MQTT(), pattern)
		}
		r := rule{action: Subscribe, pattern: p, hasVars: strings.Contains(pattern, "{")}
		id := Identity{User: user, ClientID: client}
		if !r.hasVars {
			return
		}
		out, ok := expand(p, id)
		if !ok {
			return
		}
		q, err := address.ParseMQTTFilter(out.MQTT())
		if err != nil {
			t.Fatalf("expanded %q to invalid filter %q: %v", pattern, out.MQTT(), err)
		}
		if len(q) != len(p) {
			t.Fatalf("expansion of %q changed the number of levels: %q", pattern, out.MQTT())
		}
		for i := range q {
			if strings.ContainsAny(q[i], "{}") {
				t.Fatalf("expansion of %q left braces: %q", pattern, out.MQTT())
			}
			if (q[i] == "+" || q[i] == "#") != (p[i] == "+" || p[i] == "#") {
				t.Fatalf("expansion of %q changed wildcards: %q", pattern, out.MQTT())
			}
		}
		// allows must not panic on whatever the filter is.
		r.allows(id, Subscribe, q)
		r.action = Publish
		r.allows(id, Publish, q)
	})
}
