package mqtt

import (
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// ackFlushBytes is how many bytes of acknowledgements an ackConn holds back
// at most.
const ackFlushBytes = 4 << 10

// ackConn is the net.Conn mochi reads and writes for one TCP or TLS
// client. It holds back the acknowledgements written while the
// connection's read goroutine is busy (PUBACK, PUBREC, PUBREL, PUBCOMP:
// mochi writes one per QoS 1/2 PUBLISH, with a system call each) and
// writes them together when that goroutine next reads from the socket,
// when anything else is written (first, so the order on the wire is the
// order of the writes), or when ackFlushBytes have gathered. A publisher
// streaming QoS 1 messages then gets the PUBACKs of everything one read
// brought in with one write.
//
// An acknowledgement written while the read goroutine waits in Read (the
// session writer's PUBREL on resume, an acknowledgement racing the next
// read) goes out at once: nobody else would flush it.
type ackConn struct {
	net.Conn

	mu      sync.Mutex
	pending []byte // acknowledgements held back (guarded by mu)
	reading bool   // the read goroutine is in Conn.Read (guarded by mu)
}

func newAckConn(c net.Conn) *ackConn { return &ackConn{Conn: c} }

// Read writes what is held back, then reads.
func (c *ackConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if err := c.flushLocked(); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.reading = true
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// Write holds p back when it is one acknowledgement and the read
// goroutine is busy; otherwise it writes what is held back and p, with
// one system call where the connection allows (writev).
func (c *ackConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reading && isAck(p) && len(c.pending)+len(p) <= ackFlushBytes {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	if len(c.pending) == 0 {
		return c.Conn.Write(p)
	}
	held := len(c.pending)
	bufs := net.Buffers{c.pending, p}
	n, err := bufs.WriteTo(c.Conn)
	c.pending = c.pending[:0]
	return int(max(n-int64(held), 0)), err
}

func (c *ackConn) flushLocked() error {
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

// isAck reports whether p is exactly one PUBACK, PUBREC, PUBREL or
// PUBCOMP packet (mochi writes one packet per call) of a size that fits a
// one-byte Remaining Length, which they all have unless they carry a
// reason string or user properties.
func isAck(p []byte) bool {
	if len(p) < 2 || p[1] >= 0x80 || len(p) != 2+int(p[1]) {
		return false
	}
	switch p[0] >> 4 {
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp:
		return true
	}
	return false
}

// netConn returns the connection an ackConn wraps, or c itself.
func netConn(c net.Conn) net.Conn {
	if ac, ok := c.(*ackConn); ok {
		return ac.Conn
	}
	return c
}
