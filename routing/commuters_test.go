package routing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const shinagawa = "100202"

// Near 品川 (35.628760, 139.738999).
func commuterFacilities() []routing.Facility {
	f := func(id, kind, status string, dLat float64, capacity int) routing.Facility {
		return routing.Facility{ID: id, Name: "施設" + id, Kind: kind, Status: status,
			Lat: 35.628760 + dLat, Lng: 139.738999, Capacity: capacity}
	}
	return []routing.Facility{
		f("near", routing.KindShelter, routing.StatusOpen, 0.002, 100),             // ≈ 270 m
		f("mid", routing.KindEvacuationSite, routing.StatusOpen, 0.010, 50),        // ≈ 1.3 km
		f("checking", routing.KindShelter, routing.StatusChecking, 0.001, 1000),    // not safe yet
		f("welfare", routing.KindWelfareShelter, routing.StatusOpen, 0.001, 1000),  // for 要支援者
		f("far", routing.KindTemporaryStay, routing.StatusOpen, 0.060, 1000),       // ≈ 8 km, beyond 5 km
		f("closed", routing.KindTemporaryStay, routing.StatusClosed, 0.0015, 1000), // closed
		f("nearfull", routing.KindTemporaryStay, routing.StatusOpen, 0.0005, 0),    // no places
		f("nearheld", routing.KindTemporaryStay, routing.StatusOpen, 0.0007, 10),   // all held below
		f("other", routing.KindTemporaryStay, routing.StatusOpen, -0.0300, 200),    // south, ≈ 4 km from 品川
	}
}

type fixture struct {
	b     store.Backend
	clk   *clock
	fac   *routing.Service
	c     *routing.Commuters
	opts  routing.CommuterOptions
	ctx   context.Context
	codes map[string]routing.Station
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx := &fixture{b: db, clk: &clock{t: time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)}, ctx: context.Background()}
	fac, err := routing.New(repo.Facilities{B: db}, nil, routing.Options{Now: fx.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := fac.Seed(fx.ctx, commuterFacilities()); err != nil {
		t.Fatal(err)
	}
	if _, err := fac.Hold(fx.ctx, "nearheld", 10); err != nil {
		t.Fatal(err)
	}
	fx.fac = fac
	stations := loadStations(t)
	fx.codes = map[string]routing.Station{}
	for _, s := range stations {
		fx.codes[s.Code] = s
	}
	bf, err := os.Open("../configs/facilities/minato_boundary.geojson")
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	bd, err := routing.LoadBoundary(bf)
	if err != nil {
		t.Fatal(err)
	}
	fx.opts = routing.CommuterOptions{Stations: stations, Boundary: bd, Now: fx.clk.Now}
	fx.c = fx.commuters(t)
	return fx
}

// commuters returns another Commuters on the same store (another process).
func (fx *fixture) commuters(t *testing.T) *routing.Commuters {
	t.Helper()
	c, err := routing.NewCommuters(repo.Commuters{B: fx.b}, fx.fac, fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadStations(t *testing.T) []routing.Station {
	t.Helper()
	f, err := os.Open("../configs/facilities/minato_stations.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ss, err := routing.LoadStations(f)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

func ptr[T any](v T) *T { return &v }

func (fx *fixture) report(t *testing.T, in routing.CommuterReport, staff string) routing.ReportResult {
	t.Helper()
	res, err := fx.c.Report(fx.ctx, in, staff)
	if err != nil {
		t.Fatalf("report %+v by %q: %v", in, staff, err)
	}
	return res
}

func (fx *fixture) station(t *testing.T, code string) routing.StationPlan {
	t.Helper()
	v, err := fx.c.View(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Stations {
		if s.Code == code {
			return s
		}
	}
	t.Fatalf("station %s not in view", code)
	return routing.StationPlan{}
}

func TestCommuterReportValidation(t *testing.T) {
	fx := newFixture(t)
	before, err := fx.c.View(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		in    routing.CommuterReport
		staff string
		code  string
	}{
		{"no count", routing.CommuterReport{Station: shinagawa}, "sato", "bad_request"},
		{"staff negative", routing.CommuterReport{Station: shinagawa, Count: ptr(-1)}, "sato", "bad_request"},
		{"staff too many", routing.CommuterReport{Station: shinagawa, Count: ptr(routing.MaxStaffCount + 1)}, "sato", "bad_request"},
		{"self zero", routing.CommuterReport{Station: shinagawa, Count: ptr(0)}, "", "bad_request"},
		{"self too many", routing.CommuterReport{Station: shinagawa, Count: ptr(routing.MaxSelfCount + 1)}, "", "bad_request"},
		{"nothing", routing.CommuterReport{Count: ptr(1)}, "", "bad_request"},
		{"both", routing.CommuterReport{Station: shinagawa, Lat: ptr(35.6), Lng: ptr(139.7), Count: ptr(1)}, "", "bad_request"},
		{"lat only", routing.CommuterReport{Lat: ptr(35.6), Count: ptr(1)}, "", "bad_request"},
		{"unknown station", routing.CommuterReport{Station: "渋谷", Count: ptr(1)}, "", "unknown_station"},
		{"lat range", routing.CommuterReport{Lat: ptr(95.0), Lng: ptr(139.7), Count: ptr(1)}, "", "bad_request"},
		{"outside", routing.CommuterReport{Lat: ptr(34.70), Lng: ptr(135.50), Count: ptr(1)}, "", "outside_area"}, // 大阪
	} {
		_, err := fx.c.Report(fx.ctx, c.in, c.staff)
		var ae *httpapi.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != c.code {
			t.Errorf("%s: got %v, want 400 %s", c.name, err, c.code)
		}
	}
	fx.clk.Add(routing.DefaultPlanTTL) // a stored change would now show
	after, err := fx.c.View(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Totals.Stranded != 0 || before.Totals.Stranded != 0 {
		t.Errorf("refused reports changed counts: %+v", after.Totals)
	}
}

func TestCommuterReportLocates(t *testing.T) {
	fx := newFixture(t)
	// By exact name, by code, and by a position 150 m from 品川's
	// coordinates (snapped to the nearest station area).
	for _, in := range []routing.CommuterReport{
		{Station: "品川", Count: ptr(2)},
		{Station: shinagawa, Count: ptr(3)},
		{Lat: ptr(35.62876 + 0.00135), Lng: ptr(139.738999), Count: ptr(4)},
	} {
		res := fx.report(t, in, "")
		if res.Station != shinagawa || res.Name != "品川" || res.Kind != "self" {
			t.Errorf("%+v located at %+v", in, res)
		}
	}
	// Beside 新橋: outside the simplified polygon but inside the margin.
	sh := fx.codes["1130102"]
	res := fx.report(t, routing.CommuterReport{Lat: ptr(sh.Lat), Lng: ptr(sh.Lng + 0.0005), Count: ptr(1)}, "")
	if res.Station != "1130102" {
		t.Errorf("near 新橋: located at %s", res.Station)
	}
	if got := fx.station(t, shinagawa); got.SelfCount != 9 || got.Stranded != 9 || got.StaffCount != 0 {
		t.Errorf("品川: %+v, want 9 self-reported", got)
	}
}

func TestCommuterCountsCombine(t *testing.T) {
	fx := newFixture(t)
	self := func(n int) { fx.report(t, routing.CommuterReport{Station: shinagawa, Count: ptr(n)}, "") }
	staff := func(n int) { fx.report(t, routing.CommuterReport{Station: shinagawa, Count: ptr(n)}, "sato") }
	check := func(when string, staffN, selfN, stranded int) {
		t.Helper()
		got := fx.station(t, shinagawa)
		if got.StaffCount != staffN || got.SelfCount != selfN || got.Stranded != stranded {
			t.Errorf("%s: staff %d self %d stranded %d, want %d %d %d", when, got.StaffCount, got.SelfCount, got.Stranded, staffN, selfN, stranded)
		}
	}
	self(5)
	self(7)
	check("self-reports only", 0, 12, 12)
	fx.clk.Add(10 * time.Minute)
	staff(3)
	check("a staff count replaces earlier self-reports", 3, 0, 3)
	if got := fx.station(t, shinagawa); got.StaffBy != "sato" || got.StaffAt == nil || !got.StaffAt.Equal(fx.clk.Now()) {
		t.Errorf("staff report author/time: %+v", got)
	}
	fx.clk.Add(10 * time.Minute)
	self(4)
	check("later self-reports below the staff count", 3, 4, 4)
	fx.clk.Add(10 * time.Minute)
	staff(10)
	fx.clk.Add(10 * time.Minute)
	self(2)
	check("latest staff count wins", 10, 2, 10)
	staff(0)
	check("staff reports everyone gone", 0, 2, 2)

	// Self-reports age out after the window when no staff report comes.
	fx.report(t, routing.CommuterReport{Station: "1130102", Count: ptr(20)}, "")
	if got := fx.station(t, "1130102"); got.Stranded != 20 {
		t.Fatalf("新橋: %+v", got)
	}
	fx.clk.Add(routing.DefaultSelfWindow + routing.SelfReportResolution)
	if got := fx.station(t, "1130102"); got.Stranded != 0 {
		t.Errorf("新橋 after the window: %+v", got)
	}
}

func TestCommuterPlan(t *testing.T) {
	fx := newFixture(t)
	fx.report(t, routing.CommuterReport{Station: shinagawa, Count: ptr(400)}, "sato")
	v, err := fx.c.View(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var sh routing.StationPlan
	for _, s := range v.Stations {
		for _, a := range s.Assigned {
			got[a.FacilityID] += a.Count
		}
		if s.Code == shinagawa {
			sh = s
		}
	}
	// Used by 品川: near 100, mid 50, other 200 (open, free, within 5 km);
	// not checking, welfare, closed, nearfull, nearheld, nor far (usable,
	// but 8 km away).
	want := map[string]int{"near": 100, "mid": 50, "other": 200}
	if len(got) != len(want) || got["near"] != 100 || got["mid"] != 50 || got["other"] != 200 {
		t.Errorf("assigned %v, want %v", got, want)
	}
	if sh.Stranded != 400 || sh.Overflow != 50 || v.Totals.Assigned != 350 || v.Totals.Overflow != 50 ||
		v.Totals.Stranded != 400 || v.Totals.FreePlaces != 1350 || v.Totals.Facilities != 4 {
		t.Errorf("品川 %+v totals %+v", sh, v.Totals)
	}
	if v.Stations[0].Code != shinagawa {
		t.Errorf("most overflow first: first is %s", v.Stations[0].Code)
	}
	if len(sh.Assigned) != 3 || sh.Assigned[0].FacilityID != "near" || sh.Assigned[0].DistanceM < 200 || sh.Assigned[0].DistanceM > 300 ||
		sh.Assigned[0].WalkMinutes != routing.WalkMinutes(sh.Assigned[0].DistanceM) || sh.Assigned[0].Name != "施設near" {
		t.Errorf("品川 assignments %+v", sh.Assigned)
	}
	if len(v.Stations) != 33 || v.MaxWalkM != routing.DefaultMaxWalkM {
		t.Errorf("%d stations, max walk %v", len(v.Stations), v.MaxWalkM)
	}

	// 高輪台 (≈ 1 km away) competes for the same places: 550 people, 350
	// places within reach of either, so 200 overflow between them, and
	// every place within reach is taken; far stays out of reach of both.
	fx.report(t, routing.CommuterReport{Station: "9930206", Count: ptr(150)}, "sato")
	v, err = fx.c.View(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]int{}
	for _, s := range v.Stations {
		for _, a := range s.Assigned {
			got[a.FacilityID] += a.Count
		}
	}
	if v.Totals.Overflow != 200 || v.Totals.Assigned != 350 || got["near"] != 100 || got["mid"] != 50 || got["other"] != 200 || got["far"] != 0 {
		t.Errorf("two stations: assigned %v, totals %+v", got, v.Totals)
	}
}

func TestCommuterPlanCache(t *testing.T) {
	fx := newFixture(t)
	other := fx.commuters(t) // a second process
	fx.report(t, routing.CommuterReport{Station: shinagawa, Count: ptr(400)}, "sato")
	v1, err := other.View(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Totals.Overflow != 50 {
		t.Fatalf("overflow %d", v1.Totals.Overflow)
	}
	// A report through this process shows at once here...
	fx.report(t, routing.CommuterReport{Station: shinagawa, Count: ptr(500)}, "sato")
	if got := fx.station(t, shinagawa); got.Stranded != 500 {
		t.Errorf("local report not shown: %+v", got)
	}
	// ...and in the other process after the TTL.
	v2, _ := other.View(fx.ctx)
	if v2.Totals.Stranded != 400 || !v2.ComputedAt.Equal(v1.ComputedAt) {
		t.Errorf("within the TTL the cached plan is served: %+v", v2.Totals)
	}
	fx.clk.Add(routing.DefaultPlanTTL)
	if v3, _ := other.View(fx.ctx); v3.Totals.Stranded != 500 {
		t.Errorf("after the TTL: %+v", v3.Totals)
	}
	// A facility change recomputes at once, also within the TTL.
	if _, err := fx.fac.Patch(fx.ctx, "mid", routing.Patch{Capacity: ptr(150)}); err != nil {
		t.Fatal(err)
	}
	if v4, _ := other.View(fx.ctx); v4.Totals.FreePlaces != 1450 || v4.Totals.Overflow != 50 {
		t.Errorf("after a facility change: %+v", v4.Totals)
	}
}

func TestCommuterHandlers(t *testing.T) {
	fx := newFixture(t)
	post := func(body, staff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/commuters/reports", bytes.NewBufferString(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		if err := fx.c.HandleReport(w, r, staff); err != nil {
			httpapi.WriteError(w, err)
		}
		return w
	}
	if w := post(`{"station":"品川","count":3}`, ""); w.Code != http.StatusOK {
		t.Fatalf("self-report: %d %s", w.Code, w.Body)
	} else {
		var res routing.ReportResult
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Kind != "self" || res.Station != shinagawa || res.Count != 3 {
			t.Errorf("self-report answer %s", w.Body)
		}
	}
	if w := post(`{"station":"品川","count":30,"extra":1}`, "sato"); w.Code != http.StatusBadRequest {
		t.Errorf("unknown field: %d", w.Code)
	}
	if w := post(`{"station":"品川","count":30}`, "sato"); w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"kind":"staff"`)) {
		t.Errorf("staff report: %d %s", w.Code, w.Body)
	}
	w := httptest.NewRecorder()
	if err := fx.c.HandleView(w, httptest.NewRequest(http.MethodGet, "/api/v1/commuters", nil)); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Stations []struct {
			Code     string            `json:"code"`
			Stranded int               `json:"stranded"`
			Assigned []json.RawMessage `json:"assigned"`
		} `json:"stations"`
		Totals     map[string]int `json:"totals"`
		ComputedAt time.Time      `json:"computed_at"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Stations) != 33 || v.Stations[0].Code != shinagawa || v.Stations[0].Stranded != 30 || v.Totals["assigned"] != 30 ||
		v.ComputedAt.IsZero() || v.Stations[1].Assigned == nil || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("view: %s", w.Body)
	}
}

func TestNewCommutersRejects(t *testing.T) {
	fx := newFixture(t)
	st := loadStations(t)
	if _, err := routing.NewCommuters(repo.Commuters{B: fx.b}, fx.fac, routing.CommuterOptions{}); err == nil {
		t.Error("no stations accepted")
	}
	if _, err := routing.NewCommuters(repo.Commuters{B: fx.b}, fx.fac, routing.CommuterOptions{Stations: append(st, st[0])}); err == nil {
		t.Error("duplicate station accepted")
	}
}
