package exchange_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/storage/memory"
)

func TestStateRecordsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	x1, err := exchange.New(ctx, exchange.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"mqtt/session/a", "1"}, {"mqtt/session/b", "2"}, {"other/x", "3"}, {"mqtt/session/a", "4"}} {
		if err := x1.SaveState(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := x1.DeleteState(ctx, "mqtt/session/b"); err != nil {
		t.Fatal(err)
	}
	if err := x1.DeleteState(ctx, "missing"); err != nil {
		t.Fatalf("deleting a missing record: %v", err)
	}
	if err := x1.SaveState(ctx, "", nil); err == nil {
		t.Fatal("empty key saved")
	}
	if err := x1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := x1.SaveState(ctx, "k", nil); err == nil {
		t.Fatal("saved after Close")
	}

	x2 := newExchange(t, exchange.Config{Store: store})
	if got := x2.States("mqtt/session/"); !slices.Equal(got, []string{"mqtt/session/a"}) {
		t.Fatalf("States = %q", got)
	}
	if v, ok := x2.State("mqtt/session/a"); !ok || string(v) != "4" {
		t.Fatalf("State = %q %v", v, ok)
	}
	if v, ok := x2.State("other/x"); !ok || string(v) != "3" {
		t.Fatalf("State(other/x) = %q %v", v, ok)
	}
}
