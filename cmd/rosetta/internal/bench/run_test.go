package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRunAgainstBinary runs a short cross-protocol bench against bin/rosetta
// (built by `make build`; skipped when it is missing): MQTT QoS 1 in,
// MQTT, STOMP and AMQP out, then the idle-connections mode.
func TestRunAgainstBinary(t *testing.T) {
	bin, _ := filepath.Abs("../../../../bin/rosetta")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/rosetta not built (make build)")
	}
	addrs := make([]string, 3)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
	}
	cmd := exec.Command(bin, "serve", "--storage", "memory", "--http", "off", "--log-level", "warn",
		"--mqtt", addrs[0], "--stomp", addrs[1], "--amqp", addrs[2], "--data-dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addrs[2]); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("broker did not start")
		}
	}
	ep := func(u string) *Endpoint {
		e, err := ParseEndpoint(u)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cfg := Config{
		Pubs: []*Endpoint{ep(fmt.Sprintf("mqtt://%s/bt/1?qos=1", addrs[0]))},
		Subs: []*Endpoint{
			ep(fmt.Sprintf("mqtt://%s/bt/%%23?qos=1&version=5", addrs[0])),
			ep(fmt.Sprintf("stomp://%s/topic/bt/1?ack=client-individual", addrs[1])),
			ep(fmt.Sprintf("amqp://%s/topics/bt/1?settled=false&credit=100", addrs[2])),
		},
		Publishers: 2, Count: 2000, Size: 256, BrokerPID: cmd.Process.Pid, Timeout: 20 * time.Second,
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 4000 || rep.Confirmed != 4000 || rep.Expected != 12000 || rep.Received != 12000 ||
		rep.Lost+rep.Duplicated+rep.Corrupt+rep.Foreign+rep.Reordered != 0 || len(rep.Errors) > 0 {
		t.Errorf("report: %+v", rep)
	}
	if rep.Latency.P50 <= 0 || rep.Broker == nil || rep.Broker.RSSAfterKiB <= 0 {
		t.Errorf("latency %+v broker %+v", rep.Latency, rep.Broker)
	}

	rep, err = Run(context.Background(), Config{
		Pubs: cfg.Pubs, Connections: 200, SourceIPs: 4, Duration: 100 * time.Millisecond, BrokerPID: cmd.Process.Pid,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ConnectionsOpen != 200 || rep.Broker == nil || len(rep.Errors) > 0 {
		t.Errorf("connections report: %+v", rep)
	}
}
