package integration

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestGracefulShutdown sends SIGTERM to a broker with connected clients:
// MQTT 5 clients get DISCONNECT 0x8B Server shutting down (DESIGN.md §9,
// MQTT 5 §3.14.2.1), 3.1.1 clients see the connection close, and the
// process exits 0 within the timeout.
func TestGracefulShutdown(t *testing.T) {
	b := startBroker(t, brokerOpts{})

	v5 := connectV5(t, b.MQTTAddr, nil)
	v5.subscribe(t, "shutdown/#", 1)
	v5ws := connectV5Conn(t, dialWS(t, b.WSURL()), nil)

	raw := dialRaw(t, b.MQTTAddr)
	raw.connect(t, 5, clientID("raw-shut"))

	lost := make(chan error, 1)
	connectV3(t, v3Options(b.TCPURL(), clientID("v3-shut")).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))

	code, took := b.Stop(t, 10*time.Second)
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	t.Logf("rosetta exited %d in %v after SIGTERM", code, took)

	// The raw connection shows the exact bytes: E0, remaining length,
	// reason 0x8B, then the close.
	p, err := raw.read(recvTimeout)
	switch {
	case err != nil:
		t.Errorf("raw v5 client: no DISCONNECT before the close: %v", err)
	case p.Type() != 14 || len(p.Body) == 0 || p.Body[0] != 0x8B:
		t.Errorf("raw v5 client: got packet type %d body %x, want DISCONNECT 0x8B", p.Type(), p.Body)
	}
	for name, c := range map[string]*v5client{"paho v5 tcp": v5, "paho v5 websocket": v5ws} {
		select {
		case d := <-c.Disconnects:
			if d.ReasonCode != 0x8B {
				t.Errorf("%s: DISCONNECT reason %#x, want 0x8B", name, d.ReasonCode)
			}
		case <-time.After(recvTimeout):
			t.Errorf("%s: no DISCONNECT from the server", name)
		}
	}
	select {
	case <-lost:
	case <-time.After(recvTimeout):
		t.Errorf("paho v3: connection not closed by the shutdown")
	}
	if c, err := net.DialTimeout("tcp", b.MQTTAddr, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("MQTT port still accepts connections after the process exited")
	}
}

// TestThroughput100k sends 100,000 QoS 1 messages from one paho v3
// publisher to one paho v3 subscriber through the broker: none may be
// lost or duplicated, and they must arrive in order (MQTT 3.1.1 §4.6).
func TestThroughput100k(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	const window = 512 // publishes in flight
	b := startBroker(t, brokerOpts{})

	var (
		mu        sync.Mutex
		seen      = make([]bool, n)
		unique    int
		next      uint64 // the sequence number expected next
		dups      int
		reordered int
		firstBad  string
		done      = make(chan struct{})
	)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		p := m.Payload()
		mu.Lock()
		defer mu.Unlock()
		if len(p) < 8 {
			dups++
			if firstBad == "" {
				firstBad = fmt.Sprintf("short payload %x", p)
			}
			return
		}
		seq := binary.BigEndian.Uint64(p)
		switch {
		case seq >= uint64(n):
			if firstBad == "" {
				firstBad = fmt.Sprintf("sequence %d out of range", seq)
			}
			return
		case seen[seq]:
			dups++
			if firstBad == "" {
				firstBad = fmt.Sprintf("duplicate %d (dup flag %v) after %d", seq, m.Duplicate(), next-1)
			}
			return
		case seq != next:
			reordered++
			if firstBad == "" {
				firstBad = fmt.Sprintf("got %d, expected %d", seq, next)
			}
		}
		seen[seq] = true
		next = seq + 1
		unique++
		if unique == n {
			close(done)
		}
	}
	sub := connectV3(t, v3Options(b.TCPURL(), clientID("bulk-sub")))
	waitV3(t, sub.Subscribe("bulk/seq", 1, handler), "subscribe")
	pub := connectV3(t, v3Options(b.TCPURL(), clientID("bulk-pub")))

	start := time.Now()
	payload := make([]byte, 32)
	pending := make([]mqtt.Token, 0, window)
	for i := range n {
		if len(pending) == window {
			waitPub(t, pending[0], i-window)
			pending = pending[1:]
		}
		binary.BigEndian.PutUint64(payload, uint64(i))
		pending = append(pending, pub.Publish("bulk/seq", 1, false, append([]byte(nil), payload...)))
	}
	for j, tok := range pending {
		waitPub(t, tok, n-len(pending)+j)
	}
	published := time.Since(start)

	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d QoS 1 messages: published and acknowledged in %v, all received in %v (%.0f msg/s)",
		n, published.Round(time.Millisecond), elapsed.Round(time.Millisecond), float64(unique)/elapsed.Seconds())
	if unique != n {
		missing := []int{}
		for i, ok := range seen {
			if !ok && len(missing) < 10 {
				missing = append(missing, i)
			}
		}
		t.Errorf("received %d of %d distinct messages; first missing %v", unique, n, missing)
	}
	if dups > 0 || reordered > 0 {
		t.Errorf("%d duplicates, %d out of order; first: %s", dups, reordered, firstBad)
	}
}

func waitPub(t *testing.T, tok mqtt.Token, seq int) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("publish %d: no PUBACK within 10s", seq)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %d: %v", seq, err)
	}
}

// TestMetrics checks /metrics counts the MQTT messages received, and that
// /healthz and /readyz answer.
func TestMetrics(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := connectV5(t, b.MQTTAddr, nil)
	sub.subscribe(t, "metrics/#", 1)

	const n3, n5 = 30, 21
	v3 := connectV3(t, v3Options(b.TCPURL(), clientID("metrics3")))
	for i := range n3 {
		publishV3(t, v3, "metrics/v3", byte(i%2), false, []byte("m"))
	}
	v5 := connectV5(t, b.MQTTAddr, nil)
	for i := range n5 {
		v5.publish(t, &paho.Publish{Topic: "metrics/v5", QoS: byte(i % 3), Payload: []byte("m")})
	}
	sub.In.collect(t, n3+n5, recvTimeout) // everything went through the broker

	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := b.httpGet(t, path); status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	var got float64
	var body string
	deadline := time.Now().Add(3 * time.Second) // counters may be folded in asynchronously
	for {
		var status int
		var ctype string
		status, ctype, body = b.httpGet(t, "/metrics")
		if status != http.StatusOK {
			t.Fatalf("GET /metrics: %d", status)
		}
		if !strings.HasPrefix(ctype, "text/plain") && !strings.HasPrefix(ctype, "application/openmetrics-text") {
			t.Errorf("GET /metrics: Content-Type %q, want the Prometheus text format", ctype)
		}
		var found bool
		got, found = sumSeries(body, "rosetta_messages_in_total", `protocol="mqtt"`)
		if !found {
			t.Fatalf("no rosetta_messages_in_total{protocol=\"mqtt\"} series in /metrics:\n%s", grepLines(body, "rosetta_"))
		}
		if got >= n3+n5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got < n3+n5 {
		t.Errorf("rosetta_messages_in_total{protocol=\"mqtt\"} = %v, want >= %d\n%s", got, n3+n5, grepLines(body, "rosetta_messages"))
	}
	// The subscriber received every message, so at least as many
	// deliveries went out.
	if out, found := sumSeries(body, "rosetta_messages_out_total", `protocol="mqtt"`); !found || out < n3+n5 {
		t.Errorf("rosetta_messages_out_total{protocol=\"mqtt\"} = %v (found %v), want >= %d\n%s", out, found, n3+n5, grepLines(body, "rosetta_messages"))
	}
}

// sumSeries adds the values of the samples of metric whose label set
// contains label (Prometheus text exposition format).
func sumSeries(body, metric, label string) (sum float64, found bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok || name != metric {
			continue
		}
		labels, value, ok := strings.Cut(rest, "}")
		if !ok || !strings.Contains(","+labels+",", ","+label+",") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func grepLines(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return "(no lines with " + substr + ")"
	}
	return strings.Join(out, "\n")
}
