package mqtt

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/url"
	"testing"
	"time"
)

// Hand-written MQTT packets for tests that need exact bytes.

type urlT = url.URL

func varint(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// rawPacket assembles a control packet from its first byte and body parts.
func rawPacket(first byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(append([]byte{first}, varint(len(body))...), body...)
}

// rawStr is an MQTT UTF-8 string, not validated.
func rawStr(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// rawPublish0 is a QoS 0 PUBLISH with the topic bytes as given.
func rawPublish0(level byte, topic string, payload []byte) []byte {
	vh := rawStr(topic)
	if level == 5 {
		vh = append(vh, 0x00)
	}
	return rawPacket(0x30, vh, payload)
}

type rawConn struct {
	net.Conn
	r *bufio.Reader
}

type rawPkt struct {
	first byte
	body  []byte
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c := dialTCP(t, addr)
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) readTimeout(d time.Duration) (rawPkt, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	first, err := c.r.ReadByte()
	if err != nil {
		return rawPkt{}, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return rawPkt{}, errors.New("remaining length too long")
		}
		b, err := c.r.ReadByte()
		if err != nil {
			return rawPkt{}, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return rawPkt{}, err
	}
	return rawPkt{first: first, body: body}, nil
}

func (c *rawConn) read(t testing.TB) rawPkt {
	t.Helper()
	p, err := c.readTimeout(recvTimeout)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

// connect sends a clean CONNECT and checks the CONNACK accepts it.
func (c *rawConn) connect(t testing.TB, level byte, id string) rawPkt {
	t.Helper()
	var props []byte
	if level == 5 {
		props = []byte{0}
	}
	return c.connectWith(t, level, id, true, props)
}

// connectWith sends a CONNECT with the given clean flag and, for MQTT 5,
// the encoded property block (length included).
func (c *rawConn) connectWith(t testing.TB, level byte, id string, clean bool, props []byte) rawPkt {
	t.Helper()
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	vh := append(rawStr("MQTT"), level, flags, 0x00, 0x3C)
	vh = append(vh, props...)
	if _, err := c.Write(rawPacket(0x10, vh, rawStr(id))); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	p := c.read(t)
	if p.first>>4 != 2 || len(p.body) < 2 || p.body[1] != 0 {
		t.Fatalf("want a successful CONNACK, got %#x %x", p.first, p.body)
	}
	return p
}

// subscribe sends an MQTT 5 SUBSCRIBE for one filter and reads the SUBACK.
func (c *rawConn) subscribe(t testing.TB, filter string, qos byte) {
	t.Helper()
	if _, err := c.Write(rawPacket(0x82, []byte{0, 1, 0}, rawStr(filter), []byte{qos})); err != nil {
		t.Fatal(err)
	}
	p := c.read(t)
	if p.first>>4 != 9 || len(p.body) < 4 || p.body[len(p.body)-1] != qos {
		t.Fatalf("want SUBACK granting %d, got %#x %x", qos, p.first, p.body)
	}
}

// expectClosed reads until the server closes the connection; a DISCONNECT
// on the way must carry one of reasons, and none may come when reasons is
// empty (MQTT 3.1.1 servers send no DISCONNECT).
func (c *rawConn) expectClosed(t testing.TB, reasons ...byte) {
	t.Helper()
	deadline := time.Now().Add(recvTimeout)
	for {
		p, err := c.readTimeout(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("connection still open after the bad input")
			}
			return
		}
		if p.first>>4 == 14 && len(reasons) > 0 {
			code := byte(0)
			if len(p.body) > 0 {
				code = p.body[0]
			}
			ok := false
			for _, r := range reasons {
				ok = ok || r == code
			}
			if !ok {
				t.Errorf("DISCONNECT reason %#x, want one of %#x", code, reasons)
			}
			continue
		}
		t.Errorf("unexpected packet %#x %x before the close", p.first, p.body)
	}
}

// connackProp returns the value of property id in an MQTT 5 CONNACK body.
func connackProp(body []byte, id byte) []byte {
	if len(body) < 3 {
		return nil
	}
	props := body[2:]
	n, mult, i := 0, 1, 0
	for ; i < len(props); i++ {
		n += int(props[i]&0x7f) * mult
		mult *= 128
		if props[i]&0x80 == 0 {
			i++
			break
		}
	}
	props = props[i:]
	if n > len(props) {
		return nil
	}
	props = props[:n]
	for len(props) > 0 {
		pid := props[0]
		props = props[1:]
		var size int
		switch pid {
		case 0x24, 0x25, 0x28, 0x29, 0x2A:
			size = 1
		case 0x13, 0x21, 0x22:
			size = 2
		case 0x11, 0x27:
			size = 4
		case 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F:
			if len(props) < 2 {
				return nil
			}
			size = 2 + (int(props[0])<<8 | int(props[1]))
		case 0x26:
			if len(props) < 2 {
				return nil
			}
			l1 := 2 + (int(props[0])<<8 | int(props[1]))
			if len(props) < l1+2 {
				return nil
			}
			size = l1 + 2 + (int(props[l1])<<8 | int(props[l1+1]))
		default:
			return nil
		}
		if size > len(props) {
			return nil
		}
		if pid == id {
			return props[:size]
		}
		props = props[size:]
	}
	return nil
}

// rawPublish is a PUBLISH read off a raw MQTT 5 connection.
type rawPublish struct {
	qos     byte
	dup     bool
	topic   string
	id      uint16
	alias   uint16
	payload []byte
}

func parsePublish5(t testing.TB, p rawPkt) rawPublish {
	t.Helper()
	if p.first>>4 != 3 {
		t.Fatalf("want PUBLISH, got %#x %x", p.first, p.body)
	}
	r := rawPublish{qos: (p.first >> 1) & 3, dup: p.first&0x08 != 0}
	b := p.body
	n := int(b[0])<<8 | int(b[1])
	r.topic, b = string(b[2:2+n]), b[2+n:]
	if r.qos > 0 {
		r.id, b = uint16(b[0])<<8|uint16(b[1]), b[2:]
	}
	plen, mult, i := 0, 1, 0
	for ; ; i++ {
		plen += int(b[i]&0x7f) * mult
		mult *= 128
		if b[i]&0x80 == 0 {
			i++
			break
		}
	}
	props := b[i : i+plen]
	r.payload = b[i+plen:]
	for len(props) > 0 {
		switch props[0] {
		case 0x23: // Topic Alias
			r.alias = uint16(props[1])<<8 | uint16(props[2])
			props = props[3:]
		case 0x01: // Payload Format Indicator
			props = props[2:]
		case 0x02: // Message Expiry Interval
			props = props[5:]
		case 0x0B: // Subscription Identifier
			j := 1
			for props[j]&0x80 != 0 {
				j++
			}
			props = props[j+1:]
		default:
			return r // not needed by the tests
		}
	}
	return r
}

// ack writes a PUBACK (QoS 1) for id.
func (c *rawConn) puback(t testing.TB, id uint16) {
	t.Helper()
	if _, err := c.Write(rawPacket(0x40, []byte{byte(id >> 8), byte(id)})); err != nil {
		t.Fatal(err)
	}
}
