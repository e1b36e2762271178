package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"
)

// testHash returns a cheap bcrypt hash of pw for a test configuration.
func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// adminCall calls the admin API of b and returns the status and body.
func adminCall(t *testing.T, b *broker, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+b.HTTPAddr+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// adminJSON calls the API, checks the status and decodes the answer.
func adminJSON[T any](t *testing.T, b *broker, method, path, body string, status int) T {
	t.Helper()
	got, out := adminCall(t, b, method, path, body)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, out)
	}
	var v T
	if len(out) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
	return v
}

type apiConn struct {
	ID          string `json:"id"`
	Protocol    string `json:"protocol"`
	ClientID    string `json:"client_id"`
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
}

type apiQueue struct {
	Name      string   `json:"name"`
	Ready     int      `json:"ready"`
	Consumers int      `json:"consumers"`
	Bindings  []string `json:"bindings"`
}

type apiMessage struct {
	Address    string `json:"address"`
	Body       string `json:"body"`
	DeadLetter *struct {
		Reason  string `json:"reason"`
		Address string `json:"address"`
	} `json:"dead_letter"`
}

// findConn polls the connection list until one has clientID.
func findConn(t *testing.T, b *broker, clientID string) apiConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, c := range adminJSON[[]apiConn](t, b, "GET", "/connections", "", http.StatusOK) {
			if c.ClientID == clientID {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %q not in /api/v1/connections", clientID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminConnections connects a paho MQTT 5 client, finds it in
// /api/v1/connections, closes it with DELETE and checks that the client got
// DISCONNECT 0x98 and the connection left the list.
func TestAdminConnections(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	id := clientID("admin")
	v := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	v.subscribe(t, "adm/t", 1)
	v.publish(t, &paho.Publish{Topic: "adm/t", QoS: 1, Payload: []byte("x")})
	v.In.next(t, recvTimeout)

	c := findConn(t, b, id)
	if c.Protocol != "mqtt" {
		t.Fatalf("connection %+v", c)
	}
	detail := adminJSON[struct {
		Consumers []struct {
			Queue    string   `json:"queue"`
			Bindings []string `json:"bindings"`
		} `json:"consumers"`
	}](t, b, "GET", "/connections/"+c.ID, "", http.StatusOK)
	if len(detail.Consumers) != 1 || len(detail.Consumers[0].Bindings) != 1 || detail.Consumers[0].Bindings[0] != "adm/t" {
		t.Fatalf("connection detail %+v, want the subscription adm/t", detail)
	}
	adminJSON[map[string]string](t, b, "DELETE", "/connections/"+c.ID, "", http.StatusAccepted)
	select {
	case d := <-v.Disconnects:
		if d.ReasonCode != 0x98 {
			t.Fatalf("DISCONNECT reason 0x%02x, want 0x98 Administrative action", d.ReasonCode)
		}
	case <-time.After(recvTimeout):
		t.Fatal("client not disconnected")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := true
		for _, cc := range adminJSON[[]apiConn](t, b, "GET", "/connections", "", http.StatusOK) {
			left = left && cc.ID != c.ID
		}
		if left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connection still listed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, out := adminCall(t, b, "DELETE", "/connections/"+c.ID, ""); st != http.StatusNotFound || !bytes.Contains(out, []byte(`"status": 404`)) {
		t.Fatalf("second DELETE: %d %s", st, out)
	}
}

// TestAdminQueues creates, fills, peeks, purges and deletes a queue, moves
// a dead letter back, and lists and deletes a retained message.
func TestAdminQueues(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	adminJSON[apiQueue](t, b, "PUT", "/queues/it-admin", `{"bindings":["it/admin/+"]}`, http.StatusCreated)
	for _, body := range []string{"one", "two"} {
		adminJSON[map[string]any](t, b, "POST", "/publish", `{"address":"it/admin/x","body":"`+body+`"}`, http.StatusOK)
	}
	q := adminJSON[apiQueue](t, b, "GET", "/queues/it-admin", "", http.StatusOK)
	if q.Ready != 2 {
		t.Fatalf("queue %+v, want 2 ready", q)
	}
	ms := adminJSON[[]apiMessage](t, b, "GET", "/queues/it-admin/messages?count=5", "", http.StatusOK)
	if len(ms) != 2 || ms[0].Body != "one" || ms[1].Body != "two" {
		t.Fatalf("peek %+v", ms)
	}
	if q = adminJSON[apiQueue](t, b, "GET", "/queues/it-admin", "", http.StatusOK); q.Ready != 2 {
		t.Fatalf("peek consumed: %+v", q)
	}
	p := adminJSON[map[string]int](t, b, "POST", "/queues/it-admin/purge", "", http.StatusOK)
	if p["purged"] != 2 {
		t.Fatalf("purge %+v", p)
	}
	adminJSON[any](t, b, "DELETE", "/queues/it-admin", "", http.StatusNoContent)
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/queues/it-admin", "", http.StatusNotFound},
		{"PUT", "/queues/bad", `{"ttl":`, http.StatusBadRequest},
		{"GET", "/nothing", "", http.StatusNotFound},
	} {
		if st, out := adminCall(t, b, c.method, c.path, c.body); st != c.status || !bytes.Contains(out, []byte(`"error"`)) {
			t.Errorf("%s %s: %d %s, want %d with a JSON error", c.method, c.path, st, out, c.status)
		}
	}

	// A job rejected by an AMQP consumer lands in $dlq; move puts it back.
	s := newAMQPSession(t, dialAMQP(t, b, nil))
	r := amqpReceiver(t, s, "/queues/it-jobs", &goamqp.ReceiverOptions{Credit: 1})
	adminJSON[map[string]any](t, b, "POST", "/publish", `{"address":"it-jobs","body":"job"}`, http.StatusOK)
	m := recvAMQP(t, r, "job")
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := r.RejectMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	dl := adminJSON[[]apiMessage](t, b, "GET", "/queues/$dlq/messages", "", http.StatusOK)
	if len(dl) != 1 || dl[0].DeadLetter == nil || dl[0].DeadLetter.Address != "it-jobs" || dl[0].DeadLetter.Reason != "rejected" {
		t.Fatalf("$dlq %+v", dl)
	}
	mv := adminJSON[map[string]int](t, b, "POST", "/queues/$dlq/move", "", http.StatusOK)
	if mv["moved"] != 1 {
		t.Fatalf("move %+v", mv)
	}
	back := adminJSON[[]apiMessage](t, b, "GET", "/queues/it-jobs/messages", "", http.StatusOK)
	if len(back) != 1 || back[0].Body != "job" || back[0].DeadLetter != nil {
		t.Fatalf("it-jobs after move %+v", back)
	}
	if q := adminJSON[apiQueue](t, b, "GET", "/queues/$dlq", "", http.StatusOK); q.Ready != 0 {
		t.Fatalf("$dlq after move %+v", q)
	}

	// Retained: an MQTT publisher retains, the API lists and deletes it.
	pub := connectV3(t, v3Options(b.TCPURL(), clientID("ret")))
	publishV3(t, pub, "it/status/a", 1, true, []byte("up"))
	var rs []apiMessage
	deadline := time.Now().Add(5 * time.Second)
	for len(rs) == 0 && time.Now().Before(deadline) {
		rs = adminJSON[[]apiMessage](t, b, "GET", "/retained?filter=it/status/%23", "", http.StatusOK)
	}
	if len(rs) != 1 || rs[0].Address != "it/status/a" || rs[0].Body != "up" {
		t.Fatalf("retained %+v", rs)
	}
	adminJSON[any](t, b, "DELETE", "/retained?topic=it/status/a", "", http.StatusNoContent)
	in := newInbox(4)
	sub := connectV3(t, v3Options(b.TCPURL(), clientID("ret-sub")))
	subscribeV3(t, sub, "it/status/#", 1, in)
	in.quiet(t, quietPeriod)
}

// TestAdminAuth checks the API's answers to a broker with users: no
// credentials 401 with WWW-Authenticate, a user without admin 403, the
// admin user 200.
func TestAdminAuth(t *testing.T) {
	cfg := `
listeners:
  mqtt: off
  stomp: off
  amqp: off
  http: "` + freeAddr(t) + `"
storage:
  engine: memory
auth:
  users:
    - name: root
      password_hash: "` + testHash(t, "secret") + `"
      permissions:
        - {action: admin, pattern: "#"}
    - name: bob
      password_hash: "` + testHash(t, "pw") + `"
`
	b := startBroker(t, brokerOpts{Config: cfg})
	for _, c := range []struct {
		user, pass string
		status     int
	}{{"", "", 401}, {"root", "wrong", 401}, {"bob", "pw", 403}, {"root", "secret", 200}} {
		req, _ := http.NewRequest("GET", "http://"+b.HTTPAddr+"/api/v1/overview", nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("user %q: status %d, want %d", c.user, resp.StatusCode, c.status)
		}
		if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("user %q: 401 without WWW-Authenticate", c.user)
		}
	}
	out := runCtl(t, b, 0, "--user", "root", "--password", "secret", "overview")
	if !strings.Contains(out, "version") {
		t.Fatalf("ctl overview with credentials: %s", out)
	}
	out = runCtl(t, b, 1, "overview")
	if !strings.Contains(out, "401") {
		t.Fatalf("ctl overview without credentials: %s", out)
	}
}

// runCtl runs `rosetta ctl --server URL args...` and returns its output.
func runCtl(t *testing.T, b *broker, wantCode int, args ...string) string {
	t.Helper()
	cmd := exec.Command(rosettaBin, append([]string{"ctl", "--server", "http://" + b.HTTPAddr}, args...)...)
	cmd.Env = brokerEnv()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ctl %v: %v", args, err)
	}
	if code != wantCode {
		t.Fatalf("ctl %v: exit %d, want %d:\n%s", args, code, wantCode, out)
	}
	return string(out)
}

// TestCtl runs `rosetta ctl` commands against a running broker and checks
// their tables and --json output.
func TestCtl(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	id := clientID("ctl")
	v := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	c := findConn(t, b, id)

	want := func(out string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Fatalf("output lacks %q:\n%s", p, out)
			}
		}
	}
	want(runCtl(t, b, 0, "overview"), "version", "listener mqtt", "connections", "rate mqtt")
	want(runCtl(t, b, 0, "connections"), "ID", "PROTOCOL", "CLIENT ID", c.ID, id)
	var conns []apiConn
	if err := json.Unmarshal([]byte(runCtl(t, b, 0, "connections", "--json")), &conns); err != nil || len(conns) != 1 || conns[0].ClientID != id {
		t.Fatalf("connections --json: %+v %v", conns, err)
	}
	want(runCtl(t, b, 0, "queues", "create", "it-ctl", "--bind", "it/ctl/#"), "queue it-ctl ready")
	want(runCtl(t, b, 0, "publish", "--address", "it/ctl/a", "--body", "from ctl"), "1 queue(s)")
	want(runCtl(t, b, 0, "queues"), "NAME", "READY", "it-ctl", "it/ctl/#")
	var qs []apiQueue
	if err := json.Unmarshal([]byte(runCtl(t, b, 0, "--json", "queues")), &qs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range qs {
		found = found || q.Name == "it-ctl" && q.Ready == 1
	}
	if !found {
		t.Fatalf("queues --json lacks it-ctl with 1 ready: %+v", qs)
	}
	want(runCtl(t, b, 0, "queues", "peek", "it-ctl"), "SEQ", "it/ctl/a", "from ctl")
	want(runCtl(t, b, 0, "get", "--queue", "it-ctl"), "from ctl")
	want(runCtl(t, b, 0, "queues", "peek", "it-ctl"), "no messages")
	runCtl(t, b, 0, "publish", "--address", "it/ctl/b", "--body", "x")
	want(runCtl(t, b, 0, "queues", "purge", "it-ctl"), "1 messages removed")
	want(runCtl(t, b, 0, "publish", "--address", "it/ctl/r", "--body", "kept", "--retain"), "published")
	want(runCtl(t, b, 0, "retained"), "TOPIC", "it/ctl/r", "kept")
	want(runCtl(t, b, 0, "retained", "delete", "it/ctl/r"), "deleted")
	want(runCtl(t, b, 0, "dlq", "move", "it-ctl"), "moved 0")
	want(runCtl(t, b, 0, "transformers"), "NAME", "KIND", "json-to-cbor", "step")
	want(runCtl(t, b, 0, "reload"), "configuration reloaded")
	want(runCtl(t, b, 0, "queues", "delete", "it-ctl"), "deleted")
	want(runCtl(t, b, 1, "queues", "peek", "it-ctl"), "not found", "404")
	want(runCtl(t, b, 0, "connections", "close", c.ID), "closing")
	select {
	case <-v.Disconnects:
	case <-time.After(recvTimeout):
		t.Fatal("ctl connections close did not disconnect the client")
	}
}
