package exchange

import (
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/message"
)

// numLossyProtocols is one slot per known protocol plus one for any other.
const numLossyProtocols = len(knownProtocols) + 1

// lossyCounters count fields dropped by conversions, by origin protocol,
// receiving protocol and field, in a fixed array so that counting on the
// delivery path takes no lock and allocates nothing.
type lossyCounters [numLossyProtocols][numLossyProtocols][message.NumLostFields]atomic.Uint64

func lossyProtocolIndex(p message.Protocol) int {
	for i, k := range knownProtocols {
		if k == p {
			return i
		}
	}
	return len(knownProtocols)
}

func lossyProtocolName(i int) string {
	if i < len(knownProtocols) {
		return string(knownProtocols[i])
	}
	return "other"
}

// CountLossy records that rendering a message published over from for a
// receiver speaking to dropped the fields in lost. Front-ends call it on
// every delivery whose conversion lost something; lost == 0 is free.
func (x *Exchange) CountLossy(from, to message.Protocol, lost message.Lost) {
	if lost == 0 {
		return
	}
	f, t := lossyProtocolIndex(from), lossyProtocolIndex(to)
	lost.Each(func(i int, _ string) { x.lossy[f][t][i].Add(1) })
}

// LossyCount is one series of rosetta_conversion_lossy_total.
type LossyCount struct {
	From, To, Field string
	N               uint64
}

// Lossy returns every non-zero conversion-loss counter.
func (x *Exchange) Lossy() []LossyCount {
	var out []LossyCount
	for f := range x.lossy {
		for t := range x.lossy[f] {
			for i := range x.lossy[f][t] {
				if n := x.lossy[f][t][i].Load(); n > 0 {
					out = append(out, LossyCount{From: lossyProtocolName(f), To: lossyProtocolName(t), Field: message.FieldName(i), N: n})
				}
			}
		}
	}
	return out
}
