package routing

import (
	"math"
	"slices"

	"github.com/minato-city/anpi/routing/roads"
)

// Load spreading. Advice must not send everyone to the same nearest
// facility, so a facility that is nearly full is ranked as if it were
// farther away:
//
//	ratio   = free / capacity
//	penalty = CrowdPenaltyMax × (CrowdThreshold − ratio) / CrowdThreshold   if ratio < CrowdThreshold
//	        = 0                                                             otherwise
//	cost    = walking distance × (1 + penalty)
//
// With the defaults a facility with 20 % or more of its places free ranks by
// plain walking distance, one with 10 % free counts 1.5 × as far, and one with
// its last place free almost 2 × as far. Results are ordered by cost, then
// walking distance, then ID; the distance reported is the real one.
const (
	// CrowdThreshold is the free/capacity ratio below which a facility is
	// ranked down.
	CrowdThreshold = 0.2
	// CrowdPenaltyMax is the penalty of a facility with no free place left.
	CrowdPenaltyMax = 1.0
)

// LoadPenalty returns the ranking penalty of a facility with free places out
// of capacity (see CrowdThreshold for the formula).
func LoadPenalty(free, capacity int) float64 {
	if capacity <= 0 {
		return CrowdPenaltyMax
	}
	ratio := float64(max(free, 0)) / float64(capacity)
	if ratio >= CrowdThreshold {
		return 0
	}
	return CrowdPenaltyMax * (CrowdThreshold - ratio) / CrowdThreshold
}

// Match is one answer of a nearest-facility search.
type Match struct {
	// Facility is the facility as of the index snapshot.
	Facility Facility `json:"facility"`
	// DistanceM is the walking distance in meters, rounded to the meter:
	// along the road graph when one is loaded (see NewRoadIndex), else the
	// great-circle distance × WalkFactor. It is not the load-spreading cost.
	DistanceM float64 `json:"distance_m"`
	// WalkMinutes is the walking time at WalkSpeedMPerMin, rounded up.
	WalkMinutes int `json:"walk_minutes"`
	// Free is the number of free places.
	Free int `json:"free"`
}

// Grid parameters.
const (
	// gridCellM is the target cell size: about the spacing of Minato's
	// shelters, so a query near the centre of the ward sees a handful of
	// candidates in the first rings.
	gridCellM = 250.0
	// gridMaxCells bounds the grid's memory when facilities are far apart;
	// cells grow (doubling) to stay under it.
	gridMaxCells = 1 << 18
	// gridFarCells: a query more than this many cells outside the grid is
	// answered by a linear scan (there is nothing to prune there anyway).
	gridFarCells = 40
	// gridMaxSpanDeg: facilities spread wider than this (not a city) make
	// the index use linear scans only, which keeps the grid's lower-bound
	// arithmetic away from poles and the antimeridian.
	gridMaxSpanDeg = 20.0
	// stackK is the largest k served without allocating a work buffer.
	stackK = 32
)

// Index answers nearest-facility queries over an immutable snapshot of
// facilities. Build a new one on every change and swap it in atomically;
// any number of goroutines may query an Index at the same time.
//
// Only facilities that are open with at least one free place are indexed;
// the party size is checked per query.
//
// Why a uniform grid rather than a k-d tree: the facilities of one ward (a
// few hundred at most) are spread fairly evenly over a few kilometers, so a
// grid of ~250 m cells puts a handful in each neighbourhood; it is built in
// one sort, stored flat (cache-friendly, no pointers), and searched with no
// allocation. Cells are scanned in growing square rings around the query's
// cell; after ring r, every unseen facility is more than r cells away in
// latitude or longitude, which gives a lower bound on its great-circle
// distance (see lowerBound). Because the load-spreading cost is never below
// the walking distance, the search stops as soon as k candidates cost no
// more than that bound: the result is exactly the brute-force result.
type Index struct {
	facs    []Facility // eligible facilities, in cell order
	entries []entry    // parallel to facs

	linear             bool
	cellStart          []int32 // len nx*ny+1; cell c holds entries[cellStart[c]:cellStart[c+1]]
	nx, ny             int
	lat0, lng0         float64 // grid origin, degrees
	cellLat, cellLng   float64 // cell size, degrees
	cellLatR, cellLngR float64 // cell size, radians
	cosMin             float64 // smallest cos(latitude) of the entries

	roads *roads.Graph // nil: great-circle distances only
	snaps []facSnap    // parallel to facs when roads is set
}

// facSnap is a facility attached to the road graph.
type facSnap struct {
	roads.Snap
	ok bool // false: farther than roads.DefaultMaxSnapM from the graph
}

type entry struct {
	latR, lngR, cosLat float64
	mult               float64 // 1 + LoadPenalty
	free               int
}

// NewIndex builds an Index from a snapshot of facilities. The slice is not
// retained; facilities with non-finite or out-of-range positions are left
// out.
func NewIndex(fs []Facility) *Index {
	ix := &Index{}
	var elig []Facility
	for _, f := range fs {
		if f.Status == StatusOpen && f.Free() > 0 && validLatLng(f.Lat, f.Lng) {
			elig = append(elig, f)
		}
	}
	if len(elig) == 0 {
		return ix
	}
	minLat, maxLat, minLng, maxLng := elig[0].Lat, elig[0].Lat, elig[0].Lng, elig[0].Lng
	for _, f := range elig[1:] {
		minLat, maxLat = min(minLat, f.Lat), max(maxLat, f.Lat)
		minLng, maxLng = min(minLng, f.Lng), max(maxLng, f.Lng)
	}
	if maxLat-minLat > gridMaxSpanDeg || maxLng-minLng > gridMaxSpanDeg ||
		max(math.Abs(minLat), math.Abs(maxLat)) > 90-gridMaxSpanDeg {
		ix.linear = true
		ix.facs = elig
		ix.entries = make([]entry, len(elig))
		for i, f := range elig {
			ix.entries[i] = newEntry(f)
		}
		return ix
	}

	mPerDeg := EarthRadiusM * degToRad
	midCos := math.Cos((minLat + maxLat) / 2 * degToRad)
	cellM := gridCellM
	for {
		ix.cellLat = cellM / mPerDeg
		ix.cellLng = cellM / (mPerDeg * midCos)
		// +2, not +1: a spare cell so float rounding never puts a
		// facility past the last cell (cellOf must stay exact for the
		// stopping rule).
		ix.nx = int((maxLng-minLng)/ix.cellLng) + 2
		ix.ny = int((maxLat-minLat)/ix.cellLat) + 2
		if ix.nx*ix.ny <= gridMaxCells {
			break
		}
		cellM *= 2
	}
	ix.lat0, ix.lng0 = minLat, minLng
	ix.cellLatR, ix.cellLngR = ix.cellLat*degToRad, ix.cellLng*degToRad

	// Counting sort by cell.
	cells := make([]int32, len(elig))
	ix.cellStart = make([]int32, ix.nx*ix.ny+1)
	for i, f := range elig {
		cx, cy := ix.cellOf(f.Lat, f.Lng)
		c := int32(cy*ix.nx + cx)
		cells[i] = c
		ix.cellStart[c+1]++
	}
	for c := 1; c < len(ix.cellStart); c++ {
		ix.cellStart[c] += ix.cellStart[c-1]
	}
	next := slices.Clone(ix.cellStart[:len(ix.cellStart)-1])
	ix.facs = make([]Facility, len(elig))
	ix.entries = make([]entry, len(elig))
	ix.cosMin = 1
	for i, f := range elig {
		p := next[cells[i]]
		next[cells[i]]++
		ix.facs[p] = f
		ix.entries[p] = newEntry(f)
		ix.cosMin = min(ix.cosMin, ix.entries[p].cosLat)
	}
	return ix
}

func newEntry(f Facility) entry {
	latR := f.Lat * degToRad
	return entry{
		latR:   latR,
		lngR:   f.Lng * degToRad,
		cosLat: math.Cos(latR),
		mult:   1 + LoadPenalty(f.Free(), f.Capacity),
		free:   f.Free(),
	}
}

// Len returns the number of indexed (open, with room) facilities.
func (ix *Index) Len() int { return len(ix.facs) }

func (ix *Index) cellOf(lat, lng float64) (int, int) {
	return int(math.Floor((lng - ix.lng0) / ix.cellLng)), int(math.Floor((lat - ix.lat0) / ix.cellLat))
}

// cand is a candidate in the running top-k.
type cand struct {
	cost, dist float64
	i          int32
}

// topK keeps the k best candidates, sorted, in a caller-provided buffer.
type topK struct {
	ix  *Index
	buf []cand
	k   int
}

// less orders by cost, then distance, then facility ID.
func (t *topK) less(a, b cand) bool {
	if a.cost != b.cost {
		return a.cost < b.cost
	}
	if a.dist != b.dist {
		return a.dist < b.dist
	}
	return t.ix.facs[a.i].ID < t.ix.facs[b.i].ID
}

func (t *topK) full() bool { return len(t.buf) == t.k }

func (t *topK) worst() float64 { return t.buf[len(t.buf)-1].cost }

func (t *topK) offer(c cand) {
	if t.full() {
		if !t.less(c, t.buf[len(t.buf)-1]) {
			return
		}
		t.buf = t.buf[:len(t.buf)-1]
	}
	j := len(t.buf)
	t.buf = t.buf[:j+1] // within cap (k): no append, so the stack buffer stays on the stack
	for j > 0 && t.less(c, t.buf[j-1]) {
		t.buf[j] = t.buf[j-1]
		j--
	}
	t.buf[j] = c
}

type query struct {
	latR, lngR, cosLat float64
	party              int
}

func (ix *Index) consider(t *topK, q *query, from, to int32) {
	for i := from; i < to; i++ {
		e := &ix.entries[i]
		if e.free < q.party {
			continue
		}
		if t.full() && cheapCost(q, e)*(1-1e-9) > t.worst() {
			continue // cannot beat the current k-th: skip the trigonometry
		}
		d := haversineRad(q.latR, q.lngR, q.cosLat, e.latR, e.lngR, e.cosLat) * WalkFactor
		t.offer(cand{cost: d * e.mult, dist: d, i: i})
	}
}

// cheapCost is a lower bound of e's cost from q without trigonometry:
// haversine's a = sin²(Δφ/2) + cosφq·cosφe·sin²(Δλ/2) with sin x ≥ x − x³/6
// (true for every x ≥ 0; clamped at 0 where the polynomial turns negative),
// and d = 2R·asin(√a) ≥ 2R·√a.
func cheapCost(q *query, e *entry) float64 {
	hp := math.Abs(e.latR-q.latR) / 2
	hl := math.Abs(e.lngR-q.lngR) / 2
	sp := max(0, hp-hp*hp*hp/6)
	sl := max(0, hl-hl*hl*hl/6)
	a := sp*sp + q.cosLat*e.cosLat*sl*sl
	return 2 * EarthRadiusM * math.Sqrt(a) * WalkFactor * e.mult
}

// lowerBound returns a lower bound of the walking distance from the query to
// any facility more than r cells away from the query's cell (in latitude or
// longitude). Such a facility differs from the query by more than r cells of
// latitude, so its distance is at least R·Δφ; or by more than r cells of
// longitude, and then hav(d/R) ≥ cosφq·cosφf·hav(Δλ) ≥ cosφq·cosMin·hav(Δλ),
// so d ≥ 2R·asin(√(cosφq·cosMin)·sin(Δλ/2)) (Δλ ≤ π is guaranteed by the
// grid's span limits and gridFarCells).
func (ix *Index) lowerBound(q *query, r int) float64 {
	return WalkFactor * ix.lowerBoundHav(q, r)
}

// lowerBoundHav is lowerBound without WalkFactor: a lower bound of the
// great-circle distance to any facility more than r cells away (0 for
// r ≤ 0, so that r = -1 stands for "no ring scanned yet").
func (ix *Index) lowerBoundHav(q *query, r int) float64 {
	if r <= 0 {
		return 0
	}
	byLat := EarthRadiusM * float64(r) * ix.cellLatR
	dl := math.Min(math.Pi, float64(r)*ix.cellLngR)
	byLng := 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(q.cosLat*ix.cosMin)*math.Sin(dl/2)))
	return math.Min(byLat, byLng)
}

// Nearest returns up to k facilities that are open with at least party free
// places, best first by load-spreading cost (see CrowdThreshold). Without a
// road graph it allocates only the result slice (for k ≤ 32). Positions must
// be finite degrees; k ≤ 0 or party ≤ 0 give nil.
//
// With a road graph (NewRoadIndex) and a position within
// roads.DefaultMaxSnapM of it, distances are walked along the graph (see
// roadSearch) and the result is exact with respect to the graph; a position
// off the graph is answered by great-circle distance × WalkFactor.
func (ix *Index) Nearest(lat, lng float64, k, party int) []Match {
	if k <= 0 || party <= 0 || len(ix.entries) == 0 || !validLatLng(lat, lng) {
		return nil
	}
	var stack [stackK]cand
	t := topK{ix: ix, k: k, buf: stack[:0]}
	if k > stackK {
		t.buf = make([]cand, 0, k)
	}
	latR := lat * degToRad
	q := query{latR: latR, lngR: lng * degToRad, cosLat: math.Cos(latR), party: party}

	cx, cy := 0, 0
	linear := ix.linear
	if !linear {
		cx, cy = ix.cellOf(lat, lng)
		linear = cx < -gridFarCells || cx >= ix.nx+gridFarCells || cy < -gridFarCells || cy >= ix.ny+gridFarCells
	}
	var from roads.Snap
	byRoad := false
	if ix.roads != nil {
		from, byRoad = ix.roads.Snap(lat, lng, roads.DefaultMaxSnapM)
	}
	switch {
	case byRoad:
		ix.roadSearch(&t, &q, from, cx, cy, linear)
	case linear:
		ix.consider(&t, &q, 0, int32(len(ix.entries)))
	default:
		ix.ringSearch(&t, &q, cx, cy)
	}
	if len(t.buf) == 0 {
		return nil
	}
	out := make([]Match, len(t.buf))
	for j, c := range t.buf {
		f := ix.facs[c.i]
		out[j] = Match{Facility: f, DistanceM: math.Round(c.dist), WalkMinutes: WalkMinutes(c.dist), Free: f.Free()}
	}
	return out
}

func (ix *Index) ringSearch(t *topK, q *query, cx, cy int) {
	for r := 0; ; r++ {
		whole := ix.ring(cx, cy, r, func(from, to int32) { ix.consider(t, q, from, to) })
		if whole {
			return // the whole grid has been seen
		}
		// The slack keeps float rounding of the bound from cutting a tie.
		if t.full() && t.worst() <= ix.lowerBound(q, r)*(1-1e-9) {
			return
		}
	}
}

// ring calls cell with the entry range of every cell of the square ring r
// around cell (cx, cy) that lies in the grid, and reports whether rings 0..r
// cover the whole grid.
func (ix *Index) ring(cx, cy, r int, cell func(from, to int32)) bool {
	do := func(x, y int) {
		c := y*ix.nx + x
		cell(ix.cellStart[c], ix.cellStart[c+1])
	}
	x0, x1, y0, y1 := cx-r, cx+r, cy-r, cy+r
	xa, xb := max(x0, 0), min(x1, ix.nx-1)
	// Top and bottom rows of the ring.
	for _, y := range [2]int{y0, y1} {
		if y >= 0 && y < ix.ny {
			for x := xa; x <= xb; x++ {
				do(x, y)
			}
		}
		if r == 0 {
			break
		}
	}
	// Left and right columns, corners excluded.
	for y := max(y0+1, 0); y <= min(y1-1, ix.ny-1); y++ {
		if x0 >= 0 && x0 < ix.nx {
			do(x0, y)
		}
		if x1 >= 0 && x1 < ix.nx {
			do(x1, y)
		}
	}
	return x0 <= 0 && x1 >= ix.nx-1 && y0 <= 0 && y1 >= ix.ny-1
}

// NewRoadIndex is NewIndex with walking distances along the road graph g
// (nil g gives NewIndex). Each facility is snapped to its nearest graph node
// once, here; one farther than roads.DefaultMaxSnapM from the graph keeps the
// great-circle estimate.
func NewRoadIndex(fs []Facility, g *roads.Graph) *Index {
	return newRoadIndex(fs, g, nil)
}

// newRoadIndex reuses the snaps of prev for facilities that have not moved,
// so that rebuilding the index on every change of counts stays cheap.
func newRoadIndex(fs []Facility, g *roads.Graph, prev *Index) *Index {
	ix := NewIndex(fs)
	if g == nil {
		return ix
	}
	ix.roads = g
	ix.snaps = make([]facSnap, len(ix.facs))
	var old map[string]int
	if prev != nil && prev.roads == g {
		old = make(map[string]int, len(prev.facs))
		for i, f := range prev.facs {
			old[f.ID] = i
		}
	}
	for i, f := range ix.facs {
		if j, ok := old[f.ID]; ok && prev.facs[j].Lat == f.Lat && prev.facs[j].Lng == f.Lng {
			ix.snaps[i] = prev.snaps[j]
			continue
		}
		s, ok := g.Snap(f.Lat, f.Lng, roads.DefaultMaxSnapM)
		ix.snaps[i] = facSnap{Snap: s, ok: ok}
	}
	return ix
}

// lbCand is a facility with a lower bound of its cost by road.
type lbCand struct {
	lb, hav float64 // lb = hav × (1 + penalty)
	i       int32
}

// roadSearch fills t with the k best facilities by road distance from q,
// which snapped to the graph at from.
//
// Candidates come from the grid in increasing order of lb = great-circle
// distance × (1 + penalty): rings are scanned outwards and a candidate is
// taken from a min-heap only once no unseen facility can have a smaller lb
// (lowerBoundHav). Each is costed by an A* search bounded by what would
// still enter the top k. The search stops when the next candidate's lb
// exceeds the k-th cost. That is exact: a road distance is never below the
// great-circle distance (the access legs are straight lines, every edge is
// at least the straight line between its ends, and the great circle obeys
// the triangle inequality), and the great-circle estimate used when there
// is no path (× WalkFactor > 1) is not either, so every facility's cost is
// at least its lb, and no facility left unexamined can beat the k-th.
//
// A facility's distance is by road when it is snapped to the graph and a
// path leads to it from q's node; otherwise (another component, a one-way
// trap, off the graph) it is the great-circle estimate.
func (ix *Index) roadSearch(t *topK, q *query, from roads.Snap, cx, cy int, linear bool) {
	var buf [64]lbCand
	h := buf[:0]
	push := func(c lbCand) {
		h = append(h, c)
		for j := len(h) - 1; j > 0; {
			p := (j - 1) / 2
			if h[p].lb <= h[j].lb {
				break
			}
			h[p], h[j] = h[j], h[p]
			j = p
		}
	}
	pop := func() lbCand {
		top := h[0]
		n := len(h) - 1
		h[0] = h[n]
		h = h[:n]
		for j := 0; ; {
			l := 2*j + 1
			if l >= n {
				break
			}
			m := l
			if r := l + 1; r < n && h[r].lb < h[l].lb {
				m = r
			}
			if h[j].lb <= h[m].lb {
				break
			}
			h[j], h[m] = h[m], h[j]
			j = m
		}
		return top
	}
	collect := func(lo, hi int32) {
		for i := lo; i < hi; i++ {
			e := &ix.entries[i]
			if e.free < q.party {
				continue
			}
			d := haversineRad(q.latR, q.lngR, q.cosLat, e.latR, e.lngR, e.cosLat)
			push(lbCand{lb: d * e.mult, hav: d, i: i})
		}
	}
	ring, whole := -1, linear
	if linear {
		collect(0, int32(len(ix.entries)))
	}
	for {
		// The slack keeps float rounding of the bound from letting an
		// unseen facility with a smaller lb slip behind.
		if len(h) == 0 || (!whole && h[0].lb > ix.lowerBoundHav(q, ring)*(1-1e-9)) {
			if whole {
				return
			}
			ring++
			whole = ix.ring(cx, cy, ring, collect)
			continue
		}
		c := pop()
		if t.full() && c.lb*(1-1e-9) > t.worst() {
			return // every candidate left has lb ≥ c.lb > the k-th cost
		}
		d := ix.roadDistance(t, from, c)
		if !math.IsInf(d, 1) {
			e := &ix.entries[c.i]
			t.offer(cand{cost: d * e.mult, dist: d, i: c.i})
		}
	}
}

// roadDistance returns the walking distance to candidate c (see
// roadSearch), or +Inf when it is certain not to enter t.
func (ix *Index) roadDistance(t *topK, from roads.Snap, c lbCand) float64 {
	e := &ix.entries[c.i]
	estimate := c.hav * WalkFactor
	to := ix.snaps[c.i]
	if !to.ok {
		return estimate
	}
	legs := from.DistM + to.DistM
	limit := math.Inf(1)
	if t.full() {
		// The path may cost up to the k-th (ties are decided by
		// distance, then ID, in offer); the slack covers rounding.
		limit = (t.worst()/e.mult-legs)*(1+1e-9) + 1e-6
	}
	var p float64
	res := roads.Beyond
	if limit > 0 {
		p, res = ix.roads.PathM(from.Node, to.Node, limit)
	}
	switch res {
	case roads.Found:
		return legs + p
	case roads.Unreachable:
		return estimate
	}
	// Beyond: any path is too long, but if there is none the estimate
	// applies, and it might enter.
	if estimate*e.mult > t.worst() {
		return math.Inf(1)
	}
	p, res = ix.roads.PathM(from.Node, to.Node, 0)
	if res == roads.Found {
		return legs + p
	}
	return estimate
}
