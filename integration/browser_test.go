package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// browserTimeout bounds Chromium's start and each wait on the page; a
// cold Chromium start on a loaded 2-core machine takes a few seconds.
const browserTimeout = 30 * time.Second

// examplePage is the page the test serves: the documented example itself,
// so the example cannot rot.
var examplePage = filepath.Join("..", "docs", "examples", "stomp-websocket.html")

// TestBrowserSTOMPWebSocket loads docs/examples/stomp-websocket.html in
// headless Chromium. The page uses @stomp/stompjs (the UMD bundle from
// integration/js/node_modules, served by the test: the machine has no
// internet) to subscribe to /topic/sensors/+/temp over STOMP over
// WebSocket; a paho MQTT client publishes a reading to sensors/room1/temp,
// and the test reads it back from the DOM through the DevTools protocol.
func TestBrowserSTOMPWebSocket(t *testing.T) {
	chromium := requirePeer(t, "chromium", "chromium")
	bundle := requireJSPackage(t, "@stomp/stompjs/bundles/stomp.umd.min.js")
	b := startBroker(t, brokerOpts{})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, examplePage) })
	mux.HandleFunc("GET /stomp.umd.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	page := site.URL + "/?broker=" + url.QueryEscape(b.STOMPWSURL())

	cdp := startChromium(t, chromium, page)
	waitDOM(t, cdp, "the page to subscribe", func(d pageState) bool { return d.Status == "subscribed" })

	pub := connectV3(t, v3Options(b.TCPURL(), clientID("sensor")))
	publishV3(t, pub, "sensors/room1/humidity", 1, false, []byte("55")) // not matched by the page
	publishV3(t, pub, "sensors/room1/temp", 1, false, []byte("21.5"))
	d := waitDOM(t, cdp, "the reading", func(d pageState) bool { return d.Reading != "-" })
	if d.Reading != "21.5" || d.Room != "room1" {
		t.Errorf("page shows room %q reading %q, want room1 21.5", d.Room, d.Reading)
	}
	if !strings.Contains(d.Log, "room1 21.5 (from mqtt)") || strings.Contains(d.Log, "55") {
		t.Errorf("page log %q, want one line for room1 21.5 from mqtt", d.Log)
	}
}

// pageState is what the test reads from the example page's DOM.
type pageState struct {
	Status, Room, Reading, Log string
}

const pageStateJS = `JSON.stringify({
  Status: document.getElementById('status')?.textContent ?? '',
  Room: document.getElementById('room')?.textContent ?? '',
  Reading: document.getElementById('reading')?.textContent ?? '',
  Log: document.getElementById('log')?.textContent ?? '',
})`

// waitDOM polls the page until done holds or browserTimeout passes.
func waitDOM(t *testing.T, c *cdpPage, what string, done func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(browserTimeout)
	var last pageState
	var lastErr error
	for time.Now().Before(deadline) {
		var s string
		if lastErr = c.eval(pageStateJS, &s); lastErr == nil {
			if lastErr = json.Unmarshal([]byte(s), &last); lastErr == nil && done(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var html string
	_ = c.eval("document.documentElement.outerHTML", &html)
	t.Fatalf("waiting for %s: page state %+v (err %v) after %v\n%s", what, last, lastErr, browserTimeout, html)
	return last
}

// cdpPage is a minimal Chrome DevTools Protocol client for one page
// target: enough to evaluate an expression and read its value.
type cdpPage struct {
	ws *websocket.Conn
	id int
}

// startChromium starts headless Chromium on pageURL with remote debugging
// on a free port and returns a client for the page. Cleanup ends Chromium
// and every process it started.
func startChromium(t *testing.T, chromium, pageURL string) *cdpPage {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still be writing while the
	// directory is removed, which must not fail the test.
	profile, err := os.MkdirTemp("", "rosetta-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		pageURL)
	setProcGroup(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	var log syncBuffer
	t.Cleanup(func() {
		killProcGroup(cmd)
		_ = cmd.Wait()
		_ = os.RemoveAll(profile)
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", log.String())
		}
	})

	// Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = log.Write(append(sc.Bytes(), '\n'))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(&log, stderr)
	}()
	var browserWS string
	select {
	case browserWS = <-found:
	case <-time.After(browserTimeout):
		t.Fatalf("chromium did not open its DevTools port within %v:\n%s", browserTimeout, log.String())
	}
	u, err := url.Parse(browserWS)
	if err != nil {
		t.Fatal(err)
	}

	// The page target opened with pageURL; it may take a moment to appear.
	var pageWS string
	deadline := time.Now().Add(browserTimeout)
	for pageWS == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no page target for %s in chromium (last error: %v)", pageURL, err)
		}
		pageWS, err = findPageTarget("http://"+u.Host+"/json/list", pageURL)
		if pageWS == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	d := websocket.Dialer{HandshakeTimeout: opTimeout}
	ws, _, err := d.Dial(pageWS, nil)
	if err != nil {
		t.Fatalf("devtools websocket %s: %v", pageWS, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &cdpPage{ws: ws}
}

// findPageTarget returns the DevTools WebSocket URL of the page whose URL
// starts with pageURL's origin, or "" when there is none yet.
func findPageTarget(listURL, pageURL string) (string, error) {
	client := http.Client{Timeout: opTimeout}
	resp, err := client.Get(listURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var targets []struct {
		Type, URL            string
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return "", err
	}
	origin := pageURL[:strings.Index(pageURL, "/?")]
	for _, tg := range targets {
		if tg.Type == "page" && strings.HasPrefix(tg.URL, origin) {
			return tg.WebSocketDebuggerURL, nil
		}
	}
	return "", nil
}

// eval runs Runtime.evaluate and stores the value (JSON) in out.
func (c *cdpPage) eval(expr string, out any) error {
	c.id++
	id := c.id
	req := map[string]any{"id": id, "method": "Runtime.evaluate",
		"params": map[string]any{"expression": expr, "returnByValue": true}}
	_ = c.ws.SetWriteDeadline(time.Now().Add(opTimeout))
	if err := c.ws.WriteJSON(req); err != nil {
		return err
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(opTimeout))
	for {
		var resp struct {
			ID     int `json:"id"`
			Result struct {
				Result           struct{ Value json.RawMessage }
				ExceptionDetails *struct{ Text string }
			}
			Error *struct{ Message string }
		}
		if err := c.ws.ReadJSON(&resp); err != nil {
			return err
		}
		if resp.ID != id {
			continue // an event, or the answer to an abandoned call
		}
		switch {
		case resp.Error != nil:
			return errors.New(resp.Error.Message)
		case resp.Result.ExceptionDetails != nil:
			return fmt.Errorf("exception: %s", resp.Result.ExceptionDetails.Text)
		}
		return json.Unmarshal(resp.Result.Result.Value, out)
	}
}
