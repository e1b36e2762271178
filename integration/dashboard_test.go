package integration

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/go-stomp/stomp/v3"
)

// TestDashboard opens the admin dashboard in headless Chromium, driven by
// playwright-core from js/dashboard.mjs: the page shows an MQTT client's
// connection and a queue's depth as the test changes them, and a message
// published from the "try it" panel reaches an MQTT subscriber. The
// screenshot goes to $ROSETTA_IT_ARTIFACTS when set, else the test's temp
// directory.
func TestDashboard(t *testing.T) {
	node := requirePeer(t, "node", "nodejs")
	chromium := requirePeer(t, "chromium", "chromium")
	requireJSPackage(t, "playwright-core/package.json")
	b := startBroker(t, brokerOpts{})

	const queue = "it-dash"
	adminJSON[apiQueue](t, b, "PUT", "/queues/"+queue, `{"bindings":["it/dash/#"]}`, http.StatusCreated)
	sub := connectV5(t, b.MQTTAddr, nil)
	sub.subscribe(t, "it/try/#", 1)
	// A STOMP subscriber that asked for XML: the try-it panel shows what
	// it gets (POST /api/v1/explain).
	sc := dialSTOMP(t, b)
	subscribeSTOMP(t, sc, "/topic/it/try/#", stomp.AckAuto, stomp.SubscribeOpt.Header("accept", "application/xml"))

	dir := os.Getenv("ROSETTA_IT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	id := clientID("dash")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	script, err := filepath.Abs(filepath.Join(jsDir, "dashboard.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, waitNode := startNode(t, ctx, node, append(os.Environ(), "CHROMIUM="+chromium), script, "http://"+b.HTTPAddr+"/", id, queue, "it/try/x", shot, t.TempDir())
	events := make(chan nodeEvent, 16)
	go readNodeEvents(stdout, events)
	next := func(want string) nodeEvent {
		t.Helper()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("node exited before %q: %s", want, stderr.String())
				}
				if e.Event == "pageerror" {
					t.Errorf("page error: %s", e.Body)
					continue
				}
				if e.Event != want {
					t.Fatalf("node event %+v, want %q", e, want)
				}
				return e
			case <-time.After(60 * time.Second):
				t.Fatalf("no %q event from node", want)
			}
		}
	}

	next("ready")
	pub := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	next("connection")
	for range 3 {
		pub.publish(t, &paho.Publish{Topic: "it/dash/job", QoS: 1, Payload: []byte("job")})
	}
	next("depth")
	if e := next("published"); !strings.Contains(e.Body, `"queues"`) {
		t.Fatalf("try-it result %q", e.Body)
	}
	m := sub.In.next(t, recvTimeout)
	if m.Topic != "it/try/x" || string(m.Payload) != `{"from":"the dashboard"}` {
		t.Fatalf("subscriber got %s", m)
	}
	e := next("receivers")
	for _, want := range []string{"mqtt", "stomp", "application/xml", "<from>the dashboard</from>", "json-to-xml"} {
		if !strings.Contains(e.Body, want) {
			t.Errorf("try-it receivers table lacks %q: %q", want, e.Body)
		}
	}
	next("queue-page")
	next("screenshot")
	if err := waitNode(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("dashboard screenshot: %s", shot)
}
