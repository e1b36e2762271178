package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds used by the harness. They are generous for a loaded 2-core CI
// machine, and every wait that hits one fails with a clear message.
const (
	startTimeout = 15 * time.Second // process start until /healthz is 200 and MQTT accepts
	stopTimeout  = 15 * time.Second // SIGTERM until the process has exited
)

// rosettaBin is the broker binary built once by TestMain.
var rosettaBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("ROSETTA_IT_BIN"); bin != "" {
		rosettaBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "rosetta-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	rosettaBin = filepath.Join(dir, "rosetta")
	args := []string{"build", "-o", rosettaBin}
	if os.Getenv("ROSETTA_IT_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/rosetta")
	cmd := exec.Command("go", args...)
	cmd.Dir = ".." // the module root; go test runs in the package directory
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// brokerOpts configures startBroker. The zero value starts a broker with no
// config file and the MQTT, STOMP, AMQP and HTTP listeners.
type brokerOpts struct {
	// Config is the YAML written to a file and passed with --config; empty
	// means no --config.
	Config string
	// Args are extra command-line flags, appended last.
	Args []string
	// DataDir is the data directory; empty means a new temporary one. A
	// test that restarts the broker passes the same one again.
	DataDir string
}

// broker is one running rosetta process.
type broker struct {
	MQTTAddr  string // host:port of the plain MQTT listener
	STOMPAddr string // host:port of the plain STOMP listener
	AMQPAddr  string // host:port of the plain AMQP 1.0 listener
	HTTPAddr  string // host:port of the HTTP listener (health, metrics, /mqtt, /stomp and /amqp WebSockets)
	// ConfigPath is the --config file written from brokerOpts.Config; a
	// test rewrites it and reloads.
	ConfigPath string

	cmd  *exec.Cmd
	out  *syncBuffer   // the process's stdout and stderr
	done chan struct{} // closed when the process has exited; waitErr is then set
	// waitErr is cmd.Wait's result, valid after done is closed.
	waitErr error

	mu      sync.Mutex
	stopped bool // guarded by mu: Stop or Kill already ran
}

// WSURL is the MQTT-over-WebSocket endpoint.
func (b *broker) WSURL() string { return "ws://" + b.HTTPAddr + "/mqtt" }

// STOMPWSURL is the STOMP-over-WebSocket endpoint.
func (b *broker) STOMPWSURL() string { return "ws://" + b.HTTPAddr + "/stomp" }

// AMQPURL is the go-amqp URL of the AMQP listener.
func (b *broker) AMQPURL() string { return "amqp://" + b.AMQPAddr }

// AMQPWSURL is the AMQP-over-WebSocket endpoint.
func (b *broker) AMQPWSURL() string { return "ws://" + b.HTTPAddr + "/amqp" }

// TCPURL is the paho v3 broker URL of the MQTT listener.
func (b *broker) TCPURL() string { return "tcp://" + b.MQTTAddr }

// Output returns what the process wrote so far.
func (b *broker) Output() string { return b.out.String() }

// startBroker starts rosetta on free loopback ports and waits until it is
// ready. On cleanup it sends SIGTERM, waits for the exit and fails the test
// unless the exit status is 0; the broker's output is logged when the test
// failed.
func startBroker(t testing.TB, opts brokerOpts) *broker {
	t.Helper()
	var lastErr error
	// A free port found by listening on :0 can be taken by someone else
	// before the broker binds it; retry a couple of times in that case.
	for attempt := 0; attempt < 3; attempt++ {
		b, err := tryStartBroker(t, opts)
		if err == nil {
			return b
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("start broker: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

func tryStartBroker(t testing.TB, opts brokerOpts) (*broker, error) {
	t.Helper()
	// The four ports are distinct, and distinct from any address the test
	// passes in Args (a TLS listener's, say): the broker refuses a clash.
	addrs := freeAddrs(t, 4, opts.Args)
	b := &broker{
		MQTTAddr:  addrs[0],
		STOMPAddr: addrs[1],
		AMQPAddr:  addrs[2],
		HTTPAddr:  addrs[3],
		out:       &syncBuffer{},
		done:      make(chan struct{}),
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	args := []string{"serve",
		"--mqtt", b.MQTTAddr,
		"--http", b.HTTPAddr,
		"--stomp", b.STOMPAddr,
		"--amqp", b.AMQPAddr,
		"--mqtt-tls", "off",
		"--data-dir", dataDir,
		"--log-level", "info",
		"--log-format", "text",
	}
	if opts.Config != "" {
		path := filepath.Join(t.TempDir(), "rosetta.yaml")
		if err := os.WriteFile(path, []byte(opts.Config), 0o600); err != nil {
			t.Fatalf("write config: %v", err)
		}
		args = append(args, "--config", path)
		b.ConfigPath = path
	}
	args = append(args, opts.Args...)
	b.cmd = exec.Command(rosettaBin, args...)
	b.cmd.Stdout = b.out
	b.cmd.Stderr = b.out
	b.cmd.Env = brokerEnv()
	setProcAttr(b.cmd) // the broker dies with the test binary
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", rosettaBin, err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.stopAtCleanup(t)
		if t.Failed() {
			t.Logf("rosetta %s\n--- broker output ---\n%s--- end of broker output ---",
				strings.Join(args, " "), b.Output())
		}
	})
	if err := b.waitReady(); err != nil {
		b.Kill(t)
		if strings.Contains(b.Output(), "address already in use") {
			return nil, fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return nil, err
	}
	return b, nil
}

// waitReady polls /healthz until it answers 200 and the MQTT port accepts a
// connection, or fails on exit or after startTimeout.
func (b *broker) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	var lastErr error
	healthy := false
	for time.Now().Before(deadline) {
		select {
		case <-b.done:
			return fmt.Errorf("rosetta exited before it was ready: %v", b.waitErr)
		default:
		}
		if !healthy {
			resp, err := client.Get("http://" + b.HTTPAddr + "/healthz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					healthy = true
				} else {
					err = fmt.Errorf("GET /healthz: %s", resp.Status)
				}
			}
			lastErr = err
		}
		if healthy {
			c, err := net.DialTimeout("tcp", b.MQTTAddr, time.Second)
			if err == nil {
				c.Close()
				return nil
			}
			lastErr = err
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("rosetta not ready after %v (healthz 200: %v): %v", startTimeout, healthy, lastErr)
}

// Stop sends SIGTERM and waits up to timeout for the exit. It returns the
// exit code (-1 when killed by a signal) and how long the exit took; on
// timeout it kills the process and fails the test.
func (b *broker) Stop(t testing.TB, timeout time.Duration) (code int, took time.Duration) {
	t.Helper()
	b.mu.Lock()
	already := b.stopped
	b.stopped = true
	b.mu.Unlock()
	if already {
		<-b.done
		return b.exitCode(), 0
	}
	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-b.done:
		return b.exitCode(), time.Since(start)
	case <-time.After(timeout):
		t.Errorf("rosetta did not exit within %v of SIGTERM; killing it", timeout)
		_ = b.cmd.Process.Kill()
		<-b.done
		return b.exitCode(), time.Since(start)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (b *broker) Kill(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	if err := b.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGKILL: %v", err)
	}
	<-b.done
}

// Exited reports whether the process has exited.
func (b *broker) Exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *broker) stopAtCleanup(t testing.TB) {
	b.mu.Lock()
	already := b.stopped
	b.mu.Unlock()
	if already {
		return
	}
	if b.Exited() {
		t.Errorf("rosetta exited during the test: %v", b.waitErr)
		return
	}
	code, took := b.Stop(t, stopTimeout)
	if code != 0 {
		t.Errorf("rosetta exited with status %d after SIGTERM (took %v), want 0", code, took)
	}
}

func (b *broker) exitCode() int {
	if b.cmd.ProcessState == nil {
		return -1
	}
	return b.cmd.ProcessState.ExitCode()
}

// httpGet fetches path from the broker's HTTP listener.
func (b *broker) httpGet(t *testing.T, path string) (status int, contentType string, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.HTTPAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}

// brokerEnv is the test's environment without ROSETTA_* variables, so a
// developer's settings cannot change what the tests start.
func brokerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROSETTA_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// freeAddrs returns n distinct loopback host:port addresses that were free
// a moment ago and are none of avoid. The listeners are held until all n
// are found, so the kernel cannot hand out one port twice.
func freeAddrs(t testing.TB, n int, avoid []string) []string {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		ls = append(ls, l) // held even when skipped, so it is not offered again
		if addr := l.Addr().String(); !slices.Contains(avoid, addr) {
			out = append(out, addr)
		}
	}
	return out
}

// requirePeer returns the path of an external tool. When it is missing the
// test is skipped, except under CI=true where CI installs every peer and a
// skip would hide a gap (STYLE.md "Tests").
func requirePeer(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found in PATH (install the Debian package %s: apt-get install -y %s)", name, pkg, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so a missing peer fails the run", msg)
	}
	t.Skip(msg)
	return ""
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child
// process's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
