package integration

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMosquittoClients drives the broker with Debian's mosquitto_pub and
// mosquitto_sub, MQTT 3.1.1 and 5, at every QoS, retained included.
func TestMosquittoClients(t *testing.T) {
	pubBin := requirePeer(t, "mosquitto_pub", "mosquitto-clients")
	subBin := requirePeer(t, "mosquitto_sub", "mosquitto-clients")

	for _, version := range []string{"mqttv311", "mqttv5"} {
		t.Run(version, func(t *testing.T) {
			b := startBroker(t, brokerOpts{})
			host, port := splitHostPort(t, b.MQTTAddr)
			common := []string{"-h", host, "-p", port, "-V", version}
			pub := func(args ...string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, pubBin, append(common, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}

			// The retained message is published first; mosquitto_sub gets
			// it right after its SUBACK, which tells the test the
			// subscription is in place before the live messages are sent.
			pub("-t", "a/retained", "-m", "kept", "-q", "1", "-r")

			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			sub := exec.CommandContext(ctx, subBin, append(common,
				"-t", "a/#", "-q", "2", "-C", "4", "-v", "-i", clientID("mosq-sub"))...)
			stdout, err := sub.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr := &syncBuffer{}
			sub.Stderr = stderr
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 8)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			var got []string
			next := func() {
				t.Helper()
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("mosquitto_sub ended after %v: %s", got, stderr.String())
					}
					got = append(got, l)
				case <-time.After(recvTimeout):
					t.Fatalf("mosquitto_sub printed %v, nothing more within %v; stderr: %s", got, recvTimeout, stderr.String())
				}
			}
			next() // the retained message
			for qos := range 3 {
				pub("-t", fmt.Sprintf("a/q%d", qos), "-m", fmt.Sprintf("hello %d", qos), "-q", strconv.Itoa(qos))
				next()
			}
			if err := sub.Wait(); err != nil {
				t.Errorf("mosquitto_sub -C 4 exited with %v; stderr: %s", err, stderr.String())
			}
			want := []string{"a/retained kept", "a/q0 hello 0", "a/q1 hello 1", "a/q2 hello 2"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("mosquitto_sub printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}

			// Clearing the retained message: a new subscriber gets nothing
			// retained, only the live message published after it.
			pub("-t", "a/retained", "-n", "-r", "-q", "1")
			out, err := exec.CommandContext(ctx, subBin, append(common,
				"-t", "a/#", "-C", "1", "-W", "1", "-v", "--retained-only")...).CombinedOutput()
			// -W 1 ends the client after 1 s; with nothing retained it
			// prints nothing (mosquitto_sub exits 27 on that timeout).
			if strings.Contains(string(out), "a/retained") {
				t.Errorf("retained message still there after clearing it: %q (%v)", out, err)
			}
		})
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("bad address %q", addr)
	}
	return addr[:i], addr[i+1:]
}
