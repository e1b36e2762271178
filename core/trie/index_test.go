package trie

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
)

func indexMatch(x *Index[int], p address.Pattern) []int {
	var out []int
	x.Match(p, func(a address.Address, v int) bool {
		out = append(out, v)
		return true
	})
	slices.Sort(out)
	return out
}

func TestIndex(t *testing.T) {
	topics := []string{"a", "a/b", "a/b/c", "a/c", "$SYS/x", "$SYS", "b", "/a", "a//b", "x/$y"}
	x := &Index[int]{}
	var addrs []address.Address
	for i, s := range topics {
		a := address.MustParseMQTT(s)
		x.Set(a, i)
		addrs = append(addrs, a)
	}
	tests := []string{"#", "+", "a/#", "a/+", "+/b", "$SYS/#", "$SYS/+", "+/#", "a", "a/b/c/#", "+/+/+", "x/+", "nope/#", "/+", "a/+/b"}
	for _, f := range tests {
		t.Run(f, func(t *testing.T) {
			p := address.MustParseFilter(f)
			var want []int
			for i, a := range addrs {
				if p.Match(a) {
					want = append(want, i)
				}
			}
			if got := indexMatch(x, p); !slices.Equal(got, want) {
				t.Fatalf("Index.Match %v, oracle %v", got, want)
			}
		})
	}
}

func TestIndexSetGetDelete(t *testing.T) {
	x := &Index[string]{}
	a := address.MustParseMQTT("a/b")
	if _, ok := x.Set(a, "1"); ok {
		t.Fatal("first Set replaced something")
	}
	if old, ok := x.Set(a, "2"); !ok || old != "1" {
		t.Fatalf("Set returned %q %v", old, ok)
	}
	if v, ok := x.Get(a); !ok || v != "2" {
		t.Fatalf("Get %q %v", v, ok)
	}
	if _, ok := x.Get(address.MustParseMQTT("a")); ok {
		t.Fatal("Get found a value at an inner node")
	}
	if _, ok := x.Delete(address.MustParseMQTT("a")); ok {
		t.Fatal("Delete removed an inner node")
	}
	if x.Len() != 1 {
		t.Fatalf("Len %d", x.Len())
	}
	if old, ok := x.Delete(a); !ok || old != "2" {
		t.Fatalf("Delete %q %v", old, ok)
	}
	if x.Len() != 0 || len(x.root.children) != 0 {
		t.Fatalf("not pruned: len %d, children %d", x.Len(), len(x.root.children))
	}
	if _, ok := x.Delete(a); ok {
		t.Fatal("second Delete succeeded")
	}
}

func TestIndexMatchStops(t *testing.T) {
	x := &Index[int]{}
	for i, s := range []string{"a/1", "a/2", "a/3"} {
		x.Set(address.MustParseMQTT(s), i)
	}
	n := 0
	x.Match(address.MustParseFilter("a/#"), func(address.Address, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("%d calls after false", n)
	}
}

func FuzzIndexMatchesOracle(f *testing.F) {
	f.Add([]byte{0x08, 0x09, 0x0c, 0x1d, 0x04, 0x0b})
	f.Add([]byte{0x03, 0x08, 0x03, 0x01, 0x09, 0x04, 0x08, 0x05})
	f.Fuzz(checkIndex)
}

// checkIndex stores the addresses in data (later duplicates replace
// earlier ones) and compares each pattern's matches with the oracle.
func checkIndex(t *testing.T, data []byte) {
	patterns, addrs := decode(data)
	x := &Index[int]{}
	live := map[string]int{} // the alphabet has no "/", so MQTT() is a unique key
	for i, a := range addrs {
		x.Set(a, i)
		live[a.MQTT()] = i
	}
	if x.Len() != len(live) {
		t.Fatalf("Len %d, want %d", x.Len(), len(live))
	}
	for _, p := range patterns {
		var want []int
		for i, a := range addrs {
			if live[a.MQTT()] == i && p.Match(a) {
				want = append(want, i)
			}
		}
		if got := indexMatch(x, p); !slices.Equal(got, want) {
			t.Fatalf("pattern %q: index %v, oracle %v (addresses %q)", p, got, want, addrs)
		}
	}
}

func TestIndexRandomAgainstOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		data := make([]byte, 1+r.IntN(64))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		checkIndex(t, data)
	}
}
