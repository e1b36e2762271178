package frames_test

import (
	"bytes"
	"fmt"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// A connection's read loop: the protocol header, then frames, each split
// into a performative and its payload.
func ExampleReader() {
	// What a client sends: the AMQP header, open, begin, a transfer with a
	// payload and a heartbeat.
	var wire []byte
	wire = frames.HeaderAMQP.Append(wire)
	wire, _ = frames.AppendFrame(wire, 0, &frames.Open{ContainerID: "client", MaxFrameSize: encoding.Some[uint32](65536)}, nil)
	wire, _ = frames.AppendFrame(wire, 0, &frames.Begin{IncomingWindow: 100, OutgoingWindow: 100}, nil)
	wire, _ = frames.AppendFrame(wire, 0, &frames.Transfer{Handle: 0, DeliveryID: encoding.Some[frames.DeliveryNumber](0)}, []byte("payload"))
	wire = frames.AppendEmptyFrame(wire)

	r := frames.NewReader(bytes.NewReader(wire), 0) // 512 bytes until open is exchanged (§2.4.1)
	hdr, err := r.ReadProtocolHeader()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hdr)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return // io.EOF here; a *FrameError names the condition to close with
		}
		perf, payload, err := frames.ParseBody(f.Body)
		switch p := perf.(type) {
		case nil:
			fmt.Println("heartbeat", err)
		case *frames.Open:
			fmt.Println("open", p.ContainerID, p.MaxFrameSizeOrDefault())
			r.SetMaxFrameSize(1 << 20) // the max-frame-size we announced in our open
		case *frames.Transfer:
			fmt.Printf("transfer handle=%d payload=%q\n", p.Handle, payload)
		default:
			fmt.Printf("%T\n", p)
		}
	}
	// Output:
	// AMQP 0 1.0.0
	// open client 65536
	// *frames.Begin
	// transfer handle=0 payload="payload"
	// heartbeat <nil>
}
