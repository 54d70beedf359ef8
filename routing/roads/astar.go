package roads

import "math"

// Result says how a path search ended.
type Result int

const (
	// Found means a shortest path was found.
	Found Result = iota
	// Unreachable means no path leads from the source to the target (other
	// component, or one-way ways that only lead away).
	Unreachable
	// Beyond means every path is longer than the limit, or none exists:
	// the search stopped at the limit without telling the two apart.
	Beyond
)

// search is the reusable state of one path search: a distance per node,
// valid only where its stamp is the current one (so nothing is cleared
// between searches), and the open list.
type search struct {
	dist  []float64
	stamp []uint32
	cur   uint32
	heap  []item
}

type item struct {
	f, g float64 // f = g + heuristic
	n    int32
}

func (g *Graph) getSearch() *search {
	if s, ok := g.pool.Get().(*search); ok {
		return s
	}
	n := len(g.latR)
	return &search{dist: make([]float64, n), stamp: make([]uint32, n)}
}

// PathM returns the length in metres of a shortest walking path from node
// from to node to, by A* with the great-circle distance to the target as
// heuristic. The heuristic is admissible because every edge is at least as
// long as the straight line between its ends (lengths are rounded up), so
// the result is exact with respect to the graph. Open entries are reopened
// when a shorter way to them turns up, so exactness does not rest on the
// heuristic being consistent under float rounding.
//
// limitM > 0 bounds the search: when every path is longer than limitM, it
// returns Beyond (and +Inf) as soon as that is certain. limitM ≤ 0 or +Inf
// means no limit. It allocates nothing in the steady state.
func (g *Graph) PathM(from, to int32, limitM float64) (float64, Result) {
	n := int32(len(g.latR))
	if from < 0 || to < 0 || from >= n || to >= n {
		return math.Inf(1), Unreachable
	}
	if from == to {
		return 0, Found
	}
	if g.comp[from] != g.comp[to] {
		return math.Inf(1), Unreachable
	}
	if !(limitM > 0) {
		limitM = math.Inf(1)
	}
	s := g.getSearch()
	defer g.pool.Put(s)
	s.cur++
	if s.cur == 0 { // wrapped: old stamps could look current
		clear(s.stamp)
		s.cur = 1
	}
	tp, tl, tc := g.latR[to], g.lngR[to], g.cosLat[to]
	h := func(u int32) float64 { return lowerBoundM(g.latR[u], g.lngR[u], g.cosLat[u], tp, tl, tc) }
	s.heap = s.heap[:0]
	s.dist[from], s.stamp[from] = 0, s.cur
	s.push(item{f: h(from), n: from})
	pruned := false
	for len(s.heap) > 0 {
		it := s.pop()
		if it.g > s.dist[it.n] {
			continue // stale: a shorter way to it was found since
		}
		if it.n == to {
			return it.g, Found
		}
		// Every path to the target passes through an open entry, and
		// f never overestimates: when the least f passes the limit, so
		// does every path.
		if it.f > limitM {
			return math.Inf(1), Beyond
		}
		u := it.n
		for e := g.first[u]; e < g.first[u+1]; e++ {
			v := g.to[e]
			nd := it.g + float64(g.length[e])
			if s.stamp[v] == s.cur && nd >= s.dist[v] {
				continue
			}
			f := nd + h(v)
			if f > limitM {
				pruned = true
				continue
			}
			s.dist[v], s.stamp[v] = nd, s.cur
			s.push(item{f: f, g: nd, n: v})
		}
	}
	if pruned {
		return math.Inf(1), Beyond
	}
	return math.Inf(1), Unreachable
}

// less orders the open list by f, then by g descending (deeper first, which
// reaches the target sooner among equals).
func less(a, b item) bool {
	if a.f != b.f {
		return a.f < b.f
	}
	return a.g > b.g
}

func (s *search) push(it item) {
	s.heap = append(s.heap, it)
	h := s.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *search) pop() item {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}

// DistanceM returns the walking distance in metres from position 1 to
// position 2 over the graph: the straight line from position 1 to its
// nearest node, a shortest path, and the straight line from the last node to
// position 2. ok is false when either position is more than maxSnapM from
// every node or no path leads from one to the other; callers then estimate
// otherwise.
func (g *Graph) DistanceM(lat1, lng1, lat2, lng2, maxSnapM float64) (float64, bool) {
	a, ok := g.Snap(lat1, lng1, maxSnapM)
	if !ok {
		return 0, false
	}
	b, ok := g.Snap(lat2, lng2, maxSnapM)
	if !ok {
		return 0, false
	}
	d, res := g.PathM(a.Node, b.Node, 0)
	if res != Found {
		return 0, false
	}
	return a.DistM + d + b.DistM, true
}
