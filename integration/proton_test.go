package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"

	goamqp "github.com/Azure/go-amqp"
)

// protonScript is the Qpid Proton client the test drives.
const protonScript = "testdata/amqp_proton_client.py"

// protonMessage is one message as the Proton script prints it.
type protonMessage struct {
	Body           string         `json:"body"`
	BodyType       string         `json:"body_type"`
	ContentType    string         `json:"content_type"`
	CorrelationID  string         `json:"correlation_id"`
	ReplyTo        string         `json:"reply_to"`
	Durable        bool           `json:"durable"`
	Properties     map[string]any `json:"properties"`
	Annotations    map[string]any `json:"annotations"`
	RequestReplyTo string         `json:"request_reply_to"`
}

// TestPythonProton drives Qpid Proton's Python binding (Debian
// python3-qpid-proton, a Container running a MessagingHandler) against the
// broker and cross-checks with go-amqp and MQTT 5: Proton sends durable
// amqp-value messages that a go-amqp receiver and an MQTT subscriber get;
// Proton receives what go-amqp sends; Proton makes a request with a
// dynamic reply queue that a go-amqp responder answers.
func TestPythonProton(t *testing.T) {
	py := requirePythonModule(t, "proton", "python3-qpid-proton")
	b := startBroker(t, brokerOpts{})
	url := b.AMQPURL()

	t.Run("proton sends, go-amqp and mqtt receive", func(t *testing.T) {
		const n = 3
		r := amqpReceiver(t, amqpSession(t, b), "/topics/py/in", &goamqp.ReceiverOptions{Credit: 10})
		mq := connectV5(t, b.MQTTAddr, nil)
		mq.subscribe(t, "py/in", 1)

		ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, protonScript, url, "send", "/topics/py/in", strconv.Itoa(n)).CombinedOutput()
		if err != nil {
			t.Fatalf("proton send: %v\n%s", err, out)
		}
		var res struct{ Accepted int }
		if err := json.Unmarshal(lastLine(out), &res); err != nil || res.Accepted != n {
			t.Fatalf("proton output %q (%v): want %d accepted", out, err, n)
		}
		for i := range n {
			m := recvAMQP(t, r, "message from proton")
			acceptAMQP(t, r, m)
			// Proton sends a string body as an amqp-value: forwarded as is.
			if m.Value != fmt.Sprintf("py-%d", i) {
				t.Errorf("message %d: amqp-value %#v, data %q", i, m.Value, m.GetData())
			}
			p := deref(m.Properties)
			for name, c := range map[string][2]any{
				"content-type":       {deref(p.ContentType), "text/plain"},
				"correlation-id":     {p.CorrelationID, fmt.Sprintf("py-c%d", i)},
				"subject":            {deref(p.Subject), "proton"},
				"seq":                {m.ApplicationProperties["seq"], int64(i)},
				"sender":             {m.ApplicationProperties["sender"], "proton"},
				"x-origin-protocol":  {m.Annotations["x-origin-protocol"], "amqp"},
				"x-origin-client-id": {m.Annotations["x-origin-client-id"], "proton-py-send"},
			} {
				if c[0] != c[1] {
					t.Errorf("message %d: %s = %#v, want %#v", i, name, c[0], c[1])
				}
			}
			if m.Header == nil || !m.Header.Durable {
				t.Errorf("message %d: header %+v, want durable", i, m.Header)
			}

			// The MQTT 5 subscriber gets the string as its payload.
			got := mq.In.nextFor(t, recvTimeout, "proton message over MQTT")
			if string(got.Payload) != fmt.Sprintf("py-%d", i) || got.QoS != 1 || got.Props == nil ||
				got.Props.ContentType != "text/plain" || string(got.Props.CorrelationData) != fmt.Sprintf("py-c%d", i) {
				t.Errorf("MQTT message %d: %v props %+v", i, got, got.Props)
			}
		}
	})

	t.Run("go-amqp sends, proton receives", func(t *testing.T) {
		const n = 3
		ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, protonScript, url, "recv", "/queues/py-out", strconv.Itoa(n))
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
			t.Fatalf("proton did not attach: %q %v\n%s", lines.Text(), lines.Err(), stderr.String())
		}
		snd := amqpSender(t, amqpSession(t, b), "/queues/py-out", nil)
		for i := range n {
			m := goamqp.NewMessage(fmt.Appendf(nil, "go-%d", i))
			m.Properties = &goamqp.MessageProperties{ContentType: strPtr("text/plain"), CorrelationID: fmt.Sprintf("g%d", i),
				ReplyTo: strPtr("/queues/go-replies")}
			m.ApplicationProperties = map[string]any{"n": int64(i), "from": "go-amqp"}
			sendAMQP(t, snd, m)
		}
		var raw []byte
		if lines.Scan() {
			raw = []byte(lines.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("proton recv: %v\n%s", err, stderr.String())
		}
		var got []protonMessage
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("proton output %q: %v", raw, err)
		}
		if len(got) != n {
			t.Fatalf("proton got %d messages, want %d: %+v", len(got), n, got)
		}
		for i, m := range got {
			if m.Body != fmt.Sprintf("go-%d", i) || m.BodyType != "bytes" || m.ContentType != "text/plain" ||
				m.CorrelationID != fmt.Sprintf("g%d", i) || m.ReplyTo != "/queues/go-replies" {
				t.Errorf("message %d: %+v", i, m)
			}
			if m.Properties["n"] != float64(i) || m.Properties["from"] != "go-amqp" {
				t.Errorf("message %d: application properties %v", i, m.Properties)
			}
		}
	})

	t.Run("proton request, go-amqp responder", func(t *testing.T) {
		service := amqpSession(t, b)
		requests := amqpReceiver(t, service, "/queues/py-svc", &goamqp.ReceiverOptions{Credit: 10})
		ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, protonScript, url, "request", "/queues/py-svc")
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		req := recvAMQP(t, requests, "proton's request")
		acceptAMQP(t, requests, req)
		p := deref(req.Properties)
		if req.Value != "ping" || p.CorrelationID != "py-req-1" || deref(p.ReplyTo) == "" ||
			req.ApplicationProperties["op"] != "echo" {
			t.Fatalf("request %#v %+v %v", req.Value, p, req.ApplicationProperties)
		}
		resp := goamqp.NewMessage([]byte("pong"))
		resp.Properties = &goamqp.MessageProperties{To: p.ReplyTo, CorrelationID: p.CorrelationID}
		sendAMQP(t, amqpSender(t, service, "", nil), resp)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("proton request: %v\n%s", err, stderr.String())
		}
		var got protonMessage
		if err := json.Unmarshal(lastLine([]byte(stdout.String())), &got); err != nil {
			t.Fatalf("proton output %q: %v", stdout.String(), err)
		}
		if got.Body != "pong" || got.CorrelationID != "py-req-1" || got.RequestReplyTo != deref(p.ReplyTo) {
			t.Errorf("reply %+v (request reply-to %q)", got, deref(p.ReplyTo))
		}
	})
}
