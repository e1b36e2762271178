package config

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and
// whatever it accepts must survive Validate, the conversion for the auth
// service, and a round trip through YAML.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"listeners: {mqtt: ':1883', http: off}\n",
		"auth:\n  allow_anonymous: true\n  users: [{name: a, password_hash: '" + testHash + "', permissions: [{action: publish, pattern: 'd/{client_id}/#'}]}]\n",
		"queues: {overflow: reject-publish, ttl: 1m30s, dead_letter: '-'}\n",
		"log: {level: debug, format: json}\nshutdown_timeout: 1s\n",
		"limits: {max_packet_size: 1, receive_maximum: 65535}\n",
		"a: &x [*x]\n",
		"- 1\n",
		"listeners: !!binary aGVsbG8=\n",
		"data_dir: a\n---\nb: 1\n",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data, Defaults(true))
		if err != nil {
			return
		}
		c.File = "fuzz"
		_ = c.Validate()
		_ = c.StaticAuth()
		_ = c.EnabledListeners()
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		back, err := Parse("again", out, Config{})
		if err != nil {
			t.Fatalf("re-parse of marshalled config: %v\n%s", err, out)
		}
		back.File = c.File
		if !reflect.DeepEqual(normalize(back), normalize(c)) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", c, back, out)
		}
	})
}

// normalize makes empty lists nil: YAML omits both, and both mean none.
func normalize(c Config) Config {
	perms := func(ps []Permission) []Permission {
		if len(ps) == 0 {
			return nil
		}
		return ps
	}
	c.Auth.AnonymousPermissions = perms(c.Auth.AnonymousPermissions)
	c.Auth.DefaultPermissions = perms(c.Auth.DefaultPermissions)
	if len(c.Auth.Users) == 0 {
		c.Auth.Users = nil
	}
	users := make([]User, len(c.Auth.Users))
	for i, u := range c.Auth.Users {
		u.Permissions = perms(u.Permissions)
		users[i] = u
	}
	if c.Auth.Users != nil {
		c.Auth.Users = users
	}
	return c
}
