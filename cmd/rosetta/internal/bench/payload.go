package bench

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// HeaderSize is the size in bytes of the header every bench payload starts
// with; a payload is never shorter.
const HeaderSize = 40

// magic opens every bench payload; a payload without it is not a bench
// message at all (a retained message, another tool's traffic) and is
// counted foreign, not corrupt.
var magic = [4]byte{'R', 'B', 'v', '1'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is what a bench payload carries in front of its padding.
//
// Layout, little endian: magic [0:4], RunID [4:12], Publisher [12:16],
// Seq [16:24], SentNS [24:32], total length [32:36], CRC-32C [36:40] of
// everything else (header bytes 0..35, then the padding).
type Header struct {
	RunID     uint64 // random per bench run
	Publisher uint32 // publisher number within the run, from 0
	Seq       uint64 // per-publisher sequence number, from 0
	SentNS    int64  // wall clock at send, Unix nanoseconds
}

// Decode errors. ErrNotBench means the payload is not a bench message;
// the others mean it is one that was damaged on the way.
var (
	ErrNotBench = errors.New("bench: not a bench payload")
	ErrShort    = errors.New("bench: payload shorter than its header")
	ErrLength   = errors.New("bench: payload length differs from its header")
	ErrChecksum = errors.New("bench: payload checksum mismatch")
)

// EncodePayload fills p (len(p) ≥ HeaderSize) with h and a fixed padding
// pattern; the checksum covers both.
func EncodePayload(p []byte, h Header) {
	copy(p[0:4], magic[:])
	binary.LittleEndian.PutUint64(p[4:12], h.RunID)
	binary.LittleEndian.PutUint32(p[12:16], h.Publisher)
	binary.LittleEndian.PutUint64(p[16:24], h.Seq)
	binary.LittleEndian.PutUint64(p[24:32], uint64(h.SentNS))
	binary.LittleEndian.PutUint32(p[32:36], uint32(len(p)))
	pad := p[HeaderSize:]
	for i := range pad {
		pad[i] = byte(i*7 + 1)
	}
	binary.LittleEndian.PutUint32(p[36:40], checksum(p))
}

// Restamp rewrites the sequence number and send time of a payload that
// EncodePayload filled for the same run and publisher, and its checksum,
// leaving the padding alone: publishers reuse one buffer this way.
func Restamp(p []byte, h Header) {
	binary.LittleEndian.PutUint64(p[16:24], h.Seq)
	binary.LittleEndian.PutUint64(p[24:32], uint64(h.SentNS))
	binary.LittleEndian.PutUint32(p[36:40], checksum(p))
}

func checksum(p []byte) uint32 {
	c := crc32.Update(0, castagnoli, p[:36])
	return crc32.Update(c, castagnoli, p[HeaderSize:])
}

// DecodePayload reads the header of p and checks p's length and checksum.
func DecodePayload(p []byte) (Header, error) {
	if len(p) < 4 || [4]byte(p[0:4]) != magic {
		return Header{}, ErrNotBench
	}
	if len(p) < HeaderSize {
		return Header{}, ErrShort
	}
	if binary.LittleEndian.Uint32(p[32:36]) != uint32(len(p)) {
		return Header{}, ErrLength
	}
	if binary.LittleEndian.Uint32(p[36:40]) != checksum(p) {
		return Header{}, ErrChecksum
	}
	return Header{
		RunID:     binary.LittleEndian.Uint64(p[4:12]),
		Publisher: binary.LittleEndian.Uint32(p[12:16]),
		Seq:       binary.LittleEndian.Uint64(p[16:24]),
		SentNS:    int64(binary.LittleEndian.Uint64(p[24:32])),
	}, nil
}
