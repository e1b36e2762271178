package integration

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
)

// TestReloadUsersAndRoutes: a reload (SIGHUP, then POST /api/v1/reload)
// applies users, permissions and transform routes without a restart. The
// connections of a removed user are closed; the others stay connected
// and get the new route's transformation from then on.
func TestReloadUsersAndRoutes(t *testing.T) {
	root, bob := testHash(t, "secret"), testHash(t, "pw")
	base := `storage: {engine: memory}
auth:
  users:
    - name: root
      password_hash: "` + root + `"
      permissions:
        - {action: admin, pattern: "#"}
        - {action: publish, pattern: "#"}
        - {action: subscribe, pattern: "#"}
`
	bobUser := `    - name: bob
      password_hash: "` + bob + `"
      permissions:
        - {action: publish, pattern: "#"}
        - {action: subscribe, pattern: "#"}
`
	b := startBroker(t, brokerOpts{Config: base + bobUser})

	in := make(chan mqtt.Message, 8)
	rootC := connectV3(t, v3Options(b.TCPURL(), clientID("reload-root")).SetUsername("root").SetPassword("secret"))
	waitV3(t, rootC.Subscribe("rl/#", 1, func(_ mqtt.Client, m mqtt.Message) { in <- m }), "subscribe")
	lost := make(chan error, 1)
	connectV3(t, v3Options(b.TCPURL(), clientID("reload-bob")).SetUsername("bob").SetPassword("pw").
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
	bobSTOMP := dialSTOMP(t, b, stomp.ConnOpt.Login("bob", "pw"))
	bobSub := subscribeSTOMP(t, bobSTOMP, "/topic/rl/#", stomp.AckAuto)

	// Bob removed, and a route that turns JSON into XML for MQTT
	// receivers of rl/#.
	route := `transform:
  routes:
    - match: "rl/#"
      to: {protocol: mqtt}
      transform: [json-to-xml]
`
	if err := os.WriteFile(b.ConfigPath, []byte(base+route), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(recvTimeout):
		t.Fatal("bob's MQTT connection still open after bob was removed")
	}
	select {
	case m := <-bobSub.C:
		if m.Err == nil {
			t.Fatalf("bob's STOMP subscription got %q, want the connection closed", m.Body)
		}
	case <-time.After(recvTimeout):
		t.Fatal("bob's STOMP connection still open after bob was removed")
	}
	if !rootC.IsConnectionOpen() {
		t.Fatal("root's connection was closed by the reload")
	}
	publishV3(t, rootC, "rl/x", 1, false, []byte(`{"v":1}`))
	select {
	case m := <-in:
		if !strings.Contains(string(m.Payload()), "<v>1</v>") {
			t.Fatalf("after the reload root got %q, want the route's XML", m.Payload())
		}
	case <-time.After(recvTimeout):
		t.Fatal("no message after the reload")
	}

	// The route goes again, through the API this time.
	if err := os.WriteFile(b.ConfigPath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+b.HTTPAddr+"/api/v1/reload", nil)
	req.SetBasicAuth("root", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/reload: %d", resp.StatusCode)
	}
	publishV3(t, rootC, "rl/x", 1, false, []byte(`{"v":2}`))
	select {
	case m := <-in:
		if string(m.Payload()) != `{"v":2}` {
			t.Fatalf("after removing the route root got %q", m.Payload())
		}
	case <-time.After(recvTimeout):
		t.Fatal("no message after the second reload")
	}
}
