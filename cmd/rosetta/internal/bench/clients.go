package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/Azure/go-amqp"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// publisher sends payloads to one endpoint over one connection.
type publisher interface {
	// Publish sends payload. It may return before the broker confirmed it
	// (Confirmed then counts it later); when Reuses is false it keeps
	// payload, so the caller must pass a fresh one each time.
	Publish(ctx context.Context, payload []byte) error
	Reuses() bool
	// Flush waits until every publish is confirmed, where the endpoint's
	// mode confirms at all.
	Flush(ctx context.Context) error
	// Confirmed counts publishes the broker acknowledged, and rejected
	// ones; ok is -1 when the mode has no confirms.
	Confirmed() (ok, rejected int64)
	Close() error
}

// subscription is one running subscriber.
type subscription interface {
	Close() error
	Err() error // why it ended early; nil while running
}

// dialPublisher connects a publisher to e.
func dialPublisher(ctx context.Context, e *Endpoint, id string) (publisher, error) {
	switch {
	case e.Proto == MQTT && e.Paho:
		return dialPahoPublisher(ctx, e, id)
	case e.Proto == MQTT:
		c, err := dialMQTT(ctx, e, id, nil, true)
		if err != nil {
			return nil, err
		}
		c.onMessage = func([]byte) {}
		return &mqttPublisher{c: c, e: e}, nil
	case e.Proto == STOMP:
		return dialSTOMPPublisher(ctx, e)
	default:
		return dialAMQPPublisher(ctx, e)
	}
}

// subscribe connects a subscriber to e and returns once its subscription
// is in place; handle is called for each message from one goroutine, with
// a payload valid only during the call.
func subscribe(ctx context.Context, e *Endpoint, id string, handle func([]byte)) (subscription, error) {
	switch {
	case e.Proto == MQTT && e.Paho:
		return pahoSubscribe(ctx, e, id, handle)
	case e.Proto == MQTT:
		c, err := dialMQTT(ctx, e, id, nil, true)
		if err != nil {
			return nil, err
		}
		c.onMessage = handle
		if err := c.Subscribe(ctx, e.Dest, e.QoS, e.Accept); err != nil {
			c.Close()
			return nil, err
		}
		return &mqttSub{c}, nil
	case e.Proto == STOMP:
		return stompSubscribe(ctx, e, handle)
	default:
		return amqpSubscribe(ctx, e, handle)
	}
}

// --- MQTT, built-in client ---

type mqttPublisher struct {
	c *mqttClient
	e *Endpoint
}

func (p *mqttPublisher) Publish(ctx context.Context, b []byte) error {
	return p.c.Publish(ctx, p.e.Dest, p.e.QoS, p.e.ContentType, b)
}
func (p *mqttPublisher) Reuses() bool                    { return true }
func (p *mqttPublisher) Flush(ctx context.Context) error { return p.c.Flush(ctx) }
func (p *mqttPublisher) Close() error                    { return p.c.Close() }
func (p *mqttPublisher) Confirmed() (int64, int64) {
	if p.e.QoS == 0 {
		return -1, 0
	}
	return p.c.Confirmed.Load(), p.c.Rejected.Load()
}

type mqttSub struct{ c *mqttClient }

func (s *mqttSub) Close() error { return s.c.Close() }
func (s *mqttSub) Err() error {
	select {
	case <-s.c.readDone:
		return s.c.readErr
	default:
		return nil
	}
}

// --- MQTT, paho.mqtt.golang (client=paho, 3.1.1) ---

func pahoOptions(e *Endpoint, id string) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker("tcp://" + e.Addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetKeepAlive(0).
		SetOrderMatters(true).SetMessageChannelDepth(10000).SetProtocolVersion(4)
	if e.User != "" {
		o.SetUsername(e.User).SetPassword(e.Pass)
	}
	return o
}

func pahoWait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

type pahoPublisher struct {
	c        paho.Client
	e        *Endpoint
	window   chan paho.Token
	done     chan struct{}
	ok, fail atomic.Int64
}

func dialPahoPublisher(ctx context.Context, e *Endpoint, id string) (*pahoPublisher, error) {
	c := paho.NewClient(pahoOptions(e, id))
	if err := pahoWait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("mqtt connect %s: %w", e.Addr, err)
	}
	p := &pahoPublisher{c: c, e: e, window: make(chan paho.Token, mqttWindow), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for tok := range p.window {
			if tok.Wait(); tok.Error() != nil {
				p.fail.Add(1)
			} else {
				p.ok.Add(1)
			}
		}
	}()
	return p, nil
}

func (p *pahoPublisher) Publish(ctx context.Context, b []byte) error {
	tok := p.c.Publish(p.e.Dest, p.e.QoS, false, b)
	if p.e.QoS == 0 {
		return nil // paho completes QoS 0 tokens once written; not waited on
	}
	select {
	case p.window <- tok:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *pahoPublisher) Reuses() bool { return false }
func (p *pahoPublisher) Flush(ctx context.Context) error {
	close(p.window)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *pahoPublisher) Confirmed() (int64, int64) {
	if p.e.QoS == 0 {
		return -1, 0
	}
	return p.ok.Load(), p.fail.Load()
}
func (p *pahoPublisher) Close() error { p.c.Disconnect(250); return nil }

type pahoSub struct{ c paho.Client }

func pahoSubscribe(ctx context.Context, e *Endpoint, id string, handle func([]byte)) (*pahoSub, error) {
	c := paho.NewClient(pahoOptions(e, id))
	if err := pahoWait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("mqtt connect %s: %w", e.Addr, err)
	}
	var mu sync.Mutex // handle is called from one goroutine at a time
	tok := c.Subscribe(e.Dest, e.QoS, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		handle(m.Payload())
		mu.Unlock()
	})
	if err := pahoWait(ctx, tok); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("mqtt subscribe %q: %w", e.Dest, err)
	}
	return &pahoSub{c}, nil
}

func (s *pahoSub) Close() error { s.c.Disconnect(250); return nil }
func (s *pahoSub) Err() error {
	if !s.c.IsConnected() {
		return errors.New("mqtt: connection lost")
	}
	return nil
}

// --- STOMP, go-stomp ---

// quietLog discards go-stomp's log lines (it reports each subscription
// ended by our own DISCONNECT); errors reach the report through the
// subscription channel instead.
type quietLog struct{}

func (quietLog) Debugf(string, ...any)   {}
func (quietLog) Infof(string, ...any)    {}
func (quietLog) Warningf(string, ...any) {}
func (quietLog) Errorf(string, ...any)   {}
func (quietLog) Debug(string)            {}
func (quietLog) Info(string)             {}
func (quietLog) Warning(string)          {}
func (quietLog) Error(string)            {}

func dialSTOMP(ctx context.Context, e *Endpoint) (*stomp.Conn, error) {
	opts := []func(*stomp.Conn) error{
		stomp.ConnOpt.HeartBeat(0, 0),
		stomp.ConnOpt.Logger(quietLog{}),
		stomp.ConnOpt.Host(e.Host),
		stomp.ConnOpt.AcceptVersion(stomp.V12, stomp.V11),
		stomp.ConnOpt.ReadChannelCapacity(4096),
		stomp.ConnOpt.WriteChannelCapacity(4096),
		stomp.ConnOpt.ReadBufferSize(64 << 10),
		stomp.ConnOpt.WriteBufferSize(64 << 10),
	}
	if e.User != "" {
		opts = append(opts, stomp.ConnOpt.Login(e.User, e.Pass))
	}
	c, err := stomp.DialWithContext(ctx, "tcp", e.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("stomp connect %s: %w", e.Addr, err)
	}
	return c, nil
}

type stompPublisher struct {
	c    *stomp.Conn
	e    *Endpoint
	opts []func(*frame.Frame) error
	ok   atomic.Int64
}

func dialSTOMPPublisher(ctx context.Context, e *Endpoint) (*stompPublisher, error) {
	c, err := dialSTOMP(ctx, e)
	if err != nil {
		return nil, err
	}
	p := &stompPublisher{c: c, e: e}
	if e.Receipt {
		p.opts = append(p.opts, stomp.SendOpt.Receipt)
	}
	if e.Persistent {
		p.opts = append(p.opts, stomp.SendOpt.Header("persistent", "true"))
	}
	return p, nil
}

func (p *stompPublisher) Publish(_ context.Context, b []byte) error {
	// With a receipt, Send waits for it: one SEND in flight per publisher.
	if err := p.c.Send(p.e.Dest, p.e.ContentType, b, p.opts...); err != nil {
		return err
	}
	if p.e.Receipt {
		p.ok.Add(1)
	}
	return nil
}
func (p *stompPublisher) Reuses() bool                { return false }
func (p *stompPublisher) Flush(context.Context) error { return nil }
func (p *stompPublisher) Confirmed() (int64, int64) {
	if !p.e.Receipt {
		return -1, 0
	}
	return p.ok.Load(), 0
}
func (p *stompPublisher) Close() error { return p.c.Disconnect() }

type stompSub struct {
	c    *stomp.Conn
	s    *stomp.Subscription
	done chan struct{}
	err  error // set before done is closed
}

func stompSubscribe(ctx context.Context, e *Endpoint, handle func([]byte)) (*stompSub, error) {
	c, err := dialSTOMP(ctx, e)
	if err != nil {
		return nil, err
	}
	mode := stomp.AckAuto
	if e.Ack == "client-individual" {
		mode = stomp.AckClientIndividual
	}
	var opts []func(*frame.Frame) error
	if e.Prefetch > 0 {
		opts = append(opts, stomp.SubscribeOpt.Header("prefetch-count", strconv.Itoa(e.Prefetch)))
	}
	if e.Accept != "" {
		opts = append(opts, stomp.SubscribeOpt.Header("accept", e.Accept))
	}
	s, err := c.Subscribe(e.Dest, mode, opts...)
	if err != nil {
		c.MustDisconnect()
		return nil, fmt.Errorf("stomp subscribe %q: %w", e.Dest, err)
	}
	// The broker handles a connection's frames in order, so once an
	// ABORT's receipt is back the SUBSCRIBE before it is in place.
	if err := c.Begin().AbortWithReceipt(); err != nil {
		c.MustDisconnect()
		return nil, fmt.Errorf("stomp subscribe %q: barrier: %w", e.Dest, err)
	}
	sub := &stompSub{c: c, s: s, done: make(chan struct{})}
	go func() {
		defer close(sub.done)
		for m := range s.C {
			if m.Err != nil {
				sub.err = m.Err
				return
			}
			handle(m.Body)
			if mode != stomp.AckAuto {
				if err := c.Ack(m); err != nil {
					sub.err = err
					return
				}
			}
		}
	}()
	return sub, nil
}

func (s *stompSub) Close() error { return s.c.MustDisconnect() }
func (s *stompSub) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// --- AMQP 1.0, go-amqp ---

func dialAMQP(ctx context.Context, e *Endpoint) (*amqp.Conn, *amqp.Session, error) {
	opts := &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), MaxFrameSize: 1 << 20}
	if e.User != "" {
		opts.SASLType = amqp.SASLTypePlain(e.User, e.Pass)
	}
	host, _, _ := net.SplitHostPort(e.Addr)
	opts.HostName = host
	c, err := amqp.Dial(ctx, "amqp://"+e.Addr, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("amqp connect %s: %w", e.Addr, err)
	}
	s, err := c.NewSession(ctx, &amqp.SessionOptions{MaxLinks: 16})
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("amqp session %s: %w", e.Addr, err)
	}
	return c, s, nil
}

// amqpWindow bounds unsettled transfers awaiting the broker's disposition.
const amqpWindow = 1000

type amqpPublisher struct {
	c        *amqp.Conn
	s        *amqp.Sender
	e        *Endpoint
	receipts chan amqp.SendReceipt
	done     chan struct{}
	ok, fail atomic.Int64
}

func dialAMQPPublisher(ctx context.Context, e *Endpoint) (*amqpPublisher, error) {
	c, s, err := dialAMQP(ctx, e)
	if err != nil {
		return nil, err
	}
	mode := amqp.SenderSettleModeSettled
	if !e.Settled {
		mode = amqp.SenderSettleModeUnsettled
	}
	snd, err := s.NewSender(ctx, e.Dest, &amqp.SenderOptions{SettlementMode: mode.Ptr()})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("amqp sender %q: %w", e.Dest, err)
	}
	p := &amqpPublisher{c: c, s: snd, e: e, receipts: make(chan amqp.SendReceipt, amqpWindow), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for rc := range p.receipts {
			st, err := rc.Wait(context.Background())
			if _, ok := st.(*amqp.StateAccepted); err == nil && ok {
				p.ok.Add(1)
			} else {
				p.fail.Add(1)
			}
		}
	}()
	return p, nil
}

func (p *amqpPublisher) Publish(ctx context.Context, b []byte) error {
	m := amqp.NewMessage(b)
	if p.e.Durable {
		m.Header = &amqp.MessageHeader{Durable: true}
	}
	if p.e.ContentType != "" {
		m.Properties = &amqp.MessageProperties{ContentType: &p.e.ContentType}
	}
	if p.e.Settled {
		return p.s.Send(ctx, m, nil)
	}
	rc, err := p.s.SendWithReceipt(ctx, m, nil)
	if err != nil {
		return err
	}
	select {
	case p.receipts <- rc:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *amqpPublisher) Reuses() bool { return false }
func (p *amqpPublisher) Flush(ctx context.Context) error {
	close(p.receipts)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *amqpPublisher) Confirmed() (int64, int64) {
	if p.e.Settled {
		return -1, 0
	}
	return p.ok.Load(), p.fail.Load()
}
func (p *amqpPublisher) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.s.Close(ctx)
	return p.c.Close()
}

type amqpSub struct {
	c      *amqp.Conn
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// amqpSubscribe attaches a receiver that manages its credit itself: it
// grants credit up front and tops it up by half whenever half of it was
// used, so the broker never waits for a flow frame per message. Unsettled
// deliveries are accepted from a second goroutine, so the one-frame-per-
// message disposition go-amqp sends overlaps with receiving.
func amqpSubscribe(ctx context.Context, e *Endpoint, handle func([]byte)) (*amqpSub, error) {
	c, s, err := dialAMQP(ctx, e)
	if err != nil {
		return nil, err
	}
	credit := e.Credit
	if credit == 0 {
		credit = DefaultCredit
	}
	opts := &amqp.ReceiverOptions{Credit: -1}
	if e.Settled {
		opts.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
	} else {
		opts.RequestedSenderSettleMode = amqp.SenderSettleModeUnsettled.Ptr()
	}
	if e.Accept != "" {
		opts.Properties = map[string]any{"accept": e.Accept}
	}
	r, err := s.NewReceiver(ctx, e.Dest, opts)
	if err == nil {
		err = r.IssueCredit(uint32(credit))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("amqp receiver %q: %w", e.Dest, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	sub := &amqpSub{c: c, cancel: cancel, done: make(chan struct{})}
	var accepts chan *amqp.Message
	acceptDone := make(chan struct{})
	if !e.Settled {
		accepts = make(chan *amqp.Message, credit)
		go func() {
			defer close(acceptDone)
			for m := range accepts {
				if err := r.AcceptMessage(rctx, m); err != nil {
					return
				}
			}
		}()
	} else {
		close(acceptDone)
	}
	go func() {
		defer close(sub.done)
		defer func() {
			if accepts != nil {
				close(accepts)
			}
			<-acceptDone
		}()
		used, half := 0, max(credit/2, 1)
		for {
			m, err := r.Receive(rctx, nil)
			if err != nil {
				if rctx.Err() == nil {
					sub.err = err
				}
				return
			}
			handle(m.GetData())
			if accepts != nil {
				accepts <- m
			}
			if used++; used >= half {
				if err := r.IssueCredit(uint32(used)); err != nil {
					sub.err = err
					return
				}
				used = 0
			}
		}
	}()
	return sub, nil
}

func (s *amqpSub) Close() error {
	s.cancel()
	<-s.done
	return s.c.Close()
}
func (s *amqpSub) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}
