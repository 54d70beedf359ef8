// Package plan solves the transportation problem behind the HQ planning
// view: send the people stranded at each source (a station area) to sinks
// (facilities with free places) so that as few as possible are left without
// a place (the overflow) and, among all such assignments, the total walking
// distance is smallest.
//
// It is a min-cost-flow solver written by hand because no Go library does
// this well: there is no maintained pure-Go min-cost-flow package, gonum
// offers only a general dense-tableau LP simplex (floating point, blind to
// the network structure, and not a dependency of anpi), and OR-Tools needs
// cgo. The algorithm is successive shortest paths
// with node potentials (Johnson reduced costs, Dijkstra on a dense graph),
// augmenting each path by its bottleneck capacity, so 500,000 people take a
// few hundred augmentations, not 500,000.
//
// The network: source s → station i (capacity supply_i, cost 0); station i →
// sink j (capacity unbounded, cost = distance in whole meters) when the
// distance is finite and within Problem.MaxDistM; sink j → target t
// (capacity free_j, cost 0); and station i → t, the overflow arc (capacity
// supply_i, cost M). M is larger than the cost of any simple path through
// the network, so the optimum first places as many people as the capacities
// within reach allow and only then minimises distance: a station has
// overflow only when every sink within its reach is full.
package plan

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// MaxUnits bounds one supply or capacity, so that costs cannot overflow.
const MaxUnits = 100_000_000

// Problem is one transportation problem.
type Problem struct {
	// Supply is the number of people at each source (0..MaxUnits).
	Supply []int
	// Capacity is the number of free places at each sink (0..MaxUnits).
	Capacity []int
	// Dist is the distance in meters from source i to sink j, Dist[i][j]:
	// len(Supply) rows of len(Capacity) entries. +Inf means no route.
	Dist [][]float64
	// MaxDistM, when > 0, removes the routes longer than it.
	MaxDistM float64
}

// Flow is the people one source sends to one sink.
type Flow struct {
	// Sink is the index of the sink in Problem.Capacity.
	Sink int
	// Count is the number of people.
	Count int
	// DistanceM is the distance, rounded to the meter.
	DistanceM int64
}

// Source is the outcome at one source.
type Source struct {
	// Flows are the sinks it sends people to, nearest first.
	Flows []Flow
	// Assigned is the sum of Flows' counts.
	Assigned int
	// Overflow is the number of its people left without a place.
	Overflow int
}

// Result is an optimal assignment.
type Result struct {
	// Sources has one entry per Problem.Supply entry.
	Sources []Source
	// Supply, Assigned and Overflow are totals; Supply = Assigned + Overflow.
	Supply, Assigned, Overflow int
	// CostM is the total walking distance of the assigned people in
	// person-meters (distances rounded to the meter).
	CostM int64
	// Augmentations is the number of shortest paths found (for tuning).
	Augmentations int
}

// arc is one residual arc; arcs come in pairs (a, a^1).
type arc struct {
	to   int32
	cap  int64 // residual capacity
	cost int64
}

type graph struct {
	arcs  []arc
	first []int32 // first arc index of each node (CSR, built by finish)
	adj   []int32 // arc indices grouped by tail node
	tails []int32 // tail of each arc, used to build adj
}

func (g *graph) add(from, to int, capacity, cost int64) int {
	i := len(g.arcs)
	g.arcs = append(g.arcs, arc{to: int32(to), cap: capacity, cost: cost}, arc{to: int32(from), cap: 0, cost: -cost})
	g.tails = append(g.tails, int32(from), int32(to))
	return i
}

// finish builds the adjacency lists of n nodes.
func (g *graph) finish(n int) {
	g.first = make([]int32, n+1)
	for _, t := range g.tails {
		g.first[t+1]++
	}
	for i := 1; i <= n; i++ {
		g.first[i] += g.first[i-1]
	}
	g.adj = make([]int32, len(g.arcs))
	pos := slices.Clone(g.first[:n])
	for a, t := range g.tails {
		g.adj[pos[t]] = int32(a)
		pos[t]++
	}
}

// Solve returns an optimal assignment for p: least overflow first, then
// least total distance. Ties are broken deterministically (same input, same
// result). Bad input (shape, negative or too large counts, NaN or negative
// distances) gives an error and no result.
func Solve(p Problem) (Result, error) {
	ns, nf := len(p.Supply), len(p.Capacity)
	if len(p.Dist) != ns {
		return Result{}, fmt.Errorf("plan: %d distance rows for %d sources", len(p.Dist), ns)
	}
	if math.IsNaN(p.MaxDistM) || p.MaxDistM < 0 {
		return Result{}, errors.New("plan: max distance must be 0 (none) or positive")
	}
	var total int64
	for i, s := range p.Supply {
		if s < 0 || s > MaxUnits {
			return Result{}, fmt.Errorf("plan: supply %d of source %d out of range 0..%d", s, i, MaxUnits)
		}
		total += int64(s)
	}
	for j, c := range p.Capacity {
		if c < 0 || c > MaxUnits {
			return Result{}, fmt.Errorf("plan: capacity %d of sink %d out of range 0..%d", c, j, MaxUnits)
		}
	}
	// Whole-meter costs of the usable routes; -1 marks no route.
	cost := make([][]int64, ns)
	var maxCost int64
	for i, row := range p.Dist {
		if len(row) != nf {
			return Result{}, fmt.Errorf("plan: distance row %d has %d entries for %d sinks", i, len(row), nf)
		}
		cost[i] = make([]int64, nf)
		for j, d := range row {
			switch {
			case math.IsNaN(d) || d < 0:
				return Result{}, fmt.Errorf("plan: distance from source %d to sink %d is %v", i, j, d)
			case math.IsInf(d, 1) || (p.MaxDistM > 0 && d > p.MaxDistM) || d > 1e12:
				cost[i][j] = -1
			default:
				c := int64(math.Round(d))
				cost[i][j] = c
				maxCost = max(maxCost, c)
			}
		}
	}

	// Nodes: s = 0, sources 1..ns, sinks ns+1..ns+nf, t = ns+nf+1.
	n := ns + nf + 2
	s, t := 0, n-1
	// Overflow cost: more than any simple path's cost (n arcs at most).
	big := int64(n)*(maxCost+1) + 1
	if total > 0 && big > math.MaxInt64/4/total {
		return Result{}, errors.New("plan: distances too large for the supply")
	}
	g := &graph{arcs: make([]arc, 0, 2*(ns*nf+2*ns+nf))}
	routeArc := make([][]int, ns) // arc index of each used route, -1 if none
	overflowArc := make([]int, ns)
	for i := range ns {
		routeArc[i] = make([]int, nf)
		for j := range routeArc[i] {
			routeArc[i][j] = -1
		}
		if p.Supply[i] == 0 {
			overflowArc[i] = -1
			continue
		}
		g.add(s, 1+i, int64(p.Supply[i]), 0)
		for j := range nf {
			if cost[i][j] >= 0 && p.Capacity[j] > 0 {
				routeArc[i][j] = g.add(1+i, 1+ns+j, total, cost[i][j])
			}
		}
		overflowArc[i] = g.add(1+i, t, int64(p.Supply[i]), big)
	}
	for j, c := range p.Capacity {
		if c > 0 {
			g.add(1+ns+j, t, int64(c), 0)
		}
	}
	g.finish(n)

	aug, err := g.minCostFlow(s, t, total)
	if err != nil {
		return Result{}, err
	}

	res := Result{Sources: make([]Source, ns), Supply: int(total), Augmentations: aug}
	for i := range ns {
		src := &res.Sources[i]
		for j, a := range routeArc[i] {
			if a < 0 {
				continue
			}
			if f := g.arcs[a^1].cap; f > 0 {
				src.Flows = append(src.Flows, Flow{Sink: j, Count: int(f), DistanceM: cost[i][j]})
				src.Assigned += int(f)
				res.CostM += f * cost[i][j]
			}
		}
		slices.SortFunc(src.Flows, func(a, b Flow) int {
			return cmp.Or(cmp.Compare(a.DistanceM, b.DistanceM), cmp.Compare(a.Sink, b.Sink))
		})
		if a := overflowArc[i]; a >= 0 {
			src.Overflow = int(g.arcs[a^1].cap)
		}
		res.Assigned += src.Assigned
		res.Overflow += src.Overflow
	}
	if res.Assigned+res.Overflow != res.Supply {
		return Result{}, fmt.Errorf("plan: internal error: %d assigned + %d overflow != supply %d", res.Assigned, res.Overflow, res.Supply)
	}
	return res, nil
}

// minCostFlow sends want units from s to t at least cost by successive
// shortest paths and returns the number of augmenting paths. Every arc cost
// is non-negative at the start, so zero potentials are valid.
func (g *graph) minCostFlow(s, t int, want int64) (int, error) {
	n := len(g.first) - 1
	const inf = math.MaxInt64
	pot := make([]int64, n)
	dist := make([]int64, n)
	done := make([]bool, n)
	via := make([]int32, n) // arc into each node on the shortest-path tree
	aug := 0
	for want > 0 {
		// Dijkstra on reduced costs; dense O(V²) selection suits these
		// small, nearly complete bipartite graphs.
		for v := range n {
			dist[v], done[v], via[v] = inf, false, -1
		}
		dist[s] = 0
		for {
			u, du := -1, int64(inf)
			for v := range n {
				if !done[v] && dist[v] < du {
					u, du = v, dist[v]
				}
			}
			if u < 0 || u == t {
				break
			}
			done[u] = true
			for _, ai := range g.adj[g.first[u]:g.first[u+1]] {
				a := &g.arcs[ai]
				if a.cap <= 0 {
					continue
				}
				v := int(a.to)
				nd := du + a.cost + pot[u] - pot[v]
				if nd < dist[v] {
					dist[v], via[v] = nd, ai
				}
			}
		}
		dt := dist[t]
		if dt == inf {
			return aug, fmt.Errorf("plan: internal error: %d units cannot reach the target", want)
		}
		// Capping at dist[t] keeps every residual reduced cost
		// non-negative, also for nodes Dijkstra did not finish.
		for v := range n {
			pot[v] += min(dist[v], dt)
		}
		push := want
		for v := t; v != s; v = int(g.arcs[via[v]^1].to) {
			push = min(push, g.arcs[via[v]].cap)
		}
		for v := t; v != s; v = int(g.arcs[via[v]^1].to) {
			g.arcs[via[v]].cap -= push
			g.arcs[via[v]^1].cap += push
		}
		want -= push
		aug++
	}
	return aug, nil
}
