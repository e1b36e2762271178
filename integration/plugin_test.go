package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// buildPlugin builds the plugin in ./plugins/<name> into a temporary
// directory and returns its path and SHA-256.
func buildPlugin(t *testing.T, name string) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", path, "./plugins/"+name)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build plugin %s: %v\n%s", name, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:])
}

// pidOf returns the pid of the process running the executable path.
func pidOf(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(recvTimeout)
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process runs %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPluginKilledMidStream: a go-plugin transformer (plugins/units, built
// here) runs in a child process of the broker and converts Fahrenheit to
// Celsius for a route. It is killed with SIGKILL while messages stream
// through it: the broker restarts it, the messages of the calls in flight
// are dead-lettered with reason transform (never lost, never delivered
// half transformed), and the ones after the restart are transformed again.
func TestPluginKilledMidStream(t *testing.T) {
	path, sum := buildPlugin(t, "units")
	cfg := fmt.Sprintf(`auth:
  allow_anonymous: true
  anonymous_permissions:
    - {action: publish, pattern: "#"}
    - {action: subscribe, pattern: "#"}
    - {action: subscribe, pattern: "$dlq"}
transform:
  routes:
    - name: fahrenheit
      match: "plug/#"
      transform:
        - units: {fields: {temp_f: {to: temp_c, convert: f_to_c, round: 1}}}
  plugins:
    - name: units
      path: %s
      sha256: %s
      call_timeout: 2s
`, path, sum)
	b := startBroker(t, brokerOpts{Config: cfg})
	const total = 600

	var mu sync.Mutex
	got := map[int]bool{}
	sub := connectV3(t, v3Options(b.TCPURL(), clientID("plug-sub")))
	waitV3(t, sub.Subscribe("plug/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var v struct {
			Seq   int      `json:"seq"`
			TempC *float64 `json:"temp_c"`
			TempF *float64 `json:"temp_f"`
		}
		if err := json.Unmarshal(m.Payload(), &v); err != nil || v.TempC == nil || *v.TempC != 100 || v.TempF != nil {
			t.Errorf("delivered untransformed or half transformed: %s", m.Payload())
			return
		}
		mu.Lock()
		got[v.Seq] = true
		mu.Unlock()
	}), "subscribe")
	dlq := amqpReceiver(t, amqpSession(t, b), "/queues/$dlq", &goamqp.ReceiverOptions{Credit: 1000})

	pid := pidOf(t, path)
	pub := connectV5(t, b.MQTTAddr, nil)
	var killed sync.Once
	for i := range total {
		pub.publish(t, &paho.Publish{Topic: "plug/t", QoS: 1, Payload: fmt.Appendf(nil, `{"seq":%d,"temp_f":212}`, i),
			Properties: &paho.PublishProperties{ContentType: "application/json"}})
		if i == total/3 {
			killed.Do(func() {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill plugin %d: %v", pid, err)
				}
			})
		}
	}

	dead := map[int]string{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n+len(dead) >= total || time.Now().After(deadline) {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		m, err := dlq.Receive(ctx, nil)
		cancel()
		if err != nil {
			continue
		}
		_ = dlq.AcceptMessage(context.Background(), m)
		var v struct{ Seq int }
		if err := json.Unmarshal(m.GetData(), &v); err != nil {
			t.Fatalf("dead letter %q: %v", m.GetData(), err)
		}
		reason, _ := m.Annotations["x-death-reason"].(string)
		if reason != "transform" {
			t.Errorf("dead letter %d: reason %q, want transform", v.Seq, reason)
		}
		dead[v.Seq] = reason
	}
	mu.Lock()
	defer mu.Unlock()
	var lost []int
	for i := range total {
		if !got[i] && dead[i] == "" {
			lost = append(lost, i)
		}
	}
	t.Logf("%d transformed, %d dead-lettered (the calls in flight when the plugin died)", len(got), len(dead))
	if len(lost) > 0 {
		_, _, m := b.httpGet(t, "/metrics")
		for _, l := range strings.Split(m, "\n") {
			if strings.Contains(l, "dead") || strings.Contains(l, "dropped") || strings.Contains(l, "transform_step") || strings.Contains(l, "queue_depth") {
				t.Log(l)
			}
		}
		t.Log(b.Output())
		t.Fatalf("%d messages neither delivered nor dead-lettered: %v", len(lost), head(lost))
	}
	after := 0
	for i := total / 2; i < total; i++ {
		if got[i] {
			after++
		}
	}
	if after == 0 {
		t.Fatal("nothing transformed after the kill: the plugin was not restarted")
	}
	body := waitMetrics(t, b, []string{`rosetta_plugin_up{plugin="units",state="running"} 1`})
	if r := metricValue(t, body, "rosetta_plugin_restarts_total"); r < 1 {
		t.Errorf("rosetta_plugin_restarts_total = %v, want at least 1", r)
	}
	if newPID := pidOf(t, path); newPID == pid {
		t.Errorf("the plugin still runs as pid %d", pid)
	}
}
