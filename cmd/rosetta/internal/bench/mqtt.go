package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The built-in MQTT client: a lean 3.1.1 and 5 client that pipelines QoS
// 1 and 2 publishes within a window, writes through a double buffer
// flushed by its own goroutine (so a burst of publishes becomes one write
// syscall) and reads through a 64 KiB buffer. It exists because the bench
// must not be the bottleneck it measures: paho.mqtt.golang's per-message
// token and goroutine hand-offs cost more than a broker's routing does
// (docs/benchmarks.md has the figures; client=paho selects it).

const (
	mqttMaxPacket  = 64 << 20 // bytes; a larger incoming packet closes the connection
	mqttWriteLimit = 1 << 20  // bytes buffered before a publisher waits
	mqttWindow     = 1000     // QoS>0 publishes in flight without inflight=N; never above the server's Receive Maximum
)

// MQTT control packet types (MQTT 3.1.1 §2.2.1, MQTT 5 §2.1.2).
const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktPubrec     = 5
	pktPubrel     = 6
	pktPubcomp    = 7
	pktSubscribe  = 8
	pktSuback     = 9
	pktPingresp   = 13
	pktDisconnect = 14
)

// mqttClient is one connection. Publish may be called from one goroutine
// at a time; the read loop runs in its own goroutine and calls onMessage
// with a payload that is only valid during the call.
type mqttClient struct {
	nc net.Conn
	v5 bool
	br *bufio.Reader

	onMessage func(payload []byte)

	wmu      sync.Mutex
	wcond    *sync.Cond
	wbuf     []byte // guarded by wmu: bytes waiting for the flusher
	werr     error  // guarded by wmu: the first write error
	wclosed  bool   // guarded by wmu
	kick     chan struct{}
	flushed  chan struct{} // closed when the flusher has exited
	readDone chan struct{} // closed when the read loop has exited
	readErr  error         // set before readDone is closed

	window chan struct{} // one token per QoS>0 publish in flight

	idMu   sync.Mutex
	inUse  [65536]bool // guarded by idMu: packet identifiers in flight
	nextID uint16      // guarded by idMu

	qos2in  map[uint16]bool // read loop only: QoS 2 packet ids awaiting PUBREL
	subacks chan []byte     // SUBACK reason codes

	Confirmed atomic.Int64 // QoS>0 publishes acknowledged with success
	Rejected  atomic.Int64 // QoS>0 publishes acknowledged with a failure reason (MQTT 5)
}

// dialMQTT connects and completes CONNECT/CONNACK. With start set it starts
// the read and flush goroutines; without, the connection only sits there
// (the idle-connections mode).
func dialMQTT(ctx context.Context, e *Endpoint, clientID string, local net.Addr, start bool) (*mqttClient, error) {
	d := net.Dialer{LocalAddr: local}
	nc, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c := &mqttClient{
		nc:       nc,
		v5:       e.Version == 5,
		br:       bufio.NewReaderSize(nc, 64<<10),
		kick:     make(chan struct{}, 1),
		flushed:  make(chan struct{}),
		readDone: make(chan struct{}),
		qos2in:   make(map[uint16]bool),
		subacks:  make(chan []byte, 1),
	}
	c.wcond = sync.NewCond(&c.wmu)
	if !start {
		c.br = bufio.NewReaderSize(nc, 256) // CONNACK only
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	receiveMax, err := c.connect(e, clientID)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqtt connect %s: %w", e.Addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	window := mqttWindow
	if e.Inflight > 0 {
		window = e.Inflight
	}
	c.window = make(chan struct{}, min(receiveMax, window))
	if start {
		go c.flushLoop()
		go c.readLoop()
	}
	return c, nil
}

func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func readVarint(r io.ByteReader) (int, error) {
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			return n, nil
		}
		mul *= 128
	}
	return 0, errors.New("malformed remaining length")
}

// packet appends a packet of type b0 (first byte) with body to dst.
func packet(dst []byte, b0 byte, body []byte) []byte {
	dst = append(dst, b0)
	dst = appendVarint(dst, len(body))
	return append(dst, body...)
}

// connect writes CONNECT and reads CONNACK; it returns the server's
// Receive Maximum (65535 when it set none).
func (c *mqttClient) connect(e *Endpoint, clientID string) (int, error) {
	var body []byte
	body = appendString(body, "MQTT")
	level, flags := byte(4), byte(0x02) // clean session / clean start
	if c.v5 {
		level = 5
	}
	if e.User != "" {
		flags |= 0x80
		if e.Pass != "" {
			flags |= 0x40
		}
	}
	body = append(body, level, flags, 0, 0) // keep alive 0: off
	if c.v5 {
		body = append(body, 0) // no properties
	}
	body = appendString(body, clientID)
	if e.User != "" {
		body = appendString(body, e.User)
		if e.Pass != "" {
			body = appendString(body, e.Pass)
		}
	}
	if _, err := c.nc.Write(packet(nil, pktConnect<<4, body)); err != nil {
		return 0, err
	}
	b0, p, err := c.readPacket(nil)
	if err != nil {
		return 0, err
	}
	if b0>>4 != pktConnack || len(p) < 2 {
		return 0, fmt.Errorf("expected CONNACK, got packet type %d", b0>>4)
	}
	if p[1] != 0 {
		return 0, fmt.Errorf("CONNACK return code 0x%02x", p[1])
	}
	receiveMax := 65535
	if c.v5 {
		props, _, err := splitProps(p[2:])
		if err != nil {
			return 0, err
		}
		_ = walkProps(props, func(id byte, v []byte) {
			if id == 0x21 && len(v) == 2 { // Receive Maximum
				receiveMax = int(binary.BigEndian.Uint16(v))
			}
		})
	}
	return receiveMax, nil
}

// readPacket reads one packet into buf (grown as needed) and returns its
// first byte and body.
func (c *mqttClient) readPacket(buf []byte) (byte, []byte, error) {
	b0, err := c.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readVarint(c.br)
	if err != nil {
		return 0, nil, err
	}
	if n > mqttMaxPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes exceeds %d", n, mqttMaxPacket)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(c.br, buf)
	return b0, buf, err
}

// splitProps splits an MQTT 5 property block off the front of p.
func splitProps(p []byte) (props, rest []byte, err error) {
	n, used := 0, 0
	for mul := 1; ; mul *= 128 {
		if used >= len(p) || used == 4 {
			return nil, nil, errors.New("malformed property length")
		}
		d := p[used]
		used++
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
	}
	if used+n > len(p) {
		return nil, nil, errors.New("property length exceeds packet")
	}
	return p[used : used+n], p[used+n:], nil
}

// walkProps calls fn for each property with its raw value (MQTT 5 §2.2.2.2).
func walkProps(p []byte, fn func(id byte, v []byte)) error {
	for len(p) > 0 {
		id := p[0]
		p = p[1:]
		var n int
		switch id {
		case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A:
			n = 1
		case 0x13, 0x21, 0x22, 0x23:
			n = 2
		case 0x02, 0x11, 0x18, 0x27:
			n = 4
		case 0x0B:
			n = 1
			for n <= len(p) && p[n-1]&0x80 != 0 {
				n++
			}
		case 0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F:
			if len(p) < 2 {
				return errors.New("short property")
			}
			n = 2 + int(binary.BigEndian.Uint16(p))
		case 0x26:
			if len(p) < 2 {
				return errors.New("short property")
			}
			k := 2 + int(binary.BigEndian.Uint16(p))
			if len(p) < k+2 {
				return errors.New("short property")
			}
			n = k + 2 + int(binary.BigEndian.Uint16(p[k:]))
		default:
			return fmt.Errorf("unknown property 0x%02x", id)
		}
		if n > len(p) {
			return errors.New("short property")
		}
		fn(id, p[:n])
		p = p[n:]
	}
	return nil
}

// enqueue appends a packet to the write buffer. Publishes (wait set) wait
// while the buffer is over mqttWriteLimit; acknowledgements never wait, so
// the read loop cannot stall behind a publisher.
func (c *mqttClient) enqueue(wait bool, fill func([]byte) []byte) error {
	c.wmu.Lock()
	for wait && len(c.wbuf) >= mqttWriteLimit && c.werr == nil && !c.wclosed {
		c.wcond.Wait()
	}
	if c.werr != nil || c.wclosed {
		err := c.werr
		c.wmu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return err
	}
	c.wbuf = fill(c.wbuf)
	c.wmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// flushLoop writes whatever accumulated, one write per wake-up.
func (c *mqttClient) flushLoop() {
	defer close(c.flushed)
	var spare []byte
	for range c.kick {
		c.wmu.Lock()
		out := c.wbuf
		c.wbuf = spare[:0]
		closed := c.wclosed
		c.wcond.Broadcast()
		c.wmu.Unlock()
		if len(out) > 0 {
			if _, err := c.nc.Write(out); err != nil {
				c.wmu.Lock()
				c.werr = err
				c.wcond.Broadcast()
				c.wmu.Unlock()
				return
			}
		}
		spare = out
		if closed {
			return
		}
	}
}

// allocID returns a free packet identifier; the caller holds a window token.
func (c *mqttClient) allocID() uint16 {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	for {
		c.nextID++
		if c.nextID != 0 && !c.inUse[c.nextID] {
			c.inUse[c.nextID] = true
			return c.nextID
		}
	}
}

func (c *mqttClient) release(id uint16, ok bool) {
	c.idMu.Lock()
	was := c.inUse[id]
	c.inUse[id] = false
	c.idMu.Unlock()
	if !was {
		return
	}
	if ok {
		c.Confirmed.Add(1)
	} else {
		c.Rejected.Add(1)
	}
	<-c.window
}

// Publish queues one PUBLISH; at QoS > 0 it first waits for a window slot.
// payload may be reused when it returns.
func (c *mqttClient) Publish(ctx context.Context, topic string, qos byte, contentType string, payload []byte) error {
	var id uint16
	if qos > 0 {
		select {
		case c.window <- struct{}{}:
		case <-c.readDone:
			return c.readErr
		case <-ctx.Done():
			return ctx.Err()
		}
		id = c.allocID()
	}
	return c.enqueue(true, func(b []byte) []byte {
		n := 2 + len(topic) + len(payload)
		if qos > 0 {
			n += 2
		}
		var props []byte
		if c.v5 {
			if contentType != "" {
				props = appendString([]byte{0x03}, contentType)
			}
			n += len(appendVarint(nil, len(props))) + len(props)
		}
		b = append(b, pktPublish<<4|qos<<1)
		b = appendVarint(b, n)
		b = appendString(b, topic)
		if qos > 0 {
			b = binary.BigEndian.AppendUint16(b, id)
		}
		if c.v5 {
			b = appendVarint(b, len(props))
			b = append(b, props...)
		}
		return append(b, payload...)
	})
}

// Subscribe subscribes to filter and waits for the SUBACK.
func (c *mqttClient) Subscribe(ctx context.Context, filter string, qos byte, accept string) error {
	var body []byte
	body = binary.BigEndian.AppendUint16(body, 1) // packet id 1 is never in flight yet
	if c.v5 {
		var props []byte
		if accept != "" {
			props = appendString(appendString([]byte{0x26}, "accept"), accept)
		}
		body = appendVarint(body, len(props))
		body = append(body, props...)
	}
	body = appendString(body, filter)
	body = append(body, qos)
	if err := c.enqueue(false, func(b []byte) []byte { return packet(b, pktSubscribe<<4|0x02, body) }); err != nil {
		return err
	}
	select {
	case codes := <-c.subacks:
		if len(codes) != 1 || codes[0] >= 0x80 {
			return fmt.Errorf("mqtt subscribe %q: refused (SUBACK %x)", filter, codes)
		}
		return nil
	case <-c.readDone:
		return fmt.Errorf("mqtt subscribe %q: %w", filter, c.readErr)
	case <-ctx.Done():
		return fmt.Errorf("mqtt subscribe %q: no SUBACK: %w", filter, ctx.Err())
	}
}

// Flush waits until every QoS>0 publish is acknowledged.
func (c *mqttClient) Flush(ctx context.Context) error {
	for len(c.window) > 0 {
		select {
		case <-c.readDone:
			return c.readErr
		case <-ctx.Done():
			return fmt.Errorf("mqtt: %d publishes unacknowledged: %w", len(c.window), ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Close sends DISCONNECT, flushes and closes the connection.
func (c *mqttClient) Close() error {
	_ = c.enqueue(false, func(b []byte) []byte { return append(b, pktDisconnect<<4, 0) })
	c.wmu.Lock()
	c.wclosed = true
	c.wcond.Broadcast()
	c.wmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case <-c.flushed:
	case <-time.After(2 * time.Second):
	}
	return c.nc.Close()
}

// ack queues a two-byte-identifier acknowledgement (PUBACK, PUBREC,
// PUBREL, PUBCOMP).
func (c *mqttClient) ack(b0 byte, id uint16) {
	_ = c.enqueue(false, func(b []byte) []byte {
		return binary.BigEndian.AppendUint16(append(b, b0, 2), id)
	})
}

func (c *mqttClient) readLoop() {
	var buf []byte
	err := func() error {
		for {
			b0, p, err := c.readPacket(buf)
			if err != nil {
				return err
			}
			if cap(p) > cap(buf) {
				buf = p
			}
			switch b0 >> 4 {
			case pktPublish:
				if err := c.onPublish(b0, p); err != nil {
					return err
				}
			case pktPuback, pktPubcomp:
				if len(p) < 2 {
					return errors.New("short acknowledgement")
				}
				ok := !c.v5 || len(p) < 3 || p[2] < 0x80
				c.release(binary.BigEndian.Uint16(p), ok)
			case pktPubrec:
				if len(p) < 2 {
					return errors.New("short PUBREC")
				}
				id := binary.BigEndian.Uint16(p)
				if c.v5 && len(p) >= 3 && p[2] >= 0x80 {
					c.release(id, false)
					continue
				}
				c.ack(pktPubrel<<4|0x02, id)
			case pktPubrel:
				if len(p) < 2 {
					return errors.New("short PUBREL")
				}
				id := binary.BigEndian.Uint16(p)
				delete(c.qos2in, id)
				c.ack(pktPubcomp<<4, id)
			case pktSuback:
				if len(p) < 2 {
					return errors.New("short SUBACK")
				}
				codes := p[2:]
				if c.v5 {
					_, rest, err := splitProps(codes)
					if err != nil {
						return err
					}
					codes = rest
				}
				select {
				case c.subacks <- append([]byte(nil), codes...):
				default:
				}
			case pktPingresp:
			case pktDisconnect:
				if len(p) > 0 {
					return fmt.Errorf("server sent DISCONNECT 0x%02x", p[0])
				}
				return errors.New("server sent DISCONNECT")
			default:
				return fmt.Errorf("unexpected packet type %d", b0>>4)
			}
		}
	}()
	c.readErr = err
	close(c.readDone)
}

func (c *mqttClient) onPublish(b0 byte, p []byte) error {
	qos := (b0 >> 1) & 3
	if len(p) < 2 {
		return errors.New("short PUBLISH")
	}
	pos := 2 + int(binary.BigEndian.Uint16(p))
	var id uint16
	if qos > 0 {
		if len(p) < pos+2 {
			return errors.New("short PUBLISH")
		}
		id = binary.BigEndian.Uint16(p[pos:])
		pos += 2
	}
	if pos > len(p) {
		return errors.New("short PUBLISH")
	}
	payload := p[pos:]
	if c.v5 {
		_, rest, err := splitProps(payload)
		if err != nil {
			return err
		}
		payload = rest
	}
	switch qos {
	case 0:
		c.onMessage(payload)
	case 1:
		c.onMessage(payload)
		c.ack(pktPuback<<4, id)
	case 2:
		// Exactly once: a resent PUBLISH before our PUBREC got through is
		// acknowledged again, not delivered again (MQTT-4.3.3-9).
		if !c.qos2in[id] {
			c.qos2in[id] = true
			c.onMessage(payload)
		}
		c.ack(pktPubrec<<4, id)
	}
	return nil
}
