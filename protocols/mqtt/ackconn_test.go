package mqtt

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		got <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// readN reads exactly n bytes from c within a second, or fails.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// nothing checks that c has nothing to read for a moment.
func nothing(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [64]byte
	if n, err := c.Read(b[:]); n > 0 || err == nil {
		t.Fatalf("got %x before the flush", b[:n])
	}
}

func TestAckConn(t *testing.T) {
	puback := func(id byte) []byte { return []byte{0x40, 0x02, 0x00, id} }
	pubrel := []byte{0x62, 0x02, 0x00, 0x09}
	publish := []byte{0x30, 0x05, 0x00, 0x01, 't', 'x', 'y'}

	t.Run("held until the next read", func(t *testing.T) {
		server, client := tcpPair(t)
		ac := newAckConn(server)
		for id := range byte(3) {
			if n, err := ac.Write(puback(id)); n != 4 || err != nil {
				t.Fatal(n, err)
			}
		}
		nothing(t, client)
		if _, err := client.Write([]byte{0xC0, 0x00}); err != nil { // PINGREQ, for the Read
			t.Fatal(err)
		}
		var b [2]byte
		if _, err := ac.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		if got, want := readN(t, client, 12), bytes.Join([][]byte{puback(0), puback(1), puback(2)}, nil); !bytes.Equal(got, want) {
			t.Errorf("got %x, want %x", got, want)
		}
	})

	t.Run("written at once while the reader waits", func(t *testing.T) {
		server, client := tcpPair(t)
		ac := newAckConn(server)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var b [1]byte
			_, _ = ac.Read(b[:])
		}()
		deadline := time.Now().Add(time.Second)
		for {
			ac.mu.Lock()
			r := ac.reading
			ac.mu.Unlock()
			if r || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := ac.Write(pubrel); err != nil {
			t.Fatal(err)
		}
		if got := readN(t, client, 4); !bytes.Equal(got, pubrel) {
			t.Errorf("got %x", got)
		}
		_, _ = client.Write([]byte{0})
		<-done
	})

	t.Run("other packets go after the held ones", func(t *testing.T) {
		server, client := tcpPair(t)
		ac := newAckConn(server)
		_, _ = ac.Write(puback(1))
		if n, err := ac.Write(publish); n != len(publish) || err != nil {
			t.Fatal(n, err)
		}
		if got, want := readN(t, client, 4+len(publish)), append(puback(1), publish...); !bytes.Equal(got, want) {
			t.Errorf("got %x, want %x", got, want)
		}
	})

	t.Run("flushed past ackFlushBytes", func(t *testing.T) {
		server, client := tcpPair(t)
		ac := newAckConn(server)
		n := ackFlushBytes/4 + 1
		for i := range n {
			_, _ = ac.Write(puback(byte(i)))
		}
		readN(t, client, 4*n) // the one past the limit takes the held ones along, without a read
	})
}

func TestIsAck(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want bool
	}{
		{[]byte{0x40, 0x02, 0, 1}, true},
		{[]byte{0x50, 0x03, 0, 1, 0x10}, true},
		{[]byte{0x62, 0x02, 0, 1}, true},
		{[]byte{0x70, 0x02, 0, 1}, true},
		{[]byte{0x40, 0x02, 0, 1, 0x40, 0x02, 0, 2}, false}, // two packets
		{[]byte{0x40, 0x02, 0}, false},
		{[]byte{0x30, 0x02, 0, 0}, false},
		{[]byte{0x90, 0x03, 0, 1, 0}, false},
		{[]byte{0x40}, false},
		{nil, false},
	} {
		if got := isAck(tc.p); got != tc.want {
			t.Errorf("isAck(%x) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
