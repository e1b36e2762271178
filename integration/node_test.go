package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
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
	stdout, stderr, waitNode := startNode(t, ctx, node, nil, "stomp_ws.mjs", b.STOMPWSURL())
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

	if err := waitNode(); err != nil {
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

// rheaEvent is one line amqp_rhea.mjs prints.
type rheaEvent struct {
	Event         string         `json:"event"`
	Address       string         `json:"address"`
	Body          string         `json:"body"`
	ContentType   string         `json:"content_type"`
	CorrelationID string         `json:"correlation_id"`
	Durable       bool           `json:"durable"`
	Properties    map[string]any `json:"properties"`
	Annotations   map[string]any `json:"annotations"`
}

// TestNodeRheaAMQP runs rhea 3 (AMQP 1.0) in Node 20 against the AMQP
// listener: it receives a message an MQTT 5 client published to a topic
// and one a go-amqp client sent to a queue (accepting it), then sends a
// data-section message that an MQTT 5 subscriber reads and an amqp-value
// message that a go-amqp receiver reads.
func TestNodeRheaAMQP(t *testing.T) {
	node := requirePeer(t, "node", "nodejs")
	requireJSPackage(t, "rhea/package.json")
	b := startBroker(t, brokerOpts{})
	host, port, err := net.SplitHostPort(b.AMQPAddr)
	if err != nil {
		t.Fatal(err)
	}
	mq := connectV5(t, b.MQTTAddr, nil)
	mq.subscribe(t, "js/amqp/out", 1)
	s := amqpSession(t, b)
	back := amqpReceiver(t, s, "/queues/js-amqp-back", &goamqp.ReceiverOptions{Credit: 10})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stdout, stderr, waitNode := startNode(t, ctx, node, nil, "amqp_rhea.mjs", host, port)
	events := make(chan rheaEvent, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e rheaEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = rheaEvent{Event: "not JSON: " + sc.Text()}
			}
			events <- e
		}
	}()
	next := func(want string) rheaEvent {
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
		return rheaEvent{}
	}

	next("connected")
	next("ready")
	mq.publish(t, &paho.Publish{Topic: "js/amqp/a1/in", QoS: 1, Payload: []byte(`{"t":1}`),
		Properties: &paho.PublishProperties{ContentType: "application/json",
			User: paho.UserProperties{{Key: "device", Value: "a1"}}}})
	first := next("message")
	work := goamqp.NewMessage([]byte("job-1"))
	work.ApplicationProperties = map[string]any{"from": "go-amqp", "n": int64(3)}
	sendAMQP(t, amqpSender(t, s, "/queues/js-amqp-work", nil), work)
	second := next("message")

	if first.Address != "/topics/js/amqp/+/in" || first.Body != `{"t":1}` || first.ContentType != "application/json" ||
		!first.Durable || first.Properties["device"] != "a1" || first.Annotations["x-origin-protocol"] != "mqtt" {
		t.Errorf("MQTT message at rhea: %+v", first)
	}
	if second.Address != "/queues/js-amqp-work" || second.Body != "job-1" || second.Properties["from"] != "go-amqp" ||
		second.Properties["n"] != float64(3) || second.Annotations["x-origin-protocol"] != "amqp" {
		t.Errorf("queue message at rhea: %+v", second)
	}
	next("accepted")

	r := mq.In.nextFor(t, recvTimeout, "rhea's message at the MQTT 5 client")
	if string(r.Payload) != "from-rhea" || r.QoS != 1 || r.Props == nil || r.Props.ContentType != "text/plain" ||
		string(r.Props.CorrelationData) != "rhea-1" {
		t.Fatalf("rhea message at MQTT: %v %+v", r, r.Props)
	}
	user := map[string]string{}
	for _, u := range r.Props.User {
		user[u.Key] = u.Value
	}
	if !strings.HasPrefix(user["runtime"], "node-") || user["n"] != "7" ||
		user["x-origin-protocol"] != "amqp" || user["x-origin-client-id"] != "rhea-node" {
		t.Errorf("user properties %v", user)
	}
	m := recvAMQP(t, back, "rhea's amqp-value at go-amqp")
	acceptAMQP(t, back, m)
	if m.Value != "rhea-value" || deref(deref(m.Properties).Subject) != "rhea" || m.Annotations["x-origin-client-id"] != "rhea-node" {
		t.Errorf("rhea message at go-amqp: %#v %+v %v", m.Value, m.Properties, m.Annotations)
	}

	if err := waitNode(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	// rhea accepted the queue message: a new consumer gets nothing.
	again := amqpReceiver(t, amqpSession(t, b), "/queues/js-amqp-work", &goamqp.ReceiverOptions{Credit: 10})
	quietAMQP(t, again, quietPeriod, "the queue after rhea's accept")
}

// startNode starts a Node.js peer script in integration/js and returns
// its stdout (JSON-line events), its stderr, and wait, which waits for it
// to exit. A script still running when the test ends is killed, and its
// stderr is logged when the test failed.
func startNode(t *testing.T, ctx context.Context, node string, env []string, args ...string) (stdout io.Reader, stderr *syncBuffer, wait func() error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = jsDir
	if env != nil {
		cmd.Env = env
	}
	setProcAttr(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exited atomic.Bool
	t.Cleanup(func() {
		if !exited.Load() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	})
	return out, stderr, func() error {
		err := cmd.Wait()
		exited.Store(true)
		return err
	}
}
