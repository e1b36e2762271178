package trie

import "github.com/rosettamq/rosetta/core/address"

// Index maps addresses to one value each and finds the values whose address
// a pattern matches: the reverse of Trie. The exchange keeps retained
// messages in one, so that a new subscription to "devices/+/temp" finds its
// retained values without scanning every address. The zero value is an
// empty index ready to use.
type Index[V any] struct {
	root inode[V]
	n    int
}

type inode[V any] struct {
	children map[string]*inode[V]
	val      V
	set      bool // val holds a value for the address ending here
}

// Len returns the number of addresses holding a value.
func (x *Index[V]) Len() int { return x.n }

// Set stores v at a and returns the value it replaced, if any. An empty
// address is ignored.
func (x *Index[V]) Set(a address.Address, v V) (old V, replaced bool) {
	if len(a) == 0 {
		return old, false
	}
	n := &x.root
	for _, s := range a {
		c := n.children[s]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*inode[V])
			}
			c = &inode[V]{}
			n.children[s] = c
		}
		n = c
	}
	old, replaced = n.val, n.set
	n.val, n.set = v, true
	if !replaced {
		x.n++
	}
	return old, replaced
}

// Get returns the value stored at a.
func (x *Index[V]) Get(a address.Address) (v V, ok bool) {
	if len(a) == 0 {
		return v, false
	}
	n := &x.root
	for _, s := range a {
		n = n.children[s]
		if n == nil {
			return v, false
		}
	}
	return n.val, n.set
}

// Delete removes the value at a and returns it. Emptied nodes are pruned.
func (x *Index[V]) Delete(a address.Address) (old V, ok bool) {
	if len(a) == 0 {
		return old, false
	}
	old, ok = x.del(&x.root, a)
	if ok {
		x.n--
	}
	return old, ok
}

func (x *Index[V]) del(n *inode[V], a address.Address) (old V, ok bool) {
	c := n.children[a[0]]
	if c == nil {
		return old, false
	}
	if len(a) == 1 {
		if !c.set {
			return old, false
		}
		var zero V
		old, ok = c.val, true
		c.val, c.set = zero, false
	} else {
		old, ok = x.del(c, a[1:])
	}
	if !c.set && len(c.children) == 0 {
		delete(n.children, a[0])
	}
	return old, ok
}

// Match calls fn with each address and value whose address p matches,
// until fn returns false. The address passed to fn is reused between calls:
// copy it to keep it. fn must not change the index.
func (x *Index[V]) Match(p address.Pattern, fn func(a address.Address, v V) bool) {
	if len(p) == 0 {
		return
	}
	var buf [16]string
	x.match(&x.root, p, buf[:0], fn)
}

func (x *Index[V]) match(n *inode[V], p address.Pattern, a address.Address, fn func(address.Address, V) bool) bool {
	if len(p) == 0 {
		if n.set {
			return fn(a, n.val)
		}
		return true
	}
	first := len(a) == 0 // a wildcard here must not match "$" levels (MQTT-4.7.2-1)
	switch p[0] {
	case address.MultiLevel:
		// "#" matches the parent level too: "a/#" matches "a".
		if !first && n.set && !fn(a, n.val) {
			return false
		}
		for s, c := range n.children {
			if first && isSystemSegment(s) {
				continue
			}
			if !x.all(c, append(a, s), fn) {
				return false
			}
		}
		return true
	case address.SingleLevel:
		for s, c := range n.children {
			if first && isSystemSegment(s) {
				continue
			}
			if !x.match(c, p[1:], append(a, s), fn) {
				return false
			}
		}
		return true
	default:
		c := n.children[p[0]]
		if c == nil {
			return true
		}
		return x.match(c, p[1:], append(a, p[0]), fn)
	}
}

// Walk calls fn with every address and value, in no particular order,
// until fn returns false. The address passed to fn is reused between calls.
func (x *Index[V]) Walk(fn func(a address.Address, v V) bool) {
	x.all(&x.root, nil, fn)
}

// all reports every value at n and below.
func (x *Index[V]) all(n *inode[V], a address.Address, fn func(address.Address, V) bool) bool {
	if n.set && !fn(a, n.val) {
		return false
	}
	for s, c := range n.children {
		if !x.all(c, append(a, s), fn) {
			return false
		}
	}
	return true
}

func isSystemSegment(s string) bool { return len(s) > 0 && s[0] == '$' }
