package bench

import "testing"

func payload(run uint64, pub uint32, seq uint64) []byte {
	p := make([]byte, 64)
	EncodePayload(p, Header{RunID: run, Publisher: pub, Seq: seq, SentNS: 1})
	return p
}

func TestTracker(t *testing.T) {
	const run = 77
	type rx struct {
		sub int // which subscriber (Order) receives it
		p   []byte
	}
	at := func(sub int, pub uint32, seq uint64) rx { return rx{sub, payload(run, pub, seq)} }
	corrupt := payload(run, 0, 5)
	corrupt[50] ^= 1
	tests := []struct {
		name    string
		sent    []int64
		rxs     []rx
		want    Counts
		reorder int64
	}{
		{"all in order", []int64{3}, []rx{at(0, 0, 0), at(0, 0, 1), at(0, 0, 2)},
			Counts{Unique: 3}, 0},
		{"loss at the end and the middle", []int64{5}, []rx{at(0, 0, 0), at(0, 0, 2)},
			Counts{Unique: 2, Lost: 3}, 0},
		{"duplicates", []int64{2}, []rx{at(0, 0, 0), at(0, 0, 0), at(0, 0, 1), at(0, 0, 0)},
			Counts{Unique: 2, Duplicated: 2}, 0},
		{"reordered per publisher", []int64{3, 2},
			[]rx{at(0, 0, 1), at(0, 1, 1), at(0, 0, 0), at(0, 1, 0), at(0, 0, 2)},
			Counts{Unique: 5}, 2},
		{"interleaved publishers are not reordered", []int64{2, 2},
			[]rx{at(0, 1, 0), at(0, 0, 0), at(0, 1, 1), at(0, 0, 1)},
			Counts{Unique: 4}, 0},
		{"compete: two subscribers share, each in order", []int64{4},
			[]rx{at(0, 0, 0), at(1, 0, 1), at(1, 0, 3), at(0, 0, 2)},
			Counts{Unique: 4}, 0},
		{"compete: a copy on the other subscriber is a duplicate", []int64{2},
			[]rx{at(0, 0, 0), at(1, 0, 0), at(1, 0, 1)},
			Counts{Unique: 2, Duplicated: 1}, 0},
		{"corrupt", []int64{6}, []rx{at(0, 0, 0), {0, corrupt}},
			Counts{Unique: 1, Lost: 5, Corrupt: 1}, 0},
		{"foreign run and foreign format", []int64{1},
			[]rx{{0, payload(run+1, 0, 0)}, {0, []byte("retained value")}, at(0, 0, 0)},
			Counts{Unique: 1, Foreign: 2}, 0},
		{"unexpected beyond sent and unknown publisher", []int64{1},
			[]rx{at(0, 0, 0), at(0, 0, 1), at(0, 3, 0)},
			Counts{Unique: 3, Unexpected: 2}, 0},
		{"nothing", []int64{1000}, nil, Counts{Lost: 1000}, 0},
		{"large sequence numbers", []int64{200_000},
			[]rx{at(0, 0, 199_999), at(0, 0, 64), at(0, 0, 63)},
			Counts{Unique: 3, Lost: 199_997}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(run)
			orders := []*Order{NewOrder(), NewOrder()}
			for _, r := range tc.rxs {
				tr.Receive(r.p, orders[r.sub])
			}
			if got := tr.Result(tc.sent); got != tc.want {
				t.Errorf("counts %+v, want %+v", got, tc.want)
			}
			if got := orders[0].Reordered + orders[1].Reordered; got != tc.reorder {
				t.Errorf("reordered %d, want %d", got, tc.reorder)
			}
		})
	}
}

func TestTrackerVerdicts(t *testing.T) {
	tr := NewTracker(1)
	if v, _ := tr.Receive(payload(1, 0, 0), nil); v != Fresh {
		t.Errorf("first copy: %v", v)
	}
	if v, _ := tr.Receive(payload(1, 0, 0), nil); v != Duplicate {
		t.Errorf("second copy: %v", v)
	}
	if v, _ := tr.Receive(payload(2, 0, 0), nil); v != Foreign {
		t.Errorf("other run: %v", v)
	}
	if v, _ := tr.Receive(payload(1, 0, maxSeq), nil); v != Corrupt {
		t.Errorf("sequence beyond bound: %v", v)
	}
}
