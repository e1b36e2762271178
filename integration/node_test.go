package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/go-stomp/stomp/v3"
)

// jsDir holds the npm peers (package.json, package-lock.json, the Node
// scripts); scripts/install-peers.sh runs npm ci there.
const jsDir = "js"

// requireJSPackage returns the path of a file inside an installed npm
// package of integration/js, skipping the test (failing it under CI=true)
// when npm ci has not been run.
func requireJSPackage(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(jsDir, "node_modules", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is missing: install the npm peers with scripts/install-peers.sh (npm ci in integration/js)", p)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so a missing peer fails the run", msg)
	}
	t.Skip(msg)
	return ""
}

// nodeEvent is one line the Node script prints.
type nodeEvent struct {
	Event       string            `json:"event"`
	Version     string            `json:"version"`
	Destination string            `json:"destination"`
	Body        string            `json:"body"`
	Headers     map[string]string `json:"headers"`
}

// TestNodeStompJS runs @stomp/stompjs 7 in Node 20 over WebSocket (the ws
// package as its webSocketFactory) against /stomp: it receives a message
// an MQTT client published and one a go-stomp client sent to a queue, ACKs
// the queue one, and replies with a receipt to a topic an MQTT 5 client
// reads.
func TestNodeStompJS(t *testing.T) {
	node := requirePeer(t, "node", "nodejs")
	requireJSPackage(t, "@stomp/stompjs/package.json")
	requireJSPackage(t, "ws/package.json")
	b := startBroker(t, brokerOpts{})

	mq := connectV5(t, b.MQTTAddr, nil)
	mq.subscribe(t, "js/out", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "stomp_ws.mjs", b.STOMPWSURL())
	cmd.Dir = jsDir
	setProcAttr(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	})
	events := make(chan nodeEvent, 16)
	go readNodeEvents(stdout, events)
	next := func(want string) nodeEvent {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("node exited before %q: %s", want, stderr.String())
			}
			if e.Event != want {
				t.Fatalf("node event %+v, want %q", e, want)
			}
			return e
		case <-time.After(20 * time.Second):
			t.Fatalf("no %q event from node", want)
		}
		return nodeEvent{}
	}

	if e := next("connected"); e.Version != "1.2" {
		t.Errorf("negotiated STOMP %q over WebSocket, want 1.2", e.Version)
	}
	next("ready")

	mq.publish(t, &paho.Publish{Topic: "js/a1/in", QoS: 1, Payload: []byte("from-mqtt"),
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "device", Value: "a1"}}}})
	first := next("message")
	sc := dialSTOMP(t, b)
	sendSTOMP(t, sc, "/queue/js-work", "text/plain", []byte("job-1"), stomp.SendOpt.Header("x-from", "go-stomp"))
	second := next("message")

	if first.Destination != "/topic/js/a1/in" || first.Body != "from-mqtt" ||
		first.Headers["device"] != "a1" || first.Headers["x-origin-protocol"] != "mqtt" {
		t.Errorf("MQTT message at stompjs: %+v", first)
	}
	if second.Destination != "/queue/js-work" || second.Body != "job-1" || second.Headers["x-from"] != "go-stomp" ||
		second.Headers["ack"] == "" {
		t.Errorf("queue message at stompjs: %+v", second)
	}
	next("receipt")

	r := mq.In.nextFor(t, recvTimeout, "stompjs's reply at the MQTT 5 client")
	if string(r.Payload) != "from-node" || r.Props == nil || r.Props.ContentType != "text/plain" {
		t.Fatalf("reply %v %+v", r, r.Props)
	}
	user := map[string]string{}
	for _, u := range r.Props.User {
		user[u.Key] = u.Value
	}
	if !strings.HasPrefix(user["x-runtime"], "node-") {
		t.Errorf("x-runtime %q", user["x-runtime"])
	}
	if user["x-origin-protocol"] != "stomp" || user["x-origin-client-id"] != "stompjs-node" {
		t.Errorf("provenance %v", user)
	}

	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	// The ACKed queue message is gone: a new consumer gets nothing.
	s := subscribeSTOMP(t, sc, "/queue/js-work", stomp.AckAuto)
	quietSTOMP(t, s, quietPeriod, "the queue after stompjs's ACK")
}

// readNodeEvents decodes JSON lines until EOF, then closes events. A line
// that is not JSON becomes an event named after it, which the test then
// reports as unexpected (this goroutine may outlive the test, so it must
// not call t itself).
func readNodeEvents(r io.Reader, events chan<- nodeEvent) {
	defer close(events)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e nodeEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = nodeEvent{Event: "not JSON: " + sc.Text()}
		}
		events <- e
	}
}
