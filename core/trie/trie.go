// Package trie indexes subscription patterns so that the exchange finds
// every subscriber of a published address without testing each pattern
// (DESIGN.md §3, §4).
//
// Trie holds (pattern, value) pairs and answers "which values have a pattern
// matching this address". Index holds values keyed by address and answers
// "which values sit at an address matching this pattern"; the exchange uses
// it for retained messages. Both use MQTT semantics: "+" matches one
// segment, a final "#" matches the rest including the parent level ("a/#"
// matches "a"), and a wildcard in first position does not match a
// "$"-prefixed first segment (MQTT-4.7.2-1).
//
// Neither type is safe for concurrent mutation: the owner guards it, for
// example with a sync.RWMutex, since matching only reads. Matching does not
// allocate.
package trie

import (
	"strings"

	"github.com/rosettamq/rosetta/core/address"
)

// Trie maps patterns to the values subscribed with them. The zero value is
// an empty trie ready to use.
type Trie[V comparable] struct {
	root node[V]
	n    int
}

// node is one level. A pattern's values sit at the node its last literal or
// "+" segment leads to; a final "#" puts them in hash of the node before it,
// because "#" also matches the parent level.
type node[V comparable] struct {
	children map[string]*node[V] // literal segments
	plus     *node[V]            // "+"
	vals     []V                 // patterns ending at this node
	hash     []V                 // patterns ending with "#" after this node
}

func (n *node[V]) empty() bool {
	return len(n.children) == 0 && n.plus == nil && len(n.vals) == 0 && len(n.hash) == 0
}

// Len returns the number of (pattern, value) pairs.
func (t *Trie[V]) Len() int { return t.n }

// Add subscribes v with pattern p and reports whether the pair is new;
// adding the same pair twice keeps one. An empty pattern is ignored.
// Segments after a "#" are ignored, as "#" matches the rest whatever follows
// (address.ParseMQTTFilter refuses such patterns anyway).
func (t *Trie[V]) Add(p address.Pattern, v V) bool {
	if len(p) == 0 {
		return false
	}
	n := &t.root
	for _, s := range p {
		switch s {
		case address.MultiLevel:
			if contains(n.hash, v) {
				return false
			}
			n.hash = append(n.hash, v)
			t.n++
			return true
		case address.SingleLevel:
			if n.plus == nil {
				n.plus = &node[V]{}
			}
			n = n.plus
		default:
			c := n.children[s]
			if c == nil {
				if n.children == nil {
					n.children = make(map[string]*node[V])
				}
				c = &node[V]{}
				n.children[s] = c
			}
			n = c
		}
	}
	if contains(n.vals, v) {
		return false
	}
	n.vals = append(n.vals, v)
	t.n++
	return true
}

// Remove unsubscribes v from pattern p and reports whether the pair was
// there. Nodes left empty are pruned so that churn does not leak memory.
func (t *Trie[V]) Remove(p address.Pattern, v V) bool {
	if len(p) == 0 {
		return false
	}
	if !remove(&t.root, p, v) {
		return false
	}
	t.n--
	return true
}

func remove[V comparable](n *node[V], p address.Pattern, v V) bool {
	s := p[0]
	var ok bool
	switch {
	case s == address.MultiLevel:
		n.hash, ok = without(n.hash, v)
		return ok
	case len(p) == 1 && s == address.SingleLevel:
		if n.plus == nil {
			return false
		}
		n.plus.vals, ok = without(n.plus.vals, v)
		if n.plus.empty() {
			n.plus = nil
		}
		return ok
	case s == address.SingleLevel:
		if n.plus == nil {
			return false
		}
		ok = remove(n.plus, p[1:], v)
		if n.plus.empty() {
			n.plus = nil
		}
		return ok
	default:
		c := n.children[s]
		if c == nil {
			return false
		}
		if len(p) == 1 {
			c.vals, ok = without(c.vals, v)
		} else {
			ok = remove(c, p[1:], v)
		}
		if c.empty() {
			delete(n.children, s)
		}
		return ok
	}
}

// Match calls fn for each value whose pattern matches a. A value subscribed
// with several matching patterns is reported once per pattern: the caller
// deduplicates when it cares. fn must not change the trie.
func (t *Trie[V]) Match(a address.Address, fn func(V)) {
	if len(a) == 0 {
		return
	}
	matchFn(&t.root, a, 0, isSystem(a), fn)
}

func matchFn[V comparable](n *node[V], a address.Address, i int, sys bool, fn func(V)) {
	// A wildcard in first position does not match a "$" level (MQTT-4.7.2-1).
	wild := i > 0 || !sys
	if wild {
		for _, v := range n.hash {
			fn(v)
		}
	}
	if i == len(a) {
		for _, v := range n.vals {
			fn(v)
		}
		return
	}
	if c := n.children[a[i]]; c != nil {
		matchFn(c, a, i+1, sys, fn)
	}
	if wild && n.plus != nil {
		matchFn(n.plus, a, i+1, sys, fn)
	}
}

// AppendMatch appends to dst the values whose pattern matches a and returns
// the extended slice; with a dst of enough capacity it does not allocate.
// Like Match, a value appears once per matching pattern.
func (t *Trie[V]) AppendMatch(dst []V, a address.Address) []V {
	if len(a) == 0 {
		return dst
	}
	return appendMatch(dst, &t.root, a, 0, isSystem(a))
}

func appendMatch[V comparable](dst []V, n *node[V], a address.Address, i int, sys bool) []V {
	wild := i > 0 || !sys
	if wild {
		dst = append(dst, n.hash...)
	}
	if i == len(a) {
		return append(dst, n.vals...)
	}
	if c := n.children[a[i]]; c != nil {
		dst = appendMatch(dst, c, a, i+1, sys)
	}
	if wild && n.plus != nil {
		dst = appendMatch(dst, n.plus, a, i+1, sys)
	}
	return dst
}

// Walk calls fn for every (pattern, value) pair until fn returns false.
// The pattern passed to fn is reused between calls: copy it to keep it.
func (t *Trie[V]) Walk(fn func(p address.Pattern, v V) bool) {
	buf := make(address.Pattern, 0, 16)
	walk(&t.root, buf, fn)
}

func walk[V comparable](n *node[V], p address.Pattern, fn func(address.Pattern, V) bool) bool {
	for _, v := range n.hash {
		if !fn(append(p, address.MultiLevel), v) {
			return false
		}
	}
	if len(p) > 0 {
		for _, v := range n.vals {
			if !fn(p, v) {
				return false
			}
		}
	}
	for s, c := range n.children {
		if !walk(c, append(p, s), fn) {
			return false
		}
	}
	if n.plus != nil {
		return walk(n.plus, append(p, address.SingleLevel), fn)
	}
	return true
}

func isSystem(a address.Address) bool { return strings.HasPrefix(a[0], "$") }

func contains[V comparable](s []V, v V) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// without removes v from s by moving the last element into its place:
// match order is not part of the contract, and this keeps removal O(1)
// after the search.
func without[V comparable](s []V, v V) ([]V, bool) {
	for i, x := range s {
		if x == v {
			last := len(s) - 1
			s[i] = s[last]
			var zero V
			s[last] = zero // let the value be collected
			s = s[:last]
			if len(s) == 0 {
				s = nil
			}
			return s, true
		}
	}
	return s, false
}
