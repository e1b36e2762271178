package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

// pyTimeout bounds one run of the stomp.py script; the script bounds each
// of its own waits to 10 s.
const pyTimeout = 30 * time.Second

// requirePythonModule returns a Python 3 interpreter that can import
// module. Debian's python3-* packages install into the system interpreter,
// which need not be the python3 first in PATH (pyenv, virtualenvs), so
// /usr/bin/python3 is tried first. A missing module skips the test, except
// under CI=true (see requirePeer).
func requirePythonModule(t *testing.T, module, pkg string) string {
	t.Helper()
	var tried []string
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := exec.CommandContext(ctx, py, "-c", "import "+module).Run()
		cancel()
		if err == nil {
			return py
		}
		tried = append(tried, py)
	}
	msg := fmt.Sprintf("no Python 3 with the %s module (tried %s; install the Debian package %s: apt-get install -y %s)",
		module, strings.Join(tried, ", "), pkg, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so a missing peer fails the run", msg)
	}
	t.Skip(msg)
	return ""
}

// pyMessage is one MESSAGE as the script prints it.
type pyMessage struct {
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// TestPythonSTOMP drives stomp.py 8 (Debian python3-stomp) against the
// broker and cross-checks with go-stomp: stomp.py sends persistent messages
// with receipts that a Go consumer receives, and receives (subscription
// receipt, client-individual ACKs) what a Go client sends.
func TestPythonSTOMP(t *testing.T) {
	py := requirePythonModule(t, "stomp", "python3-stomp")
	b := startBroker(t, brokerOpts{})
	host, port, err := net.SplitHostPort(b.STOMPAddr)
	if err != nil {
		t.Fatal(err)
	}
	script := "testdata/stomp_py_client.py"

	t.Run("stomp.py sends, go-stomp receives", func(t *testing.T) {
		const n = 5
		ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
		defer cancel()
		// No consumer yet: the queue keeps the messages (DESIGN.md §4), and
		// each RECEIPT says the broker has taken one.
		out, err := exec.CommandContext(ctx, py, script, host, port, "send", "/queue/py-in", strconv.Itoa(n)).CombinedOutput()
		if err != nil {
			t.Fatalf("stomp.py send: %v\n%s", err, out)
		}
		var res struct{ Receipts []string }
		if err := json.Unmarshal(lastLine(out), &res); err != nil {
			t.Fatalf("stomp.py output %q: %v", out, err)
		}
		slices.Sort(res.Receipts)
		if want := []string{"py-r0", "py-r1", "py-r2", "py-r3", "py-r4"}; !slices.Equal(res.Receipts, want) {
			t.Fatalf("receipts %q, want %q", res.Receipts, want)
		}

		c := dialSTOMP(t, b)
		s := subscribeSTOMP(t, c, "/queue/py-in", stomp.AckClientIndividual)
		for i := range n {
			m := nextSTOMP(t, s, recvTimeout, "message from stomp.py")
			if string(m.Body) != fmt.Sprintf("py-%d", i) || header(t, m, "seq") != strconv.Itoa(i) {
				t.Errorf("message %d: %q seq %q (order kept on a queue)", i, m.Body, m.Header.Get("seq"))
			}
			for k, want := range map[string]string{
				"content-type": "text/plain", "persistent": "true", "x-sender": "stomp.py",
				"x-origin-protocol": "stomp", "x-origin-client-id": "stomp-py-send",
			} {
				if got := header(t, m, k); got != want {
					t.Errorf("message %d: %s %q, want %q", i, k, got, want)
				}
			}
			// The client's receipt header is the broker's business: it is
			// not passed on.
			if _, ok := m.Header.Contains("receipt"); ok {
				t.Errorf("message %d carries the sender's receipt header", i)
			}
			if err := c.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		quietSTOMP(t, s, quietPeriod, "after stomp.py's messages")
	})

	t.Run("go-stomp sends, stomp.py receives", func(t *testing.T) {
		const n = 3
		ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, script, host, port, "recv", "/topic/py/out", strconv.Itoa(n))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		if !lines.Scan() || lines.Text() != "READY" {
			_ = cmd.Wait()
			t.Fatalf("stomp.py did not subscribe: %q %v\n%s", lines.Text(), lines.Err(), stderr.String())
		}

		c := dialSTOMP(t, b)
		for i := range n {
			sendSTOMP(t, c, "/topic/py/out", "text/plain", []byte(fmt.Sprintf("go-%d", i)),
				stomp.SendOpt.Header("x-from", "go"), stomp.SendOpt.Header("correlation-id", fmt.Sprintf("c%d", i)))
		}
		var raw []byte
		if lines.Scan() {
			raw = []byte(lines.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("stomp.py recv: %v\n%s", err, stderr.String())
		}
		var got []pyMessage
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("stomp.py output %q: %v", raw, err)
		}
		if len(got) != n {
			t.Fatalf("stomp.py got %d messages, want %d: %+v", len(got), n, got)
		}
		for i, m := range got {
			want := map[string]string{
				"destination": "/topic/py/out", "subscription": "py-sub", "x-from": "go", "content-type": "text/plain",
				"correlation-id": fmt.Sprintf("c%d", i), "content-length": "4",
			}
			if m.Body != fmt.Sprintf("go-%d", i) {
				t.Errorf("message %d body %q", i, m.Body)
			}
			for k, v := range want {
				if m.Headers[k] != v {
					t.Errorf("message %d: %s %q, want %q (headers %v)", i, k, m.Headers[k], v, m.Headers)
				}
			}
			if m.Headers["ack"] == "" || m.Headers["message-id"] == "" {
				t.Errorf("message %d lacks ack or message-id: %v", i, m.Headers)
			}
		}
	})
}

// lastLine returns the last non-empty line of out.
func lastLine(out []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return []byte(lines[len(lines)-1])
}
