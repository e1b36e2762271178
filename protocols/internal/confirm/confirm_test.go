package confirm

import (
	"slices"
	"sync"
	"testing"
)

func TestOrderDrainAndFlush(t *testing.T) {
	var mu sync.Mutex
	var handled, flushed []int
	var held []int
	p := &Pipeline[int]{Size: 4}
	p.Handle = func(v int, more bool) {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, v)
		held = append(held, v)
		if !more {
			flushed, held = append(flushed, held...), nil
		}
	}
	p.Flush = func() {
		mu.Lock()
		defer mu.Unlock()
		flushed, held = append(flushed, held...), nil
	}
	if p.Busy() {
		t.Fatal("busy before any push")
	}
	p.Drain() // nothing in flight: returns at once
	for i := range 100 {
		p.Push(i)
	}
	p.Drain()
	mu.Lock()
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(handled, want) || !slices.Equal(flushed, want) {
		t.Fatalf("handled %v flushed %v", handled, flushed)
	}
	mu.Unlock()
	if p.Busy() {
		t.Fatal("busy after Drain")
	}
	p.Push(100)
	p.Stop()
	if len(handled) != 101 || len(flushed) != 101 {
		t.Fatalf("after Stop: handled %d flushed %d", len(handled), len(flushed))
	}
	(&Pipeline[int]{}).Stop() // never started
}
