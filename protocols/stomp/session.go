package stomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// errDisconnect stops the parser after DISCONNECT: the session is over,
// without an ERROR.
var errDisconnect = errors.New("disconnect")

// errStopped stops the parser once the session is closing for another
// reason (Shutdown, a consumer closed by the broker).
var errStopped = errors.New("session closing")

// supportedVersions is the ERROR version header of a failed negotiation.
const supportedVersions = "1.0,1.1,1.2"

// handleFrame is the parser's emit: the session state machine (awaiting
// CONNECT, then open). It runs on the read goroutine. f is valid only
// during the call; its header strings may be kept, its Body may not.
func (c *conn) handleFrame(f *frame.Frame) error {
	c.srv.stats.framesIn.Add(1)
	if c.stopping.Load() {
		return errStopped
	}
	if c.log.Enabled(c.ctx, slog.LevelDebug) {
		c.log.Debug("frame in", "command", f.Command, "headers", len(f.Headers), "body_bytes", len(f.Body))
	}
	var err error
	if !c.connected {
		err = c.onConnect(f)
	} else {
		err = c.dispatch(f)
	}
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) && pe.Receipt == "" {
			// "If the frame included a receipt header, the ERROR frame
			// SHOULD set the receipt-id header" (STOMP 1.2 "ERROR").
			pe.Receipt = f.Value(hReceipt)
		}
	}
	return err
}

func (c *conn) dispatch(f *frame.Frame) error {
	_, hasReceipt := f.Get(hReceipt)
	switch {
	case f.Command == frame.SEND:
	case (f.Command == frame.ACK || f.Command == frame.NACK) && !hasReceipt:
	default:
		// RECEIPTs in frame order, and no frame overtakes the SENDs
		// before it (confirm.go).
		c.pipe.Drain()
		if c.stopping.Load() {
			return errStopped // a SEND in flight failed: its ERROR is out
		}
	}
	var err error
	switch f.Command {
	case frame.SEND:
		err = c.onSend(f)
		if errors.Is(err, errPipelined) {
			return nil // the confirmer writes the RECEIPT
		}
	case frame.SUBSCRIBE:
		err = c.onSubscribe(f)
	case frame.UNSUBSCRIBE:
		err = c.onUnsubscribe(f)
	case frame.ACK:
		err = c.onAck(f, false)
	case frame.NACK:
		if c.version == frame.V10 {
			return protoErr(msgUnknownCommand, "STOMP 1.0", "NACK does not exist in STOMP 1.0")
		}
		err = c.onAck(f, true)
	case frame.BEGIN:
		err = c.onBegin(f)
	case frame.COMMIT:
		err = c.onCommit(f)
	case frame.ABORT:
		err = c.onAbort(f)
	case frame.DISCONNECT:
		c.onDisconnect(f)
		return errDisconnect
	case frame.CONNECT, frame.STOMP:
		return protoErr(msgMalformed, "", "already connected")
	default:
		return protoErr(msgUnknownCommand, "STOMP 1.2 Client Frames", "%q is not a client command", truncate(f.Command, 64))
	}
	if err != nil {
		return err
	}
	if r, ok := c.hdr(f, hReceipt); ok {
		c.enqueueCtrl(frame.New(frame.RECEIPT, hReceiptID, r))
	}
	return nil
}

// hdr returns the first value of a protocol header; STOMP 1.0 values are
// trimmed, since the 1.0 examples pad them ("ack: client").
func (c *conn) hdr(f *frame.Frame, key string) (string, bool) {
	v, ok := f.Get(key)
	if ok && c.version == frame.V10 {
		v = strings.TrimSpace(v)
	}
	return v, ok
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// onConnect handles CONNECT or STOMP: version negotiation, heart-beats,
// authentication (STOMP 1.2 "Connecting").
func (c *conn) onConnect(f *frame.Frame) error {
	if !frame.IsConnect(f.Command) {
		return protoErr(msgNotConnected, "STOMP 1.2 Connecting", "expected CONNECT or STOMP, got %q", truncate(f.Command, 64))
	}
	v := frame.V10 // "If the accept-version header is missing, it means that the client only supports version 1.0"
	av, negotiated := f.Get("accept-version")
	if negotiated {
		v = negotiate(av)
		if v == frame.VersionNone {
			pe := protoErr(msgVersion, "STOMP 1.2 Protocol Negotiation", "Supported protocol versions are 1.0 1.1 1.2 (asked: %s)", truncate(av, 64))
			pe.extra = []frame.Header{{Key: "version", Value: supportedVersions}}
			return pe
		}
	}
	var cx, cy time.Duration
	if v != frame.V10 {
		if hb, ok := f.Get("heart-beat"); ok {
			var err error
			if cx, cy, err = parseHeartBeat(hb); err != nil {
				return wrapErr(msgBadHeader, "STOMP 1.2 Heart-beating", err)
			}
		}
	}

	login, hasLogin := f.Get("login")
	passcode, _ := f.Get("passcode")
	if !hasLogin && c.wsCreds != nil {
		login, passcode, hasLogin = c.wsCreds.user, c.wsCreds.pass, true
	}
	clientID, hasClientID := f.Get("client-id")
	if !hasClientID || clientID == "" {
		clientID = c.id
	}
	ctx, cancel := context.WithDeadline(c.ctx, c.start.Add(c.srv.cfg.ConnectTimeout))
	ident, err := c.srv.auth.Authenticate(ctx, auth.Credentials{
		Protocol:    message.ProtocolSTOMP,
		Username:    login,
		Password:    []byte(passcode),
		HasUsername: hasLogin,
		ClientID:    clientID,
		Remote:      c.tr.RemoteAddr(),
		TLS:         c.tr.TLS(),
	})
	cancel()
	if err != nil {
		c.log.Warn("authentication failed", "login", login, "err", err)
		return wrapErr(msgAuth, "", errors.New("bad login or passcode"))
	}
	c.ident, c.login = ident, login
	c.clientID = clientID
	c.origin = message.Origin{Protocol: message.ProtocolSTOMP, ClientID: clientID, ConnID: c.id, User: ident.User}
	c.reg = c.srv.cfg.Conns.Add(conns.Info{Protocol: message.ProtocolSTOMP, ID: c.id, ClientID: clientID, User: ident.User,
		Remote: c.tr.RemoteAddr().String(), Transport: transportName(c.tr)}, func(string) { c.goAway("closed by an administrator") })

	// Heart-beats: each direction runs at MAX(what one side can do, what
	// the other wants), or not at all if either says 0 (STOMP 1.2
	// "Heart-beating"). The server's numbers are small, so the client's
	// wish is what is used. CONNECTED states the result.
	sx, sy := positive(c.srv.cfg.HeartBeatSend), positive(c.srv.cfg.HeartBeatReceive)
	var send, recv time.Duration
	if sx > 0 && cy > 0 {
		send = max(sx, cy)
	}
	if sy > 0 && cx > 0 {
		recv = max(sy, cx)
	}
	if v == frame.V10 {
		send, recv = 0, 0
	}
	c.version = v
	c.parser.SetVersion(v)
	c.readHB = recv
	c.connected = true

	cf := frame.New(frame.CONNECTED)
	if negotiated {
		cf.Add("version", v.String())
	}
	if v != frame.V10 {
		// The negotiated intervals, not the server's offer: a client that
		// asked for none (0,0) reads "0,0" and expects nothing. Some clients
		// (go-stomp 3.1) take the server's first number as their read
		// timeout whatever they asked for, and close an idle connection
		// after it when the offer was sent instead.
		cf.Add("heart-beat", strconv.FormatInt(send.Milliseconds(), 10)+","+strconv.FormatInt(recv.Milliseconds(), 10))
		cf.Add("server", c.srv.cfg.ServerName)
	}
	cf.Add("session", c.id)
	if ident.User != "" {
		cf.Add("user-name", ident.User)
	}
	c.mu.Lock()
	c.wver, c.writeHB = v, send
	c.mu.Unlock()
	c.enqueueCtrl(cf)
	c.log.Info("connected", "version", v.String(), "client_id", clientID, "user", ident.User,
		"heart_beat_out", send, "heart_beat_in", recv)
	return nil
}

func positive(d time.Duration) time.Duration { return max(d, 0) }

// negotiate picks the highest version both sides speak.
func negotiate(accept string) frame.Version {
	best := frame.VersionNone
	for s := range strings.SplitSeq(accept, ",") {
		if v, ok := frame.ParseVersion(strings.TrimSpace(s)); ok && v > best {
			best = v
		}
	}
	return best
}

// parseHeartBeat parses "cx,cy" in milliseconds.
func parseHeartBeat(s string) (time.Duration, time.Duration, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ",")
	if !ok {
		return 0, 0, fmt.Errorf("heart-beat %q: want two numbers separated by a comma", s)
	}
	x, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 31)
	y, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 31)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("heart-beat %q: want two numbers of milliseconds", s)
	}
	return time.Duration(x) * time.Millisecond, time.Duration(y) * time.Millisecond, nil
}

// sendTarget is a parsed SEND destination.
type sendTarget struct {
	addr   address.Address
	ensure bool // a /queue/ send: create the named queue so the message waits
	temp   bool // a temporary reply queue: reachable by whoever holds its name
}

func (c *conn) sendTarget(dest string) (sendTarget, error) {
	if t, ok := c.dests[dest]; ok {
		return t, nil
	}
	d, err := parseDestination(dest)
	if err != nil {
		return sendTarget{}, err
	}
	var t sendTarget
	switch d.kind {
	case destTopic, destQueue:
		if t.addr, err = parseAddress(d.rest); err != nil {
			return t, err
		}
		if d.kind == destQueue {
			if err := checkQueueName(t.addr); err != nil {
				return t, err
			}
		}
		// A reply to a temporary queue: the queue exists while its owner
		// is connected; re-creating it after would keep replies nobody
		// reads, so such sends never create a queue.
		t.temp = isTemp(t.addr)
		t.ensure = d.kind == destQueue && !t.temp
	case destTemp:
		if t.addr, _, err = c.tempQueue(d.rest); err != nil {
			return t, err
		}
		t.temp = true
	}
	if len(c.dests) >= maxDestCache {
		clear(c.dests)
	}
	c.dests[dest] = t
	return t, nil
}

// checkQueueName refuses a queue address that the exchange's queue naming
// (the MQTT rendering) could not tell apart from another.
func checkQueueName(a address.Address) error {
	if !a.MQTTSafe() {
		return fmt.Errorf("queue %q: a queue name level cannot contain /, + or #", a.MQTT())
	}
	return nil
}

// tempQueue returns the address and queue of this connection's
// temporary queue name, declaring it on first use. Temporary queues are
// private to the connection (the session id in the address is random) and
// deleted when it closes.
func (c *conn) tempQueue(name string) (address.Address, string, error) {
	rel, err := parseAddress(name)
	if err != nil {
		return nil, "", err
	}
	if err := checkQueueName(rel); err != nil {
		return nil, "", err
	}
	addr := append(address.Address{tempRoot, string(message.ProtocolSTOMP), c.id}, rel...)
	q := addr.MQTT()
	if c.temps[q] {
		return addr, q, nil
	}
	if len(c.temps) >= c.srv.cfg.MaxSubscriptions {
		return nil, "", fmt.Errorf("more than %d temporary queues", c.srv.cfg.MaxSubscriptions)
	}
	if err := c.srv.x.DeclareQueue(q, exchange.QueueConfig{Owner: "stomp/" + c.id}); err != nil {
		return nil, "", fmt.Errorf("temporary queue: %w", err)
	}
	c.temps[q] = true
	if err := c.srv.x.Bind(q, address.Exact(addr)); err != nil {
		return nil, "", fmt.Errorf("temporary queue: %w", err)
	}
	return addr, q, nil
}

// ownTemp reports whether a pattern lies inside this connection's
// temporary queues; any other pattern under tempRoot belongs to someone
// else.
func (c *conn) ownTemp(p address.Pattern) bool {
	return len(p) > 3 && p[0] == tempRoot && p[1] == string(message.ProtocolSTOMP) && p[2] == c.id &&
		!address.Pattern(p[:3]).HasWildcard()
}

// rewriteReplyTo turns reply-to:/temp-queue/x into the address other
// clients can send to (/queue/$tmp/stomp/<session>/x), declaring the queue
// so that a reply sent before the requester subscribes waits for it.
func (c *conn) rewriteReplyTo(v string) (string, error) {
	name, ok := strings.CutPrefix(v, prefixTempQueue)
	if !ok || name == "" {
		return v, nil
	}
	addr, _, err := c.tempQueue(name)
	if err != nil {
		return "", fmt.Errorf("reply-to %q: %w", v, err)
	}
	return prefixQueue + renderAddress(addr), nil
}

func (c *conn) onSend(f *frame.Frame) error {
	dest, ok := c.hdr(f, hDestination)
	if !ok {
		return protoErr(msgMissingHeader, "STOMP 1.2 SEND", "SEND without a destination header")
	}
	t, err := c.sendTarget(dest)
	if err != nil {
		return wrapErr(msgDestination, "", err)
	}
	if !t.temp && !c.srv.auth.Authorize(c.ident, auth.Publish, address.Pattern(t.addr)) {
		c.log.Warn("send refused", "destination", dest, "user", c.ident.User)
		return protoErr(msgDenied, "", "not allowed to send to %s", dest)
	}
	m, err := messageFromSend(f, sendInput{
		Addr: t.addr, Origin: c.origin, Now: time.Now(), Version: c.version, ReplyTo: c.replyToFn,
	})
	if err != nil {
		return err
	}
	opts := exchange.PublishOptions{EnsureQueue: t.ensure}
	if txID, ok := c.hdr(f, hTransaction); ok {
		tx, err := c.tx(txID)
		if err != nil {
			return err
		}
		return tx.add(txOp{msg: m, opts: opts, dest: dest})
	}
	p := c.srv.x.PublishPending(c.ctx, m, opts)
	if p.Ready() {
		_, perr := p.Wait(c.ctx)
		if !c.pipe.Busy() || perr != nil {
			// Complete: answered here, after what is in flight when it
			// failed, so that its ERROR follows their RECEIPTs.
			c.pipe.Drain()
			return c.published(perr, dest)
		}
	}
	receipt, _ := c.hdr(f, hReceipt)
	c.pipe.Push(sendConfirm{p: p, receipt: receipt, dest: dest})
	return errPipelined
}

// errPipelined tells dispatch that a SEND went to the confirmer, which
// writes its RECEIPT once the message is stored.
var errPipelined = errors.New("send in flight")

// published counts a completed publish to dest, or maps its error to the
// ERROR frame's. A publish completes once the exchange has the message —
// for a durable message on a durable queue, once it is stored — so a
// RECEIPT sent after it means stored (DESIGN.md §5). It is safe to call
// from the confirmer.
func (c *conn) published(err error, dest string) error {
	if err != nil {
		switch {
		case errors.Is(err, exchange.ErrQueueFull):
			return wrapErr(msgQueueFull, "", fmt.Errorf("send to %s: %w", dest, err))
		case errors.Is(err, exchange.ErrQueueNotFound):
			return wrapErr(msgNotFound, "", fmt.Errorf("send to %s: %w", dest, err))
		case errors.Is(err, exchange.ErrClosed):
			return wrapErr(msgShutdown, "", err)
		case errors.Is(err, exchange.ErrInvalid):
			return wrapErr(msgDestination, "", fmt.Errorf("send to %s: %w", dest, err))
		}
		c.log.Error("publish failed", "destination", dest, "err", err)
		return wrapErr(msgInternal, "", fmt.Errorf("send to %s: %w", dest, err))
	}
	c.reg.CountIn()
	return nil
}

// durableName returns the durable subscription name a SUBSCRIBE asks for,
// or "": durable:true with the id (RabbitMQ), durable-subscription-name
// (Artemis) or activemq.subscriptionName (ActiveMQ).
func (c *conn) durableName(f *frame.Frame, id string) string {
	if n, _ := c.hdr(f, "durable-subscription-name"); n != "" {
		return n
	}
	if n, _ := c.hdr(f, "activemq.subscriptionName"); n != "" {
		return n
	}
	if d, _ := c.hdr(f, "durable"); d == "true" {
		return id
	}
	return ""
}

func (c *conn) onSubscribe(f *frame.Frame) error {
	const clause = "STOMP 1.2 SUBSCRIBE"
	x := c.srv.x
	dest, ok := c.hdr(f, hDestination)
	if !ok {
		return protoErr(msgMissingHeader, clause, "SUBSCRIBE without a destination header")
	}
	id, hasID := c.hdr(f, hID)
	if !hasID {
		if c.version != frame.V10 {
			return protoErr(msgMissingHeader, "STOMP 1.2 SUBSCRIBE id Header", "SUBSCRIBE without an id header")
		}
		id = dest // 1.0: the destination names the subscription
	}
	ackV, hasAck := c.hdr(f, hAck)
	mode, err := parseAckMode(ackV, hasAck)
	if err != nil {
		return wrapErr(msgBadHeader, "STOMP 1.2 SUBSCRIBE ack Header", err)
	}
	if _, ok := f.Get("selector"); ok {
		return protoErr(msgSubscription, "", "selector is not supported")
	}
	credit := c.srv.cfg.Prefetch
	if mode == ackAuto {
		credit = c.srv.cfg.AutoCredit
	}
	for _, k := range []string{"prefetch-count", "activemq.prefetchSize"} {
		if v, ok := c.hdr(f, k); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return protoErr(msgBadHeader, "", "%s %q: want a positive number", k, v)
			}
			credit = min(n, c.srv.cfg.MaxPrefetch)
			break
		}
	}
	c.mu.Lock()
	_, dup := c.subs[id]
	n := len(c.subs)
	c.mu.Unlock()
	if dup {
		return protoErr(msgSubscription, "STOMP 1.2 SUBSCRIBE id Header", "subscription id %q is already in use", id)
	}
	if n >= c.srv.cfg.MaxSubscriptions {
		return protoErr(msgLimit, "", "more than %d subscriptions", c.srv.cfg.MaxSubscriptions)
	}
	d, err := parseDestination(dest)
	if err != nil {
		return wrapErr(msgDestination, "", err)
	}
	// accept: the payload format the subscriber wants (DESIGN §6), passed
	// to the transformer as written; checked before any queue is made.
	rcv := exchange.Receiver{Protocol: message.ProtocolSTOMP}
	if v, ok := c.hdr(f, hAccept); ok {
		rcv.Accept = strings.TrimSpace(v)
	}
	if err := x.CheckReceiver(rcv); err != nil {
		return c.refuseFormat(id, dest, rcv.Accept, err)
	}
	s := &subscription{c: c, id: id, hasID: hasID, dest: dest, mode: mode}
	denied := func() error {
		c.log.Warn("subscribe refused", "destination", dest, "user", c.ident.User)
		return protoErr(msgDenied, "", "not allowed to subscribe to %s", dest)
	}
	var retained address.Pattern
	switch d.kind {
	case destTopic:
		p, err := parsePattern(d.rest)
		if err != nil {
			return wrapErr(msgDestination, "", err)
		}
		own := c.ownTemp(p)
		if len(p) > 0 && p[0] == tempRoot && !own {
			return denied()
		}
		if !own && !c.srv.auth.Authorize(c.ident, auth.Subscribe, p) {
			return denied()
		}
		s.topic = true
		if name := c.durableName(f, id); name != "" {
			key := c.clientID
			if key == c.id { // no client-id header: fall back to the login
				key = c.ident.User
			}
			if key == "" {
				return protoErr(msgSubscription, "", "a durable subscription needs a client-id header or a login")
			}
			s.queue = "stomp/durable/" + key + "/" + name
			s.durable = true
			if err := x.DeclareQueue(s.queue, exchange.QueueConfig{Durable: true, Owner: "stomp/" + key}); err != nil {
				return wrapErr(msgSubscription, "", err)
			}
			// A durable subscription re-made with another pattern follows
			// the new one.
			if qs, ok := x.Queue(s.queue); ok {
				for _, b := range qs.Bindings {
					if !b.Equal(p) {
						_ = x.Unbind(s.queue, b)
					}
				}
			}
		} else {
			s.queue = "stomp/" + c.id + "/sub/" + id
			s.private = true
			if err := x.DeclareQueue(s.queue, exchange.QueueConfig{AutoDelete: true, Owner: "stomp/" + c.id}); err != nil {
				return wrapErr(msgSubscription, "", err)
			}
		}
		if err := x.Bind(s.queue, p); err != nil {
			c.dropQueue(s)
			return wrapErr(msgSubscription, "", err)
		}
		if v, _ := c.hdr(f, hRetained); v == "true" {
			retained = p
		}
	case destQueue:
		a, err := parseAddress(d.rest)
		if err == nil {
			err = checkQueueName(a)
		}
		if err != nil {
			return wrapErr(msgDestination, "", err)
		}
		p := address.Exact(a)
		if isTemp(a) {
			if !c.ownTemp(p) {
				return denied()
			}
		} else if !c.srv.auth.Authorize(c.ident, auth.Subscribe, p) {
			return denied()
		}
		s.queue = a.MQTT()
	case destTemp:
		if _, s.queue, err = c.tempQueue(d.rest); err != nil {
			return wrapErr(msgSubscription, "", err)
		}
	}
	if retained != nil {
		// x-retained: true — the retained values come first, as they do for
		// an MQTT subscription.
		for _, m := range x.Retained(retained) {
			m = m.Clone()
			m.Annotations.RetainedDelivery = true
			if err := x.Enqueue(c.ctx, s.queue, m); err != nil {
				c.log.Warn("retained delivery", "queue", s.queue, "err", err)
			}
		}
	}
	c.mu.Lock()
	c.subs[id] = s // before Consume: the handler may run before it returns
	c.mu.Unlock()
	cons, err := x.Consume(s.queue, exchange.ConsumerOptions{
		Protocol: message.ProtocolSTOMP,
		ClientID: c.clientID,
		ConnID:   c.id,
		Credit:   credit,
		AutoAck:  mode == ackAuto,
		Handler:  s.handle,
		Closed:   s.brokerClosed,
		Receiver: rcv,
	})
	if err != nil {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
		s.closed.Store(true)
		c.dropQueue(s)
		switch {
		case errors.Is(err, exchange.ErrQueueNotFound):
			return wrapErr(msgNotFound, "", fmt.Errorf("subscribe to %s: %w", dest, err))
		case errors.Is(err, exchange.ErrUnknownFormat):
			return c.refuseFormat(id, dest, rcv.Accept, err)
		}
		return wrapErr(msgSubscription, "", fmt.Errorf("subscribe to %s: %w", dest, err))
	}
	s.cons.CompareAndSwap(nil, cons)
	c.log.Debug("subscribed", "subscription", id, "destination", dest, "queue", s.queue, "ack", mode.String(), "credit", credit, "accept", rcv.Accept)
	return nil
}

// refuseFormat is the answer to a SUBSCRIBE whose accept header names a
// format the transformer cannot produce: an ERROR frame (which ends the
// session, as every STOMP ERROR does).
func (c *conn) refuseFormat(id, dest, accept string, err error) error {
	c.log.Warn("subscribe refused: unknown format", "subscription", id, "destination", dest, "accept", accept, "err", err)
	return wrapErr(msgFormat, "", fmt.Errorf("subscribe to %s: %w", dest, err))
}

// dropQueue deletes a subscription's private queue.
func (c *conn) dropQueue(s *subscription) {
	if !s.private {
		return
	}
	if err := c.srv.x.DeleteQueue(s.queue); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) && !errors.Is(err, exchange.ErrClosed) {
		c.log.Warn("delete subscription queue", "queue", s.queue, "err", err)
	}
}

func (c *conn) onUnsubscribe(f *frame.Frame) error {
	id, ok := c.hdr(f, hID)
	if !ok && c.version == frame.V10 {
		id, ok = c.hdr(f, hDestination) // 1.0: by destination
	}
	if !ok {
		return protoErr(msgMissingHeader, "STOMP 1.2 UNSUBSCRIBE", "UNSUBSCRIBE without an id header")
	}
	c.mu.Lock()
	s := c.subs[id]
	if s == nil {
		c.mu.Unlock()
		return protoErr(msgSubscription, "STOMP 1.2 UNSUBSCRIBE", "no subscription %q", id)
	}
	c.detach(s)
	c.mu.Unlock()
	c.closeSub(s)
	// UNSUBSCRIBE with durable:true also ends a durable subscription
	// (RabbitMQ's rule); a plain one, like a disconnect, keeps it.
	if d, _ := c.hdr(f, "durable"); s.durable && d == "true" {
		if err := c.srv.x.DeleteQueue(s.queue); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) {
			return wrapErr(msgSubscription, "", err)
		}
	}
	return nil
}

// detach removes s and its unacknowledged deliveries from the connection.
// Caller holds c.mu.
func (c *conn) detach(s *subscription) {
	delete(c.subs, s.id)
	s.closed.Store(true)
	for _, p := range s.unacked {
		delete(c.acks, p.ack)
	}
	s.unacked = nil
}

// closeSub closes a detached subscription's consumer (its unacknowledged
// deliveries go back to the queue) and drops its private queue.
func (c *conn) closeSub(s *subscription) {
	if cons := s.consumer(); cons != nil {
		if err := cons.Close(); err != nil {
			c.log.Warn("close consumer", "queue", s.queue, "err", err)
		}
	}
	c.dropQueue(s)
}

// onAck handles ACK and NACK in both forms: id (1.2, the MESSAGE ack
// header) and message-id plus subscription (1.0, 1.1).
func (c *conn) onAck(f *frame.Frame, nack bool) error {
	id, _ := c.hdr(f, hID)
	mid, _ := c.hdr(f, hMessageID)
	sub, _ := c.hdr(f, hSubscription)
	if c.version != frame.V12 && mid != "" {
		id = "" // a 1.0/1.1 id header, if any, is not our ack id
	}
	o := exchange.Accepted
	if nack {
		// NACK requeues with the delivery count raised (Modified), so a
		// message that keeps failing is dead-lettered after the queue's
		// MaxDeliveries; requeue:false dead-letters it at once (Rejected).
		o = exchange.Modified
		if v, _ := c.hdr(f, hRequeue); v == "false" {
			o = exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: "nack"}
		}
	}
	var tx *transaction
	if txID, ok := c.hdr(f, hTransaction); ok {
		var err error
		if tx, err = c.tx(txID); err != nil {
			return err
		}
	}
	c.mu.Lock()
	ps, err := c.findAcks(id, mid, sub)
	if err == nil && tx == nil {
		ps = c.forget(ps)
	}
	c.mu.Unlock()
	if err != nil {
		return wrapErr(msgUnknownAck, "STOMP 1.2 ACK", err)
	}
	if tx != nil {
		// Applied at COMMIT; until then the messages stay unacknowledged.
		return tx.add(txOp{acks: ps, outcome: o})
	}
	c.settle(ps, o)
	return nil
}

// transaction buffers SEND, ACK and NACK frames until COMMIT (STOMP 1.2
// "BEGIN"). Messages are mapped and authorized when sent, so COMMIT only
// publishes and settles.
type transaction struct {
	id  string
	ops []txOp
	max int
}

type txOp struct {
	msg     *message.Message // a SEND
	opts    exchange.PublishOptions
	dest    string
	acks    []*pending // an ACK or NACK
	outcome exchange.Outcome
}

func (t *transaction) add(op txOp) error {
	if len(t.ops) >= t.max {
		return protoErr(msgLimit, "", "transaction %q holds more than %d frames", t.id, t.max)
	}
	t.ops = append(t.ops, op)
	return nil
}

func (c *conn) tx(id string) (*transaction, error) {
	t := c.txs[id]
	if t == nil {
		return nil, protoErr(msgTransaction, "STOMP 1.2 BEGIN", "no transaction %q", id)
	}
	return t, nil
}

func (c *conn) txID(f *frame.Frame) (string, error) {
	id, ok := c.hdr(f, hTransaction)
	if !ok || id == "" {
		return "", protoErr(msgMissingHeader, "STOMP 1.2 BEGIN", "%s without a transaction header", f.Command)
	}
	return id, nil
}

func (c *conn) onBegin(f *frame.Frame) error {
	id, err := c.txID(f)
	if err != nil {
		return err
	}
	if c.txs[id] != nil {
		return protoErr(msgTransaction, "STOMP 1.2 BEGIN", "transaction %q is already open", id)
	}
	if len(c.txs) >= c.srv.cfg.MaxTransactions {
		return protoErr(msgLimit, "", "more than %d open transactions", c.srv.cfg.MaxTransactions)
	}
	c.txs[id] = &transaction{id: id, max: c.srv.cfg.MaxTransactionFrames}
	return nil
}

func (c *conn) onCommit(f *frame.Frame) error {
	id, err := c.txID(f)
	if err != nil {
		return err
	}
	t, err := c.tx(id)
	if err != nil {
		return err
	}
	delete(c.txs, id)
	// The SENDs are published together and waited for in order, so that
	// their durable copies share store commits; the RECEIPT of the COMMIT
	// follows once all are stored.
	var sends []*exchange.Pending
	var dests []string
	var failed error
	for _, op := range t.ops {
		if op.msg != nil {
			p := c.srv.x.PublishPending(c.ctx, op.msg, op.opts)
			if p.Ready() {
				if _, perr := p.Wait(c.ctx); perr != nil {
					failed = c.published(perr, op.dest)
					break
				}
			}
			sends, dests = append(sends, p), append(dests, op.dest)
			continue
		}
		c.mu.Lock()
		ps := c.forget(op.acks) // skips what was settled since
		c.mu.Unlock()
		c.settle(ps, op.outcome)
	}
	for i, p := range sends {
		_, perr := p.Wait(context.Background())
		if perr := c.published(perr, dests[i]); perr != nil && failed == nil {
			failed = perr
		}
	}
	return failed
}

func (c *conn) onAbort(f *frame.Frame) error {
	id, err := c.txID(f)
	if err != nil {
		return err
	}
	if _, err := c.tx(id); err != nil {
		return err
	}
	delete(c.txs, id)
	return nil
}

// onDisconnect queues the RECEIPT, if asked for, as the last frame
// (STOMP 1.2 "DISCONNECT"); the writer then closes the connection.
func (c *conn) onDisconnect(f *frame.Frame) {
	var rf *frame.Frame
	if r, ok := c.hdr(f, hReceipt); ok {
		rf = frame.New(frame.RECEIPT, hReceiptID, r)
	}
	c.log.Debug("disconnect")
	c.enqueueFinal(rf)
}

// cleanup ends the session's use of the exchange: open transactions are
// aborted ("implicitly aborted if the client sends a DISCONNECT frame or if
// the TCP connection fails", STOMP 1.2 "BEGIN"), consumers closed (their
// unacknowledged messages released), private and temporary queues
// deleted. It runs once, on the read goroutine.
func (c *conn) cleanup() {
	if c.cleaned {
		return
	}
	c.cleaned = true
	for id, t := range c.txs {
		c.log.Info("transaction aborted at disconnect", "transaction", id, "frames", len(t.ops))
	}
	clear(c.txs)
	c.mu.Lock()
	c.closing = true
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	for _, s := range subs {
		c.detach(s)
	}
	c.mu.Unlock()
	c.space.Broadcast()
	c.signal()
	for _, s := range subs {
		c.closeSub(s)
	}
	for q := range c.temps {
		if err := c.srv.x.DeleteQueue(q); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) && !errors.Is(err, exchange.ErrClosed) {
			c.log.Warn("delete temporary queue", "queue", q, "err", err)
		}
	}
	clear(c.temps)
}
