package trie

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
)

// oracle returns the indexes of the patterns that match a, using
// address.Pattern.Match: the specification the trie must agree with.
func oracle(patterns []address.Pattern, a address.Address) []int {
	var out []int
	for i, p := range patterns {
		if p != nil && p.Match(a) {
			out = append(out, i)
		}
	}
	return out
}

func matched(t *Trie[int], a address.Address) []int {
	out := t.AppendMatch(nil, a)
	slices.Sort(out)
	return out
}

func TestTrieMatchesOracle(t *testing.T) {
	filters := []string{
		"a", "a/b", "a/b/c", "a/+", "a/+/c", "+/b", "+", "+/+", "#", "a/#", "a/b/#",
		"+/#", "a//b", "a/+/#", "/a", "/#", "+/", "$SYS/#", "$SYS/+", "$SYS", "+/x/#",
		"a/$b", "a/+/+/#", "",
	}
	var patterns []address.Pattern
	tr := &Trie[int]{}
	for _, f := range filters {
		var p address.Pattern
		if f == "" {
			p = address.Pattern{""} // one empty level: "" is not a parsable filter
		} else {
			p = address.MustParseFilter(f)
		}
		tr.Add(p, len(patterns))
		patterns = append(patterns, p)
	}
	tests := []struct {
		topic string
		want  []string // the filters expected to match, for readability
	}{
		{"a", []string{"a", "a/#", "+", "#", "+/#"}},
		{"a/b", []string{"a/b", "a/+", "+/b", "+/+", "#", "a/#", "a/b/#", "+/#", "a/+/#"}},
		{"a/b/c", []string{"a/b/c", "a/+/c", "#", "a/#", "a/b/#", "+/#", "a/+/#", "a/+/+/#"}},
		{"$SYS/x", []string{"$SYS/#", "$SYS/+"}},
		{"$SYS", []string{"$SYS/#", "$SYS"}},
		{"a/$b", []string{"a/$b", "a/+", "+/+", "#", "a/#", "+/#", "a/+/#"}},
		{"/a", []string{"/a", "/#", "+/+", "#", "+/#"}},
		{"a//b", []string{"a//b", "#", "a/#", "+/#", "a/+/#", "a/+/+/#"}},
		{"x/x/y", []string{"#", "+/#", "+/x/#"}},
		{"b/", []string{"+/", "+/+", "#", "+/#"}},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			a := address.MustParseMQTT(tc.topic)
			got := matched(tr, a)
			want := oracle(patterns, a)
			if !slices.Equal(got, want) {
				t.Fatalf("trie %v, oracle %v", names(filters, got), names(filters, want))
			}
			exp := slices.Clone(tc.want)
			slices.Sort(exp)
			gotNames := names(filters, got)
			slices.Sort(gotNames)
			if !slices.Equal(gotNames, exp) {
				t.Fatalf("matched %q, want %q", gotNames, exp)
			}
			var viaFn []int
			tr.Match(a, func(v int) { viaFn = append(viaFn, v) })
			slices.Sort(viaFn)
			if !slices.Equal(viaFn, got) {
				t.Fatalf("Match %v, AppendMatch %v", viaFn, got)
			}
		})
	}
}

func names(filters []string, idx []int) []string {
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, filters[i])
	}
	return out
}

func TestTrieAddRemove(t *testing.T) {
	tests := []struct {
		name   string
		ops    []string // "+pattern=v" adds, "-pattern=v" removes
		wantOK []bool
		topic  string
		want   []int
		len    int
	}{
		{"duplicate add", []string{"+a/b=1", "+a/b=1"}, []bool{true, false}, "a/b", []int{1}, 1},
		{"same pattern two values", []string{"+a/+=1", "+a/+=2"}, []bool{true, true}, "a/x", []int{1, 2}, 2},
		{"remove one of two", []string{"+a/#=1", "+a/#=2", "-a/#=1"}, []bool{true, true, true}, "a", []int{2}, 1},
		{"remove missing", []string{"+a=1", "-a=2", "-b=1", "-a/b=1", "-+=1", "-#=1"}, []bool{true, false, false, false, false, false}, "a", []int{1}, 1},
		{"remove all prunes", []string{"+a/b/c=1", "+a/+/c=2", "+a/#=3", "-a/b/c=1", "-a/+/c=2", "-a/#=3"}, []bool{true, true, true, true, true, true}, "a/b/c", nil, 0},
		{"same value several patterns", []string{"+a/b=1", "+a/+=1", "+#=1"}, []bool{true, true, true}, "a/b", []int{1, 1, 1}, 3},
		{"plus leaf", []string{"+a/+=1", "-a/+=1", "+a/+=2"}, []bool{true, true, true}, "a/z", []int{2}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Trie[int]{}
			for i, op := range tc.ops {
				f, val, _ := strings.Cut(op[1:], "=")
				v, err := strconv.Atoi(val)
				if err != nil {
					t.Fatal(err)
				}
				p := address.MustParseFilter(f)
				var ok bool
				if op[0] == '+' {
					ok = tr.Add(p, v)
				} else {
					ok = tr.Remove(p, v)
				}
				if ok != tc.wantOK[i] {
					t.Fatalf("op %q returned %v", op, ok)
				}
			}
			if got := matched(tr, address.MustParseMQTT(tc.topic)); !slices.Equal(got, tc.want) {
				t.Fatalf("matched %v, want %v", got, tc.want)
			}
			if tr.Len() != tc.len {
				t.Fatalf("Len %d, want %d", tr.Len(), tc.len)
			}
			if tc.len == 0 && !tr.root.empty() {
				t.Fatalf("root not pruned: %+v", tr.root)
			}
		})
	}
}

func TestTrieWalk(t *testing.T) {
	tr := &Trie[int]{}
	in := []string{"a", "a/b", "a/+", "#", "a/#", "+/x"}
	for i, f := range in {
		tr.Add(address.MustParseFilter(f), i)
	}
	var got []string
	tr.Walk(func(p address.Pattern, v int) bool {
		got = append(got, fmt.Sprintf("%s=%d", p.MQTT(), v))
		return true
	})
	var want []string
	for i, f := range in {
		want = append(want, fmt.Sprintf("%s=%d", f, i))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Walk %v, want %v", got, want)
	}
	n := 0
	tr.Walk(func(address.Pattern, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Walk did not stop: %d calls", n)
	}
}

func TestTrieMatchDoesNotAllocate(t *testing.T) {
	tr := &Trie[int]{}
	for i, f := range []string{"a/b/c", "a/+/c", "a/#", "+/+/+", "#"} {
		tr.Add(address.MustParseFilter(f), i)
	}
	a := address.MustParseMQTT("a/b/c")
	buf := make([]int, 0, 16)
	sum := 0
	allocs := testing.AllocsPerRun(100, func() {
		buf = tr.AppendMatch(buf[:0], a)
		tr.Match(a, func(v int) { sum += v })
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per match", allocs)
	}
}

// segs is the alphabet fuzzing draws levels from: small, so that random
// patterns and addresses collide often.
var segs = []string{"a", "b", "", "$s", "+", "#"}

// decode turns fuzz bytes into patterns and addresses. Each byte picks a
// segment (low 3 bits) and whether the item ends after it (bit 3).
func decode(data []byte) (patterns []address.Pattern, addrs []address.Address) {
	var cur []string
	flush := func(pattern bool) {
		if len(cur) == 0 {
			return
		}
		if pattern {
			// A "#" is only valid last: cut the pattern after the first one.
			if i := slices.Index(cur, address.MultiLevel); i >= 0 {
				cur = cur[:i+1]
			}
			patterns = append(patterns, address.Pattern(cur))
		} else {
			a := make(address.Address, 0, len(cur))
			for _, s := range cur {
				if s == "+" || s == "#" {
					s = "w" // addresses carry no wildcards
				}
				a = append(a, s)
			}
			addrs = append(addrs, a)
		}
		cur = nil
	}
	for i, b := range data {
		cur = append(cur, segs[int(b&7)%len(segs)])
		if b&8 != 0 || len(cur) == 6 {
			flush(i%2 == 0)
		}
	}
	flush(true)
	return patterns, addrs
}

func FuzzTrieMatchesOracle(f *testing.F) {
	f.Add([]byte{0x08, 0x09, 0x0c, 0x1d, 0x04, 0x0b})
	f.Add([]byte{0x05, 0x00, 0x08, 0x03, 0x01, 0x09, 0x03, 0x0c})
	f.Add([]byte{0x00, 0x01, 0x02, 0x0d, 0x00, 0x01, 0x0a, 0x04, 0x08})
	f.Fuzz(checkTrie)
}

// checkTrie builds a trie from the patterns in data, removes every third
// one again to exercise pruning, and compares every match with the oracle.
func checkTrie(t *testing.T, data []byte) {
	patterns, addrs := decode(data)
	tr := &Trie[int]{}
	for i, p := range patterns {
		tr.Add(p, i)
	}
	kept := slices.Clone(patterns)
	for i := 0; i < len(patterns); i += 3 {
		if !tr.Remove(patterns[i], i) {
			t.Fatalf("Remove(%q, %d) found nothing", patterns[i], i)
		}
		kept[i] = nil
	}
	if tr.Len() != len(patterns)-(len(patterns)+2)/3 {
		t.Fatalf("Len %d after adding %d and removing every third", tr.Len(), len(patterns))
	}
	for _, a := range addrs {
		got := matched(tr, a)
		want := oracle(kept, a)
		if !slices.Equal(got, want) {
			t.Fatalf("address %q: trie %v, oracle %v (patterns %q)", a, got, want, patterns)
		}
	}
}

// TestTrieRandomAgainstOracle is the fuzz property with a fixed seed, so
// that a plain `go test` covers many more cases than the seed corpus.
func TestTrieRandomAgainstOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		data := make([]byte, 1+r.IntN(64))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		checkTrie(t, data)
	}
}

// benchTrie builds a realistic subscription set: 100k subscriptions over
// devices/<id>/<metric>, mixing exact filters, per-device "+" and "#",
// per-metric fleet-wide filters and a few catch-alls.
func benchTrie(b *testing.B) (*Trie[int], []address.Address) {
	metrics := []string{"temp", "humidity", "pressure", "battery", "status", "rssi"}
	const devices = 40_000
	tr := &Trie[int]{}
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; tr.Len() < 100_000; i++ {
		dev := fmt.Sprint(r.IntN(devices))
		m := metrics[r.IntN(len(metrics))]
		var f string
		switch k := r.IntN(100); {
		case k < 70:
			f = "devices/" + dev + "/" + m
		case k < 85:
			f = "devices/" + dev + "/+"
		case k < 95:
			f = "devices/" + dev + "/#"
		case k < 99:
			f = "devices/+/" + m
		default:
			f = "+/" + dev + "/#"
		}
		tr.Add(address.MustParseFilter(f), i)
	}
	topics := make([]address.Address, 1024)
	for i := range topics {
		topics[i] = address.MustParseMQTT(fmt.Sprintf("devices/%d/%s", r.IntN(devices), metrics[r.IntN(len(metrics))]))
	}
	return tr, topics
}

func BenchmarkTrieMatch100k(b *testing.B) {
	tr, topics := benchTrie(b)
	b.Run("AppendMatch", func(b *testing.B) {
		buf := make([]int, 0, 1024)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			buf = tr.AppendMatch(buf[:0], topics[i%len(topics)])
			i++
		}
	})
	b.Run("Match", func(b *testing.B) {
		n := 0
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.Match(topics[i%len(topics)], func(int) { n++ })
			i++
		}
	})
}

func BenchmarkTrieAddRemove(b *testing.B) {
	tr, _ := benchTrie(b)
	p := address.MustParseFilter("devices/123456/+/x")
	b.ReportAllocs()
	for b.Loop() {
		tr.Add(p, -1)
		tr.Remove(p, -1)
	}
}
