package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/routing/plan"
)

// Limits and defaults of commuter reports and the plan.
const (
	// MaxStaffCount is the largest count one staff report may give.
	MaxStaffCount = 100_000
	// MaxSelfCount is the largest party one self-report may give.
	MaxSelfCount = 20
	// DefaultSelfWindow is how long a self-report counts when no staff
	// report replaces it.
	DefaultSelfWindow = 6 * time.Hour
	// DefaultMaxWalkM is the longest walk the plan sends anyone on: 5 km,
	// about 75 minutes at WalkSpeedMPerMin in a crowd.
	DefaultMaxWalkM = 5000.0
	// DefaultPlanTTL is how long a computed plan is served before the
	// counts are read again (a local report or a facility change recomputes
	// at once).
	DefaultPlanTTL = 5 * time.Second
	// SelfReportResolution is the time resolution of the self-report tally:
	// the store may round report times down to it.
	SelfReportResolution = 5 * time.Minute
)

// StaffReport is the latest stranded count a staff member gave for a station.
type StaffReport struct {
	// Station is the station code.
	Station string `json:"station"`
	// Count is the number of stranded people counted there.
	Count int `json:"count"`
	// By is the staff member's name.
	By string `json:"by"`
	// At is when the report was made.
	At time.Time `json:"at"`
}

// CommuterStore keeps commuter reports durably, shared by every process.
type CommuterStore interface {
	// SetStaffReport stores r as the station's staff report, atomically
	// replacing an older one (a stored report with a later At is kept).
	SetStaffReport(ctx context.Context, r StaffReport) error
	// StaffReports returns the staff report of every station that has one.
	StaffReports(ctx context.Context) ([]StaffReport, error)
	// AddSelfReport atomically adds count people to the self-reported tally
	// of station at time at.
	AddSelfReport(ctx context.Context, station string, at time.Time, count int) error
	// SelfCounts returns, per station code, the people self-reported from
	// since to until; times are compared at SelfReportResolution (a report
	// up to that much before since may count). Stations with none may be
	// missing from the map.
	SelfCounts(ctx context.Context, stations []string, since, until time.Time) (map[string]int, error)
}

// CommuterOptions configures Commuters.
type CommuterOptions struct {
	// Stations are the station areas (required, codes and names unique).
	Stations []Station
	// Boundary, when set, limits self-reports by position to the positions
	// it Serves.
	Boundary *Boundary
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SelfWindow is DefaultSelfWindow when 0.
	SelfWindow time.Duration
	// MaxWalkM is DefaultMaxWalkM when 0.
	MaxWalkM float64
	// PlanTTL is DefaultPlanTTL when 0.
	PlanTTL time.Duration
}

// Commuters keeps the stranded-commuter counts per station area and plans
// where they go: the HQ planning view.
//
// Counts. A staff report (station staff, operator role) sets the station's
// count; the latest one wins. A self-report (public) adds 1..MaxSelfCount
// people to the station's self-reported tally. The stranded count of a
// station is max(staff count, self count), where the self count only takes
// self-reports made after the latest staff report and within SelfWindow.
// Reason: a staff headcount is authoritative and already includes the people
// who reported themselves before it, so it resets the tally; later
// self-reports are a lower bound of who is there now (not everyone
// reports), so the larger of the two never double counts and never plans
// for fewer people than are known to be there. Self-reports age out after
// SelfWindow because nobody reports leaving. Times are compared at
// SelfReportResolution: a self-report made in the few minutes before a staff
// report may still count (erring towards more people, not fewer).
//
// Plan. Stranded counts are assigned to facilities by plan.Solve: least
// overflow first, then least total walking distance (WalkDistanceM), no
// walk longer than MaxWalkM. Sinks are the facilities with status open and
// free places (capacity − occupancy − held: Facility.Free), of every kind
// but welfare shelters (those are for 要支援者). checking facilities are not
// used: nobody is sent to a building before it is judged safe. People who
// cannot be placed within reach are the station's overflow.
type Commuters struct {
	store    CommuterStore
	fac      *Service
	opts     CommuterOptions
	stations []Station
	byKey    map[string]int // code and name → index in stations
	seed     maphash.Seed

	gen    atomic.Int64 // bumped by every local report
	cached atomic.Pointer[cachedPlan]
	mu     sync.Mutex // one recomputation at a time
}

type cachedPlan struct {
	view  CommuterView
	at    time.Time
	gen   int64
	facFP uint64
}

// NewCommuters returns the commuter service over store, planning against the
// live facilities of fac.
func NewCommuters(store CommuterStore, fac *Service, opts CommuterOptions) (*Commuters, error) {
	switch {
	case store == nil:
		return nil, errors.New("commuters: nil store")
	case fac == nil:
		return nil, errors.New("commuters: nil facilities")
	case len(opts.Stations) == 0:
		return nil, errors.New("commuters: no stations")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SelfWindow <= 0 {
		opts.SelfWindow = DefaultSelfWindow
	}
	if opts.MaxWalkM <= 0 {
		opts.MaxWalkM = DefaultMaxWalkM
	}
	if opts.PlanTTL <= 0 {
		opts.PlanTTL = DefaultPlanTTL
	}
	c := &Commuters{store: store, fac: fac, opts: opts, stations: slices.Clone(opts.Stations), byKey: map[string]int{}, seed: maphash.MakeSeed()}
	for i, s := range c.stations {
		for _, k := range []string{s.Code, s.Name} {
			if j, dup := c.byKey[k]; dup && j != i {
				return nil, fmt.Errorf("commuters: station code or name %q given twice", k)
			}
			c.byKey[k] = i
		}
	}
	return c, nil
}

// CommuterReport is the body of POST /api/v1/commuters/reports: a station
// (code or exact name) or a position, and a count.
type CommuterReport struct {
	// Station is a station code or exact name.
	Station string `json:"station,omitempty"`
	// Lat and Lng are a position (WGS84 degrees), snapped to the nearest
	// station area.
	Lat *float64 `json:"lat,omitempty"`
	Lng *float64 `json:"lng,omitempty"`
	// Count is the number of people: 0..MaxStaffCount for staff reports,
	// 1..MaxSelfCount for self-reports.
	Count *int `json:"count"`
}

// ReportResult is the answer to a report.
type ReportResult struct {
	// Kind is "staff" or "self".
	Kind string `json:"kind"`
	// Station and Name are the station area the report was counted at.
	Station string `json:"station"`
	Name    string `json:"name"`
	// Count is the count taken.
	Count int `json:"count"`
	// At is the time of the report.
	At time.Time `json:"at"`
}

// Report records a report. staff is the reporting staff member's name, or
// empty for a public self-report. Bad input gives a 400 *httpapi.Error
// saying why, and nothing is recorded.
func (c *Commuters) Report(ctx context.Context, in CommuterReport, staff string) (ReportResult, error) {
	idx, err := c.locate(in)
	if err != nil {
		return ReportResult{}, err
	}
	if in.Count == nil {
		return ReportResult{}, httpapi.BadRequest("count is required")
	}
	n := *in.Count
	st := c.stations[idx]
	now := c.opts.Now()
	res := ReportResult{Station: st.Code, Name: st.Name, Count: n, At: now}
	if staff != "" {
		if n < 0 || n > MaxStaffCount {
			return ReportResult{}, httpapi.BadRequest("count must be between 0 and %d", MaxStaffCount)
		}
		res.Kind = "staff"
		err = c.store.SetStaffReport(ctx, StaffReport{Station: st.Code, Count: n, By: staff, At: now})
	} else {
		if n < 1 || n > MaxSelfCount {
			return ReportResult{}, httpapi.BadRequest("count must be between 1 and %d", MaxSelfCount)
		}
		res.Kind = "self"
		err = c.store.AddSelfReport(ctx, st.Code, now, n)
	}
	if err != nil {
		return ReportResult{}, fmt.Errorf("commuter report: %w", err)
	}
	c.gen.Add(1)
	return res, nil
}

// locate finds the station a report is about.
func (c *Commuters) locate(in CommuterReport) (int, error) {
	hasPos := in.Lat != nil || in.Lng != nil
	switch {
	case in.Station != "" && hasPos:
		return 0, httpapi.BadRequest("give station or lat,lng, not both")
	case in.Station != "":
		if len(in.Station) > 64 || !utf8.ValidString(in.Station) {
			return 0, httpapi.BadRequest("station must be a station code or name")
		}
		i, ok := c.byKey[strings.TrimSpace(in.Station)]
		if !ok {
			return 0, httpapi.Errorf(http.StatusBadRequest, "unknown_station", "no station area %q: give a code or exact name of a station in or next to Minato", in.Station)
		}
		return i, nil
	case !hasPos:
		return 0, httpapi.BadRequest("give station (code or name) or lat and lng")
	case in.Lat == nil || in.Lng == nil:
		return 0, httpapi.BadRequest("give both lat and lng")
	}
	lat, lng := *in.Lat, *in.Lng
	switch {
	case math.IsNaN(lat) || lat < -90 || lat > 90:
		return 0, httpapi.BadRequest("lat must be a number between -90 and 90")
	case math.IsNaN(lng) || lng < -180 || lng > 180:
		return 0, httpapi.BadRequest("lng must be a number between -180 and 180")
	case c.opts.Boundary != nil && !c.opts.Boundary.Serves(lat, lng):
		return 0, httpapi.Errorf(http.StatusBadRequest, "outside_area",
			"position is outside the served area (Minato City and %.0f km around it)", c.opts.Boundary.MarginM/1000)
	}
	best, bestD := 0, math.Inf(1)
	for i, s := range c.stations {
		if d := Haversine(lat, lng, s.Lat, s.Lng); d < bestD {
			best, bestD = i, d
		}
	}
	return best, nil
}

// CommuterView is the HQ planning view: GET /api/v1/commuters.
type CommuterView struct {
	// Stations has every station area, most overflow first, then most
	// stranded, then by code.
	Stations []StationPlan `json:"stations"`
	// Totals sums the stations.
	Totals CommuterTotals `json:"totals"`
	// MaxWalkM is the longest walk the plan uses.
	MaxWalkM float64 `json:"max_walk_m"`
	// ComputedAt is when the plan was computed.
	ComputedAt time.Time `json:"computed_at"`
}

// StationPlan is one station area's counts and assignment.
type StationPlan struct {
	// Code, Name, Lat and Lng describe the station.
	Code string  `json:"code"`
	Name string  `json:"name"`
	Lat  float64 `json:"lat"`
	Lng  float64 `json:"lng"`
	// StaffCount is the latest staff count (0 when none), StaffBy and
	// StaffAt its author and time.
	StaffCount int        `json:"staff_count"`
	StaffBy    string     `json:"staff_by,omitempty"`
	StaffAt    *time.Time `json:"staff_at,omitempty"`
	// SelfCount is the self-reported tally that counts (see Commuters).
	SelfCount int `json:"self_count"`
	// Stranded is max(StaffCount, SelfCount).
	Stranded int `json:"stranded"`
	// Assigned are the facilities the plan sends them to, nearest first.
	Assigned []Assignment `json:"assigned"`
	// Overflow is the number left without a place within reach.
	Overflow int `json:"overflow"`
}

// Assignment is a number of people sent to one facility.
type Assignment struct {
	// FacilityID and Name identify the facility.
	FacilityID string `json:"facility_id"`
	Name       string `json:"name"`
	// Count is the number of people.
	Count int `json:"count"`
	// DistanceM is the walking distance, rounded to the meter.
	DistanceM float64 `json:"distance_m"`
	// WalkMinutes is the walking time, rounded up.
	WalkMinutes int `json:"walk_minutes"`
}

// CommuterTotals sums a CommuterView.
type CommuterTotals struct {
	// Stranded = Assigned + Overflow.
	Stranded int `json:"stranded"`
	Assigned int `json:"assigned"`
	Overflow int `json:"overflow"`
	// FreePlaces is the free places of the facilities the plan may use,
	// before the plan.
	FreePlaces int `json:"free_places"`
	// Facilities is the number of facilities the plan may use.
	Facilities int `json:"facilities"`
}

// usable reports whether the plan may send commuters to f.
func usable(f Facility) bool {
	return f.Status == StatusOpen && f.Kind != KindWelfareShelter && f.Free() > 0
}

// fingerprint hashes what the plan uses of the facilities.
func (c *Commuters) fingerprint(fs []Facility) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, f := range fs {
		if usable(f) {
			h.WriteString(f.ID)
			maphash.WriteComparable(&h, f.Free())
		}
	}
	return h.Sum64()
}

// View returns the current plan, computed at most PlanTTL ago and after the
// last report made through this process and the last facility change it
// knows of; reports made through other processes show within PlanTTL.
func (c *Commuters) View(ctx context.Context) (CommuterView, error) {
	if v, ok := c.fresh(); ok {
		return v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.fresh(); ok {
		return v, nil
	}
	gen := c.gen.Load()
	facs := c.fac.List()
	fp := c.fingerprint(facs)
	v, err := c.compute(ctx, facs)
	if err != nil {
		return CommuterView{}, err
	}
	c.cached.Store(&cachedPlan{view: v, at: v.ComputedAt, gen: gen, facFP: fp})
	return v, nil
}

func (c *Commuters) fresh() (CommuterView, bool) {
	p := c.cached.Load()
	if p == nil || p.gen != c.gen.Load() || c.opts.Now().Sub(p.at) >= c.opts.PlanTTL || p.facFP != c.fingerprint(c.fac.List()) {
		return CommuterView{}, false
	}
	return p.view, true
}

// compute reads the counts and solves the plan.
func (c *Commuters) compute(ctx context.Context, facs []Facility) (CommuterView, error) {
	now := c.opts.Now()
	staff, err := c.store.StaffReports(ctx)
	if err != nil {
		return CommuterView{}, fmt.Errorf("commuter counts: %w", err)
	}
	byCode := make(map[string]StaffReport, len(staff))
	for _, r := range staff {
		byCode[r.Station] = r
	}
	// One window for all: from the earliest start any station needs, then
	// per station only what follows its staff report. Stations whose staff
	// report is newer than the window start are read again from there.
	windowStart := now.Add(-c.opts.SelfWindow)
	codes := make([]string, len(c.stations))
	for i, s := range c.stations {
		codes[i] = s.Code
	}
	self, err := c.store.SelfCounts(ctx, codes, windowStart, now)
	if err != nil {
		return CommuterView{}, fmt.Errorf("commuter counts: %w", err)
	}
	if self == nil {
		self = map[string]int{}
	}
	for _, s := range c.stations {
		if r, ok := byCode[s.Code]; ok && r.At.After(windowStart) {
			m, err := c.store.SelfCounts(ctx, []string{s.Code}, r.At, now)
			if err != nil {
				return CommuterView{}, fmt.Errorf("commuter counts: %w", err)
			}
			self[s.Code] = m[s.Code]
		}
	}

	var sinks []Facility
	for _, f := range facs {
		if usable(f) {
			sinks = append(sinks, f)
		}
	}
	v := CommuterView{Stations: make([]StationPlan, len(c.stations)), MaxWalkM: c.opts.MaxWalkM, ComputedAt: now}
	p := plan.Problem{
		Supply: make([]int, len(c.stations)), Capacity: make([]int, len(sinks)),
		Dist: make([][]float64, len(c.stations)), MaxDistM: c.opts.MaxWalkM,
	}
	for j, f := range sinks {
		p.Capacity[j] = f.Free()
		v.Totals.FreePlaces += f.Free()
	}
	v.Totals.Facilities = len(sinks)
	for i, s := range c.stations {
		sp := StationPlan{Code: s.Code, Name: s.Name, Lat: s.Lat, Lng: s.Lng, SelfCount: self[s.Code], Assigned: []Assignment{}}
		if r, ok := byCode[s.Code]; ok {
			at := r.At
			sp.StaffCount, sp.StaffBy, sp.StaffAt = r.Count, r.By, &at
		}
		sp.Stranded = max(sp.StaffCount, sp.SelfCount)
		v.Stations[i] = sp
		p.Supply[i] = min(sp.Stranded, plan.MaxUnits)
		p.Dist[i] = make([]float64, len(sinks))
		for j, f := range sinks {
			p.Dist[i][j] = WalkDistanceM(s.Lat, s.Lng, f.Lat, f.Lng)
		}
	}
	res, err := plan.Solve(p)
	if err != nil {
		return CommuterView{}, fmt.Errorf("commuter plan: %w", err)
	}
	for i, src := range res.Sources {
		sp := &v.Stations[i]
		for _, fl := range src.Flows {
			f := sinks[fl.Sink]
			d := float64(fl.DistanceM)
			sp.Assigned = append(sp.Assigned, Assignment{FacilityID: f.ID, Name: f.Name, Count: fl.Count, DistanceM: d, WalkMinutes: WalkMinutes(d)})
		}
		sp.Overflow = src.Overflow
		v.Totals.Stranded += sp.Stranded
	}
	v.Totals.Assigned, v.Totals.Overflow = res.Assigned, res.Overflow
	slices.SortFunc(v.Stations, func(a, b StationPlan) int {
		return cmp.Or(cmp.Compare(b.Overflow, a.Overflow), cmp.Compare(b.Stranded, a.Stranded), cmp.Compare(a.Code, b.Code))
	})
	return v, nil
}

// HandleReport serves POST /api/v1/commuters/reports with a CommuterReport
// body and answers 200 with a ReportResult. staff is the authenticated staff
// member's name, or empty for a public self-report. It does no
// authentication and returns errors for the caller to write.
func (c *Commuters) HandleReport(w http.ResponseWriter, r *http.Request, staff string) error {
	var in CommuterReport
	if err := httpapi.Decode(w, r, &in, 1<<10); err != nil {
		return err
	}
	res, err := c.Report(r.Context(), in, staff)
	if err != nil {
		return err
	}
	writeJSON(w, res)
	return nil
}

// HandleView serves GET /api/v1/commuters with the CommuterView. It does no
// authentication and returns errors for the caller to write.
func (c *Commuters) HandleView(w http.ResponseWriter, r *http.Request) error {
	v, err := c.View(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, v)
	return nil
}
