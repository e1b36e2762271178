package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/admin"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func startAPI(t *testing.T) (*httptest.Server, *conns.Registry) {
	t.Helper()
	hash, err := auth.HashPassword([]byte("secret"), 4)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewStatic(auth.StaticConfig{Users: []auth.User{{Name: "root", PasswordHash: hash,
		Permissions: []auth.Permission{{Action: auth.Admin, Pattern: "#"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	x, err := exchange.New(context.Background(), exchange.Config{ExpiryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close(context.Background()) })
	reg := conns.New()
	h, err := admin.New(admin.Config{Exchange: x, Auth: a, Conns: reg, Version: "test", Reload: func() error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, reg
}

func ctl(t *testing.T, srv *httptest.Server, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	env := []string{"ROSETTA_USER=root", "ROSETTA_PASSWORD=secret"}
	code := Main(context.Background(), append([]string{"--server", srv.URL}, args...), &out, &errb, env)
	if code != want {
		t.Fatalf("ctl %v: exit %d, want %d; stdout %q stderr %q", args, code, want, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

func TestCommands(t *testing.T) {
	srv, reg := startAPI(t)
	h := reg.Add(conns.Info{Protocol: message.ProtocolMQTT, ID: "m1", ClientID: "sensor"}, func(string) {})
	defer h.Remove()
	steps := []struct {
		args []string
		want []string
	}{
		{[]string{"overview"}, []string{"version", "test", "connections", "1 (mqtt 1"}},
		{[]string{"connections"}, []string{"ID", "CLIENT ID", "m1", "sensor"}},
		{[]string{"connections", "show", "m1"}, []string{"client id", "sensor"}},
		{[]string{"connections", "close", "m1"}, []string{"m1 closing"}},
		{[]string{"queues", "create", "jobs", "--bind", "jobs/#"}, []string{"queue jobs ready"}},
		{[]string{"publish", "--address", "jobs/1", "--body", "hello"}, []string{"1 queue(s)"}},
		{[]string{"queues"}, []string{"NAME", "READY", "jobs", "jobs/#"}},
		{[]string{"queues", "peek", "jobs"}, []string{"jobs/1", "hello"}},
		{[]string{"queues", "show", "jobs"}, []string{"ready", "1"}},
		{[]string{"get", "--queue", "jobs"}, []string{"hello"}},
		{[]string{"queues", "purge", "jobs"}, []string{"0 messages removed"}},
		{[]string{"publish", "--address", "s/a", "--body", "up", "--retain"}, []string{"0 queue(s)"}},
		{[]string{"retained"}, []string{"s/a", "up"}},
		{[]string{"retained", "delete", "s/a"}, []string{"deleted"}},
		{[]string{"dlq", "move", "jobs"}, []string{"moved 0"}},
		{[]string{"bindings"}, []string{"jobs", "jobs/#"}},
		{[]string{"transformers"}, []string{"no transform engine"}},
		{[]string{"reload"}, []string{"reloaded"}},
		{[]string{"queues", "delete", "jobs"}, []string{"deleted"}},
	}
	for _, s := range steps {
		out := ctl(t, srv, exitOK, s.args...)
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("ctl %v: output lacks %q:\n%s", s.args, w, out)
			}
		}
	}
}

func TestJSON(t *testing.T) {
	srv, _ := startAPI(t)
	out := ctl(t, srv, exitOK, "queues", "create", "a", "--json")
	var q map[string]any
	if err := json.Unmarshal([]byte(out), &q); err != nil || q["name"] != "a" {
		t.Fatalf("create --json: %q %v", out, err)
	}
	out = ctl(t, srv, exitOK, "--json", "queues")
	var qs []map[string]any
	if err := json.Unmarshal([]byte(out), &qs); err != nil || len(qs) != 1 {
		t.Fatalf("queues --json: %q %v", out, err)
	}
}

func TestErrors(t *testing.T) {
	srv, _ := startAPI(t)
	if out := ctl(t, srv, exitError, "queues", "peek", "nope"); !strings.Contains(out, "not found") || !strings.Contains(out, "404") {
		t.Fatalf("unknown queue: %q", out)
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--server", srv.URL, "overview"}, &out, &errb, nil); code != exitError ||
		!strings.Contains(errb.String(), "401") {
		t.Fatalf("no credentials: %d %q", code, errb.String())
	}
	ctl(t, srv, exitUsage, "frobnicate")
	ctl(t, srv, exitUsage, "get")
	ctl(t, srv, exitUsage, "publish", "--address", "a", "--protocol", "mqtt")
	ctl(t, srv, exitUsage)
	ctl(t, srv, exitOK, "--help")
}
