package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestPprofFlag checks that --pprof is off by default, is not a
// configuration override, and serves the profiles when given.
func TestPprofFlag(t *testing.T) {
	_, addr, err := parseServeArgs(nil, &bytes.Buffer{})
	if err != nil || addr != "" {
		t.Fatalf("default --pprof %q, err %v; want off", addr, err)
	}
	o, addr, err := parseServeArgs([]string{"--pprof", "127.0.0.1:0", "--mqtt", "off"}, &bytes.Buffer{})
	if err != nil || addr != "127.0.0.1:0" || o.MQTT == nil || *o.MQTT != "off" {
		t.Fatalf("--pprof %q, err %v, mqtt %v", addr, err, o.MQTT)
	}
	stop, bound, err := listenPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + bound + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("status %d, body %.100q", resp.StatusCode, body)
	}
}
