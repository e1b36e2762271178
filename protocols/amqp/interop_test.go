package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func TestSASL(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.Auth = allowAll{password: "secret", noAnonymous: true} })
	t.Run("plain", func(t *testing.T) {
		c := b.dial(t, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("alice", "secret")})
		s, err := c.NewSession(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		snd := sender(t, s, "/queues/sasl", nil)
		send(t, snd, goamqp.NewMessage([]byte("x")))
		m := recv(t, receiver(t, s, "/queues/sasl", nil))
		if v := m.Annotations["x-origin-user"]; v != "alice" {
			t.Errorf("x-origin-user = %v", v)
		}
		if m.Properties == nil || string(m.Properties.UserID) != "" {
			// The bare message is forwarded as sent: no user-id was set.
			t.Logf("properties %+v", m.Properties)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := goamqp.Dial(ctxT(t), "amqp://"+b.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("alice", "nope")})
		if err == nil || !strings.Contains(err.Error(), "auth") {
			t.Fatalf("dial with a wrong password: %v", err)
		}
	})
	t.Run("anonymous refused", func(t *testing.T) {
		_, err := goamqp.Dial(ctxT(t), "amqp://"+b.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
		if err == nil {
			t.Fatal("anonymous accepted")
		}
	})
	if n := b.srv.Stats().AuthFailures; n < 2 {
		t.Errorf("AuthFailures = %d", n)
	}
}

func TestSASLAnonymous(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	send(t, sender(t, s, "q", nil), goamqp.NewMessage([]byte("anon")))
	if got := recv(t, receiver(t, s, "q", nil)).GetData(); string(got) != "anon" {
		t.Fatalf("got %q", got)
	}
}

func TestSettleModes(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	settled := goamqp.SenderSettleModeSettled
	snd := sender(t, s, "/queues/modes", &goamqp.SenderOptions{SettlementMode: &settled})
	for i := range 5 {
		send(t, snd, goamqp.NewMessage(fmt.Appendf(nil, "%d", i)))
	}
	// A pre-settled receiver (at most once).
	r := receiver(t, s, "/queues/modes", &goamqp.ReceiverOptions{Credit: 2, RequestedSenderSettleMode: &settled})
	for i := range 5 {
		m := recv(t, r)
		if string(m.GetData()) != fmt.Sprint(i) {
			t.Fatalf("got %q want %d", m.GetData(), i)
		}
	}
	eventually(t, "queue empty", func() bool {
		q, _ := b.x.Queue("modes")
		return q.Ready == 0 && q.Unsettled == 0
	})
	// rcv-settle-mode second on both sides.
	second := goamqp.ReceiverSettleModeSecond
	snd2 := sender(t, s, "/queues/second", &goamqp.SenderOptions{RequestedReceiverSettleMode: &second})
	send(t, snd2, goamqp.NewMessage([]byte("twice")))
	r2 := receiver(t, s, "/queues/second", &goamqp.ReceiverOptions{SettlementMode: &second})
	m := recv(t, r2)
	if err := r2.AcceptMessage(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second settled", func() bool {
		q, _ := b.x.Queue("second")
		return q.Ready == 0 && q.Unsettled == 0 && q.Acked == 1
	})
}

// gateStore is an exchange.Store whose message puts wait until released,
// to show that the accepted disposition waits for the commit.
type gateStore struct {
	mu      sync.Mutex
	release chan struct{}
	puts    int
}

func (g *gateStore) Commit(ctx context.Context, b *exchange.Batch) error {
	for _, op := range b.Ops {
		if op.Kind == exchange.OpPutMessage {
			g.mu.Lock()
			g.puts++
			ch := g.release
			g.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}
func (g *gateStore) Recover(context.Context, exchange.Recovery) error { return nil }
func (g *gateStore) Close() error                                     { return nil }

func TestAcceptedAfterStoreCommit(t *testing.T) {
	st := &gateStore{release: make(chan struct{})}
	b := newBrokerX(t, exchange.Config{Store: st, DefaultQueue: exchange.QueueConfig{Durable: true}}, nil)
	s := b.session(t)
	snd := sender(t, s, "/queues/durable", nil)
	m := goamqp.NewMessage([]byte("persist me"))
	m.Header = &goamqp.MessageHeader{Durable: true}
	receipt, err := snd.SendWithReceipt(ctxT(t), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = receipt.Wait(ctx)
	cancel()
	if err == nil {
		t.Fatal("accepted before the store committed")
	}
	close(st.release)
	st2, err := receipt.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st2.(*goamqp.StateAccepted); !ok {
		t.Fatalf("state %T", st2)
	}
}

func TestRejectedPublish(t *testing.T) {
	b := newBrokerX(t, exchange.Config{DefaultQueue: exchange.QueueConfig{MaxLength: 1, Overflow: exchange.RejectPublish}},
		func(c *Config) {
			c.Auth = allowAll{deny: func(a auth.Action, p address.Pattern) bool { return a == auth.Publish && p[0] == "secret" }}
		})
	s := b.session(t)
	snd := sender(t, s, "/queues/full", nil)
	send(t, snd, goamqp.NewMessage([]byte("1")))
	err := snd.Send(ctxT(t), goamqp.NewMessage([]byte("2")), nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondResourceLimitExceeded {
		t.Fatalf("send to a full queue: %v", err)
	}
	// Refused at attach: not authorized.
	_, err = s.NewSender(ctxT(t), "/topics/secret/x", nil)
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("attach to a forbidden address: %v", err)
	}
	// The session still works.
	send(t, sender(t, s, "/topics/open", nil), goamqp.NewMessage([]byte("ok")))
}

func TestNotFoundWithoutAutoCreate(t *testing.T) {
	b := newBrokerX(t, exchange.Config{DisableAutoCreate: true}, nil)
	s := b.session(t)
	var ae *goamqp.Error
	_, err := s.NewReceiver(ctxT(t), "/queues/missing", nil)
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotFound {
		t.Fatalf("receiver on a missing queue: %v", err)
	}
	snd := sender(t, s, "/queues/missing", nil)
	err = snd.Send(ctxT(t), goamqp.NewMessage([]byte("x")), nil)
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotFound {
		t.Fatalf("send to a missing queue: %v", err)
	}
}

func TestCreditAndDrain(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	snd := sender(t, s, "/queues/credit", nil)
	for i := range 5 {
		send(t, snd, goamqp.NewMessage(fmt.Appendf(nil, "%d", i)))
	}
	r := receiver(t, s, "/queues/credit", &goamqp.ReceiverOptions{Credit: -1})
	noMessage(t, r)
	if err := r.IssueCredit(2); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		m := recv(t, r)
		if string(m.GetData()) != fmt.Sprint(i) {
			t.Fatalf("got %q", m.GetData())
		}
		_ = r.AcceptMessage(ctxT(t), m)
	}
	noMessage(t, r)
	if q, _ := b.x.Queue("credit"); q.Ready != 3 {
		t.Fatalf("ready %d, want 3", q.Ready)
	}
	// More credit: the three left arrive; then a drain uses up the rest,
	// so a message sent afterwards waits.
	if err := r.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = r.AcceptMessage(ctxT(t), recv(t, r))
	}
	if err := r.DrainCredit(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	send(t, snd, goamqp.NewMessage([]byte("late")))
	noMessage(t, r)
	// Drain with nothing queued returns at once, credit or none.
	if err := r.DrainCredit(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if err := r.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, r); string(got.GetData()) != "late" {
		t.Fatalf("got %q", got.GetData())
	}
}

func TestOutcomes(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	snd := sender(t, s, "/queues/out", nil)
	r := receiver(t, s, "/queues/out", &goamqp.ReceiverOptions{Credit: 1})

	send(t, snd, goamqp.NewMessage([]byte("release")))
	m := recv(t, r)
	if m.Header == nil || !m.Header.FirstAcquirer {
		t.Fatalf("first delivery: header %+v, want first-acquirer true", m.Header)
	}
	if err := r.ReleaseMessage(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	m = recv(t, r)
	// Released: not a failed attempt (§3.4.4), but no longer a first
	// acquisition (§3.2.1).
	if string(m.GetData()) != "release" || m.Header != nil && (m.Header.DeliveryCount != 0 || m.Header.FirstAcquirer) {
		t.Fatalf("after release: %q %+v", m.GetData(), m.Header)
	}
	if err := r.ModifyMessage(ctxT(t), m, &goamqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	m = recv(t, r)
	if m.Header == nil || m.Header.DeliveryCount != 1 {
		t.Fatalf("after modify: header %+v", m.Header)
	}
	if err := r.RejectMessage(ctxT(t), m, &goamqp.Error{Condition: "app:bad", Description: "no"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dead letter", func() bool {
		q, ok := b.x.Queue(exchange.DefaultDeadLetter)
		return ok && q.Ready == 1
	})
	send(t, snd, goamqp.NewMessage([]byte("accept")))
	m = recv(t, r)
	if err := r.AcceptMessage(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "accepted", func() bool {
		q, _ := b.x.Queue("out")
		return q.Ready == 0 && q.Unsettled == 0
	})
	// Modified with undeliverable-here: this link does not get it again.
	send(t, snd, goamqp.NewMessage([]byte("elsewhere")))
	m = recv(t, r)
	if err := r.ModifyMessage(ctxT(t), m, &goamqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true}); err != nil {
		t.Fatal(err)
	}
	noMessage(t, r)
	r2 := receiver(t, s, "/queues/out", nil)
	if got := recv(t, r2).GetData(); string(got) != "elsewhere" {
		t.Fatalf("other receiver got %q", got)
	}
}

func TestSelectorFilter(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	r := receiver(t, s, "/topics/sel/#", &goamqp.ReceiverOptions{Credit: 10,
		Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = 'blue' AND weight > 2500")}})
	if v := r.LinkSourceFilterValue("apache.org:selector-filter:string"); v != "color = 'blue' AND weight > 2500" {
		t.Fatalf("filter echoed as %v", v)
	}
	snd := sender(t, s, "/topics/sel/a", nil)
	for _, c := range []struct {
		color  string
		weight int64
	}{{"red", 3000}, {"blue", 2000}, {"blue", 3000}} {
		m := goamqp.NewMessage([]byte(c.color + fmt.Sprint(c.weight)))
		m.ApplicationProperties = map[string]any{"color": c.color, "weight": c.weight}
		send(t, snd, m)
	}
	if got := recv(t, r).GetData(); string(got) != "blue3000" {
		t.Fatalf("got %q", got)
	}
	noMessage(t, r)
	// A bad selector refuses the link.
	_, err := s.NewReceiver(ctxT(t), "/queues/x", &goamqp.ReceiverOptions{
		Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = ")}})
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInvalidField {
		t.Fatalf("bad selector: %v", err)
	}
}

func TestDynamicReplyQueue(t *testing.T) {
	b := newBroker(t, nil)
	client := b.session(t)
	service := b.session(t)
	replies, err := client.NewReceiver(ctxT(t), "", &goamqp.ReceiverOptions{DynamicAddress: true, Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	addr := replies.Address()
	if !strings.HasPrefix(addr, "/queues/$tmp/amqp/") {
		t.Fatalf("dynamic address %q", addr)
	}
	requests := receiver(t, service, "/queues/requests", nil)
	req := goamqp.NewMessage([]byte("ping"))
	req.Properties = &goamqp.MessageProperties{ReplyTo: &addr, CorrelationID: uint64(42)}
	send(t, sender(t, client, "/queues/requests", nil), req)

	got := recv(t, requests)
	_ = requests.AcceptMessage(ctxT(t), got)
	if got.Properties == nil || got.Properties.ReplyTo == nil || *got.Properties.ReplyTo != addr {
		t.Fatalf("request properties %+v", got.Properties)
	}
	resp := goamqp.NewMessage([]byte("pong"))
	resp.Properties = &goamqp.MessageProperties{To: got.Properties.ReplyTo, CorrelationID: got.Properties.CorrelationID}
	relay := sender(t, service, "", nil) // anonymous relay
	send(t, relay, resp)

	m := recv(t, replies)
	if string(m.GetData()) != "pong" || m.Properties.CorrelationID != uint64(42) {
		t.Fatalf("reply %q %+v", m.GetData(), m.Properties)
	}
	// Another connection cannot consume the temporary queue.
	_, err = service.NewReceiver(ctxT(t), addr, nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("foreign receiver on a temporary queue: %v", err)
	}
	name := strings.TrimPrefix(addr, "/queues/")
	if err := replies.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "temporary queue deleted", func() bool { _, ok := b.x.Queue(name); return !ok })
}

func TestCompetingReceivers(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	r1 := receiver(t, s, "/queues/work", &goamqp.ReceiverOptions{Credit: 100})
	r2 := receiver(t, b.session(t), "/queues/work", &goamqp.ReceiverOptions{Credit: 100})
	snd := sender(t, s, "/queues/work", nil)
	const n = 20
	for i := range n {
		send(t, snd, goamqp.NewMessage(fmt.Appendf(nil, "%d", i)))
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	count := [2]int{}
	var wg sync.WaitGroup
	for i, r := range []*goamqp.Receiver{r1, r2} {
		wg.Go(func() {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				m, err := r.Receive(ctx, nil)
				cancel()
				if err != nil {
					return
				}
				_ = r.AcceptMessage(context.Background(), m)
				mu.Lock()
				seen[string(m.GetData())] = true
				count[i]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n || count[0] == 0 || count[1] == 0 || count[0]+count[1] != n {
		t.Fatalf("seen %d distinct, split %v", len(seen), count)
	}
}

func TestTopicFanOut(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	r1 := receiver(t, s, "/topics/devices/+/temp", nil)
	r2 := receiver(t, s, "/topics/devices/#", nil)
	r3 := receiver(t, s, "/exchanges/amq.topic/devices.*.temp", nil)
	r4 := receiver(t, s, "devices/42/temp", &goamqp.ReceiverOptions{SourceCapabilities: []string{"topic"}})
	send(t, sender(t, s, "/topics/devices/42/temp", nil), goamqp.NewMessage([]byte("21.5")))
	for i, r := range []*goamqp.Receiver{r1, r2, r3, r4} {
		m := recv(t, r)
		if string(m.GetData()) != "21.5" {
			t.Fatalf("receiver %d got %q", i, m.GetData())
		}
		_ = r.AcceptMessage(ctxT(t), m) // go-amqp gives credit back on settlement
	}
	// RabbitMQ's form as a target: dots are levels.
	send(t, sender(t, s, "/exchanges/amq.topic/devices.7.temp", nil), goamqp.NewMessage([]byte("7")))
	if got := recv(t, r1); string(got.GetData()) != "7" {
		t.Fatalf("got %q", got.GetData())
	} else {
		_ = r1.AcceptMessage(ctxT(t), got)
	}
	// /exchanges/amq.topic without a key: the subject is the routing key.
	subj := "devices.9.temp"
	bySubject := goamqp.NewMessage([]byte("9"))
	bySubject.Properties = &goamqp.MessageProperties{Subject: &subj}
	send(t, sender(t, s, "/exchanges/amq.topic", nil), bySubject)
	if got := recv(t, r1); string(got.GetData()) != "9" {
		t.Fatalf("got %q", got.GetData())
	} else {
		_ = r1.AcceptMessage(ctxT(t), got)
	}
	// A percent-encoded "/" inside a level is one level.
	r5 := receiver(t, s, "/topics/a%2Fb/+", nil)
	send(t, sender(t, s, "/topics/a%2Fb/c", nil), goamqp.NewMessage([]byte("slash")))
	if got := recv(t, r5).GetData(); string(got) != "slash" {
		t.Fatalf("got %q", got)
	}
	noMessage(t, r1)
}

func TestDurableSubscription(t *testing.T) {
	b := newBroker(t, nil)
	opts := &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), ContainerID: "app-1"}
	ropts := &goamqp.ReceiverOptions{Name: "sub-1", SourceDurability: goamqp.DurabilityUnsettledState,
		SourceExpiryPolicy: goamqp.ExpiryPolicyNever, Credit: 10}
	c1, err := goamqp.Dial(ctxT(t), "amqp://"+b.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := c1.NewSession(ctxT(t), nil)
	r := receiver(t, s1, "/topics/news/#", ropts)
	pub := b.session(t)
	snd := sender(t, pub, "/topics/news/today", nil)
	send(t, snd, goamqp.NewMessage([]byte("one")))
	m := recv(t, r)
	_ = r.AcceptMessage(ctxT(t), m)
	// The connection goes away without detaching: the subscription stays.
	_ = c1.Close()
	queue := durablePrefix + "app-1:sub-1"
	eventually(t, "consumer gone", func() bool { q, ok := b.x.Queue(queue); return ok && q.Consumers == 0 })
	send(t, snd, goamqp.NewMessage([]byte("two")))
	if q, _ := b.x.Queue(queue); q.Ready != 1 {
		t.Fatalf("durable queue ready %d", q.Ready)
	}
	c2 := b.dial(t, opts)
	s2, _ := c2.NewSession(ctxT(t), nil)
	r2 := receiver(t, s2, "/topics/news/#", ropts)
	if got := recv(t, r2); string(got.GetData()) != "two" {
		t.Fatalf("got %q", got.GetData())
	} else {
		_ = r2.AcceptMessage(ctxT(t), got)
	}
	// A closing detach ends the subscription.
	if err := r2.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "durable queue deleted", func() bool { _, ok := b.x.Queue(queue); return !ok })
}

func TestRetainedOnAttach(t *testing.T) {
	b := newBroker(t, nil)
	m := &message.Message{Address: address.MustParseMQTT("status/door"), Body: []byte("open"),
		Annotations: message.Annotations{Retain: true, Origin: message.Origin{Protocol: message.ProtocolMQTT}}}
	if _, err := b.x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	s := b.session(t)
	r := receiver(t, s, "/topics/status/+", &goamqp.ReceiverOptions{Properties: map[string]any{"x-retained": true}})
	got := recv(t, r)
	if string(got.GetData()) != "open" || got.Annotations["x-retained"] != true {
		t.Fatalf("retained delivery %q %v", got.GetData(), got.Annotations)
	}
	noRetained := receiver(t, s, "/topics/status/+", nil)
	noMessage(t, noRetained)
	// An AMQP publisher retains with the x-retain annotation.
	keep := goamqp.NewMessage([]byte("closed"))
	keep.Annotations = goamqp.Annotations{"x-retain": true}
	send(t, sender(t, s, "/topics/status/door", nil), keep)
	if got := recv(t, noRetained); string(got.GetData()) != "closed" {
		t.Fatalf("live delivery %q", got.GetData())
	}
	later := receiver(t, s, "/topics/status/#", &goamqp.ReceiverOptions{Properties: map[string]any{"x-retained": true}})
	if got := recv(t, later); string(got.GetData()) != "closed" {
		t.Fatalf("retained value %q", got.GetData())
	}
}

func TestAnonymousRelay(t *testing.T) {
	b := newBroker(t, func(c *Config) {
		c.Auth = allowAll{deny: func(a auth.Action, p address.Pattern) bool { return a == auth.Publish && p[0] == "private" }}
	})
	s := b.session(t)
	r := receiver(t, s, "/queues/relayed", nil)
	relay := sender(t, s, "", nil)
	to := "/queues/relayed"
	m := goamqp.NewMessage([]byte("via relay"))
	m.Properties = &goamqp.MessageProperties{To: &to}
	send(t, relay, m)
	if got := recv(t, r).GetData(); string(got) != "via relay" {
		t.Fatalf("got %q", got)
	}
	// Authorization is per message.
	bad := "/topics/private/x"
	m2 := goamqp.NewMessage([]byte("no"))
	m2.Properties = &goamqp.MessageProperties{To: &bad}
	err := relay.Send(ctxT(t), m2, nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("relay to a forbidden address: %v", err)
	}
	// No to at all.
	err = relay.Send(ctxT(t), goamqp.NewMessage([]byte("nowhere")), nil)
	if !errors.As(err, &ae) {
		t.Fatalf("relay without to: %v", err)
	}
}

func TestMultiFrameMessages(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.MaxFrameSize = 512 })
	c := b.dial(t, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), MaxFrameSize: 512})
	s, err := c.NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB over 512-byte frames
	send(t, sender(t, s, "/queues/big", nil), goamqp.NewMessage(big))
	r := receiver(t, s, "/queues/big", nil)
	m := recv(t, r)
	if !bytes.Equal(m.GetData(), big) {
		t.Fatalf("got %d bytes", len(m.GetData()))
	}
	_ = r.AcceptMessage(ctxT(t), m)
	// Over max-message-size: the link is detached.
	b2 := newBroker(t, func(c *Config) { c.MaxMessageSize = 1000 })
	s2 := b2.session(t)
	snd := sender(t, s2, "/queues/big", nil)
	if err := snd.Send(ctxT(t), goamqp.NewMessage(big), nil); err == nil {
		t.Fatal("message over max-message-size accepted")
	}
}
