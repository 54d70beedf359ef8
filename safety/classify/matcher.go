package classify

import "sort"

// matcher is a byte-level Aho–Corasick automaton compiled to a dense DFA
// over byte classes: one table lookup per input byte, whatever the number of
// phrases.
type matcher struct {
	class   [256]uint16 // byte → class; 0 = byte occurs in no phrase
	nclass  int
	delta   []uint16  // state*nclass + class → next state (fewer than 65536 states)
	out     [][]int32 // state → phrase ids ending here (incl. via failure links)
	lengths []int     // phrase id → byte length
}

// match is one phrase occurrence in normalised text: [start, end).
type match struct {
	start, end int
	id         int32
}

// newMatcher compiles phrases; phrase i gets id i.
func newMatcher(phrases []string) *matcher {
	m := &matcher{lengths: make([]int, len(phrases))}
	used := [256]bool{}
	for i, p := range phrases {
		m.lengths[i] = len(p)
		for j := 0; j < len(p); j++ {
			used[p[j]] = true
		}
	}
	m.nclass = 1
	for b := 0; b < 256; b++ {
		if used[b] {
			m.class[b] = uint16(m.nclass)
			m.nclass++
		}
	}
	// trie
	type node struct {
		next map[uint16]int32
		fail int32
		out  []int32
	}
	nodes := []node{{next: map[uint16]int32{}}}
	for i, p := range phrases {
		s := int32(0)
		for j := 0; j < len(p); j++ {
			c := m.class[p[j]]
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint16]int32{}})
				nodes[s].next[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(i))
	}
	if len(nodes) > 1<<16 {
		panic("classify: lexicon too large for 16-bit automaton")
	}
	m.delta = make([]uint16, len(nodes)*m.nclass)
	m.out = make([][]int32, len(nodes))
	// BFS in a deterministic order.
	queue := []int32{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s != 0 {
			m.out[s] = append(append([]int32(nil), nodes[s].out...), m.out[nodes[s].fail]...)
		}
		keys := make([]int, 0, len(nodes[s].next))
		for c := range nodes[s].next {
			keys = append(keys, int(c))
		}
		sort.Ints(keys)
		for c := 0; c < m.nclass; c++ {
			nx, ok := nodes[s].next[uint16(c)]
			if ok && c != 0 {
				if s == 0 {
					nodes[nx].fail = 0
				} else {
					nodes[nx].fail = int32(m.delta[int(nodes[s].fail)*m.nclass+c])
				}
				m.delta[int(s)*m.nclass+c] = uint16(nx)
			} else if s == 0 {
				m.delta[c] = 0
			} else {
				m.delta[int(s)*m.nclass+c] = m.delta[int(nodes[s].fail)*m.nclass+c]
			}
		}
		for _, c := range keys {
			if c != 0 {
				queue = append(queue, nodes[s].next[uint16(c)])
			}
		}
	}
	return m
}

// find appends every phrase occurrence in text to dst, ordered by end.
func (m *matcher) find(dst []match, text []byte) []match {
	s := 0
	nc := m.nclass
	for i := 0; i < len(text); i++ {
		s = int(m.delta[s*nc+int(m.class[text[i]])])
		for _, id := range m.out[s] {
			dst = append(dst, match{start: i + 1 - m.lengths[id], end: i + 1, id: id})
		}
	}
	return dst
}
