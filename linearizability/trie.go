package linearizability

import "math"

// ptrie is a persistent map from non-negative int64 keys to non-zero int64
// values: a 16-ary radix trie updated by path copying, so porcupine can keep
// every state it backtracks to while each Step shares all untouched nodes.
// Keys are offsets or dense value ids, so the trie stays shallow.
type ptrie struct {
	root  *tnode
	depth int // levels above the leaves
	size  int
}

const (
	trieBits  = 4
	trieWidth = 1 << trieBits
	trieMask  = trieWidth - 1
)

// tnode is an inner node (kid) above level 0 and a leaf (val, 0 = absent) at it.
type tnode struct {
	kid [trieWidth]*tnode
	val [trieWidth]int64
}

// capacity is one past the largest key the trie can hold at its depth.
func (t ptrie) capacity() int64 {
	shift := trieBits * (t.depth + 1)
	if shift >= 63 {
		return math.MaxInt64
	}
	return 1 << shift
}

func (t ptrie) get(k int64) (int64, bool) {
	if k < 0 || k >= t.capacity() {
		return 0, false
	}
	n := t.root
	for lvl := t.depth; n != nil && lvl > 0; lvl-- {
		n = n.kid[(k>>(trieBits*lvl))&trieMask]
	}
	if n == nil {
		return 0, false
	}
	v := n.val[k&trieMask]
	return v, v != 0
}

// with returns t plus keys[i] -> vals[i]. Keys must be ascending, distinct,
// non-negative and absent from t; values non-zero. t itself is not modified.
func (t ptrie) with(keys, vals []int64) ptrie {
	if len(keys) == 0 {
		return t
	}
	for keys[len(keys)-1] >= t.capacity() {
		if t.root != nil {
			t.root = &tnode{kid: [trieWidth]*tnode{t.root}}
		}
		t.depth++
	}
	t.root = trieSet(t.root, t.depth, keys, vals)
	t.size += len(keys)
	return t
}

// trieSet copies n (or makes a node) and sets keys below it, copying each
// touched node once: ascending keys group by child index.
func trieSet(n *tnode, lvl int, keys, vals []int64) *tnode {
	c := &tnode{}
	if n != nil {
		*c = *n
	}
	if lvl == 0 {
		for i, k := range keys {
			c.val[k&trieMask] = vals[i]
		}
		return c
	}
	shift := trieBits * lvl
	for i := 0; i < len(keys); {
		idx := (keys[i] >> shift) & trieMask
		j := i + 1
		for j < len(keys) && (keys[j]>>shift)&trieMask == idx {
			j++
		}
		c.kid[idx] = trieSet(c.kid[idx], lvl-1, keys[i:j], vals[i:j])
		i = j
	}
	return c
}

// trieEqual compares two tries of equal depth, skipping shared subtrees.
func trieEqual(a, b *tnode, lvl int) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false // tries only grow, so a present node is never empty
	}
	if lvl == 0 {
		return a.val == b.val
	}
	for i := range a.kid {
		if !trieEqual(a.kid[i], b.kid[i], lvl-1) {
			return false
		}
	}
	return true
}

func (t ptrie) equal(u ptrie) bool {
	return t.size == u.size && t.depth == u.depth && trieEqual(t.root, u.root, t.depth)
}

// last returns up to n entries with the largest keys, ascending.
func (t ptrie) last(n int) (keys, vals []int64) {
	var walk func(nd *tnode, lvl int, prefix int64)
	walk = func(nd *tnode, lvl int, prefix int64) {
		for i := trieWidth - 1; i >= 0 && len(keys) < n; i-- {
			k := prefix<<trieBits | int64(i)
			if lvl == 0 {
				if nd.val[i] != 0 {
					keys, vals = append(keys, k), append(vals, nd.val[i])
				}
			} else if nd.kid[i] != nil {
				walk(nd.kid[i], lvl-1, k)
			}
		}
	}
	if t.root != nil {
		walk(t.root, t.depth, 0)
	}
	for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
		keys[i], keys[j] = keys[j], keys[i]
		vals[i], vals[j] = vals[j], vals[i]
	}
	return keys, vals
}
