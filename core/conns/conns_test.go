package conns

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

func TestRegistry(t *testing.T) {
	r := New()
	t0 := time.Unix(1000, 0)
	var closed []string
	a := r.Add(Info{Protocol: message.ProtocolMQTT, ID: "m1", ClientID: "dev", ConnectedAt: t0.Add(time.Second)},
		func(reason string) { closed = append(closed, "m1:"+reason) })
	b := r.Add(Info{Protocol: message.ProtocolSTOMP, ID: "s1", ConnectedAt: t0}, nil)
	a.CountIn()
	a.CountIn()
	a.CountOut()

	list := r.List()
	if len(list) != 2 || list[0].ID != "s1" || list[1].ID != "m1" {
		t.Fatalf("List = %+v, want s1 then m1", list)
	}
	got, ok := r.Get("m1")
	if !ok || got.MessagesIn != 2 || got.MessagesOut != 1 || got.ClientID != "dev" {
		t.Fatalf("Get(m1) = %+v, %v", got, ok)
	}
	if err := r.Close("m1", "admin"); err != nil {
		t.Fatal(err)
	}
	if len(closed) != 1 || closed[0] != "m1:admin" {
		t.Fatalf("close calls = %v", closed)
	}
	if err := r.Close("s1", "admin"); err != nil { // no close func: nothing to call
		t.Fatal(err)
	}
	if err := r.Close("nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Close(unknown) = %v, want ErrNotFound", err)
	}
	a.Remove()
	a.Remove()
	if _, ok := r.Get("m1"); ok || r.Len() != 1 {
		t.Fatalf("after Remove: Len = %d", r.Len())
	}
	b.Remove()
	if r.Len() != 0 {
		t.Fatalf("Len = %d, want 0", r.Len())
	}
}

func TestReplacedIDKeepsNewer(t *testing.T) {
	var r Registry // the zero value works
	old := r.Add(Info{ID: "x"}, nil)
	r.Add(Info{ID: "x", ClientID: "new"}, nil)
	old.Remove()
	c, ok := r.Get("x")
	if !ok || c.ClientID != "new" {
		t.Fatalf("Get = %+v, %v; want the newer registration", c, ok)
	}
	if c.ConnectedAt.IsZero() {
		t.Fatal("ConnectedAt not set")
	}
}

func TestNilIsNoop(t *testing.T) {
	var r *Registry
	h := r.Add(Info{ID: "x"}, nil)
	if h != nil {
		t.Fatal("nil registry returned a handle")
	}
	h.CountIn()
	h.CountOut()
	h.Remove()
}

func TestConcurrent(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			h := r.Add(Info{ID: string(rune('a' + i))}, func(string) {})
			for range 100 {
				h.CountIn()
				h.CountOut()
				_ = r.List()
			}
			h.Remove()
		})
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Fatalf("Len = %d", r.Len())
	}
}
