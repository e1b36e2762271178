package badger

import (
	"encoding/binary"
	"math"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/rosettamq/rosetta/core/address"
)

// Keys; doc.go describes the layout.
const (
	keyFormat      = "v/format"
	keyNextQueue   = "v/next-queue"
	prefixQueue    = "q/"
	prefixBinding  = "b/"
	prefixMessage  = "m/"
	prefixCount    = "c/"
	prefixRetained = "r/"
	prefixState    = "s/"

	// formatVersion is the layout this build writes and reads.
	formatVersion = 1

	prefixLen = 2 // every prefix is a letter and a slash
	idLen     = 8
	seqKeyLen = prefixLen + idLen + 8 // m/ and c/ keys
)

// appendIDKey appends prefix and the big-endian queue id: the start of
// every key that belongs to that queue incarnation.
func appendIDKey(dst []byte, prefix string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefix...), id)
}

// appendSeqKey appends an m/ or c/ key. Big-endian numbers sort
// numerically, so a prefix scan returns a queue's messages in seq order.
func appendSeqKey(dst []byte, prefix string, id, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendIDKey(dst, prefix, id), seq)
}

func appendBindingKey(dst []byte, id uint64, p address.Pattern) []byte {
	return appendSegments(appendIDKey(dst, prefixBinding, id), p)
}

func appendQueueKey(dst []byte, name string) []byte {
	return append(append(dst, prefixQueue...), name...)
}

// skipID moves it past every key of queue id under prefix. It reports
// false when no later id can exist (id is the largest), so that a loop
// over ids ends instead of wrapping around to the first.
func skipID(it *badgerdb.Iterator, prefix string, id uint64) bool {
	if id == math.MaxUint64 {
		return false
	}
	it.Seek(appendIDKey(nil, prefix, id+1))
	return true
}

// parseIDKey returns the queue id of a b/, m/ or c/ key and what follows it.
func parseIDKey(k []byte) (id uint64, rest []byte, ok bool) {
	if len(k) < prefixLen+idLen {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(k[prefixLen:]), k[prefixLen+idLen:], true
}

// parseSeqKey returns the queue id and seq of an m/ or c/ key.
func parseSeqKey(k []byte) (id, seq uint64, ok bool) {
	if len(k) != seqKeyLen {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k[prefixLen:]), binary.BigEndian.Uint64(k[prefixLen+idLen:]), true
}

// parseSegments decodes the segment list that ends a b/ or r/ key.
func parseSegments(b []byte, what string) ([]string, error) {
	r := &reader{b: b, record: what}
	segs := r.segments()
	r.end()
	if r.err == nil && len(segs) == 0 {
		r.fail("no segments")
	}
	return segs, r.err
}
