package stomp

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

func TestNegotiationRaw(t *testing.T) {
	b := newBroker(t, nil)
	for _, tc := range []struct {
		name    string
		cmd     string
		headers []string
		version string // "" means the 1.0 CONNECTED (no version header)
	}{
		{"1.0 without accept-version", "CONNECT", nil, ""},
		{"1.0 explicit", "CONNECT", []string{"accept-version:1.0"}, "1.0"},
		{"1.1", "CONNECT", []string{"accept-version:1.1", "host:x"}, "1.1"},
		{"highest common", "CONNECT", []string{"accept-version:1.0,1.1,1.2,2.0"}, "1.2"},
		{"unordered", "STOMP", []string{"accept-version:1.1,1.0"}, "1.1"},
		{"STOMP frame", "STOMP", []string{"accept-version:1.2", "host:x"}, "1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.raw(t)
			r.send(tc.cmd + "\n" + strings.Join(append(tc.headers, ""), "\n") + "\n\x00")
			f := r.read()
			if f.Command != frame.CONNECTED {
				t.Fatalf("got %s", f)
			}
			v, has := f.Get("version")
			if tc.version == "" {
				if has {
					t.Fatalf("1.0 CONNECTED with version %q", v)
				}
			} else if v != tc.version {
				t.Fatalf("version %q, want %q", v, tc.version)
			}
			if f.Value("session") == "" {
				t.Fatal("no session header")
			}
			if tc.version != "" && tc.version != "1.0" && f.Value("server") != DefaultServerName {
				t.Fatalf("server %q", f.Value("server"))
			}
		})
	}
	t.Run("no common version", func(t *testing.T) {
		r := b.raw(t)
		r.send("CONNECT\naccept-version:2.0,2.1\n\n\x00")
		f := r.expectError(msgVersion)
		if f.Value("version") != supportedVersions || !strings.Contains(string(f.Body), "1.0 1.1 1.2") {
			t.Fatalf("ERROR %s", f)
		}
	})
}

func TestNegotiationGoStomp(t *testing.T) {
	b := newBroker(t, nil)
	for _, v := range []stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			if c.Version() != v {
				t.Fatalf("version %s", c.Version())
			}
		})
	}
	t.Run("use STOMP command", func(t *testing.T) {
		c := b.dial(t, stomp.ConnOpt.UseStomp, stomp.ConnOpt.AcceptVersion(stomp.V12))
		if c.Version() != stomp.V12 {
			t.Fatalf("version %s", c.Version())
		}
	})
}

func TestSendReceiveTopic(t *testing.T) {
	b := newBroker(t, nil)
	for _, v := range []stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			sub := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			pub := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			s, err := sub.Subscribe("/topic/sensors/*/temp", stomp.AckAuto)
			if err != nil {
				t.Fatal(err)
			}
			barrier(t, sub)
			err = pub.Send("/topic/sensors/"+string(v)+"/temp", "text/plain", []byte("21.5"),
				stomp.SendOpt.Header("unit", "C"), stomp.SendOpt.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			m := recv(t, s)
			if string(m.Body) != "21.5" || m.ContentType != "text/plain" || m.Header.Get("unit") != "C" {
				t.Fatalf("message %q %q %v", m.Body, m.ContentType, m.Header)
			}
			if m.Destination != "/topic/sensors/"+string(v)+"/temp" {
				t.Fatalf("destination %q", m.Destination)
			}
			if m.Header.Get("x-origin-protocol") != "stomp" || m.Header.Get("message-id") == "" {
				t.Fatalf("headers %v", m.Header)
			}
			unsubscribe(t, s)
			eventually(t, "private queue deleted", func() bool { return len(b.x.Queues()) == 0 })
		})
	}
}

func TestQueueCompetingConsumers(t *testing.T) {
	b := newBroker(t, nil)
	pub := b.dial(t)
	// Sent before anyone subscribes: the queue is created and waits.
	for i := range 10 {
		if err := pub.Send("/queue/work", "", []byte(fmt.Sprint(i)), stomp.SendOpt.Receipt); err != nil {
			t.Fatal(err)
		}
	}
	c1, c2 := b.dial(t), b.dial(t)
	s1, err := c1.Subscribe("/queue/work", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("prefetch-count", "1"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c2.Subscribe("/amq/queue/work", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("prefetch-count", "1"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 100; i++ {
		if err := pub.Send("/queue/work", "", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	per := [2]int{}
	var wg sync.WaitGroup
	for k, pair := range []struct {
		c *stomp.Conn
		s *stomp.Subscription
	}{{c1, s1}, {c2, s2}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m := <-pair.s.C:
					if m.Err != nil {
						t.Error(m.Err)
						return
					}
					mu.Lock()
					got[string(m.Body)]++
					per[k]++
					mu.Unlock()
					if err := pair.c.Ack(m); err != nil {
						t.Error(err)
						return
					}
				case <-time.After(500 * time.Millisecond):
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(got) != 100 {
		t.Fatalf("got %d distinct messages, want 100", len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Fatalf("message %s delivered %d times", k, n)
		}
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("one consumer got everything: %v", per)
	}
}

func TestNackRedeliversToOtherConsumer(t *testing.T) {
	b := newBroker(t, nil)
	pub := b.dial(t)
	c1, c2 := b.dial(t), b.dial(t)
	// prefetch-count:1: while c1 holds the message it has no credit, so the
	// requeued message can only go to c2 (credit comes back after the NACK
	// is settled).
	s1, err := c1.Subscribe("/queue/jobs", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("prefetch-count", "1"))
	if err != nil {
		t.Fatal(err)
	}
	barrier(t, c1)
	if err := pub.Send("/queue/jobs", "", []byte("job"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	m := recv(t, s1)
	s2, err := c2.Subscribe("/queue/jobs", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "second consumer", func() bool { q, _ := b.x.Queue("jobs"); return q.Consumers == 2 })
	if err := c1.Nack(m); err != nil {
		t.Fatal(err)
	}
	// Round-robin: the requeued message goes to the other consumer.
	m2 := recv(t, s2)
	if string(m2.Body) != "job" || m2.Header.Get("redelivered") != "true" || m2.Header.Get("message-id") != m.Header.Get("message-id") {
		t.Fatalf("redelivery %q %v", m2.Body, m2.Header)
	}
	if err := c2.Ack(m2); err != nil {
		t.Fatal(err)
	}
	none(t, s1, 100*time.Millisecond)
	eventually(t, "acked", func() bool { q, _ := b.x.Queue("jobs"); return q.Ready == 0 && q.Unsettled == 0 })
}

func TestNackRequeueFalseDeadLetters(t *testing.T) {
	b := newBroker(t, nil)
	raw := b.raw(t)
	raw.connect("accept-version:1.2")
	raw.send("SUBSCRIBE\nid:0\ndestination:/queue/dlq-me\nack:client-individual\nreceipt:s\n\n\x00")
	if f := raw.read(); f.Command != frame.RECEIPT {
		t.Fatalf("got %s", f)
	}
	raw.send("SEND\ndestination:/queue/dlq-me\n\npoison\x00")
	m := raw.read()
	raw.send("NACK\nid:" + m.Value("ack") + "\nrequeue:false\nreceipt:n\n\n\x00")
	if f := raw.read(); f.Command != frame.RECEIPT {
		t.Fatalf("got %s", f)
	}
	eventually(t, "dead letter", func() bool { q, ok := b.x.Queue("$dlq"); return ok && q.Ready == 1 })
}

func TestClientAckIsCumulative(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t, stomp.ConnOpt.AcceptVersion(stomp.V11)) // message-id + subscription form
	s, err := c.Subscribe("/queue/cum", stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := c.Send("/queue/cum", "", []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	var last *stomp.Message
	for range 5 {
		last = recv(t, s)
	}
	if err := c.Ack(last); err != nil {
		t.Fatal(err)
	}
	eventually(t, "all acked", func() bool { q, _ := b.x.Queue("cum"); return q.Unsettled == 0 && q.Acked == 5 })
}

func TestTransactions(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t)
	s, err := c.Subscribe("/queue/tx", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("abort delivers nothing", func(t *testing.T) {
		tx := c.Begin()
		if err := tx.Send("/queue/tx", "", []byte("aborted")); err != nil {
			t.Fatal(err)
		}
		if err := tx.AbortWithReceipt(); err != nil {
			t.Fatal(err)
		}
		none(t, s, 200*time.Millisecond)
	})
	t.Run("commit delivers in order", func(t *testing.T) {
		tx := c.Begin()
		for _, body := range []string{"a", "b"} {
			if err := tx.Send("/queue/tx", "", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		none(t, s, 100*time.Millisecond)
		if err := tx.CommitWithReceipt(); err != nil {
			t.Fatal(err)
		}
		if m := recv(t, s); string(m.Body) != "a" {
			t.Fatalf("got %q", m.Body)
		}
		m := recv(t, s)
		if string(m.Body) != "b" {
			t.Fatalf("got %q", m.Body)
		}
		// ACK inside a transaction applies at COMMIT only.
		tx2 := c.Begin()
		if err := tx2.Ack(m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if q, _ := b.x.Queue("tx"); q.Unsettled != 2 {
			t.Fatalf("unsettled %d before commit", q.Unsettled)
		}
		if err := tx2.CommitWithReceipt(); err != nil {
			t.Fatal(err)
		}
		if q, _ := b.x.Queue("tx"); q.Unsettled != 1 {
			t.Fatalf("unsettled %d after commit", q.Unsettled)
		}
	})
}

func TestTransactionOpenAtDisconnectIsAborted(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t)
	s, err := c.Subscribe("/queue/open-tx", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	barrier(t, c)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	r.send("BEGIN\ntransaction:t1\n\n\x00SEND\ndestination:/queue/open-tx\ntransaction:t1\n\nlost\x00DISCONNECT\nreceipt:bye\n\n\x00")
	if f := r.read(); f.Command != frame.RECEIPT || f.Value(hReceiptID) != "bye" {
		t.Fatalf("got %s", f)
	}
	r.expectClosed()
	none(t, s, 200*time.Millisecond)
}

func TestReceipts(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	for i, f := range []string{
		"SUBSCRIBE\nid:s\ndestination:/topic/r\nreceipt:1\n\n\x00",
		"SEND\ndestination:/topic/r\nreceipt:2\n\nx\x00",
	} {
		r.send(f)
		_ = i
	}
	var got []string
	for len(got) < 2 {
		f := r.read()
		switch f.Command {
		case frame.RECEIPT:
			got = append(got, f.Value(hReceiptID))
		case frame.MESSAGE:
		default:
			t.Fatalf("got %s", f)
		}
	}
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("receipts %v", got)
	}
	r.send("UNSUBSCRIBE\nid:s\nreceipt:3\n\n\x00BEGIN\ntransaction:t\nreceipt:4\n\n\x00COMMIT\ntransaction:t\nreceipt:5\n\n\x00DISCONNECT\nreceipt:6\n\n\x00")
	for _, want := range []string{"3", "4", "5", "6"} {
		f := r.read()
		if f.Command == frame.MESSAGE {
			f = r.read()
		}
		if f.Command != frame.RECEIPT || f.Value(hReceiptID) != want {
			t.Fatalf("got %s, want RECEIPT %s", f, want)
		}
	}
	r.expectClosed()
}

func TestHeartBeats(t *testing.T) {
	b := newBroker(t, nil)
	t.Run("none asked, none stated", func(t *testing.T) {
		// A client that wants no heart-beats must read "0,0": go-stomp
		// 3.1 otherwise times out an idle connection.
		for _, hb := range []string{"heart-beat:0,0", ""} {
			r := b.raw(t)
			hdrs := []string{"accept-version:1.2"}
			if hb != "" {
				hdrs = append(hdrs, hb)
			}
			if got := r.connect(hdrs...).Value("heart-beat"); got != "0,0" {
				t.Fatalf("%q: CONNECTED heart-beat %q, want 0,0", hb, got)
			}
		}
	})
	t.Run("negotiated interval", func(t *testing.T) {
		r := b.raw(t)
		f := r.connect("accept-version:1.2", "heart-beat:0,150")
		// CONNECTED states the negotiated intervals: the server sends
		// every 150 ms and expects nothing.
		if hb := f.Value("heart-beat"); hb != "150,0" {
			t.Fatalf("CONNECTED heart-beat %q", hb)
		}
		// The client asked for one every 150 ms: expect several EOLs within
		// a second and nothing else.
		_ = r.nc.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		n, eols := 0, 0
		start := time.Now()
		for time.Since(start) < 700*time.Millisecond {
			k, err := r.nc.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			n += k
			eols += bytes.Count(buf[:k], []byte{'\n'})
		}
		if n != eols || eols < 3 || eols > 7 {
			t.Fatalf("%d bytes, %d EOLs in %v", n, eols, time.Since(start))
		}
	})
	t.Run("silent client is closed", func(t *testing.T) {
		r := b.raw(t)
		r.connect("accept-version:1.2", "heart-beat:100,0")
		start := time.Now()
		r.expectClosed()
		if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
			t.Fatalf("closed after %v, want about 200ms", d)
		}
	})
	t.Run("client heart-beats keep it open", func(t *testing.T) {
		r := b.raw(t)
		r.connect("accept-version:1.2", "heart-beat:100,0")
		for range 6 {
			time.Sleep(80 * time.Millisecond)
			r.send("\n")
		}
		r.send("DISCONNECT\nreceipt:d\n\n\x00")
		if f := r.read(); f.Command != frame.RECEIPT {
			t.Fatalf("got %s", f)
		}
	})
	t.Run("go-stomp", func(t *testing.T) {
		c := b.dial(t, stomp.ConnOpt.HeartBeat(200*time.Millisecond, 200*time.Millisecond),
			stomp.ConnOpt.HeartBeatError(100*time.Millisecond))
		time.Sleep(600 * time.Millisecond)
		if err := c.Send("/topic/hb", "", nil, stomp.SendOpt.Receipt); err != nil {
			t.Fatalf("connection did not survive heart-beating: %v", err)
		}
	})
}

func TestHeaderEscapingRoundTrip(t *testing.T) {
	b := newBroker(t, nil)
	value := "a:b\nc\\d\re"
	for _, v := range []stomp.Version{stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			s, err := c.Subscribe("/topic/esc", stomp.AckAuto)
			if err != nil {
				t.Fatal(err)
			}
			barrier(t, c)
			want := value
			if v == stomp.V11 {
				want = strings.ReplaceAll(value, "\r", "") // 1.1 has no \r escape
			}
			if err := c.Send("/topic/esc", "", nil, stomp.SendOpt.Header("k:ey", want)); err != nil {
				t.Fatal(err)
			}
			m := recv(t, s)
			if got := m.Header.Get("k:ey"); got != want {
				t.Fatalf("header %q, want %q", got, want)
			}
			unsubscribe(t, s)
			eventually(t, "unsubscribed", func() bool { return len(b.x.Queues()) == 0 })
		})
	}
}

func TestBinaryBody(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t)
	s, err := c.Subscribe("/queue/bin", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte{0, 1, 0, 0, 255, '\n', 0, 'x', 0}
	if err := c.Send("/queue/bin", "application/octet-stream", body); err != nil {
		t.Fatal(err)
	}
	m := recv(t, s)
	if !bytes.Equal(m.Body, body) {
		t.Fatalf("body %q", m.Body)
	}
	if m.Header.Get("content-length") != fmt.Sprint(len(body)) {
		t.Fatalf("content-length %q", m.Header.Get("content-length"))
	}
}

func TestDurableSubscription(t *testing.T) {
	b := newBroker(t, nil)
	opts := []func(*stomp.Conn) error{stomp.ConnOpt.Header("client-id", "app-1")}
	c := b.dial(t, opts...)
	s, err := c.Subscribe("/topic/orders/#", stomp.AckClientIndividual,
		stomp.SubscribeOpt.Id("orders"), stomp.SubscribeOpt.Header("durable", "true"))
	if err != nil {
		t.Fatal(err)
	}
	barrier(t, c)
	pub := b.dial(t)
	if err := pub.Send("/topic/orders/1", "", []byte("first"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	m := recv(t, s)
	if err := c.Ack(m); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	// While away.
	for _, body := range []string{"second", "third"} {
		if err := pub.Send("/topic/orders/2", "", []byte(body), stomp.SendOpt.Receipt, stomp.SendOpt.Header("persistent", "true")); err != nil {
			t.Fatal(err)
		}
	}
	c2 := b.dial(t, opts...)
	s2, err := c2.Subscribe("/topic/orders/#", stomp.AckClientIndividual,
		stomp.SubscribeOpt.Id("orders"), stomp.SubscribeOpt.Header("durable", "true"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"second", "third"} {
		m := recv(t, s2)
		if string(m.Body) != want || m.Destination != "/topic/orders/2" || m.Header.Get("persistent") != "true" {
			t.Fatalf("got %q on %s %v", m.Body, m.Destination, m.Header)
		}
		if err := c2.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	// UNSUBSCRIBE with durable:true ends it.
	if err := s2.Unsubscribe(stomp.SubscribeOpt.Header("durable", "true")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "durable queue deleted", func() bool { _, ok := b.x.Queue("stomp/durable/app-1/orders"); return !ok })
}

func TestRequestReplyTempQueue(t *testing.T) {
	b := newBroker(t, nil)
	service := b.dial(t)
	reqs, err := service.Subscribe("/queue/rpc", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	client := b.dial(t)
	replies, err := client.Subscribe("/temp-queue/replies", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Send("/queue/rpc", "", []byte("ping"), stomp.SendOpt.Header("reply-to", "/temp-queue/replies"),
		stomp.SendOpt.Header("correlation-id", "42")); err != nil {
		t.Fatal(err)
	}
	req := recv(t, reqs)
	replyTo := req.Header.Get("reply-to")
	if !strings.HasPrefix(replyTo, "/queue/$tmp/stomp/"+client.Session()+"/") {
		t.Fatalf("reply-to %q (session %s)", replyTo, client.Session())
	}
	if err := service.Send(replyTo, "", []byte("pong"), stomp.SendOpt.Header("correlation-id", req.Header.Get("correlation-id"))); err != nil {
		t.Fatal(err)
	}
	rep := recv(t, replies)
	if string(rep.Body) != "pong" || rep.Destination != "/temp-queue/replies" || rep.Header.Get("correlation-id") != "42" {
		t.Fatalf("reply %q on %s %v", rep.Body, rep.Destination, rep.Header)
	}
	// Someone else's temporary queue cannot be consumed.
	r := b.raw(t)
	r.connect("accept-version:1.2")
	r.send("SUBSCRIBE\nid:1\ndestination:" + replyTo + "\n\n\x00")
	r.expectError(msgDenied)
	// The queue goes with its owner.
	if err := client.Disconnect(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "temporary queue deleted", func() bool {
		for _, q := range b.x.Queues() {
			if strings.HasPrefix(q.Name, "$tmp/") {
				return false
			}
		}
		return true
	})
}

func TestPrefetchBoundsUnacked(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t)
	s, err := c.Subscribe("/queue/pf", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("prefetch-count", "3"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := c.Send("/queue/pf", "", []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []*stomp.Message
	for range 3 {
		got = append(got, recv(t, s))
	}
	none(t, s, 200*time.Millisecond)
	if q, _ := b.x.Queue("pf"); q.Unsettled != 3 || q.Ready != 7 {
		t.Fatalf("unsettled %d ready %d", q.Unsettled, q.Ready)
	}
	if err := c.Ack(got[0]); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s); string(m.Body) != "3" {
		t.Fatalf("got %q", m.Body)
	}
	none(t, s, 100*time.Millisecond)
}

func TestRetainedOnSubscribe(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t)
	if err := c.Send("/topic/status/dev1", "", []byte("online"), stomp.SendOpt.Header("x-retained", "true"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	s, err := c.Subscribe("/topic/status/+", stomp.AckAuto, stomp.SubscribeOpt.Header("x-retained", "true"))
	if err != nil {
		t.Fatal(err)
	}
	m := recv(t, s)
	if string(m.Body) != "online" || m.Header.Get("x-retained") != "true" || m.Destination != "/topic/status/dev1" {
		t.Fatalf("got %q %s %v", m.Body, m.Destination, m.Header)
	}
	if err := c.Send("/topic/status/dev1", "", []byte("offline")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s); string(m.Body) != "offline" || m.Header.Get("x-retained") != "" {
		t.Fatalf("live message %q %v", m.Body, m.Header)
	}
}

func TestAuthentication(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.Auth = allowAll{password: "secret"} })
	if _, err := stomp.Dial("tcp", b.addr, stomp.ConnOpt.Login("u", "wrong")); err == nil {
		t.Fatal("connected with a wrong password")
	}
	c := b.dial(t, stomp.ConnOpt.Login("u", "secret"))
	if c.Session() == "" {
		t.Fatal("no session")
	}
	r := b.raw(t)
	r.send("CONNECT\naccept-version:1.2\nlogin:u\npasscode:nope\nreceipt:c\n\n\x00")
	r.expectError(msgAuth)
}

func TestAuthorization(t *testing.T) {
	b := newBroker(t, func(c *Config) {
		c.Auth = allowAll{deny: func(a auth.Action, p address.Pattern) bool { return len(p) > 0 && p[0] == "secret" }}
	})
	for _, tc := range []struct{ name, frame string }{
		{"send", "SEND\ndestination:/topic/secret/x\nreceipt:r\n\nhi\x00"},
		{"subscribe", "SUBSCRIBE\nid:1\ndestination:/topic/secret/#\nreceipt:r\n\n\x00"},
		{"subscribe queue", "SUBSCRIBE\nid:1\ndestination:/queue/secret\n\n\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.raw(t)
			r.connect("accept-version:1.2")
			r.send(tc.frame)
			f := r.expectError(msgDenied)
			if strings.Contains(tc.frame, "receipt:r") && f.Value(hReceiptID) != "r" {
				t.Fatalf("ERROR without receipt-id: %s", f)
			}
		})
	}
	c := b.dial(t)
	if err := c.Send("/topic/public", "", nil, stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
}

// TestSTOMP10Session drives a 1.0 session on a raw socket: no
// accept-version, SUBSCRIBE without id, padded values, ACK by message-id
// only, UNSUBSCRIBE by destination, no NACK.
func TestSTOMP10Session(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.p.SetVersion(frame.V10)
	f := r.connect("login: guest")
	if _, ok := f.Get("heart-beat"); ok {
		t.Fatalf("1.0 CONNECTED with heart-beat: %s", f)
	}
	r.send("SUBSCRIBE\ndestination: /queue/old\nack: client\n\n\x00")
	r.send("SEND\ndestination:/queue/old\nreceipt: r1\n\nhello\x00")
	var m *frame.Frame
	for m == nil || m.Command != frame.MESSAGE {
		m = r.read()
	}
	if _, ok := m.Get(hSubscription); ok || m.Value(hAck) != "" || string(m.Body) != "hello" {
		t.Fatalf("1.0 MESSAGE %s", m)
	}
	r.send("ACK\nmessage-id:" + m.Value(hMessageID) + "\nreceipt:a\n\n\x00")
	for f := r.read(); f.Value(hReceiptID) != "a"; f = r.read() {
	}
	if q, _ := b.x.Queue("old"); q.Acked != 1 {
		t.Fatalf("acked %d", q.Acked)
	}
	r.send("UNSUBSCRIBE\ndestination:/queue/old\nreceipt:u\n\n\x00")
	if f := r.read(); f.Value(hReceiptID) != "u" {
		t.Fatalf("got %s", f)
	}
	r.send("NACK\nmessage-id:x\n\n\x00")
	r.expectError(msgUnknownCommand)
}
