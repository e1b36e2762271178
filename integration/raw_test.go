package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// Hand-written MQTT packets for the bad-input tests. Section numbers are
// those of MQTT 5.0 (OASIS Standard, 7 March 2019) unless marked 3.1.1.

// varint encodes n as a Variable Byte Integer (§1.5.5).
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

// packet assembles a control packet: the first fixed-header byte, the
// Remaining Length (§2.1.4) and the body parts.
func packet(first byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(append([]byte{first}, varint(len(body))...), body...)
}

// str is a UTF-8 Encoded String (§1.5.4): a two-byte length, then the
// bytes, which are deliberately not validated here.
func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// rawConnect is a CONNECT (§3.1) for protocol level 4 (3.1.1) or 5 with
// Clean Start / Clean Session, keep alive 60 s and no will or credentials.
func rawConnect(level byte, id string) []byte {
	vh := append(str("MQTT"), level, 0x02, 0x00, 0x3C) // name, level, flags, keep alive
	if level == 5 {
		vh = append(vh, 0x00) // property length 0 (§3.1.2.11)
	}
	return packet(0x10, vh, str(id))
}

// rawPublishQoS0 is a QoS 0 PUBLISH (§3.3) with the topic bytes as given.
func rawPublishQoS0(level byte, topic string, payload []byte) []byte {
	vh := str(topic)
	if level == 5 {
		vh = append(vh, 0x00) // property length 0 (§3.3.2.3)
	}
	return packet(0x30, vh, payload)
}

// rawConn is a hand-driven MQTT connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialTCP(t, addr)
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// rawPacket is one packet read off a rawConn.
type rawPacket struct {
	First byte // packet type << 4 | flags
	Body  []byte
}

func (p rawPacket) Type() byte { return p.First >> 4 }

// read reads one control packet.
func (c *rawConn) read(timeout time.Duration) (rawPacket, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	first, err := c.r.ReadByte()
	if err != nil {
		return rawPacket{}, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return rawPacket{}, errors.New("remaining length longer than 4 bytes")
		}
		b, err := c.r.ReadByte()
		if err != nil {
			return rawPacket{}, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return rawPacket{}, err
	}
	return rawPacket{First: first, Body: body}, nil
}

// connect sends a CONNECT and checks the CONNACK accepts it; it returns
// the CONNACK.
func (c *rawConn) connect(t *testing.T, level byte, id string) rawPacket {
	t.Helper()
	if _, err := c.Write(rawConnect(level, id)); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	p, err := c.read(opTimeout)
	if err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if p.Type() != 2 || len(p.Body) < 2 || p.Body[1] != 0 {
		t.Fatalf("want a successful CONNACK, got type %d body %x", p.Type(), p.Body)
	}
	return p
}

// expectClosed reads until the server closes the connection. A DISCONNECT
// on the way (MQTT 5 §4.13: the server MAY send one before closing) must
// carry one of reasons; with no reasons, no packet at all may arrive (an
// MQTT 3.1.1 server never sends DISCONNECT, and a server that has not seen
// a CONNECT does not know which protocol to answer in). It returns the
// DISCONNECT reason code seen, or -1.
func (c *rawConn) expectClosed(t *testing.T, reasons ...byte) int {
	t.Helper()
	return c.expectClosedWith(t, reasons, nil)
}

// expectClosedWith is expectClosed that also accepts a CONNACK refusing
// the connection with one of connack's codes.
func (c *rawConn) expectClosedWith(t *testing.T, reasons, connack []byte) int {
	t.Helper()
	seen := -1
	deadline := time.Now().Add(recvTimeout)
	for {
		p, err := c.read(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("connection still open %v after the bad input (want it closed)", recvTimeout)
			}
			return seen // EOF or reset: closed
		}
		switch {
		case p.Type() == 14 && len(reasons) > 0: // DISCONNECT (§3.14)
			code := byte(0x00) // §3.14.2.1: no reason code byte means 0x00
			if len(p.Body) > 0 {
				code = p.Body[0]
			}
			seen = int(code)
			if !containsByte(reasons, code) {
				t.Errorf("DISCONNECT reason %#x, want one of %#x (body %x)", code, reasons, p.Body)
			}
		case p.Type() == 2 && len(connack) > 0 && len(p.Body) >= 2 && containsByte(connack, p.Body[1]): // CONNACK (§3.2)
		default:
			t.Errorf("unexpected packet type %d (body %x) before the close", p.Type(), p.Body)
		}
	}
}

// connackProperty returns the value bytes of property id in an MQTT 5
// CONNACK body, or nil. It understands the property types a CONNACK can
// carry (§3.2.2.3).
func connackProperty(t *testing.T, body []byte, id byte) []byte {
	t.Helper()
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
		t.Fatalf("CONNACK property length %d > %d", n, len(props))
	}
	props = props[:n]
	for len(props) > 0 {
		pid := props[0]
		props = props[1:]
		var size int
		switch pid {
		case 0x24, 0x25, 0x28, 0x29, 0x2A: // byte
			size = 1
		case 0x13, 0x21, 0x22: // two-byte integer
			size = 2
		case 0x11, 0x27: // four-byte integer
			size = 4
		case 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F: // string or binary data
			if len(props) < 2 {
				t.Fatalf("truncated CONNACK property %#x", pid)
			}
			size = 2 + (int(props[0])<<8 | int(props[1]))
		case 0x26: // user property: two strings
			if len(props) < 2 {
				t.Fatalf("truncated CONNACK user property")
			}
			l1 := 2 + (int(props[0])<<8 | int(props[1]))
			if len(props) < l1+2 {
				t.Fatalf("truncated CONNACK user property")
			}
			l2 := 2 + (int(props[l1])<<8 | int(props[l1+1]))
			size = l1 + l2
		default:
			t.Fatalf("unknown CONNACK property %#x", pid)
		}
		if size > len(props) {
			t.Fatalf("truncated CONNACK property %#x", pid)
		}
		if pid == id {
			return props[:size]
		}
		props = props[size:]
	}
	return nil
}

// maxPacketConfig is a config setting the MQTT maximum packet size
// (docs/configuration.md, limits.max_packet_size). With a config file
// anonymous access is off unless enabled, so it is enabled.
func maxPacketConfig(n int) string {
	return fmt.Sprintf("auth:\n  allow_anonymous: true\nlimits:\n  max_packet_size: %d\n", n)
}
