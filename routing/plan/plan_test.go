package plan

import (
	"math"
	"math/rand/v2"
	"testing"
)

// routeCost is the reference's own reading of a Problem's routes: the whole
// meter cost of route i→j, or -1 when there is none.
func routeCost(p Problem, i, j int) int64 {
	d := p.Dist[i][j]
	if math.IsInf(d, 1) || (p.MaxDistM > 0 && d > p.MaxDistM) {
		return -1
	}
	return int64(math.Round(d))
}

// exhaustive returns the least overflow and, for it, the least cost, by
// trying every assignment. Only for tiny problems.
func exhaustive(p Problem) (overflow int, cost int64) {
	ns, nf := len(p.Supply), len(p.Capacity)
	bestOv, bestCost := math.MaxInt, int64(math.MaxInt64)
	left := append([]int(nil), p.Capacity...)
	var rec func(i, j, remaining, ov int, c int64)
	rec = func(i, j, remaining, ov int, c int64) {
		if i == ns {
			if ov < bestOv || (ov == bestOv && c < bestCost) {
				bestOv, bestCost = ov, c
			}
			return
		}
		if j == nf { // the rest of source i overflows
			next := 0
			if i+1 < ns {
				next = p.Supply[i+1]
			}
			rec(i+1, 0, next, ov+remaining, c)
			return
		}
		rc := routeCost(p, i, j)
		for x := 0; x <= remaining && x <= left[j]; x++ {
			if x > 0 && rc < 0 {
				break
			}
			left[j] -= x
			rec(i, j+1, remaining-x, ov, c+int64(x)*max(rc, 0))
			left[j] += x
		}
	}
	if ns == 0 {
		return 0, 0
	}
	rec(0, 0, p.Supply[0], 0, 0)
	return bestOv, bestCost
}

// unitSSP is a deliberately plain min-cost flow: the same network, one unit
// at a time along a Bellman-Ford shortest path on an adjacency matrix. It
// shares no code with Solve.
func unitSSP(p Problem) (overflow int, cost int64) {
	ns, nf := len(p.Supply), len(p.Capacity)
	n := ns + nf + 2
	s, t := 0, n-1
	const none = math.MaxInt64
	capm := make([][]int64, n)
	costm := make([][]int64, n)
	for i := range capm {
		capm[i] = make([]int64, n)
		costm[i] = make([]int64, n)
	}
	var maxC int64
	for i := range ns {
		for j := range nf {
			maxC = max(maxC, routeCost(p, i, j))
		}
	}
	big := int64(n)*(maxC+1) + 1
	set := func(u, v int, c, w int64) { capm[u][v], costm[u][v], costm[v][u] = c, w, -w }
	total := 0
	for i, sup := range p.Supply {
		total += sup
		set(s, 1+i, int64(sup), 0)
		set(1+i, t, int64(sup), big)
		for j := range nf {
			if rc := routeCost(p, i, j); rc >= 0 {
				set(1+i, 1+ns+j, int64(total+1e6), rc)
			}
		}
	}
	for j, c := range p.Capacity {
		set(1+ns+j, t, int64(c), 0)
	}
	flow := make([][]int64, n)
	for i := range flow {
		flow[i] = make([]int64, n)
	}
	resid := func(u, v int) int64 { return capm[u][v] - flow[u][v] + flow[v][u] }
	for range total {
		dist := make([]int64, n)
		prev := make([]int, n)
		for v := range dist {
			dist[v], prev[v] = none, -1
		}
		dist[s] = 0
		for range n {
			for u := range n {
				if dist[u] == none {
					continue
				}
				for v := range n {
					if u == v || resid(u, v) <= 0 {
						continue
					}
					w := costm[u][v]
					if flow[v][u] > 0 { // cancelling flow refunds its cost
						w = -costm[v][u]
					}
					if dist[u]+w < dist[v] {
						dist[v], prev[v] = dist[u]+w, u
					}
				}
			}
		}
		for v := t; v != s; v = prev[v] {
			u := prev[v]
			if flow[v][u] > 0 {
				flow[v][u]--
			} else {
				flow[u][v]++
			}
		}
	}
	for i := range ns {
		overflow += int(flow[1+i][t])
		for j := range nf {
			cost += flow[1+i][1+ns+j] * costm[1+i][1+ns+j]
		}
	}
	return overflow, cost
}

// checkInvariants fails t unless res is a feasible assignment of p with
// overflow only where every sink within reach is full.
func checkInvariants(t *testing.T, p Problem, res Result) {
	t.Helper()
	used := make([]int, len(p.Capacity))
	supply, assigned, overflow := 0, 0, 0
	var cost int64
	if len(res.Sources) != len(p.Supply) {
		t.Fatalf("%d sources in result, %d in problem", len(res.Sources), len(p.Supply))
	}
	for i, src := range res.Sources {
		sum := 0
		for _, f := range src.Flows {
			if f.Count <= 0 {
				t.Errorf("source %d: flow of %d to sink %d", i, f.Count, f.Sink)
			}
			rc := routeCost(p, i, f.Sink)
			if rc < 0 {
				t.Errorf("source %d sends %d to sink %d without a route", i, f.Count, f.Sink)
			}
			if f.DistanceM != rc {
				t.Errorf("source %d → sink %d: distance %d, want %d", i, f.Sink, f.DistanceM, rc)
			}
			used[f.Sink] += f.Count
			sum += f.Count
			cost += int64(f.Count) * rc
		}
		if sum != src.Assigned {
			t.Errorf("source %d: flows sum to %d, Assigned %d", i, sum, src.Assigned)
		}
		if src.Assigned+src.Overflow != p.Supply[i] || src.Overflow < 0 {
			t.Errorf("source %d: assigned %d + overflow %d != supply %d", i, src.Assigned, src.Overflow, p.Supply[i])
		}
		supply += p.Supply[i]
		assigned += src.Assigned
		overflow += src.Overflow
	}
	for j, u := range used {
		if u > p.Capacity[j] {
			t.Errorf("sink %d over capacity: %d > %d", j, u, p.Capacity[j])
		}
	}
	for i, src := range res.Sources {
		if src.Overflow == 0 {
			continue
		}
		for j := range p.Capacity {
			if routeCost(p, i, j) >= 0 && used[j] < p.Capacity[j] {
				t.Errorf("source %d overflows %d while sink %d within reach has %d free", i, src.Overflow, j, p.Capacity[j]-used[j])
			}
		}
	}
	if res.Supply != supply || res.Assigned != assigned || res.Overflow != overflow || res.CostM != cost {
		t.Errorf("totals %d/%d/%d cost %d, want %d/%d/%d cost %d",
			res.Supply, res.Assigned, res.Overflow, res.CostM, supply, assigned, overflow, cost)
	}
}

// checkOptimal fails t if the residual network of res has a negative cycle
// (Bellman-Ford from a virtual root): the optimality certificate of a min
// cost flow, checkable on instances too big for the references.
func checkOptimal(t *testing.T, p Problem, res Result) {
	t.Helper()
	ns, nf := len(p.Supply), len(p.Capacity)
	n := ns + nf + 2
	tt := n - 1
	var maxC int64
	for i := range ns {
		for j := range nf {
			maxC = max(maxC, routeCost(p, i, j))
		}
	}
	big := int64(n)*(maxC+1) + 1
	type edge struct {
		u, v int
		w    int64
	}
	var es []edge
	used := make([]int, nf)
	for i, src := range res.Sources {
		sent := map[int]int{}
		for _, f := range src.Flows {
			sent[f.Sink] = f.Count
			used[f.Sink] += f.Count
		}
		if p.Supply[i] == 0 {
			continue
		}
		if src.Overflow < p.Supply[i] {
			es = append(es, edge{1 + i, tt, big})
		}
		if src.Overflow > 0 {
			es = append(es, edge{tt, 1 + i, -big})
		}
		for j := range nf {
			rc := routeCost(p, i, j)
			if rc < 0 || p.Capacity[j] == 0 {
				continue
			}
			es = append(es, edge{1 + i, 1 + ns + j, rc})
			if sent[j] > 0 {
				es = append(es, edge{1 + ns + j, 1 + i, -rc})
			}
		}
	}
	for j, c := range p.Capacity {
		if used[j] < c {
			es = append(es, edge{1 + ns + j, tt, 0})
		}
		if used[j] > 0 {
			es = append(es, edge{tt, 1 + ns + j, 0})
		}
	}
	// The arcs at s are saturated (all supply is routed) and only lead
	// back to s, which no cycle through the rest can use.
	dist := make([]int64, n)
	for range n {
		changed := false
		for _, e := range es {
			if dist[e.u]+e.w < dist[e.v] {
				dist[e.v] = dist[e.u] + e.w
				changed = true
			}
		}
		if !changed {
			return
		}
	}
	t.Fatalf("residual network has a negative cycle: the assignment is not optimal")
}

func randomProblem(r *rand.Rand, ns, nf, maxSupply, maxCap int) Problem {
	p := Problem{Supply: make([]int, ns), Capacity: make([]int, nf), Dist: make([][]float64, ns)}
	type pt struct{ x, y float64 }
	sinks := make([]pt, nf)
	for j := range sinks {
		sinks[j] = pt{r.Float64() * 3000, r.Float64() * 3000}
		p.Capacity[j] = r.IntN(maxCap + 1)
	}
	for i := range ns {
		p.Supply[i] = r.IntN(maxSupply + 1)
		x, y := r.Float64()*3000, r.Float64()*3000
		p.Dist[i] = make([]float64, nf)
		for j, s := range sinks {
			p.Dist[i][j] = math.Hypot(x-s.x, y-s.y)
			if r.IntN(8) == 0 {
				p.Dist[i][j] = math.Inf(1)
			}
		}
	}
	if r.IntN(2) == 0 {
		p.MaxDistM = 1000 + r.Float64()*2000
	}
	return p
}

func TestSolveMatchesExhaustive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for k := range 400 {
		p := randomProblem(r, 1+r.IntN(3), 1+r.IntN(3), 4, 4)
		res, err := Solve(p)
		if err != nil {
			t.Fatalf("instance %d: %v", k, err)
		}
		checkInvariants(t, p, res)
		ov, c := exhaustive(p)
		if res.Overflow != ov || res.CostM != c {
			t.Fatalf("instance %d %+v: got overflow %d cost %d, exhaustive %d, %d", k, p, res.Overflow, res.CostM, ov, c)
		}
	}
}

func TestSolveMatchesUnitBellmanFord(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for k := range 150 {
		p := randomProblem(r, 1+r.IntN(5), 1+r.IntN(6), 12, 10)
		res, err := Solve(p)
		if err != nil {
			t.Fatalf("instance %d: %v", k, err)
		}
		checkInvariants(t, p, res)
		checkOptimal(t, p, res)
		ov, c := unitSSP(p)
		if res.Overflow != ov || res.CostM != c {
			t.Fatalf("instance %d %+v: got overflow %d cost %d, reference %d, %d", k, p, res.Overflow, res.CostM, ov, c)
		}
	}
}

func TestSolveLargeIsOptimal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for k := range 5 {
		p := randomProblem(r, 33, 150, 30000, 4000)
		res, err := Solve(p)
		if err != nil {
			t.Fatalf("instance %d: %v", k, err)
		}
		checkInvariants(t, p, res)
		checkOptimal(t, p, res)
		if res.Augmentations > 5000 {
			t.Errorf("instance %d: %d augmentations; bottleneck augmentation should need a few hundred", k, res.Augmentations)
		}
	}
}

func TestSolveDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := randomProblem(r, 10, 30, 500, 100)
	a, err := Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, _ := Solve(p)
		for i := range a.Sources {
			if len(a.Sources[i].Flows) != len(b.Sources[i].Flows) {
				t.Fatalf("source %d: results differ between runs", i)
			}
			for k := range a.Sources[i].Flows {
				if a.Sources[i].Flows[k] != b.Sources[i].Flows[k] {
					t.Fatalf("source %d: results differ between runs", i)
				}
			}
		}
	}
}

func TestSolveSmallCases(t *testing.T) {
	inf := math.Inf(1)
	// Nearest first; the far source takes the leftover of the shared sink.
	p := Problem{
		Supply:   []int{5, 5},
		Capacity: []int{6, 10},
		Dist:     [][]float64{{100, 900}, {200, 3000}},
	}
	res, err := Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, p, res)
	// Optimal: source 1 takes 5 at sink 0 (1000), source 0 takes 1 at
	// sink 0 and 4 at sink 1 (100 + 3600) = 4700, cheaper than source 0 at
	// sink 0 (500) + source 1: 1 at sink 0, 4 at sink 1 (200 + 12000).
	if res.Overflow != 0 || res.CostM != 4700 {
		t.Errorf("got overflow %d cost %d, want 0 and 4700: %+v", res.Overflow, res.CostM, res.Sources)
	}

	// Out of reach: the max distance sends everyone to overflow.
	p = Problem{Supply: []int{7}, Capacity: []int{100}, Dist: [][]float64{{6000}}, MaxDistM: 5000}
	res, err = Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Overflow != 7 || res.Assigned != 0 || len(res.Sources[0].Flows) != 0 {
		t.Errorf("out of reach: %+v", res)
	}
	// Overflow goes where it is cheapest to leave people: the source that
	// has a second sink keeps everyone.
	p = Problem{Supply: []int{4, 4}, Capacity: []int{4, 4}, Dist: [][]float64{{10, inf}, {10, 50}}}
	res, err = Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, p, res)
	if res.Overflow != 0 || res.CostM != 40+200 {
		t.Errorf("got overflow %d cost %d, want 0 and 240", res.Overflow, res.CostM)
	}
	// Nothing at all.
	res, err = Solve(Problem{})
	if err != nil || res.Supply != 0 || len(res.Sources) != 0 {
		t.Errorf("empty: %+v %v", res, err)
	}
}

func TestSolveRejectsBadInput(t *testing.T) {
	for name, p := range map[string]Problem{
		"rows":      {Supply: []int{1}, Capacity: []int{1}},
		"columns":   {Supply: []int{1}, Capacity: []int{1}, Dist: [][]float64{{1, 2}}},
		"negative":  {Supply: []int{-1}, Capacity: []int{1}, Dist: [][]float64{{1}}},
		"capacity":  {Supply: []int{1}, Capacity: []int{MaxUnits + 1}, Dist: [][]float64{{1}}},
		"nan":       {Supply: []int{1}, Capacity: []int{1}, Dist: [][]float64{{math.NaN()}}},
		"neg dist":  {Supply: []int{1}, Capacity: []int{1}, Dist: [][]float64{{-5}}},
		"max dist":  {Supply: []int{1}, Capacity: []int{1}, Dist: [][]float64{{5}}, MaxDistM: -1},
		"too large": {Supply: []int{MaxUnits, MaxUnits}, Capacity: []int{1}, Dist: [][]float64{{9e11}, {1}}},
	} {
		if _, err := Solve(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Exported for the external tests on real data (minato_test.go).
var (
	CheckInvariants = checkInvariants
	CheckOptimal    = checkOptimal
)
