package frame

import (
	"strconv"
	"strings"
	"testing"
)

func sendFrame(body int) []byte {
	f := New(SEND, "destination", "/topic/devices/42/temp", "content-type", "application/json",
		"persistent", "true", "correlation-id", "c-1", "x-trace", "abc", "content-length", strconv.Itoa(body))
	f.Body = []byte(strings.Repeat("x", body))
	return AppendFrame(nil, f, V12)
}

// BenchmarkParse parses a stream of SEND frames with six headers. The one
// allocation per frame is the header block string; headers themselves cost
// nothing more.
func BenchmarkParse(b *testing.B) {
	for _, size := range []int{100, 4096} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			one := sendFrame(size)
			var stream []byte
			for range 64 {
				stream = append(stream, one...)
			}
			p := NewParser(Limits{})
			p.SetVersion(V12)
			n := 0
			emit := func(f *Frame) error { n += len(f.Body); return nil }
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				// 4 KiB reads, as a socket gives them.
				for i := 0; i < len(stream); i += 4096 {
					if err := p.Feed(stream[i:min(i+4096, len(stream))], emit); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	f := New(MESSAGE, "destination", "/topic/devices/42/temp", "message-id", "m-123", "subscription", "0",
		"ack", "17", "content-type", "application/json", "content-length", "100")
	f.Body = []byte(strings.Repeat("x", 100))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], f, V12)
	}
	b.SetBytes(int64(len(buf)))
}
