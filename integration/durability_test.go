package integration

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
)

// The durability tests restart the real binary on the same data
// directory: after SIGKILL (nothing confirmed may be lost) and after
// SIGTERM (nothing durable may be lost), and check what comes back.

// ledger records, per message key ("m1-17": MQTT publisher 1, sequence
// 17), what the publishers had confirmed and what the consumers saw
// before the crash and after the restart.
type ledger struct {
	mu           sync.Mutex
	confirmed    map[string]bool // PUBACK or RECEIPT received
	published    map[string]bool // sent, confirmed or not
	pre          map[string]int  // deliveries before the crash
	ackConfirmed map[string]bool // STOMP ACK committed with a RECEIPT before the crash
	post         map[string]int  // deliveries after the restart
	postOrder    map[string][]int
	unflagged    []string // post-restart deliveries without DUP / redelivered
}

func newLedger() *ledger {
	return &ledger{confirmed: map[string]bool{}, published: map[string]bool{}, pre: map[string]int{},
		ackConfirmed: map[string]bool{}, post: map[string]int{}, postOrder: map[string][]int{}}
}

func (l *ledger) sent(key string, ok bool) {
	l.mu.Lock()
	l.published[key] = true
	if ok {
		l.confirmed[key] = true
	}
	l.mu.Unlock()
}

func (l *ledger) seenPre(key string) {
	l.mu.Lock()
	l.pre[key]++
	l.mu.Unlock()
}

func (l *ledger) acked(keys []string) {
	l.mu.Lock()
	for _, k := range keys {
		l.ackConfirmed[k] = true
	}
	l.mu.Unlock()
}

func (l *ledger) seenPost(key string, flagged bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.post[key]++
	pub, seq := splitKey(key)
	l.postOrder[pub] = append(l.postOrder[pub], seq)
	if !flagged {
		l.unflagged = append(l.unflagged, key)
	}
}

// missing returns the confirmed messages of proto ("m" or "s") that no
// consumer has seen yet.
func (l *ledger) missing(proto string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k := range l.confirmed {
		if strings.HasPrefix(k, proto) && l.pre[k] == 0 && l.post[k] == 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// key names message seq of publisher pub ("m1", "s2").
func key(pub string, seq int) string { return pub + "-" + strconv.Itoa(seq) }

func splitKey(k string) (string, int) {
	pub, seq, _ := strings.Cut(k, "-")
	n, _ := strconv.Atoi(seq)
	return pub, n
}

// check reports every violation of the guarantees: a confirmed message
// never delivered, an acknowledged one delivered again, a duplicate within
// the post-restart drain, a recovered message without its redelivery flag,
// a publisher's messages out of order. It logs the duplicates that a lost
// consumer acknowledgement explains.
func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost, reDelivered, twice []string
	dups := map[string]int{}
	for k := range l.confirmed {
		if l.pre[k] == 0 && l.post[k] == 0 {
			lost = append(lost, k)
		}
	}
	for k, n := range l.post {
		if n > 1 {
			twice = append(twice, k)
		}
		if l.pre[k] > 0 {
			dups[k[:1]]++
			if l.ackConfirmed[k] {
				reDelivered = append(reDelivered, k)
			}
		}
		if !l.published[k] {
			t.Errorf("delivered %s, which was never published", k)
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Errorf("%d confirmed messages lost: %v", len(lost), head(lost))
	}
	if len(reDelivered) > 0 {
		t.Errorf("%d messages whose ACK was committed (RECEIPT) came back: %v", len(reDelivered), head(reDelivered))
	}
	if len(twice) > 0 {
		t.Errorf("%d messages delivered twice after the restart: %v", len(twice), head(twice))
	}
	if len(l.unflagged) > 0 {
		t.Errorf("%d recovered messages without DUP / redelivered: %v", len(l.unflagged), head(l.unflagged))
	}
	for pub, seqs := range l.postOrder {
		if !slices.IsSorted(seqs) {
			t.Errorf("publisher %s: messages out of order after the restart: %v", pub, head(seqs))
		}
	}
	for _, p := range []string{"m", "s", "a"} {
		conf, pubd := 0, 0
		for k := range l.confirmed {
			if k[:1] == p {
				conf++
			}
		}
		for k := range l.published {
			if k[:1] == p {
				pubd++
			}
		}
		t.Logf("%s: %d published, %d confirmed; duplicates (delivered before the crash, consumer ack not durable): %d",
			map[string]string{"m": "mqtt", "s": "stomp", "a": "amqp"}[p], pubd, conf, dups[p])
	}
}

func head[T any](s []T) []T {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// TestCrashNoConfirmedLoss publishes durable messages at full speed from
// paho v3 (QoS 1, to $queue/crash-mqtt), go-stomp (persistent:true with a
// receipt, to /queue/crash-stomp) and go-amqp (header.durable, unsettled:
// the accepted disposition is the confirm, to /queues/crash-amqp) while a
// consumer of each queue acknowledges, SIGKILLs the broker after a number
// of confirms, restarts it on the same data directory and drains the
// queues. Every confirmed message must have been delivered, before the
// crash or after; a STOMP ACK whose transaction got its RECEIPT must not
// come back; what comes back carries DUP / redelivered:true /
// first-acquirer false, once, in publish order.
func TestCrashNoConfirmedLoss(t *testing.T) {
	for _, killAfter := range []int{100, 1000, 3000} {
		t.Run(fmt.Sprintf("kill-after-%d", killAfter), func(t *testing.T) {
			crashRun(t, killAfter)
		})
	}
}

const (
	crashPublishers = 3 // per protocol
	crashAckBatch   = 16
	// crashConsumerPause slows the consumers below the publishers, so
	// that the queues hold a backlog when the broker is killed: the
	// messages nobody has seen yet are the ones only the store can bring
	// back.
	crashConsumerPause = 2 * time.Millisecond
)

func crashRun(t *testing.T, killAfter int) {
	dir := t.TempDir()
	b := startBroker(t, brokerOpts{DataDir: dir})
	l := newLedger()
	var confirms atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup

	// Consumers, each on its own connection.
	mc := connectV3(t, v3Options(b.TCPURL(), clientID("crash-mc")))
	tok := mc.Subscribe("$queue/crash-mqtt", 1, func(_ mqtt.Client, m mqtt.Message) {
		l.seenPre(string(m.Payload()))
		time.Sleep(crashConsumerPause)
	})
	waitV3(t, tok, "subscribe $queue/crash-mqtt")
	sc := dialSTOMP(t, b)
	ssub, err := sc.Subscribe("/queue/crash-stomp", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { stompAcker(sc, ssub, l) })
	ar := amqpReceiver(t, amqpSession(t, b), "/queues/crash-amqp", &goamqp.ReceiverOptions{Credit: 64})
	wg.Go(func() {
		for {
			m, err := ar.Receive(context.Background(), nil)
			if err != nil {
				return // the broker is gone
			}
			l.seenPre(string(m.GetData()))
			time.Sleep(crashConsumerPause)
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			err = ar.AcceptMessage(ctx, m)
			cancel()
			if err != nil {
				return
			}
		}
	})

	// Publishers.
	for i := range crashPublishers {
		mpub, spub := "m"+strconv.Itoa(i), "s"+strconv.Itoa(i)
		c := connectV3(t, v3Options(b.TCPURL(), clientID("crash-mp")))
		wg.Go(func() {
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := key(mpub, seq)
				tok := c.Publish("$queue/crash-mqtt", 1, false, []byte(k))
				ok := tok.WaitTimeout(opTimeout) && tok.Error() == nil
				l.sent(k, ok)
				if !ok {
					return // the broker is gone
				}
				confirms.Add(1)
			}
		})
		apub := "a" + strconv.Itoa(i)
		asnd := amqpSender(t, amqpSession(t, b), "/queues/crash-amqp", nil)
		wg.Go(func() {
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := key(apub, seq)
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				err := asnd.Send(ctx, &goamqp.Message{Header: &goamqp.MessageHeader{Durable: true}, Data: [][]byte{[]byte(k)}}, nil)
				cancel()
				l.sent(k, err == nil)
				if err != nil {
					return
				}
				confirms.Add(1)
			}
		})
		sp := dialSTOMP(t, b)
		wg.Go(func() {
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := key(spub, seq)
				err := sp.Send("/queue/crash-stomp", "text/plain", []byte(k), stomp.SendOpt.Receipt, stomp.SendOpt.Header("persistent", "true"))
				l.sent(k, err == nil)
				if err != nil {
					return
				}
				confirms.Add(1)
			}
		})
	}

	deadline := time.Now().Add(30 * time.Second)
	for confirms.Load() < int64(killAfter) {
		if time.Now().After(deadline) {
			close(stop)
			t.Fatalf("only %d confirms within 30s", confirms.Load())
		}
		time.Sleep(time.Millisecond)
	}
	b.Kill(t)
	killedAt := confirms.Load()
	close(stop)
	wg.Wait()
	t.Logf("SIGKILL after %d confirms (%d when the publishers stopped)", killedAt, confirms.Load())

	b2 := startBroker(t, brokerOpts{DataDir: dir})
	dm := connectV3(t, v3Options(b2.TCPURL(), clientID("crash-dm")))
	tok = dm.Subscribe("$queue/crash-mqtt", 1, func(_ mqtt.Client, m mqtt.Message) {
		l.seenPost(string(m.Payload()), m.Duplicate())
	})
	waitV3(t, tok, "subscribe $queue/crash-mqtt after the restart")
	ds := dialSTOMP(t, b2)
	dsub, err := ds.Subscribe("/queue/crash-stomp", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	var dwg sync.WaitGroup
	dwg.Go(func() {
		for m := range dsub.C {
			if m.Err == nil {
				l.seenPost(string(m.Body), m.Header.Get("redelivered") == "true")
			}
		}
	})
	da := amqpReceiver(t, amqpSession(t, b2), "/queues/crash-amqp", &goamqp.ReceiverOptions{Credit: 256})
	dctx, dcancel := context.WithCancel(context.Background())
	dwg.Go(func() {
		for {
			m, err := da.Receive(dctx, nil)
			if err != nil {
				return
			}
			l.seenPost(string(m.GetData()), m.Header != nil && !m.Header.FirstAcquirer)
			_ = da.AcceptMessage(dctx, m)
		}
	})
	drainDeadline := time.Now().Add(20 * time.Second)
	for len(l.missing("m"))+len(l.missing("s"))+len(l.missing("a")) > 0 && time.Now().Before(drainDeadline) {
		time.Sleep(10 * time.Millisecond)
	}
	waitQueuesEmpty(t, b2, "crash-mqtt", "crash-stomp", "crash-amqp")
	time.Sleep(quietPeriod) // stragglers: duplicates and unconfirmed messages
	_ = dsub.Unsubscribe()
	dcancel()
	dwg.Wait()
	l.check(t)
}

// stompAcker receives from sub and acknowledges each message in a
// transaction committed every crashAckBatch messages and followed by a
// SEND with a receipt: the broker handles a connection's frames in order
// and settles an ACK in the store before the next frame, so once that
// RECEIPT is in, the transaction's messages must never come back. (A
// receipt on the COMMIT itself would do, but go-stomp waits for that one
// only as long as the server's heart-beat interval, then wedges the
// connection when it arrives late.)
//
// go-stomp handles a connection's frames on one goroutine, which blocks
// while a MESSAGE waits for room in sub.C: sub.C is drained into a buffer
// larger than the prefetch, so that a RECEIPT is never stuck behind it.
func stompAcker(c *stomp.Conn, sub *stomp.Subscription, l *ledger) {
	in := make(chan *stomp.Message, 4096)
	go func() {
		for m := range sub.C {
			in <- m
		}
		close(in)
	}()
	var batch []string
	tx, err := c.BeginWithError()
	for m := range in {
		if m.Err != nil {
			break
		}
		k := string(m.Body)
		l.seenPre(k)
		time.Sleep(crashConsumerPause)
		if err != nil {
			continue // the connection is gone; keep draining sub.C
		}
		if err = tx.Ack(m); err != nil {
			continue
		}
		batch = append(batch, k)
		if len(batch) == crashAckBatch {
			if err = tx.Commit(); err == nil {
				if err = c.Send("/topic/crash-barrier", "", nil, stomp.SendOpt.Receipt); err == nil {
					l.acked(batch)
					tx, err = c.BeginWithError()
				}
			}
			batch = batch[:0]
		}
	}
	for range in {
	}
}

var depthRE = regexp.MustCompile(`(?m)^rosetta_queue_depth\{queue="([^"]*)"\} (\S+)$`)

// waitQueuesEmpty waits until the named queues have no ready messages
// (rosetta_queue_depth), or fails after recvTimeout.
func waitQueuesEmpty(t *testing.T, b *broker, queues ...string) {
	t.Helper()
	deadline := time.Now().Add(recvTimeout)
	for {
		_, _, body := b.httpGet(t, "/metrics")
		depth := map[string]string{}
		for _, m := range depthRE.FindAllStringSubmatch(body, -1) {
			depth[m[1]] = m[2]
		}
		busy := ""
		for _, q := range queues {
			if d, ok := depth[q]; ok && d != "0" {
				busy = fmt.Sprintf("%s holds %s", q, d)
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues not drained within %v: %s", recvTimeout, busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collector gathers messages from any client by key, in arrival order,
// with their redelivery flag.
type collector struct {
	mu    sync.Mutex
	order []string
	count map[string]int
	flag  map[string]bool // DUP / redelivered:true on every copy
	topic map[string]string
	ret   map[string]bool // RETAIN flag
}

func newCollector() *collector {
	return &collector{count: map[string]int{}, flag: map[string]bool{}, topic: map[string]string{}, ret: map[string]bool{}}
}

func (c *collector) add(k, topic string, flagged, retain bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = append(c.order, k)
	if c.count[k] == 0 {
		c.flag[k] = flagged
	} else {
		c.flag[k] = c.flag[k] && flagged
	}
	c.count[k]++
	c.topic[k], c.ret[k] = topic, retain
}

func (c *collector) mqttHandler(_ mqtt.Client, m mqtt.Message) {
	c.add(string(m.Payload()), m.Topic(), m.Duplicate(), m.Retained())
}

func (c *collector) has(keys []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if c.count[k] == 0 {
			return false
		}
	}
	return true
}

// waitFor waits until every key has arrived, then for quietPeriod more.
func (c *collector) waitFor(t *testing.T, what string, keys []string) {
	t.Helper()
	deadline := time.Now().Add(2 * recvTimeout)
	for !c.has(keys) {
		if time.Now().After(deadline) {
			c.mu.Lock()
			var missing []string
			for _, k := range keys {
				if c.count[k] == 0 {
					missing = append(missing, k)
				}
			}
			c.mu.Unlock()
			t.Fatalf("%s: %d of %d messages missing after %v: %v", what, len(missing), len(keys), 2*recvTimeout, head(missing))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(quietPeriod)
}

// inOrder checks that each source's messages (keys "<source>-<seq>")
// arrived in publish order, ignoring repeats.
func (c *collector) inOrder(t *testing.T, what string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	last := map[string]int{}
	for _, k := range c.order {
		src, seq := splitKey(k)
		if seq < last[src] {
			t.Errorf("%s: %s arrived after %s", what, k, key(src, last[src]))
		}
		last[src] = max(last[src], seq)
	}
}

func keys(src string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, key(src, i))
	}
	return out
}

// stompReader drains sub into c until sub ends.
func stompReader(wg *sync.WaitGroup, sub *stomp.Subscription, c *collector) {
	wg.Go(func() {
		for m := range sub.C {
			if m.Err == nil {
				c.add(string(m.Body), m.Destination, m.Header.Get("redelivered") == "true", m.Header.Get("x-retained") == "true")
			}
		}
	})
}

// TestGracefulRestartNoLoss stops the broker with SIGTERM while a
// persistent MQTT session (3.1.1, clean session 0) has messages in flight
// (delivered, not acknowledged) and more waiting in its queue, and a
// STOMP client-individual consumer holds unacknowledged messages of a
// durable queue. After the restart every durable message comes back:
// the session's, without subscribing again, with DUP; the queue's, with
// redelivered:true; in order. Acknowledged messages may come back only
// flagged. QoS 0 messages are not durable and do not come back
// (DESIGN.md §7).
func TestGracefulRestartNoLoss(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, brokerOpts{DataDir: dir})
	id := clientID("grace-sub")
	pre := make(chan mqtt.Message, 1024)
	sub := connectV3(t, v3Options(b.TCPURL(), id).SetCleanSession(false).SetAutoAckDisabled(true))
	waitV3(t, sub.Subscribe("grace/#", 1, func(_ mqtt.Client, m mqtt.Message) { pre <- m }), "subscribe grace/#")
	sc := dialSTOMP(t, b)
	held := newCollector()
	var wg sync.WaitGroup
	ssub, err := sc.Subscribe("/queue/grace-stomp", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	stompReader(&wg, ssub, held)

	const nMQTT, nSTOMP, nQ0, nQueue = 300, 100, 50, 150
	mp := connectV3(t, v3Options(b.TCPURL(), clientID("grace-mp")))
	sp := dialSTOMP(t, b)
	for i := 1; i <= nMQTT; i++ {
		publishV3(t, mp, "grace/m", 1, false, []byte(key("m", i)))
		if i <= nQ0 {
			publishV3(t, mp, "grace/q0", 0, false, []byte(key("z", i)))
		}
		if i <= nSTOMP {
			sendSTOMP(t, sp, "/topic/grace/s", "", []byte(key("s", i)), stomp.SendOpt.Header("persistent", "true"))
		}
		if i <= nQueue {
			sendSTOMP(t, sp, "/queue/grace-stomp", "", []byte(key("q", i)), stomp.SendOpt.Header("persistent", "true"))
		}
	}
	// The session's window (limits.max_inflight, 256 QoS 1 deliveries)
	// fills up; acknowledge the first 50 and wait for 50 more, which the
	// broker sends only once those settlements are in the store; leave
	// everything else in flight or queued. (QoS 0 deliveries take no
	// place in the window.)
	nextQoS1 := func(what string) mqtt.Message {
		t.Helper()
		for {
			select {
			case m := <-pre:
				if m.Qos() > 0 {
					return m
				}
			case <-time.After(recvTimeout):
				t.Fatalf("persistent session: %s: nothing within %v", what, recvTimeout)
			}
		}
	}
	var got []mqtt.Message
	for len(got) < 256 {
		got = append(got, nextQoS1("the first 256"))
	}
	acked := map[string]bool{}
	for _, m := range got[:50] {
		m.Ack()
		acked[string(m.Payload())] = true
	}
	for range 50 {
		nextQoS1("after 50 acknowledgements")
	}
	if !held.has([]string{key("q", 100)}) {
		time.Sleep(quietPeriod) // the STOMP consumer's prefetch (100) fills
	}

	code, took := b.Stop(t, stopTimeout)
	if code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	held.mu.Lock()
	nHeld := len(held.count)
	held.mu.Unlock()
	t.Logf("SIGTERM with 256 MQTT messages in flight and %d queued, %d STOMP ones delivered and not acknowledged; stopped in %v",
		nMQTT+nSTOMP-306, nHeld, took)
	wg.Wait()

	b2 := startBroker(t, brokerOpts{DataDir: dir})
	after := newCollector()
	// The same client ID with clean session 0, and no SUBSCRIBE: the
	// session's subscriptions come back with it.
	connectV3(t, v3Options(b2.TCPURL(), id).SetCleanSession(false).SetDefaultPublishHandler(after.mqttHandler))
	sc2 := dialSTOMP(t, b2)
	ssub2, err := sc2.Subscribe("/queue/grace-stomp", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	var wg2 sync.WaitGroup
	stompReader(&wg2, ssub2, after)

	var want []string
	for _, k := range append(keys("m", 1, nMQTT), keys("s", 1, nSTOMP)...) {
		if !acked[k] {
			want = append(want, k)
		}
	}
	want = append(want, keys("q", 1, nQueue)...)
	after.waitFor(t, "after the restart", want)
	_ = ssub2.Unsubscribe()
	wg2.Wait()
	after.inOrder(t, "after the restart")
	after.mu.Lock()
	defer after.mu.Unlock()
	back, q0 := 0, 0
	for k, n := range after.count {
		if n > 1 {
			t.Errorf("%s delivered %d times after the restart", k, n)
		}
		if !after.flag[k] {
			t.Errorf("%s came back without DUP / redelivered", k)
		}
		if acked[k] {
			back++
		}
		if strings.HasPrefix(k, "z-") {
			q0++
		}
	}
	t.Logf("%d durable messages came back; %d of the 50 acknowledged ones again; %d of %d QoS 0 ones", len(want), back, q0, nQ0)
	if back > 0 {
		t.Errorf("%d messages acknowledged (and settled) before the shutdown came back", back)
	}
	if q0 > 0 {
		t.Errorf("%d QoS 0 (non-durable) messages came back: they are never written to disk", q0)
	}
}

// TestDurableSubscriptionsAcrossRestart: an MQTT session with clean
// session 0 and a STOMP durable subscription (client-id plus
// durable-subscription-name) each keep what was published for them, from
// MQTT (QoS 1) and STOMP (persistent:true), while their client was away,
// both before and after a broker restart, and get it when the client
// returns.
func TestDurableSubscriptionsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, brokerOpts{DataDir: dir})
	mid := clientID("dsub-m")
	mc := connectV3(t, v3Options(b.TCPURL(), mid).SetCleanSession(false))
	waitV3(t, mc.Subscribe("dsub/m/#", 1, nil), "subscribe dsub/m/#")
	mc.Disconnect(100)

	const stompClient = "dsub-stomp-client"
	durable := stomp.SubscribeOpt.Header("durable-subscription-name", "keep")
	sc, err := stomp.Dial("tcp", b.STOMPAddr, stomp.ConnOpt.Header("client-id", stompClient), stomp.ConnOpt.HeartBeat(0, 0),
		stomp.ConnOpt.RcvReceiptTimeout(opTimeout), stomp.ConnOpt.Logger(quietSTOMPLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	// DISCONNECT waits for its RECEIPT, so the SUBSCRIBE before it is done.
	if _, err := sc.Subscribe("/topic/dsub/s/#", stomp.AckClientIndividual, durable); err != nil {
		t.Fatal(err)
	}
	if err := sc.Disconnect(); err != nil {
		t.Fatal(err)
	}

	publish := func(b *broker, from, to int) {
		t.Helper()
		mp := connectV3(t, v3Options(b.TCPURL(), clientID("dsub-mp")))
		sp := dialSTOMP(t, b)
		for i := from; i <= to; i++ {
			publishV3(t, mp, "dsub/m/a", 1, false, []byte(key("mm", i)))
			sendSTOMP(t, sp, "/topic/dsub/m/b", "", []byte(key("sm", i)), stomp.SendOpt.Header("persistent", "true"))
			publishV3(t, mp, "dsub/s/a", 1, false, []byte(key("ms", i)))
			sendSTOMP(t, sp, "/topic/dsub/s/b", "", []byte(key("ss", i)), stomp.SendOpt.Header("persistent", "true"))
		}
		mp.Disconnect(100)
	}
	publish(b, 1, 20) // while the clients are away
	if code, _ := b.Stop(t, stopTimeout); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	b2 := startBroker(t, brokerOpts{DataDir: dir})
	publish(b2, 21, 30) // after the restart, still away: the recovered bindings route them

	mq := newCollector()
	connectV3(t, v3Options(b2.TCPURL(), mid).SetCleanSession(false).SetDefaultPublishHandler(mq.mqttHandler))
	mq.waitFor(t, "mqtt session", append(keys("mm", 1, 30), keys("sm", 1, 30)...))
	mq.inOrder(t, "mqtt session")

	sq := newCollector()
	sc2, err := stomp.Dial("tcp", b2.STOMPAddr, stomp.ConnOpt.Header("client-id", stompClient), stomp.ConnOpt.HeartBeat(0, 0),
		stomp.ConnOpt.RcvReceiptTimeout(opTimeout), stomp.ConnOpt.Logger(quietSTOMPLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Disconnect()
	ssub, err := sc2.Subscribe("/topic/dsub/s/#", stomp.AckAuto, durable)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stompReader(&wg, ssub, sq)
	sq.waitFor(t, "stomp durable subscription", append(keys("ms", 1, 30), keys("ss", 1, 30)...))
	sq.inOrder(t, "stomp durable subscription")
	for name, c := range map[string]*collector{"mqtt": mq, "stomp": sq} {
		c.mu.Lock()
		if len(c.order) != 60 {
			t.Errorf("%s: %d deliveries, want 60", name, len(c.order))
		}
		c.mu.Unlock()
	}
}

// TestRetainedSurvivesRestart: retained messages published durably (MQTT
// QoS 1, STOMP persistent:true with x-retained:true) are served after a
// restart, the last value of each topic; a retained value cleared before
// the restart stays cleared, and a QoS 0 (non-durable) one is gone.
func TestRetainedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, brokerOpts{DataDir: dir})
	mp := connectV3(t, v3Options(b.TCPURL(), clientID("ret-mp")))
	publishV3(t, mp, "ret/a", 1, true, []byte("a-1"))
	publishV3(t, mp, "ret/a", 1, true, []byte("a-2")) // replaces a-1
	publishV3(t, mp, "ret/b", 1, true, []byte("b-1"))
	publishV3(t, mp, "ret/b", 1, true, nil) // clears ret/b
	publishV3(t, mp, "ret/c", 0, true, []byte("c-1"))
	sp := dialSTOMP(t, b)
	sendSTOMP(t, sp, "/topic/ret/d", "", []byte("d-1"), stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("x-retained", "true"))
	if code, _ := b.Stop(t, stopTimeout); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}

	b2 := startBroker(t, brokerOpts{DataDir: dir})
	c := newCollector()
	sub := connectV3(t, v3Options(b2.TCPURL(), clientID("ret-sub")))
	waitV3(t, sub.Subscribe("ret/#", 1, c.mqttHandler), "subscribe ret/#")
	c.waitFor(t, "retained after the restart", []string{"a-2", "d-1"})
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range c.count {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"a-2", "d-1"}) {
		t.Errorf("retained after the restart: %v, want [a-2 d-1] (ret/b cleared, ret/c not durable)", got)
	}
	if c.topic["a-2"] != "ret/a" || !c.ret["a-2"] || c.topic["d-1"] != "ret/d" || !c.ret["d-1"] {
		t.Errorf("topics %v, retain flags %v", c.topic, c.ret)
	}
}
